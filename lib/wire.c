/*
 * Framing and message building of the agent-head protocol, and the mapping
 * from an Assignment or a plan node to the stage environment.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "envfile.h"
#include "inv.h"
#include "plan.h"
#include "util.h"
#include "wire.h"

#ifndef PPCOORD_VERSION
#define PPCOORD_VERSION	"unknown"
#endif

/* Maximum num_stages in an Assignment. Each StageInfo takes at least about
 * 15 bytes, so a 1 MiB frame cannot list many more stages than this. */
#define WIRE_STAGES_MAX	65536

_Static_assert(ENVFILE_PARTITION_MAX == PLAN_PARTITION_TEXT_MAX + 1,
    "the agent must hold every partition the planner makes");

/* Framing. */

enum wire_result
wire_parse(const uint8_t *buf, size_t len, uint32_t max_frame,
    size_t *consumed, Ppcoord__Envelope **env, char *err, size_t errlen)
{
	Ppcoord__Envelope	*e;
	uint32_t		 flen;

	*env = NULL;
	*consumed = 0;
	if (max_frame == 0 || max_frame > WIRE_FRAME_MAX)
		max_frame = WIRE_FRAME_MAX;
	if (len < WIRE_HEADER_LEN)
		return WIRE_MORE;

	flen = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	    (uint32_t)buf[2] << 8 | (uint32_t)buf[3];
	if (flen == 0) {
		util_err(err, errlen, "frame length is 0: every frame holds "
		    "an Envelope with one message");
		return WIRE_ERROR;
	}
	if (flen > max_frame) {
		util_err(err, errlen, "frame length %" PRIu32 " is over the "
		    "limit of %" PRIu32 " bytes", flen, max_frame);
		return WIRE_ERROR;
	}
	if (len - WIRE_HEADER_LEN < flen)
		return WIRE_MORE;

	e = ppcoord__envelope__unpack(NULL, flen, buf + WIRE_HEADER_LEN);
	if (e == NULL) {
		util_err(err, errlen, "frame of %" PRIu32 " bytes is not a "
		    "valid Envelope", flen);
		return WIRE_ERROR;
	}
	if (e->msg_case == PPCOORD__ENVELOPE__MSG__NOT_SET) {
		util_err(err, errlen, "Envelope of %" PRIu32 " bytes has no "
		    "known message set", flen);
		ppcoord__envelope__free_unpacked(e, NULL);
		return WIRE_ERROR;
	}

	*consumed = WIRE_HEADER_LEN + (size_t)flen;
	*env = e;
	return WIRE_FRAME;
}

