#!/bin/bash
# Head and three agents over TLS on loopback: each node's environment file
# holds exactly what `ppcoordctl plan` computes offline from the same config
# and inventory, with one node pinned and the memory-aware split over
# nodes of different GPU memory. Each on_assign hook runs once.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

GiB=$((1 << 30))
HEAD_MODEL="hf_config = \"$SRC/tests/models/llama-3.1-70b.json\";"
HEAD_PLAN='tp_size = 4;
  order = "vllm";
  partition = "memory";
  pins = ( { node = "node-a"; stage = 0; } );'
head_start

# vLLM's order would put node-a (more workers) last; the pin puts it first.
agent_conf node-a 127.0.0.3 8 "80 GiB"
agent_conf node-b 127.0.0.2 4 "40 GiB"
agent_conf node-c 127.0.0.10 4 "80 GiB"
for n in node-a node-b node-c; do
	agent_start $n
done

wait_for 30 "all three nodes assigned" all_assigned node-a node-b node-c
wait_for 15 "the head to see every assignment acked" acked node-a node-b node-c

cat >"$T/inventory.json" <<-INV
{"nodes": [
$(inv_node node-a 127.0.0.3 8 $((80 * GiB))),
$(inv_node node-b 127.0.0.2 4 $((40 * GiB))),
$(inv_node node-c 127.0.0.10 4 $((80 * GiB)))
]}
INV
"$CTL" plan -f "$HEAD_CONF" -i "$T/inventory.json" --format env >"$T/plan.env" ||
	fail "ppcoordctl plan --format env failed: $(cat "$T/plan.env")"
"$CTL" plan -f "$HEAD_CONF" -i "$T/inventory.json" --format table --explain

for n in node-a node-b node-c; do
	plan_env_for $n "$T/plan.env" >"$T/$n.expected"
	[ -s "$T/$n.expected" ] || fail "no block for $n in plan --format env output"
	env_plan_part "$T/$n/stage.env" >"$T/$n.actual"
	diff -u "$T/$n.expected" "$T/$n.actual" ||
		fail "$n: environment file differs from ppcoordctl plan"
done

[ "$(env_get "$T/node-a/stage.env" PPCOORD_FIRST_STAGE)" = 0 ] ||
	fail "pinned node-a is not at stage 0"
[ "$(env_get "$T/node-a/stage.env" PPCOORD_STAGE_COUNT)" = 2 ] ||
	fail "node-a (8 GPUs, tp_size 4) does not hold two stages"
[ "$(env_get "$T/node-b/stage.env" PPCOORD_MASTER_ADDR)" = 127.0.0.3 ] ||
	fail "the master address is not node-a's advertised address"

gen=$(status_json | jq -r .generation)
for n in node-a node-b node-c; do
	[ "$(env_get "$T/$n/stage.env" PPCOORD_GENERATION)" = "$gen" ] ||
		fail "$n: generation in the file differs from the head's $gen"
done

# Heartbeats go on; no hook may run again while nothing changes.
sleep 2
for n in node-a node-b node-c; do
	runs=$(hook_runs $n)
	[ "$runs" = 1 ] || fail "$n: on_assign ran $runs times, expected once"
done
log "placement matches ppcoordctl plan"

# The example vLLM wrapper turns each file into the node's vllm command line.
for n in node-a node-b node-c; do
	cmd=$(env -i PATH="$PATH" VLLM=echo VLLM_MODEL=model sh -c \
		'set -a; . "$1"; set +a; exec sh "$2"' sh "$T/$n/stage.env" "$SRC/conf/vllm-stage.sh") ||
		fail "$n: conf/vllm-stage.sh failed"
	log "$n: vllm $cmd"
	rank=$(env_get "$T/$n/stage.env" PPCOORD_NODE_RANK)
	want="serve model --pipeline-parallel-size 4 --tensor-parallel-size 4 --nnodes 3"
	want="$want --node-rank $rank --master-addr 127.0.0.3 --master-port 29500"
	[ "$rank" = 0 ] || want="$want --headless"
	[ "$cmd" = "$want" ] || fail "$n: vllm command is '$cmd', expected '$want'"
done
