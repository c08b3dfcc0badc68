/*
 * Unit tests for lib/plan_fmt.c: the plan JSON written and read back,
 * its members checked one by one, the stage environment text, the table,
 * --explain, and corrupt plan JSON rejected without a crash.
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

#include "inv.h"
#include "model.h"
#include "plan.h"

#define GiB	(1ULL << 30)

struct fixture {
	struct plan		 plan;
	struct plan_config	 cfg;
	struct model_sizes	 sizes;
	struct inv		 inv;
};

static void
add_inv_node(struct inv *inv, const char *id, const char *address,
    uint32_t ngpus, uint64_t memory)
{
	struct inv_node	 n;
	uint32_t	 i;

	memset(&n, 0, sizeof(n));
	snprintf(n.id, sizeof(n.id), "%s", id);
	snprintf(n.address, sizeof(n.address), "%s", address);
	n.workers = ngpus;
	n.ngpus = ngpus;
	n.gpus = calloc(ngpus, sizeof(*n.gpus));
	assert_non_null(n.gpus);
	for (i = 0; i < ngpus; i++) {
		n.gpus[i].index = i;
		n.gpus[i].memory_total = memory;
		n.gpus[i].memory_free = memory;
	}
	assert_int_equal(inv_add(inv, &n), 0);
	free(n.gpus);
}

static void
set_node(struct plan_node *n, const char *id, const char *address,
    size_t inv_index, uint32_t rank, uint32_t first_stage, const char *reason)
{
	snprintf(n->id, sizeof(n->id), "%s", id);
	snprintf(n->address, sizeof(n->address), "%s", address);
	snprintf(n->reason, sizeof(n->reason), "%s", reason);
	n->inv_index = inv_index;
	n->node_rank = rank;
	n->first_stage = first_stage;
	n->stage_count = 1;
	n->workers = 8;
}

/*
 * The plan of the documented example: 80 layers on gpu-a, gpu-b and gpu-c
 * (ranks 0 to 2, one stage of tp 8 each), split 27,27,26, generation 4,
 * with gpu-d a spare. `partition` replaces the split when not NULL.
 */
static void
make_plan(struct fixture *f, const uint32_t *partition)
{
	static const uint32_t	 even[3] = { 27, 27, 26 };
	struct plan		*p = &f->plan;
	uint32_t		 i, layer = 0;

	plan_init(p);
	p->generation = 4;
	p->num_stages = 3;
	p->tp_size = 8;
	p->layers = 80;
	p->order = PLAN_ORDER_VLLM;
	p->partition = partition == NULL ? PLAN_PARTITION_EVEN :
	    PLAN_PARTITION_MANUAL;
	p->layer_partition = calloc(3, sizeof(*p->layer_partition));
	p->nodes = calloc(3, sizeof(*p->nodes));
	p->stages = calloc(3, sizeof(*p->stages));
	p->spares = calloc(1, sizeof(*p->spares));
	assert_non_null(p->layer_partition);
	assert_non_null(p->nodes);
	assert_non_null(p->stages);
	assert_non_null(p->spares);

	p->nnodes = 3;
	set_node(&p->nodes[0], "gpu-a", "10.0.0.1", 0, 0, 0,
	    "driver node (plan.driver)");
	set_node(&p->nodes[1], "gpu-b", "10.0.0.2", 1, 1, 1,
	    "8 workers, address 10.0.0.2");
	set_node(&p->nodes[2], "gpu-c", "10.0.0.3", 2, 2, 2,
	    "pinned to stage 2");
	p->nodes[2].pinned = true;
	p->nodes[1].hinted = true;
	for (i = 0; i < 3; i++) {
		p->layer_partition[i] = partition != NULL ? partition[i] :
		    even[i];
		p->stages[i].stage = i;
		p->stages[i].node = i;
		p->stages[i].first_layer = layer;
		layer += p->layer_partition[i];
		p->stages[i].end_layer = layer;
	}
	p->nspares = 1;
	snprintf(p->spares[0].id, sizeof(p->spares[0].id), "gpu-d");
	snprintf(p->spares[0].reason, sizeof(p->spares[0].reason),
	    "expected_nodes is 3");
	p->spares[0].inv_index = 3;
	snprintf(p->master_addr, sizeof(p->master_addr), "10.0.0.1");
	p->master_port = 29500;

	inv_init(&f->inv);
	add_inv_node(&f->inv, "gpu-a", "10.0.0.1", 8, 80 * GiB);
	add_inv_node(&f->inv, "gpu-b", "10.0.0.2", 8, 80 * GiB);
	add_inv_node(&f->inv, "gpu-c", "10.0.0.3", 8, 40 * GiB);
	add_inv_node(&f->inv, "gpu-d", "10.0.0.4", 8, 80 * GiB);
}

