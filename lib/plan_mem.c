/*
 * The memory model of the planner: each stage's budget, weights and KV
 * cache tokens, the memory-aware layer split, and the error that reports how
 * far an infeasible plan is from fitting.
 *
 * For stage s with layers [a, b) on GPUs whose smallest memory_total is M:
 *   budget  = floor(M * u) - R
 *   weights = ceil((w[a] + ... + w[b-1] + E if s = 0 + H if last) / tp)
 *   tokens  = floor((budget - weights) * tp / (k * (b - a)))
 * The stage holds at least T tokens exactly when
 *   weights + ceil(T * k * (b - a) / tp) <= budget,
 * and for T >= 0 a shorter range never needs more, which is what makes the
 * split search below exact.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_impl.h"

static plan_i128
div_ceil(plan_i128 a, plan_i128 b)
{
	return -plan_div_floor(-a, b);
}

static int64_t
clamp_i64(plan_i128 v)
{
	if (v > INT64_MAX)
		return INT64_MAX;
	if (v < INT64_MIN)
		return INT64_MIN;
	return (int64_t)v;
}

/* floor(memory * u) is computed in double, as a Python float product is. */
int64_t
plan_mem_budget(const struct plan_config *cfg, uint64_t memory)
{
	double	 x;

	x = floor((double)memory * cfg->gpu_memory_utilization);
	return (int64_t)x - (int64_t)cfg->activation_reserve;
}

void
plan_stage_memory(const struct plan_config *cfg, uint64_t gpu_memory,
    uint32_t tp_size, uint32_t first_layer, uint32_t n, bool is_first,
    bool is_last, int64_t *budget, uint64_t *weights, int64_t *kv_tokens)
{
	const struct model_sizes *ms = cfg->sizes;
	plan_i128	 sum = 0, per, c, b;
	uint32_t	 i, tp = tp_size > 0 ? tp_size : 1;

	for (i = first_layer; i < ms->layers && i - first_layer < n; i++)
		sum += ms->layer_bytes[i];
	if (is_first)
		sum += ms->embedding_bytes;
	if (is_last)
		sum += ms->head_bytes;

	b = plan_mem_budget(cfg, gpu_memory);
	c = div_ceil(sum, tp);
	*budget = (int64_t)b;
	*weights = c > UINT64_MAX ? UINT64_MAX : (uint64_t)c;

	per = (plan_i128)ms->kv_bytes_per_token * n;
	if (per == 0)
		*kv_tokens = b >= c ? INT64_MAX : INT64_MIN;
	else
		*kv_tokens = clamp_i64(plan_div_floor((b - c) * tp, per));
}

void
plan_mem_free(struct plan_mem *m)
{
	free(m->prefix);
	free(m->rmq);
	free(m->cur);
	free(m->next);
	memset(m, 0, sizeof(*m));
}

/* Builds prefix sums and a sparse table of range maxima over w. */
static int
mem_tables(struct plan_mem *m, const uint64_t *w)
{
	uint32_t	 L = m->layers, l, i, half;

	m->levels = 1;
	while ((1u << m->levels) <= L)
		m->levels++;
	m->prefix = calloc((size_t)L + 1, sizeof(*m->prefix));
	m->rmq = calloc((size_t)m->levels * L, sizeof(*m->rmq));
	m->cur = calloc((size_t)L + 2, sizeof(*m->cur));
	m->next = calloc((size_t)L + 2, sizeof(*m->next));
	if (m->prefix == NULL || m->rmq == NULL || m->cur == NULL ||
	    m->next == NULL)
		return -1;

	for (i = 0; i < L; i++) {
		m->prefix[i + 1] = m->prefix[i] + w[i];
		m->rmq[i] = w[i];
	}
	for (l = 1; l < m->levels; l++) {
		half = 1u << (l - 1);
		for (i = 0; i + (1u << l) <= L; i++) {
			uint64_t x = m->rmq[(size_t)(l - 1) * L + i];
			uint64_t y = m->rmq[(size_t)(l - 1) * L + i + half];

			m->rmq[(size_t)l * L + i] = x > y ? x : y;
		}
	}
	return 0;
}

/*
 * Checks the model sizes against the config and prepares the tables.
 * Returns 0, PLAN_EINFEASIBLE with a message, or PLAN_ENOMEM.
 */
