#!/bin/bash
# The head's control socket: "status" and "inventory" each return one
# JSON line; an unknown or overlong request gets {"error": ...}; several
# clients are served at once; a client that sends nothing is closed
# after the request timeout. Also `ppcoord-head -n` exit codes.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
command -v python3 >/dev/null || skip "python3 is missing"
make_certs

EXPECTED_NODES=1
head_start

# -n: 0 with "configuration OK", 1 with FILE:LINE errors, 2 for bad usage.
out=$("$HEAD" -n -f "$HEAD_CONF" 2>&1) || fail "-n rejected a valid config: $out"
[ "$out" = "configuration OK" ] || fail "-n printed \"$out\""
sed 's/expected_nodes = 1;/expected_nodes = "x"; bogus_key = 1;/' \
	"$HEAD_CONF" >"$T/bad.conf"
"$HEAD" -n -f "$T/bad.conf" >"$T/bad.out" 2>&1
rc=$?
[ $rc = 1 ] || fail "-n on an invalid config exited $rc, expected 1"
[ "$(grep -c "^$T/bad.conf:[0-9]*: " "$T/bad.out")" -ge 2 ] ||
	fail "-n did not print every error as FILE:LINE: $(cat "$T/bad.out")"
"$HEAD" -q >/dev/null 2>&1
rc=$?
[ $rc = 2 ] || fail "an unknown option exited $rc, expected 2"

agent_conf node-a 127.0.0.2 8 "80 GiB"
agent_start node-a
wait_for 30 "node-a assigned" all_assigned node-a

python3 - "$SOCK" <<'PY' || fail "control socket checks failed"
import json, socket, sys, time

path = sys.argv[1]

def request(data):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(data)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out

def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)

reply = request(b"status\n")
check(reply.endswith(b"\n") and reply.count(b"\n") == 1,
      "status is not one line: %r" % reply[:200])
status = json.loads(reply)
check(status["state"] == "active", "state %s" % status["state"])
check(status["role"] == "standalone", "role %s" % status["role"])
check(status["leader"] is None, "leader %s" % status["leader"])
check(status["store"] == "file", "store %s" % status["store"])
check([n["id"] for n in status["nodes"]] == ["node-a"], "nodes")
node = status["nodes"][0]
for key in ("first_stage", "stage_count", "first_layer", "end_layer",
            "acked_generation", "last_heartbeat_ms", "connected_s"):
    check(key in node, "status node lacks " + key)

inv = json.loads(request(b"inventory\n"))
check(inv["nodes"][0]["id"] == "node-a", "inventory")
check(len(inv["nodes"][0]["gpus"]) == 8, "inventory gpus")

err = json.loads(request(b"plan\n"))
check("unknown request" in err["error"], "unknown request: %r" % err)
err = json.loads(request(b"x" * 300))
check("longer than" in err["error"], "overlong request: %r" % err)

clients = []
for _ in range(20):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    clients.append(s)
for s in clients:
    s.sendall(b"status\r\n")
for s in clients:
    check(json.loads(s.makefile().readline())["cluster"] == "integ",
          "concurrent client")

s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.settimeout(15)
start = time.time()
check(s.recv(16) == b"", "idle client got data")
took = time.time() - start
check(3 <= took <= 10, "idle client closed after %.1f s" % took)
PY
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "control socket mode is $(stat -c %a "$SOCK")"
log "control socket and -n behave"
