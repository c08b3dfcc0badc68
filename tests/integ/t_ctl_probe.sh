#!/bin/bash
# `ppcoordctl probe` prints the node's inventory as the agent reports it
# (static GPUs, and NVML through the fake library), with the node id from
# the config or the certificate and the address from the config or the
# route to the head, in a form that `ppcoordctl plan -i` reads.
. "$(dirname "$0")/lib.sh"
need_jq
[ -x "$CTL" ] || fail "$CTL is missing: run make first"

# write_agent_conf FILE AGENT_LINES GPU_LINES
write_agent_conf() {
	cat >"$1" <<-CONF
	agent = {
	  head = "127.0.0.1:7450";
	  env_file = "$T/stage.env";
	  $2
	};
	tls = {
	  ca_file = "$T/ca/ca.pem";
	  cert_file = "$T/ca/node-p.pem";
	  key_file = "$T/ca/node-p.key";
	};
	gpus = {
	  $3
	};
	CONF
}

"$CTL" ca init "$T/ca" >/dev/null || fail "ca init failed"
"$CTL" ca issue "$T/ca" node-p >/dev/null || fail "ca issue failed"

# Static GPUs, id and address from the config.
write_agent_conf "$T/static.conf" 'node_id = "node-s"; advertise_address = "10.1.2.3";' \
	'source = "static"; count = 4; memory = "40 GiB";'
"$CTL" probe -f "$T/static.conf" >"$T/static.json" 2>"$T/static.err" ||
	fail "probe of static GPUs failed: $(cat "$T/static.err")"
cat "$T/static.json"
[ "$(jq -r '.nodes | length' "$T/static.json")" = 1 ] || fail "probe printed other than one node"
[ "$(jq -r '.nodes[0].id' "$T/static.json")" = node-s ] || fail "probe id is not agent.node_id"
[ "$(jq -r '.nodes[0].address' "$T/static.json")" = 10.1.2.3 ] ||
	fail "probe address is not agent.advertise_address"
[ "$(jq -r '.nodes[0].workers' "$T/static.json")" = 4 ] || fail "probe workers is not 4"
[ "$(jq -r '[.nodes[0].gpus[].memory_total] | unique | join(",")' "$T/static.json")" = $((40 << 30)) ] ||
	fail "probe memory_total is not 40 GiB"

# The output is an inventory that `plan -i` reads.
cat >"$T/plan.conf" <<-CONF
cluster = { expected_nodes = 1; };
model = { layers = 32; };
plan = { tp_size = 2; };
CONF
"$CTL" plan -f "$T/plan.conf" -i "$T/static.json" --format json >"$T/plan.json" ||
	fail "plan -i does not read the probe output"
[ "$(jq -r .num_stages "$T/plan.json")" = 2 ] || fail "4 GPUs at tp 2 did not give 2 stages"

# NVML through the fake library; id from the certificate, address from the
# route to the head on loopback.
write_agent_conf "$T/nvml.conf" '' "source = \"nvml\"; nvml_library = \"$BIN/tests/libnvidia-ml-fake.so\";"
[ -f "$BIN/tests/libnvidia-ml-fake.so" ] || fail "the fake NVML library is missing: run make integ"
FAKE_NVML_COUNT=3 FAKE_NVML_MEMORY=85520809984 FAKE_NVML_USED=1073741824 \
	"$CTL" probe -f "$T/nvml.conf" >"$T/nvml.json" 2>"$T/nvml.err" ||
	fail "probe through NVML failed: $(cat "$T/nvml.err")"
cat "$T/nvml.json"
[ "$(jq -r '.nodes[0].id' "$T/nvml.json")" = node-p ] || fail "probe id is not the certificate's"
[ "$(jq -r '.nodes[0].address' "$T/nvml.json")" = 127.0.0.1 ] ||
	fail "probe address is not the route to the head"
[ "$(jq -r '.nodes[0].gpus | length' "$T/nvml.json")" = 3 ] || fail "probe did not report 3 NVML GPUs"
[ "$(jq -r '.nodes[0].gpus[0].memory_free' "$T/nvml.json")" = $((85520809984 - (1 << 30))) ] ||
	fail "probe memory_free is not total minus used"

# An NVML failure exits 1 with the reason; an invalid config exits 2.
rc=0
FAKE_NVML_FAIL=init "$CTL" probe -f "$T/nvml.conf" >"$T/fail.out" 2>"$T/fail.err" || rc=$?
[ "$rc" = 1 ] || fail "probe with failing NVML exited $rc, expected 1"
grep -qi nvml "$T/fail.err" || fail "NVML failure message does not name NVML: $(cat "$T/fail.err")"
rc=0
"$CTL" probe -f "$T/nonexistent.conf" >"$T/missing.out" 2>"$T/missing.err" || rc=$?
[ "$rc" = 2 ] || fail "probe with a missing config exited $rc, expected 2"
log "ppcoordctl probe reports static and NVML GPUs"
