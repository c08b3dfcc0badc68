#!/bin/bash
# A leader paused past its lease (SIGSTOP) loses the election. After
# SIGCONT every agent it held looks lost to it, yet it must not plan or
# push: it steps down (before or at its fenced write) and logs it, and
# no agent's environment file or hook changes because of it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ha.sh"
need_bins
need_jq
make_certs
ha_etcd_start

EXPECTED_NODES=3
HEARTBEAT_INTERVAL="300ms"
NODE_TIMEOUT="3s"
SETTLE_TIME="300ms"
LEASE_TTL="2s"
NODES=(node-a node-b node-c node-d)

for i in 1 2; do
	HPORT[$i]=$(free_port) || fail "no free port"
done
ha_head_launch 1
ha_head_launch 2
ha_head_wait 1
ha_head_wait 2
wait_for 10 "one head to lead" ha_one_leader
OLD=$(ha_leaders)
NEW=$((3 - OLD))
log "head $OLD leads"

i=2
for n in "${NODES[@]}"; do
	ha_agent_conf "$n" "127.0.0.$i"
	i=$((i + 1))
done
for n in "${NODES[@]}"; do
	agent_start "$n"
done
wait_for 20 "the plan on head $OLD" ha_converged "$OLD" "${NODES[@]}"
GEN=$(SOCK="$T/head$OLD.sock" head_gen)

log "pausing head $OLD for 6 s, past its 2 s lease and the 3 s node_timeout"
kill -STOP "${HPID[$OLD]}"
wait_for 10 "head $NEW to lead" ha_role_is "$NEW" leader
wait_for 20 "every agent on head $NEW" ha_converged "$NEW" "${NODES[@]}"
[ "$(SOCK="$T/head$NEW.sock" head_gen)" = "$GEN" ] || fail "the generation changed"
declare -A RUNS
for n in "${NODES[@]}"; do
	RUNS[$n]=$(hook_runs "$n")
	cp "$T/$n/stage.env" "$T/$n.before"
done
sleep 3

log "resuming head $OLD"
kill -CONT "${HPID[$OLD]}"
wait_for 10 "head $OLD to log that it stepped down" \
	grep -q 'stepped down as leader' "$T/head$OLD.log"
log "head $OLD: $(grep 'stepped down as leader' "$T/head$OLD.log" | head -n 1 | cut -c 40-)"
sleep 2

[ "$(ha_role "$OLD")" = follower ] || fail "head $OLD is $(ha_role "$OLD") after the pause"
[ "$(ha_role "$NEW")" = leader ] || fail "head $NEW no longer leads"
planned=$(grep -E 'plan generation [0-9]+ \(|revoked:|re-planned' "$T/head$OLD.log" |
	grep -v "plan generation $GEN (first plan)")
[ -z "$planned" ] || fail "head $OLD planned after the pause: $planned"
for n in "${NODES[@]}"; do
	cmp -s "$T/$n/stage.env" "$T/$n.before" ||
		fail "$n's environment file changed: $(diff "$T/$n.before" "$T/$n/stage.env")"
	[ "$(hook_runs "$n")" = "${RUNS[$n]}" ] || fail "$n ran its hook again"
	[ "$(revoke_runs "$n")" = 0 ] || fail "$n was revoked"
done
ha_converged "$NEW" "${NODES[@]}" || fail "the agents left head $NEW"
log "the paused head stepped down and changed no agent"
