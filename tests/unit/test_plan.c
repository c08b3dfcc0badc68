/*
 * Unit tests for the planner's orders, placement, pins, hints, spares,
 * partitions and their errors (lib/plan.c, plan_order.c, plan_place.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plan.h"
#include "plan_fixture.h"

/* The node ids in rank order as "a,b,c". */
static const char *
ids(const struct plan *p)
{
	static char	 buf[1024];
	size_t		 i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < p->nnodes; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s%s",
		    i > 0 ? "," : "", p->nodes[i].id);
	return buf;
}

/* The spare ids in order as "a,b". */
static const char *
spare_ids(const struct plan *p)
{
	static char	 buf[1024];
	size_t		 i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < p->nspares; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s%s",
		    i > 0 ? "," : "", p->spares[i].id);
	return buf;
}

/* The layer split as "27,27,26". */
static const char *
split(const struct plan *p)
{
	static char	 buf[1024];
	size_t		 i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < p->num_stages; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s%u",
		    i > 0 ? "," : "", p->layer_partition[i]);
	return buf;
}

/* Checks that err contains every NULL-terminated string given. */
static void
assert_mentions(const char *err, ...)
{
	va_list		 ap;
	const char	*s;

	va_start(ap, err);
	while ((s = va_arg(ap, const char *)) != NULL) {
		if (strstr(err, s) == NULL)
			fail_msg("\"%s\" does not mention \"%s\"", err, s);
	}
	va_end(ap);
}

static const struct fx_node three[] = {
	{ "gpu-a", "10.0.0.9", 8, 80 * FX_GIB },
	{ "gpu-b", "10.0.0.10", 8, 80 * FX_GIB },
	{ "gpu-c", "10.0.0.2", 8, 80 * FX_GIB },
};

static void
test_even_partition_vllm_examples(void **state)
{
	static const struct {
		uint32_t	 layers, stages;
		const char	*want;
	} cases[] = {
		{ 61, 4, "15,15,16,15" },
		{ 32, 3, "11,11,10" },
		{ 5, 3, "2,2,1" },
		{ 80, 3, "27,27,26" },
		{ 10, 4, "2,3,3,2" },
		{ 7, 1, "7" },
		{ 4, 4, "1,1,1,1" },
		{ 62, 4, "15,16,16,15" },
		{ 126, 8, "15,16,16,16,16,16,16,15" },
	};
	uint32_t	 out[16];
	char		 got[128];
	size_t		 i, len;
	uint32_t	 s;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		plan_even_partition(cases[i].layers, cases[i].stages, out);
		len = 0;
		for (s = 0; s < cases[i].stages; s++)
			len += snprintf(got + len, sizeof(got) - len, "%s%u",
			    s > 0 ? "," : "", out[s]);
		assert_string_equal(got, cases[i].want);
	}
}

static void
test_vllm_order_address_string(void **state)
{
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];

	plan_config_init(&cfg);
	cfg.layers = 80;
	fx_inv(&inv, three, 3);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	/* "10.0.0.10" < "10.0.0.2" < "10.0.0.9" as byte strings. */
	assert_string_equal(ids(&p), "gpu-b,gpu-c,gpu-a");
	assert_string_equal(split(&p), "27,27,26");
	assert_string_equal(p.master_addr, "10.0.0.10");
	assert_int_equal(p.master_port, 29500);
	assert_int_equal(p.num_stages, 3);
	assert_int_equal(p.tp_size, 8);
	assert_int_equal(p.nodes[2].node_rank, 2);
	assert_int_equal(p.stages[1].first_layer, 27);
	assert_int_equal(p.stages[1].end_layer, 54);
	assert_int_equal(p.stages[2].node, 2);
	assert_false(p.have_memory);
	assert_non_null(strstr(p.nodes[0].reason, "10.0.0.10"));
	/* Order positions are 0-based like node ranks. */
	assert_non_null(strstr(p.nodes[0].reason, "vllm order position 0 "));
	assert_non_null(strstr(p.nodes[2].reason, "vllm order position 2 "));
	plan_free(&p);
	fx_inv_free(&inv);
}

