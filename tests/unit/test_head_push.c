/*
 * The head's shared-table Assignment frames must be byte for byte what
 * wire_send_assignment writes, for every node of plans of several shapes.
 * A frame with only the changed stages, expanded by the agent's table,
 * must give the same environment and table as the whole frame.
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

#include "../../daemon/head_push.c"
#include "stagetab.h"

/* Makes an inventory of n nodes with `workers` GPUs of 80 GiB each. */
static void
make_inv(struct inv *inv, size_t n, uint32_t workers)
{
	struct inv_node	 node;
	struct inv_gpu	*gpus;
	size_t		 i;
	uint32_t	 g;

	inv_init(inv);
	gpus = calloc(workers, sizeof(*gpus));
	assert_non_null(gpus);
	for (g = 0; g < workers; g++) {
		gpus[g].index = g;
		snprintf(gpus[g].name, sizeof(gpus[g].name), "Test GPU");
		snprintf(gpus[g].uuid, sizeof(gpus[g].uuid), "GPU-%u", g);
		gpus[g].memory_total = 80ULL << 30;
		gpus[g].memory_free = 80ULL << 30;
	}
	for (i = 0; i < n; i++) {
		memset(&node, 0, sizeof(node));
		snprintf(node.id, sizeof(node.id), "node-%05zu", i);
		snprintf(node.address, sizeof(node.address), "10.%zu.%zu.%zu",
		    i / 65536, (i / 256) % 256, i % 256);
		node.workers = workers;
		node.ngpus = workers;
		node.gpus = gpus;
		assert_int_equal(inv_add(inv, &node), 0);
	}
	free(gpus);
}

static void
make_plan(struct plan *p, size_t nodes, uint32_t workers, uint32_t tp,
    uint32_t layers)
{
	struct plan_config	 cfg;
	struct inv		 inv;
	char			 err[PPC_ERRLEN];

	plan_config_init(&cfg);
	cfg.layers = layers;
	cfg.tp_size = tp;
	cfg.expected_nodes = (uint32_t)nodes;
	cfg.master_port = 29500;
	make_inv(&inv, nodes, workers);
	plan_init(p);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, p, err,
	    sizeof(err)), 0);
	p->generation = 7;
	inv_free(&inv);
}

/* Compares both encodings for every node of p. */
static void
check_plan(const struct plan *p)
{
	struct push_table	*t;
	struct evbuffer		*want, *got;
	size_t			 i, len;

	t = push_table_new(p);
	assert_non_null(t);
	for (i = 0; i < p->nnodes; i++) {
		want = evbuffer_new();
		got = evbuffer_new();
		assert_int_equal(wire_send_assignment(want, p, i), 0);
		assert_int_equal(push_assignment(got, p, i, t, WIRE_FRAME_MAX),
		    0);
		len = evbuffer_get_length(want);
		assert_int_equal(evbuffer_get_length(got), len);
		assert_memory_equal(evbuffer_pullup(want, -1),
		    evbuffer_pullup(got, -1), len);
		evbuffer_free(want);
		evbuffer_free(got);
	}
	/* Every reference is dropped with its buffer. */
	assert_int_equal(t->pt_refs, 1);
	push_table_unref(t);
}

static void
push_one_node(void **state)
{
	struct plan	 p;

	make_plan(&p, 1, 8, 8, 80);
	check_plan(&p);
	plan_free(&p);
}

static void
push_several_stages_per_node(void **state)
{
	struct plan	 p;

	make_plan(&p, 3, 8, 4, 61);
	check_plan(&p);
	plan_free(&p);
}

static void
push_many_nodes(void **state)
{
	struct plan	 p;

	make_plan(&p, 300, 1, 1, 1000);
	check_plan(&p);
	plan_free(&p);
}

static void
push_frame_over_limit(void **state)
{
	struct plan		 p;
	struct push_table	*t;
	struct evbuffer		*out;

	make_plan(&p, 300, 1, 1, 1000);
	t = push_table_new(&p);
	out = evbuffer_new();
	assert_int_equal(push_assignment(out, &p, 0, t, 1024), -1);
	assert_int_equal(evbuffer_get_length(out), 0);
	assert_int_equal(t->pt_refs, 1);
	evbuffer_free(out);
	push_table_unref(t);
	plan_free(&p);
}

