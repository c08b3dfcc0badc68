#!/bin/bash
# SIGHUP on the agent: an invalid config is logged as FILE:LINE and the
# old one kept; a changed node id is rejected; a valid config is applied
# without dropping the connection, and its TLS files take effect at the
# next connection.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

# agent_log_count NAME PATTERN: lines of NAME's log matching PATTERN.
agent_log_count() {
	grep -c -- "$2" "$T/$1/agent.log"
}

# agent_log_has NAME PATTERN: NAME's log has a line matching PATTERN.
agent_log_has() {
	grep -q -- "$2" "$T/$1/agent.log"
}

# agent_registered_twice: node-a registered with the head twice.
agent_registered_twice() {
	[ "$(agent_log_count node-a 'registered with head')" -ge 2 ]
}

EXPECTED_NODES=1
head_start
agent_conf node-a 127.0.0.2 8 "80 GiB" 'reconnect_max = "1s";'
conf="$T/node-a/agent.conf"
cp "$conf" "$T/agent.conf.good"
agent_start node-a
pid=$(agent_pid node-a)
wait_for 30 "node-a assigned" all_assigned node-a
wait_for 10 "the head to see the assignment acked" acked node-a

# An unknown key: every error is logged and the running config stays.
sed 's/^agent = {/agent = {\n  bogus_key = 1;/' "$T/agent.conf.good" >"$conf"
kill -HUP "$pid"
wait_for 5 "the invalid config to be logged" \
	agent_log_has node-a "$conf:[0-9]*: unknown key \"bogus_key\""
wait_for 5 "the old config to be kept" \
	agent_log_has node-a 'keeping the previous configuration'

# Another node id, from another certificate: rejected as a whole.
sed 's/node-a/node-b/g' "$T/agent.conf.good" >"$conf"
kill -HUP "$pid"
wait_for 5 "the node id change to be rejected" \
	agent_log_has node-a 'the node id (node-b, was node-a) or agent.env_file changed'

# A CA that did not sign the head: accepted, the connection stays up.
sed "s|ca_file = \".*\"|ca_file = \"$CERTS/other-ca.pem\"|" \
	"$T/agent.conf.good" >"$conf"
kill -HUP "$pid"
wait_for 5 "the reload to be applied" agent_log_has node-a 'configuration reloaded'
sleep 1	# several heartbeats
agent_log_has node-a 'lost connection to head' &&
	fail "a reload dropped the connection to the head"
kill -0 "$pid" || fail "the agent exited on SIGHUP"

# The next connection uses the new CA, and fails to verify the head.
head_stop
head_start
wait_for 15 "the new CA to reject the head's certificate" \
	agent_log_has node-a 'TLS: certificate verify failed'
[ "$(agent_log_count node-a 'registered with head')" = 1 ] ||
	fail "the agent registered again despite a CA that did not sign the head"
state_is node-a assigned || fail "losing the head changed the environment file"

# Back to the original CA: the agent returns at its next attempt.
cp "$T/agent.conf.good" "$conf"
kill -HUP "$pid"
wait_for 15 "the agent to register again" \
	agent_registered_twice
log "agent reloads were applied, rejected and logged as expected"
