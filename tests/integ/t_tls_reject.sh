#!/bin/bash
# While three good agents are placed, the head rejects and logs, each with
# its reason and peer: a client without a certificate, certificates from
# another CA, expired, not yet valid or without clientAuth, and a Hello
# whose node id differs from the certificate. The plan stays as it was.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

head_start
agent_conf node-a 127.0.0.2 8 "80 GiB"
agent_conf node-b 127.0.0.3 8 "80 GiB"
agent_conf node-c 127.0.0.4 8 "80 GiB"
for n in node-a node-b node-c; do
	agent_start $n
done
wait_for 30 "all three good nodes assigned" all_assigned node-a node-b node-c
wait_for 15 "every assignment acked" acked node-a node-b node-c
gen=$(status_json | jq -r .generation)

# head_log_since LINE: the head log after its first LINE lines.
head_log_since() {
	tail -n +"$(($1 + 1))" "$HEAD_LOG"
}

# logged_since LINE PATTERN: the head logged PATTERN after its first LINE lines.
logged_since() {
	head_log_since "$1" | grep -Eq "$2"
}

# bad_agent NAME CERT NODE_ID PATTERN: an agent with CERT claiming
# NODE_ID is rejected with a head log line that matches PATTERN, and gets
# no assignment.
bad_agent() {
	local name=$1 cert=$2 id=$3 pattern=$4 since pid
	since=$(wc -l <"$HEAD_LOG")
	AGENT_CERT="$CERTS/$cert.pem" AGENT_KEY="$CERTS/$cert.key" AGENT_NODE_ID=$id \
		agent_conf "$name" 127.0.0.9 8 "80 GiB" 'reconnect_max = "5s";'
	agent_start "$name"
	pid=$(agent_pid "$name")
	wait_for 15 "the head to log the rejection of $name ($pattern)" \
		logged_since "$since" "$pattern"
	head_log_since "$since" | grep -E "$pattern" | head -n 1
	kill -0 "$pid" 2>/dev/null || fail "agent $name exited after a rejection; it must retry"
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null
	state_is "$name" assigned && fail "rejected agent $name got an assignment"
	return 0
}

# A client that sends no certificate at all.
since=$(wc -l <"$HEAD_LOG")
timeout 10 openssl s_client -connect "127.0.0.1:$HEAD_PORT" -CAfile "$CERTS/ca.pem" \
	-tls1_3 -quiet </dev/null >"$T/s_client.out" 2>&1
wait_for 10 "the head to log the client without a certificate" \
	logged_since "$since" 'TLS handshake with 127\.0\.0\.1:[0-9]+ failed: .*certificate'
head_log_since "$since" | grep -E 'TLS handshake with' | head -n 1

bad_agent other node-x-other node-x-other \
	'TLS handshake with 127\.0\.0\.1:[0-9]+ failed: .*(unknown ca|unable to get local issuer|certificate verify failed)'
bad_agent expired node-expired node-expired \
	'TLS handshake with 127\.0\.0\.1:[0-9]+ failed: .*(expired|certificate verify failed)'
# The head logs at most 10 handshake failures per 10 s. With retries, the
# cases so far may have used most of that, so the rest start in a new window.
sleep 10
bad_agent future node-future node-future \
	'TLS handshake with 127\.0\.0\.1:[0-9]+ failed: .*(not yet valid|certificate verify failed)'
bad_agent noclient node-noclient node-noclient \
	'TLS handshake with 127\.0\.0\.1:[0-9]+ failed: .*(purpose|certificate verify failed)'
# node-d's certificate, but its Hello claims node-e. ppcoord-agent checks
# this itself and will not start, so the Hello is encoded with protoc-c and
# sent as one frame (4-byte big-endian length, then the Envelope).
command -v protoc-c >/dev/null || fail "protoc-c is missing: run make deps"
protoc-c --encode=ppcoord.Envelope --proto_path="$SRC/proto" "$SRC/proto/ppcoord.proto" \
	>"$T/hello.bin" <<-HELLO || fail "protoc-c could not encode the Hello"
hello {
  protocol_version: 1
  node_id: "node-e"
  address: "127.0.0.9"
  workers: 8
  agent_version: "t_tls_reject"
  gpus { index: 0 memory_total: 85899345920 memory_free: 85899345920 }
  gpus { index: 1 memory_total: 85899345920 memory_free: 85899345920 }
  gpus { index: 2 memory_total: 85899345920 memory_free: 85899345920 }
  gpus { index: 3 memory_total: 85899345920 memory_free: 85899345920 }
  gpus { index: 4 memory_total: 85899345920 memory_free: 85899345920 }
  gpus { index: 5 memory_total: 85899345920 memory_free: 85899345920 }
  gpus { index: 6 memory_total: 85899345920 memory_free: 85899345920 }
  gpus { index: 7 memory_total: 85899345920 memory_free: 85899345920 }
}
HELLO
len=$(stat -c %s "$T/hello.bin")
{
	printf "\\$(printf %03o $((len >> 24 & 255)))\\$(printf %03o $((len >> 16 & 255)))"
	printf "\\$(printf %03o $((len >> 8 & 255)))\\$(printf %03o $((len & 255)))"
	cat "$T/hello.bin"
} >"$T/hello.frame"
since=$(wc -l <"$HEAD_LOG")
{ cat "$T/hello.frame"; sleep 3; } |
	timeout 10 openssl s_client -connect "127.0.0.1:$HEAD_PORT" -CAfile "$CERTS/ca.pem" \
		-cert "$CERTS/node-d.pem" -key "$CERTS/node-d.key" -tls1_3 -quiet \
		>"$T/liar.out" 2>"$T/liar.err"
wait_for 10 "the head to reject the Hello of node-d claiming node-e" \
	logged_since "$since" 'rejected .*(node-d|node-e).*(node-d|node-e)'
head_log_since "$since" | grep -E 'rejected' | head -n 1
# The Reject frame came back: its message names the certificate identity.
grep -qa 'node-d' "$T/liar.out" || fail "no Reject naming node-d reached the client"

# The good nodes kept their plan; nothing was re-placed or rerun.
for n in node-a node-b node-c; do
	state_is $n assigned || fail "$n lost its assignment during the rejections"
	[ "$(env_get "$T/$n/stage.env" PPCOORD_GENERATION)" = "$gen" ] ||
		fail "$n: generation changed from $gen"
	[ "$(hook_runs $n)" = 1 ] || fail "$n: on_assign ran $(hook_runs $n) times"
done
[ "$(status_json | jq '[.nodes[] | select(.state == "assigned")] | length')" = 3 ] ||
	fail "the head does not list exactly three assigned nodes"
status_json | jq -e '[.nodes[].id] | index("node-e") == null and index("node-d") == null' >/dev/null ||
	fail "a rejected node is listed in the status"
log "every bad client was rejected and logged"
