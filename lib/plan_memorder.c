/*
 * The memory order: which nodes are used and in which order, so that the
 * configured layer split gets the most KV cache tokens. Pinned nodes and
 * hinted nodes that keep their stages stay where they are; the other used
 * nodes ("candidates") fill the remaining stages.
 *
 * - At most PLAN_EXACT_NODES unpinned nodes: every subset and layout, by
 *   dynamic programming over subsets in plan_memexact.c. Exact for every
 *   partition, stage counts, pins and spares. Equal stage counts under
 *   the even or manual split take the slot assignment below instead,
 *   which is exact too.
 * - More nodes, every candidate with the same stage count: the slots are
 *   fixed stage ranges, and the search is over which candidate takes
 *   which slot. Under the even and manual split a node fits a slot at T
 *   tokens exactly when its budget reaches the slot's need, so giving the
 *   largest budgets to the neediest slots is optimal (binary search on
 *   T), for any cluster size. Under the memory split, a heuristic (see
 *   mo_heuristic).
 * - More nodes of unequal stage counts: a local search over whole node
 *   orders, each built by plan_build (see mo_generic).
 * plan_compute keeps the vllm order when it is at least as good, so no
 * heuristic result is worse than the vllm order.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_impl.h"

/* Results of mo_setup. */
#define MO_SLOTS	1	/* the slot model applies */
#define MO_GENERIC	0	/* use the local search over orders */
#define MO_VLLM		2	/* nothing to choose, or let vllm report */

/* Rounds of the heuristic's alternation and swap passes. */
#define MO_ROUNDS	8
#define MO_SWAP_PASSES	2
#define MO_SWAP_PROBES	4096
#define MO_SWAP_ALL	32	/* try every pair of slots up to this many */
/* Plans built by the local search over whole orders. */
#define MO_GENERIC_EVALS	64

struct mo_need {
	plan_i128	 need;
	size_t		 index;
};

