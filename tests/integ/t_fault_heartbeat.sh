#!/bin/bash
# Heartbeats flow both ways at cluster.heartbeat_interval. A node that
# falls silent (SIGSTOP) is declared lost within node_timeout plus one
# heartbeat. A closed connection is noticed at once. The head logs both
# with the node id and the reason. The agents notice a silent head within
# node_timeout and keep what they hold.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
command -v ss >/dev/null || skip "ss (iproute2) is needed to count segments"
make_certs

fault_timings 200 1000 200
# Timing checks allow this much on top of the bound for polling and the
# scheduler of a loaded 2-core machine.
SLACK_MS=400

EXPECTED_NODES=2
head_start
agent_conf node-a 127.0.0.2 8 "80 GiB" 'reconnect_max = "300ms";'
agent_conf node-b 127.0.0.3 8 "80 GiB" 'reconnect_max = "300ms";'
agent_start node-a
agent_start node-b
wait_for 20 "both nodes assigned and acked" converged node-a node-b
gen=$(head_gen)

# head_segs: one line per agent connection of the head: the peer, the
# data segments the head sent and the data segments it received.
head_segs() {
	ss -Htin state established "( sport = :$HEAD_PORT )" | awk '
		/^[^ \t]/ { peer = $4; next }
		{
			out = 0; in_ = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^data_segs_out:/) { sub(/.*:/, "", $i); out = $i }
				if ($i ~ /^data_segs_in:/) { sub(/.*:/, "", $i); in_ = $i }
			}
			print peer, out, in_
		}' | sort
}

# Nothing but heartbeats flows on a settled cluster, and each heartbeat
# is one TLS record written on its own, so the data segments counted over
# a window are the heartbeats. The head sends from a sweep that runs
# every heartbeat_interval / 4, so its period is 200 to 250 ms here.
t0=$(now_ms)
before=$(head_segs)
[ "$(wc -l <<<"$before")" = 2 ] ||
	fail "expected 2 agent connections on port $HEAD_PORT, ss shows: $before"
max_age=0
for i in $(seq 1 15); do
	for n in node-a node-b; do
		age=$(node_field "$n" last_heartbeat_ms)
		[ "$age" -gt "$max_age" ] && max_age=$age
	done
	sleep 0.2
done
after=$(head_segs)
window_ms=$(($(now_ms) - t0))
lo=$((window_ms / (HB_MS * 5 / 4) - 2))
hi=$((window_ms / HB_MS + 3))
join <(echo "$before") <(echo "$after") | while read -r peer o1 i1 o2 i2; do
	sent=$((o2 - o1))
	received=$((i2 - i1))
	log "connection $peer: $sent heartbeats sent, $received received in ~${window_ms} ms"
	[ "$sent" -ge "$lo" ] && [ "$sent" -le "$hi" ] ||
		fail "the head sent $sent data segments to $peer in ${window_ms} ms; expected $lo to $hi at a ${HB_MS} ms heartbeat"
	[ "$received" -ge "$lo" ] && [ "$received" -le "$hi" ] ||
		fail "the head received $received data segments from $peer in ${window_ms} ms; expected $lo to $hi at a ${HB_MS} ms heartbeat"
done || exit 1
log "largest last_heartbeat_ms seen: $max_age"
[ "$max_age" -le $((HB_MS + SLACK_MS)) ] ||
	fail "status showed a node silent for ${max_age} ms at a ${HB_MS} ms heartbeat"
[ "$(head_gen)" = "$gen" ] || fail "the generation changed on an idle cluster"

# A silent node: SIGSTOP keeps its connection open.
pid_b=$(agent_pid node-b)
t0=$(now_ms)
kill -STOP "$pid_b"
wait_for 10 "the head to declare the stopped node-b lost" \
	grep -q 'node node-b lost' "$HEAD_LOG"
took=$(($(now_ms) - t0))
log "silent node-b declared lost after ${took} ms"
line=$(grep 'node node-b lost' "$HEAD_LOG" | head -n 1)
log "head: $line"
grep -q 'node node-b lost: no frame for [0-9]* ms' <<<"$line" ||
	fail "the loss of the silent node does not give the reason: $line"
[ "$took" -ge $((TIMEOUT_MS - HB_MS - 100)) ] ||
	fail "node-b was declared lost after ${took} ms, before node_timeout (${TIMEOUT_MS} ms) less one heartbeat"
[ "$took" -le $((TIMEOUT_MS + HB_MS + SLACK_MS)) ] ||
	fail "node-b was declared lost after ${took} ms; the bound is node_timeout (${TIMEOUT_MS} ms) plus one heartbeat (${HB_MS} ms)"

kill -CONT "$pid_b"
wait_for 20 "node-b to return and both to converge" converged node-a node-b

# A closed connection: the head notices it as soon as the agent exits.
gen=$(head_gen)
seen=$(log_count "$HEAD_LOG" 'node node-b (disconnected|lost|left)')
t0=$(now_ms)
kill -TERM "$pid_b"
wait "$pid_b" 2>/dev/null
wait_for 5 "the head to log the closed connection of node-b" \
	log_count_gt "$HEAD_LOG" 'node node-b (disconnected|lost|left)' "$seen"
took=$(($(now_ms) - t0))
line=$(grep -E 'node node-b (disconnected|lost|left)' "$HEAD_LOG" | tail -n 1)
log "closed connection of node-b logged after ${took} ms: $line"
grep -Eq 'node node-b (disconnected|lost|left): [^ ]' <<<"$line" ||
	fail "the closed connection is logged without a reason: $line"
[ "$took" -le $((HB_MS + SLACK_MS)) ] ||
	fail "the closed connection of node-b was logged after ${took} ms, not at once"
[ "$(node_field node-b connected)" = false ] ||
	fail "status still shows node-b connected after its agent exited"

agent_start node-b
wait_for 20 "node-b to return after its restart" converged node-a node-b

# A silent head: every agent closes its connection within node_timeout
# of the last frame, and keeps its environment file.
gen=$(head_gen)
cp "$T/node-a/stage.env" "$T/node-a.env.before"
t0=$(now_ms)
kill -STOP "$HEAD_PID"
wait_for 10 "node-a to notice the silent head" \
	grep -q 'lost connection to head .*nothing received for' "$T/node-a/agent.log"
took=$(($(now_ms) - t0))
log "node-a noticed the silent head after ${took} ms"
kill -CONT "$HEAD_PID"
[ "$took" -le $((TIMEOUT_MS + HB_MS + SLACK_MS)) ] ||
	fail "node-a noticed the silent head after ${took} ms; the bound is node_timeout plus one heartbeat"
cmp -s "$T/node-a/stage.env" "$T/node-a.env.before" ||
	fail "losing the head changed node-a's environment file"
wait_for 20 "both nodes to converge after the head resumed" converged node-a node-b
log "heartbeats, silent and closed nodes and a silent head behave"