static void
test_vllm_order_driver_and_workers(void **state)
{
	static const struct fx_node nodes[] = {
		{ "big-1", "10.0.0.1", 8, 80 * FX_GIB },
		{ "small", "10.0.0.7", 4, 80 * FX_GIB },
		{ "big-2", "10.0.0.3", 8, 80 * FX_GIB },
		{ "drv", "10.0.0.99", 8, 80 * FX_GIB },
	};
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];

	plan_config_init(&cfg);
	cfg.layers = 80;
	cfg.tp_size = 4;
	cfg.driver = "drv";
	fx_inv(&inv, nodes, 4);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	/* Driver, then fewer workers, then address. */
	assert_string_equal(ids(&p), "drv,small,big-1,big-2");
	assert_int_equal(p.num_stages, 7);
	assert_int_equal(p.nodes[0].stage_count, 2);
	assert_int_equal(p.nodes[1].first_stage, 2);
	assert_int_equal(p.nodes[1].stage_count, 1);
	assert_int_equal(p.nodes[2].first_stage, 3);
	assert_int_equal(p.nodes[3].first_stage, 5);
	assert_int_equal(p.stages[6].node, 3);
	assert_int_equal(p.stages[4].node, 2);
	assert_non_null(strstr(p.nodes[0].reason, "driver"));
	assert_string_equal(p.master_addr, "10.0.0.99");
	plan_free(&p);

	/* A driver absent from the inventory changes nothing. */
	cfg.driver = "gone";
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	assert_string_equal(ids(&p), "small,big-1,big-2,drv");
	plan_free(&p);
	fx_inv_free(&inv);
}

static void
test_listed_order(void **state)
{
	static const char *const listed[] = { "gpu-c", "absent", "gpu-a",
	    "gpu-c" };
	static const struct fx_node four[] = {
		{ "gpu-a", "10.0.0.9", 8, 80 * FX_GIB },
		{ "gpu-b", "10.0.0.10", 8, 80 * FX_GIB },
		{ "gpu-c", "10.0.0.2", 8, 80 * FX_GIB },
		{ "gpu-d", "10.0.0.1", 8, 80 * FX_GIB },
	};
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];

	plan_config_init(&cfg);
	cfg.layers = 80;
	cfg.order = PLAN_ORDER_LISTED;
	cfg.listed = listed;
	cfg.nlisted = 4;
	fx_inv(&inv, four, 4);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	/* Listed ids first; absent and repeated ids are skipped; then vllm. */
	assert_string_equal(ids(&p), "gpu-c,gpu-a,gpu-d,gpu-b");
	assert_int_equal(p.order, PLAN_ORDER_LISTED);
	/* The reason names the 0-based index in plan.nodes: gpu-a is
	 * listed after "absent". */
	assert_non_null(strstr(p.nodes[0].reason, "plan.nodes[0]"));
	assert_non_null(strstr(p.nodes[1].reason, "plan.nodes[2]"));
	assert_non_null(strstr(p.nodes[2].reason, "not in plan.nodes"));
	plan_free(&p);
	fx_inv_free(&inv);
}

static void
test_pins_place_nodes(void **state)
{
	static const struct {
		const char	*node;
		uint32_t	 stage;
		const char	*want;
	} cases[] = {
		{ "gpu-a", 0, "gpu-a,gpu-b,gpu-c" },
		{ "gpu-b", 2, "gpu-c,gpu-a,gpu-b" },
		{ "gpu-c", 1, "gpu-b,gpu-c,gpu-a" },
		{ "absent", 2, "gpu-b,gpu-c,gpu-a" },
	};
	struct plan_config cfg;
	struct plan_pin	 pin;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];
	size_t		 i;

	fx_inv(&inv, three, 3);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		plan_config_init(&cfg);
		cfg.layers = 80;
		snprintf(pin.node, sizeof(pin.node), "%s", cases[i].node);
		pin.stage = cases[i].stage;
		cfg.pins = &pin;
		cfg.npins = 1;
		assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
		    sizeof(err)), 0);
		assert_string_equal(ids(&p), cases[i].want);
		if (strcmp(cases[i].node, "absent") != 0) {
			assert_true(p.nodes[cases[i].stage].pinned);
			assert_non_null(strstr(p.nodes[cases[i].stage].reason,
			    "pinned"));
		}
		plan_free(&p);
	}
	fx_inv_free(&inv);
}

/* Nodes with 2 and 1 stages (tp_size 4) for pin errors. */
static const struct fx_node mixed[] = {
	{ "two-a", "10.0.0.1", 8, 80 * FX_GIB },
	{ "two-b", "10.0.0.2", 8, 80 * FX_GIB },
	{ "one-c", "10.0.0.3", 4, 80 * FX_GIB },
	{ "one-d", "10.0.0.4", 4, 80 * FX_GIB },
};

