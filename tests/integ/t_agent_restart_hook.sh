#!/bin/bash
# Restarting the agent rewrites nothing and does not rerun on_assign: the
# agent reports the generation it holds, the head sends the same
# assignment, and the agent only acknowledges it. This needs the head to
# keep a disconnected node's place while it reconnects.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

# registrations_at_least NAME N: NAME's log has N "registered" lines.
registrations_at_least() {
	[ "$(grep -c 'registered with head' "$T/$1/agent.log")" -ge "$2" ]
}

# hook_runs_are NAME N: NAME's on_assign ran exactly N times.
hook_runs_are() {
	[ "$(hook_runs "$1")" = "$2" ]
}

EXPECTED_NODES=1
head_start
agent_conf node-a 127.0.0.2 8 "80 GiB" 'reconnect_max = "1s";'
agent_start node-a
wait_for 30 "node-a assigned" all_assigned node-a
wait_for 10 "the head to see the assignment acked" acked node-a
wait_for 10 "on_assign to run once" hook_runs_are node-a 1

env="$T/node-a/stage.env"
before=$(stat -c '%i %Y' "$env")
sleep 1.1	# a rewrite would change the modification time

kill -TERM "$(agent_pid node-a)"
wait "$(agent_pid node-a)" 2>/dev/null
agent_start node-a
wait_for 30 "the restarted agent to register" \
	registrations_at_least node-a 2
wait_for 10 "the head to see the assignment acked again" acked node-a
sleep 1
grep -q 'holding generation 1 (assigned)' "$T/node-a/agent.log" ||
	fail "the restarted agent did not report generation 1 in its Hello"
grep -q 'revoked at generation' "$T/node-a/agent.log" &&
	fail "the head revoked the plan when the agent restarted"
grep -q 'assignment generation 1 already held' "$T/node-a/agent.log" ||
	fail "the restarted agent did not report the assignment as held"
[ "$(hook_runs node-a)" = 1 ] ||
	fail "on_assign ran $(hook_runs node-a) times after an agent restart"
[ "$(stat -c '%i %Y' "$env")" = "$before" ] ||
	fail "the agent restart rewrote the environment file"
log "an agent restart left the hook and the environment file alone"
