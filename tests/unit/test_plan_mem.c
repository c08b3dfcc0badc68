/*
 * Unit tests for the planner's memory model (lib/plan_mem.c) and memory
 * order (lib/plan_memorder.c, lib/plan_memexact.c), checked against
 * brute force over every layer split and every node order of small
 * random cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "plan.h"
#include "plan_fixture.h"

#define BF_LAYERS_MAX	12
#define BF_STAGES_MAX	8
#define BF_NODES_MAX	6

/* One random case: the model, the config and per-node GPU memory. */
struct bf_case {
	uint32_t	 layers;
	uint64_t	 w[BF_LAYERS_MAX];
	uint64_t	 e, h, k;
	uint32_t	 tp;
	double		 u;
	uint64_t	 reserve;
	uint64_t	 min_kv;
	size_t		 nnodes;
	uint64_t	 memory[BF_NODES_MAX];
};

/* The memory model written out again, independently of the engine. */
static __int128
bf_stage_kv(const struct bf_case *c, uint64_t memory, uint32_t first,
    uint32_t n, int is_first, int is_last)
{
	__int128	 sum = 0, budget, weights;
	uint32_t	 i;

	for (i = first; i < first + n; i++)
		sum += c->w[i];
	if (is_first)
		sum += c->e;
	if (is_last)
		sum += c->h;
	budget = (__int128)(int64_t)floor((double)memory * c->u) -
	    (__int128)c->reserve;
	weights = (sum + c->tp - 1) / c->tp;
	/* Floor division that rounds toward minus infinity. */
	sum = (budget - weights) * c->tp;
	if (sum >= 0)
		return sum / ((__int128)c->k * n);
	return -((-sum + (__int128)c->k * n - 1) / ((__int128)c->k * n));
}

/* The minimum stage tokens of one split on stages with these memories. */
static __int128
bf_split_kv(const struct bf_case *c, const uint64_t *mem, uint32_t stages,
    const uint32_t *split)
{
	__int128	 min = 0, kv;
	uint32_t	 s, first = 0;

	for (s = 0; s < stages; s++) {
		kv = bf_stage_kv(c, mem[s], first, split[s], s == 0,
		    s == stages - 1);
		if (s == 0 || kv < min)
			min = kv;
		first += split[s];
	}
	return min;
}

/* Every split of the layers: the largest least-stage tokens. */
static __int128
bf_best_split(const struct bf_case *c, const uint64_t *mem, uint32_t stages,
    uint32_t *split, uint32_t s, uint32_t left)
{
	__int128	 best = INT64_MIN, kv;
	uint32_t	 n;

	if (s == stages - 1) {
		split[s] = left;
		return bf_split_kv(c, mem, stages, split);
	}
	for (n = 1; n + (stages - 1 - s) <= left; n++) {
		split[s] = n;
		kv = bf_best_split(c, mem, stages, split, s + 1, left - n);
		if (kv > best)
			best = kv;
	}
	return best;
}

static void
bf_config(const struct bf_case *c, struct plan_config *cfg,
    struct model_sizes *ms, uint64_t *w)
{
	memcpy(w, c->w, sizeof(c->w));
	fx_sizes(ms, c->layers, w, c->e, c->h, c->k);
	plan_config_init(cfg);
	cfg->layers = c->layers;
	cfg->tp_size = c->tp;
	cfg->sizes = ms;
	cfg->gpu_memory_utilization = c->u;
	cfg->activation_reserve = c->reserve;
	cfg->min_kv_tokens = c->min_kv;
}

/* Nodes "n<i>" at 10.0.0.<i>, so that vllm order is inventory order. */
static void
bf_inventory(const struct bf_case *c, struct inv *inv, uint32_t workers)
{
	static const char *const names[] = { "n0", "n1", "n2", "n3", "n4",
	    "n5" };
	static const char *const addrs[] = { "10.0.0.0", "10.0.0.1",
	    "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5" };
	struct fx_node	 nodes[BF_NODES_MAX];
	size_t		 i;

	for (i = 0; i < c->nnodes; i++) {
		nodes[i].id = names[i];
		nodes[i].address = addrs[i];
		nodes[i].workers = workers;
		nodes[i].memory = c->memory[i];
	}
	fx_inv(inv, nodes, c->nnodes);
}

/* A random case with layers of uneven weight and varied memory. */
static void
bf_random(struct bf_case *c, uint64_t *seed, uint32_t max_layers,
    size_t nnodes, uint32_t stages)
{
	uint64_t	 total = 0, per;
	uint32_t	 i;

	memset(c, 0, sizeof(*c));
	c->layers = (uint32_t)fx_range(seed, stages, max_layers);
	for (i = 0; i < c->layers; i++) {
		c->w[i] = fx_range(seed, 1, 1000);
		if (fx_range(seed, 0, 4) == 0)
			c->w[i] *= 8;
		total += c->w[i];
	}
	c->e = fx_range(seed, 0, 3) == 0 ? 0 : fx_range(seed, 0, 3000);
	c->h = fx_range(seed, 0, 3) == 0 ? 0 : fx_range(seed, 0, 3000);
	total += c->e + c->h;
	c->k = fx_range(seed, 1, 40);
	c->tp = (uint32_t)fx_range(seed, 1, 2);
	if (fx_range(seed, 0, 1) == 0) {
		c->u = 1.0;
		c->reserve = 0;
	} else {
		c->u = 0.9;
		c->reserve = fx_range(seed, 0, 200);
	}
	c->min_kv = fx_range(seed, 0, 2) == 0 ? 0 : fx_range(seed, 1, 20);
	c->nnodes = nnodes;
	per = total / (stages * c->tp) + 1;
	for (i = 0; i < nnodes; i++)
		c->memory[i] = fx_range(seed, per / 2, per * 3) + c->reserve;
}

static void
test_stage_memory_llama_70b(void **state)
{
	struct plan_config cfg;
	struct model_sizes ms;
	uint64_t	 w[80];
	int64_t		 budget, kv;
	uint64_t	 weights;
	size_t		 i;

	for (i = 0; i < 80; i++)
		w[i] = 1744830464;
	fx_sizes(&ms, 80, w, 2101346304, 2101346304, 4096);
	plan_config_init(&cfg);
	cfg.layers = 80;
	cfg.sizes = &ms;
	plan_stage_memory(&cfg, 80 * FX_GIB, 8, 0, 27, true, false, &budget,
	    &weights, &kv);
	assert_int_equal(budget, 76235669504LL);
	assert_int_equal(weights, 6151471104ULL);
	assert_int_equal(kv, 5069748);

	/* A stage short of memory has negative tokens. */
	plan_stage_memory(&cfg, 8 * FX_GIB, 1, 10, 5, false, false, &budget,
	    &weights, &kv);
	assert_int_equal(budget, 6657199308LL);
	assert_int_equal(weights, 5 * 1744830464ULL);
	assert_true(kv < 0);
	assert_int_equal(kv, ((int64_t)6657199308LL - 5 * 1744830464LL -
	    20479) / (4096 * 5));
}

