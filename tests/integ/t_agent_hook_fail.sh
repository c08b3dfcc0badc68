#!/bin/bash
# A hook that fails is logged with its exit status and its stderr, runs
# once, and leaves the agent running, registered and acknowledged.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

EXPECTED_NODES=1
head_start

agent_conf node-a 127.0.0.2 8 "80 GiB"
cat >"$T/node-a/fail.sh" <<-'SH'
#!/bin/sh
echo "assign $PPCOORD_STATE $PPCOORD_GENERATION" >>"$1"
echo "hook: failing on purpose" >&2
exit 3
SH
chmod 755 "$T/node-a/fail.sh"
sed -i "s|on_assign = .*|on_assign = [ \"$T/node-a/fail.sh\", \"$T/node-a/hook.count\" ];|" \
	"$T/node-a/agent.conf"
agent_start node-a

wait_for 30 "node-a assigned" all_assigned node-a
wait_for 10 "the failing hook to be logged" \
	grep -q 'on_assign for generation 1 failed: exit status 3' "$T/node-a/agent.log"
grep -q 'hook: failing on purpose' "$T/node-a/agent.log" ||
	fail "the hook's stderr did not reach the agent's log"
grep -q "^assign assigned 1\$" "$T/node-a/hook.count" ||
	fail "the hook did not see PPCOORD_STATE and PPCOORD_GENERATION"
wait_for 10 "the head to see the assignment acked" acked node-a
sleep 2	# several heartbeats
kill -0 "$(agent_pid node-a)" || fail "the agent exited after a failing hook"
[ "$(hook_runs node-a)" = 1 ] || fail "the failing hook ran $(hook_runs node-a) times"
grep -q 'lost connection to head' "$T/node-a/agent.log" &&
	fail "the agent lost the head after a failing hook"
log "a failing hook was logged and the agent kept running"
