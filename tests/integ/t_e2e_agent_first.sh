#!/bin/bash
# An agent started before the head keeps retrying, connects once the head
# is up, and is placed.
. "$(dirname "$0")/lib.sh"
need_bins
make_certs

EXPECTED_NODES=1
HEAD_PLAN='tp_size = 8;'
HEAD_PORT=$(free_port) || fail "no free port"

agent_conf node-a 127.0.0.2 8 "80 GiB" 'reconnect_max = "1s";'
agent_start node-a

# Let the agent fail to connect a few times first.
sleep 3
kill -0 "$(agent_pid node-a)" 2>/dev/null ||
	fail "the agent exited while the head was down"
state_is node-a assigned && fail "node-a assigned before the head started"

head_start
[ "$HEAD_PORT" = "$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/node-a/agent.conf" | head -n 1)" ] ||
	skip "port $HEAD_PORT was taken meanwhile; the head moved"

wait_for 30 "node-a assigned after the head started" all_assigned node-a
[ "$(env_get "$T/node-a/stage.env" PPCOORD_NODE_RANK)" = 0 ] ||
	fail "the only node is not node rank 0"
[ "$(env_get "$T/node-a/stage.env" PPCOORD_MASTER_ADDR)" = 127.0.0.2 ] ||
	fail "the master address is not node-a's advertised address"
[ "$(hook_runs node-a)" = 1 ] || fail "on_assign ran $(hook_runs node-a) times"
log "agent started first was placed"