/* A greedy split that gives stage 0 as many layers as fit would leave
 * stage 1 starting at the heavy layer 2; the exact search does not. */
static void
test_memory_split_beats_greedy(void **state)
{
	static const uint64_t weights[] = { 5, 1, 8, 1 };
	static const struct fx_node nodes[] = {
		{ "n0", "10.0.0.0", 1, 6 },
		{ "n1", "10.0.0.1", 1, 6 },
		{ "n2", "10.0.0.2", 1, 9 },
	};
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[4];
	char		 err[PPC_ERRLEN];

	memcpy(w, weights, sizeof(w));
	fx_sizes(&ms, 4, w, 0, 0, 1);
	plan_config_init(&cfg);
	cfg.layers = 4;
	cfg.sizes = &ms;
	cfg.partition = PLAN_PARTITION_MEMORY;
	cfg.gpu_memory_utilization = 1.0;
	cfg.activation_reserve = 0;
	cfg.min_kv_tokens = 0;
	fx_inv(&inv, nodes, 3);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	assert_int_equal(p.layer_partition[0], 1);
	assert_int_equal(p.layer_partition[1], 1);
	assert_int_equal(p.layer_partition[2], 2);
	assert_int_equal(p.kv_tokens, 0);
	assert_int_equal(p.stages[1].kv_tokens, 5);
	plan_free(&p);

	cfg.min_kv_tokens = 1;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_non_null(strstr(err, "stage 2 on node n2"));
	assert_non_null(strstr(err, " 2 bytes"));
	assert_non_null(strstr(err, "at least 11 bytes"));
	fx_inv_free(&inv);
}

/* Checks the plan's split, figures and tokens against the brute force. */
static void
bf_check_plan(const struct bf_case *c, const struct plan *p,
    const uint64_t *mem, __int128 best)
{
	uint32_t	 s, first = 0;
	__int128	 kv, min = 0;

	assert_int_equal(p->kv_tokens, (int64_t)best);
	for (s = 0; s < p->num_stages; s++) {
		assert_int_equal(p->stages[s].first_layer, first);
		assert_int_equal(p->stages[s].end_layer,
		    first + p->layer_partition[s]);
		kv = bf_stage_kv(c, mem[s], first, p->layer_partition[s],
		    s == 0, s == p->num_stages - 1);
		assert_int_equal(p->stages[s].kv_tokens, (int64_t)kv);
		if (s == 0 || kv < min)
			min = kv;
		first += p->layer_partition[s];
	}
	assert_int_equal(first, c->layers);
	assert_int_equal((int64_t)min, p->kv_tokens);
}

static void
test_memory_split_brute_force(void **state)
{
	struct bf_case	 c;
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[BF_LAYERS_MAX], seed = 0x5eed1234ULL;
	uint32_t	 split[BF_STAGES_MAX], stages;
	__int128	 best;
	char		 err[PPC_ERRLEN];
	int		 i, rc, feasible = 0, infeasible = 0;

	for (i = 0; i < 4000; i++) {
		stages = (uint32_t)fx_range(&seed, 1, 5);
		bf_random(&c, &seed, 10, stages, stages);
		bf_config(&c, &cfg, &ms, w);
		cfg.partition = PLAN_PARTITION_MEMORY;
		bf_inventory(&c, &inv, c.tp);
		best = bf_best_split(&c, c.memory, stages, split, 0, c.layers);
		rc = plan_compute(&cfg, &inv, NULL, 0, &p, err, sizeof(err));
		if (best >= (__int128)c.min_kv) {
			if (rc != 0)
				fail_msg("case %d: %s", i, err);
			bf_check_plan(&c, &p, c.memory, best);
			feasible++;
		} else {
			assert_int_equal(rc, PLAN_EINFEASIBLE);
			assert_non_null(strstr(err, "short"));
			assert_non_null(strstr(err, "on node n"));
			infeasible++;
		}
		plan_free(&p);
		fx_inv_free(&inv);
	}
	/* Both outcomes are exercised. */
	assert_true(feasible > 500);
	assert_true(infeasible > 500);
}

static void
test_even_split_memory_figures(void **state)
{
	struct bf_case	 c;
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p;
	struct plan_stage st[BF_STAGES_MAX];
	uint64_t	 w[BF_LAYERS_MAX], seed = 77;
	uint32_t	 split[BF_STAGES_MAX], stages;
	__int128	 kv;
	char		 err[PPC_ERRLEN];
	int		 i, rc;

	for (i = 0; i < 1000; i++) {
		stages = (uint32_t)fx_range(&seed, 1, 5);
		bf_random(&c, &seed, 10, stages, stages);
		bf_config(&c, &cfg, &ms, w);
		bf_inventory(&c, &inv, c.tp);
		plan_even_partition(c.layers, stages, split);
		kv = bf_split_kv(&c, c.memory, stages, split);
		rc = plan_compute(&cfg, &inv, NULL, 0, &p, err, sizeof(err));
		if (kv >= (__int128)c.min_kv) {
			assert_int_equal(rc, 0);
			bf_check_plan(&c, &p, c.memory, kv);
			assert_true(p.have_memory);
			assert_int_equal(plan_fill_memory(&cfg, &inv, &p,
			    p.layer_partition, st), p.kv_tokens);
			assert_memory_equal(st, p.stages,
			    stages * sizeof(st[0]));
		} else {
			assert_int_equal(rc, PLAN_EINFEASIBLE);
		}
		plan_free(&p);
		fx_inv_free(&inv);
	}
}

/*
 * The best split by dynamic programming over (stage, end layer), in
 * O(stages * layers^2): an exact check for cases too large to enumerate.
 * kv(s, a, b) comes from plan_stage_memory, itself checked above against
 * the formula.
 */
static int64_t
dp_best_split(const struct plan_config *cfg, const uint64_t *mem,
    uint32_t stages, uint32_t layers, uint32_t tp)
{
	int64_t		*best, kv, budget, v, res;
	uint64_t	 weights;
	uint32_t	 s, a, b;

	best = calloc((size_t)stages * (layers + 1), sizeof(*best));
	assert_non_null(best);
	for (s = 0; s < stages; s++) {
		for (b = s + 1; b <= layers; b++) {
			v = INT64_MIN;
			for (a = s; a < b; a++) {
				if (s > 0 && best[(size_t)(s - 1) *
				    (layers + 1) + a] == INT64_MIN)
					continue;
				if (s == 0 && a > 0)
					break;
				plan_stage_memory(cfg, mem[s], tp, a, b - a,
				    s == 0, s == stages - 1, &budget, &weights,
				    &kv);
				if (s > 0 && best[(size_t)(s - 1) *
				    (layers + 1) + a] < kv)
					kv = best[(size_t)(s - 1) *
					    (layers + 1) + a];
				if (kv > v)
					v = kv;
			}
			best[(size_t)s * (layers + 1) + b] = v;
		}
	}
	res = best[(size_t)(stages - 1) * (layers + 1) + layers];
	free(best);
	return res;
}

