/*
 * The state file text written without jansson must be equal, as JSON
 * values, to the document built from plan_to_jansson and inv_to_jansson,
 * with and without the memory model, and must fall back (return NULL)
 * where it cannot be.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../daemon/head_state_text.c"
#include "plan_fixture.h"

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
		snprintf(gpus[g].name, sizeof(gpus[g].name),
		    "Test GPU \"%u\" \xc3\xa9", g);
		snprintf(gpus[g].uuid, sizeof(gpus[g].uuid), "GPU-%u", g);
		gpus[g].memory_total = 80ULL << 30;
		gpus[g].memory_free = (80ULL << 30) - g;
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

/* Plans `expected` of `nodes` nodes with the model `sizes` (NULL for no
 * memory model); the rest are spares. */
static void
make_plan_sized(struct plan *p, struct inv *inv, size_t nodes,
    size_t expected, uint32_t workers, uint32_t tp, uint32_t layers,
    const struct model_sizes *sizes)
{
	struct plan_config	 cfg;
	char			 err[PPC_ERRLEN];

	plan_config_init(&cfg);
	cfg.layers = layers;
	cfg.tp_size = tp;
	cfg.expected_nodes = (uint32_t)expected;
	cfg.master_port = 29500;
	cfg.sizes = sizes;
	make_inv(inv, nodes, workers);
	plan_init(p);
	if (plan_compute(&cfg, inv, NULL, 0, p, err, sizeof(err)) != 0)
		fail_msg("plan_compute: %s", err);
	p->generation = 7;
}

static void
make_plan(struct plan *p, struct inv *inv, size_t nodes, size_t expected,
    uint32_t workers, uint32_t tp, uint32_t layers)
{
	make_plan_sized(p, inv, nodes, expected, workers, tp, layers, NULL);
}

/* The document state_save built with jansson before state_text. */
static json_t *
jansson_doc(const struct plan *p, const struct inv *inv,
    const struct model_sizes *sizes)
{
	struct plan_config	 cfg;
	json_t			*o;

	plan_config_init(&cfg);
	cfg.sizes = sizes;
	o = json_pack("{s:i, s:s, s:I, s:s, s:o*, s:o*, s:s}",
	    "version", 1, "cluster", "test \"cluster\"\n",
	    "generation", (json_int_t)9, "state", "active",
	    "plan", plan_to_jansson(p, &cfg), "inventory",
	    inv_to_jansson(inv), "config_digest", "00ff");
	assert_non_null(o);
	return o;
}

