#!/bin/bash
# An assigned node restarts with an inventory that no plan can use (4
# GPUs where plan.tp_size is 8). The spare takes its stages. Later an
# assigned node is lost with no usable spare left, and returns: the three
# usable nodes must be planned again, since one connected node that fits
# nowhere must not block every plan of the cluster.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

fault_timings 200 1000 200

EXPECTED_NODES=3
head_start
i=2
for n in node-a node-b node-c node-d; do
	agent_conf "$n" "127.0.0.$i" 8 "80 GiB" 'reconnect_max = "300ms";'
	agent_start "$n"
	i=$((i + 1))
done
wait_for 20 "the first plan with a spare" converged node-a node-b node-c node-d
gen=$(head_gen)

pid=$(agent_pid node-b)
kill -TERM "$pid"
wait "$pid" 2>/dev/null
agent_conf node-b 127.0.0.3 4 "80 GiB" 'reconnect_max = "300ms";'
agent_start node-b
wait_for 10 "node-d to take the stages of node-b" \
	grep -q 'spare node-d takes stages .* of lost node node-b' "$HEAD_LOG"
wait_for 10 "the takeover acknowledged" converged node-a node-c node-d
[ "$(head_gen)" = $((gen + 1)) ] ||
	fail "the takeover made generation $(head_gen), expected $((gen + 1))"
state_is node-b assigned && fail "node-b still holds an assignment with 4 GPUs"
log "node-b with 4 GPUs was replaced by node-d"

# node-c is lost with no usable spare: the plan is revoked. When it
# returns, node-a, node-c and node-d are three usable nodes.
kill -KILL "$(agent_pid node-c)"
wait_for 10 "the plan to be revoked" \
	eval 'state_is node-a revoked && state_is node-d revoked'
agent_start node-c
wait_for 10 "a plan for the three usable nodes" converged node-a node-c node-d
for n in node-a node-c node-d; do
	state_is "$n" assigned || fail "$n is not assigned"
done
state_is node-b assigned && fail "node-b was assigned with 4 GPUs"
log "the node that fits nowhere did not block the plan: generation $(head_gen)"
