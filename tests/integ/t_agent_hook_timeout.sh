#!/bin/bash
# A hook still running after hook_timeout gets SIGTERM on its process
# group, and SIGKILL five seconds later when it ignores SIGTERM; the agent
# logs both, reaps it and stays registered.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

EXPECTED_NODES=1
head_start

agent_conf node-a 127.0.0.2 8 "80 GiB" 'hook_timeout = "1s";'
cat >"$T/node-a/stuck.sh" <<-'SH'
#!/bin/sh
trap '' TERM
echo "assign $PPCOORD_STATE $PPCOORD_GENERATION" >>"$1"
sleep 30
SH
chmod 755 "$T/node-a/stuck.sh"
sed -i "s|on_assign = .*|on_assign = [ \"$T/node-a/stuck.sh\", \"$T/node-a/hook.count\" ];|" \
	"$T/node-a/agent.conf"
agent_start node-a

wait_for 30 "node-a assigned" all_assigned node-a
wait_for 10 "the SIGTERM on timeout to be logged" \
	grep -q 'still running after hook_timeout 1000 ms: sending SIGTERM' "$T/node-a/agent.log"
wait_for 15 "the SIGKILL to be logged" \
	grep -q 'ignored SIGTERM for 5000 ms: sending SIGKILL' "$T/node-a/agent.log"
wait_for 5 "the killed hook to be reaped" \
	grep -q 'on_assign for generation 1 failed: killed by signal 9' "$T/node-a/agent.log"
pgrep -f "$T/node-a/stuck.sh" >/dev/null && fail "the stuck hook survived SIGKILL"
kill -0 "$(agent_pid node-a)" || fail "the agent exited after killing its hook"
wait_for 10 "the head to see the assignment acked" acked node-a
grep -q 'lost connection to head' "$T/node-a/agent.log" &&
	fail "the agent lost the head while its hook was stuck"
log "a stuck hook was terminated, killed and reaped"
