#!/bin/bash
# Hostile Hellos from a client with node-d's valid certificate while three
# healthy agents are placed. The cases are protocol version 99, zero GPUs, GPU memory of
# 0 and of 17 TiB, 1025 GPUs, zero workers, an overlong node id, node ids
# with control characters, '/' or "../x", an address with a newline, a
# healthy node's address, and a node id that differs from the
# certificate. Each gets a Reject with its reason, the head logs it with
# the peer address and no value forges a log line; then a valid Hello from
# the same certificate still joins as a spare.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/misuse.sh"
misuse_setup
BAD=$(cert_args node-d)

# hello_rejected NAME REASON LOG_REGEX BADPEER_ARGS...: one Hello case.
hello_rejected() {
	local name=$1 reason=$2 re=$3
	shift 3
	case_begin "$name"
	badpeer -s hello $BAD -t 5 "$@"
	expect_result "^reject $reason\$"
	expect_log "rejected node-d \\(PEER\\): $reason: .*$re"
	expect_healthy
	expect_gone node-d
}

hello_rejected "protocol version 99" protocol_version 'protocol version 99' -V 99
hello_rejected "protocol version 0" protocol_version 'protocol version 0' -V 0
hello_rejected "zero GPUs" invalid_inventory '0 GPUs' -g 0
hello_rejected "GPU memory 0" invalid_inventory 'memory' -m 0
hello_rejected "GPU memory 17 TiB" invalid_inventory 'memory' -m $((17 << 40))
hello_rejected "1025 GPUs" invalid_inventory '1025 GPUs' -g 1025
hello_rejected "zero workers" invalid_inventory 'workers' -W 0
hello_rejected "more workers than GPUs" invalid_inventory 'workers' -W 9
hello_rejected "overlong node id" identity_mismatch 'certificate identifies "node-d"' \
	-i "node-d$(printf 'x%.0s' $(seq 1 300))"
hello_rejected "node id with a newline" identity_mismatch 'certificate identifies "node-d"' \
	-i "$(printf 'node-d\nPPCOORD_STATE=forged')"
hello_rejected "node id with an escape" identity_mismatch 'certificate identifies "node-d"' \
	-i "$(printf 'node-d\033[2J')"
# The Reject echoes the node id with its control characters replaced.
grep -q "$(printf '\033')" "$BP_OUT" &&
	fail "$CASE_NAME: the Reject sent the escape character back"
grep -q 'hello names node "node-d?\[2J"' "$BP_OUT" ||
	fail "$CASE_NAME: the Reject does not name the node id with '?' for the escape"
hello_rejected "node id with a slash" identity_mismatch 'certificate identifies "node-d"' -i "node-d/x"
hello_rejected "node id ../x" identity_mismatch 'certificate identifies "node-d"' -i "../x"
hello_rejected "empty node id" identity_mismatch 'certificate identifies "node-d"' -i ""
hello_rejected "another node's id" identity_mismatch \
	'hello names node "node-e" but the client certificate identifies "node-d"' -i node-e
hello_rejected "address with a newline" invalid_inventory 'address' \
	-A "$(printf '127.0.0.9\nPPCOORD_MASTER_ADDR=10.6.6.6')"
hello_rejected "address with a space" invalid_inventory 'address' -A "127.0.0.9 x"
hello_rejected "address of a healthy node" duplicate_address \
	'node node-d advertises address 127.0.0.2, which connected node node-a uses' -A 127.0.0.2

# Every head log line starts with a timestamp: no value broke a line.
forged=$(grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z ppcoord-head\[[0-9]+\]: ' "$HEAD_LOG")
[ -z "$forged" ] || fail "the head log has lines that are not log entries: $forged"
grep -q 'PPCOORD_STATE=forged' "$HEAD_LOG" &&
	! grep -q '?PPCOORD_STATE=forged' "$HEAD_LOG" &&
	fail "the newline in a node id reached the head log"

case_begin "valid Hello after the rejections"
badpeer -s hello $BAD -t 5
expect_result '^welcome$'
grep -q '^received standby' "$BP_OUT" || fail "$CASE_NAME: node-d was not made a spare"
expect_log 'node node-d joined from PEER'
expect_healthy
log "every hostile Hello was rejected"