/* Model sizes of 80 layers of about `layer_bytes` each. */
static void
make_sizes(struct fixture *f, uint64_t layer_bytes)
{
	uint32_t	 i;

	model_sizes_init(&f->sizes);
	f->sizes.layers = 80;
	f->sizes.layer_bytes = calloc(80, sizeof(*f->sizes.layer_bytes));
	assert_non_null(f->sizes.layer_bytes);
	for (i = 0; i < 80; i++)
		f->sizes.layer_bytes[i] = layer_bytes + i;
	f->sizes.embedding_bytes = 2 * GiB;
	f->sizes.head_bytes = 2 * GiB + 12345;
	f->sizes.kv_bytes_per_token = 327680;
	snprintf(f->sizes.source, sizeof(f->sizes.source), "explicit");

	plan_config_init(&f->cfg);
	f->cfg.layers = 80;
	f->cfg.tp_size = 8;
	f->cfg.sizes = &f->sizes;
}

/*
 * Fills the memory figures of f->plan from the memory model. 1.6 GiB per
 * layer is about a 70B model in bf16.
 */
static void
add_memory_sized(struct fixture *f, uint64_t layer_bytes)
{
	make_sizes(f, layer_bytes);
	f->plan.have_memory = true;
	f->plan.kv_tokens = plan_fill_memory(&f->cfg, &f->inv, &f->plan,
	    f->plan.layer_partition, f->plan.stages);
}

static void
add_memory(struct fixture *f)
{
	add_memory_sized(f, 1717986918ULL);
}

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof(*f));

	assert_non_null(f);
	model_sizes_init(&f->sizes);
	inv_init(&f->inv);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	plan_free(&f->plan);
	model_sizes_free(&f->sizes);
	inv_free(&f->inv);
	free(f);
	return 0;
}

static void
assert_plans_equal(const struct plan *a, const struct plan *b)
{
	size_t	 i;

	assert_int_equal(a->generation, b->generation);
	assert_int_equal(a->num_stages, b->num_stages);
	assert_int_equal(a->tp_size, b->tp_size);
	assert_int_equal(a->layers, b->layers);
	assert_int_equal(a->order, b->order);
	assert_int_equal(a->partition, b->partition);
	for (i = 0; i < a->num_stages; i++)
		assert_int_equal(a->layer_partition[i], b->layer_partition[i]);

	assert_int_equal(a->nnodes, b->nnodes);
	for (i = 0; i < a->nnodes; i++) {
		assert_string_equal(a->nodes[i].id, b->nodes[i].id);
		assert_string_equal(a->nodes[i].address, b->nodes[i].address);
		assert_int_equal(a->nodes[i].node_rank, b->nodes[i].node_rank);
		assert_int_equal(a->nodes[i].first_stage,
		    b->nodes[i].first_stage);
		assert_int_equal(a->nodes[i].stage_count,
		    b->nodes[i].stage_count);
		assert_int_equal(a->nodes[i].workers, b->nodes[i].workers);
		assert_int_equal(a->nodes[i].pinned, b->nodes[i].pinned);
		assert_int_equal(a->nodes[i].hinted, b->nodes[i].hinted);
		assert_string_equal(a->nodes[i].reason, b->nodes[i].reason);
	}

	for (i = 0; i < a->num_stages; i++) {
		assert_int_equal(a->stages[i].stage, b->stages[i].stage);
		assert_int_equal(a->stages[i].node, b->stages[i].node);
		assert_int_equal(a->stages[i].first_layer,
		    b->stages[i].first_layer);
		assert_int_equal(a->stages[i].end_layer,
		    b->stages[i].end_layer);
		if (!a->have_memory)
			continue;
		assert_int_equal(a->stages[i].budget_bytes,
		    b->stages[i].budget_bytes);
		assert_int_equal(a->stages[i].weight_bytes,
		    b->stages[i].weight_bytes);
		assert_int_equal(a->stages[i].kv_tokens,
		    b->stages[i].kv_tokens);
	}

	assert_int_equal(a->nspares, b->nspares);
	for (i = 0; i < a->nspares; i++) {
		assert_string_equal(a->spares[i].id, b->spares[i].id);
		assert_string_equal(a->spares[i].reason, b->spares[i].reason);
	}
	assert_string_equal(a->master_addr, b->master_addr);
	assert_int_equal(a->master_port, b->master_port);
	assert_int_equal(a->have_memory, b->have_memory);
	if (a->have_memory)
		assert_int_equal(a->kv_tokens, b->kv_tokens);
}

