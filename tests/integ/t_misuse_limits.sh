#!/bin/bash
# More connections than head.max_connections (20) while three healthy
# agents are placed: a client with a valid certificate opens 40 TLS
# connections and keeps them open without a Hello. The head takes 17 (20 minus
# the three agents), closes the rest at accept, logs the refusals with the
# peer address and the limit, and once they are gone takes a new
# connection again. The healthy nodes keep their generation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/misuse.sh"
HEAD_STATUS=1
HEAD_EXTRA='max_connections = 20;'
misuse_setup
BAD=$(cert_args node-d)

case_begin "40 connections with max_connections 20"
refused_before=$(metric ppcoord_connections_refused_total) ||
	fail "no ppcoord_connections_refused_total in the head's /metrics"
badpeer -s conns -n 40 -w 2 -t 20 $BAD
expect_result '^accepted 17 refused 23 closed while held 0$'
expect_log 'connection from 127\.0\.0\.1:[0-9]+ refused: 20 open \(head\.max_connections 20\)'
wait_for 5 "the head to count 23 refused connections" \
	metric_at_least ppcoord_connections_refused_total $((refused_before + 23))
expect_healthy

case_begin "a new connection after the others closed"
badpeer -s hello $BAD -t 5
expect_result '^welcome$'
expect_log 'node node-d joined from PEER'
expect_healthy

case_begin "a second round of 40 connections"
badpeer -s conns -n 40 -w 1 -t 20 $BAD
expect_result '^accepted 17 refused 23 '
expect_healthy
log "the connection limit held and the head recovered"
