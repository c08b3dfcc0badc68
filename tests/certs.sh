#!/bin/sh
# Makes a throwaway cluster CA and test certificates in DIR:
#
#   sh tests/certs.sh DIR
#
# All keys are P-256, written with mode 0600. Each NAME below becomes
# DIR/NAME.pem and DIR/NAME.key with CN=NAME. Node certificates have the
# DNS SAN NAME, so their node id is NAME. Running it again replaces every
# file with new keys.
#
#   ca                 the cluster CA ("ppcoord test CA")
#   head               SAN DNS:localhost, IP:127.0.0.1; serverAuth, clientAuth
#   node-a .. node-f   serverAuth, clientAuth
#   other-ca           a second CA that the cluster does not trust
#   node-x-other       signed by other-ca; serverAuth, clientAuth
#   node-expired       valid from 30 days ago until yesterday
#   node-future        valid from 30 days from now
#   node-noclient      serverAuth only, so the head must reject it as a client
#
# `openssl x509` and `openssl req` of OpenSSL 3.0 (Debian 12) take only
# -days, so the certificates are signed with `openssl ca`, whose -startdate
# and -enddate set any validity. Its database lives in a temporary folder
# that is removed on exit. The script prints nothing on success; on failure
# it prints openssl's output and exits 1.

set -eu

if [ $# -ne 1 ]; then
	echo "usage: sh tests/certs.sh DIR" >&2
	exit 2
fi
command -v openssl >/dev/null 2>&1 || {
	echo "certs.sh: openssl not found: install the openssl package" >&2
	exit 1
}

DIR=$1
umask 077
mkdir -p "$DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ppcoord-certs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LOG="$WORK/openssl.log"

# run COMMAND...: runs an openssl command with its output in $LOG, which
# is printed when the command fails.
run() {
	if ! "$@" >>"$LOG" 2>&1; then
		cat "$LOG" >&2
		echo "certs.sh: failed: $*" >&2
		exit 1
	fi
}

# utc OFFSET: a UTCTime such as 261204201500Z, OFFSET from now ("-1 hour").
utc() {
	date -u -d "$1" +%y%m%d%H%M%SZ
}

cat >"$WORK/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[ ca ]
default_ca = test_ca

[ test_ca ]
database = $ENV::CA_DB/index.txt
new_certs_dir = $ENV::CA_DB
rand_serial = yes
default_md = sha256
policy = policy_cn
unique_subject = no
email_in_dn = no
copy_extensions = none

[ policy_cn ]
commonName = supplied

[ node_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = $ENV::CERT_EKU
subjectAltName = $ENV::CERT_SAN
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
export OPENSSL_CONF="$WORK/openssl.cnf"

newkey() {
	run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$DIR/$1.key"
	chmod 600 "$DIR/$1.key"
}

# make_ca NAME CN: a self-signed CA valid for ten years, with its own
# signing database.
make_ca() {
	newkey "$1"
	run openssl req -new -x509 -config "$OPENSSL_CONF" -extensions v3_ca \
		-key "$DIR/$1.key" -subj "/CN=$2" -days 3650 -sha256 \
		-out "$DIR/$1.pem"
	chmod 644 "$DIR/$1.pem"
	mkdir -p "$WORK/db-$1"
	: >"$WORK/db-$1/index.txt"
}

# issue CA NAME EKU SAN START END: a certificate for NAME signed by CA.
issue() {
	ca=$1 name=$2
	newkey "$name"
	run openssl req -new -config "$OPENSSL_CONF" -key "$DIR/$name.key" \
		-subj "/CN=$name" -out "$WORK/$name.csr"
	CA_DB="$WORK/db-$ca" CERT_EKU=$3 CERT_SAN=$4 run openssl ca -batch \
		-config "$OPENSSL_CONF" -notext -extensions node_ext \
		-cert "$DIR/$ca.pem" -keyfile "$DIR/$ca.key" \
		-startdate "$5" -enddate "$6" \
		-in "$WORK/$name.csr" -out "$DIR/$name.pem"
	chmod 644 "$DIR/$name.pem"
}

BOTH=serverAuth,clientAuth
NOW=$(utc "-1 hour")
LATER=$(utc "+825 days")

# openssl expands the $ENV:: references when it loads the config, for
# `openssl req` too, so CA_DB, CERT_EKU and CERT_SAN need values throughout.
export CA_DB="$WORK" CERT_EKU=$BOTH CERT_SAN=DNS:unused

make_ca ca "ppcoord test CA"
make_ca other-ca "ppcoord other test CA"

issue ca head $BOTH "DNS:localhost,IP:127.0.0.1" "$NOW" "$LATER"
for n in a b c d e f; do
	issue ca "node-$n" $BOTH "DNS:node-$n" "$NOW" "$LATER"
done
issue other-ca node-x-other $BOTH "DNS:node-x-other" "$NOW" "$LATER"
issue ca node-expired $BOTH "DNS:node-expired" \
	"$(utc "-30 days")" "$(utc "-1 day")"
issue ca node-future $BOTH "DNS:node-future" \
	"$(utc "+30 days")" "$(utc "+60 days")"
issue ca node-noclient serverAuth "DNS:node-noclient" "$NOW" "$LATER"