/* Larger cases with heavy layers against the (stage, layer) DP. */
static void
test_memory_split_matches_dp(void **state)
{
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[160], mem[24], seed = 0xfeedULL, total;
	uint32_t	 layers, stages, tp, k;
	int64_t		 best;
	char		 err[PPC_ERRLEN], names[24][8];
	const char	*listed[24];
	int		 i, rc, feasible = 0;
	size_t		 j;

	/* Listed order keeps stage j on node n<j>, whatever the addresses. */
	for (j = 0; j < 24; j++) {
		snprintf(names[j], sizeof(names[j]), "n%zu", j);
		listed[j] = names[j];
	}
	for (i = 0; i < 200; i++) {
		layers = (uint32_t)fx_range(&seed, 24, 160);
		stages = (uint32_t)fx_range(&seed, 2, 24);
		tp = (uint32_t)fx_range(&seed, 1, 4);
		total = 0;
		for (k = 0; k < layers; k++) {
			w[k] = fx_range(&seed, 100, 200) * 1000;
			if (fx_range(&seed, 0, 9) == 0)
				w[k] *= fx_range(&seed, 3, 12);
			total += w[k];
		}
		fx_sizes(&ms, layers, w, fx_range(&seed, 0, 500000),
		    fx_range(&seed, 0, 500000), fx_range(&seed, 1, 64));
		plan_config_init(&cfg);
		cfg.layers = layers;
		cfg.sizes = &ms;
		cfg.tp_size = tp;
		cfg.partition = PLAN_PARTITION_MEMORY;
		cfg.order = PLAN_ORDER_LISTED;
		cfg.listed = listed;
		cfg.nlisted = 24;
		cfg.gpu_memory_utilization = 1.0;
		cfg.activation_reserve = 0;
		cfg.min_kv_tokens = 0;
		fx_inv_uniform(&inv, stages, tp, 0);
		for (j = 0; j < stages; j++) {
			mem[j] = fx_range(&seed, total / stages / tp,
			    3 * total / stages / tp);
			fx_set_memory(&inv, j, mem[j]);
		}
		best = dp_best_split(&cfg, mem, stages, layers, tp);
		rc = plan_compute(&cfg, &inv, NULL, 0, &p, err, sizeof(err));
		if (best >= 0) {
			if (rc != 0)
				fail_msg("case %d: %s", i, err);
			assert_int_equal(p.kv_tokens, best);
			feasible++;
		} else {
			assert_int_equal(rc, PLAN_EINFEASIBLE);
		}
		plan_free(&p);
		fx_inv_free(&inv);
	}
	assert_true(feasible > 50);
}

/* Every ordered choice of `used` of the nodes, each split by the DP. */
static int64_t
dp_best_order(const struct plan_config *cfg, const uint64_t *node_mem,
    size_t n, uint32_t used, uint32_t depth, uint64_t *mem, bool *taken)
{
	int64_t		 best = INT64_MIN, kv;
	size_t		 i;

	if (depth == used)
		return dp_best_split(cfg, mem, used, cfg->layers, 1);
	for (i = 0; i < n; i++) {
		if (taken[i])
			continue;
		taken[i] = true;
		mem[depth] = node_mem[i];
		kv = dp_best_order(cfg, node_mem, n, used, depth + 1, mem,
		    taken);
		if (kv > best)
			best = kv;
		taken[i] = false;
	}
	return best;
}

/* The exact memory order on up to 8 candidates against every order. */
static void
test_memory_order_exact_midsize(void **state)
{
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[16], node_mem[8], mem[8], seed = 31337, total;
	bool		 taken[8];
	uint32_t	 k, used;
	int64_t		 best;
	char		 err[PPC_ERRLEN];
	size_t		 n, j;
	int		 i, rc, feasible = 0;

	for (i = 0; i < 12; i++) {
		n = (size_t)fx_range(&seed, 6, 8);
		used = (uint32_t)fx_range(&seed, 3, 5);
		total = 0;
		for (k = 0; k < 16; k++) {
			w[k] = fx_range(&seed, 100, 300);
			if (fx_range(&seed, 0, 5) == 0)
				w[k] *= 6;
			total += w[k];
		}
		fx_sizes(&ms, 16, w, fx_range(&seed, 0, 400),
		    fx_range(&seed, 0, 400), fx_range(&seed, 1, 8));
		plan_config_init(&cfg);
		cfg.layers = 16;
		cfg.sizes = &ms;
		cfg.order = PLAN_ORDER_MEMORY;
		cfg.partition = PLAN_PARTITION_MEMORY;
		cfg.expected_nodes = used;
		cfg.gpu_memory_utilization = 1.0;
		cfg.activation_reserve = 0;
		cfg.min_kv_tokens = 0;
		fx_inv_uniform(&inv, n, 1, 0);
		for (j = 0; j < n; j++) {
			node_mem[j] = fx_range(&seed, total / used / 2,
			    2 * total / used);
			fx_set_memory(&inv, j, node_mem[j]);
		}
		memset(taken, 0, sizeof(taken));
		best = dp_best_order(&cfg, node_mem, n, used, 0, mem, taken);
		rc = plan_compute(&cfg, &inv, NULL, 0, &p, err, sizeof(err));
		if (best >= 0) {
			if (rc != 0)
				fail_msg("case %d: %s", i, err);
			assert_int_equal(p.kv_tokens, best);
			feasible++;
		} else {
			assert_int_equal(rc, PLAN_EINFEASIBLE);
		}
		plan_free(&p);
		fx_inv_free(&inv);
	}
	assert_true(feasible >= 6);
}

/* The minimum memory that the error names fits, and one byte less does not. */
static void
test_infeasible_least_memory(void **state)
{
	static const struct fx_node nodes[] = {
		{ "gpu-a", "10.0.0.1", 8, 80 * FX_GIB },
		{ "gpu-b", "10.0.0.2", 8, 6 * FX_GIB },
		{ "gpu-c", "10.0.0.3", 8, 80 * FX_GIB },
	};
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[80], least;
	char		 err[PPC_ERRLEN];
	const char	*at;
	size_t		 i;

	for (i = 0; i < 80; i++)
		w[i] = 1744830464;
	fx_sizes(&ms, 80, w, 2101346304, 2101346304, 4096);
	plan_config_init(&cfg);
	cfg.layers = 80;
	cfg.sizes = &ms;
	cfg.min_kv_tokens = 1000;
	fx_inv(&inv, nodes, 3);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_non_null(strstr(err, "stage 1 on node gpu-b"));
	assert_non_null(strstr(err, "short"));
	assert_non_null(strstr(err, "plan.min_kv_tokens 1000"));
	/* The even split is 27,27,26, so stage 1 holds layers 27 to 53
	 * and the range names the exclusive end 54, as the table does. */
	assert_non_null(strstr(err, "layers 27 to 54 (end exclusive;"));
	assert_non_null(strstr(err, "would fit this stage, but other stages "
	    "may then limit the plan"));
	at = strstr(err, "at least ");
	assert_non_null(at);
	least = strtoull(at + strlen("at least "), NULL, 10);
	assert_true(least > 6 * FX_GIB);

	fx_set_memory(&inv, 1, least);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	assert_true(p.kv_tokens >= 1000);
	plan_free(&p);
	fx_set_memory(&inv, 1, least - 1);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	fx_inv_free(&inv);
}