static void
push_invalid_node(void **state)
{
	struct plan		 p;
	struct push_table	*t;
	struct evbuffer		*out;

	make_plan(&p, 2, 8, 8, 80);
	t = push_table_new(&p);
	out = evbuffer_new();
	assert_int_equal(push_assignment(out, &p, 2, t, WIRE_FRAME_MAX), -1);
	assert_int_equal(push_assignment(out, &p, 0, NULL, WIRE_FRAME_MAX),
	    -1);
	assert_int_equal(evbuffer_get_length(out), 0);
	evbuffer_free(out);
	push_table_unref(t);
	plan_free(&p);
}

/* Queues node i's frame with table t and decodes it back. */
static Ppcoord__Envelope *
frame_of(const struct plan *p, size_t i, struct push_table *t, size_t *len)
{
	struct evbuffer		*b = evbuffer_new();
	Ppcoord__Envelope	*env = NULL;
	char			 err[PPC_ERRLEN];

	assert_non_null(b);
	assert_int_equal(push_assignment(b, p, i, t, WIRE_FRAME_MAX), 0);
	*len = evbuffer_get_length(b);
	if (wire_read(b, WIRE_FRAME_MAX, &env, err, sizeof(err)) != WIRE_FRAME)
		fail_msg("wire_read: %s", err);
	assert_int_equal(env->msg_case, PPCOORD__ENVELOPE__MSG_ASSIGNMENT);
	evbuffer_free(b);
	return env;
}

/* Expands m against t, validates it into env, and keeps its table. */
static void
apply(struct stagetab *t, const Ppcoord__Assignment *m,
    struct stage_env *env)
{
	struct stagetab_view	v;
	char			err[PPC_ERRLEN];

	if (stagetab_expand(t, m, &v, err, sizeof(err)) != 0)
		fail_msg("stagetab_expand: %s", err);
	if (wire_assignment_to_env(&v.msg, env, err, sizeof(err)) != 0)
		fail_msg("wire_assignment_to_env: %s", err);
	assert_int_equal(stagetab_store(t, &v.msg), 0);
	stagetab_view_free(&v);
}

/* Checks that two held tables list the same stages. */
static void
assert_same_table(const struct stagetab *a, const struct stagetab *b)
{
	uint32_t	 s;

	assert_int_equal(a->num_stages, b->num_stages);
	for (s = 0; s < a->num_stages; s++) {
		assert_string_equal(a->entries[s].node_id,
		    b->entries[s].node_id);
		assert_string_equal(a->entries[s].address,
		    b->entries[s].address);
		assert_int_equal(a->entries[s].layers, b->entries[s].layers);
	}
}

/* Plan b is plan a with node `gone` replaced by a spare on its stages. */
static void
make_takeover(const struct plan *a, struct plan *b, size_t gone)
{
	assert_int_equal(plan_copy(b, a), 0);
	b->generation = a->generation + 1;
	snprintf(b->nodes[gone].id, sizeof(b->nodes[gone].id), "spare-1");
	snprintf(b->nodes[gone].address, sizeof(b->nodes[gone].address),
	    "10.200.0.1");
	if (gone == 0)
		snprintf(b->master_addr, sizeof(b->master_addr), "10.200.0.1");
}

/* For every node: the whole frame of a, then the change to b, gives the
 * environment and table of b's whole frame. */
static void
check_delta(const struct plan *a, const struct plan *b, size_t changed)
{
	struct push_table	*ta, *tb, *d;
	Ppcoord__Envelope	*e;
	struct stagetab		 held, whole;
	struct stage_env	 got, want;
	size_t			 i, len, dlen;

	ta = push_table_new(a);
	tb = push_table_new(b);
	d = push_delta_new(a, b);
	assert_non_null(ta);
	assert_non_null(tb);
	assert_non_null(d);
	for (i = 0; i < b->nnodes; i++) {
		memset(&held, 0, sizeof(held));
		memset(&whole, 0, sizeof(whole));
		e = frame_of(a, i, ta, &len);
		apply(&held, e->assignment, &got);
		wire_free(e);

		e = frame_of(b, i, d, &dlen);
		assert_true(e->assignment->has_stages_base);
		assert_int_equal(e->assignment->stages_base, a->generation);
		assert_int_equal(e->assignment->n_stages, changed);
		assert_int_equal(e->assignment->n_layer_partition, 0);
		apply(&held, e->assignment, &got);
		wire_free(e);

		e = frame_of(b, i, tb, &len);
		assert_true(dlen < len);
		apply(&whole, e->assignment, &want);
		wire_free(e);

		assert_memory_equal(&got, &want, sizeof(got));
		assert_int_equal(held.generation, b->generation);
		assert_same_table(&held, &whole);
		stagetab_clear(&held);
		stagetab_clear(&whole);
	}
	push_table_unref(ta);
	push_table_unref(tb);
	push_table_unref(d);
}