int
plan_mem_init(struct plan_mem *m, const struct plan_config *cfg,
    uint32_t tp, char *err, size_t errlen)
{
	const struct model_sizes *ms = cfg->sizes;
	plan_i128	 total;
	uint32_t	 i;

	memset(m, 0, sizeof(*m));
	if (ms->layers != cfg->layers || ms->layer_bytes == NULL) {
		snprintf(err, errlen, "the model sizes cover %u layers, but "
		    "model.layers is %u", ms->layers, cfg->layers);
		return PLAN_EINFEASIBLE;
	}
	if (ms->kv_bytes_per_token == 0 ||
	    ms->kv_bytes_per_token > PLAN_KV_BYTES_MAX) {
		snprintf(err, errlen, "model kv_bytes_per_token is %" PRIu64
		    ", expected 1 to %" PRIu64, ms->kv_bytes_per_token,
		    (uint64_t)PLAN_KV_BYTES_MAX);
		return PLAN_EINFEASIBLE;
	}
	total = (plan_i128)ms->embedding_bytes + ms->head_bytes;
	for (i = 0; i < ms->layers; i++)
		total += ms->layer_bytes[i];
	if (total > (plan_i128)PLAN_MEM_BYTES_MAX) {
		snprintf(err, errlen, "the model weights add up to more than "
		    "%" PRIu64 " bytes; check the model sizes",
		    (uint64_t)PLAN_MEM_BYTES_MAX);
		return PLAN_EINFEASIBLE;
	}

	m->layers = ms->layers;
	m->tp = tp;
	m->embedding = ms->embedding_bytes;
	m->head = ms->head_bytes;
	m->kv = ms->kv_bytes_per_token;
	if (mem_tables(m, ms->layer_bytes) != 0) {
		plan_mem_free(m);
		snprintf(err, errlen, "out of memory");
		return PLAN_ENOMEM;
	}
	return 0;
}

static uint64_t
mem_extra(const struct plan_mem *m, uint32_t stages, uint32_t s)
{
	return (s == 0 ? m->embedding : 0) + (s == stages - 1 ? m->head : 0);
}

/* Whether a stage with layers [a, b) has room for `tokens` KV tokens when
 * given `slack` extra bytes per GPU. */
static bool
mem_fits(const struct plan_mem *m, uint64_t extra, int64_t budget,
    plan_i128 tokens, plan_i128 slack, uint32_t a, uint32_t b)
{
	plan_i128	 w, need;

	w = (plan_i128)(m->prefix[b] - m->prefix[a]) + extra;
	need = (w + m->tp - 1) / m->tp +
	    (tokens * m->kv * (b - a) + m->tp - 1) / m->tp;
	return need <= budget + slack;
}

/* The first layer in [i, j] heavier than thr, or j + 1. */
static uint32_t
mem_first_heavy(const struct plan_mem *m, uint32_t i, uint32_t j,
    plan_i128 thr)
{
	uint32_t	 l, len;

	for (l = m->levels; l-- > 0;) {
		len = 1u << l;
		if (i + len - 1 <= j &&
		    (plan_i128)m->rmq[(size_t)l * m->layers + i] <= thr)
			i += len;
	}
	return i;
}

/* The largest end b <= cap with [a, b) fitting, or a when none does. */
static uint32_t
mem_max_end(const struct plan_mem *m, uint64_t extra, int64_t budget,
    plan_i128 tokens, plan_i128 slack, uint32_t a, uint32_t cap)
{
	uint32_t	 ok, bad, step, mid;

	if (a >= cap || !mem_fits(m, extra, budget, tokens, slack, a, a + 1))
		return a;

	/* Gallop, because a stage usually has few layers. */
	ok = a + 1;
	step = 1;
	for (;;) {
		if (ok + step > cap) {
			bad = cap + 1;
			break;
		}
		if (!mem_fits(m, extra, budget, tokens, slack, a, ok + step)) {
			bad = ok + step;
			break;
		}
		ok += step;
		step *= 2;
	}
	while (bad - ok > 1) {
		mid = ok + (bad - ok) / 2;
		if (mem_fits(m, extra, budget, tokens, slack, a, mid))
			ok = mid;
		else
			bad = mid;
	}
	return ok;
}

