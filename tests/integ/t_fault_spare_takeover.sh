#!/bin/bash
# An assigned node is lost while spares are connected: the first spare
# takes exactly the lost node's stages and the other nodes keep theirs.
# Their environment files change only in PPCOORD_GENERATION, only the
# spare's on_assign runs, and every live node acknowledges the new
# generation, which the head sends them as the changed stage only. The loss is declared within node_timeout plus one
# heartbeat, first after kill -9 (the connection closes), then after
# SIGSTOP (the connection stays open and falls silent), then after
# SIGTERM.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

fault_timings 200 1000 200
SLACK_MS=400

EXPECTED_NODES=3
head_start
# The vllm order puts equal nodes by address, so node-a, node-b and
# node-c are placed and node-d, node-e and node-f are spares in that
# order.
i=2
for n in node-a node-b node-c node-d node-e node-f; do
	agent_conf "$n" "127.0.0.$i" 8 "80 GiB" 'reconnect_max = "300ms";'
	i=$((i + 1))
done
for n in node-a node-b node-c; do
	agent_start "$n"
done
wait_for 20 "the first plan" converged node-a node-b node-c
for n in node-d node-e node-f; do
	agent_start "$n"
done
wait_for 20 "three spares on standby" converged node-a node-b node-c node-d node-e node-f
for n in node-d node-e node-f; do
	state_is "$n" standby || fail "$n is not a spare: $(cat "$T/$n/stage.env")"
done

# takeover LOST SPARE SIGNAL LIVE...: sends SIGNAL to LOST's agent and
# checks that SPARE takes its stages and that the LIVE nodes keep theirs.
takeover() {
	local lost=$1 spare=$2 sig=$3
	shift 3
	local live=("$@") n gen t0 took line
	local -A runs revokes

	gen=$(head_gen)
	for n in "${live[@]}" "$spare"; do
		runs[$n]=$(hook_runs "$n")
		revokes[$n]=$(revoke_runs "$n")
		env_placement "$n" >"$T/$n.placement"
	done
	env_placement "$lost" | grep -v '^PPCOORD_NODE_ID=' >"$T/$lost.placement"

	t0=$(now_ms)
	kill -"$sig" "$(agent_pid "$lost")"
	wait_for 10 "$spare to take the stages of $lost" \
		grep -q "spare $spare takes stages .* of lost node $lost" "$HEAD_LOG"
	took=$(($(now_ms) - t0))
	log "$spare took the place of $lost ${took} ms after SIG$sig"
	line=$(grep "node $lost lost" "$HEAD_LOG" | tail -n 1)
	[ -n "$line" ] || fail "the head did not log the loss of $lost"
	log "head: $line"
	grep -q "node $lost lost: [^ ]" <<<"$line" ||
		fail "the loss of $lost is logged without a reason: $line"
	[ "$took" -le $((TIMEOUT_MS + HB_MS + SLACK_MS)) ] ||
		fail "$lost was replaced ${took} ms after SIG$sig; the bound is node_timeout (${TIMEOUT_MS} ms) plus one heartbeat (${HB_MS} ms)"

	wait_for 10 "every live node to acknowledge the new generation" \
		converged "${live[@]}" "$spare"
	[ "$(head_gen)" = $((gen + 1)) ] ||
		fail "the takeover of $lost made generation $(head_gen), expected $((gen + 1))"
	state_is "$spare" assigned || fail "$spare is not assigned"
	# The two nodes that stay got only the changed stage; the spare,
	# new to the plan, got the whole table.
	line=$(grep "generation $((gen + 1)) queued for every connected node" "$HEAD_LOG")
	grep -q "1 with the whole stage table, 2 with the changed stages only" <<<"$line" ||
		fail "generation $((gen + 1)) was not sent as one whole table and two changes: ${line:-no queued line}"
	env_placement "$spare" | grep -v '^PPCOORD_NODE_ID=' |
		cmp -s - "$T/$lost.placement" ||
		fail "$spare did not get exactly the placement of $lost: $(diff <(env_placement "$spare") "$T/$lost.placement")"
	for n in "${live[@]}"; do
		env_placement "$n" | cmp -s - "$T/$n.placement" ||
			fail "$n's placement changed when $lost was lost: $(env_placement "$n" | diff "$T/$n.placement" -)"
	done
	[ "$(node_field "$lost" state)" != assigned ] ||
		fail "status still shows $lost assigned"

	# Hooks run in the background; give a late one time to show.
	sleep 0.5
	[ "$(hook_runs "$spare")" = $((runs[$spare] + 1)) ] ||
		fail "on_assign ran $(hook_runs "$spare") times on $spare, expected $((runs[$spare] + 1))"
	for n in "${live[@]}"; do
		[ "$(hook_runs "$n")" = "${runs[$n]}" ] ||
			fail "on_assign ran again on $n when $lost was lost"
		[ "$(revoke_runs "$n")" = "${revokes[$n]}" ] ||
			fail "on_revoke ran on $n when $lost was lost"
	done
	[ "$(revoke_runs "$spare")" = "${revokes[$spare]}" ] ||
		fail "on_revoke ran on $spare"
}

# node-b has node rank 1, so MASTER_ADDR, node-a's address, stays.
takeover node-b node-d KILL node-a node-c node-e node-f
takeover node-c node-e STOP node-a node-d node-f
takeover node-d node-f TERM node-a node-e

# The stopped node-c returns as a spare: it no longer has a place, so it
# is told standby and its on_revoke runs once.
kill -CONT "$(agent_pid node-c)"
wait_for 20 "node-c to return as a spare" converged node-a node-e node-f node-c
state_is node-c standby || fail "node-c returned as $(env_get "$T/node-c/stage.env" PPCOORD_STATE), expected standby"
sleep 0.5
[ "$(revoke_runs node-c)" = 1 ] ||
	fail "on_revoke ran $(revoke_runs node-c) times on the returning node-c, expected 1"
[ "$(hook_runs node-c)" = 1 ] ||
	fail "on_assign ran again on the returning node-c"
log "spares took over after kill -9, SIGSTOP and SIGTERM"
