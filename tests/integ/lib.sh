# Helpers for the integration tests, sourced by bash. Every daemon runs on
# loopback with its log in the test's directory, and the EXIT trap stops
# each process that a test started.
#
# A test sets BIN (the build directory) and TMPDIR (its own directory);
# tests/integ/run.sh sets both.

set -u

: "${BIN:?set BIN to the build directory}"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T=${TMPDIR:-}
if [ -z "$T" ] || [ "$T" = /tmp ]; then
	T=$(mktemp -d /tmp/ppcoord-test.XXXXXX)
fi
export TMPDIR="$T"

HEAD="$BIN/ppcoord-head"
AGENT="$BIN/ppcoord-agent"
CTL="$BIN/ppcoordctl"

CERTS="$T/certs"
SOCK="$T/head.sock"
HEAD_CONF="$T/head.conf"
HEAD_LOG="$T/head.log"
HEAD_PID=""
HEAD_PORT=""
STATUS_PORT=""

# Extra lines for the head config's groups; a test sets them before
# head_start. HEAD_MODEL and HEAD_PLAN replace the whole group body.
HEAD_EXTRA=""
CLUSTER_EXTRA=""
EXPECTED_NODES=3
CLUSTER_NAME=integ
HEAD_MODEL='layers = 80;'
HEAD_PLAN='tp_size = 8;'
HEAD_STATUS=0
HEAD_CA=""
HEAD_CERT=""
HEAD_KEY=""
# The address the head listens on and the agents connect to, and the
# cluster timings. A test may change them before head_start.
HEAD_ADDR=127.0.0.1
HEARTBEAT_INTERVAL="500ms"
NODE_TIMEOUT="5s"
SETTLE_TIME="500ms"

PIDS=()

log() {
	printf '%s %s\n' "$(date +%H:%M:%S.%N | cut -c1-12)" "$*"
}

# Prints the tail of every daemon log of the test.
dump_logs() {
	local f
	for f in "$T"/*.log "$T"/*/agent.log; do
		# run.sh writes the test's own output to test.log.
		[ -f "$f" ] && [ "${f##*/}" != test.log ] || continue
		echo "---- ${f#"$T"/} (last 80 lines)"
		tail -n 80 "$f"
	done
}

fail() {
	log "FAIL: $*"
	dump_logs
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# Stops every recorded process: TERM, then KILL after two seconds.
cleanup() {
	local pid i alive
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for i in 1 2 3 4 5 6 7 8 9 10; do
		alive=0
		for pid in "${PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.2
	done
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	sanitizer_check
}

# Fails the test when a daemon log contains an AddressSanitizer, UBSan or
# LeakSanitizer report. The daemons run in the background, so under
# `make check SANITIZE=1` their logs are the only place a report shows.
sanitizer_check() {
	local f found=0 re='ERROR: AddressSanitizer|runtime error:|LeakSanitizer'
	for f in "$T"/*.log "$T"/*/*.log; do
		[ -f "$f" ] && [ "$f" != "$T/test.log" ] || continue
		grep -Eq "$re" "$f" || continue
		echo "---- sanitizer report in ${f#"$T"/}"
		grep -E -A 30 "$re" "$f" | head -n 120
		found=1
	done
	if [ $found = 1 ]; then
		log "FAIL: a sanitizer reported an error in a daemon"
		exit 1
	fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s until
# it succeeds, and fails the test with DESCRIPTION when time runs out.
wait_for() {
	local limit=$1 what=$2 end
	shift 2
	end=$(($(date +%s) + limit))
	while ! "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$end" ]; then
			fail "timed out after ${limit}s waiting for $what"
		fi
		sleep 0.2
	done
}

# Prints a port in 20000-32767 that no socket uses now. The range ends
# below Linux's default ephemeral ports (32768-60999), which the tests'
# own outgoing connections take, and which ss -l does not list.
free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
		if command -v ss >/dev/null; then
			[ -z "$(ss -Hatn "sport = :$p" 2>/dev/null)" ] && { echo $p; return 0; }
		elif ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo $p
			return 0
		fi
	done
	return 1
}

