/*
 * Wire protocol tests. Framing is checked with partial, several,
 * maximum-size and oversize frames. Every message makes a round trip, Hello
 * and Assignment are validated, and an Assignment must map to the same
 * environment as the plan it came from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>

#include "envfile.h"
#include "inv.h"
#include "plan.h"
#include "util.h"
#include "wire.h"

/* Copies the whole buffer into a malloc'd array. */
static uint8_t *
buffer_bytes(struct evbuffer *b, size_t *len)
{
	uint8_t *bytes;

	*len = evbuffer_get_length(b);
	bytes = malloc(*len ? *len : 1);
	assert_non_null(bytes);
	assert_int_equal(evbuffer_copyout(b, bytes, *len), (ssize_t)*len);
	return bytes;
}

/* Reads exactly one frame from b and checks its message type. */
static Ppcoord__Envelope *
read_one(struct evbuffer *b, Ppcoord__Envelope__MsgCase expected)
{
	Ppcoord__Envelope	*env = NULL;
	char			 err[PPC_ERRLEN] = "";

	if (wire_read(b, WIRE_FRAME_MAX, &env, err, sizeof(err)) !=
	    WIRE_FRAME)
		fail_msg("wire_read: %s", err);
	assert_non_null(env);
	assert_int_equal(env->msg_case, expected);
	return env;
}

static enum wire_result
read_raw(const uint8_t *bytes, size_t len, char *err)
{
	struct evbuffer		*b = evbuffer_new();
	Ppcoord__Envelope	*env = NULL;
	enum wire_result	 r;

	assert_non_null(b);
	evbuffer_add(b, bytes, len);
	r = wire_read(b, WIRE_FRAME_MAX, &env, err, PPC_ERRLEN);
	if (r != WIRE_FRAME)
		assert_null(env);
	wire_free(env);
	evbuffer_free(b);
	return r;
}

/* Framing. */

static void
test_partial_frame_byte_by_byte(void **state)
{
	struct evbuffer		*out = evbuffer_new(), *in = evbuffer_new();
	Ppcoord__Envelope	*env = NULL;
	char			 err[PPC_ERRLEN] = "";
	uint8_t			*bytes;
	size_t			 len, i, consumed;

	assert_int_equal(wire_send_welcome(out, "gpu-a", "default", 2000,
	    10000), 0);
	bytes = buffer_bytes(out, &len);
	assert_true(len > WIRE_HEADER_LEN);

	for (i = 0; i + 1 < len; i++) {
		evbuffer_add(in, bytes + i, 1);
		assert_int_equal(wire_read(in, WIRE_FRAME_MAX, &env, err,
		    sizeof(err)), WIRE_MORE);
		assert_null(env);
		assert_int_equal(evbuffer_get_length(in), i + 1);
		assert_int_equal(wire_parse(bytes, i + 1, WIRE_FRAME_MAX,
		    &consumed, &env, err, sizeof(err)), WIRE_MORE);
	}
	evbuffer_add(in, bytes + len - 1, 1);
	env = read_one(in, PPCOORD__ENVELOPE__MSG_WELCOME);
	assert_string_equal(env->welcome->node_id, "gpu-a");
	assert_int_equal(evbuffer_get_length(in), 0);
	wire_free(env);

	free(bytes);
	evbuffer_free(in);
	evbuffer_free(out);
}

