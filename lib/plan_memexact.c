/*
 * The exact memory order for up to PLAN_EXACT_NODES unpinned nodes: a
 * search over layouts. Pinned nodes, and hinted nodes that keep their
 * stages, are fixed. Every other used node (a "candidate") takes the next
 * free stages in layout order, and it fits there only when those stages
 * are consecutive, not split by a fixed stage. The candidates of a subset
 * fill the first (sum of their stage counts) free stages in whatever order
 * they come, so dynamic programming over subsets covers every layout:
 * - even and manual split: best[m] is the largest minimum of kv_tokens
 *   over the stages of subset m, maximized over the node placed last.
 * - memory split: for T tokens, the layer boundaries reachable after
 *   subset m, as sorted interval lists (plan_mem_step), and a binary
 *   search on T.
 * Each total stage count S that a subset of the required size can give is
 * searched on its own, because S moves the pins' range, the even split
 * and the last stage, which has the LM head.
 */
#include <stdlib.h>
#include <string.h>

#include "plan_impl.h"

/*
 * Intervals that the memory-split search may keep over all subsets at
 * once. A layer too heavy for some nodes splits the reachable boundaries
 * into several intervals; past this many the heuristic runs instead.
 */
#define LAY_INTERVALS_MAX	(1u << 22)

/* No layout: below any kv_tokens of a stage. */
#define LAY_NONE		(-((plan_i128)1 << 120))

/* A reachable-boundary list owned by one subset of candidates. */
struct lay_list {
	struct plan_ivl	*v;
	size_t		 n;
};

/* The layout search for one node set. Masks are over pool. */
struct lay {
	struct plan_ctx	*c;
	size_t		 pool[PLAN_EXACT_NODES];	/* unpinned nodes */
	size_t		 npool;
	size_t		 hinted;	/* pool bits of hinted nodes */
	size_t		 others;	/* pool bits of the other nodes */
	size_t		 nothers;	/* of them, how many the plan uses */
	uint32_t	 fixed_stages;	/* stages of pinned and hinted nodes */
	bool		*used;		/* pinned and hinted nodes */
	uint32_t	*sum;		/* stage count of each mask */
	bool		 use_hints;

	/* The current stage count S, set by lay_stages. */
	uint32_t	 S;
	int64_t		*owner;		/* fixed node per stage, or -1 */
	uint32_t	*freepos;	/* the free stages, ascending */
	uint32_t	 nfree;
	size_t		 open;		/* mask bits the search places */
	size_t		 forced;	/* hinted nodes that lost their stages */
	size_t		 pick;		/* size of a full mask */
	int64_t		*budget;	/* per stage */
	uint32_t	*split;		/* even or manual split */
	plan_i128	*w;		/* weights per GPU per stage */

	/* Scratch. */
	struct lay_list	*r;
	plan_i128	*best;
	uint8_t		*last;
	struct plan_ivl	*a, *b, *u;
	size_t		 seqv[PLAN_EXACT_NODES];	/* the layout, pool bits */
	size_t		 nseq;
};

static int
lay_popcount(size_t m)
{
	return __builtin_popcountll((unsigned long long)m);
}

static void
lay_free(struct lay *l)
{
	size_t	 m;

	if (l->r != NULL)
		for (m = 0; m < ((size_t)1 << l->npool); m++)
			free(l->r[m].v);
	free(l->r);
	free(l->best);
	free(l->last);
	free(l->used);
	free(l->sum);
	free(l->owner);
	free(l->freepos);
	free(l->budget);
	free(l->split);
	free(l->w);
	free(l->a);
	free(l->b);
	free(l->u);
}

/*
 * Collects the pool and allocates. Returns 1 when the search applies, 0
 * when it does not (more pinned and hinted nodes than the plan uses),
 * PLAN_MO_TOO_LARGE or PLAN_ENOMEM.
 */