/* Writes the plan as text, parses the text and reads the plan back. */
static void
round_trip(const struct plan *p, const struct plan_config *cfg,
    struct plan *out)
{
	json_error_t	 jerr;
	json_t		*doc;
	char		*text, err[PPC_ERRLEN];
	size_t		 i;

	text = plan_to_json(p, cfg);
	assert_non_null(text);
	doc = json_loads(text, 0, &jerr);
	if (doc == NULL)
		fail_msg("plan_to_json output does not parse: %s", jerr.text);
	free(text);
	if (plan_from_jansson(out, doc, err, sizeof(err)) != 0)
		fail_msg("plan_from_jansson: %s", err);
	json_decref(doc);
	for (i = 0; i < out->nnodes; i++)
		assert_true(out->nodes[i].inv_index == SIZE_MAX);
	for (i = 0; i < out->nspares; i++)
		assert_true(out->spares[i].inv_index == SIZE_MAX);
}

static void
test_json_round_trip_plain(void **state)
{
	struct fixture	*f = *state;
	struct plan	 back;

	make_plan(f, NULL);
	round_trip(&f->plan, NULL, &back);
	assert_plans_equal(&f->plan, &back);
	plan_free(&back);
}

static void
test_json_round_trip_memory(void **state)
{
	static const uint32_t	 split[3] = { 30, 30, 20 };
	struct fixture		*f = *state;
	struct plan		 back;

	make_plan(f, split);
	add_memory(f);
	assert_true(f->plan.kv_tokens > 0);
	round_trip(&f->plan, &f->cfg, &back);
	assert_true(back.have_memory);
	assert_plans_equal(&f->plan, &back);
	plan_free(&back);

	/* Without the config, the "model" object is left out; the rest stays. */
	round_trip(&f->plan, NULL, &back);
	assert_plans_equal(&f->plan, &back);
	plan_free(&back);
}

static void
test_json_round_trip_no_spares(void **state)
{
	struct fixture	*f = *state;
	struct plan	 back;

	make_plan(f, NULL);
	f->plan.nspares = 0;
	f->plan.generation = INT64_MAX;
	round_trip(&f->plan, NULL, &back);
	assert_plans_equal(&f->plan, &back);
	plan_free(&back);
}

/*
 * A plan from the engine: a node of 16 GPUs holds two stages at tp 8, a
 * pin moves it to stage 0, and a third node is a spare.
 */
static void
test_json_round_trip_computed(void **state)
{
	static const struct plan_pin pins[] = { { "big", 0 } };
	struct fixture	*f = *state;
	struct plan	 back;
	char		 err[PPC_ERRLEN];

	add_inv_node(&f->inv, "small", "10.0.0.2", 8, 80 * GiB);
	add_inv_node(&f->inv, "big", "10.0.0.1", 16, 80 * GiB);
	add_inv_node(&f->inv, "extra", "10.0.0.3", 8, 80 * GiB);
	make_sizes(f, 1717986918ULL);
	f->cfg.layers = 61;
	f->sizes.layers = 61;
	f->cfg.expected_nodes = 2;
	f->cfg.partition = PLAN_PARTITION_MEMORY;
	f->cfg.pins = pins;
	f->cfg.npins = 1;
	plan_init(&f->plan);
	if (plan_compute(&f->cfg, &f->inv, NULL, 0, &f->plan, err,
	    sizeof(err)) != 0)
		fail_msg("plan_compute: %s", err);
	assert_int_equal(f->plan.num_stages, 3);
	assert_string_equal(f->plan.nodes[0].id, "big");
	assert_int_equal(f->plan.nodes[0].stage_count, 2);
	assert_true(f->plan.nodes[0].pinned);
	assert_int_equal(f->plan.nspares, 1);
	assert_true(f->plan.have_memory);

	round_trip(&f->plan, &f->cfg, &back);
	assert_plans_equal(&f->plan, &back);
	plan_free(&back);
}

static json_t *
plan_doc(const struct plan *p, const struct plan_config *cfg)
{
	json_t	*doc = plan_to_jansson(p, cfg);

	assert_non_null(doc);
	return doc;
}

static void
assert_member_int(const json_t *o, const char *key, json_int_t expected)
{
	json_t	*v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("\"%s\" is not an integer", key);
	if (json_integer_value(v) != expected)
		fail_msg("\"%s\" is %lld, expected %lld", key,
		    (long long)json_integer_value(v), (long long)expected);
}

static void
assert_member_str(const json_t *o, const char *key, const char *expected)
{
	json_t	*v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", key);
	assert_string_equal(json_string_value(v), expected);
}

