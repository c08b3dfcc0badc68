#!/bin/bash
# `ppcoordctl status` (table and JSON), `ppcoordctl inventory` and the
# HTTP /metrics and /status endpoints agree with each other and with the
# offline plan; with the head stopped, status exits 1 with a message.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
command -v curl >/dev/null || fail "curl is missing: run make deps"
make_certs

HEAD_STATUS=1
HEAD_PLAN='tp_size = 8;
  order = "vllm";
  partition = "even";'
head_start

agent_conf node-a 127.0.0.2 8 "80 GiB"
agent_conf node-b 127.0.0.3 8 "40 GiB"
agent_conf node-c 127.0.0.4 8 "80 GiB"
for n in node-a node-b node-c; do
	agent_start $n
done
wait_for 30 "all three nodes assigned" all_assigned node-a node-b node-c
wait_for 15 "every assignment acked" acked node-a node-b node-c

# JSON status.
status_json >"$T/status.json" || fail "ppcoordctl status --format json failed"
jq . "$T/status.json" >/dev/null || fail "status output is not JSON"
[ "$(jq -r .state "$T/status.json")" = active ] ||
	fail "state is $(jq -r .state "$T/status.json"), expected active"
[ "$(jq -r .cluster "$T/status.json")" = integ ] || fail "cluster name is wrong"
[ "$(jq -r .expected_nodes "$T/status.json")" = 3 ] || fail "expected_nodes is wrong"
[ "$(jq '.nodes | length' "$T/status.json")" = 3 ] || fail "status lists other than 3 nodes"
gen=$(jq -r .generation "$T/status.json")
[ "$(jq -r .plan.generation "$T/status.json")" = "$gen" ] ||
	fail "plan generation differs from the status generation"
for n in node-a node-b node-c; do
	rank=$(env_get "$T/$n/stage.env" PPCOORD_NODE_RANK)
	first=$(env_get "$T/$n/stage.env" PPCOORD_FIRST_LAYER)
	jq -e --arg n "$n" --argjson r "$rank" --argjson f "$first" \
		'.plan.nodes[] | select(.id == $n and .node_rank == $r)' \
		"$T/status.json" >/dev/null || fail "$n: status plan node rank differs from its file"
	jq -e --arg n "$n" --argjson f "$first" \
		'.nodes[] | select(.id == $n and .first_layer == $f and .connected == true)' \
		"$T/status.json" >/dev/null || fail "$n: status first_layer differs from its file"
done

# Heartbeats arrive every 500 ms, so no node's last frame is older than
# the 5 s node_timeout.
jq -e '[.nodes[] | select(.last_heartbeat_ms >= 0 and .last_heartbeat_ms < 5000)] | length == 3' \
	"$T/status.json" >/dev/null || fail "a node's last_heartbeat_ms is missing or past node_timeout"

# Table status names every node and the cluster state.
"$CTL" status -s "$SOCK" >"$T/status.txt" || fail "ppcoordctl status failed"
cat "$T/status.txt"
for n in node-a node-b node-c; do
	grep -q "$n" "$T/status.txt" || fail "status table does not list $n"
done
grep -qi active "$T/status.txt" || fail "status table does not show the state"
master=$(jq -r '"\(.plan.master_addr):\(.plan.master_port)"' "$T/status.json")
grep -qx "plan order vllm, partition even, tp 8, master $master" "$T/status.txt" ||
	fail "status table lacks the plan line for master $master"
! grep -q 'last planning error' "$T/status.txt" || fail "status shows a planning error for a feasible plan"
# Rows are in node rank order.
want=$(jq -r '[.plan.nodes | sort_by(.node_rank)[].id] | join(" ")' "$T/status.json")
got=$(awk 'found { print $1 } $1 == "NODE" { found = 1 }' "$T/status.txt" | tr '\n' ' ')
[ "$got" = "$want " ] || fail "status rows are in order '$got', node rank order is '$want'"

# -f takes the socket from head.control_socket; -s wins over -f.
"$CTL" status -f "$HEAD_CONF" >"$T/status-f.txt" || fail "ppcoordctl status -f failed"
grep -q "^plan order vllm" "$T/status-f.txt" || fail "status -f printed: $(cat "$T/status-f.txt")"
"$CTL" inventory -f "$HEAD_CONF" >"$T/inventory-f.json" || fail "ppcoordctl inventory -f failed"
[ "$(jq '.nodes | length' "$T/inventory-f.json")" = 3 ] || fail "inventory -f lists other than 3 nodes"
if "$CTL" status -s "$T/no.sock" -f "$HEAD_CONF" >/dev/null 2>"$T/s-wins.err"; then
	fail "status -s $T/no.sock -f succeeded: -f won over -s"
