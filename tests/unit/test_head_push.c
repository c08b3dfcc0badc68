/*
 * The head's shared-table Assignment frames must be byte for byte what
 * wire_send_assignment writes, for every node of plans of several shapes.
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(push_one_node),
		cmocka_unit_test(push_several_stages_per_node),
		cmocka_unit_test(push_many_nodes),
		cmocka_unit_test(push_frame_over_limit),
		cmocka_unit_test(push_invalid_node),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