static size_t
ivl_add(struct plan_ivl *out, size_t n, uint32_t lo, uint32_t hi)
{
	if (n > 0 && lo <= out[n - 1].hi + 1) {
		if (hi > out[n - 1].hi)
			out[n - 1].hi = hi;
		return n;
	}
	out[n].lo = lo;
	out[n].hi = hi;
	return n + 1;
}

/*
 * Propagates the set of reachable stage boundaries through stage s: `in`
 * contains the positions where stage s may start, `out` receives those where
 * it may end. A position p is reachable exactly when the stage fits from
 * the largest reachable start below p, since a later start only shortens
 * the range. So p inside a run of starts needs only layer p - 1 to fit
 * alone, and past the run it needs [run end, p) to fit. Returns the number
 * of intervals in out.
 */
size_t
plan_mem_step(struct plan_mem *m, uint32_t stages, uint32_t s,
    int64_t budget, plan_i128 tokens, plan_i128 slack,
    const struct plan_ivl *in, size_t nin, struct plan_ivl *out)
{
	uint64_t	 extra = mem_extra(m, stages, s);
	uint32_t	 cap = m->layers - (stages - 1 - s);
	uint32_t	 i, j, h, e;
	plan_i128	 room;
	size_t		 k, nout = 0;

	/* The heaviest single layer that fits, for the runs of starts. */
	room = (budget + slack - (tokens * m->kv + m->tp - 1) / m->tp) *
	    m->tp - (plan_i128)extra;
	if (room < 0)
		return 0;

	for (k = 0; k < nin; k++) {
		if (in[k].lo >= cap)
			break;
		h = in[k].hi < cap - 1 ? in[k].hi : cap - 1;
		for (i = in[k].lo; i <= h; i = j + 1) {
			j = mem_first_heavy(m, i, h, room);
			if (j > i)
				nout = ivl_add(out, nout, i + 1, j);
		}
		e = mem_max_end(m, extra, budget, tokens, slack, h, cap);
		if (e > h)
			nout = ivl_add(out, nout, h + 1, e);
	}
	return nout;
}

/* Whether some split gives every stage `tokens` with `slack` extra bytes. */
int
plan_mem_reach(struct plan_mem *m, uint32_t stages, const int64_t *budget,
    plan_i128 tokens, plan_i128 slack)
{
	struct plan_ivl	*t;
	size_t		 n = 1;
	uint32_t	 s;

	m->cur[0].lo = m->cur[0].hi = 0;
	for (s = 0; s < stages; s++) {
		n = plan_mem_step(m, stages, s, budget[s], tokens, slack,
		    m->cur, n, m->next);
		if (n == 0)
			return 0;
		t = m->cur;
		m->cur = m->next;
		m->next = t;
	}
	return m->cur[n - 1].hi == m->layers;
}

/* The largest reachable position below e in a sorted interval list. */
static uint32_t
ivl_pred(const struct plan_ivl *v, size_t n, uint32_t e)
{
	size_t		 lo = 0, hi = n, mid;

	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (v[mid].lo < e)
			lo = mid;
		else
			hi = mid;
	}
	return v[lo].hi < e ? v[lo].hi : e - 1;
}

/*
 * Finds a split for which every stage has room for `tokens` with
 * `slack`. It keeps every stage's reachable boundaries, then walks back
 * from the last layer taking the largest reachable start. Returns 1, 0
 * when there is none, or -1 when out of memory.
 * NOTE: each list has one interval per run of layers that the stage can
 * hold alone, so layers too heavy for some nodes, spread through the
 * model, can make the lists total up to stages * layers / 2 entries.
 */
