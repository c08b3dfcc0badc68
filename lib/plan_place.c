/*
 * Building a plan from a node order: which nodes are used and which are
 * spares, stage placement with pins and hints, and the layer split.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_impl.h"

/*
 * Marks the used nodes: every pinned node, then hinted nodes, then `seq`
 * until cluster.expected_nodes are used (every node when it is 0).
 */
int
plan_select(struct plan_ctx *c, const size_t *seq, bool *used, char *err,
    size_t errlen)
{
	uint32_t	 expected = c->cfg->expected_nodes;
	size_t		 want, have = 0, i, j;

	if (expected > 0 && c->n < expected) {
		snprintf(err, errlen, "inventory has %zu node%s, "
		    "cluster.expected_nodes is %u", c->n, c->n == 1 ? "" : "s",
		    expected);
		return PLAN_EINFEASIBLE;
	}
	if (expected > 0 && c->npinned > expected) {
		snprintf(err, errlen, "%zu nodes are pinned in plan.pins, but "
		    "cluster.expected_nodes is %u", c->npinned, expected);
		return PLAN_EINFEASIBLE;
	}
	want = expected > 0 ? expected : c->n;

	for (i = 0; i < c->n; i++) {
		used[i] = c->pin[i] >= 0;
		have += used[i];
	}
	for (j = 0; j < c->n && have < want; j++) {
		i = seq[j];
		if (!used[i] && c->hint[i] >= 0) {
			used[i] = true;
			have++;
		}
	}
	for (j = 0; j < c->n && have < want; j++) {
		i = seq[j];
		if (!used[i]) {
			used[i] = true;
			have++;
		}
	}
	return 0;
}

/* The id of the node on stage s, for errors. */
static const char *
owner_id(const struct plan_ctx *c, const int64_t *owner, uint32_t s)
{
	return c->inv->nodes[owner[s]].id;
}

static int
place_pin(struct plan_ctx *c, size_t i, uint32_t stages, int64_t *owner,
    char *err, size_t errlen)
{
	const char	*id = c->inv->nodes[i].id;
	uint64_t	 first = (uint64_t)c->pin[i];
	uint32_t	 cnt = c->count[i], s;

	if (first >= stages) {
		snprintf(err, errlen, "node %s is pinned to stage %" PRIu64
		    ", past the last stage %u (the plan has %u stages)", id,
		    first, stages - 1, stages);
		return PLAN_EINFEASIBLE;
	}
	if (first + cnt > stages) {
		snprintf(err, errlen, "node %s holds %u stages, which do not "
		    "fit from its pinned stage %" PRIu64 " (the last stage is "
		    "%u)", id, cnt, first, stages - 1);
		return PLAN_EINFEASIBLE;
	}
	for (s = (uint32_t)first; s < first + cnt; s++) {
		if (owner[s] >= 0) {
			snprintf(err, errlen, "the pins of nodes %s (stage %"
			    PRId64 ") and %s (stage %" PRIu64 ") overlap at "
			    "stage %u", owner_id(c, owner, s),
			    c->pin[owner[s]], id, first, s);
			return PLAN_EINFEASIBLE;
		}
	}
	for (s = (uint32_t)first; s < first + cnt; s++)
		owner[s] = (int64_t)i;
	return 0;
}

/*
 * Places pinned nodes, in plan.pins order, and then, with use_hints, every
 * used hinted node whose hinted stages are in range and free. owner[s] is
 * the inventory index on stage s, or -1.
 */
