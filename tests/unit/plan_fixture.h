/*
 * Inventories and configs for the planner's unit tests, built directly as
 * structs so that the tests need only the planning engine.
 */
#ifndef PPCOORD_PLAN_FIXTURE_H
#define PPCOORD_PLAN_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define FX_GIB	(1ULL << 30)

struct fx_node {
	const char	*id;
	const char	*address;
	uint32_t	 workers;
	uint64_t	 memory;	/* memory_total of every GPU, bytes */
};

/* Fills inv with one GPU per worker; aborts when out of memory. */
static inline void
fx_inv(struct inv *inv, const struct fx_node *nodes, size_t n)
{
	struct inv_node	*x;
	size_t		 i;
	uint32_t	 g;

	inv->nnodes = n;
	inv->nodes = calloc(n > 0 ? n : 1, sizeof(*inv->nodes));
	if (inv->nodes == NULL)
		abort();
	for (i = 0; i < n; i++) {
		x = &inv->nodes[i];
		snprintf(x->id, sizeof(x->id), "%s", nodes[i].id);
		snprintf(x->address, sizeof(x->address), "%s",
		    nodes[i].address);
		x->workers = nodes[i].workers;
		x->ngpus = nodes[i].workers;
		x->gpus = calloc(x->ngpus > 0 ? x->ngpus : 1, sizeof(*x->gpus));
		if (x->gpus == NULL)
			abort();
		for (g = 0; g < x->ngpus; g++) {
			x->gpus[g].index = g;
			x->gpus[g].memory_total = nodes[i].memory;
			x->gpus[g].memory_free = nodes[i].memory;
		}
	}
}

/* An inventory of n nodes "n<i>" at 10.0.<i/256>.<i%256>, all alike. */
static inline void
fx_inv_uniform(struct inv *inv, size_t n, uint32_t workers, uint64_t memory)
{
	struct fx_node	*nodes;
	char		(*names)[2][64];
	size_t		 i;

	nodes = calloc(n, sizeof(*nodes));
	names = calloc(n, sizeof(*names));
	if (nodes == NULL || names == NULL)
		abort();
	for (i = 0; i < n; i++) {
		snprintf(names[i][0], 64, "n%zu", i);
		snprintf(names[i][1], 64, "10.0.%zu.%zu", i / 256, i % 256);
		nodes[i].id = names[i][0];
		nodes[i].address = names[i][1];
		nodes[i].workers = workers;
		nodes[i].memory = memory;
	}
	fx_inv(inv, nodes, n);
	free(nodes);
	free(names);
}

static inline void
fx_inv_free(struct inv *inv)
{
	size_t	 i;

	for (i = 0; i < inv->nnodes; i++)
		free(inv->nodes[i].gpus);
	free(inv->nodes);
	inv->nodes = NULL;
	inv->nnodes = 0;
}

/* Sets every GPU of node i to `memory` bytes. */
static inline void
fx_set_memory(struct inv *inv, size_t i, uint64_t memory)
{
	uint32_t	 g;

	for (g = 0; g < inv->nodes[i].ngpus; g++)
		inv->nodes[i].gpus[g].memory_total = memory;
}

/* Model sizes with layer_bytes owned by the caller's array. */
static inline void
fx_sizes(struct model_sizes *m, uint32_t layers, uint64_t *w, uint64_t e,
    uint64_t h, uint64_t k)
{
	memset(m, 0, sizeof(*m));
	m->layers = layers;
	m->layer_bytes = w;
	m->embedding_bytes = e;
	m->head_bytes = h;
	m->kv_bytes_per_token = k;
	snprintf(m->source, sizeof(m->source), "explicit");
}

/* A deterministic generator for the randomized tests (xorshift64*). */
static inline uint64_t
fx_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* A value in [lo, hi]. */
static inline uint64_t
fx_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + fx_rand(s) % (hi - lo + 1);
}

#endif
