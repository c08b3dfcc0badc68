#!/bin/bash
# The head listens on [::1] with a certificate for the IP address ::1.
# Agents dial "[::1]:PORT", and an IPv6 advertise address becomes the
# master address in the environment files.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null ||
	skip "no IPv6 loopback address ::1"
make_certs

# ppcoordctl ca issue takes node ids, which cannot contain ':', so the
# head's certificate for ::1 is signed with openssl from the test CA.
cat >"$T/ext.cnf" <<-EXT
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:::1
EXT
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$CERTS/head6.key" 2>"$T/openssl.err" &&
	openssl req -new -key "$CERTS/head6.key" -subj "/CN=::1" -out "$T/head6.csr" 2>>"$T/openssl.err" &&
	openssl x509 -req -in "$T/head6.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" \
		-CAcreateserial -days 2 -sha256 -extfile "$T/ext.cnf" -out "$CERTS/head6.pem" 2>>"$T/openssl.err" ||
	{ cat "$T/openssl.err"; fail "openssl could not make the head certificate for ::1"; }

HEAD_ADDR="[::1]"
HEAD_CERT="$CERTS/head6.pem"
HEAD_KEY="$CERTS/head6.key"
EXPECTED_NODES=2
# As strings "127.0.0.3" sorts before "::1", so only the driver setting
# puts node-a, and its IPv6 address, at node rank 0.
HEAD_PLAN='tp_size = 8;
  order = "vllm";
  driver = "node-a";'
head_start

agent_conf node-a ::1 8 "80 GiB"
agent_conf node-b 127.0.0.3 8 "80 GiB"
grep -q 'head = "\[::1\]:' "$T/node-a/agent.conf" || fail "agent config does not dial [::1]"
agent_start node-a
agent_start node-b
wait_for 30 "both nodes assigned" all_assigned node-a node-b
wait_for 15 "both assignments acked" acked node-a node-b

[ "$(env_get "$T/node-a/stage.env" PPCOORD_NODE_RANK)" = 0 ] || fail "node-a is not node rank 0"
for n in node-a node-b; do
	[ "$(env_get "$T/$n/stage.env" PPCOORD_MASTER_ADDR)" = ::1 ] ||
		fail "$n: master address is $(env_get "$T/$n/stage.env" PPCOORD_MASTER_ADDR), expected ::1"
done
status_json | jq -e '.nodes[] | select(.id == "node-a" and .address == "::1")' >/dev/null ||
	fail "status does not show node-a at ::1"
log "placement over IPv6 loopback"
