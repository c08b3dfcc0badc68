#!/bin/bash
# etcd stops under a running deployment and comes back. No agent is
# revoked meanwhile: every environment file keeps PPCOORD_STATE=assigned
# and no on_revoke runs. Once etcd is back a head leads again, takes
# every agent at the same generation, and plans again: a killed assigned
# agent's stages go to the spare.
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
L=$(ha_leaders)

i=2
for n in "${NODES[@]}"; do
	ha_agent_conf "$n" "127.0.0.$i"
	i=$((i + 1))
done
for n in "${NODES[@]}"; do
	agent_start "$n"
done
wait_for 20 "the plan on head $L" ha_converged "$L" "${NODES[@]}"
GEN=$(SOCK="$T/head$L.sock" head_gen)
declare -A RUNS
for n in "${NODES[@]}"; do
	RUNS[$n]=$(hook_runs "$n")
done

log "stopping etcd for 6 s"
ha_etcd_stop
wait_for 10 "head $L to step down" grep -q 'stepped down as leader' "$T/head$L.log"
sleep 6
for n in node-a node-b node-c; do
	state_is "$n" assigned || fail "$n is no longer assigned: $(cat "$T/$n/stage.env")"
done
state_is node-d standby || fail "node-d is no longer on standby"
for n in "${NODES[@]}"; do
	[ "$(revoke_runs "$n")" = 0 ] || fail "$n ran on_revoke while etcd was down"
	[ "$(env_gen "$n")" = "$GEN" ] || fail "$n's generation changed while etcd was down"
done
[ -z "$(ha_leaders)" ] || fail "head $(ha_leaders) leads without etcd"
log "no head leads and every agent keeps its assignment"

log "starting etcd again"
ha_etcd_restart
wait_for 15 "a leader after etcd returned" ha_one_leader
L=$(ha_leaders)
wait_for 20 "every agent on head $L" ha_converged "$L" "${NODES[@]}"
[ "$(SOCK="$T/head$L.sock" head_gen)" = "$GEN" ] || fail "the generation changed"
for n in "${NODES[@]}"; do
	[ "$(hook_runs "$n")" = "${RUNS[$n]}" ] || fail "$n ran its hook again"
	[ "$(revoke_runs "$n")" = 0 ] || fail "$n was revoked"
done
log "head $L leads generation $GEN again; killing node-a"

kill -KILL "$(agent_pid node-a)"
wait_for 15 "node-d to take node-a's stages" \
	grep -q 'spare node-d takes stages .* of lost node node-a' "$T/head$L.log"
wait_for 10 "node-d assigned" ha_converged "$L" node-b node-c node-d
state_is node-d assigned || fail "node-d is not assigned"
[ "$(SOCK="$T/head$L.sock" head_gen)" -gt "$GEN" ] || fail "no new generation"
log "planning resumed: node-d holds node-a's stages at generation $(env_gen node-d)"