static int
cmp_need(const void *a, const void *b)
{
	const struct mo_need *x = a, *y = b;

	if (x->need != y->need)
		return x->need > y->need ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int
cmp_budget(const void *a, const void *b, void *arg)
{
	const struct plan_ctx *c = arg;
	size_t	 x = *(const size_t *)a, y = *(const size_t *)b;

	if (c->budget[x] != c->budget[y])
		return c->budget[x] > c->budget[y] ? -1 : 1;
	return c->vrank[x] < c->vrank[y] ? -1 : 1;
}

/* Largest budget times stage count first, then vllm order. */
static int
cmp_node_budget(const void *a, const void *b, void *arg)
{
	const struct plan_ctx *c = arg;
	size_t	 x = *(const size_t *)a, y = *(const size_t *)b;
	plan_i128 bx = (plan_i128)c->budget[x] * c->count[x];
	plan_i128 by = (plan_i128)c->budget[y] * c->count[y];

	if (bx != by)
		return bx > by ? -1 : 1;
	return c->vrank[x] < c->vrank[y] ? -1 : 1;
}

static int
cmp_vrank(const void *a, const void *b, void *arg)
{
	const struct plan_ctx *c = arg;
	size_t	 x = *(const size_t *)a, y = *(const size_t *)b;

	return c->vrank[x] < c->vrank[y] ? -1 : c->vrank[x] > c->vrank[y];
}

static void
mo_free(struct plan_mo *mo)
{
	free(mo->cand);
	free(mo->top);
	free(mo->owner);
	free(mo->budget);
	free(mo->slot);
	free(mo->split);
	free(mo->used);
}

/* Sets the stage budgets of every slot from `order` (one node per slot). */
void
plan_mo_apply(struct plan_mo *mo, const size_t *order)
{
	size_t		 j;
	uint32_t	 s;

	for (j = 0; j < mo->nslots; j++)
		for (s = 0; s < mo->cnt; s++)
			mo->budget[mo->slot[j] + s] = mo->c->budget[order[j]];
}

/* Lays out the slots when every candidate has the same stage count. */
static int
mo_slots(struct plan_mo *mo)
{
	struct plan_ctx	*c = mo->c;
	char		 err[PPC_ERRLEN];
	uint32_t	 s, run;
	size_t		 i, j = 0;

	if (plan_place_fixed(c, mo->used, mo->stages, mo->owner, true, err,
	    sizeof(err)) != 0)
		return MO_VLLM;
	for (i = 0; i < c->n; i++)
		if (c->hint[i] >= 0 && !c->kept[i])
			return MO_GENERIC;

	/* First fit of equal-sized nodes fills the free ranges in order. */
	run = 0;
	for (s = 0; s < mo->stages && j < mo->nslots; s++) {
		run = mo->owner[s] < 0 ? run + 1 : 0;
		if (run == mo->cnt) {
			mo->slot[j++] = s + 1 - mo->cnt;
			run = 0;
		}
	}
	/* Kept hints can leave gaps too small for a node, and placement
	 * then drops the hints, which only the search over orders models. */
	if (j < mo->nslots)
		return MO_GENERIC;
	for (s = 0; s < mo->stages; s++)
		mo->budget[s] = mo->owner[s] >= 0 ?
		    c->budget[mo->owner[s]] : 0;
	return MO_SLOTS;
}

/* Decides which search applies and prepares the slot model. */
static int
mo_setup(struct plan_ctx *c, struct plan_mo *mo)
{
	uint32_t	 expected = c->cfg->expected_nodes;
	uint64_t	 stages = 0;
	size_t		 i, fixed = 0, want;

	memset(mo, 0, sizeof(*mo));
	mo->c = c;
	mo->cand = calloc(c->n, sizeof(*mo->cand));
	mo->top = calloc(c->n, sizeof(*mo->top));
	mo->used = calloc(c->n, sizeof(*mo->used));
	mo->slot = calloc(c->n, sizeof(*mo->slot));
	if (mo->cand == NULL || mo->top == NULL || mo->used == NULL ||
	    mo->slot == NULL)
		return PLAN_ENOMEM;

	for (i = 0; i < c->n; i++) {
		if (c->pin[i] >= 0 || c->hint[i] >= 0) {
			mo->used[i] = true;
			fixed++;
			stages += c->count[i];
		}
	}
	want = expected > 0 ? expected : c->n;
	if (fixed > want || want > c->n)
		return fixed > want && c->npinned <= want ? MO_GENERIC :
		    MO_VLLM;
	for (i = 0; i < c->n; i++) {
		if (!mo->used[i]) {
			mo->cand[mo->ncand++] = i;
			if (c->count[i] != c->count[mo->cand[0]])
				return MO_GENERIC;
		}
	}
	qsort_r(mo->cand, mo->ncand, sizeof(*mo->cand), cmp_vrank, c);
	memcpy(mo->top, mo->cand, mo->ncand * sizeof(*mo->top));
	qsort_r(mo->top, mo->ncand, sizeof(*mo->top), cmp_budget, c);

	mo->nslots = want - fixed;
	if (mo->nslots == 0)
		return MO_VLLM;
	mo->cnt = c->count[mo->cand[0]];
	stages += (uint64_t)mo->nslots * mo->cnt;
	if (stages > c->cfg->layers)
		return MO_VLLM;
	mo->stages = (uint32_t)stages;
	mo->owner = calloc(mo->stages, sizeof(*mo->owner));
	mo->budget = calloc(mo->stages, sizeof(*mo->budget));
	mo->split = calloc(mo->stages, sizeof(*mo->split));
	if (mo->owner == NULL || mo->budget == NULL || mo->split == NULL)
		return PLAN_ENOMEM;
	return mo_slots(mo);
}

/* The layer split of the even or manual policy, or -1 when invalid. */
static int
mo_fixed_split(struct plan_mo *mo)
{
	const struct plan_config *cfg = mo->c->cfg;
	uint64_t	 sum = 0;
	uint32_t	 s;

	if (cfg->partition == PLAN_PARTITION_EVEN) {
		plan_even_partition(cfg->layers, mo->stages, mo->split);
		return 0;
	}
	if (cfg->nlayer_partition != mo->stages)
		return -1;
	for (s = 0; s < mo->stages; s++) {
		if (cfg->layer_partition[s] == 0)
			return -1;
		mo->split[s] = cfg->layer_partition[s];
		sum += mo->split[s];
	}
	return sum == cfg->layers ? 0 : -1;
}

/* Weights per GPU of each stage under `split`. */
static void
mo_weights(const struct plan_mo *mo, const uint32_t *split, plan_i128 *w)
{
	const struct plan_mem *m = &mo->c->mem;
	uint32_t	 s, a = 0;
	plan_i128	 sum;

	for (s = 0; s < mo->stages; s++) {
		sum = (plan_i128)(m->prefix[a + split[s]] - m->prefix[a]);
		if (s == 0)
			sum += m->embedding;
		if (s == mo->stages - 1)
			sum += m->head;
		w[s] = (sum + m->tp - 1) / m->tp;
		a += split[s];
	}
}

/* Fills every slot's need in bytes per GPU at `tokens`, for sorting. */
static void
mo_needs(const struct plan_mo *mo, const uint32_t *split, const plan_i128 *w,
    plan_i128 tokens, struct mo_need *nd)
{
	const struct plan_mem *m = &mo->c->mem;
	plan_i128	 x;
	size_t		 j;
	uint32_t	 s, st;

	for (j = 0; j < mo->nslots; j++) {
		nd[j].index = j;
		nd[j].need = 0;
		for (s = 0; s < mo->cnt; s++) {
			st = mo->slot[j] + s;
			x = w[st] + (tokens * m->kv * split[st] + m->tp - 1) /
			    m->tp;
			if (x > nd[j].need)
				nd[j].need = x;
		}
	}
}

/* Whether the largest budgets cover the sorted needs at `tokens`. */
static bool
mo_assign_fits(const struct plan_mo *mo, const uint32_t *split,
    const plan_i128 *w, plan_i128 tokens, struct mo_need *nd)
{
	const struct plan_mem *m = &mo->c->mem;
	size_t		 j;
	uint32_t	 s;

	for (s = 0; s < mo->stages; s++) {
		if (mo->owner[s] >= 0 && w[s] + (tokens * m->kv * split[s] +
		    m->tp - 1) / m->tp > mo->budget[s])
			return false;
	}
	mo_needs(mo, split, w, tokens, nd);
	qsort(nd, mo->nslots, sizeof(*nd), cmp_need);
	for (j = 0; j < mo->nslots; j++)
		if (nd[j].need > mo->c->budget[mo->top[j]])
			return false;
	return true;
}

/*
 * For a fixed layer split, gives the largest budgets to the neediest
 * slots at the largest T where that fits. Returns 1 with the order and
 * tokens, 0 when not even T = 0 fits, or PLAN_ENOMEM.
 */
static int
mo_assign(struct plan_mo *mo, const uint32_t *split, size_t *order,
    plan_i128 *tokens)
{
	struct mo_need	*nd;
	plan_i128	*w, lo = 0, hi, mid;
	size_t		 j;
	int		 rc = 0;

	nd = calloc(mo->nslots, sizeof(*nd));
	w = calloc(mo->stages, sizeof(*w));
	if (nd == NULL || w == NULL) {
		rc = PLAN_ENOMEM;
		goto done;
	}
	mo_weights(mo, split, w);
	if (!mo_assign_fits(mo, split, w, 0, nd))
		goto done;
	hi = mo->c->budget[mo->top[0]] * (plan_i128)mo->c->tp /
	    mo->c->mem.kv + 1;
	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		if (mo_assign_fits(mo, split, w, mid, nd))
			lo = mid;
		else
			hi = mid - 1;
	}
	mo_needs(mo, split, w, lo, nd);
	qsort(nd, mo->nslots, sizeof(*nd), cmp_need);
	for (j = 0; j < mo->nslots; j++)
		order[nd[j].index] = mo->top[j];
	*tokens = lo;
	rc = 1;
done:
	free(nd);
	free(w);
	return rc;
}

