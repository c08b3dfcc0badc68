#!/bin/bash
# An assigned node is lost and no spare is connected: the remaining nodes
# get a Revoke (PPCOORD_STATE=revoked in their environment files, on_revoke
# runs once each) and the head waits for expected_nodes again instead of
# planning for fewer. When the node returns, every node gets its old
# place back at a new generation.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

fault_timings 200 1000 200
SLACK_MS=400

EXPECTED_NODES=3
head_start
i=2
for n in node-a node-b node-c; do
	agent_conf "$n" "127.0.0.$i" 8 "80 GiB" 'reconnect_max = "300ms";'
	agent_start "$n"
	i=$((i + 1))
done
wait_for 20 "the first plan" converged node-a node-b node-c
gen=$(head_gen)
for n in node-a node-b node-c; do
	env_placement "$n" >"$T/$n.placement"
done

t0=$(now_ms)
kill -KILL "$(agent_pid node-b)"
wait_for 10 "node-a and node-c to be revoked" \
	eval 'state_is node-a revoked && state_is node-c revoked'
took=$(($(now_ms) - t0))
log "node-a and node-c revoked ${took} ms after kill -9 of node-b"
[ "$took" -le $((TIMEOUT_MS + HB_MS + SLACK_MS)) ] ||
	fail "the revoke came ${took} ms after kill -9; the bound is node_timeout (${TIMEOUT_MS} ms) plus one heartbeat (${HB_MS} ms)"
line=$(grep "plan generation $gen revoked" "$HEAD_LOG" | tail -n 1)
[ -n "$line" ] || fail "the head did not log the revoke of generation $gen"
log "head: $line"
grep -q "node node-b" <<<"$line" || fail "the revoke does not name node-b: $line"
grep -q "node node-b lost: [^ ]" "$HEAD_LOG" ||
	fail "the head did not log the loss of node-b with a reason"

wait_for 5 "on_revoke on node-a and node-c" \
	eval '[ "$(revoke_runs node-a)" = 1 ] && [ "$(revoke_runs node-c)" = 1 ]'
for n in node-a node-c; do
	[ "$(env_gen "$n")" = "$gen" ] ||
		fail "$n's revoked file has generation $(env_gen "$n"), expected $gen"
done

# Two nodes are fewer than expected_nodes: the head must wait, not plan.
sleep 1.5
head_state_is revoked || fail "the head is $(status_json | jq -r .state) with 2 of 3 nodes, expected revoked"
[ "$(head_gen)" = "$gen" ] || fail "the head planned generation $(head_gen) for 2 of 3 nodes"
[ "$(status_json | jq '[.nodes[] | select(.connected)] | length')" = 2 ] ||
	fail "status does not show 2 connected nodes"
for n in node-a node-c; do
	[ "$(revoke_runs "$n")" = 1 ] || fail "on_revoke ran $(revoke_runs "$n") times on $n"
	[ "$(hook_runs "$n")" = 1 ] || fail "on_assign ran on $n while revoked"
done

agent_start node-b
wait_for 20 "the three nodes to be assigned again" converged node-a node-b node-c
[ "$(head_gen)" = $((gen + 1)) ] ||
	fail "the plan after the return has generation $(head_gen), expected $((gen + 1))"
for n in node-a node-b node-c; do
	state_is "$n" assigned || fail "$n is not assigned"
	env_placement "$n" | cmp -s - "$T/$n.placement" ||
		fail "$n did not get its old place back: $(env_placement "$n" | diff "$T/$n.placement" -)"
done
sleep 0.5
# A revoked node starts again, so on_assign runs once more on each.
for n in node-a node-c; do
	[ "$(hook_runs "$n")" = 2 ] ||
		fail "on_assign ran $(hook_runs "$n") times on $n, expected 2"
done
[ "$(hook_runs node-b)" = 2 ] ||
	fail "on_assign ran $(hook_runs node-b) times on node-b, expected 2"
log "without a spare the plan was revoked and restored with the same places"
