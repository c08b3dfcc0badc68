#!/bin/bash
# Restarting an agent, after SIGTERM or kill -9, within node_timeout:
# the node keeps its place although a spare is connected, the generation
# stays, its environment file is not rewritten and no hook runs on any
# node. Restarting the spare leaves it a spare.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

# The restart must finish within node_timeout of the last frame, so this
# test gives it 1.5 s rather than 1 s on a loaded machine.
fault_timings 200 1500 200
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

# restart NAME SIGNAL: stops NAME's agent with SIGNAL, starts it again
# and checks that nothing changed anywhere.
restart() {
	local name=$1 sig=$2 pid n registered
	pid=$(agent_pid "$name")
	registered=$(log_count "$T/$name/agent.log" 'registered with head')
	log "SIG$sig to $name (pid $pid)"
	kill -"$sig" "$pid"
	wait "$pid" 2>/dev/null
	agent_start "$name"
	wait_for 10 "$name to register again" \
		log_count_gt "$T/$name/agent.log" 'registered with head' "$registered"
	# shellcheck disable=SC2086
	wait_for 10 "every node to acknowledge" converged $NODES
	sleep 1	# a takeover or a late hook would show by now
	# shellcheck disable=SC2086
	converged $NODES || fail "the cluster did not stay converged after restarting $name"
	[ "$(head_gen)" = "$gen" ] ||
		fail "restarting $name after SIG$sig made generation $(head_gen), expected $gen"
	grep -q 'takes stages' "$HEAD_LOG" &&
		fail "a spare took a place when $name restarted: $(grep 'takes stages' "$HEAD_LOG")"
	grep -q 'revoked' "$HEAD_LOG" &&
		fail "the head revoked the plan when $name restarted"
	for n in $NODES; do
		cmp -s "$T/$n/stage.env" "$T/$n.env.before" ||
			fail "restarting $name changed $n's environment file: $(diff "$T/$n.env.before" "$T/$n/stage.env")"
		[ "$(hook_runs "$n")" = "${runs[$n]}" ] ||
			fail "on_assign ran again on $n after $name restarted"
		[ "$(revoke_runs "$n")" = "${revokes[$n]}" ] ||
			fail "on_revoke ran on $n after $name restarted"
	done
	log "$name restarted after SIG$sig: generation $gen, nothing rerun"
}

restart node-b TERM
restart node-c KILL
restart node-a KILL
restart node-d KILL
restart node-d TERM
state_is node-d standby || fail "the restarted spare node-d is not on standby"
log "agent restarts kept every place and ran no hook"