/*
 * For a fixed layer split that no assignment fits, gives the largest
 * budgets to the slots with the largest weights, which minimizes the
 * largest shortfall. Returns 0 or PLAN_ENOMEM.
 */
static int
mo_assign_closest(struct plan_mo *mo, const uint32_t *split, size_t *order)
{
	struct mo_need	*nd;
	plan_i128	*w;
	size_t		 j;
	int		 rc = PLAN_ENOMEM;

	nd = calloc(mo->nslots, sizeof(*nd));
	w = calloc(mo->stages, sizeof(*w));
	if (nd != NULL && w != NULL) {
		mo_weights(mo, split, w);
		mo_needs(mo, split, w, 0, nd);
		qsort(nd, mo->nslots, sizeof(*nd), cmp_need);
		for (j = 0; j < mo->nslots; j++)
			order[nd[j].index] = mo->top[j];
		rc = 0;
	}
	free(nd);
	free(w);
	return rc;
}

/* The memory split's tokens for the slot order `order`, or -1. */
static plan_i128
mo_eval(struct plan_mo *mo, const size_t *order, plan_i128 lower)
{
	int64_t		 tokens;

	plan_mo_apply(mo, order);
	if (plan_mem_best(&mo->c->mem, mo->stages, mo->budget, lower,
	    mo->split, &tokens) != 1)
		return -1;
	return tokens;
}