# Makes the test CA and certificates under $CERTS: ca.pem, head.pem,
# node-a..node-f, and the bad ones that tests/certs.sh documents.
make_certs() {
	sh "$SRC/tests/certs.sh" "$CERTS" >"$T/certs.out" 2>&1 ||
		{ cat "$T/certs.out"; fail "tests/certs.sh failed"; }
	HEAD_CA=${HEAD_CA:-$CERTS/ca.pem}
	HEAD_CERT=${HEAD_CERT:-$CERTS/head.pem}
	HEAD_KEY=${HEAD_KEY:-$CERTS/head.key}
}

# Writes $HEAD_CONF for $HEAD_PORT (and $STATUS_PORT when HEAD_STATUS=1).
write_head_conf() {
	local status=""
	[ "$HEAD_STATUS" = 1 ] && status="status_listen = \"127.0.0.1:$STATUS_PORT\";"
	cat >"$HEAD_CONF" <<-EOF
	head = {
	  listen = "$HEAD_ADDR:$HEAD_PORT";
	  control_socket = "$SOCK";
	  state_file = "$T/plan.state";
	  $status
	  $HEAD_EXTRA
	};
	tls = {
	  ca_file = "$HEAD_CA";
	  cert_file = "$HEAD_CERT";
	  key_file = "$HEAD_KEY";
	};
	cluster = {
	  name = "$CLUSTER_NAME";
	  expected_nodes = $EXPECTED_NODES;
	  heartbeat_interval = "$HEARTBEAT_INTERVAL";
	  node_timeout = "$NODE_TIMEOUT";
	  settle_time = "$SETTLE_TIME";
	  master_port = 29500;
	  $CLUSTER_EXTRA
	};
	model = {
	  $HEAD_MODEL
	};
	plan = {
	  $HEAD_PLAN
	};
	EOF
}

head_listening() {
	[ -S "$SOCK" ] && "$CTL" status -s "$SOCK" --format json >/dev/null 2>&1
}

# Starts the head on a free loopback port (another on a collision) and
# waits until its control socket returns a status.
head_start() {
	local try end
	for try in 1 2 3 4 5; do
		if [ -z "$HEAD_PORT" ] || [ "$try" -gt 1 ]; then
			HEAD_PORT=$(free_port) || fail "no free port"
		fi
		if [ "$HEAD_STATUS" = 1 ] && { [ -z "$STATUS_PORT" ] || [ "$try" -gt 1 ]; }; then
			STATUS_PORT=$(free_port) || fail "no free port"
		fi
		write_head_conf
		rm -f "$SOCK"
		log "starting head on $HEAD_ADDR:$HEAD_PORT"
		"$HEAD" -d -f "$HEAD_CONF" >>"$HEAD_LOG" 2>&1 &
		HEAD_PID=$!
		PIDS+=("$HEAD_PID")
		end=$(($(date +%s) + 15))
		while [ "$(date +%s)" -lt "$end" ]; do
			head_listening && return 0
			kill -0 "$HEAD_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$HEAD_PID" 2>/dev/null; then
			fail "head did not answer on $SOCK within 15s"
		fi
		grep -qi 'in use' "$HEAD_LOG" || fail "head exited at startup"
	done
	fail "head could not bind a port in five tries"
}

head_stop() {
	[ -n "$HEAD_PID" ] || return 0
	kill -TERM "$HEAD_PID" 2>/dev/null
	wait "$HEAD_PID" 2>/dev/null
	HEAD_PID=""
}