static void
test_json_members(void **state)
{
	static const char *keys[] = { "generation", "num_stages", "tp_size",
	    "layers", "order", "partition", "layer_partition", "nodes",
	    "stages", "spares", "spare_reasons", "master_addr",
	    "master_port" };
	struct fixture	*f = *state;
	json_t		*doc, *a, *n, *s;
	const char	*key;
	void		*it;
	size_t		 i = 0;

	make_plan(f, NULL);
	doc = plan_doc(&f->plan, NULL);

	/* Members in the documented order, and no memory figures. */
	for (it = json_object_iter(doc); it != NULL;
	    it = json_object_iter_next(doc, it), i++) {
		key = json_object_iter_key(it);
		assert_true(i < sizeof(keys) / sizeof(keys[0]));
		assert_string_equal(key, keys[i]);
	}
	assert_int_equal(i, sizeof(keys) / sizeof(keys[0]));

	assert_member_int(doc, "generation", 4);
	assert_member_int(doc, "num_stages", 3);
	assert_member_int(doc, "tp_size", 8);
	assert_member_int(doc, "layers", 80);
	assert_member_str(doc, "order", "vllm");
	assert_member_str(doc, "partition", "even");
	assert_member_str(doc, "master_addr", "10.0.0.1");
	assert_member_int(doc, "master_port", 29500);

	a = json_object_get(doc, "layer_partition");
	assert_int_equal(json_array_size(a), 3);
	assert_int_equal(json_integer_value(json_array_get(a, 0)), 27);
	assert_int_equal(json_integer_value(json_array_get(a, 1)), 27);
	assert_int_equal(json_integer_value(json_array_get(a, 2)), 26);

	a = json_object_get(doc, "nodes");
	assert_int_equal(json_array_size(a), 3);
	n = json_array_get(a, 1);
	assert_member_str(n, "id", "gpu-b");
	assert_member_str(n, "address", "10.0.0.2");
	assert_member_int(n, "node_rank", 1);
	assert_member_int(n, "first_stage", 1);
	assert_member_int(n, "stage_count", 1);
	assert_member_int(n, "workers", 8);
	assert_true(json_is_true(json_object_get(n, "hinted")));
	assert_true(json_is_false(json_object_get(n, "pinned")));
	assert_member_str(n, "reason", "8 workers, address 10.0.0.2");
	assert_true(json_is_true(json_object_get(json_array_get(a, 2),
	    "pinned")));

	a = json_object_get(doc, "stages");
	assert_int_equal(json_array_size(a), 3);
	s = json_array_get(a, 2);
	assert_member_int(s, "stage", 2);
	assert_member_str(s, "node", "gpu-c");
	assert_member_int(s, "first_layer", 54);
	assert_member_int(s, "end_layer", 80);
	assert_null(json_object_get(s, "budget_bytes"));

	a = json_object_get(doc, "spares");
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(json_string_value(json_array_get(a, 0)), "gpu-d");
	assert_member_str(json_object_get(doc, "spare_reasons"), "gpu-d",
	    "expected_nodes is 3");
	assert_null(json_object_get(doc, "kv_tokens"));
	assert_null(json_object_get(doc, "model"));
	json_decref(doc);
}

static void
test_json_memory_members(void **state)
{
	struct fixture	*f = *state;
	json_t		*doc, *m, *a, *s;
	size_t		 i;

	make_plan(f, NULL);
	add_memory(f);
	doc = plan_doc(&f->plan, &f->cfg);

	assert_member_int(doc, "kv_tokens", f->plan.kv_tokens);
	m = json_object_get(doc, "model");
	assert_true(json_is_object(m));
	a = json_object_get(m, "layer_bytes");
	assert_int_equal(json_array_size(a), 80);
	for (i = 0; i < 80; i++)
		assert_int_equal(json_integer_value(json_array_get(a, i)),
		    f->sizes.layer_bytes[i]);
	assert_member_int(m, "embedding_bytes", 2 * GiB);
	assert_member_int(m, "head_bytes", 2 * GiB + 12345);
	assert_member_int(m, "kv_bytes_per_token", 327680);

	a = json_object_get(doc, "stages");
	for (i = 0; i < 3; i++) {
		s = json_array_get(a, i);
		assert_member_int(s, "budget_bytes",
		    f->plan.stages[i].budget_bytes);
		assert_member_int(s, "weight_bytes",
		    f->plan.stages[i].weight_bytes);
		assert_member_int(s, "kv_tokens", f->plan.stages[i].kv_tokens);
	}
	json_decref(doc);
}

static void
test_env_matches_example(void **state)
{
	static const char expected[] =
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
	struct fixture	*f = *state;
	char		*text;

	make_plan(f, NULL);
	text = plan_node_env(&f->plan, 1);
	assert_non_null(text);
	assert_string_equal(text, expected);
	free(text);

	assert_null(plan_node_env(&f->plan, 3));
}