/*
 * Swaps the nodes of slots a and b when that raises the tokens above
 * *best, tested with one feasibility probe at *best + 1.
 */
static bool
mo_try_swap(struct plan_mo *mo, size_t *order, size_t a, size_t b,
    plan_i128 *best, size_t *probes)
{
	size_t		 t;

	if (mo->c->budget[order[a]] == mo->c->budget[order[b]])
		return false;
	(*probes)++;
	t = order[a];
	order[a] = order[b];
	order[b] = t;
	plan_mo_apply(mo, order);
	if (plan_mem_reach(&mo->c->mem, mo->stages, mo->budget, *best + 1,
	    0)) {
		*best = mo_eval(mo, order, *best + 1);
		return true;
	}
	order[b] = order[a];
	order[a] = t;
	return false;
}

/*
 * The heuristic for many candidates under the memory split:
 * 1. Use the candidates with the largest budgets: a larger budget in the
 *    same slot never lowers any stage's tokens.
 * 2. Start from the better of those nodes in vllm order and in budget
 *    order, then alternate: the best split for the order, then the best
 *    order for that split (exact, as for the even split), while it helps.
 * 3. Swap neighbouring slots, and the first and last slot (which also
 *    hold the embedding and the LM head) with every other, while that
 *    raises the tokens, at most MO_SWAP_PROBES probes of O(stages) each.
 */