int
plan_place_fixed(struct plan_ctx *c, const bool *used, uint32_t stages,
    int64_t *owner, bool use_hints, char *err, size_t errlen)
{
	const struct plan_config *cfg = c->cfg;
	size_t		 i, j;
	uint64_t	 first;
	uint32_t	 s;
	int		 rc;

	for (s = 0; s < stages; s++)
		owner[s] = -1;
	for (i = 0; i < c->n; i++)
		c->kept[i] = false;
	for (j = 0; j < cfg->npins; j++) {
		if ((i = plan_ctx_find(c, cfg->pins[j].node)) == SIZE_MAX ||
		    c->pin[i] != cfg->pins[j].stage)
			continue;
		if ((rc = place_pin(c, i, stages, owner, err, errlen)) != 0)
			return rc;
	}
	if (!use_hints)
		return 0;

	for (j = 0; j < c->nhints; j++) {
		if (c->hints[j].node == NULL ||
		    (i = plan_ctx_find(c, c->hints[j].node)) == SIZE_MAX ||
		    !used[i] || c->pin[i] >= 0 || c->kept[i] ||
		    c->hint[i] != c->hints[j].first_stage)
			continue;
		first = c->hints[j].first_stage;
		if (first + c->count[i] > stages)
			continue;
		for (s = (uint32_t)first; s < first + c->count[i]; s++)
			if (owner[s] >= 0)
				break;
		if (s < first + c->count[i])
			continue;
		for (s = (uint32_t)first; s < first + c->count[i]; s++)
			owner[s] = (int64_t)i;
		c->kept[i] = true;
	}
	return 0;
}

/*
 * The lowest first stage of `cnt` free consecutive stages at or after
 * *from, or -1. Stages are only ever taken, so when no run of `cnt`
 * starts before a stage now, none will later: *from keeps that stage per
 * count, which keeps placing n nodes on S stages near O(S + n).
 */
static int64_t
lowest_free(const int64_t *owner, uint32_t stages, uint32_t cnt,
    uint32_t *from)
{
	uint32_t	 s, run = 0;

	for (s = *from; s < stages; s++) {
		run = owner[s] < 0 ? run + 1 : 0;
		if (run == cnt) {
			*from = s + 1 - cnt;
			return (int64_t)*from;
		}
	}
	*from = stages;
	return -1;
}

/* Explains why node i fits nowhere: the free stages and the pinned nodes. */
static void
fit_error(const struct plan_ctx *c, size_t i, const int64_t *owner,
    uint32_t stages, char *err, size_t errlen)
{
	char		 list[160] = "", fixed[160] = "";
	size_t		 len = 0, flen = 0;
	uint32_t	 s;
	int64_t		 prev = -1;

	for (s = 0; s < stages && len < sizeof(list) - 8; s++)
		if (owner[s] < 0)
			len += snprintf(list + len, sizeof(list) - len, "%s%u",
			    len > 0 ? ", " : "", s);
	for (s = 0; s < stages && flen < sizeof(fixed) - 8; s++) {
		if (owner[s] < 0 || owner[s] == prev ||
		    (c->pin[owner[s]] < 0 && !c->kept[owner[s]]))
			continue;
		prev = owner[s];
		flen += snprintf(fixed + flen, sizeof(fixed) - flen, "%s%s",
		    flen > 0 ? ", " : "", c->inv->nodes[owner[s]].id);
	}
	snprintf(err, errlen, "node %s holds %u stages, but no %u consecutive "
	    "stages are free (free: %s; pinned nodes %s)", c->inv->nodes[i].id,
	    c->count[i], c->count[i], len > 0 ? list : "none",
	    flen > 0 ? fixed : "none");
}

/*
 * Places every used node: pins and hints first, then the others in `seq`
 * order, each at the lowest free stage where all its stages fit. When the
 * kept hints leave a node no room, placement is redone without hints, so
 * that a stale hint never makes a plan fail.
 */
static int
place_all(struct plan_ctx *c, const size_t *seq, const bool *used,
    uint32_t stages, int64_t *owner, int64_t *first, char *err,
    size_t errlen)
{
	bool		 use_hints = true;
	size_t		 i, j;
	uint32_t	 s, from[INV_GPUS_MAX + 1];
	int64_t		 f;
	int		 rc;

again:
	memset(from, 0, sizeof(from));
	if ((rc = plan_place_fixed(c, used, stages, owner, use_hints, err,
	    errlen)) != 0)
		return rc;
	for (i = 0; i < c->n; i++)
		first[i] = -1;
	for (s = stages; s-- > 0;)
		if (owner[s] >= 0)
			first[owner[s]] = s;

	for (j = 0; j < c->n; j++) {
		i = seq[j];
		if (!used[i] || first[i] >= 0)
			continue;
		if ((f = lowest_free(owner, stages, c->count[i],
		    &from[c->count[i]])) < 0) {
			if (use_hints) {
				use_hints = false;
				goto again;
			}
			fit_error(c, i, owner, stages, err, errlen);
			return PLAN_EINFEASIBLE;
		}
		first[i] = f;
		for (s = 0; s < c->count[i]; s++)
			owner[f + s] = (int64_t)i;
	}
	return 0;
}

