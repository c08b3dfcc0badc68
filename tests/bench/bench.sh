#!/bin/sh
# Runs the head load benchmark for each size given and records the results
# in BENCHMARKS.md (section "Head at scale"), with the machine, command and
# date. Usage: bench.sh BUILD_DIR SIZE...
set -eu
build=$1
shift
out=build/bench-head.txt
: >"$out"
for n in "$@"; do
	echo "== $n agents"
	# Bounded: the load generator has its own per-phase deadlines; this
	# outer limit stops it whatever happens.
	timeout 1200 "$build/loadgen" -n "$n" -H "$build/ppcoord-head" |
	    tee -a "$out"
done

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
	echo "### Run of $(date -u +%Y-%m-%d)"
	echo
	echo "Machine: $(nproc) cores ($cpu), $(free -g | awk '/^Mem:/ {print $2}') GiB,"
	echo "$(uname -sr), $(openssl version)."
	echo "Command: \`make bench N=\"$*\"\`."
	echo
	echo "| agents | converged s | joins/s | baseline handshakes/s | ratio | RSS KiB/agent | re-plan ms | head CPU s |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
	sed 's/[a-z_]*=//g' "$out" | awk '{printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8}'
	echo
} >build/bench-head.md
echo "results: build/bench-head.md (add them to BENCHMARKS.md)"
cat build/bench-head.md
