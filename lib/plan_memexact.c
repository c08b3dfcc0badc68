/*
 * The exact memory order for few candidates under the memory split:
 * dynamic programming over subsets of candidates. For each subset it keeps
 * the layer boundaries reachable after the subset fills the first slots
 * in some order (with the fixed stages in between), as sorted interval
 * lists. A subset's list is the union, over its node placed last, of the
 * smaller subset's list extended by that node.
 * A binary search on the tokens T finds the largest T at which some full
 * subset reaches the last layer, and a walk back recovers the order.
 */
#include <stdlib.h>
#include <string.h>

#include "plan_impl.h"

/*
 * Intervals that the exact search may keep over all subsets at once. A
 * layer too heavy for some nodes splits the reachable boundaries into
 * several intervals; past this many the heuristic runs instead.
 */
#define MO_DP_INTERVALS_MAX	(1u << 22)

/* A reachable-boundary list owned by one subset of candidates. */
struct mo_list {
	struct plan_ivl	*v;
	size_t		 n;
};

/* Scratch for running stages over interval lists. */
struct mo_run {
	struct plan_ivl	*a;
	struct plan_ivl	*b;
	struct plan_ivl	*u;
};

/* Runs stages [from, to) over `in` into run->a and returns its length. */
static size_t
mo_stages(struct plan_mo *mo, struct mo_run *run, const struct plan_ivl *in,
    size_t n, uint32_t from, uint32_t to, plan_i128 tokens)
{
	struct plan_ivl	*t;
	uint32_t	 s;

	if (in != run->a)
		memcpy(run->a, in, n * sizeof(*in));
	for (s = from; s < to && n > 0; s++) {
		n = plan_mem_step(&mo->c->mem, mo->stages, s, mo->budget[s],
		    tokens, 0, run->a, n, run->b);
		t = run->a;
		run->a = run->b;
		run->b = t;
	}
	return n;
}

/* Merges sorted lists x and y into out; returns its length. */
static size_t
mo_union(const struct plan_ivl *x, size_t nx, const struct plan_ivl *y,
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

/* The end of the fixed stages that follow slot j (or start the plan). */
static uint32_t
mo_seg_end(const struct plan_mo *mo, size_t j)
{
	return j < mo->nslots ? mo->slot[j] : mo->stages;
}

/* Stores run->a (n entries) as a new list. */
static int
mo_keep(struct mo_list *l, const struct plan_ivl *v, size_t n)
{
	l->n = n;
	if (n == 0)
		return 0;
	if ((l->v = malloc(n * sizeof(*v))) == NULL)
		return PLAN_ENOMEM;
	memcpy(l->v, v, n * sizeof(*v));
	return 0;
}

static void
mo_lists_free(struct mo_list *r, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(r[i].v);
		r[i].v = NULL;
		r[i].n = 0;
	}
}

/*
 * Fills r[mask] for every subset of at most nslots candidates: the layer
 * boundaries reachable after the subset fills the first slots in some
 * order, including the fixed stages that follow. Returns 1 when a full
 * subset reaches the last layer (its mask in *full), 0 when none does.
 */
static int
mo_dp_run(struct plan_mo *mo, struct mo_run *run, struct mo_list *r,
    plan_i128 tokens, size_t *full)
{
	size_t		 mask, nmask = (size_t)1 << mo->ncand, j, v, n, nu;
	size_t		 total;
	struct plan_ivl	 start = { 0, 0 };
	int		 found = 0;

	n = mo_stages(mo, run, &start, 1, 0, mo_seg_end(mo, 0), tokens);
	if (mo_keep(&r[0], run->a, n) != 0)
		return PLAN_ENOMEM;
	total = n;
	for (mask = 1; mask < nmask; mask++) {
		j = (size_t)__builtin_popcountll(mask);
		if (j > mo->nslots)
			continue;
		nu = 0;
		for (v = 0; v < mo->ncand; v++) {
			const struct mo_list *p = &r[mask & ~((size_t)1 << v)];

			if (!(mask & ((size_t)1 << v)) || p->n == 0)
				continue;
			for (n = 0; n < mo->cnt; n++)
				mo->budget[mo->slot[j - 1] + n] =
				    mo->c->budget[mo->cand[v]];
			n = mo_stages(mo, run, p->v, p->n, mo->slot[j - 1],
			    mo->slot[j - 1] + mo->cnt, tokens);
			nu = mo_union(run->u, nu, run->a, n, run->b);
			memcpy(run->u, run->b, nu * sizeof(*run->u));
		}
		n = mo_stages(mo, run, run->u, nu, mo->slot[j - 1] + mo->cnt,
		    mo_seg_end(mo, j), tokens);
		if (mo_keep(&r[mask], run->a, n) != 0)
			return PLAN_ENOMEM;
		if ((total += n) > MO_DP_INTERVALS_MAX)
			return PLAN_MO_TOO_LARGE;
		if (j == mo->nslots && n > 0 &&
		    r[mask].v[n - 1].hi == mo->c->mem.layers && !found) {
			*full = mask;
			found = 1;
		}
	}
	return found;
}

