#!/bin/bash
# With head.max_immediate_updates = 0, a spare that takes a lost node's
# stages gets its Assignment at once, and every other node, whose only
# change is the generation number, gets it in place of its next
# heartbeat: within one heartbeat interval plus one sweep. Their
# environment files then carry the new generation, their placements stay
# and no hook but the spare's runs. A reload while such updates wait
# sends them at once, so no node is left behind on the old generation.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

fault_timings 1000 3000 200
SLACK_MS=600
HEAD_EXTRA='max_immediate_updates = 0;'
HEAD_STATUS=1

EXPECTED_NODES=3
head_start
# The vllm order places node-a, node-b and node-c; node-d and node-e
# are spares, node-d first.
i=2
for n in node-a node-b node-c node-d node-e; do
	agent_conf "$n" "127.0.0.$i" 8 "80 GiB" 'reconnect_max = "300ms";'
	i=$((i + 1))
done
for n in node-a node-b node-c; do
	agent_start "$n"
done
wait_for 20 "the first plan" converged node-a node-b node-c
for n in node-d node-e; do
	agent_start "$n"
done
wait_for 20 "two spares on standby" converged node-a node-b node-c node-d node-e

gen=$(head_gen)
declare -A runs
for n in node-a node-c node-d node-e; do
	runs[$n]=$(hook_runs "$n")
	env_placement "$n" >"$T/$n.placement"
done

kill -KILL "$(agent_pid node-b)"
wait_for 10 "node-d to take the stages of node-b" \
	grep -q "spare node-d takes stages .* of lost node node-b" "$HEAD_LOG"
wait_for 5 "generation $((gen + 1)) to be queued" \
	grep -q "generation $((gen + 1)) queued for every connected node" "$HEAD_LOG"
t0=$(now_ms)
line=$(grep "generation $((gen + 1)) queued for every connected node" "$HEAD_LOG")
log "head: $line"
grep -q "1 with the whole stage table, 0 with the changed stages only; 3 nodes whose only change is the generation get it in place of their next heartbeat" <<<"$line" ||
	fail "generation $((gen + 1)) was not sent as one Assignment at once and three in place of heartbeats: $line"

wait_for 10 "every live node to acknowledge generation $((gen + 1))" \
	converged node-a node-c node-d node-e
took=$(($(now_ms) - t0))
log "every live node acknowledged generation $((gen + 1)) ${took} ms after it was queued"
# A heartbeat is due at most one interval after the push, and the sweep
# that sends it runs every interval / 4.
[ "$took" -le $((HB_MS + HB_MS / 4 + SLACK_MS)) ] ||
	fail "the deferred updates took ${took} ms; the bound is one heartbeat (${HB_MS} ms) and one sweep"
wait_for 5 "the log line of the last deferred update" \
	grep -q "generation $((gen + 1)) sent in place of a heartbeat to 3 of the 3 nodes whose update waited" "$HEAD_LOG"

curl -fsS "http://127.0.0.1:$STATUS_PORT/metrics" >"$T/metrics.txt" ||
	fail "GET /metrics failed"
deferred=$(awk '$1 == "ppcoord_deferred_updates_total" { print $2 }' "$T/metrics.txt")
[ "$deferred" = 3 ] ||
	fail "ppcoord_deferred_updates_total is ${deferred:-missing}, expected 3"

state_is node-d assigned || fail "node-d is not assigned"
for n in node-a node-c node-e; do
	env_placement "$n" | cmp -s - "$T/$n.placement" ||
		fail "$n's placement changed when node-b was lost: $(env_placement "$n" | diff "$T/$n.placement" -)"
	[ "$(env_gen "$n")" = $((gen + 1)) ] ||
		fail "$n holds generation $(env_gen "$n"), expected $((gen + 1))"
done
state_is node-e standby || fail "node-e is no longer a spare"

# Hooks run in the background; give a late one time to show.
sleep 0.5
[ "$(hook_runs node-d)" = $((runs[node-d] + 1)) ] ||
	fail "on_assign ran $(hook_runs node-d) times on node-d, expected $((runs[node-d] + 1))"
for n in node-a node-c node-e; do
	[ "$(hook_runs "$n")" = "${runs[$n]}" ] ||
		fail "on_assign ran again on $n after a deferred update"
done
log "the spare was placed at once and three nodes got the generation with their heartbeats"

# node-e takes the place of node-c, and node-a and node-d wait for their
# heartbeats. A reload at once, which moves nothing, must first send
# them the generation that they wait for.
gen=$(head_gen)
kill -KILL "$(agent_pid node-c)"
end=$(($(now_ms) + 10000))
until grep -q "generation $((gen + 1)) queued for every connected node" "$HEAD_LOG"; do
	[ "$(now_ms)" -lt "$end" ] || fail "generation $((gen + 1)) was not queued after the loss of node-c"
	sleep 0.02
done
kill -HUP "$HEAD_PID"
wait_for 5 "the head to reload" grep -q "configuration reloaded" "$HEAD_LOG"
wait_for 5 "node-a, node-d and node-e to acknowledge generation $((gen + 1))" \
	converged node-a node-d node-e
[ "$(head_gen)" = $((gen + 1)) ] ||
	fail "the reload changed the generation to $(head_gen), expected $((gen + 1))"
if line=$(grep "generation $((gen + 1)) sent at once to the" "$HEAD_LOG"); then
	log "head: $line"
else
	log "both deferred updates went out with heartbeats before the reload"
fi
state_is node-e assigned || fail "node-e is not assigned"
log "a reload sent the waiting updates at once"
