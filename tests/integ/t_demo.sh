#!/bin/bash
# `make demo` works: tests/demo.sh places three nodes, prints the status,
# the explained plan and every environment file, finishes well within a
# minute and leaves no process behind.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq

start=$(date +%s)
DEMO_DIR="$T/demo" timeout 60 bash "$SRC/tests/demo.sh" >"$T/demo.out" 2>&1 ||
	{ grep -v 'debug:' "$T/demo.out" | tail -n 60; fail "tests/demo.sh failed"; }
took=$(($(date +%s) - start))
grep -v 'debug:' "$T/demo.out"

for want in '== ppcoordctl status' 'state active' '== ppcoordctl plan --explain' \
	'Node order' 'pinned to stage 0' 'ppcoord_plan_generation 1' 'stopped;'; do
	grep -qF "$want" "$T/demo.out" || fail "the demo output lacks '$want'"
done
for n in node-a node-b node-c; do
	grep -qx "PPCOORD_NODE_ID=$n" "$T/demo.out" || fail "the demo did not print $n's environment file"
	grep -qx 'PPCOORD_STATE=assigned' "$T/demo/$n/stage.env" || fail "$n is not assigned"
done
# The memory split gives the 40 GiB node fewer layers than either 80 GiB one.
b=$(($(env_get "$T/demo/node-b/stage.env" PPCOORD_END_LAYER) - $(env_get "$T/demo/node-b/stage.env" PPCOORD_FIRST_LAYER)))
a=$(($(env_get "$T/demo/node-a/stage.env" PPCOORD_END_LAYER) - $(env_get "$T/demo/node-a/stage.env" PPCOORD_FIRST_LAYER)))
[ "$b" -lt "$a" ] || fail "node-b (40 GiB) holds $b layers, node-a (80 GiB) $a"
[ "$took" -lt 60 ] || fail "the demo took ${took}s"

sleep 0.5
if pgrep -f "$T/demo/" >"$T/left.txt"; then
	fail "the demo left processes behind: $(cat "$T/left.txt")"
fi
log "demo finished in ${took}s"
