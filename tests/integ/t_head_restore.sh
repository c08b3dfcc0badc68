#!/bin/bash
# kill -9 of the head: the restarted head reads its state file, and the
# returning agents get the same assignment at the same generation, so no
# environment file is rewritten and no on_assign hook runs again. A node
# that does not come back is lost node_timeout after the restart and the
# plan is revoked, since no spare fits.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

EXPECTED_NODES=2
head_start
agent_conf node-a 127.0.0.2 8 "80 GiB" 'reconnect_max = "1s";'
agent_conf node-b 127.0.0.3 8 "80 GiB" 'reconnect_max = "1s";'
agent_start node-a
agent_start node-b
wait_for 30 "both nodes assigned" all_assigned node-a node-b
wait_for 10 "both assignments acked" acked node-a node-b
gen=$(status_json | jq -r .generation)
[ "$gen" = 1 ] || fail "first plan has generation $gen, expected 1"
[ -s "$T/plan.state" ] || fail "no state file after the first plan"
[ "$(jq -r .generation "$T/plan.state")" = 1 ] ||
	fail "state file generation is not 1"
for n in node-a node-b; do
	cp "$T/$n/stage.env" "$T/$n.before"
done
sleep 1.1	# a rewrite would change the modification time
stamp_a=$(stat -c %Y "$T/node-a/stage.env")

kill -KILL "$HEAD_PID"
wait "$HEAD_PID" 2>/dev/null
HEAD_PID=""
head_start
grep -q 'restored plan generation 1' "$HEAD_LOG" ||
	fail "the restarted head did not restore generation 1"
wait_for 30 "both nodes back and acked" acked node-a node-b
[ "$(status_json | jq -r .generation)" = 1 ] ||
	fail "the restarted head moved to another generation"
sleep 1
for n in node-a node-b; do
	[ "$(hook_runs $n)" = 1 ] ||
		fail "$n: on_assign ran $(hook_runs $n) times after a head kill -9"
	cmp -s "$T/$n/stage.env" "$T/$n.before" ||
		fail "$n: the environment file changed across the head restart"
done
[ "$(stat -c %Y "$T/node-a/stage.env")" = "$stamp_a" ] ||
	fail "node-a: the environment file was rewritten"

# Kill the head again and keep node-b away: after node_timeout (5 s) the
# restored plan loses node-b and, with no spare, is revoked.
kill -KILL "$HEAD_PID"
wait "$HEAD_PID" 2>/dev/null
HEAD_PID=""
kill -KILL "$(agent_pid node-b)"
wait "$(agent_pid node-b)" 2>/dev/null
head_start
wait_for 15 "node-a revoked after node-b stayed away" state_is node-a revoked
grep -q 'node node-b lost: not reconnected within node_timeout' "$HEAD_LOG" ||
	fail "the head did not log node-b as lost"
[ "$(status_json | jq -r .state)" = revoked ] || fail "head state is not revoked"
[ "$(jq -r .state "$T/plan.state")" = revoked ] ||
	fail "the state file does not record the revoke"

# node-b returns: both get their old places back at a new generation.
agent_start node-b
wait_for 30 "both nodes assigned again" all_assigned node-a node-b
wait_for 10 "the new plan acked" acked node-a node-b
[ "$(status_json | jq -r .generation)" = 2 ] ||
	fail "the plan after the revoke is not generation 2"
for n in node-a node-b; do
	[ "$(env_get "$T/$n/stage.env" PPCOORD_FIRST_STAGE)" = \
	  "$(env_get "$T/$n.before" PPCOORD_FIRST_STAGE)" ] ||
		fail "$n did not get its old stage back"
done
log "kill -9 of the head kept every assignment; a missing node revoked it"