static void
push_delta_after_takeover(void **state)
{
	struct plan	 a, b;

	make_plan(&a, 6, 1, 1, 40);
	make_takeover(&a, &b, 3);
	check_delta(&a, &b, 1);
	plan_free(&b);
	plan_free(&a);
}

static void
push_delta_takeover_of_master(void **state)
{
	struct plan	 a, b;

	make_plan(&a, 4, 8, 4, 61);
	make_takeover(&a, &b, 0);
	/* Node 0 has two stages of 4 workers each. */
	check_delta(&a, &b, 2);
	plan_free(&b);
	plan_free(&a);
}

static void
push_delta_unchanged_table(void **state)
{
	struct plan	 a, b;

	make_plan(&a, 5, 1, 1, 40);
	assert_int_equal(plan_copy(&b, &a), 0);
	b.generation = a.generation + 1;
	check_delta(&a, &b, 0);
	plan_free(&b);
	plan_free(&a);
}

static void
push_delta_needs_same_split(void **state)
{
	struct plan	 a, b, c;

	make_plan(&a, 5, 1, 1, 40);
	assert_int_equal(plan_copy(&b, &a), 0);
	b.generation = 8;
	b.layer_partition[0]++;
	b.layer_partition[1]--;
	assert_null(push_delta_new(&a, &b));
	make_plan(&c, 4, 1, 1, 40);
	c.generation = 8;
	assert_null(push_delta_new(&a, &c));
	plan_free(&c);
	plan_free(&b);
	plan_free(&a);
}

/* After a takeover only the new node's own fields differ, unless the
 * lost node was rank 0, whose address every node uses as MASTER_ADDR. */
static void
push_same_fields_after_takeover(void **state)
{
	struct plan	 a, b, c;
	size_t		 i;

	make_plan(&a, 6, 1, 1, 40);
	make_takeover(&a, &b, 3);
	for (i = 0; i < b.nnodes; i++)
		if (i == 3)
			assert_false(push_same_own_fields(&a, i, &b, i));
		else
			assert_true(push_same_own_fields(&a, i, &b, i));
	/* Another node index is another rank and other stages. */
	assert_false(push_same_own_fields(&a, 1, &b, 2));

	make_takeover(&a, &c, 0);
	for (i = 0; i < c.nnodes; i++)
		assert_false(push_same_own_fields(&a, i, &c, i));
	plan_free(&c);
	plan_free(&b);
	plan_free(&a);
}

/* A change of layer split changes the layers of most nodes, and a
 * change of master port that of every node. */
static void
push_same_fields_other_changes(void **state)
{
	struct plan	 a, b;

	make_plan(&a, 5, 1, 1, 40);
	assert_int_equal(plan_copy(&b, &a), 0);
	b.generation = a.generation + 1;
	assert_true(push_same_own_fields(&a, 0, &b, 0));
	b.stages[0].end_layer++;
	b.stages[1].first_layer++;
	assert_false(push_same_own_fields(&a, 0, &b, 0));
	assert_false(push_same_own_fields(&a, 1, &b, 1));
	assert_true(push_same_own_fields(&a, 2, &b, 2));
	b.master_port++;
	assert_false(push_same_own_fields(&a, 2, &b, 2));
	assert_false(push_same_own_fields(&a, 9, &b, 9));
	plan_free(&b);
	plan_free(&a);
}

/* For every node, the frame with the compressed table gives the same
 * environment and table as the frame with the table as it is. */