static int
lay_init(struct lay *l, struct plan_ctx *c)
{
	uint32_t	 want, maxs = 0;
	size_t		 i, m, nmask, nfixed = 0;

	memset(l, 0, sizeof(*l));
	l->c = c;
	want = c->cfg->expected_nodes > 0 ? c->cfg->expected_nodes :
	    (uint32_t)c->n;
	if (want > c->n)
		return 0;
	if ((l->used = calloc(c->n, sizeof(*l->used))) == NULL)
		return PLAN_ENOMEM;
	for (i = 0; i < c->n; i++) {
		maxs += c->count[i];
		if (c->pin[i] >= 0 || c->hint[i] >= 0) {
			l->used[i] = true;
			l->fixed_stages += c->count[i];
			nfixed++;
		}
	}
	if (nfixed > want)
		return 0;
	if (c->n - c->npinned > PLAN_EXACT_NODES)
		return PLAN_MO_TOO_LARGE;
	for (i = 0; i < c->n; i++) {
		size_t v = c->vllm[i];

		if (c->pin[v] >= 0)
			continue;
		if (c->hint[v] >= 0)
			l->hinted |= (size_t)1 << l->npool;
		else
			l->others |= (size_t)1 << l->npool;
		l->pool[l->npool++] = v;
	}
	l->nothers = want - nfixed;

	nmask = (size_t)1 << l->npool;
	l->sum = calloc(nmask, sizeof(*l->sum));
	l->r = calloc(nmask, sizeof(*l->r));
	l->best = calloc(nmask, sizeof(*l->best));
	l->last = calloc(nmask, sizeof(*l->last));
	l->owner = calloc(maxs, sizeof(*l->owner));
	l->freepos = calloc(maxs, sizeof(*l->freepos));
	l->budget = calloc(maxs, sizeof(*l->budget));
	l->split = calloc(maxs, sizeof(*l->split));
	l->w = calloc(maxs, sizeof(*l->w));
	l->a = calloc((size_t)c->cfg->layers + 2, sizeof(*l->a));
	l->b = calloc((size_t)c->cfg->layers + 2, sizeof(*l->b));
	l->u = calloc((size_t)c->cfg->layers + 2, sizeof(*l->u));
	if (l->sum == NULL || l->r == NULL || l->best == NULL ||
	    l->last == NULL || l->owner == NULL || l->freepos == NULL ||
	    l->budget == NULL || l->split == NULL || l->w == NULL ||
	    l->a == NULL || l->b == NULL || l->u == NULL)
		return PLAN_ENOMEM;
	for (m = 1; m < nmask; m++) {
		i = (size_t)__builtin_ctzll((unsigned long long)m);
		l->sum[m] = l->sum[m & (m - 1)] + c->count[l->pool[i]];
	}
	return 1;
}

/*
 * Sets up stage count S: fixed stages, free stages, the layer split for
 * even and manual, and the stage weights. Returns false when S cannot be
 * laid out (a pin past the end, a manual split of another length).
 */
static bool
lay_stages(struct lay *l, uint32_t S)
{
	struct plan_ctx	*c = l->c;
	const struct plan_config *cfg = c->cfg;
	const struct plan_mem *mem = &c->mem;
	char		 err[PPC_ERRLEN];
	uint32_t	 s, first = 0;
	plan_i128	 sum;
	size_t		 j;

	if (S == 0 || S > cfg->layers)
		return false;
	l->S = S;
	if (plan_place_fixed(c, l->used, S, l->owner, l->use_hints, err,
	    sizeof(err)) != 0)
		return false;
	l->nfree = 0;
	for (s = 0; s < S; s++) {
		if (l->owner[s] < 0)
			l->freepos[l->nfree++] = s;
		else
			l->budget[s] = c->budget[l->owner[s]];
	}
	l->open = l->others;
	l->forced = 0;
	for (j = 0; j < l->npool; j++) {
		if (!(l->hinted & ((size_t)1 << j)))
			continue;
		if (!c->kept[l->pool[j]]) {
			l->open |= (size_t)1 << j;
			l->forced |= (size_t)1 << j;
		}
	}
	l->pick = l->nothers + (size_t)lay_popcount(l->forced);

	if (cfg->partition == PLAN_PARTITION_MEMORY)
		return true;
	if (cfg->partition == PLAN_PARTITION_EVEN)
		plan_even_partition(cfg->layers, S, l->split);
	else {
		if (cfg->nlayer_partition != S)
			return false;
		for (s = 0; s < S; s++) {
			if (cfg->layer_partition[s] == 0)
				return false;
			l->split[s] = cfg->layer_partition[s];
			first += l->split[s];
		}
		if (first != cfg->layers)
			return false;
		first = 0;
	}
	for (s = 0; s < S; s++) {
		sum = (plan_i128)(mem->prefix[first + l->split[s]] -
		    mem->prefix[first]);
		if (s == 0)
			sum += mem->embedding;
		if (s == S - 1)
			sum += mem->head;
		l->w[s] = (sum + mem->tp - 1) / mem->tp;
		first += l->split[s];
	}
	return true;
}