static int
mo_heuristic(struct plan_mo *mo, size_t *order)
{
	size_t		*alt, j, k, round, pass, probes = 0;
	size_t		 last = mo->nslots - 1;
	plan_i128	 best, x, y;
	bool		 better;

	if ((alt = calloc(mo->nslots, sizeof(*alt))) == NULL)
		return PLAN_ENOMEM;
	memcpy(order, mo->top, mo->nslots * sizeof(*order));
	memcpy(alt, mo->top, mo->nslots * sizeof(*alt));
	qsort_r(alt, mo->nslots, sizeof(*alt), cmp_vrank, mo->c);
	best = mo_eval(mo, order, 0);
	if ((x = mo_eval(mo, alt, 0)) > best) {
		memcpy(order, alt, mo->nslots * sizeof(*order));
		best = x;
	}
	/* Neither fits: alternate the split closest to fitting and the
	 * best assignment for it, which may fit. */
	for (round = 0; best < 0 && round < MO_ROUNDS; round++) {
		plan_mo_apply(mo, order);
		if (plan_mem_closest(&mo->c->mem, mo->stages, mo->budget, 0,
		    mo->split) != 0) {
			free(alt);
			return PLAN_ENOMEM;
		}
		if (mo_assign_closest(mo, mo->split, alt) != 0) {
			free(alt);
			return PLAN_ENOMEM;
		}
		memcpy(order, alt, mo->nslots * sizeof(*order));
		best = mo_eval(mo, order, 0);
	}
	if (best < 0)
		goto done;

	for (round = 0; round < MO_ROUNDS; round++) {
		mo_eval(mo, order, best);
		if (mo_assign(mo, mo->split, alt, &y) == 1 &&
		    (x = mo_eval(mo, alt, best)) > best) {
			memcpy(order, alt, mo->nslots * sizeof(*order));
			best = x;
			continue;
		}
		/* Try the split closest to best + 1 tokens instead. */
		plan_mo_apply(mo, order);
		if (plan_mem_closest(&mo->c->mem, mo->stages, mo->budget,
		    (uint64_t)best + 1, mo->split) != 0) {
			free(alt);
			return PLAN_ENOMEM;
		}
		if (mo_assign(mo, mo->split, alt, &y) != 1 ||
		    (x = mo_eval(mo, alt, best)) <= best)
			break;
		memcpy(order, alt, mo->nslots * sizeof(*order));
		best = x;
	}

	for (pass = 0; pass < MO_SWAP_PASSES; pass++) {
		better = false;
		for (j = 0; j < last && probes < MO_SWAP_PROBES; j++) {
			/* Every pair when few, else neighbours and ends. */
			for (k = j + 1; k <= last; k++)
				if (mo->nslots <= MO_SWAP_ALL || k == j + 1 ||
				    k == last || j == 0)
					better |= mo_try_swap(mo, order, j, k,
					    &best, &probes);
		}
		if (!better)
			break;
	}
done:
	free(alt);
	return 0;
}

/* Writes the slot order, then fixed nodes, then the rest in vllm order. */
static void
mo_sequence(const struct plan_mo *mo, const size_t *order, size_t *seq)
{
	struct plan_ctx	*c = mo->c;
	bool		*in = mo->used;
	size_t		 i, k = 0;

	for (i = 0; i < mo->nslots; i++) {
		seq[k++] = order[i];
		in[order[i]] = true;
	}
	for (i = 0; i < c->n; i++)
		if (in[c->vllm[i]] && (c->pin[c->vllm[i]] >= 0 ||
		    c->hint[c->vllm[i]] >= 0))
			seq[k++] = c->vllm[i];
	for (i = 0; i < c->n; i++)
		if (!in[c->vllm[i]])
			seq[k++] = c->vllm[i];
}

/* Builds the plan for seq and returns its tokens, or INT64_MIN. */
static int64_t
mo_try(struct plan_ctx *c, const size_t *seq)
{
	struct plan	 p;
	char		 err[PPC_ERRLEN];
	int64_t		 kv = INT64_MIN;

	plan_init(&p);
	if (plan_build(c, seq, &p, err, sizeof(err)) == 0)
		kv = p.kv_tokens;
	plan_free(&p);
	return kv;
}

/*
 * The local search over whole orders, for nodes of unequal stage counts:
 * the vllm order, the order by budget per GPU, the order by budget times
 * stage count, then swaps of neighbours while they raise the tokens, at
 * most MO_GENERIC_EVALS plans in all.
 */
