#!/bin/bash
# Four agents for three places, with order and partition "memory": the
# head chooses the nodes, their order and the split that give the largest
# KV cache. Each node's file, the spare's standby file included, matches
# `ppcoordctl plan`, and the status shows the plan's kv_tokens.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

GiB=$((1 << 30))
HEAD_MODEL="hf_config = \"$SRC/tests/models/llama-3.1-70b.json\";"
HEAD_PLAN='tp_size = 8;
  order = "memory";
  partition = "memory";'
head_start

agent_conf node-a 127.0.0.2 8 "80 GiB"
agent_conf node-b 127.0.0.3 8 "40 GiB"
agent_conf node-c 127.0.0.4 8 "80 GiB"
agent_conf node-d 127.0.0.5 8 "24 GiB"
for n in node-a node-b node-c node-d; do
	agent_start $n
done

placed_or_spare() {
	local n
	for n in node-a node-b node-c node-d; do
		state_is $n assigned || state_is $n standby || return 1
	done
}
wait_for 30 "every node assigned or standing by" placed_or_spare
wait_for 15 "the head to see the plan acked" sh -c \
	"'$CTL' status -s '$SOCK' --format json | jq -e '.state == \"active\"'"

cat >"$T/inventory.json" <<-INV
{"nodes": [
$(inv_node node-a 127.0.0.2 8 $((80 * GiB))),
$(inv_node node-b 127.0.0.3 8 $((40 * GiB))),
$(inv_node node-c 127.0.0.4 8 $((80 * GiB))),
$(inv_node node-d 127.0.0.5 8 $((24 * GiB)))
]}
INV
"$CTL" plan -f "$HEAD_CONF" -i "$T/inventory.json" --format env >"$T/plan.env" ||
	fail "ppcoordctl plan --format env failed"
"$CTL" plan -f "$HEAD_CONF" -i "$T/inventory.json" --explain
"$CTL" plan -f "$HEAD_CONF" -i "$T/inventory.json" --format json >"$T/plan.json" ||
	fail "ppcoordctl plan --format json failed"

assigned=0
spares=0
for n in node-a node-b node-c node-d; do
	plan_env_for $n "$T/plan.env" >"$T/$n.expected"
	[ -s "$T/$n.expected" ] || fail "no block for $n in plan --format env output"
	env_plan_part "$T/$n/stage.env" >"$T/$n.actual"
	diff -u "$T/$n.expected" "$T/$n.actual" || fail "$n: file differs from ppcoordctl plan"
	if state_is $n assigned; then
		assigned=$((assigned + 1))
	else
		spares=$((spares + 1))
		[ "$(hook_runs $n)" = 0 ] || fail "spare $n ran on_assign"
	fi
done
[ "$assigned" = 3 ] && [ "$spares" = 1 ] ||
	fail "$assigned assigned and $spares spares, expected 3 and 1"
state_is node-d standby || fail "node-d, the smallest, is not the spare"

status_json >"$T/status.json"
want=$(jq -r .kv_tokens "$T/plan.json")
[ -n "$want" ] && [ "$want" != null ] || fail "the offline plan has no kv_tokens"
[ "$(jq -r .plan.kv_tokens "$T/status.json")" = "$want" ] ||
	fail "status kv_tokens $(jq -r .plan.kv_tokens "$T/status.json"), offline plan $want"
jq -e '.nodes[] | select(.id == "node-d" and .state == "standby")' "$T/status.json" >/dev/null ||
	fail "status does not show node-d as standby"
log "memory order chose the nodes and order that ppcoordctl plan chose"
