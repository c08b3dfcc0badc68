#!/bin/bash
# `ppcoordctl ca init` and `ca issue` make a CA and certificates that the
# head and three agents accept for a full placement; key files are 0600
# and the CA is never overwritten.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq

CA="$T/ca"
"$CTL" ca init "$CA" || fail "ppcoordctl ca init failed"
for f in ca.pem ca.key; do
	[ -f "$CA/$f" ] || fail "ca init did not write $f"
done
if "$CTL" ca init "$CA" 2>"$T/reinit.err"; then
	fail "ca init overwrote an existing CA"
fi
cat "$T/reinit.err"

# An invalid argument gives one line that names the value and the valid
# range, and exit 2.
rc=0
"$CTL" ca issue "$CA" node-x --days 0 >"$T/days.out" 2>"$T/days.err" || rc=$?
[ "$rc" = 2 ] || fail "ca issue --days 0 exited $rc, expected 2"
[ "$(wc -l <"$T/days.err")" -eq 1 ] || fail "ca issue --days 0 printed more than one line: $(cat "$T/days.err")"
grep -q '"0".* 1 to 36500' "$T/days.err" || fail "ca issue --days 0 does not name the value and range: $(cat "$T/days.err")"
[ ! -e "$CA/node-x.pem" ] || fail "ca issue --days 0 wrote a certificate"

# The head's certificate names 127.0.0.1, the address the agents dial.
for id in 127.0.0.1 node-a node-b node-c; do
	"$CTL" ca issue "$CA" "$id" || fail "ppcoordctl ca issue $id failed"
	[ -f "$CA/$id.pem" ] || fail "ca issue did not write $id.pem"
done
for k in "$CA"/*.key; do
	mode=$(stat -c %a "$k")
	[ "$mode" = 600 ] || fail "$k has mode $mode, expected 600"
done

openssl verify -CAfile "$CA/ca.pem" "$CA/node-a.pem" || fail "openssl rejects node-a.pem"
openssl x509 -in "$CA/node-a.pem" -noout -ext subjectAltName | grep -q 'DNS:node-a' ||
	fail "node-a.pem lacks DNS SAN node-a"
openssl x509 -in "$CA/127.0.0.1.pem" -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1' ||
	fail "127.0.0.1.pem lacks IP SAN 127.0.0.1"
openssl x509 -in "$CA/node-a.pem" -noout -ext extendedKeyUsage | grep -q 'TLS Web Client Authentication' ||
	fail "node-a.pem is not usable for client authentication"

HEAD_CA="$CA/ca.pem"
HEAD_CERT="$CA/127.0.0.1.pem"
HEAD_KEY="$CA/127.0.0.1.key"
head_start

AGENT_CA="$CA/ca.pem"
addr=2
for n in node-a node-b node-c; do
	AGENT_CERT="$CA/$n.pem" AGENT_KEY="$CA/$n.key" \
		agent_conf $n "127.0.0.$addr" 8 "80 GiB"
	addr=$((addr + 1))
	agent_start $n
done
wait_for 30 "all three nodes assigned" all_assigned node-a node-b node-c
wait_for 15 "every assignment acked" acked node-a node-b node-c
[ "$(env_get "$T/node-a/stage.env" PPCOORD_NUM_STAGES)" = 3 ] ||
	fail "the plan does not have three stages"
log "certificates from ppcoordctl ca were accepted"
