#!/bin/bash
# ppcoord-agent -n rejects a certificate that its own CA file does not
# validate. Each TLS failure is logged by the agent with its cause, and
# the agent keeps retrying: a client certificate from an untrusted CA (the head's
# alert), an expired one, and a head certificate that the agent's CA did
# not sign.
. "$(dirname "$0")/lib.sh"
need_bins
make_certs

# agent_log_has NAME PATTERN: NAME's log matches the extended regex.
agent_log_has() {
	grep -Eq "$2" "$T/$1/agent.log"
}

EXPECTED_NODES=3
head_start

AGENT_CERT=$CERTS/node-x-other.pem AGENT_KEY=$CERTS/node-x-other.key \
	AGENT_NODE_ID=node-x-other agent_conf node-x 127.0.0.2 8 "80 GiB" \
	'reconnect_max = "8s";'
AGENT_CERT=$CERTS/node-expired.pem AGENT_KEY=$CERTS/node-expired.key \
	AGENT_NODE_ID=node-expired agent_conf node-e 127.0.0.3 8 "80 GiB" \
	'reconnect_max = "8s";'
AGENT_CA=$CERTS/other-ca.pem agent_conf node-c 127.0.0.4 8 "80 GiB" \
	'reconnect_max = "8s";'

# -n verifies the agent's own certificate against its ca_file and exits 1.
check_n() {
	local name=$1 want=$2 rc=0
	"$AGENT" -n -f "$T/$name/agent.conf" >"$T/$name/check.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "ppcoord-agent -n for $name exited $rc, expected 1: $(cat "$T/$name/check.out")"
	grep -q "configuration OK" "$T/$name/check.out" && fail "ppcoord-agent -n for $name printed configuration OK"
	grep -q "is not valid for the cluster CA .*: $want" "$T/$name/check.out" ||
		fail "ppcoord-agent -n for $name does not say '$want': $(cat "$T/$name/check.out")"
}
check_n node-x 'unable to get local issuer certificate'
check_n node-e 'certificate has expired'
check_n node-c 'unable to get local issuer certificate'

for n in node-x node-e node-c; do
	agent_start $n
done
# At startup the same check only warns: the head decides.
wait_for 10 "node-e to warn about its expired certificate" agent_log_has node-e \
	'is not valid for the cluster CA .*: certificate has expired; starting anyway'

# The head may close before its alert is read, so a reset also counts.
reject='TLS: tlsv1 alert unknown ca|may have rejected this node.s certificate'
wait_for 15 "node-x to log the rejected certificate" agent_log_has node-x "$reject"
expired='TLS: sslv3 alert certificate expired|may have rejected this node.s certificate'
wait_for 15 "node-e to log the expired certificate" agent_log_has node-e "$expired"
wait_for 15 "node-c to log the unverified head" agent_log_has node-c \
	'TLS: certificate verify failed \(head certificate: .*\)'

wait_for 15 "node-x to retry" agent_log_has node-x '\(attempt 3\)'
for n in node-x node-e node-c; do
	kill -0 "$(agent_pid $n)" || fail "$n exited after a TLS failure"
	agent_log_has $n 'registered with head' && fail "$n registered"
	[ -e "$T/$n/stage.env" ] && fail "$n wrote an environment file"
done
log "TLS failures were logged with their causes and retried"