enum wire_result
wire_read(struct evbuffer *in, uint32_t max_frame, Ppcoord__Envelope **env,
    char *err, size_t errlen)
{
	uint8_t			 hdr[WIRE_HEADER_LEN];
	const uint8_t		*frame;
	size_t			 avail, consumed;
	uint32_t		 flen;
	enum wire_result	 r;

	*env = NULL;
	if (max_frame == 0 || max_frame > WIRE_FRAME_MAX)
		max_frame = WIRE_FRAME_MAX;
	avail = evbuffer_get_length(in);
	if (avail < WIRE_HEADER_LEN)
		return WIRE_MORE;

	/* Check the length before waiting for the body, so that a peer
	 * announcing 4 GiB is dropped at once instead of buffered. */
	if (evbuffer_copyout(in, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		return WIRE_MORE;
	flen = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3];
	if (flen == 0 || flen > max_frame)
		return wire_parse(hdr, sizeof(hdr), max_frame, &consumed, env,
		    err, errlen);
	if (avail - WIRE_HEADER_LEN < flen)
		return WIRE_MORE;

	frame = evbuffer_pullup(in, (ssize_t)(WIRE_HEADER_LEN + flen));
	if (frame == NULL) {
		util_err(err, errlen, "out of memory reading a frame of %"
		    PRIu32 " bytes", flen);
		return WIRE_ERROR;
	}
	r = wire_parse(frame, WIRE_HEADER_LEN + (size_t)flen, max_frame,
	    &consumed, env, err, errlen);
	if (r == WIRE_FRAME)
		evbuffer_drain(in, consumed);
	return r;
}

int
wire_write(struct evbuffer *out, const Ppcoord__Envelope *env)
{
	uint8_t	*buf;
	size_t	 size;
	int	 r;

	if (env->msg_case == PPCOORD__ENVELOPE__MSG__NOT_SET)
		return -1;
	size = ppcoord__envelope__get_packed_size(env);
	if (size == 0 || size > WIRE_FRAME_MAX)
		return -1;

	buf = malloc(WIRE_HEADER_LEN + size);
	if (buf == NULL)
		return -1;
	buf[0] = (uint8_t)(size >> 24);
	buf[1] = (uint8_t)(size >> 16);
	buf[2] = (uint8_t)(size >> 8);
	buf[3] = (uint8_t)size;
	ppcoord__envelope__pack(env, buf + WIRE_HEADER_LEN);

	r = evbuffer_add(out, buf, WIRE_HEADER_LEN + size);
	free(buf);
	return r == 0 ? 0 : -1;
}

void
wire_free(Ppcoord__Envelope *env)
{
	if (env != NULL)
		ppcoord__envelope__free_unpacked(env, NULL);
}

const char *
wire_msg_name(const Ppcoord__Envelope *env)
{
	switch (env->msg_case) {
	case PPCOORD__ENVELOPE__MSG_HELLO:
		return "hello";
	case PPCOORD__ENVELOPE__MSG_HEARTBEAT:
		return "heartbeat";
	case PPCOORD__ENVELOPE__MSG_ACK:
		return "ack";
	case PPCOORD__ENVELOPE__MSG_WELCOME:
		return "welcome";
	case PPCOORD__ENVELOPE__MSG_ASSIGNMENT:
		return "assignment";
	case PPCOORD__ENVELOPE__MSG_STANDBY:
		return "standby";
	case PPCOORD__ENVELOPE__MSG_REVOKE:
		return "revoke";
	case PPCOORD__ENVELOPE__MSG_REJECT:
		return "reject";
	case PPCOORD__ENVELOPE__MSG_NOT_LEADER:
		return "not_leader";
	default:
		return "none";
	}
}

const char *
wire_reject_reason_name(Ppcoord__Reject__Reason r)
{
	switch (r) {
	case PPCOORD__REJECT__REASON__REASON_PROTOCOL_VERSION:
		return "protocol_version";
	case PPCOORD__REJECT__REASON__REASON_IDENTITY_MISMATCH:
		return "identity_mismatch";
	case PPCOORD__REJECT__REASON__REASON_INVALID_HELLO:
		return "invalid_hello";
	case PPCOORD__REJECT__REASON__REASON_INVALID_INVENTORY:
		return "invalid_inventory";
	case PPCOORD__REJECT__REASON__REASON_DUPLICATE_ADDRESS:
		return "duplicate_address";
	case PPCOORD__REJECT__REASON__REASON_UNEXPECTED_MESSAGE:
		return "unexpected_message";
	case PPCOORD__REJECT__REASON__REASON_TOO_MANY_CONNECTIONS:
		return "too_many_connections";
	case PPCOORD__REJECT__REASON__REASON_CONFLICT:
		return "conflict";
	case PPCOORD__REJECT__REASON__REASON_SHUTTING_DOWN:
		return "shutting_down";
	default:
		return "unspecified";
	}
}

/* Hello to inventory node. */

/* Copies a required string field into buf[size]. */
static int
wire_copy_string(const char *field, const char *s, char *buf, size_t size,
    char *err, size_t errlen)
{
	size_t len;

	if (s == NULL) {
		util_err(err, errlen, "%s is missing", field);
		return -1;
	}
	len = strlen(s);
	if (len >= size) {
		util_err(err, errlen, "%s is %zu bytes long: the maximum is "
		    "%zu", field, len, size - 1);
		return -1;
	}
	memcpy(buf, s, len + 1);
	return 0;
}

static int
wire_gpu_to_inv(const Ppcoord__Gpu *g, size_t i, struct inv_gpu *gpu,
    char *err, size_t errlen)
{
	char msg[PPC_ERRLEN];

	if (!g->has_index)
		snprintf(msg, sizeof(msg), "index is missing");
	else if (!g->has_memory_total)
		snprintf(msg, sizeof(msg), "memory_total is missing");
	else if (!g->has_memory_free)
		snprintf(msg, sizeof(msg), "memory_free is missing");
	else if (wire_copy_string("name", g->name, gpu->name,
	    sizeof(gpu->name), msg, sizeof(msg)) == 0 &&
	    wire_copy_string("uuid", g->uuid, gpu->uuid, sizeof(gpu->uuid),
	    msg, sizeof(msg)) == 0) {
		gpu->index = g->index;
		gpu->memory_total = g->memory_total;
		gpu->memory_free = g->memory_free;
		return 0;
	}
	util_err(err, errlen, "gpus[%zu]: %s", i, msg);
	return -1;
}

int
wire_hello_to_node(const Ppcoord__Hello *hello, struct inv_node *node,
    char *err, size_t errlen)
{
	char	msg[PPC_ERRLEN];
	size_t	i;

	memset(node, 0, sizeof(*node));
	if (!hello->has_protocol_version) {
		util_err(err, errlen, "Hello: protocol_version is missing");
		return -1;
	}
	if (wire_copy_string("node_id", hello->node_id, node->id,
	    sizeof(node->id), msg, sizeof(msg)) == -1 ||
	    wire_copy_string("address", hello->address, node->address,
	    sizeof(node->address), msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "Hello: %s", msg);
		return -1;
	}
	if (hello->n_gpus == 0 || hello->n_gpus > INV_GPUS_MAX) {
		util_err(err, errlen, "Hello: %zu GPUs listed: expected 1 to "
		    "%d", hello->n_gpus, INV_GPUS_MAX);
		return -1;
	}

	node->gpus = calloc(hello->n_gpus, sizeof(*node->gpus));
	if (node->gpus == NULL) {
		util_err(err, errlen, "Hello: out of memory");
		return -1;
	}
	node->ngpus = (uint32_t)hello->n_gpus;
	for (i = 0; i < hello->n_gpus; i++) {
		if (wire_gpu_to_inv(hello->gpus[i], i, &node->gpus[i], msg,
		    sizeof(msg)) == -1) {
			util_err(err, errlen, "Hello: %s", msg);
			goto fail;
		}
	}
	/* An agent that does not send workers uses all of its GPUs. */
	node->workers = hello->has_workers ? hello->workers : node->ngpus;

	if (inv_node_check(node, msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "Hello: %s", msg);
		goto fail;
	}
	return 0;

fail:
	inv_node_free(node);
	return -1;
}

/* Sending. */

int
wire_send_hello(struct evbuffer *out, const struct inv_node *node,
    uint64_t held_generation, const char *held_state)
{
	Ppcoord__Envelope	 env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__Hello		 hello = PPCOORD__HELLO__INIT;
	Ppcoord__Gpu		*gpus, **gpup;
	uint32_t		 i;
	int			 r;

	gpus = calloc(node->ngpus ? node->ngpus : 1, sizeof(*gpus));
	gpup = calloc(node->ngpus ? node->ngpus : 1, sizeof(*gpup));
	if (gpus == NULL || gpup == NULL) {
		free(gpus);
		free(gpup);
		return -1;
	}
	for (i = 0; i < node->ngpus; i++) {
		const struct inv_gpu *g = &node->gpus[i];

		ppcoord__gpu__init(&gpus[i]);
		gpus[i].has_index = 1;
		gpus[i].index = g->index;
		gpus[i].name = (char *)g->name;
		gpus[i].uuid = (char *)g->uuid;
		gpus[i].has_memory_total = 1;
		gpus[i].memory_total = g->memory_total;
		gpus[i].has_memory_free = 1;
		gpus[i].memory_free = g->memory_free;
		gpup[i] = &gpus[i];
	}

	hello.has_protocol_version = 1;
	hello.protocol_version =
	    PPCOORD__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
	hello.node_id = (char *)node->id;
	hello.address = (char *)node->address;
	hello.n_gpus = node->ngpus;
	hello.gpus = gpup;
	hello.has_workers = 1;
	hello.workers = node->workers;
	hello.agent_version = (char *)PPCOORD_VERSION;
	hello.has_stage_deltas = 1;
	hello.stage_deltas = 1;
	hello.has_stage_table_zlib = 1;
	hello.stage_table_zlib = 1;
	hello.has_held_generation = 1;
	hello.held_generation = held_generation;
	hello.held_state = (char *)(held_state != NULL ? held_state : "");

	env.msg_case = PPCOORD__ENVELOPE__MSG_HELLO;
	env.hello = &hello;
	r = wire_write(out, &env);
	free(gpus);
	free(gpup);
	return r;
}

int
wire_send_welcome(struct evbuffer *out, const char *node_id,
    const char *cluster, uint32_t heartbeat_ms, uint32_t timeout_ms)
{
	Ppcoord__Envelope	env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__Welcome	w = PPCOORD__WELCOME__INIT;

	w.has_protocol_version = 1;
	w.protocol_version = PPCOORD__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
	w.node_id = (char *)node_id;
	w.cluster = (char *)cluster;
	w.has_heartbeat_interval_ms = 1;
	w.heartbeat_interval_ms = heartbeat_ms;
	w.has_node_timeout_ms = 1;
	w.node_timeout_ms = timeout_ms;
	w.head_version = (char *)PPCOORD_VERSION;

	env.msg_case = PPCOORD__ENVELOPE__MSG_WELCOME;
	env.welcome = &w;
	return wire_write(out, &env);
}

int
wire_send_heartbeat(struct evbuffer *out, uint64_t generation)
{
	Ppcoord__Envelope	env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__Heartbeat	hb = PPCOORD__HEARTBEAT__INIT;

	hb.has_generation = 1;
	hb.generation = generation;
	env.msg_case = PPCOORD__ENVELOPE__MSG_HEARTBEAT;
	env.heartbeat = &hb;
	return wire_write(out, &env);
}

int
wire_send_ack(struct evbuffer *out, uint64_t generation, int ok,
    const char *error)
{
	Ppcoord__Envelope	env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__AssignmentAck	ack = PPCOORD__ASSIGNMENT_ACK__INIT;

	ack.has_generation = 1;
	ack.generation = generation;
	ack.has_ok = 1;
	ack.ok = ok != 0;
	ack.error = (char *)error;
	env.msg_case = PPCOORD__ENVELOPE__MSG_ACK;
	env.ack = &ack;
	return wire_write(out, &env);
}

int
wire_assignment_fill(Ppcoord__Assignment *a, const struct plan *p,
    size_t node)
{
	const struct plan_node	*pn;
	uint32_t		 last;

	if (node >= p->nnodes || p->num_stages == 0)
		return -1;
	pn = &p->nodes[node];
	if (pn->stage_count == 0 || pn->first_stage >= p->num_stages ||
	    p->num_stages - pn->first_stage < pn->stage_count)
		return -1;
	last = pn->first_stage + pn->stage_count - 1;

	a->has_generation = 1;
	a->generation = p->generation;
	a->node_id = (char *)pn->id;
	a->has_node_rank = 1;
	a->node_rank = pn->node_rank;
	a->has_nnodes = 1;
	a->nnodes = (uint32_t)p->nnodes;
	a->has_first_stage = 1;
	a->first_stage = pn->first_stage;
	a->has_stage_count = 1;
	a->stage_count = pn->stage_count;
	a->has_num_stages = 1;
	a->num_stages = p->num_stages;
	a->has_tp_size = 1;
	a->tp_size = p->tp_size;
	a->has_first_layer = 1;
	a->first_layer = p->stages[pn->first_stage].first_layer;
	a->has_end_layer = 1;
	a->end_layer = p->stages[last].end_layer;
	a->master_addr = (char *)p->master_addr;
	a->has_master_port = 1;
	a->master_port = p->master_port;
	return 0;
}

void
wire_stage_info_init(Ppcoord__StageInfo *si, uint32_t stage,
    const char *node_id, const char *address, uint32_t first_layer,
    uint32_t end_layer)
{
	ppcoord__stage_info__init(si);
	si->has_stage = 1;
	si->stage = stage;
	si->node_id = (char *)node_id;
	si->address = (char *)address;
	si->has_first_layer = 1;
	si->first_layer = first_layer;
	si->has_end_layer = 1;
	si->end_layer = end_layer;
}

int
wire_assignment_set_stages(Ppcoord__Assignment *a, const struct plan *p)
{
	Ppcoord__StageInfo	*infos, **infop;
	const struct plan_stage	*st;
	const struct plan_node	*node;
	uint32_t		 s;

	infos = calloc(p->num_stages, sizeof(*infos));
	infop = calloc(p->num_stages, sizeof(*infop));
	if (infos == NULL || infop == NULL) {
		free(infos);
		free(infop);
		return -1;
	}
	for (s = 0; s < p->num_stages; s++) {
		st = &p->stages[s];
		node = st->node < p->nnodes ? &p->nodes[st->node] : NULL;
		wire_stage_info_init(&infos[s], st->stage,
		    node != NULL ? node->id : NULL,
		    node != NULL ? node->address : NULL, st->first_layer,
		    st->end_layer);
		infop[s] = &infos[s];
	}

	a->n_layer_partition = p->num_stages;
	a->layer_partition = p->layer_partition;
	a->n_stages = p->num_stages;
	a->stages = infop;
	return 0;
}

void
wire_assignment_free_stages(Ppcoord__Assignment *a)
{
	if (a->stages != NULL && a->n_stages > 0)
		free(a->stages[0]);	/* the StageInfo array */
	free(a->stages);
	a->stages = NULL;
	a->n_stages = 0;
}

int
wire_send_assignment(struct evbuffer *out, const struct plan *p, size_t node)
{
	Ppcoord__Envelope	 env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__Assignment	 a = PPCOORD__ASSIGNMENT__INIT;
	int			 r;

	if (wire_assignment_fill(&a, p, node) == -1 ||
	    wire_assignment_set_stages(&a, p) == -1)
		return -1;

	env.msg_case = PPCOORD__ENVELOPE__MSG_ASSIGNMENT;
	env.assignment = &a;
	r = wire_write(out, &env);
	wire_assignment_free_stages(&a);
	return r;
}

int
wire_send_standby(struct evbuffer *out, uint64_t generation,
    const char *reason)
{
	Ppcoord__Envelope	env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__Standby	sb = PPCOORD__STANDBY__INIT;

	sb.has_generation = 1;
	sb.generation = generation;
	sb.reason = (char *)reason;
	env.msg_case = PPCOORD__ENVELOPE__MSG_STANDBY;
	env.standby = &sb;
	return wire_write(out, &env);
}

int
wire_send_revoke(struct evbuffer *out, uint64_t generation,
    const char *reason)
{
	Ppcoord__Envelope	env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__Revoke		rv = PPCOORD__REVOKE__INIT;

	rv.has_generation = 1;
	rv.generation = generation;
	rv.reason = (char *)reason;
	env.msg_case = PPCOORD__ENVELOPE__MSG_REVOKE;
	env.revoke = &rv;
	return wire_write(out, &env);
}

int
wire_send_reject(struct evbuffer *out, Ppcoord__Reject__Reason reason,
    const char *message)
{
	Ppcoord__Envelope	env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__Reject		rj = PPCOORD__REJECT__INIT;

	rj.has_reason = 1;
	rj.reason = reason;
	rj.message = (char *)message;
	env.msg_case = PPCOORD__ENVELOPE__MSG_REJECT;
	env.reject = &rj;
	return wire_write(out, &env);
}

int
wire_send_not_leader(struct evbuffer *out, const char *leader)
{
	Ppcoord__Envelope	env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__NotLeader	nl = PPCOORD__NOT_LEADER__INIT;

	nl.leader_address = (char *)(leader != NULL ? leader : "");
	env.msg_case = PPCOORD__ENVELOPE__MSG_NOT_LEADER;
	env.not_leader = &nl;
	return wire_write(out, &env);
}

/* Assignment to stage environment. */

/* Names the first absent scalar field of an Assignment, or NULL. */
static const char *
wire_assignment_missing(const Ppcoord__Assignment *a)
{
	if (!a->has_generation)
		return "generation";
	if (a->node_id == NULL)
		return "node_id";
	if (!a->has_node_rank)
		return "node_rank";
	if (!a->has_nnodes)
		return "nnodes";
	if (!a->has_first_stage)
		return "first_stage";
	if (!a->has_stage_count)
		return "stage_count";
	if (!a->has_num_stages)
		return "num_stages";
	if (!a->has_tp_size)
		return "tp_size";
	if (!a->has_first_layer)
		return "first_layer";
	if (!a->has_end_layer)
		return "end_layer";
	if (a->master_addr == NULL)
		return "master_addr";
	if (!a->has_master_port)
		return "master_port";
	return NULL;
}

/* Checks the counts and the node's stage range. */
static int
wire_assignment_check_counts(const Ppcoord__Assignment *a, char *err,
    size_t errlen)
{
	if (a->generation == 0) {
		util_err(err, errlen, "generation 0 is reserved for no "
		    "assignment");
		return -1;
	}
	if (a->num_stages == 0 || a->num_stages > WIRE_STAGES_MAX) {
		util_err(err, errlen, "num_stages %" PRIu32 " is out of range: "
		    "expected 1 to %d", a->num_stages, WIRE_STAGES_MAX);
		return -1;
	}
	if (a->tp_size == 0 || a->tp_size > INV_GPUS_MAX) {
		util_err(err, errlen, "tp_size %" PRIu32 " is out of range: "
		    "expected 1 to %d", a->tp_size, INV_GPUS_MAX);
		return -1;
	}
	if (a->nnodes == 0 || a->nnodes > a->num_stages) {
		util_err(err, errlen, "nnodes %" PRIu32 " is out of range: "
		    "expected 1 to num_stages %" PRIu32, a->nnodes,
		    a->num_stages);
		return -1;
	}
	if (a->node_rank >= a->nnodes) {
		util_err(err, errlen, "node_rank %" PRIu32 " is not below "
		    "nnodes %" PRIu32, a->node_rank, a->nnodes);
		return -1;
	}
	if (a->stage_count == 0 || a->first_stage >= a->num_stages ||
	    a->num_stages - a->first_stage < a->stage_count) {
		util_err(err, errlen, "stages %" PRIu32 " to %" PRIu64 " are "
		    "outside num_stages %" PRIu32, a->first_stage,
		    (uint64_t)a->first_stage + a->stage_count, a->num_stages);
		return -1;
	}
	if (a->master_port == 0 || a->master_port > 65535) {
		util_err(err, errlen, "master_port %" PRIu32 " is out of "
		    "range: expected 1 to 65535", a->master_port);
		return -1;
	}
	return 0;
}

/* Checks layer_partition and that first_layer and end_layer are the bounds
 * of the node's stages in it. */
static int
wire_assignment_check_layers(const Ppcoord__Assignment *a, char *err,
    size_t errlen)
{
	uint64_t	sum = 0, first = 0, end = 0;
	size_t		i;

	if (a->n_layer_partition != a->num_stages) {
		util_err(err, errlen, "layer_partition has %zu entries: "
		    "expected num_stages %" PRIu32, a->n_layer_partition,
		    a->num_stages);
		return -1;
	}
	for (i = 0; i < a->n_layer_partition; i++) {
		if (a->layer_partition[i] == 0) {
			util_err(err, errlen, "layer_partition[%zu] is 0: "
			    "every stage needs at least one layer", i);
			return -1;
		}
		if (i == a->first_stage)
			first = sum;
		sum += a->layer_partition[i];
		if (i + 1 == (size_t)a->first_stage + a->stage_count)
			end = sum;
	}
	if (sum > UINT32_MAX) {
		util_err(err, errlen, "layer_partition sums to %" PRIu64
		    " layers: the maximum is %" PRIu32, sum, UINT32_MAX);
		return -1;
	}
	if (a->first_layer != first || a->end_layer != end) {
		util_err(err, errlen, "layers %" PRIu32 " to %" PRIu32 " do not "
		    "match stages %" PRIu32 " to %" PRIu64 " of layer_partition, "
		    "which hold layers %" PRIu64 " to %" PRIu64, a->first_layer,
		    a->end_layer, a->first_stage,
		    (uint64_t)a->first_stage + a->stage_count, first, end);
		return -1;
	}
	return 0;
}

/* Checks every StageInfo: one per stage in order, valid ids and addresses,
 * layers matching layer_partition, and this node on its own stages. */
static int
wire_assignment_check_stages(const Ppcoord__Assignment *a, char *err,
    size_t errlen)
{
	const Ppcoord__StageInfo	*si;
	char				 msg[PPC_ERRLEN];
	uint64_t			 layer = 0;
	size_t				 i;
	int				 mine;

	if (a->n_stages != a->num_stages) {
		util_err(err, errlen, "%zu stages listed: expected num_stages "
		    "%" PRIu32, a->n_stages, a->num_stages);
		return -1;
	}
	for (i = 0; i < a->n_stages; i++) {
		si = a->stages[i];
		if (!si->has_stage || si->stage != i) {
			util_err(err, errlen, "stages[%zu]: stage is missing "
			    "or not %zu", i, i);
			return -1;
		}
		if (si->node_id == NULL || si->address == NULL) {
			util_err(err, errlen, "stages[%zu]: node_id or address "
			    "is missing", i);
			return -1;
		}
		if (util_check_node_id(si->node_id, msg, sizeof(msg)) == -1 ||
		    util_check_address(si->address, msg, sizeof(msg)) == -1) {
			util_err(err, errlen, "stages[%zu]: %s", i, msg);
			return -1;
		}
		if (!si->has_first_layer || !si->has_end_layer ||
		    si->first_layer != layer ||
		    si->end_layer != layer + a->layer_partition[i]) {
			util_err(err, errlen, "stages[%zu]: layers do not "
			    "match layer_partition, which gives %" PRIu64
			    " to %" PRIu64, i, layer,
			    layer + a->layer_partition[i]);
			return -1;
		}
		layer += a->layer_partition[i];

		mine = i >= a->first_stage &&
		    i < (size_t)a->first_stage + a->stage_count;
		if (mine && strcmp(si->node_id, a->node_id) != 0) {
			util_err(err, errlen, "stages[%zu] names node %s, but "
			    "the assignment gives that stage to %s", i,
			    si->node_id, a->node_id);
			return -1;
		}
	}
	return 0;
}

int
wire_assignment_to_env(const Ppcoord__Assignment *a, struct stage_env *env,
    char *err, size_t errlen)
{
	const char	*missing;
	char		 msg[PPC_ERRLEN];

	memset(env, 0, sizeof(*env));
	missing = wire_assignment_missing(a);
	if (missing != NULL) {
		util_err(err, errlen, "Assignment: %s is missing", missing);
		return -1;
	}
	if (util_check_node_id(a->node_id, msg, sizeof(msg)) == -1 ||
	    util_check_address(a->master_addr, msg, sizeof(msg)) == -1 ||
	    wire_assignment_check_counts(a, msg, sizeof(msg)) == -1 ||
	    wire_assignment_check_layers(a, msg, sizeof(msg)) == -1 ||
	    wire_assignment_check_stages(a, msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "Assignment: %s", msg);
		return -1;
	}
	if (envfile_format_partition(a->layer_partition, a->n_layer_partition,
	    env->layer_partition, sizeof(env->layer_partition)) == -1) {
		util_err(err, errlen, "Assignment: layer_partition of %zu "
		    "stages is longer than %d bytes as text",
		    a->n_layer_partition, ENVFILE_PARTITION_MAX - 1);
		return -1;
	}

	env->state = STAGE_ASSIGNED;
	env->generation = a->generation;
	/* Both strings passed the checks above, which bound their length. */
	snprintf(env->node_id, sizeof(env->node_id), "%s", a->node_id);
	snprintf(env->master_addr, sizeof(env->master_addr), "%s",
	    a->master_addr);
	env->node_rank = a->node_rank;
	env->nnodes = a->nnodes;
	env->first_stage = a->first_stage;
	env->stage_count = a->stage_count;
	env->num_stages = a->num_stages;
	env->tp_size = a->tp_size;
	env->first_layer = a->first_layer;
	env->end_layer = a->end_layer;
	env->master_port = (uint16_t)a->master_port;
	return 0;
}

void
plan_node_stage_env(const struct plan *p, size_t node, struct stage_env *env)
{
	const struct plan_node	*pn = &p->nodes[node];
	uint32_t		 last;

	memset(env, 0, sizeof(*env));
	env->state = STAGE_ASSIGNED;
	env->generation = p->generation;
	snprintf(env->node_id, sizeof(env->node_id), "%s", pn->id);
	env->node_rank = pn->node_rank;
	env->nnodes = (uint32_t)p->nnodes;
	env->first_stage = pn->first_stage;
	env->stage_count = pn->stage_count;
	env->num_stages = p->num_stages;
	env->tp_size = p->tp_size;
	if (pn->stage_count > 0 && pn->first_stage < p->num_stages &&
	    p->num_stages - pn->first_stage >= pn->stage_count) {
		last = pn->first_stage + pn->stage_count - 1;
		env->first_layer = p->stages[pn->first_stage].first_layer;
		env->end_layer = p->stages[last].end_layer;
	}
	snprintf(env->master_addr, sizeof(env->master_addr), "%s",
	    p->master_addr);
	env->master_port = p->master_port;

	/* NOTE: a partition too long for the buffer is left empty, and
	 * envfile_format then rejects the environment. */
	if (envfile_format_partition(p->layer_partition, p->num_stages,
	    env->layer_partition, sizeof(env->layer_partition)) == -1)
		env->layer_partition[0] = '\0';
}
