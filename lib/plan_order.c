/*
 * The planner's view of the inventory: duplicate checks, stages per node,
 * pins and hints by inventory index, and the vllm and listed node orders.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_impl.h"

static int
cmp_id(const void *a, const void *b, void *arg)
{
	const struct inv	*inv = arg;

	return strcmp(inv->nodes[*(const size_t *)a].id,
	    inv->nodes[*(const size_t *)b].id);
}

static int
cmp_address(const void *a, const void *b, void *arg)
{
	const struct inv	*inv = arg;

	return strcmp(inv->nodes[*(const size_t *)a].address,
	    inv->nodes[*(const size_t *)b].address);
}

/*
 * The sort key of vLLM's Ray executor (sort_by_driver_then_worker_ip in
 * vllm/v1/executor/ray_distributed_executor.py): the driver first, then
 * fewer workers on the node, then the address as a string, so "10.0.0.10"
 * sorts before "10.0.0.9". The id breaks ties that the address cannot.
 */
static int
cmp_vllm(const void *a, const void *b, void *arg)
{
	const struct plan_ctx	*c = arg;
	const struct inv_node	*x = &c->inv->nodes[*(const size_t *)a];
	const struct inv_node	*y = &c->inv->nodes[*(const size_t *)b];
	const char		*drv = c->cfg->driver;
	int			 dx, dy, r;

	if (drv != NULL && drv[0] != '\0') {
		dx = strcmp(x->id, drv) == 0;
		dy = strcmp(y->id, drv) == 0;
		if (dx != dy)
			return dy - dx;
	}
	if (x->workers != y->workers)
		return x->workers < y->workers ? -1 : 1;
	if ((r = strcmp(x->address, y->address)) != 0)
		return r;
	return strcmp(x->id, y->id);
}