/* Whether mask m is a state of the search. */
static bool
lay_state(const struct lay *l, size_t m)
{
	return (m & ~l->open) == 0 && (size_t)lay_popcount(m) <= l->pick &&
	    l->sum[m] <= l->nfree;
}

/* Whether mask m is a complete layout. */
static bool
lay_full(const struct lay *l, size_t m)
{
	return lay_state(l, m) && (size_t)lay_popcount(m) == l->pick &&
	    l->sum[m] == l->nfree && (m & l->forced) == l->forced;
}

/* Whether pool node j fits after subset p: consecutive free stages. */
static bool
lay_fits(const struct lay *l, size_t p, size_t j)
{
	uint32_t	 f = l->sum[p], k = l->c->count[l->pool[j]];

	return f + k <= l->nfree && l->freepos[f + k - 1] - l->freepos[f] ==
	    k - 1;
}

/* kv_tokens of stage s with `budget`, under the even or manual split. */
static plan_i128
lay_stage_tokens(const struct lay *l, uint32_t s, int64_t budget)
{
	const struct plan_mem *mem = &l->c->mem;

	return plan_div_floor(((plan_i128)budget - l->w[s]) * mem->tp,
	    (plan_i128)mem->kv * l->split[s]);
}

/* The minimum kv_tokens of pool node j placed after subset p. */
static plan_i128
lay_node_tokens(const struct lay *l, size_t p, size_t j, bool structural)
{
	int64_t		 budget = l->c->budget[l->pool[j]];
	uint32_t	 f = l->sum[p], k, s;
	plan_i128	 t, min = -LAY_NONE;

	if (structural)
		return 0;
	for (k = 0; k < l->c->count[l->pool[j]]; k++) {
		s = l->freepos[f + k];
		if ((t = lay_stage_tokens(l, s, budget)) < min)
			min = t;
	}
	return min;
}

/*
 * The bottleneck search for the even or manual split (or, structural,
 * any layout at all): best[m] and last[m] for every state. Returns the
 * best value over full masks, with the mask in *full, or LAY_NONE.
 */
static plan_i128
lay_fixed_run(struct lay *l, bool structural, size_t *full)
{
	size_t		 nmask = (size_t)1 << l->npool, m, j, p;
	plan_i128	 v, t, fixed = -LAY_NONE, top = LAY_NONE;
	uint32_t	 s;

	if (!structural)
		for (s = 0; s < l->S; s++)
			if (l->owner[s] >= 0 && (t = lay_stage_tokens(l, s,
			    l->budget[s])) < fixed)
				fixed = t;
	l->best[0] = fixed;
	if (lay_full(l, 0)) {
		top = fixed;
		*full = 0;
	}
	for (m = 1; m < nmask; m++) {
		l->best[m] = LAY_NONE;
		if (!lay_state(l, m))
			continue;
		for (j = 0; j < l->npool; j++) {
			p = m & ~((size_t)1 << j);
			if (p == m || l->best[p] == LAY_NONE ||
			    !lay_fits(l, p, j))
				continue;
			t = lay_node_tokens(l, p, j, structural);
			v = t < l->best[p] ? t : l->best[p];
			if (v > l->best[m]) {
				l->best[m] = v;
				l->last[m] = (uint8_t)j;
			}
		}
		if (l->best[m] > top && lay_full(l, m)) {
			top = l->best[m];
			*full = m;
		}
	}
	return top;
}

/* Writes the layout of mask `full` from last[] into seqv. */
static void
lay_fixed_walk(struct lay *l, size_t full)
{
	size_t	 m = full, k = (size_t)lay_popcount(full);

	l->nseq = k;
	while (m != 0) {
		l->seqv[--k] = l->last[m];
		m &= ~((size_t)1 << l->last[m]);
	}
}

/* Runs stages [from, to) over l->a (n intervals) and returns the count. */
static size_t
lay_steps(struct lay *l, size_t n, uint32_t from, uint32_t to,
    plan_i128 tokens)
{
	struct plan_ivl	*t;
	uint32_t	 s;

	for (s = from; s < to && n > 0; s++) {
		n = plan_mem_step(&l->c->mem, l->S, s, l->budget[s], tokens, 0,
		    l->a, n, l->b);
		t = l->a;
		l->a = l->b;
		l->b = t;
	}
	return n;
}

/* Free stage f (counting from 0), or S when there are only f. */
static uint32_t
lay_next_free(const struct lay *l, uint32_t f)
{
	return f < l->nfree ? l->freepos[f] : l->S;
}

