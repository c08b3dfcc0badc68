#!/bin/bash
# A spare takes exactly the stages of a lost node: the other node keeps
# its stage, and the generation goes up by one in the agents' files, the
# state file and the status. A second loss with no spare left revokes
# the plan.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

EXPECTED_NODES=2
head_start
# vLLM order with equal workers sorts by address: a, b placed, c spare.
agent_conf node-a 127.0.0.2 8 "80 GiB"
agent_conf node-b 127.0.0.3 8 "80 GiB"
agent_conf node-c 127.0.0.4 8 "80 GiB"
for n in node-a node-b; do
	agent_start $n
done
wait_for 30 "node-a and node-b assigned" all_assigned node-a node-b
agent_start node-c
wait_for 15 "node-c standby" state_is node-c standby
wait_for 10 "both assignments acked" acked node-a node-b
[ "$(status_json | jq -r '.nodes[] | select(.id == "node-c") | .state')" = standby ] ||
	fail "status does not show node-c as standby"
stage_b=$(env_get "$T/node-b/stage.env" PPCOORD_FIRST_STAGE)
stage_a=$(env_get "$T/node-a/stage.env" PPCOORD_FIRST_STAGE)

kill -KILL "$(agent_pid node-b)"
wait "$(agent_pid node-b)" 2>/dev/null
wait_for 20 "node-c assigned in node-b's place" state_is node-c assigned
wait_for 10 "the takeover acked" acked node-a node-c
[ "$(env_get "$T/node-c/stage.env" PPCOORD_FIRST_STAGE)" = "$stage_b" ] ||
	fail "node-c did not take node-b's stage $stage_b"
[ "$(env_get "$T/node-a/stage.env" PPCOORD_FIRST_STAGE)" = "$stage_a" ] ||
	fail "node-a moved from stage $stage_a"
[ "$(status_json | jq -r .generation)" = 2 ] || fail "takeover is not generation 2"
[ "$(env_get "$T/node-a/stage.env" PPCOORD_GENERATION)" = 2 ] ||
	fail "node-a did not get generation 2"
[ "$(jq -r .generation "$T/plan.state")" = 2 ] ||
	fail "the state file does not hold generation 2"
grep -q 'spare node-c takes stages' "$HEAD_LOG" || fail "no takeover log line"

# No spare left: losing node-c revokes the plan on node-a.
kill -KILL "$(agent_pid node-c)"
wait "$(agent_pid node-c)" 2>/dev/null
wait_for 20 "node-a revoked" state_is node-a revoked
[ "$(status_json | jq -r .state)" = revoked ] || fail "head state is not revoked"
log "the spare took node-b's stage; the next loss revoked the plan"