static void
test_pin_errors(void **state)
{
	static const struct {
		struct plan_pin	 pins[2];
		size_t		 npins;
		const char	*words[5];
	} cases[] = {
		/* 6 stages: 0-5. */
		{ { { "one-c", 6 } }, 1, { "one-c", "stage 6", "5", NULL } },
		{ { { "two-a", 5 } }, 1, { "two-a", "2 stages", "5", NULL } },
		{ { { "two-a", 1 }, { "two-b", 2 } }, 2,
		    { "two-a", "two-b", "overlap", NULL } },
		{ { { "one-c", 3 }, { "one-d", 3 } }, 2,
		    { "one-c", "one-d", "stage 3", NULL } },
		{ { { "one-c", 0 }, { "one-c", 4 } }, 2,
		    { "one-c", "twice", NULL } },
		/* Stage 1 and 3 taken: no 2 free stages side by side for
		 * two-b after two-a takes 4-5. */
		{ { { "one-c", 1 }, { "one-d", 3 } }, 2,
		    { "two-b", "one-c", "one-d", "free: 0, 2" } },
	};
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];
	size_t		 i, j;

	fx_inv(&inv, mixed, 4);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		plan_config_init(&cfg);
		cfg.layers = 80;
		cfg.tp_size = 4;
		cfg.pins = cases[i].pins;
		cfg.npins = cases[i].npins;
		err[0] = '\0';
		assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
		    sizeof(err)), PLAN_EINFEASIBLE);
		for (j = 0; cases[i].words[j] != NULL; j++)
			assert_mentions(err, cases[i].words[j], NULL);
		plan_free(&p);
	}
	fx_inv_free(&inv);
}

static void
test_pins_with_several_stages(void **state)
{
	static const struct plan_pin pins[] = { { "two-b", 0 },
	    { "one-d", 2 } };
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];

	plan_config_init(&cfg);
	cfg.layers = 12;
	cfg.tp_size = 4;
	cfg.pins = pins;
	cfg.npins = 2;
	fx_inv(&inv, mixed, 4);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	/* vllm order: one-c, one-d, two-a, two-b; one-c takes stage 3,
	 * two-a stages 4-5. */
	assert_string_equal(ids(&p), "two-b,one-d,one-c,two-a");
	assert_int_equal(p.nodes[2].first_stage, 3);
	assert_int_equal(p.nodes[3].first_stage, 4);
	assert_int_equal(p.nodes[3].stage_count, 2);
	assert_string_equal(split(&p), "2,2,2,2,2,2");
	plan_free(&p);
	fx_inv_free(&inv);
}

static void
test_hints_keep_places(void **state)
{
	static const struct {
		struct plan_hint hints[3];
		size_t		 nhints;
		const char	*pin;
		const char	*want;
		const char	*kept;
	} cases[] = {
		/* Kept where the previous plan had them. */
		{ { { "gpu-a", 0 }, { "gpu-c", 2 } }, 2, NULL,
		    "gpu-a,gpu-b,gpu-c", "gpu-a,gpu-c" },
		/* Out of range: placed by the normal rule. */
		{ { { "gpu-a", 3 } }, 1, NULL, "gpu-b,gpu-c,gpu-a", "" },
		/* A pin displaces the hint. */
		{ { { "gpu-a", 0 } }, 1, "gpu-c", "gpu-c,gpu-b,gpu-a", "" },
		/* The first hint for a stage wins; absent nodes are skipped. */
		{ { { "gone", 0 }, { "gpu-c", 1 }, { "gpu-a", 1 } }, 3, NULL,
		    "gpu-b,gpu-c,gpu-a", "gpu-c" },
	};
	struct plan_config cfg;
	struct plan_pin	 pin;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN], kept[256];
	size_t		 i, j, len;

	fx_inv(&inv, three, 3);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		plan_config_init(&cfg);
		cfg.layers = 80;
		if (cases[i].pin != NULL) {
			snprintf(pin.node, sizeof(pin.node), "%s",
			    cases[i].pin);
			pin.stage = 0;
			cfg.pins = &pin;
			cfg.npins = 1;
		}
		assert_int_equal(plan_compute(&cfg, &inv, cases[i].hints,
		    cases[i].nhints, &p, err, sizeof(err)), 0);
		assert_string_equal(ids(&p), cases[i].want);
		len = 0;
		kept[0] = '\0';
		for (j = 0; j < p.nnodes; j++)
			if (p.nodes[j].hinted)
				len += snprintf(kept + len, sizeof(kept) - len,
				    "%s%s", len > 0 ? "," : "", p.nodes[j].id);
		assert_string_equal(kept, cases[i].kept);
		plan_free(&p);
	}
	fx_inv_free(&inv);
}

