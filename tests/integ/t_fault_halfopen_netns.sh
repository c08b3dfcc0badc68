#!/bin/bash
# A node reboots behind a down link, so the head's side of its old
# connection stays open and hears nothing of the reboot. The new agent
# connects while the old connection is still open, and the node keeps
# its place although a spare is connected: same generation, same files,
# no hook run anywhere. Needs a network namespace; skipped (exit 77) where
# they are not permitted.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs
netns_setup

# The restart must finish within node_timeout, and it includes failed
# attempts while the link is down, so this test gives it 3 s.
fault_timings 200 3000 200
NODES="node-a node-b node-c node-d"

EXPECTED_NODES=3
head_start
# The vllm order compares addresses as strings: node-a, node-b and node-c
# are placed, node-d is the spare.
agent_conf node-a "$NET.11" 8 "80 GiB" 'reconnect_max = "500ms";'
agent_conf node-b "$NET.2" 8 "80 GiB" 'reconnect_max = "500ms";'
agent_conf node-c "$NET.3" 8 "80 GiB" 'reconnect_max = "500ms";'
agent_conf node-d "$NET.4" 8 "80 GiB" 'reconnect_max = "500ms";'
agent_start node-a
netns_agent_start node-b
agent_start node-c
agent_start node-d
# shellcheck disable=SC2086
wait_for 20 "the first plan with a spare" converged $NODES
state_is node-b assigned || fail "node-b is not assigned"
state_is node-d standby || fail "node-d is not the spare"
gen=$(head_gen)
sleep 0.5	# let the hooks finish before counting them
for n in $NODES; do
	cp "$T/$n/stage.env" "$T/$n.env.before"
	echo "$(hook_runs "$n") $(revoke_runs "$n")" >"$T/$n.runs"
done

# A reboot: the link goes down, the agent dies, and the namespace with
# its sockets is deleted, so no FIN or RST of the old connection ever
# reaches the head. With a 200 ms retransmission timeout doubling after
# each try, the head's next try after 1.5 s is due about 3 s after the
# cut, so the new connection arrives while the old one is open.
registered=$(log_count "$T/node-b/agent.log" 'registered with head')
t0=$(now_ms)
netns_link down
pid=$(agent_pid node-b)
kill -KILL "$pid"
wait "$pid" 2>/dev/null
sleep 1.5
# Deleting a namespace frees its devices later, so the pair goes first.
ip link del "$VETH_HOST" || fail "cannot delete $VETH_HOST"
ip netns del "$NS" || fail "cannot delete $NS"
ip netns add "$NS" || fail "cannot add $NS again"
netns_make_link
netns_agent_start node-b
wait_for 5 "the restarted node-b to register" \
	log_count_gt "$T/node-b/agent.log" 'registered with head' "$registered"
# shellcheck disable=SC2086
wait_for 5 "node-b to be back in its place" converged $NODES
log "node-b was back $(($(now_ms) - t0)) ms after the link went down"
grep -q 'node node-b: the new connection from .* replaces' "$HEAD_LOG" ||
	fail "the head did not log that node-b's new connection replaced the old one: $(grep -E 'node node-b' "$HEAD_LOG" | tail -n 3)"
log "head: $(grep 'node node-b: the new connection from' "$HEAD_LOG" | tail -n 1)"

sleep 3.5	# past node_timeout of the old connection's last frame
# shellcheck disable=SC2086
converged $NODES || fail "the cluster is not converged after node_timeout"
grep -q 'takes stages' "$HEAD_LOG" &&
	fail "the spare took a place: $(grep 'takes stages' "$HEAD_LOG")"
grep -q 'revoked' "$HEAD_LOG" && fail "the head revoked the plan"
[ "$(head_gen)" = "$gen" ] ||
	fail "the restart behind a down link made generation $(head_gen), expected $gen"
for n in $NODES; do
	cmp -s "$T/$n/stage.env" "$T/$n.env.before" ||
		fail "$n's environment file changed: $(diff "$T/$n.env.before" "$T/$n/stage.env")"
	[ "$(hook_runs "$n") $(revoke_runs "$n")" = "$(cat "$T/$n.runs")" ] ||
		fail "a hook ran on $n"
done
log "node-b restarted behind a down link and kept its place"
