#!/bin/bash
# When planning fails, the status JSON carries "plan_error" and
# `ppcoordctl status` prints it as "last planning error: ...".
. "$(dirname "$0")/lib.sh"
need_bins
need_jq
make_certs

# 80 layers of 1 GiB over 8 GPUs is 10 GiB per GPU: it does not fit on
# 8 x 2 GiB.
EXPECTED_NODES=1
HEAD_MODEL='layers = 80; layer_bytes = "1 GiB"; embedding_bytes = "1 GiB";
  head_bytes = "1 GiB"; kv_bytes_per_token = "320 KiB";'
HEAD_PLAN='tp_size = 8; partition = "memory";'
head_start
agent_conf node-a 127.0.0.2 8 "2 GiB"
agent_start node-a

has_plan_error() {
	status_json | jq -e 'has("plan_error")' >/dev/null
}
wait_for 20 "the head reports its planning error" has_plan_error
err=$(status_json | jq -r .plan_error)
case "$err" in
*"node node-a"*) ;;
*) fail "plan_error does not name node-a: $err" ;;
esac
"$CTL" status -s "$SOCK" >"$T/status.txt" || fail "ppcoordctl status failed"
cat "$T/status.txt"
grep -qF "last planning error: $err" "$T/status.txt" ||
	fail "status table does not show the planning error"
grep -qx "no plan yet" "$T/status.txt" || fail "status table shows a plan"

log "status shows the last planning error"