static void
test_hint_that_blocks_is_dropped(void **state)
{
	/* Keeping one-c at stage 2 leaves stages 1 and 5 apart, so two-b
	 * would fit nowhere among the 6 stages. */
	static const struct plan_hint hints[] = { { "one-c", 2 } };
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];

	plan_config_init(&cfg);
	cfg.layers = 12;
	cfg.tp_size = 4;
	fx_inv(&inv, mixed, 4);
	assert_int_equal(plan_compute(&cfg, &inv, hints, 1, &p, err,
	    sizeof(err)), 0);
	assert_string_equal(ids(&p), "one-c,one-d,two-a,two-b");
	assert_false(p.nodes[0].hinted);
	plan_free(&p);
	fx_inv_free(&inv);
}

static void
test_spares_policy(void **state)
{
	static const struct fx_node five[] = {
		{ "e1", "10.0.0.1", 8, 80 * FX_GIB },
		{ "e2", "10.0.0.2", 8, 80 * FX_GIB },
		{ "e3", "10.0.0.3", 8, 80 * FX_GIB },
		{ "e4", "10.0.0.4", 8, 80 * FX_GIB },
		{ "e5", "10.0.0.5", 8, 80 * FX_GIB },
	};
	static const struct plan_pin pin = { "e5", 1 };
	static const struct plan_hint hint = { "e4", 2 };
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];

	plan_config_init(&cfg);
	cfg.layers = 80;
	cfg.expected_nodes = 3;
	fx_inv(&inv, five, 5);

	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	assert_string_equal(ids(&p), "e1,e2,e3");
	assert_string_equal(spare_ids(&p), "e4,e5");
	assert_non_null(strstr(p.spares[0].reason, "expected_nodes is 3"));
	assert_int_equal(p.spares[1].inv_index, 4);
	plan_free(&p);

	/* Pinned, then hinted, then policy order. */
	cfg.pins = &pin;
	cfg.npins = 1;
	assert_int_equal(plan_compute(&cfg, &inv, &hint, 1, &p, err,
	    sizeof(err)), 0);
	assert_string_equal(ids(&p), "e1,e5,e4");
	assert_string_equal(spare_ids(&p), "e2,e3");
	assert_true(p.nodes[1].pinned);
	assert_true(p.nodes[2].hinted);
	plan_free(&p);

	cfg.expected_nodes = 6;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_string_equal(err, "inventory has 5 nodes, "
	    "cluster.expected_nodes is 6");
	plan_free(&p);
	fx_inv_free(&inv);
}

static void
test_too_few_nodes_message(void **state)
{
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];

	plan_config_init(&cfg);
	cfg.layers = 80;
	cfg.expected_nodes = 3;
	fx_inv(&inv, three, 2);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_string_equal(err, "inventory has 2 nodes, "
	    "cluster.expected_nodes is 3");
	plan_free(&p);
	fx_inv_free(&inv);
}