static void
test_env_spare_standby(void **state)
{
	struct fixture	*f = *state;
	char		*text;

	make_plan(f, NULL);
	text = plan_spare_env(&f->plan, 0);
	assert_non_null(text);
	assert_string_equal(text, "PPCOORD_STATE=standby\n"
	    "PPCOORD_GENERATION=4\nPPCOORD_NODE_ID=gpu-d\n");
	free(text);
	assert_null(plan_spare_env(&f->plan, 1));
}

/* Returns the line of `text` that contains `needle`, copied into buf. */
static const char *
line_with(const char *text, const char *needle, char *buf, size_t len)
{
	const char	*hit = strstr(text, needle), *start, *end;

	if (hit == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, text);
	for (start = hit; start > text && start[-1] != '\n'; start--)
		;
	if ((end = strchr(hit, '\n')) == NULL)
		end = hit + strlen(hit);
	snprintf(buf, len, "%.*s", (int)(end - start), start);
	return buf;
}

static void
test_table_rows(void **state)
{
	struct fixture	*f = *state;
	char		*text, line[256];

	make_plan(f, NULL);
	text = plan_to_table(&f->plan, &f->inv);
	assert_non_null(text);
	assert_non_null(strstr(text, "generation 4, 3 stages, tp 8, 80 layers, "
	    "order vllm, partition even\n"));
	assert_null(strstr(text, "kv_tokens"));
	line_with(text, "STAGE", line, sizeof(line));
	assert_non_null(strstr(line, "LAYERS"));
	assert_null(strstr(line, "BUDGET"));
	line_with(text, "gpu-b", line, sizeof(line));
	assert_non_null(strstr(line, "10.0.0.2"));
	assert_non_null(strstr(line, "27-54"));
	assert_non_null(strstr(line, " 27"));
	line_with(text, "gpu-c", line, sizeof(line));
	assert_non_null(strstr(line, "54-80"));
	assert_non_null(strstr(line, " 26"));
	line_with(text, "gpu-d", line, sizeof(line));
	assert_non_null(strstr(line, "10.0.0.4"));
	assert_non_null(strstr(line, "expected_nodes is 3"));
	free(text);
}

static void
test_table_memory_columns(void **state)
{
	struct fixture	*f = *state;
	char		*text, line[256], kv[64];

	make_plan(f, NULL);
	add_memory(f);
	text = plan_to_table(&f->plan, &f->inv);
	assert_non_null(text);
	snprintf(kv, sizeof(kv), ", kv_tokens %lld\n",
	    (long long)f->plan.kv_tokens);
	assert_non_null(strstr(text, kv));
	line_with(text, "STAGE", line, sizeof(line));
	assert_non_null(strstr(line, "BUDGET/GPU"));
	assert_non_null(strstr(line, "KV_TOKENS"));
	snprintf(kv, sizeof(kv), " %lld", (long long)f->plan.stages[0].kv_tokens);
	line_with(text, "gpu-a", line, sizeof(line));
	assert_non_null(strstr(line, kv));
	free(text);
}

/*
 * Layers of 12 GiB, 1.5 GiB per GPU at tp 8. gpu-c has 40 GiB GPUs, a
 * budget of 35 GiB: the plan gives it 10 layers, but vLLM's even split
 * would give it 26 (39 GiB per GPU), so --explain marks stage 2 OOM.
 */
static void
test_explain_even_oom(void **state)
{
	static const uint32_t	 split[3] = { 35, 35, 10 };
	struct fixture		*f = *state;
	char			*text, line[512];

	make_plan(f, split);
	f->plan.partition = PLAN_PARTITION_MEMORY;
	add_memory_sized(f, 12 * GiB);
	assert_true(f->plan.kv_tokens > 0);
	text = plan_explain(&f->plan, &f->cfg, &f->inv);
	assert_non_null(text);
	line_with(text, "driver node (plan.driver)", line, sizeof(line));
	assert_non_null(strstr(line, "gpu-a"));
	line_with(text, "pinned to stage 2", line, sizeof(line));
	assert_non_null(strstr(line, "(pinned)"));
	assert_non_null(strstr(text, "EVEN_KV_TOKENS"));
	line_with(text, "54-80", line, sizeof(line));
	assert_non_null(strstr(line, "gpu-c"));
	assert_non_null(strstr(line, "8 x 40.0 GiB"));
	assert_non_null(strstr(line, "70-80"));
	assert_non_null(strstr(line, "OOM"));
	line_with(text, "0-35", line, sizeof(line));
	assert_null(strstr(line, "OOM"));
	assert_non_null(strstr(text, "would not start: 1 stage(s)"));
	line_with(text, "expected_nodes is 3", line, sizeof(line));
	assert_non_null(strstr(line, "gpu-d"));
	free(text);
}