/* Places pool node j after subset p: its stages, then the fixed ones. */
static size_t
lay_place(struct lay *l, size_t n, size_t p, size_t j, plan_i128 tokens)
{
	uint32_t	 f = l->sum[p], k = l->c->count[l->pool[j]], s;

	for (s = 0; s < k; s++)
		l->budget[l->freepos[f] + s] = l->c->budget[l->pool[j]];
	return lay_steps(l, n, l->freepos[f], lay_next_free(l, f + k),
	    tokens);
}

/* Merges sorted lists x and y into out; returns its length. */
static size_t
lay_union(const struct plan_ivl *x, size_t nx, const struct plan_ivl *y,
    size_t ny, struct plan_ivl *out)
{
	size_t		 i = 0, j = 0, n = 0;
	struct plan_ivl	 v;

	while (i < nx || j < ny) {
		if (j >= ny || (i < nx && x[i].lo <= y[j].lo))
			v = x[i++];
		else
			v = y[j++];
		if (n > 0 && v.lo <= out[n - 1].hi + 1) {
			if (v.hi > out[n - 1].hi)
				out[n - 1].hi = v.hi;
		} else
			out[n++] = v;
	}
	return n;
}

static int
lay_keep(struct lay_list *r, const struct plan_ivl *v, size_t n)
{
	r->n = n;
	r->v = NULL;
	if (n == 0)
		return 0;
	if ((r->v = malloc(n * sizeof(*v))) == NULL)
		return PLAN_ENOMEM;
	memcpy(r->v, v, n * sizeof(*v));
	return 0;
}

static void
lay_lists_free(struct lay *l)
{
	size_t	 m;

	for (m = 0; m < ((size_t)1 << l->npool); m++) {
		free(l->r[m].v);
		l->r[m].v = NULL;
		l->r[m].n = 0;
	}
}

/*
 * Fills r[m] for every state at `tokens` under the memory split. Returns
 * 1 when a full mask reaches the last layer (its mask in *full), 0 when
 * none does, PLAN_MO_TOO_LARGE or PLAN_ENOMEM. The caller frees the lists.
 */
static int
lay_mem_run(struct lay *l, plan_i128 tokens, size_t *full)
{
	size_t		 nmask = (size_t)1 << l->npool, m, j, p, n, nu, total;
	size_t		 tmp;
	uint32_t	 L = l->c->mem.layers;

	l->a[0].lo = l->a[0].hi = 0;
	n = lay_steps(l, 1, 0, lay_next_free(l, 0), tokens);
	if (lay_keep(&l->r[0], l->a, n) != 0)
		return PLAN_ENOMEM;
	total = n;
	if (lay_full(l, 0) && n > 0 && l->r[0].v[n - 1].hi == L) {
		*full = 0;
		return 1;
	}
	for (m = 1; m < nmask; m++) {
		if (!lay_state(l, m))
			continue;
		nu = 0;
		for (j = 0; j < l->npool; j++) {
			p = m & ~((size_t)1 << j);
			if (p == m || l->r[p].n == 0 || !lay_fits(l, p, j))
				continue;
			memcpy(l->a, l->r[p].v, l->r[p].n * sizeof(*l->a));
			n = lay_place(l, l->r[p].n, p, j, tokens);
			tmp = lay_union(l->u, nu, l->a, n, l->b);
			memcpy(l->u, l->b, tmp * sizeof(*l->u));
			nu = tmp;
		}
		if (lay_keep(&l->r[m], l->u, nu) != 0)
			return PLAN_ENOMEM;
		if ((total += nu) > LAY_INTERVALS_MAX)
			return PLAN_MO_TOO_LARGE;
		if (nu > 0 && l->u[nu - 1].hi == L && lay_full(l, m)) {
			*full = m;
			return 1;
		}
	}
	return 0;
}

/* Whether from r[p], pool nodes seqv[k..] placed in turn reach the end. */
static bool
lay_tail_reaches(struct lay *l, size_t p, size_t k, plan_i128 tokens)
{
	size_t	 n = l->r[p].n;

	if (n == 0)
		return false;
	memcpy(l->a, l->r[p].v, n * sizeof(*l->a));
	for (; k < l->nseq && n > 0; k++) {
		if (!lay_fits(l, p, l->seqv[k]))
			return false;
		n = lay_place(l, n, p, l->seqv[k], tokens);
		p |= (size_t)1 << l->seqv[k];
	}
	return n > 0 && l->a[n - 1].hi == l->c->mem.layers;
}