/* Rejects two nodes with the same id or the same address, naming both. */
static int
ctx_check_duplicates(struct plan_ctx *c, char *err, size_t errlen)
{
	const struct inv	*inv = c->inv;
	size_t			*by, i;

	if ((by = calloc(c->n, sizeof(*by))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return PLAN_ENOMEM;
	}
	for (i = 0; i < c->n; i++)
		by[i] = i;
	qsort_r(by, c->n, sizeof(*by), cmp_address, (void *)inv);
	for (i = 1; i < c->n; i++) {
		if (strcmp(inv->nodes[by[i - 1]].address,
		    inv->nodes[by[i]].address) == 0) {
			snprintf(err, errlen, "nodes %s and %s have the same "
			    "address %s", inv->nodes[by[i - 1]].id,
			    inv->nodes[by[i]].id, inv->nodes[by[i]].address);
			free(by);
			return PLAN_EINFEASIBLE;
		}
	}

	qsort_r(c->byid, c->n, sizeof(*c->byid), cmp_id, (void *)inv);
	free(by);
	for (i = 1; i < c->n; i++) {
		if (strcmp(inv->nodes[c->byid[i - 1]].id,
		    inv->nodes[c->byid[i]].id) == 0) {
			snprintf(err, errlen, "node id %s appears twice in the "
			    "inventory, at addresses %s and %s",
			    inv->nodes[c->byid[i]].id,
			    inv->nodes[c->byid[i - 1]].address,
			    inv->nodes[c->byid[i]].address);
			return PLAN_EINFEASIBLE;
		}
	}
	return 0;
}

/* The inventory index of node `id`, or SIZE_MAX when it is absent. */
size_t
plan_ctx_find(const struct plan_ctx *c, const char *id)
{
	size_t	 lo = 0, hi = c->n, mid;
	int	 r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = strcmp(c->inv->nodes[c->byid[mid]].id, id);
		if (r == 0)
			return c->byid[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

/* Sets tp_size and each node's stage count. */
static int
ctx_stages(struct plan_ctx *c, char *err, size_t errlen)
{
	const struct inv_node	*x, *first = &c->inv->nodes[0];
	size_t			 i;

	c->tp = c->cfg->tp_size;
	for (i = 0; i < c->n; i++) {
		x = &c->inv->nodes[i];
		if (x->workers == 0 || x->workers > INV_GPUS_MAX) {
			snprintf(err, errlen, "node %s has %u workers, "
			    "expected 1 to %u", x->id, x->workers,
			    INV_GPUS_MAX);
			return PLAN_EINFEASIBLE;
		}
		if (c->cfg->tp_size == 0 && x->workers != first->workers) {
			snprintf(err, errlen, "plan.tp_size is not set, so "
			    "every node needs the same worker count, but node "
			    "%s has %u workers and node %s has %u; set "
			    "plan.tp_size", first->id, first->workers, x->id,
			    x->workers);
			return PLAN_EINFEASIBLE;
		}
	}
	if (c->tp == 0)
		c->tp = first->workers;

	for (i = 0; i < c->n; i++) {
		x = &c->inv->nodes[i];
		if (x->workers % c->tp != 0) {
			snprintf(err, errlen, "node %s has %u workers, which "
			    "is not a multiple of plan.tp_size %u", x->id,
			    x->workers, c->tp);
			return PLAN_EINFEASIBLE;
		}
		c->count[i] = x->workers / c->tp;
	}
	return 0;
}

/* Maps pins and hints to inventory indices. Pins and hints of absent
 * nodes are ignored: the head plans without nodes that did not join. */
static int
ctx_pins(struct plan_ctx *c, char *err, size_t errlen)
{
	const struct plan_config *cfg = c->cfg;
	size_t			 i, j;

	for (i = 0; i < c->n; i++)
		c->pin[i] = c->hint[i] = -1;
	for (j = 0; j < cfg->npins; j++) {
		if ((i = plan_ctx_find(c, cfg->pins[j].node)) == SIZE_MAX)
			continue;
		if (c->pin[i] >= 0) {
			snprintf(err, errlen, "node %s is pinned twice, to "
			    "stages %" PRId64 " and %u", cfg->pins[j].node,
			    c->pin[i], cfg->pins[j].stage);
			return PLAN_EINFEASIBLE;
		}
		c->pin[i] = cfg->pins[j].stage;
		c->npinned++;
	}
	for (j = 0; j < c->nhints; j++) {
		if (c->hints[j].node == NULL ||
		    (i = plan_ctx_find(c, c->hints[j].node)) == SIZE_MAX)
			continue;
		if (c->pin[i] < 0 && c->hint[i] < 0)
			c->hint[i] = c->hints[j].first_stage;
	}
	return 0;
}

/* Sorts the nodes into vllm order and writes each one's reason. */
static void
ctx_vllm(struct plan_ctx *c)
{
	const struct inv_node	*x;
	const char		*drv = c->cfg->driver;
	size_t			 i;

	for (i = 0; i < c->n; i++)
		c->vllm[i] = i;
	qsort_r(c->vllm, c->n, sizeof(*c->vllm), cmp_vllm, c);
	for (i = 0; i < c->n; i++) {
		c->vrank[c->vllm[i]] = i;
		x = &c->inv->nodes[c->vllm[i]];
		if (drv != NULL && strcmp(x->id, drv) == 0)
			snprintf(c->why[c->vllm[i]], sizeof(c->why[0]),
			    "vllm order: driver node (plan.driver) first");
		else
			snprintf(c->why[c->vllm[i]], sizeof(c->why[0]),
			    "vllm order position %zu (0-based, like node "
			    "ranks): sorted by worker count (%u), then by "
			    "address %s as a string", i,
			    x->workers, x->address);
	}
}

/* Computes each node's budget per GPU for the memory model. */
static int
ctx_memory(struct plan_ctx *c, char *err, size_t errlen)
{
	size_t	 i;
	int	 rc;

	if ((rc = plan_mem_init(&c->mem, c->cfg, c->tp, err, errlen)) != 0)
		return rc;
	c->have_mem = true;
	for (i = 0; i < c->n; i++) {
		c->minmem[i] = inv_node_min_memory(&c->inv->nodes[i]);
		c->budget[i] = plan_mem_budget(c->cfg, c->minmem[i]);
	}
	return 0;
}

void
plan_ctx_free(struct plan_ctx *c)
{
	free(c->count);
	free(c->pin);
	free(c->hint);
	free(c->vllm);
	free(c->vrank);
	free(c->byid);
	free(c->kept);
	free(c->budget);
	free(c->minmem);
	free(c->why);
	if (c->have_mem)
		plan_mem_free(&c->mem);
	memset(c, 0, sizeof(*c));
}

/*
 * Prepares everything that does not depend on the node order. Returns 0,
 * PLAN_EINFEASIBLE with a message, or PLAN_ENOMEM.
 */
int
plan_ctx_init(struct plan_ctx *c, const struct plan_config *cfg,
    const struct inv *inv, const struct plan_hint *hints, size_t nhints,
    char *err, size_t errlen)
{
	size_t	 i, n = inv->nnodes;
	int	 rc;

	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->inv = inv;
	c->hints = hints;
	c->nhints = nhints;
	c->n = n;
	if (n == 0) {
		snprintf(err, errlen, "the inventory has no nodes");
		return PLAN_EINFEASIBLE;
	}
	c->count = calloc(n, sizeof(*c->count));
	c->pin = calloc(n, sizeof(*c->pin));
	c->hint = calloc(n, sizeof(*c->hint));
	c->vllm = calloc(n, sizeof(*c->vllm));
	c->vrank = calloc(n, sizeof(*c->vrank));
	c->byid = calloc(n, sizeof(*c->byid));
	c->kept = calloc(n, sizeof(*c->kept));
	c->budget = calloc(n, sizeof(*c->budget));
	c->minmem = calloc(n, sizeof(*c->minmem));
	c->why = calloc(n, sizeof(*c->why));
	if (c->count == NULL || c->pin == NULL || c->hint == NULL ||
	    c->vllm == NULL || c->vrank == NULL || c->byid == NULL ||
	    c->kept == NULL || c->budget == NULL || c->minmem == NULL ||
	    c->why == NULL) {
		snprintf(err, errlen, "out of memory");
		return PLAN_ENOMEM;
	}
	for (i = 0; i < n; i++)
		c->byid[i] = i;

	if ((rc = ctx_check_duplicates(c, err, errlen)) != 0 ||
	    (rc = ctx_stages(c, err, errlen)) != 0 ||
	    (rc = ctx_pins(c, err, errlen)) != 0)
		return rc;
	ctx_vllm(c);
	if (cfg->sizes != NULL && (rc = ctx_memory(c, err, errlen)) != 0)
		return rc;
	return 0;
}

/*
 * Writes the listed order into seq: the ids of plan.nodes that are in the
 * inventory, each once, then every other node in vllm order.
 */
int
plan_order_listed(struct plan_ctx *c, size_t *seq)
{
	const struct plan_config *cfg = c->cfg;
	bool		*taken;
	size_t		 i, j, k = 0;

	if ((taken = calloc(c->n, sizeof(*taken))) == NULL)
		return PLAN_ENOMEM;
	for (j = 0; j < cfg->nlisted; j++) {
		if (cfg->listed[j] == NULL ||
		    (i = plan_ctx_find(c, cfg->listed[j])) == SIZE_MAX ||
		    taken[i])
			continue;
		taken[i] = true;
		seq[k++] = i;
		snprintf(c->why[i], sizeof(c->why[0]), "listed order: "
		    "plan.nodes[%zu] (0-based)", j);
	}
	for (j = 0; j < c->n; j++) {
		i = c->vllm[j];
		if (taken[i])
			continue;
		seq[k++] = i;
		snprintf(c->why[i], sizeof(c->why[0]), "listed order: not in "
		    "plan.nodes, so it follows in vllm order (%u workers, "
		    "address %s)", c->inv->nodes[i].workers,
		    c->inv->nodes[i].address);
	}
	free(taken);
	return 0;
}
