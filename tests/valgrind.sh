#!/bin/bash
# Runs the head and three agents under Valgrind's memcheck over TLS on
# loopback until all three are placed and acked, then stops each with
# SIGTERM. Any memcheck error or leak (definite, indirect or possible) in
# any of the four processes fails the run.
#
#   bash tests/valgrind.sh BUILD_DIR      (make valgrind)
#
# Each process writes its report to vg-NAME.PID.log in the test folder,
# which is kept and named on failure. VALGRIND_TIMEOUT (seconds, default
# 300) bounds the whole run.
set -u

BUILD=${1:?usage: bash tests/valgrind.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd) || exit 2
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 2; }

if [ -z "${VALGRIND_INNER:-}" ]; then
	# The run gets a folder of its own and a time limit, as tests/integ/run.sh
	# gives each integration test.
	dir=$(mktemp -d /tmp/ppcoord-valgrind.XXXXXX) || exit 2
	VALGRIND_INNER=1 TMPDIR="$dir" timeout -k 10 "${VALGRIND_TIMEOUT:-300}" \
		bash "$0" "$BUILD" 2>&1 | tee "$dir/valgrind.out"
	rc=${PIPESTATUS[0]}
	if [ "$rc" = 0 ]; then
		rm -rf "$dir"
		echo "PASS valgrind: no memcheck errors and no leaks"
	else
		echo "FAIL valgrind (exit $rc): reports in $dir"
	fi
	exit "$rc"
fi

# The programs that lib.sh starts are wrappers that run the real ones under
# memcheck. exec keeps the PID, so lib.sh's kill and wait reach valgrind.
WRAP="$TMPDIR/bin"
mkdir -p "$WRAP"
for prog in ppcoord-head ppcoord-agent; do
	cat >"$WRAP/$prog" <<-EOF
	#!/bin/sh
	exec valgrind --tool=memcheck --leak-check=full \\
		--show-leak-kinds=definite,indirect,possible \\
		--errors-for-leak-kinds=definite,indirect,possible \\
		--track-origins=yes --num-callers=30 --error-exitcode=99 \\
		--log-file="$TMPDIR/vg-$prog.%p.log" "$BUILD/$prog" "\$@"
	EOF
	chmod 755 "$WRAP/$prog"
done
ln -sf "$BUILD/ppcoordctl" "$WRAP/ppcoordctl"
BIN=$WRAP

. "$(dirname "$0")/integ/lib.sh"
need_bins
need_jq
make_certs

head_start
agent_conf node-a 127.0.0.2 8 "80 GiB"
agent_conf node-b 127.0.0.3 8 "80 GiB"
agent_conf node-c 127.0.0.4 8 "80 GiB"
for n in node-a node-b node-c; do
	agent_start $n
done
wait_for 120 "all three nodes assigned under valgrind" all_assigned node-a node-b node-c
wait_for 60 "every assignment acked" acked node-a node-b node-c
log "placed at generation $(status_json | jq -r .generation)"

# A few hostile clients, so that the head's reject and close paths run
# under memcheck too.
BADPEER="$BUILD/tests/badpeer"
if [ -x "$BADPEER" ]; then
	d="-c $CERTS/node-d.pem -k $CERTS/node-d.key"
	for args in "-s double-hello $d" "-s hello -V 99 $d" "-s len-1m1 -j $d" \
	    "-s truncated $d" "-s hello -a $CERTS/ca.pem" "-s http" \
	    "-s hello -i node-e $d" "-s hello -g 1025 $d" "-s unknown -j $d" \
	    "-s flood -n 2000 $d" "-s ack -n 10 -E failed $d" \
	    "-s conns -n 5 -w 1 $d"; do
		# shellcheck disable=SC2086
		"$BADPEER" $args -t 20 "127.0.0.1:$HEAD_PORT" >"$T/badpeer.out" 2>&1
		log "badpeer $args: $(grep '^result:' "$T/badpeer.out")"
	done
else
	log "no $BADPEER: only the placement runs under memcheck"
fi
log "stopping every process with SIGTERM"

# Stopped here, not by lib.sh's cleanup, which kills after two seconds:
# the leak check at exit takes longer under valgrind.
status=0
stop_and_wait() {
	local name=$1 pid=$2 rc
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	log "$name (pid $pid) exited with $rc"
	[ "$rc" = 0 ] || status=1
}
for n in node-a node-b node-c; do
	stop_and_wait "agent $n" "$(agent_pid $n)"
done
stop_and_wait head "$HEAD_PID"
HEAD_PID=""

# check_report FILE: the memcheck summary of one process.
check_report() {
	local f=$1
	grep -E 'ERROR SUMMARY|in use at exit|definitely lost|indirectly lost|possibly lost' "$f" |
		sed "s|^|    ${f##*/}: |"
	grep -q 'ERROR SUMMARY: 0 errors' "$f" || return 1
	if grep -Eq '(definitely|indirectly|possibly) lost: [1-9]' "$f"; then
		return 1
	fi
	return 0
}

# A hook's process writes a log too, from the fork until its exec; only
# processes that exited under valgrind have a heap summary.
n=0
for f in "$TMPDIR"/vg-*.log; do
	[ -f "$f" ] && grep -q 'HEAP SUMMARY' "$f" || continue
	n=$((n + 1))
	if ! check_report "$f"; then
		echo "---- $f"
		cat "$f"
		status=1
	fi
done
[ "$n" = 4 ] || { log "expected 4 heap summaries, one per daemon, found $n"; status=1; }
[ "$status" = 0 ] || fail "valgrind found errors or leaks"
log "valgrind: 4 processes, no errors, no leaks"
