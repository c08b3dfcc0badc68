#!/bin/sh
# Starts and stops a throwaway single-member etcd on loopback for tests,
# with TLS and client-certificate authentication:
#
#   sh tests/etcd.sh start [DIR]   start (or restart) etcd, print its settings
#   sh tests/etcd.sh stop DIR      stop it and wait until it has exited
#
# Without DIR, start makes a temporary folder, and the stop command that it
# prints also removes that folder.
# DIR contains everything: certs/ (made by tests/certs.sh on the first start:
# the server uses head.pem, clients use node-a..node-f), data/, etcd.log,
# etcd.pid and etcd.ports. A second start in the same DIR reuses the ports,
# certificates and data, so a test can stop etcd and bring the same member
# back. `start` waits until /health answers, then prints shell assignments:
#
#   ETCD_ENDPOINT=https://127.0.0.1:PORT
#   ETCD_CA=DIR/certs/ca.pem  ETCD_CERT=DIR/certs/node-a.pem  ETCD_KEY=...
#   ETCD_STOP='sh tests/etcd.sh stop DIR'
#
# Exit status: 0 started or stopped, 1 failed (the log tail is printed),
# 77 etcd is not installed (install the etcd-server package).
#
# etcd runs under timeout(1), so it dies after ETCD_LIFETIME seconds
# (default 300) even when the caller never runs the stop command. Its
# heartbeat is 50 ms and election timeout 500 ms, so the member elects
# itself quickly and the least lease TTL that it grants is 1 s.

set -eu

usage() {
	echo "usage: sh tests/etcd.sh start [DIR] | stop DIR" >&2
	exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	usage
fi
CMD=$1
DIR=${2:-}
OWN_DIR=0
if [ -z "$DIR" ]; then
	[ "$CMD" = start ] || usage
	DIR=$(mktemp -d "${TMPDIR:-/tmp}/ppcoord-etcd.XXXXXX")
	OWN_DIR=1
fi
SRC=$(cd "$(dirname "$0")/.." && pwd)
ETCD=${ETCD:-etcd}
LIFETIME=${ETCD_LIFETIME:-300}

# Prints a port in 20000-32767 that no socket uses now. The range ends
# below Linux's default ephemeral ports (32768-60999), so an outgoing
# connection cannot take the port between a stop and a restart of etcd.
free_port() {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		p=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		p=$((20000 + p % 12768))
		if [ -z "$(ss -Hatn "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

healthy() {
	curl -sf --noproxy '*' --max-time 1 --cacert "$DIR/certs/ca.pem" \
		--cert "$DIR/certs/node-a.pem" --key "$DIR/certs/node-a.key" \
		"https://127.0.0.1:$1/health" 2>/dev/null | grep -q '"health":"true"'
}

# Stops the etcd whose pid is in DIR/etcd.pid: TERM, then KILL after 5 s.
stop() {
	[ -f "$DIR/etcd.pid" ] || return 0
	pid=$(cat "$DIR/etcd.pid")
	rm -f "$DIR/etcd.pid"
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# Starts etcd on the ports in DIR/etcd.ports and waits up to 15 s for
# /health. Returns 1 if etcd exited (a port taken) or did not reply.
launch() {
	read -r client peer <"$DIR/etcd.ports"
	# timeout bounds etcd's life and passes a TERM on to it. etcd stays
	# in the caller's process group, so a test runner that kills the
	# group kills etcd too.
	timeout -k 5 "$LIFETIME" "$ETCD" \
		--name test --data-dir "$DIR/data" \
		--listen-client-urls "https://127.0.0.1:$client" \
		--advertise-client-urls "https://127.0.0.1:$client" \
		--listen-peer-urls "http://127.0.0.1:$peer" \
		--initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "test=http://127.0.0.1:$peer" \
		--heartbeat-interval 50 --election-timeout 500 \
		--cert-file "$DIR/certs/head.pem" --key-file "$DIR/certs/head.key" \
		--trusted-ca-file "$DIR/certs/ca.pem" --client-cert-auth \
		--logger zap --log-outputs stderr \
		</dev/null >>"$DIR/etcd.log" 2>&1 &
	echo $! >"$DIR/etcd.pid"
	for _ in $(seq 1 150); do
		healthy "$client" && return 0
		kill -0 "$(cat "$DIR/etcd.pid")" 2>/dev/null || break
		sleep 0.1
	done
	stop
	return 1
}

# Picks two free ports and starts etcd on them, up to three times in case
# another process takes a port in between.
first_launch() {
	for _ in 1 2 3; do
		client=$(free_port) || continue
		peer=$(free_port) || continue
		[ "$client" != "$peer" ] || continue
		echo "$client $peer" >"$DIR/etcd.ports"
		launch && return 0
	done
	rm -f "$DIR/etcd.ports"
	return 1
}

# start_failed MESSAGE: prints MESSAGE and etcd's last log lines, removes
# a folder that start made, and exits 1.
start_failed() {
	echo "etcd.sh: $1" >&2
	[ -f "$DIR/etcd.log" ] && tail -n 20 "$DIR/etcd.log" >&2
	[ $OWN_DIR = 1 ] && rm -rf "$DIR"
	exit 1
}

start() {
	if ! command -v "$ETCD" >/dev/null 2>&1; then
		echo "etcd.sh: $ETCD not found: install the etcd-server package" >&2
		[ $OWN_DIR = 1 ] && rm -rf "$DIR"
		exit 77
	fi
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	if [ ! -f "$DIR/certs/ca.pem" ]; then
		sh "$SRC/tests/certs.sh" "$DIR/certs" ||
			start_failed "tests/certs.sh failed"
	fi

	stop
	if [ -f "$DIR/etcd.ports" ]; then
		launch || start_failed "etcd did not start again in $DIR"
	else
		first_launch || start_failed "etcd did not become healthy in $DIR"
	fi

	read -r client _ <"$DIR/etcd.ports"
	echo "ETCD_ENDPOINT=https://127.0.0.1:$client"
	echo "ETCD_CA=$DIR/certs/ca.pem"
	echo "ETCD_CERT=$DIR/certs/node-a.pem"
	echo "ETCD_KEY=$DIR/certs/node-a.key"
	if [ $OWN_DIR = 1 ]; then
		echo "ETCD_STOP='sh $SRC/tests/etcd.sh stop $DIR && rm -rf $DIR'"
	else
		echo "ETCD_STOP='sh $SRC/tests/etcd.sh stop $DIR'"
	fi
}

case $CMD in
start) start ;;
stop) stop ;;
*) usage ;;
esac
