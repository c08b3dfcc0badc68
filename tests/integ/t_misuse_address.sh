#!/bin/bash
# A client with node-d's valid certificate advertises the address of
# node-c while node-c is away but within node_timeout. The head rejects it
# with duplicate_address naming both nodes, node-c returns to the same
# assignment without a new generation or a hook run, and a spare with an
# address of its own still joins. Once node-c is lost, its address is free
# for a node with another id.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/misuse.sh"
NODE_TIMEOUT="6s"
misuse_setup
BAD=$(cert_args node-d)

# node_state NODE STATE: the head lists NODE in STATE.
node_state() {
	status_json | jq -e --arg n "$1" --arg s "$2" \
		'.nodes[] | select(.id == $n and .state == $s)' >/dev/null
}

case_begin "address of an away node"
pid=$(agent_pid node-c)
kill -TERM "$pid"
wait "$pid" 2>/dev/null
expect_gone node-c
node_state node-c connecting || fail "$CASE_NAME: node-c is not listed as connecting"
badpeer -s hello $BAD -A 127.0.0.4 -t 5
expect_result '^reject duplicate_address$'
expect_log 'rejected node-d \(PEER\): duplicate_address: node node-d advertises address 127\.0\.0\.4, which away node node-c keeps until it returns or is lost in [0-9]+ ms'

case_begin "away node returns to its address"
agent_start node-c
wait_for 15 "node-c to be assigned and acked again" acked node-c
expect_healthy
case_logged 'rejected node-c' && fail "$CASE_NAME: the head rejected node-c"
# Past node_timeout from node-c's stop, node-c still holds its stages.
sleep 6
expect_healthy

case_begin "address of a connected node"
badpeer -s hello $BAD -A 127.0.0.4 -t 5
expect_result '^reject duplicate_address$'
expect_log 'rejected node-d \(PEER\): duplicate_address: node node-d advertises address 127\.0\.0\.4, which connected node node-c uses'
expect_healthy

case_begin "spare with an address of its own"
badpeer -s hello $BAD -A 127.0.0.5 -t 3
expect_result '^(welcome|open)$'
grep -q '^received standby' "$BP_OUT" || fail "$CASE_NAME: node-d was not made a spare"
expect_healthy
expect_gone node-d

# Changes the plan, so it runs last: with node-c lost and no spare, the
# plan is revoked and node-c's address goes to whichever node has it.
case_begin "address of a lost node"
pid=$(agent_pid node-c)
kill -TERM "$pid"
wait "$pid" 2>/dev/null
wait_for 15 "node-c to be lost" node_state node-c lost
badpeer -s hello $BAD -A 127.0.0.4 -t 3
expect_result '^(welcome|open)$'
expect_log 'node node-d joined from PEER'
log "an away node's address was kept for it"