# agent_conf NAME ADDRESS GPU_COUNT GPU_MEMORY [EXTRA_AGENT_LINES]:
# writes $T/NAME/agent.conf for node NAME with certificate
# $CERTS/NAME.pem (AGENT_CERT/AGENT_KEY/AGENT_CA override the files and
# AGENT_NODE_ID the node id) and a hook that appends a line per run to
# $T/NAME/hook.count.
agent_conf() {
	local name=$1 addr=$2 count=$3 mem=$4 extra=${5:-}
	local d="$T/$name"
	local node_id=${AGENT_NODE_ID:-$name}
	mkdir -p "$d"
	cat >"$d/hook.sh" <<-'EOF'
	#!/bin/sh
	echo "$1 $PPCOORD_STATE $PPCOORD_GENERATION $PPCOORD_NODE_RANK" >>"$2"
	EOF
	chmod 755 "$d/hook.sh"
	cat >"$d/agent.conf" <<-EOF
	agent = {
	  head = "$HEAD_ADDR:$HEAD_PORT";
	  node_id = "$node_id";
	  advertise_address = "$addr";
	  env_file = "$d/stage.env";
	  on_assign = [ "$d/hook.sh", "assign", "$d/hook.count" ];
	  on_revoke = [ "$d/hook.sh", "revoke", "$d/hook.count" ];
	  $extra
	};
	tls = {
	  ca_file = "${AGENT_CA:-$CERTS/ca.pem}";
	  cert_file = "${AGENT_CERT:-$CERTS/$name.pem}";
	  key_file = "${AGENT_KEY:-$CERTS/$name.key}";
	};
	gpus = {
	  source = "static";
	  count = $count;
	  memory = "$mem";
	};
	EOF
}

