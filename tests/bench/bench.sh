#!/bin/sh
# Runs the head load benchmark for each size given and writes the results
# as a Markdown table, with the machine, command and date, to
# build/bench-head.md and into BENCHMARKS.md, between the lines
# "<!-- make bench: begin -->" and "<!-- make bench: end -->".
# Usage: bench.sh BUILD_DIR SIZE...
#
# Each size runs with every agent but one in the plan (one single-GPU
# stage each, so each agent's first Assignment lists all the stages). Sizes above
# 1,001 also run with a plan of 1,000 nodes and the other agents as
# spares, about the most stages a model's layer count allows.
set -eu
build=$1
shift
out=build/bench-head.txt
: >"$out"

run() {
	echo "== $1 agents, $2 in the plan"
	# Bounded: the load generator has its own per-phase deadlines; this
	# outer limit stops it whatever happens.
	timeout 1200 "$build/loadgen" -n "$1" -e "$2" \
	    -H "$build/ppcoord-head" | tee -a "$out"
}

for n in "$@"; do
	run "$n" $((n - 1))
	if [ "$n" -gt 1001 ]; then
		run "$n" 1000
	fi
done

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
	echo "### Last \`make bench\` run: $(date -u '+%Y-%m-%d, %H:%M UTC')"
	echo
	echo "Machine: $(nproc) cores ($cpu), $(free -g | awk '/^Mem:/ {print $2}') GiB,"
	echo "$(uname -sr), $(openssl version)."
	echo "Command: \`make bench N=\"$*\"\`, on commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
	echo
	echo "| agents | plan nodes | converged s | joins/s | baseline handshakes/s (before, after) | ratio | CPU ratio | RSS KiB/agent peak (steady) | re-push wall ms | re-push head CPU ms | loss to last Assignment queued ms | updates in place of heartbeats | every agent at the new generation: wall ms (head CPU ms beyond heartbeats) | heartbeat CPU ms/s | state file ms (join, loss) | head CPU s for joins |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk '{
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			v[kv[1]] = kv[2]
		}
		printf "| %s | %s | %s | %s | %s (%s, %s) | %s | %s | %s (%s) | %s | %s | %s | %s | %s (%s) | %s | %s, %s | %s |\n",
		    v["agents"], v["plan_nodes"], v["converged_s"],
		    v["joins_per_s"], v["baseline_handshakes_per_s"],
		    v["baseline_before"], v["baseline_after"], v["ratio"],
		    v["cpu_ratio"],
		    v["rss_per_agent_kib"], v["rss_steady_per_agent_kib"],
		    v["replan_ms"], v["replan_cpu_ms"], v["replan_sync_ms"],
		    v["deferred_updates"], v["generation_all_ms"],
		    v["generation_all_extra_cpu_ms"], v["idle_cpu_ms_per_s"],
		    v["state_write_join_ms"], v["state_write_ms"],
		    v["head_cpu_s"]
	}' "$out"
	echo
} >build/bench-head.md

# The block between the markers is replaced; without them the run is
# added at the end.
doc=BENCHMARKS.md
if grep -q '^<!-- make bench: begin -->$' "$doc" &&
    grep -q '^<!-- make bench: end -->$' "$doc"; then
	awk -v run=build/bench-head.md '
		/^<!-- make bench: begin -->$/ {
			print
			while ((getline line < run) > 0)
				print line
			skip = 1
			next
		}
		/^<!-- make bench: end -->$/ { skip = 0 }
		!skip { print }
	' "$doc" >"$doc.tmp"
else
	{
		cat "$doc"
		echo
		echo "<!-- make bench: begin -->"
		cat build/bench-head.md
		echo "<!-- make bench: end -->"
	} >"$doc.tmp"
fi
mv "$doc.tmp" "$doc"
cat build/bench-head.md
echo "results: build/bench-head.md, and in $doc"

