#!/bin/bash
# Restarting the agent, and then the head, rewrites nothing and does not
# rerun on_assign: the agent reports the generation it holds, the head
# sends the same assignment, and the agent only acknowledges it.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

EXPECTED_NODES=1
head_start
agent_conf node-a 127.0.0.2 8 "80 GiB" 'reconnect_max = "1s";'
agent_start node-a
wait_for 30 "node-a assigned" all_assigned node-a
wait_for 10 "the head to see the assignment acked" acked node-a
wait_for 10 "on_assign to run once" test "$(hook_runs node-a)" = 1

env="$T/node-a/stage.env"
before=$(stat -c '%i %Y' "$env")
cp "$env" "$T/stage.env.before"
sleep 1.1	# a rewrite would change the modification time

kill -TERM "$(agent_pid node-a)"
wait "$(agent_pid node-a)" 2>/dev/null
agent_start node-a
wait_for 30 "the restarted agent to register" \
	test "$(grep -c 'registered with head' "$T/node-a/agent.log")" -ge 2
wait_for 10 "the head to see the assignment acked again" acked node-a
sleep 1
grep -q 'already held' "$T/node-a/agent.log" ||
	fail "the restarted agent did not report the assignment as held"
[ "$(hook_runs node-a)" = 1 ] ||
	fail "on_assign ran $(hook_runs node-a) times after an agent restart"
[ "$(stat -c '%i %Y' "$env")" = "$before" ] ||
	fail "the agent restart rewrote the environment file"

head_stop
wait_for 15 "the agent to notice the head is gone" \
	grep -q 'lost connection to head' "$T/node-a/agent.log"
cmp -s "$env" "$T/stage.env.before" ||
	fail "losing the head changed the environment file"
head_start
wait_for 30 "the agent to register with the restarted head" \
	test "$(grep -c 'registered with head' "$T/node-a/agent.log")" -ge 3
wait_for 10 "the restarted head to see the assignment acked" acked node-a
sleep 1
[ "$(hook_runs node-a)" = 1 ] ||
	fail "on_assign ran $(hook_runs node-a) times after a head restart"
cmp -s "$env" "$T/stage.env.before" ||
	fail "the head restart changed the environment file"
log "restarts of the agent and the head left the hook and file alone"
