#!/bin/bash
# `ppcoordctl plan` against planref, a reference written from the planning
# rules alone, on thousands of random cases. The cases have 1 to 8 nodes
# with spares, pins, drivers and listed orders, and addresses that sort
# differently as strings. Models have uniform explicit sizes or
# non-uniform safetensors checkpoints. Every order and partition policy
# occurs, and some GPUs are too small for the model. Each printed plan must match the reference's node order, split
# and memory figures and reach its brute-force optimum; each infeasible
# case must exit 1. A disagreement prints the case's config and inventory.
#
# PLANREF_SEED (default 1) picks the cases, PLANREF_CASES (default 6000)
# and PLANREF_SECONDS (default 50) bound the run.
. "$(dirname "$0")/lib.sh"

PLANREF="$BIN/tests/planref"
[ -x "$CTL" ] || fail "$CTL is missing: run make first"
[ -x "$PLANREF" ] || fail "$PLANREF is missing: run make $BIN/tests/planref"

# kv_bytes_per_token from a Hugging Face config: 2 * num_key_value_heads
# * head_dim * dtype bytes, or (kv_lora_rank + qk_rope_head_dim) * dtype
# bytes with multi-head latent attention; kv_cache_dtype "fp8" makes the
# dtype bytes 1. head_dim defaults to hidden_size / num_attention_heads.
need_jq
printf '{"nodes": [%s]}\n' "$(inv_node big 10.0.0.1 2 2000000000000)" >"$T/big.json"
for model in "$SRC"/tests/models/*.json; do
	layers=$(jq .num_hidden_layers "$model")
	for dtype in auto fp8; do
		want=$(jq --arg d "$dtype" '
			(if $d == "fp8" then 1 elif .torch_dtype == "float32" then 4 else 2 end) as $b |
			if .kv_lora_rank then (.kv_lora_rank + .qk_rope_head_dim) * $b
			else 2 * .num_key_value_heads *
				(.head_dim // (.hidden_size / .num_attention_heads)) * $b
			end' "$model")
		cat >"$T/hf.conf" <<-CONF
		cluster = { expected_nodes = 1; };
		model = { layers = $layers; hf_config = "$model"; };
		plan = { tp_size = 2; kv_cache_dtype = "$dtype"; };
		CONF
		"$CTL" plan -f "$T/hf.conf" -i "$T/big.json" --format json \
			>"$T/hf.json" 2>"$T/hf.err" ||
			fail "plan with $model failed: $(cat "$T/hf.err")"
		got=$(jq .model.kv_bytes_per_token "$T/hf.json")
		[ "$got" = "$want" ] ||
			fail "kv_bytes_per_token of ${model##*/} ($dtype) is $got, expected $want"
	done
done

seed=${PLANREF_SEED:-1}
cases=${PLANREF_CASES:-6000}
seconds=${PLANREF_SECONDS:-50}

# A copy, so that a rebuild of the build directory during the run does
# not pull the program away from under the cases.
cp "$CTL" "$T/ppcoordctl" || fail "cannot copy $CTL"
rc=0
"$PLANREF" -c "$T/ppcoordctl" -d "$T/cases" -s "$seed" -n "$cases" -t "$seconds" \
	>"$T/planref.out" 2>&1 || rc=$?
cat "$T/planref.out"
ran=$(sed -n 's/^planref: \([0-9]*\) cases in .*/\1/p' "$T/planref.out")
[ -n "$ran" ] || fail "planref printed no summary (exit $rc)"
[ "$ran" -ge 500 ] || fail "planref ran only $ran cases in ${seconds}s"
[ "$rc" -eq 0 ] || fail "ppcoordctl plan disagrees with the reference on" \
	"$(grep -c '^==== DISAGREEMENT' "$T/planref.out") of $ran cases" \
	"(seed $seed; rerun one with $PLANREF -c $CTL -d DIR -1 SEED)"
log "ppcoordctl plan agrees with the reference on $ran cases from seed $seed"