/* Whether starting from r, candidates `tail` in slots j.. reach the end. */
static bool
mo_tail_reaches(struct plan_mo *mo, struct mo_run *run, const struct mo_list *r,
    size_t j, const size_t *tail, plan_i128 tokens)
{
	size_t		 n = r->n, k;
	uint32_t	 s;

	if (n == 0)
		return false;
	memcpy(run->a, r->v, n * sizeof(*run->a));
	for (k = j; k < mo->nslots && n > 0; k++) {
		for (s = 0; s < mo->cnt; s++)
			mo->budget[mo->slot[k] + s] =
			    mo->c->budget[mo->cand[tail[k]]];
		n = mo_stages(mo, run, run->a, n, mo->slot[k],
		    mo_seg_end(mo, k + 1), tokens);
	}
	return n > 0 && run->a[n - 1].hi == mo->c->mem.layers;
}

/* Exact search over subsets for few candidates under the memory split. */
int
plan_mo_exact(struct plan_mo *mo, size_t *order)
{
	struct mo_list	*r;
	struct mo_run	 run;
	size_t		 nmask = (size_t)1 << mo->ncand, full = 0, mask, j, v;
	size_t		*pick;
	plan_i128	 lo = 0, hi, mid;
	uint32_t	 L = mo->c->mem.layers;
	int		 rc = PLAN_ENOMEM, f;

	r = calloc(nmask, sizeof(*r));
	pick = calloc(mo->nslots, sizeof(*pick));
	run.a = calloc((size_t)L + 2, sizeof(*run.a));
	run.b = calloc((size_t)L + 2, sizeof(*run.b));
	run.u = calloc((size_t)L + 2, sizeof(*run.u));
	if (r == NULL || pick == NULL || run.a == NULL || run.b == NULL ||
	    run.u == NULL)
		goto done;

	plan_mo_apply(mo, mo->top);
	hi = plan_mem_tokens_max(&mo->c->mem, mo->stages, mo->budget);
	if ((f = mo_dp_run(mo, &run, r, 0, &full)) < 0) {
		rc = f;
		goto done;
	}
	mo_lists_free(r, nmask);
	rc = 0;
	if (f == 0 || hi < 0)
		goto done;
	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		f = mo_dp_run(mo, &run, r, mid, &full);
		mo_lists_free(r, nmask);
		if (f < 0) {
			rc = f;
			goto done;
		}
		if (f)
			lo = mid;
		else
			hi = mid - 1;
	}
	if ((f = mo_dp_run(mo, &run, r, lo, &full)) != 1) {
		rc = f < 0 ? f : PLAN_ENOMEM;
		goto done;
	}

	/* Walk back: the last slot's node is one whose branch reaches. */
	mask = full;
	for (j = mo->nslots; j-- > 0;) {
		for (v = 0; v < mo->ncand; v++) {
			if (!(mask & ((size_t)1 << v)))
				continue;
			pick[j] = v;
			if (mo_tail_reaches(mo, &run,
			    &r[mask & ~((size_t)1 << v)], j, pick, lo))
				break;
		}
		mask &= ~((size_t)1 << pick[j]);
	}
	for (j = 0; j < mo->nslots; j++)
		order[j] = mo->cand[pick[j]];
	rc = 1;
done:
	if (r != NULL)
		mo_lists_free(r, nmask);
	free(r);
	free(pick);
	free(run.a);
	free(run.b);
	free(run.u);
	return rc;
}