static void
push_zlib_same_as_whole(void **state)
{
	struct plan		 p;
	struct push_table	*t, *z;
	Ppcoord__Envelope	*e;
	struct stagetab		 held, whole;
	struct stage_env	 got, want;
	size_t			 i, len, zlen;

	make_plan(&p, 40, 2, 1, 80);
	t = push_table_new(&p);
	assert_non_null(t);
	z = push_table_zlib_new(t);
	assert_non_null(z);
	assert_true(z->pt_len < t->pt_len);
	assert_int_equal(z->pt_plain_len, t->pt_len);
	for (i = 0; i < p.nnodes; i++) {
		memset(&held, 0, sizeof(held));
		memset(&whole, 0, sizeof(whole));
		e = frame_of(&p, i, z, &zlen);
		assert_true(e->assignment->has_stages_zlib);
		assert_int_equal(e->assignment->n_stages, 0);
		assert_int_equal(e->assignment->n_layer_partition, 0);
		apply(&held, e->assignment, &got);
		wire_free(e);

		e = frame_of(&p, i, t, &len);
		assert_true(zlen < len);
		apply(&whole, e->assignment, &want);
		wire_free(e);

		assert_memory_equal(&got, &want, sizeof(got));
		assert_int_equal(held.num_stages, 80);
		assert_same_table(&held, &whole);
		stagetab_clear(&held);
		stagetab_clear(&whole);
	}
	push_table_unref(z);
	push_table_unref(t);
	plan_free(&p);
}

/* Small tables stay as they are. A table that fits the frame limit only
 * compressed is not sent, because agents without zlib could not take it
 * and the agent bounds what it inflates by the same limit. */
static void
push_zlib_limits(void **state)
{
	struct plan		 p;
	struct push_table	*t, *z;
	struct evbuffer		*out;

	make_plan(&p, 3, 8, 8, 80);
	t = push_table_new(&p);
	assert_null(push_table_zlib_new(t));
	assert_null(push_table_zlib_new(NULL));
	push_table_unref(t);
	plan_free(&p);

	make_plan(&p, 300, 1, 1, 1000);
	t = push_table_new(&p);
	z = push_table_zlib_new(t);
	assert_non_null(z);
	assert_true(z->pt_len + 200 < 4096);
	assert_true(t->pt_len > 4096);
	out = evbuffer_new();
	assert_int_equal(push_assignment(out, &p, 0, z, 4096), -1);
	assert_int_equal(evbuffer_get_length(out), 0);
	assert_int_equal(push_assignment(out, &p, 0, z, WIRE_FRAME_MAX), 0);
	evbuffer_free(out);
	push_table_unref(z);
	push_table_unref(t);
	plan_free(&p);
}

/*
 * Tables that deflate shrinks by only a few bytes: the tag and length of
 * stages_zlib make the field as long as the plain table or longer, so
 * the plain table is kept. Without that, a plan whose plain frame fits
 * the limit exactly would be refused to agents that accept zlib.
 */
static void
push_zlib_field_not_longer(void **state)
{
	struct push_table	*t, *z;
	uint8_t			 tmp[4096];
	uLongf			 zlen;
	uint32_t		 x = 12345;
	size_t			 zeros, i, len = 2000;
	bool			 edge = false;

	t = malloc(sizeof(*t) + len);
	assert_non_null(t);
	t->pt_refs = 1;
	t->pt_len = t->pt_plain_len = len;
	for (zeros = 0; zeros < 200; zeros++) {
		for (i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			t->pt_data[i] = i < zeros ? 0 : (uint8_t)(x >> 16);
		}
		zlen = sizeof(tmp);
		assert_int_equal(compress2(tmp, &zlen, t->pt_data, len,
		    Z_DEFAULT_COMPRESSION), Z_OK);
		if (zlen < len && zlen + 4 >= len)
			edge = true;
		z = push_table_zlib_new(t);
		if (z != NULL) {
			assert_true(z->pt_len < t->pt_len);
			push_table_unref(z);
		}
	}
	/* The loop met a table that deflate shrinks by 1 to 4 bytes. */
	assert_true(edge);
	push_table_unref(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(push_one_node),
		cmocka_unit_test(push_several_stages_per_node),
		cmocka_unit_test(push_many_nodes),
		cmocka_unit_test(push_frame_over_limit),
		cmocka_unit_test(push_invalid_node),
		cmocka_unit_test(push_zlib_same_as_whole),
		cmocka_unit_test(push_zlib_limits),
		cmocka_unit_test(push_zlib_field_not_longer),
		cmocka_unit_test(push_delta_after_takeover),
		cmocka_unit_test(push_delta_takeover_of_master),
		cmocka_unit_test(push_delta_unchanged_table),
		cmocka_unit_test(push_delta_needs_same_split),
		cmocka_unit_test(push_same_fields_after_takeover),
		cmocka_unit_test(push_same_fields_other_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
