#!/bin/bash
# `ppcoordctl plan` against planref, a reference written from the planning
# rules alone, on thousands of random cases: 1 to 8 nodes with spares,
# pins, drivers and listed orders; addresses that sort differently as
# strings; uniform explicit sizes and non-uniform safetensors checkpoints;
# every order and partition policy; GPUs small enough that some cases do
# not fit. Each printed plan must match the reference's node order, split
# and memory figures and reach its brute-force optimum; each infeasible
# case must exit 1. A disagreement prints the case's config and inventory.
#
# PLANREF_SEED (default 1) picks the cases, PLANREF_CASES (default 6000)
# and PLANREF_SECONDS (default 50) bound the run.
. "$(dirname "$0")/lib.sh"

PLANREF="$BIN/tests/planref"
[ -x "$CTL" ] || fail "$CTL is missing: run make first"
[ -x "$PLANREF" ] || fail "$PLANREF is missing: run make $BIN/tests/planref"

seed=${PLANREF_SEED:-1}
cases=${PLANREF_CASES:-6000}
seconds=${PLANREF_SECONDS:-50}

rc=0
"$PLANREF" -c "$CTL" -d "$T/cases" -s "$seed" -n "$cases" -t "$seconds" \
	>"$T/planref.out" 2>&1 || rc=$?
cat "$T/planref.out"
ran=$(sed -n 's/^planref: \([0-9]*\) cases in .*/\1/p' "$T/planref.out")
[ -n "$ran" ] || fail "planref printed no summary (exit $rc)"
[ "$ran" -ge 500 ] || fail "planref ran only $ran cases in ${seconds}s"
[ "$rc" -eq 0 ] || fail "ppcoordctl plan disagrees with the reference on" \
	"$(grep -c '^==== DISAGREEMENT' "$T/planref.out") of $ran cases" \
	"(seed $seed; rerun one with $PLANREF -c $CTL -d DIR -1 SEED)"
log "ppcoordctl plan agrees with the reference on $ran cases from seed $seed"