static void
test_inventory_errors(void **state)
{
	static const struct {
		struct fx_node	 nodes[3];
		uint32_t	 tp, layers;
		const char	*words[5];
	} cases[] = {
		{ { { "a", "10.0.0.1", 8, FX_GIB }, { "a", "10.0.0.2", 8,
		    FX_GIB }, { "c", "10.0.0.3", 8, FX_GIB } }, 0, 80,
		    { "a", "10.0.0.1", "10.0.0.2", "twice", NULL } },
		{ { { "a", "10.0.0.1", 8, FX_GIB }, { "b", "10.0.0.3", 8,
		    FX_GIB }, { "c", "10.0.0.3", 8, FX_GIB } }, 0, 80,
		    { "b", "c", "10.0.0.3", NULL } },
		{ { { "a", "10.0.0.1", 8, FX_GIB }, { "b", "10.0.0.2", 6,
		    FX_GIB }, { "c", "10.0.0.3", 8, FX_GIB } }, 4, 80,
		    { "b", "6 workers", "plan.tp_size 4", NULL } },
		{ { { "a", "10.0.0.1", 8, FX_GIB }, { "b", "10.0.0.2", 4,
		    FX_GIB }, { "c", "10.0.0.3", 8, FX_GIB } }, 0, 80,
		    { "a", "b", "8 workers", "4", "plan.tp_size" } },
		{ { { "a", "10.0.0.1", 8, FX_GIB }, { "b", "10.0.0.2", 8,
		    FX_GIB }, { "c", "10.0.0.3", 8, FX_GIB } }, 2, 11,
		    { "12 stages", "model.layers is 11", NULL } },
	};
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];
	size_t		 i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		plan_config_init(&cfg);
		cfg.layers = cases[i].layers;
		cfg.tp_size = cases[i].tp;
		fx_inv(&inv, cases[i].nodes, 3);
		assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
		    sizeof(err)), PLAN_EINFEASIBLE);
		for (j = 0; j < 5 && cases[i].words[j] != NULL; j++)
			assert_mentions(err, cases[i].words[j], NULL);
		plan_free(&p);
		fx_inv_free(&inv);
	}
}

static void
test_manual_partition(void **state)
{
	static const struct {
		uint32_t	 parts[4];
		size_t		 n;
		int		 rc;
		const char	*words[3];
	} cases[] = {
		{ { 20, 10, 50 }, 3, 0, { NULL } },
		{ { 20, 60 }, 2, PLAN_EINFEASIBLE,
		    { "2 entries", "expected 3", NULL } },
		{ { 20, 10, 40 }, 3, PLAN_EINFEASIBLE,
		    { "70 layers", "expected 80", NULL } },
		{ { 20, 10, 50, 0 }, 4, PLAN_EINFEASIBLE,
		    { "4 entries", "expected 3", NULL } },
	};
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];
	size_t		 i, j;

	fx_inv(&inv, three, 3);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		plan_config_init(&cfg);
		cfg.layers = 80;
		cfg.partition = PLAN_PARTITION_MANUAL;
		cfg.layer_partition = cases[i].parts;
		cfg.nlayer_partition = cases[i].n;
		assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
		    sizeof(err)), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_string_equal(split(&p), "20,10,50");
			assert_int_equal(p.stages[2].first_layer, 30);
			assert_int_equal(p.stages[2].end_layer, 80);
		}
		for (j = 0; cases[i].words[j] != NULL; j++)
			assert_mentions(err, cases[i].words[j], NULL);
		plan_free(&p);
	}
	fx_inv_free(&inv);
}

static void
test_parse_partition(void **state)
{
	static const struct {
		const char	*text;
		const char	*want;	/* NULL: an error naming `word` */
		const char	*word;
	} cases[] = {
		{ "20,10,50", "20,10,50", NULL },
		{ " 20 , 10,50 ", "20,10,50", NULL },
		{ "7", "7", NULL },
		{ "", NULL, "entry 1" },
		{ "1,,2", NULL, "entry 2" },
		{ "1,2,", NULL, "entry 3" },
		{ "1,0", NULL, "entry 2" },
		{ "1,-3", NULL, "\"-3\"" },
		{ "1,x", NULL, "\"x\"" },
		{ "1.5", NULL, "\"1.5\"" },
		{ "1,2 3", NULL, "\"2 3\"" },
		{ "99999999999999999999", NULL, "entry 1" },
	};
	uint32_t	*v;
	size_t		 n, i, k, len;
	char		 err[PPC_ERRLEN], got[128];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (cases[i].want == NULL) {
			assert_int_equal(plan_parse_partition(cases[i].text, &v,
			    &n, err, sizeof(err)), -1);
			assert_null(v);
			assert_mentions(err, cases[i].word, NULL);
			continue;
		}
		assert_int_equal(plan_parse_partition(cases[i].text, &v, &n,
		    err, sizeof(err)), 0);
		len = 0;
		for (k = 0; k < n; k++)
			len += snprintf(got + len, sizeof(got) - len, "%s%u",
			    k > 0 ? "," : "", v[k]);
		assert_string_equal(got, cases[i].want);
		free(v);
	}
}