static void
test_model_size_errors(void **state)
{
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[4] = { 1, 1, 1, 1 };
	char		 err[PPC_ERRLEN];

	fx_inv_uniform(&inv, 2, 1, FX_GIB * 2);
	fx_sizes(&ms, 4, w, 0, 0, 0);
	plan_config_init(&cfg);
	cfg.layers = 4;
	cfg.sizes = &ms;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_non_null(strstr(err, "kv_bytes_per_token is 0"));

	fx_sizes(&ms, 3, w, 0, 0, 8);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_non_null(strstr(err, "3 layers"));
	assert_non_null(strstr(err, "model.layers is 4"));

	fx_sizes(&ms, 4, w, 0, 0, 8);
	cfg.gpu_memory_utilization = 1.5;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_non_null(strstr(err, "gpu_memory_utilization is 1.5"));
	fx_inv_free(&inv);
}

/*
 * Every ordered choice of used nodes, with node `pin` (or none) at stage
 * `pin_stage`: the largest least-stage tokens under the partition.
 */
static __int128
bf_best_order(const struct bf_case *c, enum plan_partition part,
    uint32_t used, uint32_t cnt, int pin, uint32_t pin_stage,
    uint32_t depth, uint64_t *mem, bool *taken)
{
	uint32_t	 split[BF_STAGES_MAX], stages = used * cnt, s;
	__int128	 best = INT64_MIN, kv;
	size_t		 i;

	if (depth == used) {
		if (part == PLAN_PARTITION_MEMORY)
			return bf_best_split(c, mem, stages, split, 0,
			    c->layers);
		plan_even_partition(c->layers, stages, split);
		return bf_split_kv(c, mem, stages, split);
	}
	for (i = 0; i < c->nnodes; i++) {
		if (taken[i])
			continue;
		if (pin >= 0 && (depth == pin_stage) != ((int)i == pin))
			continue;
		taken[i] = true;
		for (s = 0; s < cnt; s++)
			mem[depth * cnt + s] = c->memory[i];
		kv = bf_best_order(c, part, used, cnt, pin, pin_stage,
		    depth + 1, mem, taken);
		if (kv > best)
			best = kv;
		taken[i] = false;
	}
	return best;
}

/* Memory order on small clusters against every order and choice. */
static void
bf_memory_order(enum plan_partition part, uint64_t seed, int ncases)
{
	struct bf_case	 c;
	struct plan_config cfg;
	struct model_sizes ms;
	struct plan_pin	 pin;
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[BF_LAYERS_MAX], mem[BF_STAGES_MAX];
	bool		 taken[BF_NODES_MAX];
	uint32_t	 used, cnt, pin_stage = 0;
	__int128	 best;
	char		 err[PPC_ERRLEN];
	int		 i, rc, pinned, feasible = 0;

	for (i = 0; i < ncases; i++) {
		size_t n = (size_t)fx_range(&seed, 2, 5);

		cnt = (uint32_t)fx_range(&seed, 1, 2);
		used = (uint32_t)fx_range(&seed, 1, n);
		if (used * cnt > 4)
			used = 4 / cnt;
		bf_random(&c, &seed, 9, n, used * cnt);
		bf_config(&c, &cfg, &ms, w);
		cfg.partition = part;
		cfg.order = PLAN_ORDER_MEMORY;
		cfg.expected_nodes = used;
		pinned = -1;
		if (cnt == 1 && fx_range(&seed, 0, 2) == 0) {
			pinned = (int)fx_range(&seed, 0, n - 1);
			pin_stage = (uint32_t)fx_range(&seed, 0, used - 1);
			snprintf(pin.node, sizeof(pin.node), "n%d", pinned);
			pin.stage = pin_stage;
			cfg.pins = &pin;
			cfg.npins = 1;
		}
		bf_inventory(&c, &inv, c.tp * cnt);
		memset(taken, 0, sizeof(taken));
		best = bf_best_order(&c, part, used, cnt, pinned, pin_stage, 0,
		    mem, taken);
		rc = plan_compute(&cfg, &inv, NULL, 0, &p, err, sizeof(err));
		if (best >= (__int128)c.min_kv) {
			if (rc != 0)
				fail_msg("case %d: %s", i, err);
			if (p.kv_tokens != (int64_t)best)
				fail_msg("case %d: memory order gives %lld "
				    "tokens, the best order %lld", i,
				    (long long)p.kv_tokens, (long long)best);
			assert_int_equal(p.nnodes, used);
			if (pinned >= 0) {
				assert_int_equal(p.nodes[pin_stage].inv_index,
				    pinned);
			}
			feasible++;
		} else {
			assert_int_equal(rc, PLAN_EINFEASIBLE);
		}
		plan_free(&p);
		fx_inv_free(&inv);
	}
	assert_true(feasible > ncases / 5);
}

static void
test_memory_order_memory_split_brute_force(void **state)
{
	bf_memory_order(PLAN_PARTITION_MEMORY, 0xabcdef01ULL, 1500);
}

static void
test_memory_order_even_split_brute_force(void **state)
{
	bf_memory_order(PLAN_PARTITION_EVEN, 0x13579bdfULL, 1500);
}

/* Beyond the exact search the memory order is never worse than vllm. */
static void
test_memory_order_heuristic_vs_vllm(void **state)
{
	static const enum plan_partition parts[] = { PLAN_PARTITION_MEMORY,
	    PLAN_PARTITION_EVEN };
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p, q;
	uint64_t	 w[60], seed = 4242;
	char		 err[PPC_ERRLEN];
	int		 i, better = 0, rc;
	size_t		 k, j;

	for (i = 0; i < 40; i++) {
		for (k = 0; k < 60; k++)
			w[k] = fx_range(&seed, 1, 4) * FX_GIB / 2;
		fx_sizes(&ms, 60, w, FX_GIB, 2 * FX_GIB, 4096);
		plan_config_init(&cfg);
		cfg.layers = 60;
		cfg.sizes = &ms;
		cfg.expected_nodes = 16;
		cfg.partition = parts[i % 2];
		fx_inv_uniform(&inv, 20, 1, 0);
		for (j = 0; j < 20; j++)
			fx_set_memory(&inv, j,
			    fx_range(&seed, 12, 40) * FX_GIB);
		rc = plan_compute(&cfg, &inv, NULL, 0, &q, err, sizeof(err));
		cfg.order = PLAN_ORDER_MEMORY;
		assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
		    sizeof(err)), 0);
		assert_int_equal(p.nnodes, 16);
		assert_int_equal(p.nspares, 4);
		if (rc == 0) {
			assert_true(p.kv_tokens >= q.kv_tokens);
			better += p.kv_tokens > q.kv_tokens;
		}
		plan_free(&p);
		plan_free(&q);
		fx_inv_free(&inv);
	}
	assert_true(better > 10);
}

