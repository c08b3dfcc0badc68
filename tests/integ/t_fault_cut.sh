#!/bin/bash
# A node cut off without its connection closing is declared lost within
# node_timeout plus one heartbeat, but a cut of 200 ms is no loss. Without
# a spare the plan is revoked and the node gets its old place back when
# it returns. With a spare, the spare takes its stages and the node
# returns as a spare. A spare cut off and back changes no generation.
#
# CUT=sigstop (the default) cuts node-b off with SIGSTOP. CUT=netns runs
# node-b in a network namespace that this test creates, joined to the
# host by a veth pair in 10.200.N.0/24, and sets the namespace's end of
# the link down; t_fault_cut_netns.sh runs that variant. It skips (exit
# 77) where network namespaces are not permitted.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

CUT=${CUT:-sigstop}
fault_timings 200 1000 200
SLACK_MS=400
EXPECTED_NODES=3

# netns_setup from lib.sh, then addresses for the agents. The vllm order
# compares addresses as strings, so these keep node-a at rank 0, node-b
# at 1, node-c at 2 and node-d last.
netns_cut_setup() {
	netns_setup
	ADDR_A="$NET.11" ADDR_B="$NET.2" ADDR_C="$NET.3" ADDR_D="$NET.4"
}

case $CUT in
sigstop)
	ADDR_A=127.0.0.2 ADDR_B=127.0.0.3 ADDR_C=127.0.0.4 ADDR_D=127.0.0.5
	;;
netns)
	netns_cut_setup
	;;
*)
	fail "CUT must be sigstop or netns, not $CUT"
	;;
esac

# cut_off and restore act on node-b, the node that is cut off.
cut_off() {
	case $CUT in
	sigstop) kill -STOP "$(agent_pid node-b)" ;;
	netns) netns_link down ;;
	esac
}

restore() {
	case $CUT in
	sigstop) kill -CONT "$(agent_pid node-b)" ;;
	netns) netns_link up ;;
	esac
}

# outage: keeps node-b cut off until its agent has noticed the silent
# head and tried again in vain, as in an outage longer than node_timeout.
# A stopped agent notices nothing, so SIGSTOP only waits.
outage() {
	if [ "$CUT" = netns ]; then
		wait_for 10 "node-b to notice that the head is silent" \
			log_count_gt "$T/node-b/agent.log" 'lost connection to head' "$1"
	fi
	sleep 1
}

# A returning node tries again within its backoff ceiling (reconnect_max,
# which the agent raises to at least 500 ms) of the link coming back, so
# this bound leaves room for a TLS handshake, a re-plan and the acks.
RETURN_S=5

head_start
agent_conf node-a "$ADDR_A" 8 "80 GiB" 'reconnect_max = "300ms";'
agent_conf node-b "$ADDR_B" 8 "80 GiB" 'reconnect_max = "300ms";'
agent_conf node-c "$ADDR_C" 8 "80 GiB" 'reconnect_max = "300ms";'
agent_conf node-d "$ADDR_D" 8 "80 GiB" 'reconnect_max = "300ms";'
agent_start node-a
if [ "$CUT" = netns ]; then
	netns_agent_start node-b
else
	agent_start node-b
fi
agent_start node-c
wait_for 20 "the first plan" converged node-a node-b node-c
[ "$(env_get "$T/node-b/stage.env" PPCOORD_NODE_RANK)" = 1 ] ||
	fail "node-b is not at node rank 1: $(cat "$T/node-b/stage.env")"
for n in node-a node-b node-c; do
	env_placement "$n" >"$T/$n.placement"
done
gen=$(head_gen)

# A cut shorter than node_timeout less two heartbeats is no loss: the
# generation, the files and the hook counts stay as they are.
sleep 0.5	# let the hooks finish before counting them
for n in node-a node-b node-c; do
	cp "$T/$n/stage.env" "$T/$n.env.before"
	echo "$(hook_runs "$n") $(revoke_runs "$n")" >"$T/$n.runs"
done
log "cutting node-b off ($CUT) for 200 ms"
cut_off
sleep 0.2
restore
sleep 2	# two node_timeouts: a loss would show by now
converged node-a node-b node-c || fail "a 200 ms cut broke the cluster"
grep -q 'node node-b \(lost\|disconnected\)' "$HEAD_LOG" &&
	fail "a 200 ms cut made the head drop node-b: $(grep 'node node-b' "$HEAD_LOG" | tail -n 1)"
[ "$(head_gen)" = "$gen" ] || fail "a 200 ms cut made generation $(head_gen)"
for n in node-a node-b node-c; do
	cmp -s "$T/$n/stage.env" "$T/$n.env.before" ||
		fail "a 200 ms cut changed $n's environment file"
	[ "$(hook_runs "$n") $(revoke_runs "$n")" = "$(cat "$T/$n.runs")" ] ||
		fail "a 200 ms cut ran a hook on $n"
done

# Without a spare: the plan is revoked, and node-b's return restores it.
log "cutting node-b off ($CUT) with no spare connected"
seen=$(log_count "$T/node-b/agent.log" 'lost connection to head')
t0=$(now_ms)
cut_off
wait_for 10 "node-a and node-c to be revoked" \
	eval 'state_is node-a revoked && state_is node-c revoked'
