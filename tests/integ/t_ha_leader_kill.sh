#!/bin/bash
# Three heads on etcd, three assigned agents and a spare. The leader is
# killed with SIGKILL: another head leads within lease_ttl + 1 s, every
# agent ends on it at the same generation, and no hook runs again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ha.sh"
need_bins
need_jq
make_certs
ha_etcd_start

EXPECTED_NODES=3
HEARTBEAT_INTERVAL="300ms"
NODE_TIMEOUT="5s"
SETTLE_TIME="300ms"
LEASE_TTL="2s"
TTL_MS=2000
NODES=(node-a node-b node-c node-d)

for i in 1 2 3; do
	HPORT[$i]=$(free_port) || fail "no free port"
done
for i in 1 2 3; do
	ha_head_launch "$i"
done
for i in 1 2 3; do
	ha_head_wait "$i"
done
wait_for 10 "one head to lead" ha_one_leader
OLD=$(ha_leaders)
log "head $OLD leads"

i=2
for n in "${NODES[@]}"; do
	ha_agent_conf "$n" "127.0.0.$i"
	i=$((i + 1))
done
for n in node-a node-b node-c; do
	agent_start "$n"
done
wait_for 20 "the first plan on head $OLD" ha_converged "$OLD" node-a node-b node-c
agent_start node-d
wait_for 20 "node-d on standby" ha_converged "$OLD" "${NODES[@]}"
state_is node-d standby || fail "node-d is not the spare"

GEN=$(SOCK="$T/head$OLD.sock" head_gen)
declare -A RUNS
for n in "${NODES[@]}"; do
	RUNS[$n]=$(hook_runs "$n")
	env_placement "$n" >"$T/$n.before"
done
log "generation $GEN pushed; killing head $OLD"

t0=$(now_ms)
kill -KILL "${HPID[$OLD]}"
wait "${HPID[$OLD]}" 2>/dev/null
unset "HPID[$OLD]"
wait_for 10 "a new leader" ha_one_leader
took=$(($(now_ms) - t0))
NEW=$(ha_leaders)
log "head $NEW leads $took ms after the kill"
[ "$took" -le $((TTL_MS + 1000)) ] ||
	fail "the new leader took $took ms, more than lease_ttl + 1 s"

wait_for 20 "every agent on head $NEW" ha_converged "$NEW" "${NODES[@]}"
[ "$(SOCK="$T/head$NEW.sock" head_gen)" = "$GEN" ] ||
	fail "generation changed from $GEN to $(SOCK="$T/head$NEW.sock" head_gen)"
for n in "${NODES[@]}"; do
	[ "$(hook_runs "$n")" = "${RUNS[$n]}" ] ||
		fail "$n ran its hook again: $(cat "$T/$n/hook.count")"
	[ "$(revoke_runs "$n")" = 0 ] || fail "$n was revoked"
	env_placement "$n" | cmp -s - "$T/$n.before" ||
		fail "$n's environment file changed: $(cat "$T/$n/stage.env")"
done
grep -q 'leading cluster integ from generation '"$GEN" "$T/head$NEW.log" ||
	fail "head $NEW did not restore generation $GEN from etcd"
log "every agent is on head $NEW at generation $GEN with no hook rerun"
