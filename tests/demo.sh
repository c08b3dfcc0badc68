#!/bin/sh
# make demo: a head and three agents on loopback place Llama-3.1-70B over
# TLS. Two nodes have 8x80 GiB GPUs and one 8x40 GiB; the memory-aware
# split gives the smaller node fewer layers, and node-c is pinned to stage
# 0. Everything lives under build/demo/ (DEMO_DIR, which is removed and
# made anew) and is stopped at the end.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$SRC/build}
DEMO=${DEMO_DIR:-$SRC/build/demo}
rm -rf "$DEMO"
mkdir -p "$DEMO"
export BIN TMPDIR="$DEMO"
. "$SRC/tests/integ/lib.sh"
need_bins
need_jq

say() {
	printf '\n== %s\n' "$*"
}

# make_demo_certs: the CA, a head certificate for 127.0.0.1 (the address
# the agents dial) and one certificate per node, all from ppcoordctl ca.
make_demo_certs() {
	local id
	"$CTL" ca init "$CERTS" || return 1
	for id in 127.0.0.1 node-a node-b node-c; do
		"$CTL" ca issue "$CERTS" "$id" >/dev/null || return 1
	done
	HEAD_CA="$CERTS/ca.pem"
	HEAD_CERT="$CERTS/127.0.0.1.pem"
	HEAD_KEY="$CERTS/127.0.0.1.key"
}

say "certificates: ppcoordctl ca init $CERTS"
if ! make_demo_certs; then
	log "ppcoordctl ca failed; making the certificates with tests/certs.sh"
	rm -rf "$CERTS"
	make_certs
fi
ls -l "$CERTS"

HEAD_STATUS=1
CLUSTER_NAME=demo
HEAD_MODEL="hf_config = \"$SRC/tests/models/llama-3.1-70b.json\";"
HEAD_PLAN='tp_size = 8;
  order = "vllm";
  partition = "memory";
  pins = ( { node = "node-c"; stage = 0; } );'

say "starting the head (config $HEAD_CONF)"
head_start
log "head listening on 127.0.0.1:$HEAD_PORT, metrics on 127.0.0.1:$STATUS_PORT"

say "starting three agents"
agent_conf node-a 127.0.0.2 8 "80 GiB"
agent_conf node-b 127.0.0.3 8 "40 GiB"
agent_conf node-c 127.0.0.4 8 "80 GiB"
for n in node-a node-b node-c; do
	agent_start $n
done

wait_for 30 "all three nodes assigned" all_assigned node-a node-b node-c
wait_for 15 "every assignment acked" acked node-a node-b node-c

say "ppcoordctl status"
"$CTL" status -s "$SOCK"

say "ppcoordctl plan --explain on the live inventory"
"$CTL" inventory -s "$SOCK" >"$DEMO/inventory.json"
"$CTL" plan -f "$HEAD_CONF" -i "$DEMO/inventory.json" --explain

for n in node-a node-b node-c; do
	say "$n: $T/$n/stage.env"
	cat "$T/$n/stage.env"
done

say "metrics (GET /metrics)"
if command -v curl >/dev/null; then
	curl -fsS "http://127.0.0.1:$STATUS_PORT/metrics" |
		grep -E '^ppcoord_(nodes|plan_generation|stages|kv_tokens|joins_total|plan_seconds|frames_total)'
fi

say "stopping the head and the agents"
cleanup
log "stopped; certificates, configs and logs are in $DEMO"
