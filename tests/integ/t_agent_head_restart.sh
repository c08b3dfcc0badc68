#!/bin/bash
# Losing the head leaves the environment file alone, and a head restart
# that restores the same plan reruns no hook: the agent reconnects with
# backoff, reports what it holds and only acknowledges the assignment.
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
cp "$env" "$T/stage.env.before"
sleep 1.1	# a rewrite would change the modification time

head_stop
wait_for 15 "the agent to notice the head is gone" \
	grep -q 'lost connection to head' "$T/node-a/agent.log"
sleep 2	# several failed attempts
cmp -s "$env" "$T/stage.env.before" ||
	fail "losing the head changed the environment file"
kill -0 "$(agent_pid node-a)" || fail "the agent exited without a head"

head_start
wait_for 30 "the agent to register with the restarted head" \
	registrations_at_least node-a 2
wait_for 10 "the restarted head to see the assignment acked" acked node-a
sleep 1
grep -q 'assignment generation 1 already held' "$T/node-a/agent.log" ||
	fail "the agent did not report the resent assignment as held"
[ "$(hook_runs node-a)" = 1 ] ||
	fail "on_assign ran $(hook_runs node-a) times after a head restart"
[ "$(stat -c '%i %Y' "$env")" = "$before" ] ||
	fail "the head restart rewrote the environment file"
log "a head restart left the hook and the environment file alone"