static int
mem_split(struct plan_mem *m, uint32_t stages, const int64_t *budget,
    plan_i128 tokens, plan_i128 slack, uint32_t *split)
{
	struct plan_ivl	*all = NULL, *t;
	size_t		*off, used = 0, size = 0, n = 1;
	uint32_t	 s, e, a;
	int		 rc = 0;

	if ((off = calloc((size_t)stages + 1, sizeof(*off))) == NULL)
		return -1;
	m->cur[0].lo = m->cur[0].hi = 0;
	for (s = 0; s < stages; s++) {
		n = plan_mem_step(m, stages, s, budget[s], tokens, slack,
		    m->cur, n, m->next);
		if (n == 0)
			goto done;
		if (used + n > size) {
			size = (used + n) * 2;
			if ((t = realloc(all, size * sizeof(*all))) == NULL) {
				rc = -1;
				goto done;
			}
			all = t;
		}
		memcpy(all + used, m->next, n * sizeof(*all));
		used += n;
		off[s + 1] = used;
		t = m->cur;
		m->cur = m->next;
		m->next = t;
	}
	if (m->cur[n - 1].hi != m->layers)
		goto done;

	e = m->layers;
	for (s = stages - 1; s > 0; s--) {
		a = ivl_pred(all + off[s - 1], off[s] - off[s - 1], e);
		split[s] = e - a;
		e = a;
	}
	split[0] = e;
	rc = 1;
done:
	free(all);
	free(off);
	return rc;
}

/*
 * An upper bound on the tokens of any split: each stage alone with one
 * weightless layer, and all stages together holding every layer.
 * Negative when some budget is negative.
 */
plan_i128
plan_mem_tokens_max(const struct plan_mem *m, uint32_t stages,
    const int64_t *budget)
{
	plan_i128	 best, sum = 0, t;
	uint32_t	 s;

	best = plan_div_floor((plan_i128)budget[0] * m->tp, m->kv);
	for (s = 0; s < stages; s++) {
		t = plan_div_floor((plan_i128)budget[s] * m->tp, m->kv);
		if (t < best)
			best = t;
		sum += budget[s];
	}
	t = plan_div_floor(sum * m->tp - m->prefix[m->layers] - m->embedding -
	    m->head, (plan_i128)m->kv * m->layers);
	return t < best ? t : best;
}

/*
 * The memory-aware split: binary search on the tokens T, each probe an
 * exact feasibility test. `lower` is a token count known to fit, or 0.
 * Returns 1 with split and tokens, 0 when not even T = 0 fits (some stage
 * cannot hold its weights under any split), or -1 when out of memory.
 */
int
plan_mem_best(struct plan_mem *m, uint32_t stages, const int64_t *budget,
    plan_i128 lower, uint32_t *split, int64_t *tokens)
{
	plan_i128	 lo = lower > 0 ? lower : 0, hi, mid;

	hi = plan_mem_tokens_max(m, stages, budget);
	if (hi < lo || !plan_mem_reach(m, stages, budget, lo, 0))
		return 0;
	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		if (plan_mem_reach(m, stages, budget, mid, 0))
			lo = mid;
		else
			hi = mid - 1;
	}
	*tokens = clamp_i64(lo);
	return mem_split(m, stages, budget, lo, 0, split);
}

/*
 * The split that comes closest to holding `min_tokens` on every stage:
 * the one that minimizes the largest shortfall in bytes per GPU. Used to
 * explain an infeasible memory split. Returns 0, or -1 when out of memory.
 */
