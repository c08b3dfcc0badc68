/*
 * Times plan_compute for every order and partition policy on an inventory
 * of 1,024 nodes (8 GPUs each, memory_total between 40 and 141 GiB) and a
 * model of 1,000 layers of uneven weight, using 512 and 1,000 of the
 * nodes. Then times the exact memory order on 12 of those nodes, with 1
 * stage each and with 1 or 2 stages and 6 spares, and the memory order on
 * 1,024 nodes of 1 or 2 stages using 400. Run with `make bench-plan`.
 *
 *   plan_bench [RUNS]    RUNS per policy, default 7; prints the median
 *                        and the fastest run in milliseconds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plan.h"
#include "plan_fixture.h"

#define BENCH_NODES	1024
#define BENCH_LAYERS	1000

static double
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* GPU sizes of common data-center parts, in GiB. */
static const uint64_t gpu_gib[] = { 40, 48, 80, 94, 141 };

/*
 * Layers like a mixture-of-experts model: 3 dense layers, then expert
 * layers of 2 to 3 GiB with every 7th one heavier, in bytes over all GPUs.
 */
static void
bench_model(uint64_t *w, uint64_t *seed)
{
	uint32_t	 i;

	for (i = 0; i < BENCH_LAYERS; i++) {
		if (i < 3)
			w[i] = FX_GIB / 2 + fx_range(seed, 0, FX_GIB / 8);
		else
			w[i] = 2 * FX_GIB + fx_range(seed, 0, FX_GIB);
		if (i % 7 == 0)
			w[i] += 4 * FX_GIB;
	}
}

