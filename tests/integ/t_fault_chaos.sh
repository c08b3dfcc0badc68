#!/bin/bash
# 50 rounds of random kills and restarts of agents and the head (kill -9
# and SIGTERM), with three nodes expected and five agents, so spares come
# and go. Afterwards every agent and the head run again, and the cluster
# must converge: one generation that every live node holds in its
# environment file and has acknowledged in the status, three nodes
# assigned to distinct stages as the head's plan says, two on standby,
# and each node's last hook run matching what it now holds.
#
# SEED=N repeats a run; the seed is logged. The rounds stop after
# CHAOS_S seconds (default 75) even when fewer than 50 have run, so the
# test stays within run.sh's default timeout of 120 s.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

fault_timings 200 1000 200
ROUNDS=50
CHAOS_S=${CHAOS_S:-75}
SEED=${SEED:-$(($(date +%s) % 32768))}
RANDOM=$SEED
NODES=(node-a node-b node-c node-d node-e)

EXPECTED_NODES=3
head_start
declare -A alive
i=2
for n in "${NODES[@]}"; do
	agent_conf "$n" "127.0.0.$i" 8 "80 GiB" 'reconnect_max = "300ms";'
	agent_start "$n"
	alive[$n]=1
	i=$((i + 1))
done
wait_for 20 "the first plan" converged "${NODES[@]}"
log "seed $SEED: $ROUNDS rounds, at most ${CHAOS_S}s"

# pick_node STATE: a random node whose alive flag is STATE, or nothing.
pick_node() {
	local n c=()
	for n in "${NODES[@]}"; do
		[ "${alive[$n]}" = "$1" ] && c+=("$n")
	done
	[ ${#c[@]} -gt 0 ] && echo "${c[RANDOM % ${#c[@]}]}"
}

stop_agent() {
	local n=$1 sig=$2 pid
	pid=$(agent_pid "$n")
	kill -"$sig" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	alive[$n]=0
}

restart_head() {
	local sig=$1
	kill -"$sig" "$HEAD_PID" 2>/dev/null
	wait "$HEAD_PID" 2>/dev/null
	HEAD_PID=""
	head_start
}

# alive_count: how many agents run.
alive_count() {
	local n c=0
	for n in "${NODES[@]}"; do
		[ "${alive[$n]}" = 1 ] && c=$((c + 1))
	done
	echo $c
}

# Stops and starts are equally likely, and one round in five restarts the
# head. Fewer than three running agents turn a stop into a start, so
# that the cluster spends most rounds with a plan and spares to lose.
end=$(($(date +%s) + CHAOS_S))
round=0
while [ "$round" -lt "$ROUNDS" ] && [ "$(date +%s)" -lt "$end" ]; do
	round=$((round + 1))
	action=$((RANDOM % 10))
	if [ "$action" -lt 4 ] && [ "$(alive_count)" -le 2 ]; then
		action=4
	elif [ "$action" -ge 4 ] && [ "$action" -lt 8 ] &&
		[ "$(alive_count)" = ${#NODES[@]} ]; then
		action=0
	fi
	case $action in
	0 | 1)
		n=$(pick_node 1)
		stop_agent "$n" KILL
		what="kill -9 agent $n"
		;;
	2 | 3)
		n=$(pick_node 1)
		stop_agent "$n" TERM
		what="SIGTERM agent $n"
		;;
	4 | 5 | 6 | 7)
		n=$(pick_node 0)
		agent_start "$n" >/dev/null
		alive[$n]=1
		what="start agent $n"
		;;
	8)
		restart_head KILL >/dev/null
		what="kill -9 and restart the head"
		;;
	9)
		restart_head TERM >/dev/null
		what="SIGTERM and restart the head"
		;;
	esac
	log "round $round: $what ($(alive_count) agents run)"
	# 0 to 1.5 s: some nodes return within node_timeout, others are lost.
	pause=$((RANDOM % 1500))
	sleep "$((pause / 1000)).$(printf %03d $((pause % 1000)))"
done
log "$round rounds done; starting every stopped agent"
[ "$round" -ge 30 ] || fail "only $round rounds ran in ${CHAOS_S}s"

for n in "${NODES[@]}"; do
	if [ "${alive[$n]}" = 0 ]; then
		agent_start "$n"
		alive[$n]=1
	fi
