#!/bin/bash
# `make install DESTDIR=... PREFIX=/usr` places the programs, units,
# example configs and man pages, and the installed programs run and accept
# the example configs once their paths point at test files.
. "$(dirname "$0")/lib.sh"
need_bins
make_certs

ROOT="$T/root"
make -s -C "$SRC" install DESTDIR="$ROOT" PREFIX=/usr BUILD="$BIN" >"$T/install.out" 2>&1 ||
	{ cat "$T/install.out"; fail "make install failed"; }

for f in usr/sbin/ppcoord-head usr/sbin/ppcoord-agent usr/bin/ppcoordctl \
	usr/bin/ppcoord-vllm-stage; do
	[ -x "$ROOT/$f" ] || fail "$f is not installed executable"
done
for f in usr/lib/systemd/system/ppcoord-head.service \
	usr/lib/systemd/system/ppcoord-agent.service \
	usr/share/ppcoord/head.conf usr/share/ppcoord/agent.conf \
	usr/share/ppcoord/inventory.json usr/share/ppcoord/vllm-stage.service \
	usr/share/ppcoord/vllm-stage.sh \
	usr/share/man/man8/ppcoord-head.8 usr/share/man/man8/ppcoord-agent.8 \
	usr/share/man/man8/ppcoordctl.8 usr/share/man/man5/ppcoord.conf.5; do
	[ -f "$ROOT/$f" ] || fail "$f is not installed"
done
grep -q '^ExecStart=/usr/sbin/ppcoord-head ' "$ROOT/usr/lib/systemd/system/ppcoord-head.service" ||
	fail "installed head unit does not start /usr/sbin/ppcoord-head"

# The example vLLM unit starts the launcher where it was installed.
[ "$(stat -c %a "$ROOT/usr/bin/ppcoord-vllm-stage")" = 755 ] ||
	fail "usr/bin/ppcoord-vllm-stage is not mode 755"
grep -q '^ExecStart=/usr/bin/ppcoord-vllm-stage$' "$ROOT/usr/share/ppcoord/vllm-stage.service" ||
	fail "installed vllm-stage.service does not start /usr/bin/ppcoord-vllm-stage: $(grep ExecStart "$ROOT/usr/share/ppcoord/vllm-stage.service")"

# A prefix other than /usr moves the units' ExecStart= with it.
make -s -C "$SRC" install DESTDIR="$T/root2" PREFIX=/opt/ppc BUILD="$BIN" >"$T/install2.out" 2>&1 ||
	{ cat "$T/install2.out"; fail "make install PREFIX=/opt/ppc failed"; }
grep -q '^ExecStart=/opt/ppc/sbin/ppcoord-agent ' "$T/root2/opt/ppc/lib/systemd/system/ppcoord-agent.service" ||
	fail "PREFIX=/opt/ppc unit does not start /opt/ppc/sbin/ppcoord-agent"

"$ROOT/usr/bin/ppcoordctl" --version >"$T/version.out" 2>&1 ||
	{ cat "$T/version.out"; fail "ppcoordctl --version failed"; }
grep -q '0\.1\.0' "$T/version.out" || fail "ppcoordctl --version printed: $(cat "$T/version.out")"

# The example configs, with paths moved into the test directory.
ex="$ROOT/usr/share/ppcoord"
sed -e "s|/etc/ppcoord/ca.pem|$CERTS/ca.pem|" \
	-e "s|/etc/ppcoord/head.pem|$CERTS/head.pem|" \
	-e "s|/etc/ppcoord/head.key|$CERTS/head.key|" \
	-e "s|/run/ppcoord/|$T/|" -e "s|/var/lib/ppcoord/|$T/|" \
	"$ex/head.conf" >"$T/head.conf"
"$ROOT/usr/sbin/ppcoord-head" -n -f "$T/head.conf" >"$T/head-n.out" 2>&1 ||
	{ cat "$T/head-n.out"; fail "ppcoord-head -n rejects the example head.conf"; }
grep -q 'configuration OK' "$T/head-n.out" || fail "ppcoord-head -n did not print configuration OK"

sed -e "s|/etc/ppcoord/ca.pem|$CERTS/ca.pem|" \
	-e "s|/etc/ppcoord/node.pem|$CERTS/node-a.pem|" \
	-e "s|/etc/ppcoord/node.key|$CERTS/node-a.key|" \
	-e "s|/run/ppcoord/|$T/|" \
	-e 's|source = "nvml";|source = "static"; count = 8; memory = "80 GiB";|' \
	"$ex/agent.conf" >"$T/agent.conf"
"$ROOT/usr/sbin/ppcoord-agent" -n -f "$T/agent.conf" >"$T/agent-n.out" 2>&1 ||
	{ cat "$T/agent-n.out"; fail "ppcoord-agent -n rejects the example agent.conf"; }
grep -q 'configuration OK' "$T/agent-n.out" || fail "ppcoord-agent -n did not print configuration OK"

# The example inventory plans with the example config.
"$ROOT/usr/bin/ppcoordctl" plan -f "$ex/head.conf" -i "$ex/inventory.json" >"$T/plan.out" 2>&1 ||
	{ cat "$T/plan.out"; fail "ppcoordctl plan fails on the example config and inventory"; }
cat "$T/plan.out"

# A misspelt key is an error with the file and line.
sed 's/expected_nodes/expected_node/' "$T/head.conf" >"$T/bad.conf"
if "$ROOT/usr/sbin/ppcoord-head" -n -f "$T/bad.conf" >"$T/bad.out" 2>&1; then
	fail "ppcoord-head -n accepted an unknown key"
fi
grep -q "bad.conf:[0-9]*:" "$T/bad.out" || fail "the error does not name FILE:LINE: $(cat "$T/bad.out")"

# The man pages format without warnings.
if command -v groff >/dev/null; then
	for m in "$ROOT"/usr/share/man/man*/*; do
		warn=$(groff -man -ww -z "$m" 2>&1)
		[ -z "$warn" ] || fail "groff warns on $(basename "$m"): $warn"
	done
fi
log "install places every file and the programs accept the examples"
