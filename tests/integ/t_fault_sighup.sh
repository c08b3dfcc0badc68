#!/bin/bash
# SIGHUP reloads of the head config. An invalid config is rejected with
# every error logged as FILE:LINE, and the head keeps running on the old
# config. A valid config that changes nothing makes no new generation. A
# config that moves stages (a pin) makes one, and every node
# acknowledges it.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

fault_timings 200 1000 200
NODES="node-a node-b node-c"

EXPECTED_NODES=3
head_start
i=2
for n in $NODES; do
	agent_conf "$n" "127.0.0.$i" 8 "80 GiB" 'reconnect_max = "300ms";'
	agent_start "$n"
	i=$((i + 1))
done
# shellcheck disable=SC2086
wait_for 20 "the first plan" converged $NODES
gen=$(head_gen)
cp "$HEAD_CONF" "$T/head.conf.good"
sleep 0.5	# let the hooks finish before counting them
declare -A runs
for n in $NODES; do
	cp "$T/$n/stage.env" "$T/$n.env.before"
	runs[$n]=$(hook_runs "$n")
done
[ "$(env_get "$T/node-c/stage.env" PPCOORD_FIRST_STAGE)" = 2 ] ||
	fail "node-c is not at stage 2 in the first plan"

# unchanged_everywhere WHAT: the generation, every environment file and
# every hook count are as before.
unchanged_everywhere() {
	local n
	[ "$(head_gen)" = "$gen" ] ||
		fail "$1 made generation $(head_gen), expected $gen"
	for n in $NODES; do
		cmp -s "$T/$n/stage.env" "$T/$n.env.before" ||
			fail "$1 changed $n's environment file"
		[ "$(hook_runs "$n")" = "${runs[$n]}" ] ||
			fail "$1 ran on_assign on $n"
	done
}

# reload: sends SIGHUP and waits until the head has handled it.
reload() {
	local before handled
	local done_re='(configuration reloaded|keeping the running configuration)'
	before=$(log_count "$HEAD_LOG" 'reloading ')
	handled=$(log_count "$HEAD_LOG" "$done_re")
	kill -HUP "$HEAD_PID"
	wait_for 5 "the head to handle SIGHUP" \
		log_count_gt "$HEAD_LOG" "$done_re" "$handled"
	log_count_gt "$HEAD_LOG" 'reloading ' "$before" ||
		fail "the head did not log the reload"
}

# An invalid config with three errors, and a pin that would move node-c
# if it were applied.
NODE_TIMEOUT="ten"
CLUSTER_EXTRA='heartbeat_intervall = "1s";'
HEAD_PLAN='tp_size = 8; order = "sideways"; pins = ( { node = "node-c"; stage = 0; } );'
write_head_conf
ln_key=$(grep -n 'heartbeat_intervall' "$HEAD_CONF" | cut -d: -f1)
ln_timeout=$(grep -n 'node_timeout' "$HEAD_CONF" | cut -d: -f1)
ln_order=$(grep -n 'sideways' "$HEAD_CONF" | cut -d: -f1)
rejected=$(log_count "$HEAD_LOG" 'keeping the running configuration')
reload
log_count_gt "$HEAD_LOG" 'keeping the running configuration' "$rejected" ||
	fail "the head did not reject the invalid config"
for ln in "$ln_key" "$ln_timeout" "$ln_order"; do
	grep -qF "$HEAD_CONF:$ln: " "$HEAD_LOG" ||
		fail "the error on line $ln of the invalid config is not logged as $HEAD_CONF:$ln: ($(sed -n "${ln}p" "$HEAD_CONF"))"
	log "head: $(grep -F "$HEAD_CONF:$ln: " "$HEAD_LOG" | tail -n 1)"
done
kill -0 "$HEAD_PID" || fail "the head exited on an invalid config"
sleep 2	# two node_timeouts: the old timings still hold the cluster together
# shellcheck disable=SC2086
converged $NODES || fail "the cluster fell apart after the invalid config"
unchanged_everywhere "the rejected config"
grep -q 'configuration reloaded' "$HEAD_LOG" &&
	fail "the head reported the invalid config as reloaded"

# The old config again, byte for byte: nothing changes.
cp "$T/head.conf.good" "$HEAD_CONF"
reload
grep -q 'configuration reloaded' "$HEAD_LOG" ||
	fail "the head did not reload the valid config"
sleep 1
# shellcheck disable=SC2086
converged $NODES || fail "the cluster is not converged after an unchanged config"
unchanged_everywhere "an unchanged config"

# A pin moves node-c to stage 0: a new generation that every node holds.
NODE_TIMEOUT="${TIMEOUT_MS}ms"
CLUSTER_EXTRA=""
HEAD_PLAN='tp_size = 8; pins = ( { node = "node-c"; stage = 0; } );'
write_head_conf
reloads=$(log_count "$HEAD_LOG" 'configuration reloaded')
reload
log_count_gt "$HEAD_LOG" 'configuration reloaded' "$reloads" ||
	fail "the head did not reload the config with the pin"
# shellcheck disable=SC2086
wait_for 10 "every node to acknowledge the pinned plan" converged $NODES
[ "$(head_gen)" = $((gen + 1)) ] ||
	fail "the pin made generation $(head_gen), expected $((gen + 1))"
[ "$(env_get "$T/node-c/stage.env" PPCOORD_FIRST_STAGE)" = 0 ] ||
	fail "node-c is not at stage 0 after the pin: $(cat "$T/node-c/stage.env")"
[ "$(env_get "$T/node-c/stage.env" PPCOORD_NODE_RANK)" = 0 ] ||
	fail "node-c is not node rank 0 after the pin"
sleep 0.5
[ "$(hook_runs node-c)" = $((runs[node-c] + 1)) ] ||
	fail "on_assign ran $(hook_runs node-c) times on the moved node-c, expected $((runs[node-c] + 1))"
log "reloads: invalid rejected, unchanged kept generation $gen, pin made $(head_gen)"