/* A plan read back from JSON has no inventory index: explain still works. */
static void
test_explain_restored_plan(void **state)
{
	static const uint32_t	 split[3] = { 30, 30, 20 };
	struct fixture		*f = *state;
	struct plan		 back;
	char			*text;

	make_plan(f, split);
	add_memory(f);
	round_trip(&f->plan, &f->cfg, &back);
	text = plan_explain(&back, &f->cfg, &f->inv);
	assert_non_null(text);
	assert_non_null(strstr(text, "vLLM's even split in the same node "
	    "order"));
	assert_non_null(strstr(text, "EVEN_LAYERS"));
	free(text);
	plan_free(&back);
}

/* Reasons run to the size of plan_node.reason; tables keep them whole. */
static void
test_explain_long_reason(void **state)
{
	struct fixture	*f = *state;
	struct plan_node *n;
	char		*text;

	make_plan(f, NULL);
	n = &f->plan.nodes[1];
	memset(n->reason, 'r', sizeof(n->reason) - 2);
	n->reason[sizeof(n->reason) - 2] = 'Z';
	n->reason[sizeof(n->reason) - 1] = '\0';
	text = plan_explain(&f->plan, NULL, &f->inv);
	assert_non_null(text);
	assert_non_null(strstr(text, "(kept) rrrr"));
	assert_non_null(strstr(text, "rrZ\n"));
	free(text);
}

static void
test_explain_without_memory(void **state)
{
	struct fixture	*f = *state;
	char		*text;

	make_plan(f, NULL);
	text = plan_explain(&f->plan, NULL, &f->inv);
	assert_non_null(text);
	assert_non_null(strstr(text, "No memory figures"));
	assert_non_null(strstr(text, "8 x 80.0 GiB"));
	assert_null(strstr(text, "EVEN_"));
	free(text);
}

/* A mutation of the valid plan JSON, and a fragment of the expected error. */
struct corruption {
	const char	*name;
	void		(*apply)(json_t *doc);
	const char	*error;
};

static json_t *
node_at(json_t *doc, size_t i)
{
	return json_array_get(json_object_get(doc, "nodes"), i);
}

static json_t *
stage_at(json_t *doc, size_t i)
{
	return json_array_get(json_object_get(doc, "stages"), i);
}

static void
drop_generation(json_t *doc)
{
	json_object_del(doc, "generation");
}

static void
string_layers(json_t *doc)
{
	json_object_set_new(doc, "layers", json_string("80"));
}

static void
negative_generation(json_t *doc)
{
	json_object_set_new(doc, "generation", json_integer(-1));
}

static void
zero_stages(json_t *doc)
{
	json_object_set_new(doc, "num_stages", json_integer(0));
}

static void
unknown_order(json_t *doc)
{
	json_object_set_new(doc, "order", json_string("random"));
}

static void
short_partition(json_t *doc)
{
	json_array_remove(json_object_get(doc, "layer_partition"), 2);
}

static void
partition_sum(json_t *doc)
{
	json_array_set_new(json_object_get(doc, "layer_partition"), 2,
	    json_integer(25));
}

static void
partition_zero(json_t *doc)
{
	json_array_set_new(json_object_get(doc, "layer_partition"), 0,
	    json_integer(0));
}

static void
nodes_not_array(json_t *doc)
{
	json_object_set_new(doc, "nodes", json_object());
}

static void
node_not_object(json_t *doc)
{
	json_array_set_new(json_object_get(doc, "nodes"), 1, json_true());
}

static void
node_rank_wrong(json_t *doc)
{
	json_object_set_new(node_at(doc, 1), "node_rank", json_integer(2));
}

static void
node_id_invalid(json_t *doc)
{
	json_object_set_new(node_at(doc, 0), "id", json_string("../etc"));
}

static void
node_id_duplicate(json_t *doc)
{
	json_object_set_new(node_at(doc, 2), "id", json_string("gpu-a"));
}

static void
node_address_invalid(json_t *doc)
{
	json_object_set_new(node_at(doc, 0), "address",
	    json_string("10.0.0.1\nPPCOORD_STATE=revoked"));
}

static void
node_stage_past_end(json_t *doc)
{
	json_object_set_new(node_at(doc, 2), "stage_count", json_integer(2));
}

static void
node_stage_gap(json_t *doc)
{
	json_object_set_new(node_at(doc, 1), "first_stage", json_integer(2));
}

static void
node_few_workers(json_t *doc)
{
	json_object_set_new(node_at(doc, 0), "workers", json_integer(4));
}

