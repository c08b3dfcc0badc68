#!/bin/bash
# ppcoord-head -n verifies the head's own certificate against tls.ca_file
# as a TLS server certificate: a valid one prints "configuration OK", an
# expired one or one from another CA exits 1 with the reason, and a head
# started with such a certificate logs a warning.
. "$(dirname "$0")/lib.sh"
need_bins
make_certs
HEAD_PORT=$(free_port) || fail "no free port"

write_head_conf
out=$("$HEAD" -n -f "$HEAD_CONF" 2>&1) || fail "-n rejected the valid head certificate: $out"
[ "$out" = "configuration OK" ] || fail "-n printed: $out"

# check_bad NAME REASON: -n with certificate NAME exits 1 naming REASON.
check_bad() {
	local rc
	HEAD_CERT="$CERTS/$1.pem" HEAD_KEY="$CERTS/$1.key" write_head_conf
	out=$("$HEAD" -n -f "$HEAD_CONF" 2>&1)
	rc=$?
	[ $rc = 1 ] || fail "-n with $1 exited $rc, not 1: $out"
	grep -q "$2" <<<"$out" || fail "-n with $1 does not name \"$2\": $out"
	log "$1: $out"
}
check_bad node-expired "certificate has expired"
check_bad node-x-other "unable to get local issuer certificate"

HEAD_CERT="$CERTS/node-expired.pem"
HEAD_KEY="$CERTS/node-expired.key"
head_start
grep -q "warning: .*certificate has expired.*starting anyway" "$HEAD_LOG" ||
	fail "the head did not warn about its expired certificate"
log "the head warned at start and runs"