# agent_start NAME: starts the agent configured in $T/NAME; its PID goes
# to AGENT_PID_NAME (dashes as underscores).
agent_start() {
	local name=$1 pid
	"$AGENT" -d -f "$T/$name/agent.conf" >>"$T/$name/agent.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	printf -v "AGENT_PID_${name//-/_}" '%s' "$pid"
	log "started agent $name (pid $pid)"
}

agent_pid() {
	local v="AGENT_PID_${1//-/_}"
	echo "${!v}"
}

# env_get FILE KEY: prints KEY's value in an environment file.
env_get() {
	sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1
}

# state_is NAME STATE: the agent's environment file contains PPCOORD_STATE=STATE.
state_is() {
	[ "$(env_get "$T/$1/stage.env" PPCOORD_STATE)" = "$2" ]
}

# all_assigned NAME...: every named agent's file contains PPCOORD_STATE=assigned.
all_assigned() {
	local n
	for n in "$@"; do
		state_is "$n" assigned || return 1
	done
}

# hook_runs NAME: how many times NAME's on_assign hook ran.
hook_runs() {
	local f="$T/$1/hook.count"
	if [ -f "$f" ]; then
		grep -c '^assign ' "$f"
	else
		echo 0
	fi
}

# status_json: the head's status JSON over the control socket.
status_json() {
	"$CTL" status -s "$SOCK" --format json
}

# acked NAME...: the head's status shows every named node assigned with
# acked_generation equal to the plan generation.
acked() {
	local js gen n
	js=$(status_json) || return 1
	gen=$(jq -r '.generation' <<<"$js")
	for n in "$@"; do
		jq -e --arg n "$n" --argjson g "$gen" \
			'.nodes[] | select(.id == $n) | select(.state == "assigned" and .acked_generation == $g)' \
			<<<"$js" >/dev/null || return 1
	done
}

# env_plan_part FILE: the file without its generation line, sorted, for
# comparison with `ppcoordctl plan --format env`.
env_plan_part() {
	grep -v '^PPCOORD_GENERATION=' "$1" | grep -v '^#' | grep -v '^$' | sort
}

need_jq() {
	command -v jq >/dev/null || fail "jq is missing: run make deps"
}

need_bins() {
	local b
	for b in "$HEAD" "$AGENT" "$CTL"; do
		[ -x "$b" ] || fail "$b is missing: run make first"
	done
}

# inv_node ID ADDRESS GPU_COUNT GPU_MEMORY_BYTES: one inventory node as the
# agent's static GPU source reports it.
inv_node() {
	local id=$1 addr=$2 count=$3 mem=$4 i gpus=""
	for i in $(seq 0 $((count - 1))); do
		[ -n "$gpus" ] && gpus="$gpus,"
		gpus="$gpus{\"index\": $i, \"memory_total\": $mem, \"memory_free\": $mem}"
	done
	printf '{"id": "%s", "address": "%s", "workers": %s, "gpus": [%s]}' \
		"$id" "$addr" "$count" "$gpus"
}

# plan_env_for NODE FILE: the block of `ppcoordctl plan --format env`
# output in FILE that belongs to NODE. Blocks start at PPCOORD_STATE=.
plan_env_for() {
	awk -v node="$1" '
		/^PPCOORD_STATE=/ { if (found) exit; block = "" }
		{ block = block $0 "\n" }
		$0 == "PPCOORD_NODE_ID=" node { found = 1 }
		END { if (found) printf "%s", block }
	' "$2" | grep -v '^PPCOORD_GENERATION=' | grep -v '^#' | grep -v '^$' | sort
}

# ---- helpers for the fault tests (t_fault_*.sh)

# fault_timings HEARTBEAT_MS NODE_TIMEOUT_MS SETTLE_MS: sets the cluster
# timings, and HB_MS and TIMEOUT_MS for the bounds a test computes.
fault_timings() {
	HB_MS=$1
	TIMEOUT_MS=$2
	HEARTBEAT_INTERVAL="${1}ms"
	NODE_TIMEOUT="${2}ms"
	SETTLE_TIME="${3}ms"
}

# now_ms: milliseconds since the epoch.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# env_gen NAME: the generation in NAME's environment file.
env_gen() {
	env_get "$T/$1/stage.env" PPCOORD_GENERATION
}

# env_placement NAME: NAME's environment file without its generation
# line, sorted, so that two placements compare with cmp or =.
env_placement() {
	env_plan_part "$T/$1/stage.env"
}

# head_gen: the head's plan generation.
head_gen() {
	status_json | jq -r '.generation'
}

# head_state_is STATE: the head's status shows STATE (waiting, settling,
# active or revoked).
head_state_is() {
	[ "$(status_json | jq -r '.state')" = "$1" ]
}

# node_field NAME FIELD: one field of NAME's entry in the status JSON.
node_field() {
	status_json | jq -r --arg n "$1" ".nodes[] | select(.id == \$n) | .$2"
}

# node_state_is NAME STATE: the head's status shows NAME in STATE.
node_state_is() {
	[ "$(node_field "$1" state)" = "$2" ]
}

# converged NAME...: the head is active, and each named node is connected,
# assigned or standby in the status, with acked_generation equal to the
# head's generation, and its environment file contains that generation
# in the same state.
converged() {
	local js gen n st
	js=$(status_json) || return 1
	[ "$(jq -r '.state' <<<"$js")" = active ] || return 1
	gen=$(jq -r '.generation' <<<"$js")
	for n in "$@"; do
		st=$(jq -r --arg n "$n" --argjson g "$gen" \
			'.nodes[] | select(.id == $n and .connected and .acked_generation == $g) | .state' \
			<<<"$js")
		case $st in
		assigned | standby) ;;
		*) return 1 ;;
		esac
		state_is "$n" "$st" || return 1
		[ "$(env_gen "$n")" = "$gen" ] || return 1
	done
}

# revoke_runs NAME: how many times NAME's on_revoke hook ran.
revoke_runs() {
	local f="$T/$1/hook.count"
	if [ -f "$f" ]; then
		grep -c '^revoke ' "$f"
	else
		echo 0
	fi
}

# log_count FILE PATTERN: how many lines of FILE match the extended
# regular expression PATTERN (0 when the file is missing).
log_count() {
	if [ -f "$1" ]; then
		grep -c -E -- "$2" "$1" || true
	else
		echo 0
	fi
}

# log_count_gt FILE PATTERN N: more than N lines of FILE match PATTERN;
# for wait_for, which evaluates its arguments once.
log_count_gt() {
	[ "$(log_count "$1" "$2")" -gt "$3" ]
}