fi
grep -qF "$T/no.sock" "$T/s-wins.err" || fail "status -s -f does not name the -s socket: $(cat "$T/s-wins.err")"
sed 's/expected_nodes/expected_node/' "$HEAD_CONF" >"$T/bad.conf"
rc=0
"$CTL" status -f "$T/bad.conf" >/dev/null 2>"$T/bad-f.err" || rc=$?
[ "$rc" = 2 ] || fail "status -f with an invalid config exited $rc, expected 2"
grep -q "bad.conf:[0-9]*:" "$T/bad-f.err" || fail "status -f error lacks FILE:LINE: $(cat "$T/bad-f.err")"

# The live inventory, planned offline, gives the head's plan.
"$CTL" inventory -s "$SOCK" >"$T/inventory.json" || fail "ppcoordctl inventory failed"
[ "$(jq '.nodes | length' "$T/inventory.json")" = 3 ] || fail "inventory lists other than 3 nodes"
for n in node-a node-b node-c; do
	jq -e --arg n "$n" '.nodes[] | select(.id == $n) | select((.gpus | length) == 8)' \
		"$T/inventory.json" >/dev/null || fail "inventory: $n does not have 8 GPUs"
done
"$CTL" plan -f "$HEAD_CONF" -i "$T/inventory.json" --format json >"$T/plan.json" ||
	fail "ppcoordctl plan on the live inventory failed"
shape='{layer_partition, num_stages, tp_size, nodes: [.nodes[] | {id, address, node_rank, first_stage, stage_count}], stages}'
jq -S "$shape" "$T/plan.json" >"$T/plan.offline"
jq -S ".plan | $shape" "$T/status.json" >"$T/plan.live"
diff -u "$T/plan.live" "$T/plan.offline" || fail "offline plan of the live inventory differs"

# /metrics: every sample line is `name{labels} value`.
curl -fsS "http://127.0.0.1:$STATUS_PORT/metrics" >"$T/metrics.txt" ||
	fail "GET /metrics failed"
sample='^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|NaN|Inf)( [0-9]+)?$'
lines=0
while IFS= read -r line; do
	case "$line" in
	'' | '#'*) continue ;;
	esac
	[[ "$line" =~ $sample ]] || fail "metrics line is not Prometheus text: $line"
	lines=$((lines + 1))
done <"$T/metrics.txt"
[ "$lines" -gt 0 ] || fail "/metrics has no samples"

metric() {
	awk -v m="$1" '$1 == m { print $2 }' "$T/metrics.txt"
}
[ "$(metric ppcoord_plan_generation)" = "$gen" ] ||
	fail "ppcoord_plan_generation $(metric ppcoord_plan_generation), status says $gen"
[ "$(metric ppcoord_stages)" = "$(jq -r .plan.num_stages "$T/status.json")" ] ||
	fail "ppcoord_stages differs from the plan's num_stages"
[ "$(metric 'ppcoord_nodes{state="assigned"}')" = 3 ] ||
	fail "ppcoord_nodes{state=\"assigned\"} is $(metric 'ppcoord_nodes{state="assigned"}'), expected 3"
joins=$(metric ppcoord_joins_total)
[ -n "$joins" ] && [ "${joins%.*}" -ge 3 ] || fail "ppcoord_joins_total is '$joins', expected at least 3"
for m in ppcoord_leaves_total ppcoord_plan_seconds; do
	[ -n "$(metric $m)" ] || fail "/metrics lacks $m"
done
grep -q '^ppcoord_frames_total{direction="in"}' "$T/metrics.txt" || fail "/metrics lacks frames in"
grep -q '^ppcoord_frames_total{direction="out"}' "$T/metrics.txt" || fail "/metrics lacks frames out"

# /status returns the plan JSON.
curl -fsS "http://127.0.0.1:$STATUS_PORT/status" >"$T/http-status.json" || fail "GET /status failed"
jq -e --argjson g "$gen" '.generation == $g or .plan.generation == $g' \
	"$T/http-status.json" >/dev/null || fail "/status does not carry generation $gen"

# With the head gone, status fails clearly.
head_stop
if "$CTL" status -s "$SOCK" >"$T/down.out" 2>"$T/down.err"; then
	fail "ppcoordctl status succeeded with the head stopped"
else
	rc=$?
fi
[ "$rc" = 1 ] || fail "ppcoordctl status exited $rc with the head stopped, expected 1"
[ -s "$T/down.err" ] || fail "ppcoordctl status printed no message with the head stopped"
grep -qF "$SOCK" "$T/down.err" || fail "the message does not name the socket $SOCK"
cat "$T/down.err"
log "status, inventory and metrics agree"