static int
bench_one(const struct plan_config *cfg, const struct inv *inv, int runs,
    const char *label)
{
	struct plan	 p;
	double		*t, t0;
	char		 err[PPC_ERRLEN];
	int		 i, rc = 0;

	if ((t = calloc(runs, sizeof(*t))) == NULL)
		return -1;
	for (i = 0; i < runs; i++) {
		t0 = now_ms();
		rc = plan_compute(cfg, inv, NULL, 0, &p, err, sizeof(err));
		t[i] = now_ms() - t0;
		if (rc != 0) {
			fprintf(stderr, "%s: %s\n", label, err);
			free(t);
			return -1;
		}
		if (i + 1 < runs)
			plan_free(&p);
	}
	qsort(t, runs, sizeof(*t), cmp_double);
	printf("%-26s used %4zu stages %4u  median %9.3f ms  min %9.3f ms"
	    "  kv_tokens %lld\n", label, p.nnodes, p.num_stages, t[runs / 2],
	    t[0], (long long)p.kv_tokens);
	plan_free(&p);
	free(t);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const enum plan_order orders[] = { PLAN_ORDER_VLLM,
	    PLAN_ORDER_LISTED, PLAN_ORDER_MEMORY };
	static const enum plan_partition parts[] = { PLAN_PARTITION_EVEN,
	    PLAN_PARTITION_MANUAL, PLAN_PARTITION_MEMORY };
	static const uint32_t used[] = { 512, 1000 };
	struct plan_config cfg;
	struct model_sizes ms;
	struct inv	 inv;
	uint64_t	*w, seed = 20261204;
	uint32_t	 manual[1000];
	const char	*listed[BENCH_NODES];
	char		 label[64];
	size_t		 i, o, q, u;
	int		 runs = argc > 1 ? atoi(argv[1]) : 7;

	if (runs < 1 || runs > 1000) {
		fprintf(stderr, "usage: plan_bench [RUNS], RUNS 1 to 1000\n");
		return 2;
	}
	if ((w = calloc(BENCH_LAYERS, sizeof(*w))) == NULL)
		return 1;
	bench_model(w, &seed);
	fx_sizes(&ms, BENCH_LAYERS, w, 2 * FX_GIB, 2 * FX_GIB, 4096);
	fx_inv_uniform(&inv, BENCH_NODES, 8, 0);
	for (i = 0; i < BENCH_NODES; i++) {
		fx_set_memory(&inv, i,
		    gpu_gib[fx_range(&seed, 0, 4)] * FX_GIB);
		listed[i] = inv.nodes[BENCH_NODES - 1 - i].id;
	}
	printf("plan_compute on %d nodes of 8 GPUs, %d layers, tp_size 8, "
	    "%d runs each\n", BENCH_NODES, BENCH_LAYERS, runs);

	for (u = 0; u < sizeof(used) / sizeof(used[0]); u++) {
		for (o = 0; o < 3; o++) {
			for (q = 0; q < 3; q++) {
				plan_config_init(&cfg);
				cfg.layers = BENCH_LAYERS;
				cfg.expected_nodes = used[u];
				cfg.sizes = &ms;
				cfg.order = orders[o];
				cfg.partition = parts[q];
				cfg.listed = listed;
				cfg.nlisted = BENCH_NODES;
				plan_even_partition(BENCH_LAYERS, used[u],
				    manual);
				cfg.layer_partition = manual;
				cfg.nlayer_partition = used[u];
				snprintf(label, sizeof(label), "%s/%s",
				    plan_order_name(orders[o]),
				    plan_partition_name(parts[q]));
				if (bench_one(&cfg, &inv, runs, label) != 0)
					return 1;
			}
		}
	}
	fx_inv_free(&inv);

	/* The exact search over subsets at its largest size. */
	fx_inv_uniform(&inv, 12, 8, 0);
	for (i = 0; i < 12; i++)
		fx_set_memory(&inv, i, gpu_gib[fx_range(&seed, 0, 4)] * FX_GIB);
	for (q = 0; q < 3; q += 2) {
		plan_config_init(&cfg);
		cfg.layers = BENCH_LAYERS;
		cfg.sizes = &ms;
		cfg.order = PLAN_ORDER_MEMORY;
		cfg.partition = parts[q];
		snprintf(label, sizeof(label), "memory/%s, 12 nodes",
		    plan_partition_name(parts[q]));
		if (bench_one(&cfg, &inv, runs, label) != 0)
			return 1;
	}
	/* The exact search with 1 or 2 stages per node and 6 spares, which
	 * searches every stage count from 6 to 12 that a choice gives. */
	for (i = 0; i < 12; i++)
		inv.nodes[i].workers = i % 3 == 0 ? 16 : 8;
	for (q = 0; q < 3; q++) {
		plan_config_init(&cfg);
		cfg.layers = BENCH_LAYERS;
		cfg.sizes = &ms;
		cfg.tp_size = 8;
		cfg.expected_nodes = 6;
		cfg.order = PLAN_ORDER_MEMORY;
		cfg.partition = parts[q];
		plan_even_partition(BENCH_LAYERS, 8, manual);
		cfg.layer_partition = manual;
		cfg.nlayer_partition = 8;
		snprintf(label, sizeof(label), "memory/%s, 12 mixed",
		    plan_partition_name(parts[q]));
		if (bench_one(&cfg, &inv, runs, label) != 0)
			return 1;
	}
	fx_inv_free(&inv);

	/* The heuristic for unequal stage counts past the exact search. */
	fx_inv_uniform(&inv, BENCH_NODES, 8, 0);
	for (i = 0; i < BENCH_NODES; i++) {
		fx_set_memory(&inv, i,
		    gpu_gib[fx_range(&seed, 0, 4)] * FX_GIB);
		inv.nodes[i].workers = i % 3 == 0 ? 16 : 8;
	}
	for (o = 0; o < 3; o += 2) {
		for (q = 0; q < 3; q += 2) {
			plan_config_init(&cfg);
			cfg.layers = BENCH_LAYERS;
			cfg.sizes = &ms;
			cfg.tp_size = 8;
			cfg.expected_nodes = 400;
			cfg.order = orders[o];
			cfg.partition = parts[q];
			snprintf(label, sizeof(label), "%s/%s, mixed",
			    plan_order_name(orders[o]),
			    plan_partition_name(parts[q]));
			if (bench_one(&cfg, &inv, runs, label) != 0)
				return 1;
		}
	}
	fx_inv_free(&inv);
	free(w);
	return 0;
}
