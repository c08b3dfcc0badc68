# Helpers for the tests of several heads on etcd (t_ha_*.sh), sourced
# after lib.sh. Head I (1, 2, ...) has its config in $T/headI.conf, its
# log in $T/headI.log and its control socket in $T/headI.sock; HPID[I]
# and HPORT[I] hold its pid and port, and SPORT[I] its status_listen port
# when HEAD_STATUS=1. A test without etcd installed is
# skipped.

ETCD_DIR="$T/etcd"
LEASE_TTL="2s"
declare -a HPID HPORT SPORT

# Stops the heads first, so that they resign while etcd still runs, then
# etcd, then everything else.
ha_cleanup() {
	local rc=$? i
	trap - EXIT
	for i in "${!HPID[@]}"; do
		kill -CONT "${HPID[$i]}" 2>/dev/null
		kill -TERM "${HPID[$i]}" 2>/dev/null
	done
	for i in "${!HPID[@]}"; do
		wait "${HPID[$i]}" 2>/dev/null
	done
	sh "$SRC/tests/etcd.sh" stop "$ETCD_DIR" >/dev/null 2>&1
	cleanup
	exit $rc
}

# Starts the throwaway etcd, or skips the test when etcd is missing.
ha_etcd_start() {
	local out rc
	out=$(sh "$SRC/tests/etcd.sh" start "$ETCD_DIR" 2>"$T/etcd-start.err")
	rc=$?
	[ $rc = 77 ] && skip "etcd is not installed (package etcd-server)"
	[ $rc = 0 ] || { cat "$T/etcd-start.err"; fail "etcd did not start"; }
	eval "$out"
	trap ha_cleanup EXIT
	log "etcd on $ETCD_ENDPOINT"
}

ha_etcd_stop() {
	sh "$SRC/tests/etcd.sh" stop "$ETCD_DIR" || fail "etcd did not stop"
}

# Restarts the same etcd member on the same port with its data.
ha_etcd_restart() {
	sh "$SRC/tests/etcd.sh" start "$ETCD_DIR" >/dev/null 2>"$T/etcd-start.err" ||
		{ cat "$T/etcd-start.err"; fail "etcd did not start again"; }
}

# ha_head_conf I: writes $T/headI.conf for head I on HPORT[I].
ha_head_conf() {
	local i=$1
	if [ "$HEAD_STATUS" = 1 ] && [ -z "${SPORT[$i]:-}" ]; then
		SPORT[$i]=$(free_port) || fail "no free port"
	fi
	HEAD_CONF="$T/head$i.conf" SOCK="$T/head$i.sock" HEAD_PORT=${HPORT[$i]} \
		STATUS_PORT=${SPORT[$i]:-} \
		HEAD_EXTRA="store = \"etcd\"; advertise = \"127.0.0.1:${HPORT[$i]}\";" \
		write_head_conf
	cat >>"$T/head$i.conf" <<-EOF
	etcd = {
	  endpoints = [ "$ETCD_ENDPOINT" ];
	  ca_file = "$ETCD_CA";
	  cert_file = "$ETCD_CERT";
	  key_file = "$ETCD_KEY";
	  lease_ttl = "$LEASE_TTL";
	};
	EOF
}

# ha_head_launch I: starts head I without waiting for it.
ha_head_launch() {
	local i=$1
	[ -n "${HPORT[$i]:-}" ] || HPORT[$i]=$(free_port) || fail "no free port"
	ha_head_conf "$i"
	rm -f "$T/head$i.sock"
	"$HEAD" -d -f "$T/head$i.conf" >>"$T/head$i.log" 2>&1 &
	HPID[$i]=$!
	PIDS+=("${HPID[$i]}")
	log "started head $i on 127.0.0.1:${HPORT[$i]} (pid ${HPID[$i]})"
}

# ha_head_wait I: waits until head I returns a status on its control socket.
ha_head_wait() {
	local i=$1 end
	end=$(($(date +%s) + 15))
	while [ "$(date +%s)" -lt "$end" ]; do
		ha_status "$i" >/dev/null 2>&1 && return 0
		kill -0 "${HPID[$i]}" 2>/dev/null || fail "head $i exited at start"
		sleep 0.1
	done
	fail "head $i did not answer on $T/head$i.sock within 15s"
}

# ha_head_start I: starts head I and waits for its control socket.
ha_head_start() {
	ha_head_launch "$1"
	ha_head_wait "$1"
}

# ha_status I: head I's status JSON.
ha_status() {
	"$CTL" status -s "$T/head$1.sock" --format json
}

# ha_role I: head I's role (leader, follower or standalone).
ha_role() {
	ha_status "$1" | jq -r '.role'
}

# ha_leaders: prints the index of every head that reports itself leader.
ha_leaders() {
	local i
	for i in "${!HPID[@]}"; do
		kill -0 "${HPID[$i]}" 2>/dev/null || continue
		[ "$(ha_role "$i" 2>/dev/null)" = leader ] && echo "$i"
	done
}

# ha_one_leader: exactly one live head leads.
ha_one_leader() {
	[ "$(ha_leaders | wc -l)" = 1 ]
}

# ha_agent_conf NAME ADDRESS: an agent of 8 GPUs with every head in agent.head.
ha_agent_conf() {
	local list="" i
	for i in "${!HPORT[@]}"; do
		[ -n "$list" ] && list="$list, "
		list="$list\"127.0.0.1:${HPORT[$i]}\""
	done
	agent_conf "$1" "$2" 8 "80 GiB" 'reconnect_max = "300ms";'
	sed -i "s|^  head = .*|  head = [ $list ];|" "$T/$1/agent.conf"
}

# ha_converged I NAME...: head I leads and every named node is connected
# to it, acked its generation and holds it in its environment file.
ha_converged() {
	local i=$1
	shift
	SOCK="$T/head$i.sock" converged "$@"
}

# ha_role_is I ROLE: head I reports ROLE; for wait_for.
ha_role_is() {
	[ "$(ha_role "$1")" = "$2" ]
}

# ha_metric I NAME: the value of metric NAME on head I's /metrics.
ha_metric() {
	curl -sf --noproxy '*' --max-time 2 "http://127.0.0.1:${SPORT[$1]}/metrics" |
		sed -n "s/^$2 //p"
}
