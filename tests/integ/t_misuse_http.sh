#!/bin/bash
# Hostile requests on the head's HTTP status port while three healthy
# agents are placed. The cases are a 16 KiB header, a 64 KiB body, a path that climbs
# out of the URL space, a POST, a URI with characters outside RFC 3986, an
# unknown method and a request line of plain garbage. Each gets an HTTP
# error, the errors the head's handler makes are logged with the peer
# address, the head stays up and keeps serving
# /metrics, and the healthy nodes keep their generation. A second head
# on the same status port exits and names the reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/misuse.sh"
HEAD_STATUS=1
misuse_setup
URL="http://127.0.0.1:$STATUS_PORT"

# http_code ARGS...: the HTTP status of one curl request, or 000 when the
# head closed without a response.
http_code() {
	curl -s -o "$T/http.body" -w '%{http_code}' --max-time 10 "$@"
}

case_begin "16 KiB request header"
code=$(http_code -H "X-Big: $(head -c 16384 /dev/zero | tr '\0' a)" "$URL/metrics")
log "HTTP status $code"
case $code in 4??|000) ;; *) fail "$CASE_NAME: HTTP status $code, expected an error" ;; esac
expect_healthy

case_begin "64 KiB request body"
head -c 65536 /dev/zero | tr '\0' a >"$T/body"
code=$(http_code --data-binary @"$T/body" "$URL/status")
log "HTTP status $code"
case $code in 4??|000) ;; *) fail "$CASE_NAME: HTTP status $code, expected an error" ;; esac
expect_healthy

case_begin "path outside the URL space"
code=$(http_code --path-as-is "$URL/../../../../etc/passwd")
log "HTTP status $code"
[ "$code" = 404 ] || [ "$code" = 400 ] || fail "$CASE_NAME: HTTP status $code, expected 404 or 400"
grep -q 'root:' "$T/http.body" && fail "$CASE_NAME: the head served a file"
expect_log 'debug: HTTP 404 for /\.\./\.\./\.\./\.\./etc/passwd from 127\.0\.0\.1:[0-9]+: unknown path'
expect_healthy

case_begin "POST"
code=$(http_code -d x "$URL/status")
log "HTTP status $code"
[ "$code" = 405 ] || fail "$CASE_NAME: HTTP status $code, expected 405"
expect_log 'debug: HTTP 405 for /status from 127\.0\.0\.1:[0-9]+: only GET and HEAD'
expect_healthy

case_begin "URI with characters outside RFC 3986"
code=$(http_code -g --path-as-is "$URL/{x}")
log "HTTP status $code"
[ "$code" = 400 ] || fail "$CASE_NAME: HTTP status $code, expected 400"
expect_log 'warning: HTTP 400 for /\{x\} from 127\.0\.0\.1:[0-9]+: invalid URI'
expect_healthy

case_begin "unknown method"
code=$(http_code -X BREW "$URL/status")
log "HTTP status $code"
case $code in 4??|5??|000) ;; *) fail "$CASE_NAME: HTTP status $code, expected an error" ;; esac
expect_healthy

case_begin "garbage request line"
HEAD_PORT_SAVED=$HEAD_PORT
HEAD_PORT=$STATUS_PORT
badpeer -s plaintext -t 5
HEAD_PORT=$HEAD_PORT_SAVED
expect_result '^(closed|http answer)'
expect_healthy

case_begin "metrics after the bad requests"
code=$(http_code "$URL/metrics")
[ "$code" = 200 ] || fail "$CASE_NAME: /metrics answered $code"
grep -q '^ppcoord_plan_generation ' "$T/http.body" || fail "$CASE_NAME: /metrics lacks ppcoord_plan_generation"
expect_healthy
case_begin "status port in use"
# A second head with its own agent port, control socket and state file,
# but this head's status port.
port2=$(free_port) || fail "no free port"
sed -e "s|listen = \"$HEAD_ADDR:$HEAD_PORT\"|listen = \"$HEAD_ADDR:$port2\"|" \
	-e "s|$SOCK|$T/head2.sock|; s|$T/plan.state|$T/plan2.state|" \
	"$HEAD_CONF" >"$T/head2.conf"
grep -q "$port2" "$T/head2.conf" || fail "$CASE_NAME: the second config lacks port $port2"
timeout 10 "$HEAD" -d -f "$T/head2.conf" >"$T/head2.log" 2>&1
rc=$?
sed 's/^/    head2: /' "$T/head2.log" | tail -n 3
[ $rc = 1 ] || [ $rc = 2 ] || fail "$CASE_NAME: the second head exited with $rc, expected a startup error"
grep -q "cannot listen on 127.0.0.1:$STATUS_PORT: Address already in use" "$T/head2.log" ||
	fail "$CASE_NAME: the second head did not say why it could not listen"
expect_healthy
log "every bad HTTP request got an error"