# ---- a network namespace for fault tests that cut a node off

NS=""
VETH_HOST=""
VETH_NS=""

netns_cleanup() {
	[ -n "$NS" ] || return 0
	ip netns del "$NS" 2>/dev/null
	[ -n "$VETH_HOST" ] && ip link del "$VETH_HOST" 2>/dev/null
	NS=""
}

# netns_setup: makes a network namespace joined to the host by a veth
# pair in 10.200.N.0/24, with the host at $NET.1 and the namespace at
# $NET.2. The head listens on $NET.1 with a certificate for that address,
# because the agents check the head's IP address. Everything is removed
# on exit. Skips the test (exit 77) where network namespaces are not
# permitted. Call after make_certs.
netns_setup() {
	local name="ppct$$"
	command -v ip >/dev/null || skip "ip (iproute2) is missing"
	ip netns add "$name" 2>/dev/null ||
		skip "network namespaces are not permitted here (ip netns add failed)"
	NS=$name
	trap 'cleanup; netns_cleanup' EXIT
	VETH_HOST="vh$$"
	VETH_NS="vn$$"
	NET="10.200.$(($$ % 200 + 20))"
	netns_make_link

	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$CERTS/head-ns.key" -subj "/CN=head" \
		-out "$T/head-ns.csr" >"$T/openssl.out" 2>&1 ||
		{ cat "$T/openssl.out"; fail "cannot make the head key"; }
	printf '%s\n' "subjectAltName = IP:$NET.1" \
		"extendedKeyUsage = serverAuth, clientAuth" \
		"keyUsage = critical, digitalSignature" \
		"basicConstraints = critical, CA:FALSE" >"$T/head-ns.ext"
	openssl x509 -req -in "$T/head-ns.csr" -CA "$CERTS/ca.pem" \
		-CAkey "$CERTS/ca.key" -CAcreateserial -days 2 -sha256 \
		-extfile "$T/head-ns.ext" -out "$CERTS/head-ns.pem" \
		>"$T/openssl.out" 2>&1 ||
		{ cat "$T/openssl.out"; fail "cannot sign the head certificate"; }
	HEAD_CERT="$CERTS/head-ns.pem"
	HEAD_KEY="$CERTS/head-ns.key"
	HEAD_ADDR="$NET.1"
}

# netns_make_link: the veth pair between the host and $NS, addressed and
# up. netns_setup calls it; a test that deletes and adds $NS again, as a
# node reboot loses every socket, calls it once more.
netns_make_link() {
	ip link add "$VETH_HOST" type veth peer name "$VETH_NS" netns "$NS" ||
		skip "cannot create a veth pair"
	ip addr add "$NET.1/24" dev "$VETH_HOST" || fail "cannot address $VETH_HOST"
	ip link set "$VETH_HOST" up || fail "cannot set $VETH_HOST up"
	ip -n "$NS" addr add "$NET.2/24" dev "$VETH_NS" || fail "cannot address $VETH_NS"
	ip -n "$NS" link set "$VETH_NS" up || fail "cannot set $VETH_NS up"
	ip -n "$NS" link set lo up || fail "cannot set lo up in $NS"
}

# netns_link up|down: sets the namespace's end of the link up or down.
# Down drops every packet without a FIN or RST, as a cut cable does.
netns_link() {
	ip -n "$NS" link set "$VETH_NS" "$1" || fail "cannot set $VETH_NS $1"
}

# netns_agent_start NAME: agent_start inside the namespace. ip netns exec
# execs the agent, so the recorded PID is the agent's.
netns_agent_start() {
	local name=$1 pid
	ip netns exec "$NS" "$AGENT" -d -f "$T/$name/agent.conf" \
		>>"$T/$name/agent.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	printf -v "AGENT_PID_${name//-/_}" '%s' "$pid"
	log "started agent $name in namespace $NS (pid $pid)"
}
