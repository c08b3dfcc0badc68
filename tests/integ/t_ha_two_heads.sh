#!/bin/bash
# Two heads on one etcd start at once: exactly one reports itself leader
# and the other follower naming it, and the follower sends an agent to
# the leader with NotLeader. ppcoord_leader is 1 only on the leader.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ha.sh"
need_bins
need_jq
make_certs
ha_etcd_start

EXPECTED_NODES=1
HEAD_STATUS=1
ha_head_launch 1
ha_head_launch 2
ha_head_wait 1
ha_head_wait 2

wait_for 10 "one head to lead" ha_one_leader
sleep 1
[ "$(ha_leaders | wc -l)" = 1 ] || fail "more than one leader: $(ha_leaders)"
L=$(ha_leaders)
F=$((3 - L))
log "head $L leads, head $F follows"
[ "$(ha_role "$F")" = follower ] || fail "head $F is $(ha_role "$F"), not follower"
[ "$(ha_status "$F" | jq -r '.leader')" = "127.0.0.1:${HPORT[$L]}" ] ||
	fail "head $F names leader $(ha_status "$F" | jq -r '.leader')"
[ "$(ha_status "$L" | jq -r '.store')" = etcd ] || fail "store is not etcd"
"$CTL" status -s "$T/head$F.sock" | grep -q "role follower, leader 127.0.0.1:${HPORT[$L]}, store etcd" ||
	fail "ppcoordctl status does not name the role and leader: $("$CTL" status -s "$T/head$F.sock")"

[ "$(ha_metric "$L" ppcoord_leader)" = 1 ] || fail "head $L: ppcoord_leader is not 1"
[ "$(ha_metric "$F" ppcoord_leader)" = 0 ] || fail "head $F: ppcoord_leader is not 0"
[ "$(ha_metric "$F" ppcoord_leader_changes_total)" = 1 ] ||
	fail "head $F: ppcoord_leader_changes_total is $(ha_metric "$F" ppcoord_leader_changes_total), not 1"

# An agent configured with only the follower is sent to the leader.
agent_conf node-a 127.0.0.2 8 "80 GiB" 'reconnect_max = "300ms";'
sed -i "s|^  head = .*|  head = \"127.0.0.1:${HPORT[$F]}\";|" "$T/node-a/agent.conf"
agent_start node-a
wait_for 15 "node-a assigned by the leader" ha_converged "$L" node-a
grep -q "is not the leader: connecting to 127.0.0.1:${HPORT[$L]}" "$T/node-a/agent.log" ||
	fail "node-a did not log the redirect to the leader"
log "the follower sent node-a to the leader, which assigned it"
