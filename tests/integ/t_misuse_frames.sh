#!/bin/bash
# Bad framing from a client with a valid certificate, before and after its
# Hello, while three healthy agents are placed. The cases are length
# prefixes of 4 GiB and 1 MiB + 1, a frame cut short by a close, an
# Envelope with only an unknown field (rejected as unexpected_message),
# a heartbeat before the Hello, a
# second Hello, an ack of a generation never sent (ignored, so the status
# never shows it), an ack of the generation sent, 10,000 failed acks
# (counted, and logged only a few times) and a flood of 100,000
# heartbeats. The head closes or rejects the bad connection, logs it with
# the peer address, stays up, and the healthy nodes keep their generation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/misuse.sh"
HEAD_STATUS=1
misuse_setup
BAD=$(cert_args node-d)

case_begin "4 GiB length prefix before the Hello"
badpeer -s len-4g $BAD -t 5
expect_result '^closed'
expect_log 'PEER\)?: invalid frame: frame length 4294967295 is over the limit'
expect_healthy

case_begin "1 MiB + 1 length prefix before the Hello"
badpeer -s len-1m1 $BAD -t 5
expect_result '^closed'
expect_log 'PEER\)?: invalid frame: frame length 1048577 is over the limit'
expect_healthy

case_begin "4 GiB length prefix after the Hello"
badpeer -s len-4g -j $BAD -t 5
expect_result '^closed'
expect_log 'node-d \(PEER\): invalid frame: frame length 4294967295'
expect_healthy
expect_gone node-d

case_begin "1 MiB + 1 length prefix after the Hello"
badpeer -s len-1m1 -j $BAD -t 5
expect_result '^closed'
expect_log 'node-d \(PEER\): invalid frame: frame length 1048577'
expect_healthy
expect_gone node-d

case_begin "frame cut short by a close"
badpeer -s truncated $BAD -t 5
expect_result '^closed'
expect_log 'PEER\)?: connection closed inside a frame'
expect_healthy

case_begin "frame cut short by a close after the Hello"
badpeer -s truncated -j $BAD -t 5
expect_result '^closed'
expect_log 'node-d \(PEER\): connection closed inside a frame'
expect_healthy
expect_gone node-d

case_begin "Envelope with only an unknown field"
badpeer -s unknown $BAD -t 5
expect_result '^reject unexpected_message$'
expect_log 'rejected node-d \(PEER\): unexpected_message: invalid frame: .*no known message'
expect_healthy

case_begin "Envelope with only an unknown field after the Hello"
badpeer -s unknown -j $BAD -t 5
expect_result '^reject unexpected_message$'
expect_log 'rejected node-d \(PEER\): unexpected_message: invalid frame: .*no known message'
expect_healthy
expect_gone node-d

case_begin "heartbeat before the Hello"
badpeer -s heartbeat $BAD -t 5
expect_result '^reject unexpected_message$'
expect_log 'rejected node-d \(PEER\): unexpected_message: the first message must be hello, not heartbeat'
expect_healthy

case_begin "second Hello on one connection"
badpeer -s double-hello $BAD -t 5
expect_result '^reject unexpected_message$'
grep -q '^received welcome' "$BP_OUT" || fail "$CASE_NAME: the first Hello got no Welcome"
expect_log 'rejected node-d \(PEER\): unexpected_message: a second hello'
expect_healthy
expect_gone node-d

# node_acked NODE GENERATION: the head lists NODE as connected with
# acked_generation GENERATION.
node_acked() {
	status_json | jq -e --arg n "$1" --argjson g "$2" \
		'.nodes[] | select(.id == $n and .connected and .acked_generation == $g)' \
		>/dev/null
}

case_begin "ack of a generation never sent"
ignored_before=$(metric 'ppcoord_acks_total{result="ignored"}') ||
	fail "no ppcoord_acks_total in the head's /metrics"
"$BADPEER" -s ack $BAD -t 4 "127.0.0.1:$HEAD_PORT" >"$T/ack.out" 2>&1 &
bp=$!
wait_for 10 "$CASE_NAME: the head to ignore the ack" case_logged \
	'node node-d acknowledged generation 18446744073709551615, which the head never sent it \(last sent: '"$GEN"'\); ignored'
node_acked node-d 0 ||
	fail "$CASE_NAME: node-d's acked_generation is not 0: $(status_json | jq -c '.nodes[] | select(.id == "node-d")')"
wait "$bp" || fail "$CASE_NAME: badpeer exited with $?"
sed 's/^/    badpeer: /' "$T/ack.out"
grep -q '^result: open$' "$T/ack.out" || fail "$CASE_NAME: the head closed node-d"
wait_for 5 "$CASE_NAME: the ignored ack counted" \
	metric_at_least 'ppcoord_acks_total{result="ignored"}' $((ignored_before + 1))
expect_healthy
wait_for 10 "node-d to leave after its ack" node_gone node-d

case_begin "ack of the generation sent"
"$BADPEER" -s ack -G "$GEN" $BAD -t 4 "127.0.0.1:$HEAD_PORT" >"$T/ack.out" 2>&1 &
bp=$!
wait_for 10 "$CASE_NAME: node-d's ack of generation $GEN stored" node_acked node-d "$GEN"
wait "$bp" || fail "$CASE_NAME: badpeer exited with $?"
expect_healthy
wait_for 10 "node-d to leave after its ack" node_gone node-d

case_begin "10,000 failed acks"
failed_before=$(metric 'ppcoord_acks_total{result="failed"}') ||
	fail "no ppcoord_acks_total in the head's /metrics"
lines_before=$(wc -l <"$HEAD_LOG")
badpeer -s ack -n 10000 -G "$GEN" -E "disk full" $BAD -t 10
grep -q '^sending 10000 failed acks' "$BP_OUT" || fail "$CASE_NAME: badpeer did not send the acks"
wait_for 10 "$CASE_NAME: the head to count the 10,000 failed acks" \
	metric_at_least 'ppcoord_acks_total{result="failed"}' $((failed_before + 10000))
expect_log 'node node-d failed to apply generation [0-9]+: disk full'
logged=$(head_log_since_case | grep -c 'failed to apply generation')
log "$logged of 10,000 failed acks logged; the head log grew by $(($(wc -l <"$HEAD_LOG") - lines_before)) lines"
[ "$logged" -le 10 ] || fail "$CASE_NAME: $logged failed acks logged, expected at most 10"
expect_healthy
wait_for 10 "node-d to leave after its acks" node_gone node-d

case_begin "100,000 heartbeats as fast as possible"
frames_before=$(metric 'ppcoord_frames_total{direction="in"}') ||
	fail "no ppcoord_frames_total in the head's /metrics"
badpeer -s flood -n 100000 $BAD -t 30
grep -q '^sent 100000 heartbeats' "$BP_OUT" || fail "$CASE_NAME: the flood was cut short"
expect_result '^open$'
expect_log 'node node-d joined from PEER'
wait_for 10 "the head to count the 100,000 heartbeats" \
	metric_at_least 'ppcoord_frames_total{direction="in"}' $((frames_before + 100000))
expect_healthy
wait_for 10 "node-d to leave after the flood" node_gone node-d

log "every bad frame was handled"