/* Uniform layers of 1 GiB on nodes of 1 worker with memory in GiB. */
static void
mo_setup_uniform(struct plan_config *cfg, struct model_sizes *ms,
    uint64_t *w, uint32_t layers)
{
	uint32_t	 i;

	for (i = 0; i < layers; i++)
		w[i] = FX_GIB + (i % 3) * FX_GIB / 4;
	fx_sizes(ms, layers, w, 2 * FX_GIB, 3 * FX_GIB, 4096);
	plan_config_init(cfg);
	cfg->layers = layers;
	cfg->sizes = ms;
}

/* Nodes of 2 and 1 stages with a spare: the smallest node is left out. */
static void
test_memory_order_mixed_stage_counts(void **state)
{
	static const struct fx_node nodes[] = {
		{ "a", "10.0.0.1", 8, 24 * FX_GIB },
		{ "b", "10.0.0.2", 4, 16 * FX_GIB },
		{ "c", "10.0.0.3", 8, 80 * FX_GIB },
		{ "d", "10.0.0.4", 4, 40 * FX_GIB },
		{ "e", "10.0.0.5", 4, 12 * FX_GIB },
	};
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p, q;
	uint64_t	 w[40];
	char		 err[PPC_ERRLEN];
	size_t		 i;

	mo_setup_uniform(&cfg, &ms, w, 40);
	cfg.tp_size = 4;
	cfg.expected_nodes = 4;
	cfg.partition = PLAN_PARTITION_MEMORY;
	fx_inv(&inv, nodes, 5);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &q, err,
	    sizeof(err)), 0);
	cfg.order = PLAN_ORDER_MEMORY;
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	assert_true(p.kv_tokens > q.kv_tokens);
	assert_int_equal(p.nnodes, 4);
	assert_int_equal(p.nspares, 1);
	/* The smallest node is the spare. */
	assert_string_equal(p.spares[0].id, "e");
	for (i = 0; i < p.nnodes; i++)
		assert_non_null(strstr(p.nodes[i].reason, "memory order"));
	plan_free(&p);
	plan_free(&q);
	fx_inv_free(&inv);
}

/* Pins and hints hold their stages in the exact search (10 nodes) and
 * in the heuristic (16 nodes). */
static void
test_memory_order_keeps_pins_and_hints(void **state)
{
	static const struct plan_pin pin = { "n5", 5 };
	static const struct plan_hint hint = { "n7", 3 };
	static const size_t sizes[] = { 10, 16 };
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p, q;
	uint64_t	 w[48], seed = 99;
	char		 err[PPC_ERRLEN];
	size_t		 i, k, n;

	for (k = 0; k < 2; k++) {
		n = sizes[k];
		mo_setup_uniform(&cfg, &ms, w, 48);
		cfg.expected_nodes = (uint32_t)n - 4;
		cfg.partition = PLAN_PARTITION_MEMORY;
		cfg.pins = &pin;
		cfg.npins = 1;
		fx_inv_uniform(&inv, n, 1, 0);
		for (i = 0; i < n; i++)
			fx_set_memory(&inv, i,
			    fx_range(&seed, 16, 80) * FX_GIB);
		assert_int_equal(plan_compute(&cfg, &inv, &hint, 1, &q, err,
		    sizeof(err)), 0);
		cfg.order = PLAN_ORDER_MEMORY;
		assert_int_equal(plan_compute(&cfg, &inv, &hint, 1, &p, err,
		    sizeof(err)), 0);
		assert_true(p.kv_tokens >= q.kv_tokens);
		assert_string_equal(p.nodes[5].id, "n5");
		assert_true(p.nodes[5].pinned);
		assert_string_equal(p.nodes[3].id, "n7");
		assert_true(p.nodes[3].hinted);
		assert_int_equal(p.nspares, 4);
		plan_free(&p);
		plan_free(&q);
		fx_inv_free(&inv);
	}
}

/* A memory order that finds nothing better keeps vllm and explains it. */
static void
test_memory_order_tie_keeps_vllm(void **state)
{
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[12];
	char		 err[PPC_ERRLEN];
	size_t		 i;

	mo_setup_uniform(&cfg, &ms, w, 12);
	cfg.order = PLAN_ORDER_MEMORY;
	fx_inv_uniform(&inv, 3, 1, 80 * FX_GIB);
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), 0);
	assert_string_equal(p.nodes[0].id, "n0");
	assert_string_equal(p.nodes[2].id, "n2");
	assert_int_equal(p.order, PLAN_ORDER_MEMORY);
	for (i = 0; i < p.nnodes; i++)
		assert_non_null(strstr(p.nodes[i].reason,
		    "kept the vllm order"));
	plan_free(&p);
	fx_inv_free(&inv);
}

/*
 * Random clusters with pins, hints, spares and several stages per node:
 * every plan's tokens are its stages' minimum, and the memory order is
 * never worse than the vllm order.
 */
