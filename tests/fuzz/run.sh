#!/bin/sh
# Runs each libFuzzer target for SECONDS, from its seed corpus plus a
# scratch corpus in build/fuzz/corpus/. Usage: run.sh SECONDS TARGET...
set -u
seconds=$1
shift
fail=0
LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
for bin in "$@"; do
	name=$(basename "$bin")
	seeds=tests/fuzz/corpus/${name#fuzz_}
	work=build/fuzz/corpus/${name#fuzz_}
	mkdir -p "$work" "$seeds"
	echo "== $name for ${seconds}s"
	if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	    -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/crash-"$name"- \
	    "$work" "$seeds" >build/fuzz/"$name".log 2>&1; then
		tail -n 40 build/fuzz/"$name".log
		echo "FAIL $name: crash input under build/fuzz/crash-$name-*"
		fail=1
	else
		grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' \
		    build/fuzz/"$name".log | tail -n 2
	fi
done
exit $fail
