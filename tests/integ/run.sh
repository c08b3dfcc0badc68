#!/bin/sh
# Runs each integration test given as an argument in a temporary directory
# of its own, with a timeout, and prints PASS, FAIL or SKIP per test and a
# closing count. A test that exits 77 is skipped. The log of a failed test
# is printed in full.
#
#   BIN=build sh tests/integ/run.sh tests/integ/t_*.sh
#
# TEST_TIMEOUT (seconds, default 120) bounds each test; KEEP=1 keeps the
# temporary directories for inspection. JOBS=N runs up to N tests at once
# (default 1), each reported when it ends. The tests use their own folders
# and random ports, and most of their time is spent waiting, so JOBS=2
# shortens a run on two cores.

: "${BIN:?set BIN to the directory holding ppcoord-head, ppcoord-agent and ppcoordctl}"
case "$BIN" in
/*) ;;
*) BIN="$(pwd)/$BIN" ;;
esac
export BIN
TEST_TIMEOUT="${TEST_TIMEOUT:-120}"
JOBS="${JOBS:-1}"

passed=0
failed=0
skipped=0
failed_names=""

# run_test TEST DIR: runs TEST in DIR with its log in DIR/test.log, and
# writes its exit status to DIR/rc once everything it started is gone.
run_test() {
	# timeout(1) puts the test in a process group of its own, so
	# everything the test started can be killed with the group even when
	# the test itself forgot to.
	TMPDIR="$2" timeout -k 5 "$TEST_TIMEOUT" bash "$1" >"$2/test.log" 2>&1 &
	tpid=$!
	wait "$tpid"
	echo $? >"$2/rc.new"
	kill -KILL -"$tpid" 2>/dev/null
	mv "$2/rc.new" "$2/rc"
}

# report NAME DIR: prints and counts the result of a finished test.
report() {
	name=$1
	dir=$2
	log="$dir/test.log"
	rc=$(cat "$dir/rc")

	case $rc in
	0)
		echo "PASS $name"
		passed=$((passed + 1))
		;;
	77)
		reason=$(grep '^SKIP:' "$log" | tail -n 1)
		echo "SKIP $name${reason:+ (${reason#SKIP: })}"
		skipped=$((skipped + 1))
		;;
	*)
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL $name (timed out after ${TEST_TIMEOUT}s)"
		else
			echo "FAIL $name (exit $rc)"
		fi
		echo "---- log of $name ($log)"
		sed 's/^/    /' "$log"
		echo "---- end of $name"
		failed=$((failed + 1))
		failed_names="$failed_names $name"
		;;
	esac
	if [ "${KEEP:-0}" != 1 ] && { [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; }; then
		rm -rf "$dir"
	fi
}

# reap: reports every running test that has finished.
reap() {
	still=""
	for job in $running; do
		if [ -f "${job#*:}/rc" ]; then
			report "${job%%:*}" "${job#*:}"
		else
			still="$still $job"
		fi
	done
	running=$still
}

# count_running: how many tests run now.
count_running() {
	set -- $running
	echo $#
}

running=""
for t in "$@"; do
	name=$(basename "$t" .sh)
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ppcoord-$name.XXXXXX") || exit 2
	if [ "$JOBS" -le 1 ]; then
		run_test "$t" "$dir"
		report "$name" "$dir"
		continue
	fi
	run_test "$t" "$dir" &
	running="$running $name:$dir"
	while [ "$(count_running)" -ge "$JOBS" ]; do
		sleep 0.2
		reap
	done
done
while [ -n "$running" ]; do
	sleep 0.2
	reap
done
wait

[ -n "$failed_names" ] && echo "failed:$failed_names"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