static void
check_equal_sized(const struct plan *p, const struct inv *inv,
    const struct model_sizes *sizes)
{
	json_error_t	 jerr;
	json_t		*want, *got;
	char		*text;
	size_t		 len = 0;

	text = state_text(p, inv, sizes, 1, "test \"cluster\"\n", 9,
	    "active", "00ff", &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	got = json_loads(text, 0, &jerr);
	if (got == NULL)
		fail_msg("invalid JSON at %d: %s", jerr.position, jerr.text);
	want = jansson_doc(p, inv, sizes);
	assert_true(json_equal(want, got));
	json_decref(want);
	json_decref(got);
	free(text);
}

/* The plan in the text reads back with the memory figures it had. */
static void
check_reads_back(const struct plan *p, const struct inv *inv,
    const struct model_sizes *sizes)
{
	json_error_t	 jerr;
	json_t		*doc;
	struct plan	 back;
	char		*text, err[PPC_ERRLEN];
	size_t		 len = 0;
	uint32_t	 s;

	text = state_text(p, inv, sizes, 1, "c", 9, "active", "00ff", &len);
	assert_non_null(text);
	doc = json_loads(text, 0, &jerr);
	assert_non_null(doc);
	if (plan_from_jansson(&back, json_object_get(doc, "plan"), err,
	    sizeof(err)) != 0)
		fail_msg("plan_from_jansson: %s", err);
	assert_true(back.have_memory);
	assert_int_equal(back.kv_tokens, p->kv_tokens);
	assert_int_equal(back.num_stages, p->num_stages);
	for (s = 0; s < p->num_stages; s++) {
		assert_int_equal(back.stages[s].budget_bytes,
		    p->stages[s].budget_bytes);
		assert_int_equal(back.stages[s].weight_bytes,
		    p->stages[s].weight_bytes);
		assert_int_equal(back.stages[s].kv_tokens,
		    p->stages[s].kv_tokens);
	}
	plan_free(&back);
	json_decref(doc);
	free(text);
}

static void
check_equal(const struct plan *p, const struct inv *inv)
{
	check_equal_sized(p, inv, NULL);
}

static void
state_text_one_node(void **state)
{
	struct plan	 p;
	struct inv	 inv;

	make_plan(&p, &inv, 1, 1, 8, 8, 80);
	check_equal(&p, &inv);
	plan_free(&p);
	inv_free(&inv);
}

static void
state_text_spares_and_stages(void **state)
{
	struct plan	 p;
	struct inv	 inv;

	make_plan(&p, &inv, 12, 9, 8, 4, 61);
	assert_true(p.nspares > 0);
	check_equal(&p, &inv);
	plan_free(&p);
	inv_free(&inv);
}

static void
state_text_escapes_reasons(void **state)
{
	struct plan	 p;
	struct inv	 inv;

	make_plan(&p, &inv, 3, 2, 1, 1, 5);
	snprintf(p.nodes[0].reason, sizeof(p.nodes[0].reason),
	    "quote \" backslash \\ tab \t newline \n del \x7f \xe2\x82\xac");
	snprintf(p.spares[0].reason, sizeof(p.spares[0].reason), "\x01\x1f");
	check_equal(&p, &inv);
	plan_free(&p);
	inv_free(&inv);
}

static void
state_text_many_nodes(void **state)
{
	struct plan	 p;
	struct inv	 inv;

	make_plan(&p, &inv, 2000, 1999, 1, 1, 1999);
	check_equal(&p, &inv);
	plan_free(&p);
	inv_free(&inv);
}

static void
state_text_invalid_utf8(void **state)
{
	struct plan	 p;
	struct inv	 inv;
	size_t		 len;

	make_plan(&p, &inv, 2, 2, 1, 1, 4);
	snprintf(p.nodes[1].reason, sizeof(p.nodes[1].reason), "bad \xc3(");
	assert_null(state_text(&p, &inv, NULL, 1, "c", 1, "active", "", &len));
	snprintf(p.nodes[1].reason, sizeof(p.nodes[1].reason),
	    "surrogate \xed\xa0\x80");
	assert_null(state_text(&p, &inv, NULL, 1, "c", 1, "active", "", &len));
	snprintf(p.nodes[1].reason, sizeof(p.nodes[1].reason),
	    "overlong \xc0\xaf");
	assert_null(state_text(&p, &inv, NULL, 1, "c", 1, "active", "", &len));
	plan_free(&p);
	inv_free(&inv);
}

/* Model sizes of `layers` layers of 1 GiB, for the memory model. */
static void
make_sizes(struct model_sizes *m, uint64_t *w, uint32_t layers)
{
	uint32_t i;

	for (i = 0; i < layers; i++)
		w[i] = 1ULL << 30;
	fx_sizes(m, layers, w, 2ULL << 30, 3ULL << 30, 327680);
}

static void
state_text_memory_plan(void **state)
{
	struct model_sizes	 m;
	uint64_t		 w[61];
	struct plan		 p;
	struct inv		 inv;

	make_sizes(&m, w, 61);
	make_plan_sized(&p, &inv, 12, 9, 8, 4, 61, &m);
	assert_true(p.have_memory);
	check_equal_sized(&p, &inv, &m);
	check_reads_back(&p, &inv, &m);
	/* Negative budgets and tokens: stages that do not fit. */
	p.stages[0].budget_bytes = -12345;
	p.stages[1].kv_tokens = INT64_MIN;
	p.kv_tokens = -1;
	check_equal_sized(&p, &inv, &m);
	plan_free(&p);
	inv_free(&inv);
}

static void
state_text_memory_plan_without_model(void **state)
{
	struct model_sizes	 m;
	uint64_t		 w[8];
	struct plan		 p;
	struct inv		 inv;

	make_sizes(&m, w, 8);
	make_plan_sized(&p, &inv, 2, 2, 8, 8, 8, &m);
	check_equal_sized(&p, &inv, NULL);
	plan_free(&p);
	inv_free(&inv);
}

static void
state_text_number_over_int64_falls_back(void **state)
{
	struct model_sizes	 m;
	uint64_t		 w[8];
	struct plan		 p;
	struct inv		 inv;
	size_t			 len;

	make_sizes(&m, w, 8);
	make_plan_sized(&p, &inv, 2, 2, 8, 8, 8, &m);
	p.stages[1].weight_bytes = (uint64_t)INT64_MAX + 1;
	assert_null(state_text(&p, &inv, &m, 1, "c", 1, "active", "", &len));
	p.stages[1].weight_bytes = 1;
	w[3] = UINT64_MAX;
	assert_null(state_text(&p, &inv, &m, 1, "c", 1, "active", "", &len));
	plan_free(&p);
	inv_free(&inv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(state_text_one_node),
		cmocka_unit_test(state_text_spares_and_stages),
		cmocka_unit_test(state_text_escapes_reasons),
		cmocka_unit_test(state_text_many_nodes),
		cmocka_unit_test(state_text_invalid_utf8),
		cmocka_unit_test(state_text_memory_plan),
		cmocka_unit_test(state_text_memory_plan_without_model),
		cmocka_unit_test(state_text_number_over_int64_falls_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