static void
test_policy_names(void **state)
{
	enum plan_order		 o;
	enum plan_partition	 pp;

	assert_int_equal(plan_order_parse("listed", &o), 0);
	assert_int_equal(o, PLAN_ORDER_LISTED);
	assert_int_equal(plan_order_parse("memory", &o), 0);
	assert_int_equal(o, PLAN_ORDER_MEMORY);
	assert_int_equal(plan_order_parse("ray", &o), -1);
	assert_int_equal(plan_order_parse("VLLM", &o), -1);
	assert_string_equal(plan_order_name(PLAN_ORDER_VLLM), "vllm");
	assert_int_equal(plan_partition_parse("manual", &pp), 0);
	assert_int_equal(pp, PLAN_PARTITION_MANUAL);
	assert_int_equal(plan_partition_parse("", &pp), -1);
	assert_string_equal(plan_partition_name(PLAN_PARTITION_MEMORY),
	    "memory");
	assert_string_equal(plan_partition_name(PLAN_PARTITION_EVEN), "even");
}

static void
test_config_defaults(void **state)
{
	struct plan_config cfg;

	plan_config_init(&cfg);
	assert_true(cfg.gpu_memory_utilization == 0.9);
	assert_int_equal(cfg.activation_reserve, 1ULL << 30);
	assert_int_equal(cfg.min_kv_tokens, 1);
	assert_int_equal(cfg.master_port, 29500);
	assert_int_equal(cfg.order, PLAN_ORDER_VLLM);
	assert_int_equal(cfg.partition, PLAN_PARTITION_EVEN);
	assert_int_equal(cfg.tp_size, 0);
	assert_null(cfg.sizes);
}

static void
test_plan_copy_is_deep(void **state)
{
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p, q;
	char		 err[PPC_ERRLEN];

	plan_config_init(&cfg);
	cfg.layers = 80;
	cfg.expected_nodes = 2;
	cfg.master_port = 1234;
	fx_inv(&inv, three, 3);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	assert_int_equal(plan_copy(&q, &p), 0);
	plan_free(&p);
	assert_string_equal(ids(&q), "gpu-b,gpu-c");
	assert_string_equal(spare_ids(&q), "gpu-a");
	assert_string_equal(split(&q), "40,40");
	assert_int_equal(q.master_port, 1234);
	plan_free(&q);
	assert_null(q.nodes);
	fx_inv_free(&inv);
}

static void
test_memory_policies_need_sizes(void **state)
{
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];

	fx_inv(&inv, three, 3);
	plan_config_init(&cfg);
	cfg.layers = 80;
	cfg.partition = PLAN_PARTITION_MEMORY;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_mentions(err, "plan.partition", "model sizes", NULL);
	cfg.partition = PLAN_PARTITION_EVEN;
	cfg.order = PLAN_ORDER_MEMORY;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_mentions(err, "plan.order", NULL);
	fx_inv_free(&inv);
	inv.nnodes = 0;
	cfg.order = PLAN_ORDER_VLLM;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_mentions(err, "no nodes", NULL);
}

static void
test_config_errors(void **state)
{
	static const struct plan_pin pins[] = { { "gpu-a", 0 },
	    { "gpu-b", 1 } };
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[80] = { 0 };
	char		 err[PPC_ERRLEN];

	fx_inv(&inv, three, 3);
	memset(&ms, 0, sizeof(ms));
	ms.layers = 80;
	ms.layer_bytes = w;
	ms.kv_bytes_per_token = 1;

	plan_config_init(&cfg);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_mentions(err, "model.layers is 0", NULL);

	cfg.layers = 80;
	cfg.expected_nodes = 1;
	cfg.pins = pins;
	cfg.npins = 2;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_mentions(err, "2 nodes are pinned", "expected_nodes is 1",
	    NULL);

	plan_config_init(&cfg);
	cfg.layers = 80;
	cfg.sizes = &ms;
	cfg.min_kv_tokens = 1ULL << 41;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_mentions(err, "plan.min_kv_tokens is 2199023255552", NULL);

	cfg.min_kv_tokens = 1;
	cfg.activation_reserve = 1ULL << 50;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_mentions(err, "plan.activation_reserve", NULL);

	cfg.activation_reserve = 1ULL << 30;
	inv.nodes[1].workers = 0;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_mentions(err, "node gpu-b has 0 workers", NULL);
	fx_inv_free(&inv);
}

