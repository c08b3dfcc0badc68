#!/bin/bash
# The head cannot write its state file when a node is lost: the new
# generation must reach no agent until it is on disk, so that a head
# restart can never hand out a generation that agents already hold
# under another plan. Once the file can be written again, the head
# pushes the generation by itself and every node acknowledges it.
#
# The test runs as any user, so it blocks the write with a non-empty
# directory where the state file goes: rename(2) cannot replace it.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

fault_timings 200 1000 200
STATE="$T/plan.state"

EXPECTED_NODES=3
head_start
i=2
for n in node-a node-b node-c node-d; do
	agent_conf "$n" "127.0.0.$i" 8 "80 GiB" 'reconnect_max = "300ms";'
	agent_start "$n"
	i=$((i + 1))
done
wait_for 20 "the first plan with a spare" converged node-a node-b node-c node-d
gen=$(head_gen)
sleep 0.5	# let the hooks finish before counting them
for n in node-a node-c node-d; do
	cp "$T/$n/stage.env" "$T/$n.env.before"
	echo "$(hook_runs "$n") $(revoke_runs "$n")" >"$T/$n.runs"
done

rm -f "$STATE"
mkdir "$STATE"
touch "$STATE/blocks-the-rename"
kill -KILL "$(agent_pid node-b)"
wait_for 10 "the head to hold back the new generation" \
	grep -q "generation $((gen + 1)) is not pushed until the state file is written" "$HEAD_LOG"
log "head: $(grep 'is not pushed until the state file is written' "$HEAD_LOG" | tail -n 1)"
sleep 2	# several sweeps, each retrying the write
for n in node-a node-c node-d; do
	cmp -s "$T/$n/stage.env" "$T/$n.env.before" ||
		fail "$n heard of a generation that is not on disk: $(diff "$T/$n.env.before" "$T/$n/stage.env")"
	[ "$(hook_runs "$n") $(revoke_runs "$n")" = "$(cat "$T/$n.runs")" ] ||
		fail "a hook ran on $n for a generation that is not on disk"
	[ "$(node_field "$n" acked_generation)" = "$gen" ] ||
		fail "$n acknowledged generation $(node_field "$n" acked_generation) before it was on disk"
done
kill -0 "$HEAD_PID" || fail "the head exited when its state file could not be written"

rm -rf "$STATE"
wait_for 10 "the held-back generation to be pushed once the file can be written" \
	converged node-a node-c node-d
[ "$(head_gen)" = $((gen + 1)) ] ||
	fail "the head is at generation $(head_gen), expected $((gen + 1))"
jq -e --argjson g $((gen + 1)) '.generation == $g' "$STATE" >/dev/null ||
	fail "the state file does not hold generation $((gen + 1))"
leftover=$(ls "$STATE".tmp.* 2>/dev/null)
[ -z "$leftover" ] || fail "failed writes left temporary files: $leftover"
state_is node-d assigned || fail "the spare node-d was not assigned the place of node-b"
sleep 0.5
[ "$(hook_runs node-d)" = $(($(cut -d' ' -f1 "$T/node-d.runs") + 1)) ] ||
	fail "on_assign ran $(hook_runs node-d) times on node-d"
for n in node-a node-c; do
	[ "$(hook_runs "$n") $(revoke_runs "$n")" = "$(cat "$T/$n.runs")" ] ||
		fail "a hook ran on $n in the takeover"
done
log "generation $((gen + 1)) waited for the state file, then reached every node"
