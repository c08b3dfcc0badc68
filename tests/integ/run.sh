#!/bin/sh
# Runs each integration test given as an argument in a temporary directory
# of its own, with a timeout, and prints PASS, FAIL or SKIP per test and a
# closing count. A test that exits 77 is skipped. The log of a failed test
# is printed in full.
#
#   BIN=build sh tests/integ/run.sh tests/integ/t_*.sh
#
# TEST_TIMEOUT (seconds, default 120) bounds each test; KEEP=1 keeps the
# temporary directories for inspection.

: "${BIN:?set BIN to the directory holding ppcoord-head, ppcoord-agent and ppcoordctl}"
case "$BIN" in
/*) ;;
*) BIN="$(pwd)/$BIN" ;;
esac
export BIN
TEST_TIMEOUT="${TEST_TIMEOUT:-120}"

passed=0
failed=0
skipped=0
failed_names=""

for t in "$@"; do
	name=$(basename "$t" .sh)
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ppcoord-$name.XXXXXX") || exit 2
	log="$dir/test.log"

	# timeout(1) puts the test in a process group of its own, so
	# everything the test started can be killed with the group even when
	# the test itself forgot to.
	TMPDIR="$dir" timeout -k 5 "$TEST_TIMEOUT" bash "$t" >"$log" 2>&1 &
	pid=$!
	wait "$pid"
	rc=$?
	kill -KILL -"$pid" 2>/dev/null

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
done

[ -n "$failed_names" ] && echo "failed:$failed_names"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
