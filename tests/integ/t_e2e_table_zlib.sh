#!/bin/bash
# Agents announce that they take a compressed stage table, so a plan of
# 48 one-GPU stages (a table of about 1.6 KB) reaches them with its table
# in zlib format. Each environment file still contains exactly what
# `ppcoordctl plan` computes, and /metrics counts the compressed tables.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
command -v curl >/dev/null || skip "curl is needed for /metrics"
make_certs

GiB=$((1 << 30))
HEAD_MODEL='layers = 96;'
HEAD_PLAN='tp_size = 1;'
HEAD_STATUS=1
head_start

agent_conf node-a 127.0.0.2 16 "80 GiB"
agent_conf node-b 127.0.0.3 16 "80 GiB"
agent_conf node-c 127.0.0.4 16 "80 GiB"
for n in node-a node-b node-c; do
	agent_start $n
done
wait_for 30 "all three nodes assigned" all_assigned node-a node-b node-c
wait_for 15 "the head to see every assignment acked" acked node-a node-b node-c

cat >"$T/inventory.json" <<-INV
{"nodes": [
$(inv_node node-a 127.0.0.2 16 $((80 * GiB))),
$(inv_node node-b 127.0.0.3 16 $((80 * GiB))),
$(inv_node node-c 127.0.0.4 16 $((80 * GiB)))
]}
INV
"$CTL" plan -f "$HEAD_CONF" -i "$T/inventory.json" --format env >"$T/plan.env" ||
	fail "ppcoordctl plan --format env failed: $(cat "$T/plan.env")"
for n in node-a node-b node-c; do
	plan_env_for $n "$T/plan.env" >"$T/$n.expected"
	[ -s "$T/$n.expected" ] || fail "no block for $n in plan --format env output"
	env_plan_part "$T/$n/stage.env" >"$T/$n.actual"
	diff -u "$T/$n.expected" "$T/$n.actual" ||
		fail "$n: environment file differs from ppcoordctl plan"
	[ "$(env_get "$T/$n/stage.env" PPCOORD_NUM_STAGES)" = 48 ] ||
		fail "$n: PPCOORD_NUM_STAGES is not 48"
done

curl -fsS "http://127.0.0.1:$STATUS_PORT/metrics" >"$T/metrics.txt" ||
	fail "GET /metrics failed"
metric() {
	awk -v m="$1" '$1 == m { print $2 }' "$T/metrics.txt"
}
compressed=$(metric 'ppcoord_assignments_total{table="compressed"}')
whole=$(metric 'ppcoord_assignments_total{table="whole"}')
log "Assignments with the whole table: $whole as it is, $compressed compressed"
[ "$compressed" = 3 ] ||
	fail "ppcoord_assignments_total{table=\"compressed\"} is ${compressed:-missing}, expected 3"
[ "$whole" = 0 ] ||
	fail "ppcoord_assignments_total{table=\"whole\"} is ${whole:-missing}, expected 0"
for n in node-a node-b node-c; do
	grep -q "assigned generation 1: " "$T/$n/agent.log" ||
		fail "$n did not log its assignment: $(tail -n 5 "$T/$n/agent.log")"
done
log "three agents took the 48-stage table compressed"