static void
node_pinned_string(json_t *doc)
{
	json_object_set_new(node_at(doc, 0), "pinned", json_string("yes"));
}

static void
node_reason_long(json_t *doc)
{
	char	 reason[400];

	memset(reason, 'x', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	json_object_set_new(node_at(doc, 0), "reason", json_string(reason));
}

static void
stages_missing(json_t *doc)
{
	json_array_remove(json_object_get(doc, "stages"), 1);
}

static void
stage_out_of_range(json_t *doc)
{
	json_object_set_new(stage_at(doc, 1), "stage", json_integer(7));
}

static void
stage_other_node(json_t *doc)
{
	json_object_set_new(stage_at(doc, 1), "node", json_string("gpu-c"));
}

static void
stage_unknown_node(json_t *doc)
{
	json_object_set_new(stage_at(doc, 1), "node", json_string("gpu-z"));
}

static void
stage_layer_gap(json_t *doc)
{
	json_object_set_new(stage_at(doc, 1), "first_layer", json_integer(28));
}

static void
stage_end_wrong(json_t *doc)
{
	json_object_set_new(stage_at(doc, 2), "end_layer", json_integer(81));
}

static void
stage_memory_missing(json_t *doc)
{
	json_object_set_new(doc, "kv_tokens", json_integer(1));
}

static void
spare_is_node(json_t *doc)
{
	json_array_append_new(json_object_get(doc, "spares"),
	    json_string("gpu-b"));
}

static void
spare_twice(json_t *doc)
{
	json_array_append_new(json_object_get(doc, "spares"),
	    json_string("gpu-d"));
}

static void
spare_number(json_t *doc)
{
	json_array_append_new(json_object_get(doc, "spares"), json_integer(5));
}

static void
spare_reasons_missing(json_t *doc)
{
	json_object_del(doc, "spare_reasons");
}

static void
master_port_big(json_t *doc)
{
	json_object_set_new(doc, "master_port", json_integer(70000));
}

static void
model_not_object(json_t *doc)
{
	json_object_set_new(doc, "model", json_array());
}

static const struct corruption corruptions[] = {
	{ "generation missing", drop_generation, "\"generation\" must be an "
	    "integer, found missing" },
	{ "layers a string", string_layers, "\"layers\" must be an integer, "
	    "found a string" },
	{ "generation negative", negative_generation, "\"generation\" is -1" },
	{ "num_stages zero", zero_stages, "\"num_stages\" is 0" },
	{ "order unknown", unknown_order, "\"order\" is \"random\"" },
	{ "layer_partition short", short_partition, "\"layer_partition\" has "
	    "2 entries" },
	{ "layer_partition sum", partition_sum, "sums to 79 layers, expected "
	    "80" },
	{ "layer_partition zero", partition_zero, "layer_partition[0]" },
	{ "nodes an object", nodes_not_array, "\"nodes\" must be an array" },
	{ "node a boolean", node_not_object, "nodes[1] must be an object" },
	{ "node_rank wrong", node_rank_wrong, "nodes[1].\"node_rank\" is 2, "
	    "expected 1 to 1" },
	{ "node id invalid", node_id_invalid, "nodes[0]." },
	{ "node id twice", node_id_duplicate, "\"gpu-a\" is listed twice" },
	{ "address with newline", node_address_invalid, "nodes[0].address" },
	{ "stages past the end", node_stage_past_end, "\"stage_count\" is 2, "
	    "expected 1 to 1" },
	{ "stage gap", node_stage_gap, "\"first_stage\" is 2, expected 1" },
	{ "workers too few", node_few_workers, "workers is 4" },
	{ "pinned a string", node_pinned_string, "\"pinned\" must be true or "
	    "false" },
	{ "reason too long", node_reason_long, "\"reason\" is longer than" },
	{ "stage missing", stages_missing, "\"stages\" has 2 entries" },
	{ "stage out of range", stage_out_of_range, "stages[1].\"stage\" is "
	    "7" },
	{ "stage on other node", stage_other_node, "gives stage 1 to "
	    "\"gpu-b\"" },
	{ "stage on unknown node", stage_unknown_node, "node is \"gpu-z\"" },
	{ "stage layer gap", stage_layer_gap, "\"first_layer\" is 28" },
	{ "stage end wrong", stage_end_wrong, "\"end_layer\" is 81" },
	{ "memory figures missing", stage_memory_missing, "\"budget_bytes\" "
	    "must be an integer" },
	{ "spare is a node", spare_is_node, "also a plan node" },
	{ "spare twice", spare_twice, "listed twice" },
	{ "spare a number", spare_number, "spares[1] must be a node id" },
	{ "spare_reasons missing", spare_reasons_missing, "\"spare_reasons\" "
	    "must be an object" },
	{ "master_port too big", master_port_big, "\"master_port\" is 70000" },
	{ "model an array", model_not_object, "\"model\" must be an object" },
};

static void
test_from_jansson_rejects_corrupt(void **state)
{
	struct fixture	*f = *state;
	struct plan	 back;
	json_t		*doc;
	char		 err[PPC_ERRLEN];
	size_t		 i;

	make_plan(f, NULL);
	for (i = 0; i < sizeof(corruptions) / sizeof(corruptions[0]); i++) {
		doc = plan_doc(&f->plan, NULL);
		corruptions[i].apply(doc);
		err[0] = '\0';
		if (plan_from_jansson(&back, doc, err, sizeof(err)) == 0)
			fail_msg("%s: accepted", corruptions[i].name);
		if (strstr(err, corruptions[i].error) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"",
			    corruptions[i].name, err, corruptions[i].error);
		assert_int_equal(back.nnodes, 0);
		assert_null(back.nodes);
		assert_null(back.stages);
		assert_null(back.spares);
		json_decref(doc);
	}
}

static void
test_from_jansson_rejects_non_object(void **state)
{
	struct plan	 back;
	json_t		*doc;
	char		 err[PPC_ERRLEN];

	assert_int_equal(plan_from_jansson(&back, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "found missing"));
	doc = json_array();
	assert_int_equal(plan_from_jansson(&back, doc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "must be an object, found an array"));
	json_decref(doc);
}

static void
test_from_jansson_kv_mismatch(void **state)
{
	struct fixture	*f = *state;
	struct plan	 back;
	json_t		*doc;
	char		 err[PPC_ERRLEN];

	make_plan(f, NULL);
	add_memory(f);
	doc = plan_doc(&f->plan, &f->cfg);
	json_object_set_new(doc, "kv_tokens",
	    json_integer(f->plan.kv_tokens + 1));
	assert_int_equal(plan_from_jansson(&back, doc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "smallest stage kv_tokens"));
	json_decref(doc);
}

/*
 * Replaces every member of the document, one at a time and at every
 * depth, with values of each wrong type. Nothing may crash; whatever is
 * accepted must write back to a document that reads back the same.
 */
static void
mutate_each(json_t *root, json_t *node, size_t *checked)
{
	json_t		*values[6], *child, *copy;
	struct plan	 back, again;
	char		 err[PPC_ERRLEN];
	const char	*key;
	void		*it;
	size_t		 i, v;

	if (json_is_object(node)) {
		for (it = json_object_iter(node); it != NULL;
		    it = json_object_iter_next(node, it)) {
			key = json_object_iter_key(it);
			child = json_incref(json_object_iter_value(it));
			values[0] = json_null();
			values[1] = json_string("x");
			values[2] = json_integer(-1);
			values[3] = json_integer(INT64_MAX);
			values[4] = json_array();
			values[5] = json_object();
			for (v = 0; v < 6; v++) {
				json_object_set(node, key, values[v]);
				if (plan_from_jansson(&back, root, err,
				    sizeof(err)) == 0) {
					copy = plan_to_jansson(&back, NULL);
					assert_non_null(copy);
					assert_int_equal(plan_from_jansson(
					    &again, copy, err, sizeof(err)), 0);
					assert_plans_equal(&back, &again);
					plan_free(&again);
					plan_free(&back);
					json_decref(copy);
				} else
					assert_true(err[0] != '\0');
				(*checked)++;
			}
			for (v = 0; v < 6; v++)
				json_decref(values[v]);
			json_object_set_new(node, key, child);
			mutate_each(root, child, checked);
		}
	} else if (json_is_array(node)) {
		json_array_foreach(node, i, child)
			mutate_each(root, child, checked);
	}
}

static void
test_from_jansson_mutations(void **state)
{
	struct fixture	*f = *state;
	json_t		*doc;
	size_t		 checked = 0;

	make_plan(f, NULL);
	add_memory(f);
	doc = plan_doc(&f->plan, &f->cfg);
	mutate_each(doc, doc, &checked);
	assert_true(checked > 100);
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_json_round_trip_plain,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_round_trip_memory,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_round_trip_no_spares,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_round_trip_computed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_members, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_json_memory_members, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_env_matches_example, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_env_spare_standby, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_table_rows, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_table_memory_columns,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_even_oom, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_explain_restored_plan,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_long_reason,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_without_memory,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_from_jansson_rejects_corrupt, setup, teardown),
		cmocka_unit_test(test_from_jansson_rejects_non_object),
		cmocka_unit_test_setup_teardown(test_from_jansson_kv_mismatch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_from_jansson_mutations,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