static void
test_random_memory_plans(void **state)
{
	static const enum plan_partition parts[] = { PLAN_PARTITION_EVEN,
	    PLAN_PARTITION_MANUAL, PLAN_PARTITION_MEMORY };
	struct plan_config cfg;
	struct model_sizes ms;
	struct plan_pin	 pin;
	struct plan_hint hint;
	struct inv	 inv;
	struct plan	 p, q;
	uint64_t	 w[40], seed = 0xD15EA5E;
	uint32_t	 manual[40], s;
	char		 err[PPC_ERRLEN], name[8];
	int64_t		 min;
	size_t		 n, i;
	int		 c, rc, qrc, compared = 0;

	for (c = 0; c < 600; c++) {
		n = (size_t)fx_range(&seed, 2, 16);
		for (i = 0; i < 40; i++)
			w[i] = fx_range(&seed, 1, 6) * FX_GIB / 4;
		fx_sizes(&ms, 40, w, FX_GIB, FX_GIB, 2048);
		plan_config_init(&cfg);
		cfg.layers = 40;
		cfg.sizes = &ms;
		cfg.tp_size = 2;
		cfg.expected_nodes = (uint32_t)fx_range(&seed, 1, n);
		cfg.partition = parts[fx_range(&seed, 0, 2)];
		fx_inv_uniform(&inv, n, 2, 0);
		for (i = 0; i < n; i++) {
			inv.nodes[i].workers = fx_range(&seed, 0, 3) == 0 ?
			    4 : 2;
			fx_set_memory(&inv, i, fx_range(&seed, 4, 40) * FX_GIB);
		}
		if (fx_range(&seed, 0, 1) == 0) {
			snprintf(pin.node, sizeof(pin.node), "n%u",
			    (unsigned)fx_range(&seed, 0, n - 1));
			pin.stage = (uint32_t)fx_range(&seed, 0, 3);
			cfg.pins = &pin;
			cfg.npins = 1;
		}
		snprintf(name, sizeof(name), "n%u",
		    (unsigned)fx_range(&seed, 0, n - 1));
		hint.node = name;
		hint.first_stage = (uint32_t)fx_range(&seed, 0, 4);

		/* The manual split is the even one for the vllm plan's stages. */
		qrc = plan_compute(&cfg, &inv, &hint, 1, &q, err, sizeof(err));
		if (qrc == 0) {
			plan_even_partition(40, q.num_stages, manual);
			cfg.layer_partition = manual;
			cfg.nlayer_partition = q.num_stages;
		}
		cfg.order = PLAN_ORDER_MEMORY;
		rc = plan_compute(&cfg, &inv, &hint, 1, &p, err, sizeof(err));
		if (qrc == 0 && cfg.partition == PLAN_PARTITION_MANUAL) {
			plan_free(&q);
			cfg.order = PLAN_ORDER_VLLM;
			qrc = plan_compute(&cfg, &inv, &hint, 1, &q, err,
			    sizeof(err));
		}
		if (rc == 0) {
			min = INT64_MAX;
			for (s = 0; s < p.num_stages; s++)
				if (p.stages[s].kv_tokens < min)
					min = p.stages[s].kv_tokens;
			assert_int_equal(p.kv_tokens, min);
			assert_true(p.kv_tokens >= 1);
			assert_true(p.have_memory);
		}
		if (qrc == 0) {
			/* Whatever vllm fits, the memory order fits too. */
			assert_int_equal(rc, 0);
			assert_true(p.kv_tokens >= q.kv_tokens);
			compared++;
		}
		plan_free(&p);
		plan_free(&q);
		fx_inv_free(&inv);
	}
	assert_true(compared > 200);
}

/* A node of 3 stages beats a node of 1 when only one node is used. */
static void
test_memory_order_picks_multi_stage_node(void **state)
{
	static const struct fx_node nodes[] = {
		{ "node10", "10.0.0.19", 4, 85899345920ULL },
		{ "gpu-g", "10.10.0.1", 12, 50000000000ULL },
		{ "a100-2", "10.0.0.1", 4, 85520809984ULL },
	};
	static const enum plan_partition parts[] = { PLAN_PARTITION_EVEN,
	    PLAN_PARTITION_MEMORY };
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[39];
	char		 err[PPC_ERRLEN];
	size_t		 i, k;

	for (i = 0; i < 39; i++)
		w[i] = 6 * FX_GIB;
	fx_sizes(&ms, 39, w, 2 * FX_GIB, 2 * FX_GIB, 131072);
	fx_inv(&inv, nodes, 3);
	for (k = 0; k < 2; k++) {
		plan_config_init(&cfg);
		cfg.layers = 39;
		cfg.sizes = &ms;
		cfg.tp_size = 4;
		cfg.expected_nodes = 1;
		cfg.order = PLAN_ORDER_MEMORY;
		cfg.partition = parts[k];
		if (plan_compute(&cfg, &inv, NULL, 0, &p, err,
		    sizeof(err)) != 0)
			fail_msg("%s", err);
		assert_int_equal(p.nnodes, 1);
		assert_string_equal(p.nodes[0].id, "gpu-g");
		assert_int_equal(p.num_stages, 3);
		assert_int_equal(p.kv_tokens, 52704);
		assert_int_equal(p.nspares, 2);
		plan_free(&p);
	}
	fx_inv_free(&inv);
}