took=$(($(now_ms) - t0))
log "revoked ${took} ms after node-b was cut off"
grep -q 'node node-b lost: [^ ]' "$HEAD_LOG" ||
	fail "the head did not log the loss of node-b with a reason"
log "head: $(grep 'node node-b lost' "$HEAD_LOG" | tail -n 1)"
[ "$took" -le $((TIMEOUT_MS + HB_MS + SLACK_MS)) ] ||
	fail "node-b was declared lost ${took} ms after it was cut off; the bound is node_timeout (${TIMEOUT_MS} ms) plus one heartbeat (${HB_MS} ms)"
[ "$(node_field node-b connected)" = false ] ||
	fail "status still shows node-b connected"

outage "$seen"
restore
wait_for $RETURN_S "node-b to return and the plan to be restored" \
	converged node-a node-b node-c
[ "$(head_gen)" -gt "$gen" ] ||
	fail "the restored plan kept generation $gen; a new plan needs a new generation"
for n in node-a node-b node-c; do
	env_placement "$n" | cmp -s - "$T/$n.placement" ||
		fail "$n did not get its old place back: $(env_placement "$n" | diff "$T/$n.placement" -)"
done

# With a spare: node-d takes node-b's stages, and node-b returns as a
# spare (or, equally acceptable, gets a place back).
agent_start node-d
wait_for 20 "node-d on standby" converged node-a node-b node-c node-d
state_is node-d standby || fail "node-d is not a spare"
gen=$(head_gen)
sleep 0.5
runs_a=$(hook_runs node-a)
runs_c=$(hook_runs node-c)
log "cutting node-b off ($CUT) with node-d as a spare"
seen=$(log_count "$T/node-b/agent.log" 'lost connection to head')
t0=$(now_ms)
cut_off
wait_for 10 "node-d to take the stages of node-b" \
	grep -q 'spare node-d takes stages .* of lost node node-b' "$HEAD_LOG"
took=$(($(now_ms) - t0))
log "node-d took the place of node-b ${took} ms after the cut"
[ "$took" -le $((TIMEOUT_MS + HB_MS + SLACK_MS)) ] ||
	fail "node-d took over ${took} ms after the cut; the bound is node_timeout (${TIMEOUT_MS} ms) plus one heartbeat (${HB_MS} ms)"
wait_for 10 "the new generation acknowledged" converged node-a node-c node-d
[ "$(head_gen)" = $((gen + 1)) ] ||
	fail "the takeover made generation $(head_gen), expected $((gen + 1))"
env_placement node-d | grep -v '^PPCOORD_NODE_ID=' |
	cmp -s - <(grep -v '^PPCOORD_NODE_ID=' "$T/node-b.placement") ||
	fail "node-d did not get node-b's placement: $(cat "$T/node-d/stage.env")"
for n in node-a node-c; do
	env_placement "$n" | cmp -s - "$T/$n.placement" ||
		fail "$n's placement changed in the takeover"
done

outage "$seen"
restore
wait_for $RETURN_S "node-b to return" converged node-a node-b node-c node-d
st=$(env_get "$T/node-b/stage.env" PPCOORD_STATE)
log "node-b returned as $st"
case $st in
standby) ;;
assigned)
	env_placement node-b | cmp -s - "$T/node-b.placement" ||
		fail "node-b returned assigned to a new place: $(cat "$T/node-b/stage.env")"
	;;
*) fail "node-b returned as $st" ;;
esac
sleep 0.5
[ "$(hook_runs node-a)" = "$runs_a" ] || fail "on_assign ran again on node-a"
[ "$(hook_runs node-c)" = "$runs_c" ] || fail "on_assign ran again on node-c"

# A spare cut off: the head drops it, but no plan changes, so the
# generation stays and no hook runs anywhere.
if [ "$st" = standby ]; then
	gen=$(head_gen)
	sleep 0.5	# let the hooks finish before counting them
	for n in node-a node-b node-c node-d; do
		echo "$(hook_runs "$n") $(revoke_runs "$n")" >"$T/$n.runs"
	done
	seen=$(log_count "$T/node-b/agent.log" 'lost connection to head')
	dropped=$(log_count "$HEAD_LOG" 'node node-b (lost|left|disconnected)')
	log "cutting the spare node-b off ($CUT)"
	cut_off
	wait_for 5 "the head to drop the spare node-b" \
		log_count_gt "$HEAD_LOG" 'node node-b (lost|left|disconnected)' "$dropped"
	log "head: $(grep -E 'node node-b (lost|left|disconnected)' "$HEAD_LOG" | tail -n 1)"
	[ "$(head_gen)" = "$gen" ] ||
		fail "losing the spare made generation $(head_gen), expected $gen"
	outage "$seen"
	restore
	wait_for $RETURN_S "the spare node-b to return" \
		converged node-a node-b node-c node-d
	state_is node-b standby || fail "the returning spare node-b is not on standby"
	[ "$(head_gen)" = "$gen" ] ||
		fail "the spare's return made generation $(head_gen), expected $gen"
	sleep 0.5
	for n in node-a node-b node-c node-d; do
		[ "$(hook_runs "$n") $(revoke_runs "$n")" = "$(cat "$T/$n.runs")" ] ||
			fail "a hook ran on $n when the spare node-b was cut off and returned"
	done
fi
log "a node cut off by $CUT was lost in time and returned"