static int
mo_generic(struct plan_ctx *c, size_t *seq)
{
	size_t		*alt, t, j, evals = 2;
	int64_t		 best, x;
	bool		 better = true;

	if ((alt = calloc(c->n, sizeof(*alt))) == NULL)
		return PLAN_ENOMEM;
	memcpy(seq, c->vllm, c->n * sizeof(*seq));
	memcpy(alt, c->vllm, c->n * sizeof(*alt));
	qsort_r(alt, c->n, sizeof(*alt), cmp_budget, c);
	best = mo_try(c, seq);
	if ((x = mo_try(c, alt)) > best) {
		memcpy(seq, alt, c->n * sizeof(*seq));
		best = x;
	}
	/* A node of many stages with smaller GPUs can hold more. */
	qsort_r(alt, c->n, sizeof(*alt), cmp_node_budget, c);
	evals++;
	if ((x = mo_try(c, alt)) > best) {
		memcpy(seq, alt, c->n * sizeof(*seq));
		best = x;
	}
	while (better && evals < MO_GENERIC_EVALS) {
		better = false;
		for (j = 0; j + 1 < c->n && evals < MO_GENERIC_EVALS; j++) {
			t = seq[j];
			seq[j] = seq[j + 1];
			seq[j + 1] = t;
			evals++;
			if ((x = mo_try(c, seq)) > best) {
				best = x;
				better = true;
			} else {
				seq[j + 1] = seq[j];
				seq[j] = t;
			}
		}
	}
	free(alt);
	return 0;
}

/* Writes each node's memory-order reason. */
static void
mo_reasons(struct plan_ctx *c)
{
	char	 a[32], b[32];
	size_t	 i;

	for (i = 0; i < c->n; i++)
		snprintf(c->why[i], sizeof(c->why[0]), "memory order: GPUs of "
		    "%s, budget %s per GPU, placed for the largest KV cache",
		    util_format_size(c->minmem[i], a, sizeof(a)),
		    util_format_size(c->budget[i] > 0 ?
		    (uint64_t)c->budget[i] : 0, b, sizeof(b)));
}

/*
 * Writes the memory order into seq (every inventory index once). Returns
 * 0 or PLAN_ENOMEM; plan_compute compares the result with the vllm order.
 */
int
plan_memory_order(struct plan_ctx *c, size_t *seq)
{
	struct plan_mo	 mo;
	size_t		*order = NULL;
	plan_i128	 tokens;
	int		 rc, lrc;

	mo_reasons(c);
	memcpy(seq, c->vllm, c->n * sizeof(*seq));
	if ((rc = mo_setup(c, &mo)) < 0) {
		mo_free(&mo);
		return rc;
	}
	if (rc != MO_SLOTS || c->cfg->partition == PLAN_PARTITION_MEMORY) {
		lrc = plan_mo_layout(c, seq);
		if (lrc == 1 || (lrc < 0 && lrc != PLAN_MO_TOO_LARGE)) {
			mo_free(&mo);
			return lrc < 0 ? lrc : 0;
		}
		/* Too many nodes, or no layout at all: the heuristics. */
	}
	if (rc == MO_GENERIC) {
		mo_free(&mo);
		return mo_generic(c, seq);
	}
	if (rc != MO_SLOTS) {
		mo_free(&mo);
		return rc == MO_VLLM ? 0 : rc;
	}

	if ((order = calloc(mo.nslots, sizeof(*order))) == NULL) {
		mo_free(&mo);
		return PLAN_ENOMEM;
	}
	if (c->cfg->partition != PLAN_PARTITION_MEMORY)
		rc = mo_fixed_split(&mo) == 0 ?
		    mo_assign(&mo, mo.split, order, &tokens) : 0;
	else
		rc = mo_heuristic(&mo, order) == 0 ? 1 : PLAN_ENOMEM;
	if (rc == 1)
		mo_sequence(&mo, order, seq);
	free(order);
	mo_free(&mo);
	return rc < 0 ? rc : 0;
}