/* Past the exact search, 3-stage nodes of smaller GPUs still win. */
static void
test_memory_order_heuristic_multi_stage(void **state)
{
	struct fx_node	 nodes[16];
	char		 names[16][2][16];
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p, q;
	uint64_t	 w[39];
	char		 err[PPC_ERRLEN];
	size_t		 i;

	for (i = 0; i < 39; i++)
		w[i] = 6 * FX_GIB;
	fx_sizes(&ms, 39, w, 2 * FX_GIB, 2 * FX_GIB, 131072);
	/* n0..n7: 4 GPUs of 80 GiB; n8..n15: 12 GPUs of 50 GB. */
	for (i = 0; i < 16; i++) {
		snprintf(names[i][0], sizeof(names[i][0]), "n%zu", i);
		snprintf(names[i][1], sizeof(names[i][1]), "10.0.0.%zu",
		    i + 1);
		nodes[i].id = names[i][0];
		nodes[i].address = names[i][1];
		nodes[i].workers = i < 8 ? 4 : 12;
		nodes[i].memory = i < 8 ? 80 * FX_GIB : 50000000000ULL;
	}
	fx_inv(&inv, nodes, 16);
	plan_config_init(&cfg);
	cfg.layers = 39;
	cfg.sizes = &ms;
	cfg.tp_size = 4;
	cfg.expected_nodes = 3;
	if (plan_compute(&cfg, &inv, NULL, 0, &q, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(q.num_stages, 3);
	cfg.order = PLAN_ORDER_MEMORY;
	if (plan_compute(&cfg, &inv, NULL, 0, &p, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(p.nnodes, 3);
	assert_int_equal(p.num_stages, 9);
	assert_true(p.kv_tokens > q.kv_tokens);
	plan_free(&p);
	plan_free(&q);
	fx_inv_free(&inv);
}

/* Without spares or pins, the order of mixed stage counts is searched. */
static void
test_memory_order_mixed_without_spares(void **state)
{
	static const struct fx_node nodes[] = {
		{ "node9", "192.168.0.3", 4, 42949672960ULL },
		{ "gpu-b", "10.0.0.100", 8, 50000000000ULL },
		{ "gpu-a", "10.0.0.90", 4, 85520809984ULL },
		{ "gpu-h", "10.0.0.11", 4, 85520809984ULL },
	};
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p, q;
	uint64_t	 w[11];
	char		 err[PPC_ERRLEN];
	size_t		 i;

	for (i = 0; i < 11; i++)
		w[i] = 6847873664ULL;
	fx_sizes(&ms, 11, w, 51359698664ULL, 10271867803ULL, 84992);
	fx_inv(&inv, nodes, 4);
	inv.nodes[1].gpus[4].memory_total = 49934791679ULL;
	plan_config_init(&cfg);
	cfg.layers = 11;
	cfg.sizes = &ms;
	cfg.tp_size = 4;
	cfg.expected_nodes = 4;
	cfg.gpu_memory_utilization = 0.85;
	cfg.min_kv_tokens = 3;
	if (plan_compute(&cfg, &inv, NULL, 0, &q, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(q.kv_tokens, 568444);

	cfg.order = PLAN_ORDER_MEMORY;
	if (plan_compute(&cfg, &inv, NULL, 0, &p, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(p.kv_tokens, 692808);
	assert_int_equal(p.nnodes, 4);
	assert_null(strstr(p.nodes[0].reason, "kept the vllm order"));
	assert_string_equal(p.nodes[3].id, "node9");
	plan_free(&p);
	plan_free(&q);
	fx_inv_free(&inv);
}

/* A pin that splits the free stages still leaves a layout to find. */
static void
test_memory_order_layout_around_pin(void **state)
{
	static const struct fx_node nodes[] = {
		{ "p", "10.0.0.1", 4, 80 * FX_GIB },
		{ "d", "10.0.0.2", 4, 80 * FX_GIB },
		{ "s", "10.0.0.3", 2, 80 * FX_GIB },
	};
	static const struct plan_pin pin = { "p", 2 };
	static const char *const want[] = { "d", "d", "p", "p", "s" };
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[10];
	char		 err[PPC_ERRLEN];
	size_t		 i;

	for (i = 0; i < 10; i++)
		w[i] = 4 * FX_GIB;
	fx_sizes(&ms, 10, w, 2 * FX_GIB, 2 * FX_GIB, 131072);
	fx_inv(&inv, nodes, 3);
	plan_config_init(&cfg);
	cfg.layers = 10;
	cfg.sizes = &ms;
	cfg.tp_size = 2;
	cfg.expected_nodes = 3;
	cfg.pins = &pin;
	cfg.npins = 1;

	/* The vllm order places s first, and then d fits nowhere. */
	assert_int_equal(plan_compute(&cfg, &inv, NULL, 0, &p, err,
	    sizeof(err)), PLAN_EINFEASIBLE);
	assert_non_null(strstr(err, "no 2 consecutive stages are free"));

	cfg.order = PLAN_ORDER_MEMORY;
	if (plan_compute(&cfg, &inv, NULL, 0, &p, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(p.num_stages, 5);
	for (i = 0; i < 5; i++)
		assert_string_equal(p.nodes[p.stages[i].node].id, want[i]);
	assert_true(p.nodes[1].pinned);
	plan_free(&p);
	fx_inv_free(&inv);
}

/* A random case of nodes with 1 to 3 stages, pins and spares. */
struct mx_case {
	struct bf_case	 bf;
	uint32_t	 cnt[BF_NODES_MAX];
	int		 pin[BF_NODES_MAX];	/* pinned first stage or -1 */
	uint32_t	 want;
	enum plan_partition part;
	uint32_t	 manual[BF_STAGES_MAX];
	uint32_t	 nmanual;
};

#define MX_NONE		((__int128)INT64_MIN - 1)

/* The tokens of one layout under the case's partition, or MX_NONE. */
static __int128
mx_layout_kv(const struct mx_case *c, uint32_t S, const int *owner)
{
	uint64_t	 mem[BF_STAGES_MAX];
	uint32_t	 split[BF_STAGES_MAX], s;

	for (s = 0; s < S; s++)
		mem[s] = c->bf.memory[owner[s]];
	if (c->part == PLAN_PARTITION_MEMORY)
		return bf_best_split(&c->bf, mem, S, split, 0, c->bf.layers);
	if (c->part == PLAN_PARTITION_MANUAL) {
		if (c->nmanual != S)
			return MX_NONE;
		return bf_split_kv(&c->bf, mem, S, c->manual);
	}
	plan_even_partition(c->bf.layers, S, split);
	return bf_split_kv(&c->bf, mem, S, split);
}

/* Fills the free stages with the candidates in every order. */
static __int128
mx_fill(const struct mx_case *c, uint32_t S, int *owner, const int *cand,
    size_t ncand, bool *taken)
{
	__int128	 best = MX_NONE, kv;
	uint32_t	 p, s, k;
	size_t		 i;

	for (p = 0; p < S && owner[p] >= 0; p++)
		;
	if (p == S)
		return mx_layout_kv(c, S, owner);
	for (i = 0; i < ncand; i++) {
		k = c->cnt[cand[i]];
		if (taken[i] || p + k > S)
			continue;
		for (s = p; s < p + k && owner[s] < 0; s++)
			;
		if (s < p + k)
			continue;
		taken[i] = true;
		for (s = p; s < p + k; s++)
			owner[s] = cand[i];
		if ((kv = mx_fill(c, S, owner, cand, ncand, taken)) > best)
			best = kv;
		for (s = p; s < p + k; s++)
			owner[s] = -1;
		taken[i] = false;
	}
	return best;
}

/* Every subset of the required size and every layout: the best tokens. */
static __int128
mx_best(const struct mx_case *c)
{
	int		 owner[BF_STAGES_MAX], cand[BF_NODES_MAX];
	bool		 taken[BF_NODES_MAX];
	__int128	 best = MX_NONE, kv;
	uint32_t	 S, fixed = 0, npins = 0, s;
	size_t		 i, ncand, mask, n = c->bf.nnodes;
	bool		 ok;

	for (i = 0; i < n; i++)
		if (c->pin[i] >= 0) {
			fixed += c->cnt[i];
			npins++;
		}
	for (mask = 0; mask < ((size_t)1 << n); mask++) {
		S = fixed;
		ncand = 0;
		ok = true;
		for (i = 0; i < n; i++) {
			if (!(mask & ((size_t)1 << i)))
				continue;
			ok &= c->pin[i] < 0;
			cand[ncand++] = (int)i;
			S += c->cnt[i];
		}
		if (!ok || ncand + npins != c->want || S > c->bf.layers)
			continue;
		for (s = 0; s < S; s++)
			owner[s] = -1;
		for (i = 0; i < n && ok; i++) {
			if (c->pin[i] < 0)
				continue;
			if ((uint32_t)c->pin[i] + c->cnt[i] > S) {
				ok = false;
				break;
			}
			for (s = (uint32_t)c->pin[i];
			    s < (uint32_t)c->pin[i] + c->cnt[i]; s++) {
				ok &= owner[s] < 0;
				owner[s] = (int)i;
			}
		}
		if (!ok)
			continue;
		memset(taken, 0, sizeof(taken));
		if ((kv = mx_fill(c, S, owner, cand, ncand, taken)) > best)
			best = kv;
	}
	return best;
}

/* Draws a case: stage counts, pins, spares, a manual split. */
static void
mx_random(struct mx_case *c, uint64_t *seed, enum plan_partition part)
{
	size_t		 n = (size_t)fx_range(seed, 2, 5), i, j;
	uint32_t	 npins, total = 0, left, s;

	memset(c, 0, sizeof(*c));
	/* At most BF_STAGES_MAX stages in all, as the brute force holds. */
	for (i = 0; i < n; i++) {
		left = BF_STAGES_MAX - total - (uint32_t)(n - 1 - i);
		c->cnt[i] = (uint32_t)fx_range(seed, 1, left < 3 ? left : 3);
		c->pin[i] = -1;
		total += c->cnt[i];
	}
	c->want = (uint32_t)fx_range(seed, 1, n);
	/* Memory sized for about the stages that want nodes have. */
	s = (uint32_t)(total * c->want / n);
	bf_random(&c->bf, seed, 9, n, s > 0 ? s : 1);
	c->part = part;
	npins = (uint32_t)fx_range(seed, 0, 2);
	for (j = 0; j < npins && j < c->want; j++) {
		i = (size_t)fx_range(seed, 0, n - 1);
		c->pin[i] = (int)fx_range(seed, 0, 3);
	}
	/* A manual split for the stage count of the first `want` nodes. */
	for (i = 0; i < c->want; i++)
		c->nmanual += c->cnt[i];
	if (c->nmanual > c->bf.layers)
		c->nmanual = c->bf.layers;
	left = c->bf.layers;
	for (s = 0; s + 1 < c->nmanual; s++) {
		c->manual[s] = (uint32_t)fx_range(seed, 1,
		    left - (c->nmanual - 1 - s));
		left -= c->manual[s];
	}
	c->manual[c->nmanual - 1] = left;
}

/* Nodes "n<i>" at 10.0.0.<i> with the case's worker counts. */
static void
mx_inventory(const struct mx_case *c, struct inv *inv)
{
	static const char *const names[] = { "n0", "n1", "n2", "n3", "n4",
	    "n5" };
	static const char *const addrs[] = { "10.0.0.0", "10.0.0.1",
	    "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5" };
	struct fx_node	 nodes[BF_NODES_MAX];
	size_t		 i;

	for (i = 0; i < c->bf.nnodes; i++) {
		nodes[i].id = names[i];
		nodes[i].address = addrs[i];
		nodes[i].workers = c->bf.tp * c->cnt[i];
		nodes[i].memory = c->bf.memory[i];
	}
	fx_inv(inv, nodes, c->bf.nnodes);
}

/*
 * Memory order on small clusters of nodes with 1 to 3 stages, pins and
 * spares, against every subset and layout.
 */
static void
mx_memory_order(enum plan_partition part, uint64_t seed, int ncases)
{
	struct mx_case	 c;
	struct plan_config cfg;
	struct model_sizes ms;
	struct plan_pin	 pins[BF_NODES_MAX];
	struct inv	 inv;
	struct plan	 p;
	uint64_t	 w[BF_LAYERS_MAX];
	__int128	 best;
	char		 err[PPC_ERRLEN];
	size_t		 i, k, npins;
	int		 n, rc, feasible = 0;

	for (n = 0; n < ncases; n++) {
		mx_random(&c, &seed, part);
		bf_config(&c.bf, &cfg, &ms, w);
		cfg.partition = part;
		cfg.order = PLAN_ORDER_MEMORY;
		cfg.expected_nodes = c.want;
		cfg.layer_partition = c.manual;
		cfg.nlayer_partition = c.nmanual;
		npins = 0;
		for (i = 0; i < c.bf.nnodes; i++) {
			if (c.pin[i] < 0)
				continue;
			snprintf(pins[npins].node, sizeof(pins[0].node), "n%zu",
			    i);
			pins[npins++].stage = (uint32_t)c.pin[i];
		}
		cfg.pins = pins;
		cfg.npins = npins;
		mx_inventory(&c, &inv);
		best = mx_best(&c);
		rc = plan_compute(&cfg, &inv, NULL, 0, &p, err, sizeof(err));
		if (best == MX_NONE || best < (__int128)c.bf.min_kv) {
			if (rc != PLAN_EINFEASIBLE)
				fail_msg("case %d: plan_compute returned %d, "
				    "expected no plan", n, rc);
			fx_inv_free(&inv);
			continue;
		}
		if (rc != 0)
			fail_msg("case %d: %s", n, err);
		if (p.kv_tokens != (int64_t)best)
			fail_msg("case %d: memory order gives %lld tokens, "
			    "the best layout %lld", n,
			    (long long)p.kv_tokens, (long long)best);
		assert_int_equal(p.nnodes, c.want);
		for (k = 0; k < p.nnodes; k++) {
			i = p.nodes[k].inv_index;
			if (c.pin[i] >= 0)
				assert_int_equal(p.nodes[k].first_stage,
				    c.pin[i]);
		}
		feasible++;
		plan_free(&p);
		fx_inv_free(&inv);
	}
	assert_true(feasible > ncases / 5);
}

static void
test_memory_order_mixed_memory_brute_force(void **state)
{
	mx_memory_order(PLAN_PARTITION_MEMORY, 0x5eed0001ULL, 2000);
}

static void
test_memory_order_mixed_even_brute_force(void **state)
{
	mx_memory_order(PLAN_PARTITION_EVEN, 0x5eed0002ULL, 2000);
}

static void
test_memory_order_mixed_manual_brute_force(void **state)
{
	mx_memory_order(PLAN_PARTITION_MANUAL, 0x5eed0003ULL, 2000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stage_memory_llama_70b),
		cmocka_unit_test(test_memory_split_beats_greedy),
		cmocka_unit_test(test_memory_split_brute_force),
		cmocka_unit_test(test_even_split_memory_figures),
		cmocka_unit_test(test_memory_split_matches_dp),
		cmocka_unit_test(test_infeasible_least_memory),
		cmocka_unit_test(test_model_size_errors),
		cmocka_unit_test(test_memory_order_memory_split_brute_force),
		cmocka_unit_test(test_memory_order_even_split_brute_force),
		cmocka_unit_test(test_memory_order_exact_midsize),
		cmocka_unit_test(test_memory_order_heuristic_vs_vllm),
		cmocka_unit_test(test_memory_order_mixed_stage_counts),
		cmocka_unit_test(test_memory_order_keeps_pins_and_hints),
		cmocka_unit_test(test_memory_order_tie_keeps_vllm),
		cmocka_unit_test(test_random_memory_plans),
		cmocka_unit_test(test_memory_order_picks_multi_stage_node),
		cmocka_unit_test(test_memory_order_mixed_without_spares),
		cmocka_unit_test(test_memory_order_heuristic_multi_stage),
		cmocka_unit_test(test_memory_order_layout_around_pin),
		cmocka_unit_test(test_memory_order_mixed_memory_brute_force),
		cmocka_unit_test(test_memory_order_mixed_even_brute_force),
		cmocka_unit_test(test_memory_order_mixed_manual_brute_force),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