/* Recovers the layout of `full` at `tokens` from the lists. */
static void
lay_mem_walk(struct lay *l, size_t full, plan_i128 tokens)
{
	size_t	 m = full, k, j, p;

	l->nseq = (size_t)lay_popcount(full);
	for (k = l->nseq; k-- > 0;) {
		for (j = 0; j < l->npool; j++) {
			p = m & ~((size_t)1 << j);
			if (p == m || !lay_fits(l, p, j))
				continue;
			l->seqv[k] = j;
			if (lay_tail_reaches(l, p, k, tokens))
				break;
		}
		m &= ~((size_t)1 << l->seqv[k]);
	}
}

/*
 * An upper bound on the memory split's tokens at S: the free stages get
 * the budgets of the open nodes, largest first, each node as many times
 * as it has stages. No layout has a larger k-th largest stage budget.
 */
static plan_i128
lay_mem_bound(struct lay *l)
{
	int64_t		 top;
	size_t		 j, pick, taken = 0;
	uint32_t	 f = 0, k;

	while (f < l->nfree) {
		top = INT64_MIN;
		pick = SIZE_MAX;
		for (j = 0; j < l->npool; j++)
			if ((l->open & ~taken & ((size_t)1 << j)) &&
			    l->c->budget[l->pool[j]] > top) {
				top = l->c->budget[l->pool[j]];
				pick = j;
			}
		if (pick == SIZE_MAX)
			break;
		taken |= (size_t)1 << pick;
		for (k = 0; k < l->c->count[l->pool[pick]] && f < l->nfree;
		    k++)
			l->budget[l->freepos[f++]] = top;
	}
	return plan_mem_tokens_max(&l->c->mem, l->S, l->budget);
}

/*
 * The stage counts that the plan can have: the fixed stages plus those
 * of every choice of nothers other nodes, in ascending order.
 */
static size_t
lay_totals(const struct lay *l, uint32_t *out, size_t max)
{
	size_t		 m, n = 0, i, nmask = (size_t)1 << l->npool;
	uint32_t	 S;

	for (m = 0; m < nmask; m++) {
		if ((m & ~l->others) != 0 ||
		    (size_t)lay_popcount(m) != l->nothers)
			continue;
		S = l->fixed_stages + l->sum[m];
		for (i = 0; i < n && out[i] != S; i++)
			;
		if (i == n && n < max)
			out[n++] = S;
	}
	for (i = 1; i < n; i++)
		for (m = i; m > 0 && out[m - 1] > out[m]; m--) {
			S = out[m];
			out[m] = out[m - 1];
			out[m - 1] = S;
		}
	return n;
}

/* Finds any layout at all; sets S and seqv. Returns whether one exists. */
static bool
lay_any(struct lay *l, const uint32_t *tot, size_t ntot)
{
	size_t	 i, full = 0;

	for (i = 0; i < ntot; i++) {
		if (!lay_stages(l, tot[i]))
			continue;
		if (lay_fixed_run(l, true, &full) != LAY_NONE) {
			lay_fixed_walk(l, full);
			return true;
		}
	}
	return false;
}

/* The even or manual split: the best layout over every S. */
static int
lay_fixed_search(struct lay *l, const uint32_t *tot, size_t ntot)
{
	plan_i128	 v, best = LAY_NONE;
	uint32_t	 bestS = 0;
	size_t		 i, full = 0;

	for (i = 0; i < ntot; i++) {
		if (!lay_stages(l, tot[i]))
			continue;
		if ((v = lay_fixed_run(l, false, &full)) > best) {
			best = v;
			bestS = tot[i];
		}
	}
	if (best == LAY_NONE)
		return 0;
	lay_stages(l, bestS);
	lay_fixed_run(l, false, &full);
	lay_fixed_walk(l, full);
	return 1;
}

/* One run of the memory search at S and tokens; frees the lists. */
static int
lay_mem_probe(struct lay *l, plan_i128 tokens)
{
	size_t	 full;
	int	 rc;

	rc = lay_mem_run(l, tokens, &full);
	lay_lists_free(l);
	return rc;
}

/* A stage count with the upper bound of its tokens. */
struct lay_total {
	uint32_t	 S;
	plan_i128	 bound;
};

static int
lay_cmp_bound(const void *a, const void *b)
{
	const struct lay_total *x = a, *y = b;

	if (x->bound != y->bound)
		return x->bound > y->bound ? -1 : 1;
	return x->S < y->S ? -1 : x->S > y->S;
}