int
plan_mem_closest(struct plan_mem *m, uint32_t stages, const int64_t *budget,
    uint64_t min_tokens, uint32_t *split)
{
	plan_i128	 lo = 0, hi, mid, least = 0;
	uint32_t	 s;

	for (s = 0; s < stages; s++)
		if (budget[s] < least)
			least = budget[s];
	hi = div_ceil((plan_i128)m->prefix[m->layers] + m->embedding +
	    m->head, m->tp) +
	    div_ceil((plan_i128)min_tokens * m->kv * m->layers, m->tp) -
	    least + 1;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (plan_mem_reach(m, stages, budget, min_tokens, mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	return mem_split(m, stages, budget, min_tokens, lo, split) == 1 ?
	    0 : -1;
}

/* The minimum memory_total whose budget reaches `need` bytes. */
static uint64_t
mem_least_memory(const struct plan_config *cfg, plan_i128 need)
{
	double		 u = cfg->gpu_memory_utilization;
	plan_i128	 target = need + cfg->activation_reserve;
	uint64_t	 mem;

	if (target <= 0)
		return 0;
	mem = (uint64_t)ceil((double)target / u);
	/* Past 2^52 bytes a double no longer moves by one byte. */
	if (target > ((plan_i128)1 << 52))
		return mem;
	while (mem > 0 && floor((double)(mem - 1) * u) >= (double)target)
		mem--;
	while (floor((double)mem * u) < (double)target)
		mem++;
	return mem;
}

int64_t
plan_fill_memory(const struct plan_config *cfg, const struct inv *inv,
    const struct plan *p, const uint32_t *partition,
    struct plan_stage *stages)
{
	const struct plan_node *pn;
	uint32_t	 s, first = 0;
	uint64_t	 mem;
	int64_t		 min = INT64_MAX;

	if (cfg->sizes == NULL)
		return INT64_MIN;
	for (s = 0; s < p->num_stages; s++) {
		stages[s].stage = s;
		stages[s].node = p->stages[s].node;
		stages[s].first_layer = first;
		stages[s].end_layer = first + partition[s];

		/* A node missing from inv counts as having no GPU memory. */
		mem = 0;
		if (p->stages[s].node < p->nnodes) {
			pn = &p->nodes[p->stages[s].node];
			if (pn->inv_index < inv->nnodes)
				mem = inv_node_min_memory(
				    &inv->nodes[pn->inv_index]);
		}
		plan_stage_memory(cfg, mem, p->tp_size, first,
		    partition[s], s == 0, s == p->num_stages - 1,
		    &stages[s].budget_bytes, &stages[s].weight_bytes,
		    &stages[s].kv_tokens);
		if (stages[s].kv_tokens < min)
			min = stages[s].kv_tokens;
		first += partition[s];
	}
	return min;
}

/* Bytes per GPU that stage s lacks to hold its weights and min_kv_tokens. */
static plan_i128
mem_shortfall(const struct plan_config *cfg, const struct plan *p,
    uint32_t s)
{
	const struct plan_stage *st = &p->stages[s];
	plan_i128	 kv;

	kv = (plan_i128)cfg->min_kv_tokens * cfg->sizes->kv_bytes_per_token *
	    (st->end_layer - st->first_layer);
	return (plan_i128)st->weight_bytes + div_ceil(kv, p->tp_size) -
	    st->budget_bytes;
}

/*
 * Fills the memory figures of p for its layer split and checks that every
 * stage fits. An infeasible plan is an error naming the stage that is
 * shortest of memory. `best_split` means the split was already the one
 * closest to fitting. Returns 0 or PLAN_EINFEASIBLE.
 */
int
plan_mem_check(const struct plan_config *cfg, const struct inv *inv,
    struct plan *p, bool best_split, char *err, size_t errlen)
{
	const struct plan_stage *st;
	plan_i128	 worst = 0, sh;
	uint32_t	 s, ws = 0;
	char		 a[32], b[32];
	uint64_t	 mem;

	p->kv_tokens = plan_fill_memory(cfg, inv, p, p->layer_partition,
	    p->stages);
	p->have_memory = true;
	for (s = 0; s < p->num_stages; s++) {
		sh = mem_shortfall(cfg, p, s);
		if (sh > worst) {
			worst = sh;
			ws = s;
		}
	}
	if (worst <= 0)
		return 0;

	st = &p->stages[ws];
	mem = mem_least_memory(cfg, (plan_i128)st->budget_bytes + worst);
	/* The layer range is end-exclusive, as in the plan table and
	 * PPCOORD_END_LAYER. The memory hint covers this stage alone. */
	snprintf(err, errlen, "stage %u on node %s is %" PRIu64 " bytes (%s) "
	    "per GPU short of holding layers %u to %u (end exclusive; %"
	    PRIu64 " bytes of weights per GPU, budget %" PRId64 ") with "
	    "plan.min_kv_tokens %" PRIu64 "%s; GPUs with a memory_total of "
	    "at least %" PRIu64 " bytes (%s) on that node would fit this "
	    "stage, but other stages may then limit the plan", ws,
	    p->nodes[st->node].id, (uint64_t)worst,
	    util_format_size((uint64_t)worst, a, sizeof(a)), st->first_layer,
	    st->end_layer, st->weight_bytes, st->budget_bytes,
	    cfg->min_kv_tokens, best_split ?
	    ", even with the layer split closest to fitting" : "", mem,
	    util_format_size(mem, b, sizeof(b)));
	return PLAN_EINFEASIBLE;
}