done
kill -0 "$HEAD_PID" 2>/dev/null || fail "the head is not running after the rounds"
t0=$(now_ms)
wait_for 30 "the cluster to converge on one generation" converged "${NODES[@]}"
log "converged on generation $(head_gen) after $(($(now_ms) - t0)) ms"
sleep 1	# a late push or hook would show by now
converged "${NODES[@]}" || fail "the cluster did not stay converged"

js=$(status_json)
gen=$(jq -r .generation <<<"$js")
[ "$(jq '[.nodes[] | select(.state == "assigned")] | length' <<<"$js")" = 3 ] ||
	fail "status does not show 3 assigned nodes: $(jq -c '[.nodes[] | {id, state}]' <<<"$js")"
[ "$(jq '[.nodes[] | select(.state == "standby")] | length' <<<"$js")" = 2 ] ||
	fail "status does not show 2 spares"
stages=""
for n in "${NODES[@]}"; do
	env="$T/$n/stage.env"
	st=$(env_get "$env" PPCOORD_STATE)
	if [ "$st" = assigned ]; then
		first=$(env_get "$env" PPCOORD_FIRST_STAGE)
		planned=$(jq -r --arg n "$n" '.plan.nodes[] | select(.id == $n) | .first_stage' <<<"$js")
		[ "$first" = "$planned" ] ||
			fail "$n's file says stage $first, the head's plan says ${planned:-none}"
		stages="$stages $first"
		last=$(tail -n 1 "$T/$n/hook.count" 2>/dev/null)
		[ "${last%% *}" = assign ] ||
			fail "$n is assigned but its last hook run was: ${last:-none}"
		[ "$(cut -d' ' -f4 <<<"$last")" = "$(env_get "$env" PPCOORD_NODE_RANK)" ] ||
			fail "$n's last on_assign ran for another node rank: $last"
	else
		last=$(tail -n 1 "$T/$n/hook.count" 2>/dev/null)
		[ -z "$last" ] || [ "${last%% *}" = revoke ] ||
			fail "$n is $st but its last hook run was: $last"
	fi
	log "$n: $st at generation $(env_gen "$n")${last:+, last hook: $last}"
done
[ "$(tr ' ' '\n' <<<"$stages" | grep -v '^$' | sort -u | tr '\n' ' ')" = "0 1 2 " ] ||
	fail "the assigned nodes hold stages$stages, expected 0 1 2 once each"

# Across the whole run a generation names one plan: no node held two
# placements under one generation, no stage went to two nodes under one
# generation, and no agent was sent a generation older than its own.
conflicts=$(for n in "${NODES[@]}"; do
	sed -n -E "s/.*assigned generation ([0-9]+): node rank ([0-9]+) of [0-9]+, [0-9]+ of [0-9]+ stages from stage ([0-9]+), layers ([0-9]+) to ([0-9]+).*/\1 $n \2 \3 \4 \5/p; s/.*assignment generation ([0-9]+) already held: node rank ([0-9]+), first stage ([0-9]+), layers ([0-9]+) to ([0-9]+).*/\1 $n \2 \3 \4 \5/p" \
		"$T/$n/agent.log"
done | awk '
	{
		key = $1 " " $2; val = $3 " " $4 " " $5 " " $6
		if ((key in placed) && placed[key] != val)
			print "generation " $1 ": " $2 " held rank/stage/layers " placed[key] " and " val
		placed[key] = val
		skey = $1 " " $4
		if ((skey in holder) && holder[skey] != $2)
			print "generation " $1 ": stage " $4 " went to " holder[skey] " and " $2
		holder[skey] = $2
	}' | sort -u)
[ -z "$conflicts" ] || fail "one generation named two plans: $conflicts"
assignments=$(cat "$T"/node-*/agent.log | grep -cE 'assigned generation|assignment generation [0-9]+ already held')
[ "$assignments" -gt 0 ] || fail "no assignment lines found in the agent logs"
grep -l 'older than the held generation' "$T"/node-*/agent.log &&
	fail "an agent was sent a generation older than the one it held"
log "$assignments assignments checked: each generation named one plan"
log "seed $SEED: converged on generation $gen with stages 0 1 2 and two spares"
