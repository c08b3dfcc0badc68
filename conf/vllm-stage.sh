#!/bin/sh
# Starts this node's part of a multi-node vLLM deployment from the stage
# environment file that ppcoord-agent writes (systemd passes its variables
# through EnvironmentFile=). `make install` installs it as
# $(BINDIR)/ppcoord-vllm-stage (/usr/local/bin by default).
#
# VLLM_MODEL names the model (set it in a drop-in of vllm-stage.service);
# VLLM_EXTRA_ARGS adds options for every node. vLLM reads
# VLLM_PP_LAYER_PARTITION from the environment itself.
set -eu

if [ "${PPCOORD_STATE:-}" != assigned ]; then
	echo "vllm-stage: no stage assigned to this node (PPCOORD_STATE=${PPCOORD_STATE:-unset}); start the unit once ppcoord-agent has written an assignment" >&2
	exit 1
fi
: "${VLLM_MODEL:?set VLLM_MODEL in a drop-in of vllm-stage.service}"

set -- serve "$VLLM_MODEL" \
	--pipeline-parallel-size "$PPCOORD_NUM_STAGES" \
	--tensor-parallel-size "$PPCOORD_TP_SIZE" \
	--nnodes "$PPCOORD_NNODES" \
	--node-rank "$PPCOORD_NODE_RANK" \
	--master-addr "$PPCOORD_MASTER_ADDR" \
	--master-port "$PPCOORD_MASTER_PORT"

# Node rank 0 runs the API server; every other node only runs its workers.
if [ "$PPCOORD_NODE_RANK" -ne 0 ]; then
	set -- "$@" --headless
fi

# shellcheck disable=SC2086
exec "${VLLM:-vllm}" "$@" ${VLLM_EXTRA_ARGS:-}
