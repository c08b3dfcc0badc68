#!/bin/bash
# `ppcoordctl plan` offline: the json, table and env formats of one plan
# agree; an infeasible plan exits 1, bad usage and invalid files exit 2;
# --explain adds the reasons and the even-split comparison without
# breaking the JSON on stdout.
. "$(dirname "$0")/lib.sh"
need_jq
[ -x "$CTL" ] || fail "$CTL is missing: run make first"

GiB=$((1 << 30))
INV="$T/inventory.json"
CONF="$T/plan.conf"

# Four nodes of 8 GPUs for three stages: vLLM's order compares addresses
# as strings, so 10.0.0.10 < 10.0.0.11 < 10.0.0.9 < 10.0.0.90, and gpu-d
# (10.0.0.90) is the spare.
{
	printf '{"nodes": [\n'
	inv_node gpu-b 10.0.0.9 8 $((80 * GiB)); printf ',\n'
	inv_node gpu-a 10.0.0.10 8 $((80 * GiB)); printf ',\n'
	inv_node gpu-c 10.0.0.11 8 $((40 * GiB)); printf ',\n'
	inv_node gpu-d 10.0.0.90 8 $((80 * GiB)); printf '\n'
	printf ']}\n'
} >"$INV"

# write_conf PLAN_LINES [MODEL_LINES]
write_conf() {
	cat >"$CONF" <<-CONF
	cluster = {
	  expected_nodes = 3;
	  master_port = 29555;
	};
	model = {
	  layers = 80;
	  ${2:-}
	};
	plan = {
	  $1
	};
	CONF
}

# expect_exit CODE OUTFILE ERRFILE ARGS...: runs ppcoordctl and checks its
# exit status.
expect_exit() {
	local want=$1 out=$2 err=$3 rc=0
	shift 3
	"$CTL" "$@" >"$out" 2>"$err" || rc=$?
	[ "$rc" = "$want" ] ||
		fail "ppcoordctl $* exited $rc, expected $want: $(cat "$err")"
}

write_conf 'tp_size = 8; order = "vllm"; partition = "even";'

# JSON: the documented members with the expected values.
expect_exit 0 "$T/plan.json" "$T/plan.err" plan -f "$CONF" -i "$INV" --format json
jq -e . "$T/plan.json" >/dev/null || fail "--format json is not JSON"
[ "$(jq -c .layer_partition "$T/plan.json")" = '[27,27,26]' ] ||
	fail "layer_partition is $(jq -c .layer_partition "$T/plan.json")"
[ "$(jq -r '[.nodes[].id] | join(",")' "$T/plan.json")" = gpu-a,gpu-c,gpu-b ] ||
	fail "node order is $(jq -r '[.nodes[].id] | join(",")' "$T/plan.json")"
[ "$(jq -r '[.nodes[].node_rank] | join(",")' "$T/plan.json")" = 0,1,2 ] ||
	fail "node ranks are not 0,1,2"
[ "$(jq -r '[.stages[] | "\(.node):\(.first_layer)-\(.end_layer)"] | join(",")' "$T/plan.json")" = \
	gpu-a:0-27,gpu-c:27-54,gpu-b:54-80 ] || fail "stage layer ranges are wrong"
[ "$(jq -c .spares "$T/plan.json")" = '["gpu-d"]' ] || fail "gpu-d is not the spare"
[ "$(jq -r .master_addr "$T/plan.json")" = 10.0.0.10 ] || fail "master_addr is not rank 0's address"
[ "$(jq -r .master_port "$T/plan.json")" = 29555 ] || fail "master_port is not cluster.master_port"
jq -e 'has("kv_tokens") or has("model") | not' "$T/plan.json" >/dev/null ||
	fail "memory figures present without model sizes"

# Table: the header and one row per stage.
expect_exit 0 "$T/plan.txt" "$T/table.err" plan -f "$CONF" -i "$INV"
cat "$T/plan.txt"
grep -q '^generation 0, 3 stages, tp 8, 80 layers, order vllm, partition even$' "$T/plan.txt" ||
	fail "table header line is wrong"
grep -Eq '^1 +gpu-c +10\.0\.0\.11 +1 +27-54 +27$' "$T/plan.txt" || fail "table row of stage 1 is wrong"
grep -Eq '^2 +gpu-b +10\.0\.0\.9 +2 +54-80 +26$' "$T/plan.txt" || fail "table row of stage 2 is wrong"
grep -q 'gpu-d 10.0.0.90' "$T/plan.txt" || fail "table does not list the spare gpu-d"

# Env: one block per node, then the spare's standby file.
expect_exit 0 "$T/plan.env" "$T/env.err" plan -f "$CONF" -i "$INV" --format env
[ "$(grep -c '^# node ' "$T/plan.env")" = 4 ] || fail "env output does not have 4 blocks"
grep -qx '# node gpu-d (spare)' "$T/plan.env" || fail "env output lacks the spare's block"
block=$(plan_env_for gpu-b "$T/plan.env")
for kv in PPCOORD_STATE=assigned PPCOORD_NODE_RANK=2 PPCOORD_NNODES=3 \
	PPCOORD_FIRST_STAGE=2 PPCOORD_STAGE_COUNT=1 PPCOORD_NUM_STAGES=3 \
	PPCOORD_TP_SIZE=8 PPCOORD_FIRST_LAYER=54 PPCOORD_END_LAYER=80 \
	PPCOORD_MASTER_ADDR=10.0.0.10 PPCOORD_MASTER_PORT=29555 \
	VLLM_PP_LAYER_PARTITION=27,27,26 SGLANG_PP_LAYER_PARTITION=27,27,26; do
	grep -qx "$kv" <<<"$block" || fail "gpu-b's env block lacks $kv"
