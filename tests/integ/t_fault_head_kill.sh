#!/bin/bash
# kill -9 of the head while the agents run, then a restart: the head
# restores the plan from its state file, and every agent ends with the
# same generation, the same environment file and no hook run twice. The
# spare stays a spare. Two rounds: one after the agents have noticed the
# loss, and one that restarts the head at once. Then a node dies while
# the head is down, and the restarted head hands its stages to the spare.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

fault_timings 200 1000 200
NODES="node-a node-b node-c node-d"

EXPECTED_NODES=3
head_start
i=2
for n in $NODES; do
	agent_conf "$n" "127.0.0.$i" 8 "80 GiB" 'reconnect_max = "300ms";'
	agent_start "$n"
	i=$((i + 1))
done
# shellcheck disable=SC2086
wait_for 20 "the first plan with a spare" converged $NODES
state_is node-d standby || fail "node-d is not the spare"
gen=$(head_gen)
sleep 0.5	# let the hooks finish before counting them
declare -A runs revokes
for n in $NODES; do
	cp "$T/$n/stage.env" "$T/$n.env.before"
	runs[$n]=$(hook_runs "$n")
	revokes[$n]=$(revoke_runs "$n")
done

for round in 1 2; do
	restarts=$(log_count "$HEAD_LOG" 'starting ppcoord-head')
	log "round $round: kill -9 of the head (pid $HEAD_PID)"
	kill -KILL "$HEAD_PID"
	wait "$HEAD_PID" 2>/dev/null
	HEAD_PID=""
	if [ "$round" = 1 ]; then
		wait_for 10 "node-a to notice the head is gone" \
			grep -q 'lost connection to head' "$T/node-a/agent.log"
		sleep 1	# several failed connection attempts
	fi
	head_start
	[ "$(log_count "$HEAD_LOG" 'starting ppcoord-head')" -gt "$restarts" ] ||
		fail "the head did not restart"
	grep -q "restored plan generation $gen" "$HEAD_LOG" ||
		fail "the restarted head did not restore generation $gen from its state file"
	# shellcheck disable=SC2086
	wait_for 20 "every agent to reconnect and acknowledge" converged $NODES
	sleep 1	# a late push or hook would show by now
	# shellcheck disable=SC2086
	converged $NODES || fail "the cluster did not stay converged after the restart"
	[ "$(head_gen)" = "$gen" ] ||
		fail "round $round: the restarted head is at generation $(head_gen), expected $gen"
	for n in $NODES; do
		cmp -s "$T/$n/stage.env" "$T/$n.env.before" ||
			fail "round $round: $n's environment file changed: $(diff "$T/$n.env.before" "$T/$n/stage.env")"
		[ "$(hook_runs "$n")" = "${runs[$n]}" ] ||
			fail "round $round: on_assign ran again on $n"
		[ "$(revoke_runs "$n")" = "${revokes[$n]}" ] ||
			fail "round $round: on_revoke ran on $n"
	done
	grep -q 'revoked' "$HEAD_LOG" && fail "the head revoked a plan across its restart"
	log "round $round: generation $gen, same files, no hook reran"
done

# A node that dies while the head is down: the restarted head waits
# node_timeout for it, then the spare takes exactly its stages.
env_placement node-b | grep -v '^PPCOORD_NODE_ID=' >"$T/node-b.placement"
kill -KILL "$HEAD_PID"
wait "$HEAD_PID" 2>/dev/null
HEAD_PID=""
kill -KILL "$(agent_pid node-b)"
wait "$(agent_pid node-b)" 2>/dev/null
head_start
t0=$(now_ms)
wait_for 10 "node-d to take the place of node-b" \
	grep -q 'spare node-d takes stages .* of lost node node-b' "$HEAD_LOG"
took=$(($(now_ms) - t0))
log "node-d took the place of node-b ${took} ms after the head restarted"
[ "$took" -le $((TIMEOUT_MS + HB_MS + 400)) ] ||
	fail "the restarted head replaced node-b after ${took} ms; the bound is node_timeout plus one heartbeat"
wait_for 10 "the new generation acknowledged" converged node-a node-c node-d
[ "$(head_gen)" = $((gen + 1)) ] ||
	fail "the takeover made generation $(head_gen), expected $((gen + 1))"
env_placement node-d | grep -v '^PPCOORD_NODE_ID=' | cmp -s - "$T/node-b.placement" ||
	fail "node-d did not get node-b's placement: $(cat "$T/node-d/stage.env")"
sleep 0.5
for n in node-a node-c; do
	env_placement "$n" | cmp -s - <(env_plan_part "$T/$n.env.before") ||
		fail "$n's placement changed when node-b was replaced"
	[ "$(hook_runs "$n")" = "${runs[$n]}" ] ||
		fail "on_assign ran again on $n when node-b was replaced"
done
[ "$(hook_runs node-d)" = $((runs[node-d] + 1)) ] ||
	fail "on_assign ran $(hook_runs node-d) times on node-d, expected $((runs[node-d] + 1))"
log "the restarted head kept every place and replaced the node that died"
