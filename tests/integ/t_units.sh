#!/bin/bash
# The systemd units pass `systemd-analyze verify`, and the daemons send
# READY=1 to $NOTIFY_SOCKET as Type=notify requires.
. "$(dirname "$0")/lib.sh"
need_bins
command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"

mkdir -p "$T/units"
for u in ppcoord-head ppcoord-agent; do
	sed "s|/usr/sbin/|$BIN/|g" "$SRC/systemd/$u.service" >"$T/units/$u.service"
done
sed "s|/usr/local/bin/ppcoord-vllm-stage|$SRC/conf/vllm-stage.sh|" \
	"$SRC/conf/vllm-stage.service" >"$T/units/vllm-stage.service"
systemd-analyze verify --man=no "$T"/units/*.service >"$T/verify.out" 2>&1 ||
	{ cat "$T/verify.out"; fail "systemd-analyze verify failed"; }
[ -s "$T/verify.out" ] && { cat "$T/verify.out"; fail "systemd-analyze verify warned"; }

for u in ppcoord-head ppcoord-agent; do
	# Both units share /run/ppcoord, so neither may delete it on stop.
	for d in Type=notify WatchdogSec= Restart=on-failure 'ExecReload=/bin/kill -HUP $MAINPID' \
	    RuntimeDirectoryPreserve=yes; do
		grep -qF "$d" "$T/units/$u.service" || fail "$u.service lacks $d"
	done
done

# systemd's own exposure score (0 to 10, lower is safer) keeps the sandbox
# from eroding: the head needs no privilege, and the agent keeps root for
# its hooks. Threshold 30 is 3.0; the head scores 1.9 with systemd 252.
(cd "$T/units" && systemd-analyze security --offline=yes --threshold=30 ppcoord-head.service) \
	>"$T/security-head.out" 2>&1 ||
	{ cat "$T/security-head.out"; fail "ppcoord-head.service exposure is above 3.0"; }
tail -n 1 "$T/security-head.out"
(cd "$T/units" && systemd-analyze security --offline=yes --threshold=70 ppcoord-agent.service) \
	>"$T/security-agent.out" 2>&1 ||
	{ cat "$T/security-agent.out"; fail "ppcoord-agent.service exposure is above 7.0"; }
tail -n 1 "$T/security-agent.out"

# READY=1 and WATCHDOG=1 over $NOTIFY_SOCKET, received by notifysink.
make_certs
EXPECTED_NODES=1
HEAD_PORT=$(free_port) || fail "no free port"
write_head_conf
# notify_check NAME CHECK_ADDR CONFIG_PROGRAM CONFIG: runs the daemon with
# NOTIFY_SOCKET and WATCHDOG_USEC set as systemd sets them, and waits for
# READY=1 and then WATCHDOG=1 (WatchdogSec= kills a daemon that never
# pings). With CHECK_ADDR, the port there must accept connections by the
# time READY=1 arrives. SIGTERM must then bring STOPPING=1.
notify_check() {
	local name=$1 check=$2 prog=$3 conf=$4 pid
	"$BIN/tests/notifysink" ${check:+-c "$check"} \
		"$T/$name-notify.sock" 20 "$T/$name.notify" &
	PIDS+=($!)
	wait_for 5 "the notify listener for $name" test -S "$T/$name-notify.sock"
	NOTIFY_SOCKET="$T/$name-notify.sock" WATCHDOG_USEC=2000000 \
		bash -c 'export WATCHDOG_PID=$$; exec "$0" "$@"' \
		"$prog" -d -f "$conf" >>"$T/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_for 10 "READY=1 from $name" grep -q 'READY=1' "$T/$name.notify"
	if [ -n "$check" ]; then
		grep 'READY=1' "$T/$name.notify" | head -n 1 | grep -q 'listening=yes' ||
			fail "$name sent READY=1 before $check accepted connections"
	fi
	wait_for 5 "WATCHDOG=1 from $name" grep -q 'WATCHDOG=1' "$T/$name.notify"
	kill -TERM "$pid"
	wait_for 10 "STOPPING=1 from $name" grep -q 'STOPPING=1' "$T/$name.notify"
	log "$name notifications: $(sort -u "$T/$name.notify" | tr '\n' '|')"
}

notify_check head "127.0.0.1:$HEAD_PORT" "$HEAD" "$HEAD_CONF"
agent_conf node-a 127.0.0.2 8 "80 GiB"
notify_check agent "" "$AGENT" "$T/node-a/agent.conf"