static void
test_large_cluster_vllm(void **state)
{
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];
	size_t		 i;

	plan_config_init(&cfg);
	cfg.layers = 1000;
	cfg.expected_nodes = 1000;
	fx_inv_uniform(&inv, 1024, 8, 80 * FX_GIB);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	assert_int_equal(p.nnodes, 1000);
	assert_int_equal(p.nspares, 24);
	for (i = 0; i < p.nnodes; i++) {
		assert_int_equal(p.nodes[i].node_rank, i);
		assert_int_equal(p.nodes[i].first_stage, i);
		assert_int_equal(p.layer_partition[i], 1);
	}
	/* "10.0.0.0" < "10.0.0.1" < "10.0.0.10" < "10.0.0.100". */
	assert_string_equal(p.nodes[2].address, "10.0.0.10");
	assert_string_equal(p.nodes[3].address, "10.0.0.100");
	plan_free(&p);
	fx_inv_free(&inv);
}

/* A plan whose layer partition agents cannot write as text is refused:
 * 16,384 one-layer stages give exactly the 32,767 bytes allowed. */
static void
test_partition_text_limit(void **state)
{
	struct plan_config cfg;
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN];

	plan_config_init(&cfg);
	cfg.tp_size = 1;
	cfg.layers = 16384;
	cfg.expected_nodes = 256;
	fx_inv_uniform(&inv, 256, 64, 80 * FX_GIB);
	if (plan_compute(&cfg, &inv, NULL, 0, &p, err, sizeof(err)) != 0)
		fail_msg("plan_compute: %s", err);
	assert_int_equal(p.num_stages, 16384);
	plan_free(&p);
	fx_inv_free(&inv);

	cfg.layers = 16448;
	cfg.expected_nodes = 257;
	fx_inv_uniform(&inv, 257, 64, 80 * FX_GIB);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_non_null(strstr(err, "16448 stages is 32895 bytes"));
	assert_non_null(strstr(err, "use fewer pipeline stages"));
	fx_inv_free(&inv);
}

/* Checks what every successful plan must satisfy. */
static void
check_invariants(const struct plan_config *cfg, const struct inv *inv,
    const struct plan *p, const struct plan_hint *hints, size_t nhints)
{
	uint32_t	 s, k, layers = 0;
	size_t		 i, j, used;
	bool		*seen;

	used = cfg->expected_nodes > 0 ? cfg->expected_nodes : inv->nnodes;
	assert_int_equal(p->nnodes, used);
	assert_int_equal(p->nnodes + p->nspares, inv->nnodes);
	assert_string_equal(p->master_addr, p->nodes[0].address);
	seen = calloc(inv->nnodes, sizeof(*seen));
	assert_non_null(seen);
	s = 0;
	for (i = 0; i < p->nnodes; i++) {
		assert_int_equal(p->nodes[i].node_rank, i);
		assert_int_equal(p->nodes[i].first_stage, s);
		assert_int_equal(p->nodes[i].stage_count,
		    p->nodes[i].workers / p->tp_size);
		assert_false(seen[p->nodes[i].inv_index]);
		seen[p->nodes[i].inv_index] = true;
		assert_string_equal(p->nodes[i].id,
		    inv->nodes[p->nodes[i].inv_index].id);
		for (k = 0; k < p->nodes[i].stage_count; k++)
			assert_int_equal(p->stages[s + k].node, i);
		s += p->nodes[i].stage_count;
		assert_true(p->nodes[i].reason[0] != '\0');
	}
	assert_int_equal(s, p->num_stages);
	for (i = 0; i < p->nspares; i++) {
		assert_false(seen[p->spares[i].inv_index]);
		seen[p->spares[i].inv_index] = true;
		assert_true(p->spares[i].reason[0] != '\0');
	}
	for (s = 0; s < p->num_stages; s++) {
		assert_true(p->layer_partition[s] >= 1);
		assert_int_equal(p->stages[s].stage, s);
		assert_int_equal(p->stages[s].first_layer, layers);
		layers += p->layer_partition[s];
		assert_int_equal(p->stages[s].end_layer, layers);
	}
	assert_int_equal(layers, p->layers);

	/* Pins of present nodes hold, and so do kept hints. */
	for (j = 0; j < cfg->npins; j++)
		for (i = 0; i < p->nnodes; i++)
			if (strcmp(p->nodes[i].id, cfg->pins[j].node) == 0) {
				assert_true(p->nodes[i].pinned);
				assert_int_equal(p->nodes[i].first_stage,
				    cfg->pins[j].stage);
			}
	for (i = 0; i < p->nnodes; i++) {
		if (!p->nodes[i].hinted)
			continue;
		for (j = 0; j < nhints; j++)
			if (strcmp(hints[j].node, p->nodes[i].id) == 0)
				break;
		assert_true(j < nhints);
		assert_int_equal(p->nodes[i].first_stage,
		    hints[j].first_stage);
	}
	free(seen);
}

