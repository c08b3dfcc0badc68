#!/bin/bash
# 300 connections at once that each send half a ClientHello and then
# nothing, against a head with head.handshake_timeout = 1s and three
# healthy agents placed, then 50 that finish the handshake but send no
# Hello within head.hello_timeout = 1s. The head closes every one of them
# within the timeout plus a sweep and logs the timeouts. While they are
# open it serves its control socket and takes a new agent as a spare, and
# the healthy nodes keep their generation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/misuse.sh"
HEAD_STATUS=1
HEAD_EXTRA='handshake_timeout = "1s"; hello_timeout = "1s";'
misuse_setup

case_begin "300 slowloris connections"
failures_before=$(metric ppcoord_handshake_failures_total) ||
	fail "no ppcoord_handshake_failures_total in the head's /metrics"
out="$T/slowloris.out"
"$BADPEER" -s slowloris -n 300 -t 20 "127.0.0.1:$HEAD_PORT" >"$out" 2>&1 &
bp=$!
PIDS+=("$bp")
wait_for 10 "badpeer to open its connections" grep -q '^opened ' "$out"

# The head serves others while the half-open connections wait.
status_json >/dev/null || fail "$CASE_NAME: the control socket does not answer"
agent_conf node-d 127.0.0.5 8 "80 GiB"
agent_start node-d
wait_for 15 "node-d to join as a spare during the slowloris" state_is node-d standby

wait "$bp"
rc=$?
sed 's/^/    badpeer: /' "$out"
[ $rc = 0 ] || fail "$CASE_NAME: badpeer exited with $rc"
BP_RESULT=$(sed -n 's/^result: //p' "$out" | tail -n 1)
expect_result '^closed 300 of 300, '
longest=$(sed -n 's/.*longest \([0-9]*\) ms.*/\1/p' <<<"$BP_RESULT")
# 1 s of handshake_timeout, up to 0.5 s until the next sweep, and slack
# for a loaded machine.
[ "$longest" -le 4000 ] ||
	fail "$CASE_NAME: a connection stayed open $longest ms with a handshake timeout of 1 s"
expect_log 'TLS handshake with 127\.0\.0\.1:[0-9]+ timed out after 1000 ms \(head\.handshake_timeout\)'
wait_for 5 "the head to count 300 handshake failures" \
	metric_at_least ppcoord_handshake_failures_total $((failures_before + 300))
expect_healthy

case_begin "50 connections that never send a Hello"
badpeer -s conns -n 50 -w 3 -t 20 $(cert_args node-e)
expect_result '^accepted 50 refused 0 closed while held 50$'
expect_log 'node-e \(127\.0\.0\.1:[0-9]+\): no Hello within 1000 ms \(head\.hello_timeout\)'
expect_healthy
log "every slowloris connection was closed within ${longest} ms"