static void
test_several_frames_one_read(void **state)
{
	struct evbuffer		*b = evbuffer_new();
	Ppcoord__Envelope	*env = NULL;
	char			 err[PPC_ERRLEN] = "";
	uint8_t			*bytes;
	size_t			 len, consumed, off = 0;

	assert_int_equal(wire_send_heartbeat(b, 3), 0);
	assert_int_equal(wire_send_ack(b, 3, 1, NULL), 0);
	assert_int_equal(wire_send_standby(b, 4, "spare"), 0);

	/* wire_parse walks the same bytes with *consumed. */
	bytes = buffer_bytes(b, &len);
	assert_int_equal(wire_parse(bytes, len, 0, &consumed, &env, err,
	    sizeof(err)), WIRE_FRAME);
	assert_int_equal(env->msg_case, PPCOORD__ENVELOPE__MSG_HEARTBEAT);
	wire_free(env);
	off += consumed;
	assert_int_equal(wire_parse(bytes + off, len - off, 0, &consumed,
	    &env, err, sizeof(err)), WIRE_FRAME);
	assert_int_equal(env->msg_case, PPCOORD__ENVELOPE__MSG_ACK);
	wire_free(env);
	off += consumed;
	assert_int_equal(wire_parse(bytes + off, len - off, 0, &consumed,
	    &env, err, sizeof(err)), WIRE_FRAME);
	assert_int_equal(env->msg_case, PPCOORD__ENVELOPE__MSG_STANDBY);
	wire_free(env);
	assert_int_equal(off + consumed, len);
	free(bytes);

	env = read_one(b, PPCOORD__ENVELOPE__MSG_HEARTBEAT);
	wire_free(env);
	env = read_one(b, PPCOORD__ENVELOPE__MSG_ACK);
	wire_free(env);
	env = read_one(b, PPCOORD__ENVELOPE__MSG_STANDBY);
	wire_free(env);
	assert_int_equal(wire_read(b, WIRE_FRAME_MAX, &env, err, sizeof(err)),
	    WIRE_MORE);
	assert_int_equal(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}

/* A Reject whose message makes the packed Envelope exactly `size` bytes. */
static char *
reject_message_for_size(size_t size)
{
	Ppcoord__Envelope	 env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__Reject		 rj = PPCOORD__REJECT__INIT;
	char			*msg;
	size_t			 packed, len = size - 10;

	rj.has_reason = 1;
	rj.reason = PPCOORD__REJECT__REASON__REASON_CONFLICT;
	env.msg_case = PPCOORD__ENVELOPE__MSG_REJECT;
	env.reject = &rj;

	msg = malloc(size + 1);
	assert_non_null(msg);
	memset(msg, 'm', len);
	msg[len] = '\0';
	rj.message = msg;
	packed = ppcoord__envelope__get_packed_size(&env);
	len = len + size - packed;
	memset(msg, 'm', len);
	msg[len] = '\0';
	assert_int_equal(ppcoord__envelope__get_packed_size(&env), size);
	return msg;
}

static void
test_frame_at_limit(void **state)
{
	struct evbuffer		*b = evbuffer_new();
	Ppcoord__Envelope	*env;
	char			*msg;

	msg = reject_message_for_size(WIRE_FRAME_MAX);
	assert_int_equal(wire_send_reject(b,
	    PPCOORD__REJECT__REASON__REASON_CONFLICT, msg), 0);
	assert_int_equal(evbuffer_get_length(b),
	    WIRE_HEADER_LEN + WIRE_FRAME_MAX);
	env = read_one(b, PPCOORD__ENVELOPE__MSG_REJECT);
	assert_string_equal(env->reject->message, msg);
	wire_free(env);
	free(msg);

	/* One byte more is not sent. */
	msg = reject_message_for_size(WIRE_FRAME_MAX + 1);
	assert_int_equal(wire_send_reject(b,
	    PPCOORD__REJECT__REASON__REASON_CONFLICT, msg), -1);
	assert_int_equal(evbuffer_get_length(b), 0);
	free(msg);
	evbuffer_free(b);
}

static void
test_frame_over_limit_rejected(void **state)
{
	/* Only the header is present: the length alone is enough. */
	const uint8_t	over[] = { 0x00, 0x10, 0x00, 0x01 };
	const uint8_t	huge[] = { 0xff, 0xff, 0xff, 0xff };
	char		err[PPC_ERRLEN] = "";

	assert_int_equal(read_raw(over, sizeof(over), err), WIRE_ERROR);
	assert_non_null(strstr(err, "frame length 1048577 is over the limit "
	    "of 1048576 bytes"));
	assert_int_equal(read_raw(huge, sizeof(huge), err), WIRE_ERROR);
	assert_non_null(strstr(err, "frame length 4294967295"));
}

static void
test_frame_over_caller_limit(void **state)
{
	struct evbuffer		*b = evbuffer_new();
	Ppcoord__Envelope	*env = NULL;
	char			 err[PPC_ERRLEN] = "";

	assert_int_equal(wire_send_revoke(b, 2, "a reason long enough to "
	    "pass sixteen bytes"), 0);
	assert_int_equal(wire_read(b, 16, &env, err, sizeof(err)),
	    WIRE_ERROR);
	assert_null(env);
	assert_non_null(strstr(err, "over the limit of 16 bytes"));
	evbuffer_free(b);
}

static void
test_frame_length_zero(void **state)
{
	const uint8_t	zero[] = { 0, 0, 0, 0 };
	char		err[PPC_ERRLEN] = "";

	assert_int_equal(read_raw(zero, sizeof(zero), err), WIRE_ERROR);
	assert_non_null(strstr(err, "frame length is 0"));
}

static void
test_frame_garbage_body(void **state)
{
	const uint8_t	garbage[] = { 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff };
	/* Field 1 (hello) claims 100 bytes but the frame ends after 2. */
	const uint8_t	truncated[] = { 0, 0, 0, 4, 0x0a, 0x64, 0x08, 0x01 };
	char		err[PPC_ERRLEN] = "";

	assert_int_equal(read_raw(garbage, sizeof(garbage), err), WIRE_ERROR);
	assert_non_null(strstr(err, "not a valid Envelope"));
	assert_int_equal(read_raw(truncated, sizeof(truncated), err),
	    WIRE_ERROR);
	assert_non_null(strstr(err, "not a valid Envelope"));
}

static void
test_frame_unknown_or_empty_oneof(void **state)
{
	/* Field 10 as an empty message: a newer peer's message type. */
	const uint8_t	unknown[] = { 0, 0, 0, 2, 0x52, 0x00 };
	/* Only a varint in field 15, which Envelope does not define. */
	const uint8_t	no_msg[] = { 0, 0, 0, 2, 0x78, 0x01 };
	char		err[PPC_ERRLEN] = "";

	assert_int_equal(read_raw(unknown, sizeof(unknown), err), WIRE_ERROR);
	assert_non_null(strstr(err, "no known message set"));
	assert_int_equal(read_raw(no_msg, sizeof(no_msg), err), WIRE_ERROR);
	assert_non_null(strstr(err, "no known message set"));
}

static void
test_write_without_message(void **state)
{
	struct evbuffer		*b = evbuffer_new();
	Ppcoord__Envelope	 env = PPCOORD__ENVELOPE__INIT;

	assert_int_equal(wire_write(b, &env), -1);
	assert_int_equal(evbuffer_get_length(b), 0);
	assert_string_equal(wire_msg_name(&env), "none");
	evbuffer_free(b);
}

/* Round trips. */

static struct inv_gpu test_gpus[2] = {
	{ 0, "NVIDIA H100 80GB HBM3", "GPU-0a1b", 85520809984ULL,
	    84987740160ULL },
	{ 1, "NVIDIA H100 80GB HBM3", "GPU-2c3d", 85520809984ULL, 1000 },
};

static void
test_node(struct inv_node *node)
{
	memset(node, 0, sizeof(*node));
	strcpy(node->id, "gpu-b");
	strcpy(node->address, "10.0.0.2");
	node->workers = 2;
	node->ngpus = 2;
	node->gpus = test_gpus;
}

static void
test_round_trip_hello(void **state)
{
	struct evbuffer		*b = evbuffer_new();
	Ppcoord__Envelope	*env;
	struct inv_node		 node, back;
	char			 err[PPC_ERRLEN] = "";
	uint32_t		 i;

	test_node(&node);
	assert_int_equal(wire_send_hello(b, &node, 4, "assigned"), 0);
	env = read_one(b, PPCOORD__ENVELOPE__MSG_HELLO);
	assert_string_equal(wire_msg_name(env), "hello");
	assert_true(env->hello->has_protocol_version);
	assert_int_equal(env->hello->protocol_version,
	    PPCOORD__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
	assert_true(env->hello->held_generation == 4);
	assert_string_equal(env->hello->held_state, "assigned");
	assert_non_null(env->hello->agent_version);

	if (wire_hello_to_node(env->hello, &back, err, sizeof(err)) != 0)
		fail_msg("wire_hello_to_node: %s", err);
	assert_string_equal(back.id, "gpu-b");
	assert_string_equal(back.address, "10.0.0.2");
	assert_int_equal(back.workers, 2);
	assert_int_equal(back.ngpus, 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(back.gpus[i].index, test_gpus[i].index);
		assert_string_equal(back.gpus[i].name, test_gpus[i].name);
		assert_string_equal(back.gpus[i].uuid, test_gpus[i].uuid);
		assert_true(back.gpus[i].memory_total ==
		    test_gpus[i].memory_total);
		assert_true(back.gpus[i].memory_free ==
		    test_gpus[i].memory_free);
	}
	inv_node_free(&back);
	wire_free(env);
	evbuffer_free(b);
}

static void
test_round_trip_head_messages(void **state)
{
	struct evbuffer		*b = evbuffer_new();
	Ppcoord__Envelope	*env;

	assert_int_equal(wire_send_welcome(b, "gpu-a", "prod", 2000, 10000),
	    0);
	assert_int_equal(wire_send_standby(b, 5, "spare node"), 0);
	assert_int_equal(wire_send_revoke(b, 6, "node gpu-c lost"), 0);
	assert_int_equal(wire_send_reject(b,
	    PPCOORD__REJECT__REASON__REASON_IDENTITY_MISMATCH, "id differs"),
	    0);
	assert_int_equal(wire_send_not_leader(b, "10.0.0.9:7450"), 0);
	assert_int_equal(wire_send_not_leader(b, NULL), 0);

	env = read_one(b, PPCOORD__ENVELOPE__MSG_WELCOME);
	assert_string_equal(wire_msg_name(env), "welcome");
	assert_string_equal(env->welcome->node_id, "gpu-a");
	assert_string_equal(env->welcome->cluster, "prod");
	assert_int_equal(env->welcome->heartbeat_interval_ms, 2000);
	assert_int_equal(env->welcome->node_timeout_ms, 10000);
	assert_int_equal(env->welcome->protocol_version,
	    PPCOORD__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
	assert_non_null(env->welcome->head_version);
	wire_free(env);

	env = read_one(b, PPCOORD__ENVELOPE__MSG_STANDBY);
	assert_string_equal(wire_msg_name(env), "standby");
	assert_true(env->standby->generation == 5);
	assert_string_equal(env->standby->reason, "spare node");
	wire_free(env);

	env = read_one(b, PPCOORD__ENVELOPE__MSG_REVOKE);
	assert_string_equal(wire_msg_name(env), "revoke");
	assert_true(env->revoke->generation == 6);
	assert_string_equal(env->revoke->reason, "node gpu-c lost");
	wire_free(env);

	env = read_one(b, PPCOORD__ENVELOPE__MSG_REJECT);
	assert_string_equal(wire_msg_name(env), "reject");
	assert_int_equal(env->reject->reason,
	    PPCOORD__REJECT__REASON__REASON_IDENTITY_MISMATCH);
	assert_string_equal(env->reject->message, "id differs");
	wire_free(env);

	env = read_one(b, PPCOORD__ENVELOPE__MSG_NOT_LEADER);
	assert_string_equal(wire_msg_name(env), "not_leader");
	assert_string_equal(env->not_leader->leader_address, "10.0.0.9:7450");
	wire_free(env);
	env = read_one(b, PPCOORD__ENVELOPE__MSG_NOT_LEADER);
	assert_string_equal(env->not_leader->leader_address, "");
	wire_free(env);
	evbuffer_free(b);
}

static void
test_round_trip_agent_messages(void **state)
{
	struct evbuffer		*b = evbuffer_new();
	Ppcoord__Envelope	*env;

	assert_int_equal(wire_send_heartbeat(b, 12), 0);
	assert_int_equal(wire_send_ack(b, 12, 1, NULL), 0);
	assert_int_equal(wire_send_ack(b, 13, 0, "stage.env: No space left"),
	    0);

	env = read_one(b, PPCOORD__ENVELOPE__MSG_HEARTBEAT);
	assert_string_equal(wire_msg_name(env), "heartbeat");
	assert_true(env->heartbeat->has_generation);
	assert_true(env->heartbeat->generation == 12);
	wire_free(env);

	env = read_one(b, PPCOORD__ENVELOPE__MSG_ACK);
	assert_string_equal(wire_msg_name(env), "ack");
	assert_true(env->ack->generation == 12);
	assert_true(env->ack->has_ok);
	assert_true(env->ack->ok);
	assert_null(env->ack->error);
	wire_free(env);

	env = read_one(b, PPCOORD__ENVELOPE__MSG_ACK);
	assert_true(env->ack->generation == 13);
	assert_true(env->ack->has_ok);
	assert_false(env->ack->ok);
	assert_string_equal(env->ack->error, "stage.env: No space left");
	wire_free(env);
	evbuffer_free(b);
}

/* Hello validation. */

struct hello_fixture {
	Ppcoord__Hello	 hello;
	Ppcoord__Gpu	 gpus[2];
	Ppcoord__Gpu	*gpup[2];
	char		 name[200];
};

static void
hello_fixture(struct hello_fixture *f)
{
	int i;

	ppcoord__hello__init(&f->hello);
	f->hello.has_protocol_version = 1;
	f->hello.protocol_version = 1;
	f->hello.node_id = "gpu-b";
	f->hello.address = "10.0.0.2";
	for (i = 0; i < 2; i++) {
		ppcoord__gpu__init(&f->gpus[i]);
		f->gpus[i].has_index = 1;
		f->gpus[i].index = (uint32_t)i;
		f->gpus[i].name = "NVIDIA A100-SXM4-40GB";
		f->gpus[i].uuid = i ? "GPU-1" : "GPU-0";
		f->gpus[i].has_memory_total = 1;
		f->gpus[i].memory_total = 42949672960ULL;
		f->gpus[i].has_memory_free = 1;
		f->gpus[i].memory_free = 42000000000ULL;
		f->gpup[i] = &f->gpus[i];
	}
	f->hello.n_gpus = 2;
	f->hello.gpus = f->gpup;
}

static void
expect_hello_error(struct hello_fixture *f, const char *error)
{
	struct inv_node	node;
	char		err[PPC_ERRLEN] = "";

	if (wire_hello_to_node(&f->hello, &node, err, sizeof(err)) != -1)
		fail_msg("Hello accepted; expected \"%s\"", error);
	if (strstr(err, error) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", error, err);
	assert_null(node.gpus);
	hello_fixture(f);
}

static void
test_hello_defaults_workers(void **state)
{
	struct hello_fixture	f;
	struct inv_node		node;
	char			err[PPC_ERRLEN] = "";

	hello_fixture(&f);
	assert_int_equal(wire_hello_to_node(&f.hello, &node, err,
	    sizeof(err)), 0);
	assert_int_equal(node.workers, 2);
	inv_node_free(&node);

	f.hello.has_workers = 1;
	f.hello.workers = 1;
	assert_int_equal(wire_hello_to_node(&f.hello, &node, err,
	    sizeof(err)), 0);
	assert_int_equal(node.workers, 1);
	inv_node_free(&node);
}

static void
test_hello_missing_fields(void **state)
{
	struct hello_fixture f;

	hello_fixture(&f);
	f.hello.has_protocol_version = 0;
	expect_hello_error(&f, "Hello: protocol_version is missing");
	f.hello.node_id = NULL;
	expect_hello_error(&f, "Hello: node_id is missing");
	f.hello.address = NULL;
	expect_hello_error(&f, "Hello: address is missing");
	f.gpus[1].has_index = 0;
	expect_hello_error(&f, "Hello: gpus[1]: index is missing");
	f.gpus[0].name = NULL;
	expect_hello_error(&f, "Hello: gpus[0]: name is missing");
	f.gpus[0].uuid = NULL;
	expect_hello_error(&f, "Hello: gpus[0]: uuid is missing");
	f.gpus[0].has_memory_total = 0;
	expect_hello_error(&f, "Hello: gpus[0]: memory_total is missing");
	f.gpus[0].has_memory_free = 0;
	expect_hello_error(&f, "Hello: gpus[0]: memory_free is missing");
}

static void
test_hello_invalid_values(void **state)
{
	struct hello_fixture f;

	hello_fixture(&f);
	f.hello.n_gpus = 0;
	expect_hello_error(&f, "Hello: 0 GPUs listed: expected 1 to 1024");
	f.gpus[0].memory_total = 0;
	f.gpus[0].memory_free = 0;
	expect_hello_error(&f, "gpus[0]: memory_total 0 is out of range");
	f.gpus[1].memory_total = INV_MEMORY_MAX + 1;
	expect_hello_error(&f, "gpus[1]: memory_total 17592186044417 is out "
	    "of range");
	f.gpus[1].memory_free = f.gpus[1].memory_total + 1;
	expect_hello_error(&f, "gpus[1]: memory_free");
	f.hello.has_workers = 1;
	f.hello.workers = 3;
	expect_hello_error(&f, "workers 3 is out of range");
	f.hello.has_workers = 1;
	f.hello.workers = 0;
	expect_hello_error(&f, "workers 0 is out of range");
	f.hello.node_id = "gpu-b\nforged";
	expect_hello_error(&f, "invalid node id");
	f.hello.node_id = "a1234567890123456789012345678901234567890123456789"
	    "01234567890123";
	expect_hello_error(&f, "node_id is 64 bytes long: the maximum is 63");
	f.hello.address = "10.0.0.2 ";
	expect_hello_error(&f, "invalid address");
	f.gpus[0].name = "A100\x1b[31m";
	expect_hello_error(&f, "gpus[0]: name \"A100?[31m\" contains a control");
	memset(f.name, 'n', sizeof(f.name) - 1);
	f.name[sizeof(f.name) - 1] = '\0';
	f.gpus[1].uuid = f.name;
	expect_hello_error(&f, "gpus[1]: uuid is 199 bytes long: the maximum "
	    "is 95");
	f.gpus[1].index = 0;
	expect_hello_error(&f, "have the same index 0");
}

static void
test_hello_too_many_gpus(void **state)
{
	struct hello_fixture	  f;
	Ppcoord__Gpu		**many;
	size_t			  i;

	hello_fixture(&f);
	many = calloc(INV_GPUS_MAX + 1, sizeof(*many));
	assert_non_null(many);
	for (i = 0; i <= INV_GPUS_MAX; i++)
		many[i] = &f.gpus[0];
	f.hello.gpus = many;
	f.hello.n_gpus = INV_GPUS_MAX + 1;
	expect_hello_error(&f, "Hello: 1025 GPUs listed: expected 1 to 1024");
	free(many);
}

/* Assignments. */

/*
 * Three nodes, four stages: gpu-a runs stage 0, gpu-b stage 1 and gpu-c
 * stages 2 and 3 (16 GPUs, tp_size 8). 80 layers split 20,20,20,20, except
 * the example split 27,27,26 when `example` is set (three single-stage
 * nodes, as in the environment file example).
 */
struct plan_fixture {
	struct plan		p;
	struct plan_node	nodes[3];
	struct plan_stage	stages[4];
	uint32_t		partition[4];
};

static void
plan_fixture(struct plan_fixture *f, int example)
{
	static const char	*ids[3] = { "gpu-a", "gpu-b", "gpu-c" };
	static const char	*addrs[3] = { "10.0.0.1", "10.0.0.2",
				    "gpu-c.example" };
	uint32_t		 i, s, layer = 0, stages = example ? 3 : 4;

	memset(f, 0, sizeof(*f));
	f->p.generation = 4;
	f->p.num_stages = stages;
	f->p.tp_size = 8;
	f->p.layers = 80;
	f->p.nnodes = 3;
	f->p.nodes = f->nodes;
	f->p.stages = f->stages;
	f->p.layer_partition = f->partition;
	strcpy(f->p.master_addr, "10.0.0.1");
	f->p.master_port = 29500;

	for (i = 0; i < 3; i++) {
		strcpy(f->nodes[i].id, ids[i]);
		strcpy(f->nodes[i].address, addrs[i]);
		f->nodes[i].node_rank = i;
		f->nodes[i].first_stage = i;
		f->nodes[i].stage_count = (!example && i == 2) ? 2 : 1;
		f->nodes[i].workers = 8 * f->nodes[i].stage_count;
	}
	for (s = 0; s < stages; s++) {
		if (!example)
			f->partition[s] = 20;
		else if (s == 2)
			f->partition[s] = 26;
		else
			f->partition[s] = 27;
		f->stages[s].stage = s;
		f->stages[s].node = s < 3 ? s : 2;
		f->stages[s].first_layer = layer;
		layer += f->partition[s];
		f->stages[s].end_layer = layer;
	}
}

static Ppcoord__Envelope *
send_and_read_assignment(const struct plan *p, size_t node)
{
	struct evbuffer		*b = evbuffer_new();
	Ppcoord__Envelope	*env;

	assert_int_equal(wire_send_assignment(b, p, node), 0);
	env = read_one(b, PPCOORD__ENVELOPE__MSG_ASSIGNMENT);
	assert_int_equal(evbuffer_get_length(b), 0);
	evbuffer_free(b);
	return env;
}

static void
test_assignment_matches_plan_env(void **state)
{
	struct plan_fixture	 f;
	struct stage_env	 from_wire, from_plan;
	Ppcoord__Envelope	*env;
	char			 err[PPC_ERRLEN] = "";
	size_t			 n;

	plan_fixture(&f, 0);
	for (n = 0; n < 3; n++) {
		env = send_and_read_assignment(&f.p, n);
		if (wire_assignment_to_env(env->assignment, &from_wire, err,
		    sizeof(err)) != 0)
			fail_msg("node %zu: %s", n, err);
		plan_node_stage_env(&f.p, n, &from_plan);

		assert_int_equal(from_wire.state, STAGE_ASSIGNED);
		assert_int_equal(from_plan.state, STAGE_ASSIGNED);
		assert_true(from_wire.generation == 4);
		assert_true(from_plan.generation == 4);
		assert_true(envfile_same_placement(&from_wire, &from_plan));
		assert_string_equal(from_wire.layer_partition,
		    "20,20,20,20");
		assert_int_equal(from_wire.num_stages, 4);
		assert_int_equal(from_wire.nnodes, 3);
		wire_free(env);
	}

	/* gpu-c runs stages 2 and 3, so layers 40 to 80. */
	plan_node_stage_env(&f.p, 2, &from_plan);
	assert_string_equal(from_plan.node_id, "gpu-c");
	assert_int_equal(from_plan.first_stage, 2);
	assert_int_equal(from_plan.stage_count, 2);
	assert_int_equal(from_plan.first_layer, 40);
	assert_int_equal(from_plan.end_layer, 80);
	assert_int_equal(from_plan.node_rank, 2);
}

static void
test_assignment_carries_stages(void **state)
{
	struct plan_fixture	 f;
	Ppcoord__Envelope	*env;
	Ppcoord__Assignment	*a;

	plan_fixture(&f, 0);
	env = send_and_read_assignment(&f.p, 2);
	a = env->assignment;
	assert_int_equal(a->n_stages, 4);
	assert_string_equal(a->stages[0]->node_id, "gpu-a");
	assert_string_equal(a->stages[0]->address, "10.0.0.1");
	assert_string_equal(a->stages[1]->node_id, "gpu-b");
	assert_string_equal(a->stages[3]->node_id, "gpu-c");
	assert_string_equal(a->stages[3]->address, "gpu-c.example");
	assert_int_equal(a->stages[3]->first_layer, 60);
	assert_int_equal(a->stages[3]->end_layer, 80);
	assert_int_equal(a->first_layer, 40);
	assert_int_equal(a->end_layer, 80);
	assert_int_equal(a->n_layer_partition, 4);
	wire_free(env);
}

static void
test_assignment_env_file_bytes(void **state)
{
	static const char	 expected[] =
	    "PPCOORD_STATE=assigned\n"
	    "PPCOORD_GENERATION=4\n"
	    "PPCOORD_NODE_ID=gpu-b\n"
	    "PPCOORD_NODE_RANK=1\n"
	    "PPCOORD_NNODES=3\n"
	    "PPCOORD_FIRST_STAGE=1\n"
	    "PPCOORD_STAGE_COUNT=1\n"
	    "PPCOORD_NUM_STAGES=3\n"
	    "PPCOORD_TP_SIZE=8\n"
	    "PPCOORD_FIRST_LAYER=27\n"
	    "PPCOORD_END_LAYER=54\n"
	    "PPCOORD_MASTER_ADDR=10.0.0.1\n"
	    "PPCOORD_MASTER_PORT=29500\n"
	    "VLLM_PP_LAYER_PARTITION=27,27,26\n"
	    "SGLANG_PP_LAYER_PARTITION=27,27,26\n";
	struct plan_fixture	 f;
	struct stage_env	 from_wire, from_plan;
	Ppcoord__Envelope	*env;
	char			 err[PPC_ERRLEN] = "";
	char			*a, *b;

	plan_fixture(&f, 1);
	env = send_and_read_assignment(&f.p, 1);
	assert_int_equal(wire_assignment_to_env(env->assignment, &from_wire,
	    err, sizeof(err)), 0);
	plan_node_stage_env(&f.p, 1, &from_plan);
	a = envfile_format(&from_wire);
	b = envfile_format(&from_plan);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a, expected);
	assert_string_equal(b, expected);
	free(a);
	free(b);
	wire_free(env);
}

static void
test_assignment_send_rejects_bad_node(void **state)
{
	struct plan_fixture	 f;
	struct evbuffer		*b = evbuffer_new();

	plan_fixture(&f, 0);
	assert_int_equal(wire_send_assignment(b, &f.p, 3), -1);
	f.nodes[1].stage_count = 4;
	assert_int_equal(wire_send_assignment(b, &f.p, 1), -1);
	assert_int_equal(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}

/* Mutates a valid Assignment of gpu-c (stages 2 and 3 of 4). */
typedef void (*assignment_edit)(Ppcoord__Assignment *a);

static void edit_no_nnodes(Ppcoord__Assignment *a) { a->has_nnodes = 0; }
static void edit_no_master(Ppcoord__Assignment *a) { a->master_addr = NULL; }
static void edit_generation_0(Ppcoord__Assignment *a) { a->generation = 0; }
static void edit_rank(Ppcoord__Assignment *a) { a->node_rank = 3; }
static void edit_stage_range(Ppcoord__Assignment *a) { a->stage_count = 3; }
static void edit_first_stage(Ppcoord__Assignment *a) { a->first_stage = 4; }
static void edit_port_0(Ppcoord__Assignment *a) { a->master_port = 0; }
static void edit_port_big(Ppcoord__Assignment *a) { a->master_port = 70000; }
static void edit_tp_0(Ppcoord__Assignment *a) { a->tp_size = 0; }
static void edit_nnodes(Ppcoord__Assignment *a) { a->nnodes = 5; }
static void edit_first_layer(Ppcoord__Assignment *a) { a->first_layer = 39; }
static void edit_end_layer(Ppcoord__Assignment *a) { a->end_layer = 79; }
static void edit_partition_n(Ppcoord__Assignment *a)
{
	a->n_layer_partition = 3;
}
static void edit_partition_0(Ppcoord__Assignment *a)
{
	a->layer_partition[0] = 0;
}
static void edit_node_id(Ppcoord__Assignment *a) { a->node_id = "gpu c"; }
static void edit_master(Ppcoord__Assignment *a)
{
	a->master_addr = "10.0.0.1\nX=1";
}
static void edit_node_id_dotdot(Ppcoord__Assignment *a) { a->node_id = "../x"; }
static void edit_node_id_slash(Ppcoord__Assignment *a) { a->node_id = "gpu/c"; }
static void edit_node_id_newline(Ppcoord__Assignment *a)
{
	a->node_id = "gpu-c\nPPCOORD_STATE=revoked";
}
static void edit_node_id_long(Ppcoord__Assignment *a)
{
	a->node_id = "g123456789012345678901234567890123456789012345678901234"
	    "567890123";
}
static void edit_master_backslash(Ppcoord__Assignment *a)
{
	/* systemd's EnvironmentFile= joins a line ending in a backslash
	 * with the next one. */
	a->master_addr = "10.0.0.1\\";
}
static void edit_master_quote(Ppcoord__Assignment *a)
{
	a->master_addr = "\"10.0.0.1\"";
}
static void edit_stage_node_path(Ppcoord__Assignment *a)
{
	a->stages[3]->node_id = "../gpu-c";
}
static void edit_stage_count(Ppcoord__Assignment *a) { a->n_stages = 3; }
static void edit_stage_node(Ppcoord__Assignment *a)
{
	a->stages[3]->node_id = "gpu-a";
}
static void edit_stage_layers(Ppcoord__Assignment *a)
{
	a->stages[1]->end_layer = 41;
}
static void edit_stage_index(Ppcoord__Assignment *a)
{
	a->stages[1]->stage = 2;
}
static void edit_stage_address(Ppcoord__Assignment *a)
{
	a->stages[0]->address = "10.0.0.1;rm";
}

static const struct {
	assignment_edit	 edit;
	const char	*error;
} assignment_cases[] = {
	{ edit_no_nnodes, "Assignment: nnodes is missing" },
	{ edit_no_master, "Assignment: master_addr is missing" },
	{ edit_generation_0, "generation 0 is reserved" },
	{ edit_rank, "node_rank 3 is not below nnodes 3" },
	{ edit_stage_range, "stages 2 to 5 are outside num_stages 4" },
	{ edit_first_stage, "stages 4 to 6 are outside num_stages 4" },
	{ edit_port_0, "master_port 0 is out of range" },
	{ edit_port_big, "master_port 70000 is out of range" },
	{ edit_tp_0, "tp_size 0 is out of range" },
	{ edit_nnodes, "nnodes 5 is out of range: expected 1 to num_stages 4" },
	{ edit_first_layer, "layers 39 to 80 do not match stages 2 to 4" },
	{ edit_end_layer, "layers 40 to 79 do not match" },
	{ edit_partition_n, "layer_partition has 3 entries: expected "
	    "num_stages 4" },
	{ edit_partition_0, "layer_partition[0] is 0" },
	{ edit_node_id, "Assignment: invalid node id \"gpu c\"" },
	{ edit_master, "Assignment: invalid address" },
	{ edit_node_id_dotdot, "Assignment: invalid node id \"../x\"" },
	{ edit_node_id_slash, "Assignment: invalid node id \"gpu/c\"" },
	{ edit_node_id_newline, "Assignment: invalid node id" },
	{ edit_node_id_long, "is 64 bytes long, the maximum is 63" },
	{ edit_master_backslash, "Assignment: invalid address" },
	{ edit_master_quote, "Assignment: invalid address" },
	{ edit_stage_node_path, "stages[3]: invalid node id" },
	{ edit_stage_count, "3 stages listed: expected num_stages 4" },
	{ edit_stage_node, "stages[3] names node gpu-a, but the assignment "
	    "gives that stage to gpu-c" },
	{ edit_stage_layers, "stages[1]: layers do not match" },
	{ edit_stage_index, "stages[1]: stage is missing or not 1" },
	{ edit_stage_address, "stages[0]: invalid address" },
};

static void
test_assignment_validation(void **state)
{
	struct plan_fixture	 f;
	struct stage_env	 env;
	Ppcoord__Envelope	*e;
	char			 err[PPC_ERRLEN];
	size_t			 i;

	plan_fixture(&f, 0);
	for (i = 0; i < sizeof(assignment_cases) /
	    sizeof(assignment_cases[0]); i++) {
		Ppcoord__Assignment	saved;
		char			*addr0, *node3;

		e = send_and_read_assignment(&f.p, 2);
		assert_int_equal(wire_assignment_to_env(e->assignment, &env,
		    err, sizeof(err)), 0);
		saved = *e->assignment;
		addr0 = e->assignment->stages[0]->address;
		node3 = e->assignment->stages[3]->node_id;
		assignment_cases[i].edit(e->assignment);

		err[0] = '\0';
		if (wire_assignment_to_env(e->assignment, &env, err,
		    sizeof(err)) != -1)
			fail_msg("case %zu accepted", i);
		if (strstr(err, assignment_cases[i].error) == NULL)
			fail_msg("case %zu: expected \"%s\" in \"%s\"", i,
			    assignment_cases[i].error, err);
		assert_null(strchr(err, '\n'));

		/* Restore what the unpacked message owns before freeing. */
		*e->assignment = saved;
		e->assignment->stages[0]->address = addr0;
		e->assignment->stages[3]->node_id = node3;
		wire_free(e);
	}
}

static void
test_reject_reason_names(void **state)
{
	static const struct {
		Ppcoord__Reject__Reason	 reason;
		const char		*name;
	} names[] = {
		{ PPCOORD__REJECT__REASON__REASON_UNSPECIFIED, "unspecified" },
		{ PPCOORD__REJECT__REASON__REASON_PROTOCOL_VERSION,
		    "protocol_version" },
		{ PPCOORD__REJECT__REASON__REASON_IDENTITY_MISMATCH,
		    "identity_mismatch" },
		{ PPCOORD__REJECT__REASON__REASON_INVALID_HELLO,
		    "invalid_hello" },
		{ PPCOORD__REJECT__REASON__REASON_INVALID_INVENTORY,
		    "invalid_inventory" },
		{ PPCOORD__REJECT__REASON__REASON_DUPLICATE_ADDRESS,
		    "duplicate_address" },
		{ PPCOORD__REJECT__REASON__REASON_UNEXPECTED_MESSAGE,
		    "unexpected_message" },
		{ PPCOORD__REJECT__REASON__REASON_TOO_MANY_CONNECTIONS,
		    "too_many_connections" },
		{ PPCOORD__REJECT__REASON__REASON_CONFLICT, "conflict" },
		{ PPCOORD__REJECT__REASON__REASON_SHUTTING_DOWN,
		    "shutting_down" },
		{ (Ppcoord__Reject__Reason)77, "unspecified" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(wire_reject_reason_name(names[i].reason),
		    names[i].name);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partial_frame_byte_by_byte),
		cmocka_unit_test(test_several_frames_one_read),
		cmocka_unit_test(test_frame_at_limit),
		cmocka_unit_test(test_frame_over_limit_rejected),
		cmocka_unit_test(test_frame_over_caller_limit),
		cmocka_unit_test(test_frame_length_zero),
		cmocka_unit_test(test_frame_garbage_body),
		cmocka_unit_test(test_frame_unknown_or_empty_oneof),
		cmocka_unit_test(test_write_without_message),
		cmocka_unit_test(test_round_trip_hello),
		cmocka_unit_test(test_round_trip_head_messages),
		cmocka_unit_test(test_round_trip_agent_messages),
		cmocka_unit_test(test_hello_defaults_workers),
		cmocka_unit_test(test_hello_missing_fields),
		cmocka_unit_test(test_hello_invalid_values),
		cmocka_unit_test(test_hello_too_many_gpus),
		cmocka_unit_test(test_assignment_matches_plan_env),
		cmocka_unit_test(test_assignment_carries_stages),
		cmocka_unit_test(test_assignment_env_file_bytes),
		cmocka_unit_test(test_assignment_send_rejects_bad_node),
		cmocka_unit_test(test_assignment_validation),
		cmocka_unit_test(test_reject_reason_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