static void
test_random_plans_invariants(void **state)
{
	static const uint32_t worker_sets[] = { 1, 2, 4, 8 };
	struct plan_config cfg;
	struct plan_pin	 pins[2];
	struct plan_hint hints[3];
	struct fx_node	 nodes[10];
	struct inv	 inv;
	struct plan	 p;
	char		 err[PPC_ERRLEN], ids[10][8], addrs[10][16];
	const char	*listed[10];
	uint64_t	 seed = 0xC0FFEE;
	uint32_t	 tp, npins, nh;
	size_t		 n, i;
	int		 c, rc, ok = 0;

	for (c = 0; c < 3000; c++) {
		n = (size_t)fx_range(&seed, 1, 10);
		tp = worker_sets[fx_range(&seed, 0, 2)];
		for (i = 0; i < n; i++) {
			snprintf(ids[i], sizeof(ids[i]), "g%zu", i);
			snprintf(addrs[i], sizeof(addrs[i]), "10.0.%u.%u",
			    (unsigned)fx_range(&seed, 0, 2), (unsigned)i);
			nodes[i].id = ids[i];
			nodes[i].address = addrs[i];
			nodes[i].workers = tp * (uint32_t)fx_range(&seed, 1,
			    2);
			nodes[i].memory = 80 * FX_GIB;
			listed[i] = ids[fx_range(&seed, 0, n - 1)];
		}
		fx_inv(&inv, nodes, n);
		plan_config_init(&cfg);
		cfg.layers = (uint32_t)fx_range(&seed, 1, 40);
		cfg.tp_size = tp;
		cfg.expected_nodes = (uint32_t)fx_range(&seed, 0, n);
		cfg.order = fx_range(&seed, 0, 1) == 0 ? PLAN_ORDER_VLLM :
		    PLAN_ORDER_LISTED;
		cfg.listed = listed;
		cfg.nlisted = n;
		cfg.driver = ids[fx_range(&seed, 0, n - 1)];
		npins = (uint32_t)fx_range(&seed, 0, 2);
		for (i = 0; i < npins; i++) {
			snprintf(pins[i].node, sizeof(pins[i].node), "g%u",
			    (unsigned)fx_range(&seed, 0, n));
			pins[i].stage = (uint32_t)fx_range(&seed, 0, 6);
		}
		cfg.pins = pins;
		cfg.npins = npins;
		nh = (uint32_t)fx_range(&seed, 0, 3);
		for (i = 0; i < nh; i++) {
			hints[i].node = ids[fx_range(&seed, 0, n - 1)];
			hints[i].first_stage = (uint32_t)fx_range(&seed, 0, 8);
		}
		rc = plan_compute(&cfg, &inv, hints, nh, &p, err, sizeof(err));
		if (rc == 0) {
			check_invariants(&cfg, &inv, &p, hints, nh);
			ok++;
		} else {
			assert_int_equal(rc, PLAN_EINFEASIBLE);
			assert_true(err[0] != '\0');
			assert_int_equal(p.nnodes, 0);
			assert_null(p.nodes);
		}
		plan_free(&p);
		fx_inv_free(&inv);
	}
	assert_true(ok > 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_even_partition_vllm_examples),
		cmocka_unit_test(test_vllm_order_address_string),
		cmocka_unit_test(test_vllm_order_driver_and_workers),
		cmocka_unit_test(test_listed_order),
		cmocka_unit_test(test_pins_place_nodes),
		cmocka_unit_test(test_pin_errors),
		cmocka_unit_test(test_pins_with_several_stages),
		cmocka_unit_test(test_hints_keep_places),
		cmocka_unit_test(test_hint_that_blocks_is_dropped),
		cmocka_unit_test(test_spares_policy),
		cmocka_unit_test(test_too_few_nodes_message),
		cmocka_unit_test(test_inventory_errors),
		cmocka_unit_test(test_manual_partition),
		cmocka_unit_test(test_parse_partition),
		cmocka_unit_test(test_policy_names),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_plan_copy_is_deep),
		cmocka_unit_test(test_memory_policies_need_sizes),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_large_cluster_vllm),
		cmocka_unit_test(test_partition_text_limit),
		cmocka_unit_test(test_random_plans_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