/* Checks plan.layer_partition against the stages and layers. */
static int
manual_partition(const struct plan_config *cfg, uint32_t stages,
    uint32_t *out, char *err, size_t errlen)
{
	uint64_t	 sum = 0;
	size_t		 i;

	if (cfg->nlayer_partition != stages) {
		snprintf(err, errlen, "plan.layer_partition has %zu entries, "
		    "expected %u (one per stage)", cfg->nlayer_partition,
		    stages);
		return PLAN_EINFEASIBLE;
	}
	for (i = 0; i < stages; i++) {
		if (cfg->layer_partition[i] == 0) {
			snprintf(err, errlen, "plan.layer_partition entry %zu "
			    "is 0, but every stage needs at least one layer",
			    i + 1);
			return PLAN_EINFEASIBLE;
		}
		sum += cfg->layer_partition[i];
		out[i] = cfg->layer_partition[i];
	}
	if (sum != cfg->layers) {
		snprintf(err, errlen, "plan.layer_partition adds up to %"
		    PRIu64 " layers, expected %u (model.layers)", sum,
		    cfg->layers);
		return PLAN_EINFEASIBLE;
	}
	return 0;
}

/* The memory split for the placed nodes, or the one closest to fitting. */
static int
memory_partition(struct plan_ctx *c, const int64_t *owner, uint32_t stages,
    uint32_t *out, bool *closest)
{
	int64_t		*budget, tokens;
	uint32_t	 s;
	int		 rc;

	if ((budget = calloc(stages, sizeof(*budget))) == NULL)
		return PLAN_ENOMEM;
	for (s = 0; s < stages; s++)
		budget[s] = c->budget[owner[s]];
	rc = plan_mem_best(&c->mem, stages, budget, 0, out, &tokens);
	*closest = rc == 0 ||
	    (rc == 1 && (uint64_t)tokens < c->cfg->min_kv_tokens);
	if (*closest)
		rc = plan_mem_closest(&c->mem, stages, budget,
		    c->cfg->min_kv_tokens, out);
	free(budget);
	return rc < 0 ? PLAN_ENOMEM : 0;
}

/* Fills plan.nodes in stage order and plan.stages. */
static void
fill_nodes(struct plan_ctx *c, const int64_t *owner, const int64_t *first,
    struct plan *p)
{
	struct plan_node	*pn;
	const struct inv_node	*x;
	uint32_t		 s, k = 0, layer = 0;
	size_t			 i;

	for (s = 0; s < p->num_stages; s++) {
		i = (size_t)owner[s];
		if (first[i] == s) {
			pn = &p->nodes[k++];
			x = &c->inv->nodes[i];
			memcpy(pn->id, x->id, sizeof(pn->id));
			memcpy(pn->address, x->address, sizeof(pn->address));
			pn->inv_index = i;
			pn->node_rank = k - 1;
			pn->first_stage = s;
			pn->stage_count = c->count[i];
			pn->workers = x->workers;
			pn->pinned = c->pin[i] >= 0;
			pn->hinted = c->kept[i];
			if (pn->pinned)
				snprintf(pn->reason, sizeof(pn->reason),
				    "pinned to stage %u by plan.pins", s);
			else if (pn->hinted)
				snprintf(pn->reason, sizeof(pn->reason),
				    "kept at stage %u from the previous plan",
				    s);
			else
				snprintf(pn->reason, sizeof(pn->reason),
				    "%s; lowest free stage %u", c->why[i], s);
		}
		p->stages[s].stage = s;
		p->stages[s].node = k - 1;
		p->stages[s].first_layer = layer;
		layer += p->layer_partition[s];
		p->stages[s].end_layer = layer;
	}
	x = &c->inv->nodes[owner[0]];
	memcpy(p->master_addr, x->address, sizeof(p->master_addr));
}

/* Lists the unused nodes as spares, in policy order. */
static void
fill_spares(struct plan_ctx *c, const size_t *seq, const bool *used,
    struct plan *p)
{
	struct plan_spare	*sp;
	size_t			 j, i;

