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

# READY=1 and WATCHDOG=1 over $NOTIFY_SOCKET need a datagram listener.
command -v python3 >/dev/null || { log "python3 missing: notify check left out"; exit 0; }
make_certs
EXPECTED_NODES=1
HEAD_PORT=$(free_port) || fail "no free port"
write_head_conf
cat >"$T/notify.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(1.0)
seen = set()
end = time.time() + float(sys.argv[2])
with open(sys.argv[3], "a") as out:
    while time.time() < end:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            continue
        out.write(msg.replace("\n", " ") + "\n")
        out.flush()
PY
# notify_check NAME CONFIG_PROGRAM CONFIG: runs the daemon with
# NOTIFY_SOCKET and WATCHDOG_USEC set as systemd sets them, and waits for
# READY=1 and then WATCHDOG=1 (WatchdogSec= kills a daemon that never
# pings).
notify_check() {
	local name=$1 prog=$2 conf=$3 pid
	python3 "$T/notify.py" "$T/$name-notify.sock" 20 "$T/$name.notify" &
	PIDS+=($!)
	wait_for 5 "the notify listener for $name" test -S "$T/$name-notify.sock"
	NOTIFY_SOCKET="$T/$name-notify.sock" WATCHDOG_USEC=2000000 \
		bash -c 'export WATCHDOG_PID=$$; exec "$0" "$@"' \
		"$prog" -d -f "$conf" >>"$T/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_for 10 "READY=1 from $name" grep -q 'READY=1' "$T/$name.notify"
	wait_for 5 "WATCHDOG=1 from $name" grep -q 'WATCHDOG=1' "$T/$name.notify"
	log "$name notifications: $(sort -u "$T/$name.notify" | tr '\n' '|')"
}

notify_check head "$HEAD" "$HEAD_CONF"
agent_conf node-a 127.0.0.2 8 "80 GiB"
notify_check agent "$AGENT" "$T/node-a/agent.conf"
