#!/bin/bash
# SIGHUP on the head: an invalid config is logged and the running plan
# stays. An unchanged config reruns no hook. A new pin re-plans, and only
# the nodes whose placement changed rerun on_assign. The result is what
# `ppcoordctl plan` computes for the new config.
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

HEAD_PLAN='tp_size = 8;
  order = "vllm";'
head_start
agent_conf node-a 127.0.0.2 8 "80 GiB"
agent_conf node-b 127.0.0.3 8 "80 GiB"
agent_conf node-c 127.0.0.4 8 "80 GiB"
for n in node-a node-b node-c; do
	agent_start $n
done
wait_for 30 "all three nodes assigned" all_assigned node-a node-b node-c
wait_for 15 "every assignment acked" acked node-a node-b node-c
gen1=$(status_json | jq -r .generation)
[ "$(env_get "$T/node-b/stage.env" PPCOORD_FIRST_STAGE)" = 1 ] || fail "node-b is not at stage 1 in vllm order"
[ "$(env_get "$T/node-c/stage.env" PPCOORD_FIRST_STAGE)" = 2 ] || fail "node-c is not at stage 2 in vllm order"

# An invalid config: the head keeps running on the old one.
cp "$HEAD_CONF" "$T/head.conf.good"
sed -i 's/order = "vllm"/order = "sideways"/' "$HEAD_CONF"
since=$(wc -l <"$HEAD_LOG")
kill -HUP "$HEAD_PID"
wait_for 10 "the head to reject the invalid config" \
	sh -c "tail -n +$((since + 1)) '$HEAD_LOG' | grep -q 'keeping the running'"
tail -n +$((since + 1)) "$HEAD_LOG" | grep -q "head.conf:[0-9]*: .*sideways" ||
	fail "the reload error does not name the file, line and value"
tail -n +$((since + 1)) "$HEAD_LOG" | grep -v debug:
kill -0 "$HEAD_PID" || fail "the head exited on an invalid reload"
[ "$(status_json | jq -r .generation)" = "$gen1" ] || fail "an invalid reload changed the plan"

# The same config again: nothing moves, no hook reruns.
cp "$T/head.conf.good" "$HEAD_CONF"
since=$(wc -l <"$HEAD_LOG")
kill -HUP "$HEAD_PID"
wait_for 10 "the head to reload" \
	sh -c "tail -n +$((since + 1)) '$HEAD_LOG' | grep -q 'configuration reloaded'"
sleep 1
wait_for 10 "every assignment acked" acked node-a node-b node-c
for n in node-a node-b node-c; do
	[ "$(hook_runs $n)" = 1 ] || fail "$n: on_assign ran $(hook_runs $n) times after an unchanged reload"
done

# Pin node-b to the last stage: node-b and node-c swap, node-a stays.
HEAD_PLAN='tp_size = 8;
  order = "vllm";
  pins = ( { node = "node-b"; stage = 2; } );'
write_head_conf
"$HEAD" -n -f "$HEAD_CONF" || fail "the new config is invalid"
kill -HUP "$HEAD_PID"
wait_for 15 "node-b moved to stage 2" \
	sh -c "grep -qx 'PPCOORD_FIRST_STAGE=2' '$T/node-b/stage.env'"
wait_for 15 "every new assignment acked" acked node-a node-b node-c
gen2=$(status_json | jq -r .generation)
[ "$gen2" -gt "$gen1" ] || fail "generation $gen2 after the new pin, was $gen1"

cat >"$T/inventory.json" <<-INV
{"nodes": [
$(inv_node node-a 127.0.0.2 8 $((80 << 30))),
$(inv_node node-b 127.0.0.3 8 $((80 << 30))),
$(inv_node node-c 127.0.0.4 8 $((80 << 30)))
]}
INV
"$CTL" plan -f "$HEAD_CONF" -i "$T/inventory.json" --format env >"$T/plan.env" ||
	fail "ppcoordctl plan failed on the new config"
for n in node-a node-b node-c; do
	plan_env_for $n "$T/plan.env" >"$T/$n.expected"
	env_plan_part "$T/$n/stage.env" >"$T/$n.actual"
	diff -u "$T/$n.expected" "$T/$n.actual" || fail "$n: file differs from ppcoordctl plan after the reload"
	[ "$(env_get "$T/$n/stage.env" PPCOORD_GENERATION)" = "$gen2" ] ||
		fail "$n: file holds another generation than $gen2"
done

[ "$(hook_runs node-a)" = 1 ] || fail "node-a kept its place but on_assign ran $(hook_runs node-a) times"
[ "$(hook_runs node-b)" = 2 ] || fail "node-b moved but on_assign ran $(hook_runs node-b) times"
[ "$(hook_runs node-c)" = 2 ] || fail "node-c moved but on_assign ran $(hook_runs node-c) times"
log "reload kept, skipped and re-planned as expected"
