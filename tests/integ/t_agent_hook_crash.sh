#!/bin/bash
# An agent killed while its on_assign hook runs owes that hook: after the
# restart, the head confirms the assignment it holds and the agent runs
# on_assign again, once. A hook that finished is not rerun.
. "$(dirname "$0")/lib.sh"
need_bins
make_certs

# hook_runs_are NAME N: NAME's on_assign finished exactly N times.
hook_runs_are() {
	[ "$(hook_runs "$1")" = "$2" ]
}

EXPECTED_NODES=1
head_start
agent_conf node-a 127.0.0.2 8 "80 GiB" 'reconnect_max = "1s";'
d="$T/node-a"
# A slow hook: it records its pid, then counts its run only at the end.
cat >"$d/hook.sh" <<-'EOF2'
#!/bin/sh
echo $$ >"$2.pid"
sleep 30
echo "$1 $PPCOORD_STATE $PPCOORD_GENERATION $PPCOORD_NODE_RANK" >>"$2"
EOF2
agent_start node-a
wait_for 30 "node-a assigned" all_assigned node-a
wait_for 10 "the slow on_assign to start" test -s "$d/hook.count.pid"
[ -e "$d/stage.env.hook-pending" ] ||
	fail "no pending-hook marker while on_assign runs"

# The node crashes: the agent and its hook die together.
kill -KILL "$(agent_pid node-a)" "$(cat "$d/hook.count.pid")"
wait "$(agent_pid node-a)" 2>/dev/null
hook_runs_are node-a 0 || fail "the killed hook counted a run"

# A fast hook from now on.
cat >"$d/hook.sh" <<-'EOF2'
#!/bin/sh
echo "$1 $PPCOORD_STATE $PPCOORD_GENERATION $PPCOORD_NODE_RANK" >>"$2"
EOF2
agent_start node-a
wait_for 30 "on_assign to run after the restart" hook_runs_are node-a 1
grep -q 'did not finish before the agent stopped' "$d/agent.log" ||
	fail "the restarted agent did not log the unfinished hook"
wait_for 10 "the marker to go once the hook finished" \
	test ! -e "$d/stage.env.hook-pending"

# Restarting again owes nothing.
kill -TERM "$(agent_pid node-a)"
wait "$(agent_pid node-a)" 2>/dev/null
agent_start node-a
wait_for 30 "the second restart to register" \
	sh -c "[ \$(grep -c 'registered with head' '$d/agent.log') -ge 3 ]"
sleep 1
hook_runs_are node-a 1 ||
	fail "on_assign ran $(hook_runs node-a) times; a finished hook was rerun"
log "an unfinished on_assign ran again after the restart, a finished one did not"