/*
 * The memory split: for each S, largest upper bound first, raise the best
 * T found so far while some layout reaches it. Returns 1 with the layout,
 * 0 when no layout holds T = 0 (the caller then takes any layout), or an
 * error.
 */
static int
lay_mem_search(struct lay *l, const uint32_t *tot, size_t ntot)
{
	struct lay_total *order;
	plan_i128	 best = -1, lo, hi, mid;
	uint32_t	 bestS = 0;
	size_t		 i, n = 0, full = 0;
	int		 rc = 0;

	if ((order = calloc(ntot > 0 ? ntot : 1, sizeof(*order))) == NULL)
		return PLAN_ENOMEM;
	for (i = 0; i < ntot; i++) {
		if (!lay_stages(l, tot[i]))
			continue;
		order[n].S = tot[i];
		order[n++].bound = lay_mem_bound(l);
	}
	qsort(order, n, sizeof(*order), lay_cmp_bound);

	for (i = 0; i < n && order[i].bound > best; i++) {
		lay_stages(l, order[i].S);
		if ((rc = lay_mem_probe(l, best + 1)) < 0)
			goto done;
		if (rc == 0)
			continue;
		lo = best + 1;
		hi = order[i].bound;
		while (lo < hi) {
			mid = lo + (hi - lo + 1) / 2;
			if ((rc = lay_mem_probe(l, mid)) < 0)
				goto done;
			if (rc)
				lo = mid;
			else
				hi = mid - 1;
		}
		best = lo;
		bestS = order[i].S;
	}
	rc = 0;
	if (best < 0)
		goto done;
	lay_stages(l, bestS);
	if ((rc = lay_mem_run(l, best, &full)) == 1)
		lay_mem_walk(l, full, best);
	lay_lists_free(l);
	if (rc == 0)
		rc = PLAN_ENOMEM;
done:
	free(order);
	return rc;
}

/* Writes the layout, then the fixed nodes, then the rest in vllm order. */
static int
lay_sequence(const struct lay *l, size_t *seq)
{
	struct plan_ctx	*c = l->c;
	bool		*done;
	size_t		 i, v, k = 0;

	if ((done = calloc(c->n, sizeof(*done))) == NULL)
		return PLAN_ENOMEM;
	for (i = 0; i < l->nseq; i++) {
		v = l->pool[l->seqv[i]];
		seq[k++] = v;
		done[v] = true;
	}
	for (i = 0; i < c->n; i++) {
		v = c->vllm[i];
		if (!done[v] && l->used[v]) {
			seq[k++] = v;
			done[v] = true;
		}
	}
	for (i = 0; i < c->n; i++)
		if (!done[c->vllm[i]])
			seq[k++] = c->vllm[i];
	free(done);
	return 1;
}

/*
 * Writes into seq the node order of the layout with the most KV cache
 * tokens, in the order plan_build places nodes: the layout's candidates
 * by first stage, then pinned and hinted nodes, then spares. Kept hints
 * are honoured when any layout keeps them, as plan_build does. Returns
 * 1, 0 when the search does not apply or finds no layout at all,
 * PLAN_MO_TOO_LARGE past PLAN_EXACT_NODES unpinned nodes, or PLAN_ENOMEM.
 */
int
plan_mo_layout(struct plan_ctx *c, size_t *seq)
{
	struct lay	 l;
	uint32_t	 tot[(size_t)1 << PLAN_EXACT_NODES];
	size_t		 ntot;
	int		 rc;

	if ((rc = lay_init(&l, c)) != 1)
		goto done;
	ntot = lay_totals(&l, tot, sizeof(tot) / sizeof(tot[0]));
	l.use_hints = true;
	if (!lay_any(&l, tot, ntot)) {
		l.use_hints = false;
		if (!lay_any(&l, tot, ntot)) {
			rc = 0;
			goto done;
		}
	}

	if (c->cfg->partition == PLAN_PARTITION_MEMORY) {
		rc = lay_mem_search(&l, tot, ntot);
		if (rc == 0) {
			/* No layout holds the weights: report one of them. */
			lay_any(&l, tot, ntot);
			rc = 1;
		}
	} else if ((rc = lay_fixed_search(&l, tot, ntot)) == 0)
		rc = lay_any(&l, tot, ntot) ? 1 : 0;
	if (rc != 1)
		goto done;
	rc = lay_sequence(&l, seq);
done:
	lay_free(&l);
	return rc;
}