	for (j = 0; j < c->n; j++) {
		i = seq[j];
		if (used[i])
			continue;
		sp = &p->spares[p->nspares++];
		memcpy(sp->id, c->inv->nodes[i].id, sizeof(sp->id));
		sp->inv_index = i;
		snprintf(sp->reason, sizeof(sp->reason), "spare: "
		    "cluster.expected_nodes is %u, filled by pinned and hinted "
		    "nodes and those before it in %s order",
		    c->cfg->expected_nodes, plan_order_name(c->cfg->order));
	}
}

static int
build_alloc(struct plan *p, size_t nodes, size_t spares, uint32_t stages)
{
	p->nodes = calloc(nodes, sizeof(*p->nodes));
	p->stages = calloc(stages, sizeof(*p->stages));
	p->layer_partition = calloc(stages, sizeof(*p->layer_partition));
	p->spares = calloc(spares > 0 ? spares : 1, sizeof(*p->spares));
	if (p->nodes == NULL || p->stages == NULL ||
	    p->layer_partition == NULL || p->spares == NULL)
		return PLAN_ENOMEM;
	return 0;
}

/* Everything of a plan after the used nodes are placed. */
static int
build_placed(struct plan_ctx *c, const size_t *seq, const bool *used,
    const int64_t *owner, const int64_t *first, size_t nused,
    struct plan *p, char *err, size_t errlen)
{
	const struct plan_config *cfg = c->cfg;
	bool		 closest = false;
	int		 rc;

	if ((rc = build_alloc(p, nused, c->n - nused, p->num_stages)) != 0)
		return rc;
	p->nnodes = nused;
	if (cfg->partition == PLAN_PARTITION_EVEN)
		plan_even_partition(cfg->layers, p->num_stages,
		    p->layer_partition);
	else if (cfg->partition == PLAN_PARTITION_MANUAL)
		rc = manual_partition(cfg, p->num_stages, p->layer_partition,
		    err, errlen);
	else
		rc = memory_partition(c, owner, p->num_stages,
		    p->layer_partition, &closest);
	if (rc != 0)
		return rc;

	fill_nodes(c, owner, first, p);
	fill_spares(c, seq, used, p);
	if (c->have_mem)
		return plan_mem_check(cfg, c->inv, p, closest, err, errlen);
	return 0;
}

/*
 * Builds the whole plan for the node order `seq` (every inventory index
 * once) into out, which the caller has initialized with plan_init.
 */
int
plan_build(struct plan_ctx *c, const size_t *seq, struct plan *out,
    char *err, size_t errlen)
{
	const struct plan_config *cfg = c->cfg;
	bool		*used;
	int64_t		*owner = NULL, *first = NULL;
	uint64_t	 stages = 0;
	size_t		 i, nused = 0;
	int		 rc;

	plan_free(out);
	out->tp_size = c->tp;
	out->layers = cfg->layers;
	out->order = cfg->order;
	out->partition = cfg->partition;
	out->master_port = cfg->master_port;

	if ((used = calloc(c->n, sizeof(*used))) == NULL)
		return PLAN_ENOMEM;
	if ((rc = plan_select(c, seq, used, err, errlen)) != 0)
		goto done;
	for (i = 0; i < c->n; i++) {
		if (used[i]) {
			stages += c->count[i];
			nused++;
		}
	}
	if (stages > cfg->layers) {
		snprintf(err, errlen, "the plan has %" PRIu64 " stages but "
		    "model.layers is %u, and every stage needs at least one "
		    "layer", stages, cfg->layers);
		rc = PLAN_EINFEASIBLE;
		goto done;
	}
	out->num_stages = (uint32_t)stages;

	owner = calloc(stages, sizeof(*owner));
	first = calloc(c->n, sizeof(*first));
	if (owner == NULL || first == NULL) {
		rc = PLAN_ENOMEM;
		goto done;
	}
	if ((rc = place_all(c, seq, used, out->num_stages, owner, first, err,
	    errlen)) != 0)
		goto done;
	rc = build_placed(c, seq, used, owner, first, nused, out, err, errlen);
done:
	if (rc == PLAN_ENOMEM)
		snprintf(err, errlen, "out of memory");
	free(used);
	free(owner);
	free(first);
	return rc;
}
