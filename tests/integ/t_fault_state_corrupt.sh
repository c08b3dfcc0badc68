#!/bin/bash
# A state file damaged while the head is stopped: truncated, emptied,
# garbage bytes, or JSON whose fields disagree. The head starts anyway and
# logs the problem with the file's name. It keeps the bad file aside under
# another name with its bytes intact, and plans afresh for the nodes that
# connect, at a generation above the one the agents hold.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

fault_timings 200 1000 200
NODES="node-a node-c node-d"
STATE="$T/plan.state"

EXPECTED_NODES=3
head_start
i=2
for n in node-a node-b node-c node-d; do
	agent_conf "$n" "127.0.0.$i" 8 "80 GiB" 'reconnect_max = "300ms";'
	agent_start "$n"
	i=$((i + 1))
done
wait_for 20 "the first plan" converged node-a node-b node-c node-d
# A takeover moves the generation past 1, so that a fresh plan can be
# distinguished from the restored one.
kill -KILL "$(agent_pid node-b)"
wait_for 10 "node-d to take the place of node-b" \
	grep -q 'spare node-d takes stages' "$HEAD_LOG"
# shellcheck disable=SC2086
wait_for 10 "generation 2 acknowledged" converged $NODES
[ "$(head_gen)" = 2 ] || fail "the takeover made generation $(head_gen), expected 2"
jq -e '.generation == 2' "$STATE" >/dev/null ||
	fail "the state file does not hold generation 2"

# damage CASE: replaces the state file with a damaged copy of itself.
damage() {
	case $1 in
	truncated) head -c $(($(stat -c %s "$T/good.state") / 2)) "$T/good.state" >"$STATE" ;;
	empty) : >"$STATE" ;;
	garbage) head -c 4096 /dev/urandom >"$STATE" ;;
	mismatch)
		# Valid JSON, but the plan's generation is not the file's.
		jq -c '.plan.generation = (.generation + 5)' "$T/good.state" >"$STATE"
		;;
	esac
}

for case in truncated empty garbage mismatch; do
	held=$(env_gen node-a)
	head_stop
	cp "$STATE" "$T/good.state"
	damage "$case"
	cp "$STATE" "$T/bad.state"
	ls "$STATE".corrupt-* 2>/dev/null | sort >"$T/aside.before"
	warned=$(log_count "$HEAD_LOG" "state file $STATE .*renamed to")
	fresh=$(log_count "$HEAD_LOG" 'plan generation [0-9]+ \(first plan\)')
	restored=$(log_count "$HEAD_LOG" 'restored plan generation')
	log "case $case: starting the head on a damaged state file"

	head_start
	wait_for 5 "the head to report the damaged state file" \
		log_count_gt "$HEAD_LOG" "state file $STATE .*renamed to" "$warned"
	log "head: $(grep "state file $STATE .*renamed to" "$HEAD_LOG" | tail -n 1)"
	kill -0 "$HEAD_PID" || fail "the head exited on a $case state file"

	aside=$(ls "$STATE".corrupt-* 2>/dev/null | sort | comm -13 "$T/aside.before" -)
	[ "$(wc -l <<<"$aside")" = 1 ] && [ -n "$aside" ] ||
		fail "case $case: expected one new file set aside, found: $aside"
	cmp -s "$aside" "$T/bad.state" ||
		fail "case $case: $aside does not hold the damaged bytes"
	grep -q "renamed to $aside" "$HEAD_LOG" ||
		fail "case $case: the log does not name $aside"

	# shellcheck disable=SC2086
	wait_for 20 "a fresh plan for the connected nodes" converged $NODES
	[ "$(log_count "$HEAD_LOG" 'restored plan generation')" = "$restored" ] ||
		fail "case $case: the head restored a plan from the damaged file"
	log_count_gt "$HEAD_LOG" 'plan generation [0-9]+ \(first plan\)' "$fresh" ||
		fail "case $case: the head did not plan afresh"
	log "case $case: $(grep -E 'plan generation [0-9]+ \(first plan\)' "$HEAD_LOG" | tail -n 1)"
	# The head lost its count but the agents report what they hold, so
	# the fresh plan can still be newer than anything they have seen.
	[ "$(head_gen)" -gt "$held" ] ||
		fail "case $case: the fresh plan has generation $(head_gen), not above the $held the agents held"
	jq -e --argjson g "$(head_gen)" '.generation == $g' "$STATE" >/dev/null ||
		fail "case $case: the head did not write a new state file for generation $(head_gen)"
done

# A file set aside earlier is evidence too: a second damaged file must not
# replace it, even when both are set aside within the same second. Files
# under every name the next few seconds could give are already there.
head_stop
now=$(date +%s)
for s in 0 1 2 3 4 5; do
	echo "set aside earlier at $((now + s))" >"$STATE.corrupt-$((now + s))"
	cp "$STATE.corrupt-$((now + s))" "$T/earlier-$s"
done
head -c 512 /dev/urandom >"$STATE"
cp "$STATE" "$T/bad.state"
warned=$(log_count "$HEAD_LOG" "state file $STATE .*renamed to")
head_start
wait_for 5 "the head to report the damaged state file" \
	log_count_gt "$HEAD_LOG" "state file $STATE .*renamed to" "$warned"
for s in 0 1 2 3 4 5; do
	cmp -s "$STATE.corrupt-$((now + s))" "$T/earlier-$s" ||
		fail "setting aside a second damaged file replaced $STATE.corrupt-$((now + s)), a file set aside earlier"
done
line=$(grep "state file $STATE .*renamed to" "$HEAD_LOG" | tail -n 1)
aside=$(sed -n 's/.*renamed to \(.*\); planning afresh.*/\1/p' <<<"$line")
[ -n "$aside" ] && cmp -s "$aside" "$T/bad.state" ||
	fail "the damaged file is not where the log says: $line"
log "every damaged state file was reported, kept aside and replaced"
