#!/bin/bash
# Bad TLS clients while three healthy agents are placed. The cases are
# plain text and an HTTP request on the TLS port, TLS 1.2 only, no client certificate,
# certificates from another CA, expired, not yet valid, without
# clientAuth, and certificates whose identity is not a valid node id
# ("../x", a '/', 100 bytes). The head ends each handshake, with an alert
# where TLS sends one, or a Reject (invalid_hello) once TLS is up but the
# identity is unusable. It logs the failure with the peer address, stays
# up, and the healthy nodes keep their generation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/misuse.sh"
misuse_setup

# mkcert NAME SUBJECT SAN: a client certificate signed by the test CA with
# the given subject and subjectAltName (empty for none).
mkcert() {
	local name=$1 subj=$2 san=$3 d="$T/mkcert"
	mkdir -p "$d"
	{
		echo "basicConstraints = critical,CA:FALSE"
		echo "keyUsage = critical,digitalSignature"
		echo "extendedKeyUsage = serverAuth,clientAuth"
		[ -n "$san" ] && echo "subjectAltName = $san"
	} >"$d/$name.ext"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$CERTS/$name.key" >"$d/$name.log" 2>&1 &&
		openssl req -new -key "$CERTS/$name.key" -subj "$subj" \
			-out "$d/$name.csr" >>"$d/$name.log" 2>&1 &&
		openssl x509 -req -in "$d/$name.csr" -CA "$CERTS/ca.pem" \
			-CAkey "$CERTS/ca.key" -CAcreateserial -CAserial "$d/serial" \
			-days 2 -extfile "$d/$name.ext" -out "$CERTS/$name.pem" \
			>>"$d/$name.log" 2>&1 ||
		fail "cannot make certificate $name: $(cat "$d/$name.log")"
}

handshake_failed='TLS handshake with PEER failed: '

case_begin "plain text on the TLS port"
badpeer -s plaintext -t 5
expect_result '^(alert|closed)'
expect_log "${handshake_failed}.*(wrong version number|packet length too long|record)"
expect_healthy

case_begin "HTTP request on the TLS port"
badpeer -s http -t 5
expect_result '^(alert|closed)'
expect_log "${handshake_failed}.*http request"
expect_healthy

case_begin "TLS 1.2 only"
badpeer -s hello $(cert_args node-d) -2 -t 5
expect_result '^alert protocol version'
expect_log "${handshake_failed}.*(unsupported protocol|protocol version)"
expect_healthy

case_begin "no client certificate"
badpeer -s hello -a "$CERTS/ca.pem" -t 5
expect_result '^alert certificate required'
expect_log "${handshake_failed}.*(did not return a certificate|certificate required)"
expect_healthy

case_begin "no client certificate and no server verification"
badpeer -s hello -t 5
expect_result '^alert certificate required'
expect_log "${handshake_failed}.*(did not return a certificate|certificate required)"
expect_healthy

case_begin "certificate from another CA"
badpeer -s hello $(cert_args node-x-other) -t 5
expect_result '^alert unknown CA'
expect_log "${handshake_failed}.*certificate verify failed"
expect_healthy

case_begin "expired certificate"
badpeer -s hello $(cert_args node-expired) -t 5
expect_result '^alert certificate expired'
expect_log "${handshake_failed}.*certificate verify failed"
expect_healthy

case_begin "certificate not yet valid"
badpeer -s hello $(cert_args node-future) -t 5
expect_result '^alert (bad certificate|certificate expired|certificate unknown)'
expect_log "${handshake_failed}.*certificate verify failed"
expect_healthy

case_begin "certificate without clientAuth"
badpeer -s hello $(cert_args node-noclient) -t 5
expect_result '^alert (unsupported certificate|bad certificate)'
expect_log "${handshake_failed}.*certificate verify failed"
expect_healthy

mkcert bad-dotdot '/CN=..\/x' ''
mkcert bad-slash '/CN=bad-slash' 'DNS:node-d/x'
mkcert bad-long '/CN=bad-long' "DNS:$(printf 'n%.0s' $(seq 1 100))"
mkcert bad-space '/CN=node d' ''
for c in bad-dotdot bad-slash bad-long bad-space; do
	case_begin "certificate identity of $c"
	badpeer -s hello $(cert_args $c) -t 5
	expect_result '^reject invalid_hello$'
	expect_log 'rejected PEER: invalid_hello: no usable identity in the client certificate: .*(invalid node id|more than the 63 bytes)'
	expect_healthy
done

log "every bad TLS client was turned away"
