#!/bin/bash
# An agent started before the head retries with a growing delay, sends
# READY=1 to the service manager without waiting for the head, registers
# once the head is up, and is placed with one run of its hook.
. "$(dirname "$0")/lib.sh"
need_bins
make_certs

# registrations_at_least NAME N: NAME's log has N "registered" lines.
registrations_at_least() {
	[ "$(grep -c 'registered with head' "$T/$1/agent.log")" -ge "$2" ]
}

# hook_runs_are NAME N: NAME's on_assign ran exactly N times.
hook_runs_are() {
	[ "$(hook_runs "$1")" = "$2" ]
}
EXPECTED_NODES=1
HEAD_PORT=$(free_port) || fail "no free port"

# A datagram socket standing in for systemd's notification socket: it
# appends each datagram as one line to notify.log, for at most 60 s.
"$BIN/tests/notifysink" "$T/notify.sock" 60 "$T/notify.log" &
PIDS+=($!)
wait_for 10 "the notification socket" test -S "$T/notify.sock"

agent_conf node-a 127.0.0.2 8 "80 GiB" 'reconnect_max = "2s";'
NOTIFY_SOCKET="$T/notify.sock" agent_start node-a
wait_for 10 "READY=1 from the agent" grep -q '^READY=1' "$T/notify.log"

sleep 3
kill -0 "$(agent_pid node-a)" 2>/dev/null ||
	fail "the agent exited while the head was down"
state_is node-a assigned && fail "node-a assigned before the head started"
grep -q 'connection to head 127.0.0.1:.* failed: Connection refused; next attempt' \
	"$T/node-a/agent.log" || fail "no retry line in the agent log"
grep -q '(attempt 3)' "$T/node-a/agent.log" ||
	fail "fewer than three attempts in 3 s with the head down"
grep -q 'registered with head' "$T/node-a/agent.log" &&
	fail "the agent registered with no head running"

head_start
[ "$HEAD_PORT" = "$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/node-a/agent.conf" | head -n 1)" ] ||
	skip "port $HEAD_PORT was taken meanwhile; the head moved"

wait_for 30 "node-a assigned after the head started" all_assigned node-a
grep -q "registered with head 127.0.0.1:$HEAD_PORT as node node-a" \
	"$T/node-a/agent.log" || fail "no registration line in the agent log"
wait_for 10 "on_assign to run" hook_runs_are node-a 1
grep -q 'running on_assign for generation 1' "$T/node-a/agent.log" ||
	fail "no hook start line in the agent log"

kill -TERM "$(agent_pid node-a)"
wait "$(agent_pid node-a)"
rc=$?
[ "$rc" = 0 ] || fail "the agent exited with status $rc on SIGTERM"
wait_for 5 "STOPPING=1 from the agent" grep -q '^STOPPING=1' "$T/notify.log"
state_is node-a assigned || fail "stopping the agent changed its environment file"
log "agent started before the head was placed once the head came up"
