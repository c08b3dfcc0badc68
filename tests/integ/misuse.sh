# Helpers for the misuse tests (t_misuse_*.sh), sourced after lib.sh: a
# head with three healthy agents placed, a hostile client (badpeer) aimed
# at it case after case, and the checks that every case must pass. The
# head stays up, the healthy agents keep their generation (environment
# files unchanged, hooks not rerun), the bad peer gets the head's reply,
# and the head log names what happened with the peer address.

BADPEER="$BIN/tests/badpeer"
BP_N=0
BP_OUT=""
BP_RESULT=""
BP_LOCAL=""
CASE_NAME=""
CASE_SINCE=0
HEALTHY="node-a node-b node-c"
GEN=""

# misuse_setup: starts the head (with whatever HEAD_EXTRA and friends the
# test set) and three healthy agents, waits until they are placed and
# acked, and records their environment files.
misuse_setup() {
	local n
	need_bins
	need_jq
	[ -x "$BADPEER" ] || fail "$BADPEER is missing: run make $BIN/tests/badpeer"
	make_certs
	head_start
	agent_conf node-a 127.0.0.2 8 "80 GiB"
	agent_conf node-b 127.0.0.3 8 "80 GiB"
	agent_conf node-c 127.0.0.4 8 "80 GiB"
	for n in $HEALTHY; do
		agent_start $n
	done
	wait_for 30 "all three healthy nodes assigned" all_assigned $HEALTHY
	wait_for 15 "every assignment acked" acked $HEALTHY
	GEN=$(status_json | jq -r .generation)
	for n in $HEALTHY; do
		cp "$T/$n/stage.env" "$T/$n/stage.env.placed"
		[ "$(hook_runs $n)" = 1 ] || fail "$n: on_assign ran $(hook_runs $n) times before any misuse"
	done
	log "three healthy nodes placed at generation $GEN"
}

# case_begin NAME: starts a case; the head log is checked from here on.
case_begin() {
	CASE_NAME=$1
	CASE_SINCE=$(wc -l <"$HEAD_LOG")
	log "case: $CASE_NAME"
}

# cert_args NAME: badpeer options that present certificate NAME.
cert_args() {
	echo "-c $CERTS/$1.pem -k $CERTS/$1.key -a $CERTS/ca.pem"
}

# badpeer ARGS...: runs the hostile client against the head. Its output
# goes to $BP_OUT and the test log. Its last "result:" line goes to
# BP_RESULT, and its local address (the head's name for it) to BP_LOCAL.
badpeer() {
	BP_N=$((BP_N + 1))
	BP_OUT="$T/badpeer.$BP_N.out"
	"$BADPEER" "$@" "127.0.0.1:$HEAD_PORT" >"$BP_OUT" 2>&1
	local rc=$?
	sed 's/^/    badpeer: /' "$BP_OUT"
	[ $rc = 0 ] || fail "$CASE_NAME: badpeer exited with $rc"
	BP_RESULT=$(sed -n 's/^result: //p' "$BP_OUT" | tail -n 1)
	BP_LOCAL=$(sed -n 's/^local address //p' "$BP_OUT" | tail -n 1)
	[ -n "$BP_RESULT" ] || fail "$CASE_NAME: badpeer printed no result"
}

# expect_result REGEX: badpeer's result matches the extended REGEX.
expect_result() {
	grep -Eq "$1" <<<"$BP_RESULT" ||
		fail "$CASE_NAME: the bad peer's result \"$BP_RESULT\" does not match /$1/"
}

head_log_since_case() {
	tail -n +"$((CASE_SINCE + 1))" "$HEAD_LOG"
}

case_logged() {
	head_log_since_case | grep -Eq -- "$1"
}

# expect_log REGEX: the head logs a line matching REGEX within 10 s of
# the case's start. "PEER" in REGEX stands for the bad peer's address.
expect_log() {
	local re=$1 peer
	peer=$(sed 's/[.[]/\\&/g; s/]/\\]/g' <<<"$BP_LOCAL")
	re=${re//PEER/$peer}
	wait_for 10 "$CASE_NAME: a head log line matching /$re/" case_logged "$re"
	head_log_since_case | grep -E -- "$re" | head -n 3 | sed 's/^/    head: /'
}

# expect_healthy: the head is alive and replies, and the healthy nodes
# hold the same generation, files and hook runs as when they were placed.
expect_healthy() {
	local n js
	kill -0 "$HEAD_PID" 2>/dev/null || fail "$CASE_NAME: the head exited"
	js=$(status_json) || fail "$CASE_NAME: the head does not answer on its control socket"
	[ "$(jq -r .generation <<<"$js")" = "$GEN" ] ||
		fail "$CASE_NAME: the plan generation changed from $GEN to $(jq -r .generation <<<"$js")"
	for n in $HEALTHY; do
		cmp -s "$T/$n/stage.env" "$T/$n/stage.env.placed" ||
			fail "$CASE_NAME: $n's environment file changed: $(diff "$T/$n/stage.env.placed" "$T/$n/stage.env")"
		[ "$(hook_runs $n)" = 1 ] || fail "$CASE_NAME: $n's on_assign hook ran again"
		jq -e --arg n "$n" --argjson g "$GEN" \
			'.nodes[] | select(.id == $n and .state == "assigned" and .connected and .acked_generation == $g)' \
			<<<"$js" >/dev/null || fail "$CASE_NAME: $n is no longer assigned and connected"
		kill -0 "$(agent_pid $n)" 2>/dev/null || fail "$CASE_NAME: agent $n exited"
	done
}

# node_gone NODE: the head does not list NODE as connected.
node_gone() {
	status_json | jq -e --arg n "$1" '[.nodes[] | select(.id == $n and .connected)] | length == 0' \
		>/dev/null
}

# expect_gone NODE: within 5 s, the head lists NODE as disconnected.
expect_gone() {
	wait_for 5 "$CASE_NAME: $1 to be listed as disconnected" node_gone "$1"
}

# metric NAME: the value of one sample of the head's /metrics, such as
# 'ppcoord_frames_total{direction="in"}' (the test sets HEAD_STATUS=1).
metric() {
	curl -sf "http://127.0.0.1:$STATUS_PORT/metrics" |
		awk -v m="$1" '$1 == m { print $2; found = 1 } END { exit !found }'
}

# metric_at_least NAME VALUE
metric_at_least() {
	local v
	v=$(metric "$1") || return 1
	[ "${v%.*}" -ge "$2" ]
}