done
[ "$(plan_env_for gpu-d "$T/plan.env" | tr '\n' ' ')" = 'PPCOORD_NODE_ID=gpu-d PPCOORD_STATE=standby ' ] ||
	fail "gpu-d's block is not a standby file: $(plan_env_for gpu-d "$T/plan.env")"

# --explain after the table; after JSON on stderr, stdout stays JSON.
expect_exit 0 "$T/explain.txt" "$T/explain.err" plan -f "$CONF" -i "$INV" --explain
grep -q '^Node order (order vllm):' "$T/explain.txt" || fail "--explain printed no node order"
grep -q 'No memory figures' "$T/explain.txt" || fail "--explain does not say memory figures are missing"
expect_exit 0 "$T/explain.json" "$T/explain.json.err" plan -f "$CONF" -i "$INV" --format json --explain
jq -e . "$T/explain.json" >/dev/null || fail "--format json --explain broke the JSON on stdout"
grep -q '^Node order' "$T/explain.json.err" || fail "--format json --explain printed no explanation on stderr"

# With model sizes and the memory split: memory figures, and the even
# split would put 27 layers of 12 GiB (40.5 GiB per GPU at tp 8) on
# gpu-c's 40 GiB GPUs, more than their 35 GiB budget.
write_conf 'tp_size = 8; order = "vllm"; partition = "memory";' \
	'layer_bytes = "12 GiB"; embedding_bytes = "2 GiB"; head_bytes = "2 GiB"; kv_bytes_per_token = 327680;'
expect_exit 0 "$T/mem.json" "$T/mem.err" plan -f "$CONF" -i "$INV" --format json
jq -e '.kv_tokens > 0 and (.model.layer_bytes | length) == 80 and ([.stages[] | has("budget_bytes") and has("weight_bytes") and has("kv_tokens")] | all)' \
	"$T/mem.json" >/dev/null || fail "memory figures missing from the plan JSON"
jq -e '[.stages[].kv_tokens] | min' "$T/mem.json" >/dev/null || fail "stages have no kv_tokens"
[ "$(jq '[.stages[].kv_tokens] | min' "$T/mem.json")" = "$(jq .kv_tokens "$T/mem.json")" ] ||
	fail "kv_tokens is not the smallest stage's"
expect_exit 0 "$T/mem.txt" "$T/mem.err" plan -f "$CONF" -i "$INV" --explain
cat "$T/mem.txt"
grep -q 'EVEN_KV_TOKENS' "$T/mem.txt" || fail "--explain has no even-split columns"
grep -E '^ +1 +gpu-c ' "$T/mem.txt" | grep -q OOM || fail "--explain does not mark the even split of gpu-c OOM"
[ "$(grep -c OOM "$T/mem.txt")" = 1 ] || fail "--explain marks stages other than gpu-c's OOM"

# Exit 1: no plan satisfies the inputs.
write_conf 'tp_size = 16;'
expect_exit 1 "$T/tp.out" "$T/tp.err" plan -f "$CONF" -i "$INV"
grep -q 'tp_size' "$T/tp.err" || fail "infeasible tp_size message does not name tp_size: $(cat "$T/tp.err")"
[ ! -s "$T/tp.out" ] || fail "an infeasible plan printed output"

# Exit 2: a misspelt key (named with file and line), invalid inventory
# JSON, a missing file, a missing option, an unknown format.
write_conf 'tp_size = 8; partiton = "even";'
expect_exit 2 "$T/typo.out" "$T/typo.err" plan -f "$CONF" -i "$INV"
grep -q "^$CONF:[0-9]*:.*partiton" "$T/typo.err" || fail "config error lacks FILE:LINE: $(cat "$T/typo.err")"
write_conf 'tp_size = 8;'
printf '{"nodes": [' >"$T/broken.json"
expect_exit 2 "$T/broken.out" "$T/broken.err" plan -f "$CONF" -i "$T/broken.json"
grep -q broken.json "$T/broken.err" || fail "inventory error does not name the file"
expect_exit 2 "$T/missing.out" "$T/missing.err" plan -f "$CONF" -i "$T/nonexistent.json"
expect_exit 2 "$T/noinv.out" "$T/noinv.err" plan -f "$CONF"
grep -q 'missing -i INVENTORY_JSON' "$T/noinv.err" || fail "bad usage does not name the missing option: $(cat "$T/noinv.err")"
[ "$(wc -l <"$T/noinv.err")" -eq 1 ] || fail "bad usage printed more than one line: $(cat "$T/noinv.err")"
# Only a bare ppcoordctl prints the whole usage, on stderr with exit 2.
expect_exit 2 "$T/bare.out" "$T/bare.err"
grep -q '^usage:' "$T/bare.err" || fail "ppcoordctl without arguments does not print the usage"
expect_exit 2 "$T/fmt.out" "$T/fmt.err" plan -f "$CONF" -i "$INV" --format yaml
expect_exit 2 "$T/sub.out" "$T/sub.err" frobnicate

# -h lists every subcommand.
expect_exit 0 "$T/help.out" "$T/help.err" -h
for word in 'plan -f' status inventory probe 'ca init' 'ca issue' --explain --days; do
	grep -q -- "$word" "$T/help.out" || fail "usage text lacks $word"
done
log "ppcoordctl plan formats and exit codes are right"
