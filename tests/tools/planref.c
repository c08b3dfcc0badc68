/*
 * planref: an independent reference for `ppcoordctl plan`. It generates
 * random clusters and models from a seed and writes the head config, the
 * inventory and, for non-uniform models, safetensors files. Then it runs
 * `ppcoordctl plan --format json` and `--format env` and checks the
 * output against its own computation of the planning rules. The checks
 * cover node order, pins, spares, the even, manual and memory splits,
 * the memory model's figures per stage and feasibility. They also cover
 * the brute-force optimum over every split and, for the memory order,
 * over every node subset and order.
 *
 *   planref -c PPCOORDCTL -d WORKDIR [-s SEED] [-n CASES] [-t SECONDS] [-v]
 *
 * Every disagreement is printed with the case's config and inventory.
 * Exits 0 when every case agrees, 1 when one does not, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define MAXN		8	/* nodes in an inventory */
#define MAXG		16	/* GPUs on a node */
#define MAXL		40	/* model layers */
#define MAXS		(MAXN * 4)	/* stages */
#define KV_NONE		INT64_MIN	/* no split exists */
/* Tensor bytes per safetensors file: files stay under ext4's 16 TiB
 * limit, sparse as they are. */
#define ST_FILE_MAX	((int64_t)4 << 40)
#define ST_FILES_MAX	8

enum order { ORDER_VLLM, ORDER_LISTED, ORDER_MEMORY };
enum part { PART_EVEN, PART_MANUAL, PART_MEMORY };
enum sizes { SIZES_NONE, SIZES_EXPLICIT, SIZES_SAFETENSORS };

static const char *order_names[] = { "vllm", "listed", "memory" };
static const char *part_names[] = { "even", "manual", "memory" };

struct gnode {
	char		 id[16];
	char		 addr[24];
	int		 workers;
	int		 write_workers;	/* workers written to the inventory */
	int		 ngpu;
	int64_t		 mem[MAXG];
};

struct gcase {
	uint64_t	 seed;
	int		 n;
	struct gnode	 nodes[MAXN];	/* inventory order */
	int		 expected;
	int		 tp;		/* the effective tp_size */
	int		 tp_set;
	int		 layers;
	enum order	 order;
	enum part	 part;
	int		 manual[MAXS];
	int		 nmanual;
	int		 driver;	/* node index or -1 */
	int		 listed[MAXN];
	int		 nlisted;
	int		 npins;
	int		 pin_node[MAXN];
	int		 pin_stage[MAXN];
	int		 port;		/* 0: default 29500 */
	int		 unequal;	/* no tp_size and unequal workers */

	enum sizes	 sizes;
	int64_t		 w[MAXL];
	int64_t		 E, H, k;
	int64_t		 explicit_E;	/* -1: not written (safetensors cases) */
	int64_t		 explicit_H;
	int		 mtp;		/* extra layers past num_hidden_layers */
	int		 tied;		/* no lm_head tensor */
	int		 nfiles;

	char		 u_str[16];	/* "" for the default 0.9 */
	double		 u;
	int64_t		 u_num, u_den;	/* u as an exact decimal */
	char		 R_str[32];	/* "" for the default 1 GiB */
	int64_t		 R;
	int64_t		 min_kv;
	int		 min_kv_set;
	int		 fp8;
};

/* The reference's result for one case. */
struct rplan {
	int		 ok;		/* 1: a plan, 0: expect exit 1 */
	int		 loose;		/* several plans are optimal */
	int		 ambiguous;	/* the rules do not decide this case */
	char		 why[256];
	int		 S;
	int		 nsel;
	int		 rank_node[MAXN];	/* node index by rank */
	int		 first_stage[MAXN];	/* by node index, -1 spare */
	int		 split[MAXS];
	int		 stage_node[MAXS];
	int64_t		 kv;		/* the optimum, when sizes are known */
	int		 errexit_any;	/* accept exit 1 or 2 */
	int		 memory_short;	/* a fixed split that does not fit */
	int		 npin_faults;	/* pins that overlap or run past the end */
	int		 pin_fault[MAXN * MAXN][2];	/* nodes; [1] -1 past the end */
};

static int verbose;
static long n_disagree, n_cases, n_infeasible, n_feasible, n_ambiguous;
static long n_u_exact_differs, n_env_checked;
static long n_short_checked;
static long n_by_kind[3][3];

/* xorshift64* */
static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static int
rnd(int n)
{
	return (int)(rng_next() % (uint64_t)n);
}

static int
chance(int percent)
{
	return rnd(100) < percent;
}

static int64_t
floor_div(__int128 a, __int128 b)
{
	__int128 q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return (int64_t)q;
}

static int64_t
ceil_div(__int128 a, __int128 b)
{
	return -floor_div(-a, b);
}

/* --- the memory model ------------------------------------------------ */

static int64_t
node_min_mem(const struct gnode *g)
{
	int64_t m = g->mem[0];
	int i;

	for (i = 1; i < g->ngpu; i++)
		if (g->mem[i] < m)
			m = g->mem[i];
	return m;
}

/* floor(memory_total * u) - R, with the product in double precision as
 * a program (or Python) multiplying by the configured float computes it. */
static int64_t
node_budget(const struct gcase *c, const struct gnode *g)
{
	return (int64_t)floor((double)node_min_mem(g) * c->u) - c->R;
}

/* The same with u as the exact decimal written in the config. */
static int64_t
node_budget_exact(const struct gcase *c, const struct gnode *g)
{
	return floor_div((__int128)node_min_mem(g) * c->u_num, c->u_den) -
	    c->R;
}

/* kv_tokens of stage s of S holding layers [a, b) on a GPU budget. */
static int64_t
stage_kv(const struct gcase *c, int64_t budget, int s, int S, int a, int b,
    int64_t *weights_out)
{
	__int128 sum = 0;
	int64_t weights;
	int i;

	for (i = a; i < b; i++)
		sum += c->w[i];
	if (s == 0)
		sum += c->E;
	if (s == S - 1)
		sum += c->H;
	weights = ceil_div(sum, c->tp);
	if (weights_out != NULL)
		*weights_out = weights;
	return floor_div((__int128)(budget - weights) * c->tp,
	    (__int128)c->k * (b - a));
}

static int64_t
split_kv(const struct gcase *c, const int64_t *budgets, int S,
    const int *split)
{
	int64_t kv, best = INT64_MAX;
	int s, a = 0;

	for (s = 0; s < S; s++) {
		kv = stage_kv(c, budgets[s], s, S, a, a + split[s], NULL);
		if (kv < best)
			best = kv;
		a += split[s];
	}
	return best;
}

/* vLLM's get_pp_indices: L / S each, the remainder to S-2, S-3, ... */
static void
even_split(int L, int S, int *split)
{
	int s, r = L % S;

	for (s = 0; s < S; s++)
		split[s] = L / S;
	for (s = 2; s < r + 2; s++)
		split[S - s] += 1;
}

/*
 * The largest over all splits (each stage at least one layer) of the
 * smallest stage kv_tokens, by dynamic programming over (stage, first
 * layer): the same value a brute force over every split finds, which
 * brute_best() confirms on small cases. Fills split when not NULL.
 */
static int64_t
dp_best(const struct gcase *c, const int64_t *budgets, int S, int *split)
{
	static int64_t best[MAXS + 1][MAXL + 1];
	static int choice[MAXS + 1][MAXL + 1];
	int L = c->layers, s, a, b;

	if (S > L)
		return KV_NONE;
	for (s = S - 1; s >= 0; s--) {
		for (a = s; a <= L - (S - s); a++) {
			int64_t v = KV_NONE, kv, m;
			int bmax = (s == S - 1) ? L : L - (S - s - 1);

			for (b = (s == S - 1) ? L : a + 1; b <= bmax; b++) {
				kv = stage_kv(c, budgets[s], s, S, a, b, NULL);
				m = (s == S - 1) ? kv :
				    (kv < best[s + 1][b] ? kv : best[s + 1][b]);
				if (m > v) {
					v = m;
					choice[s][a] = b;
				}
			}
			best[s][a] = v;
		}
	}
	if (split != NULL)
		for (s = 0, a = 0; s < S; s++) {
			split[s] = choice[s][a] - a;
			a = choice[s][a];
		}
	return best[0][0];
}

/* Every split enumerated, for small cases: a check on dp_best(). */
static void
brute_rec(const struct gcase *c, const int64_t *budgets, int S, int s,
    int a, int64_t cur, int64_t *best)
{
	int b, L = c->layers;
	int64_t kv, m;

	if (s == S - 1) {
		kv = stage_kv(c, budgets[s], s, S, a, L, NULL);
		m = kv < cur ? kv : cur;
		if (m > *best)
			*best = m;
		return;
	}
	for (b = a + 1; b <= L - (S - s - 1); b++) {
		kv = stage_kv(c, budgets[s], s, S, a, b, NULL);
		brute_rec(c, budgets, S, s + 1, b, kv < cur ? kv : cur, best);
	}
}

static int64_t
brute_best(const struct gcase *c, const int64_t *budgets, int S)
{
	int64_t best = KV_NONE;

	if (S > c->layers)
		return KV_NONE;
	brute_rec(c, budgets, S, 0, 0, INT64_MAX, &best);
	return best;
}

/* kv_tokens of a placement under the configured partition; split filled. */
static int64_t
partition_kv(const struct gcase *c, const int64_t *budgets, int S, int *split)
{
	int s;

	if (S > c->layers)
		return KV_NONE;
	switch (c->part) {
	case PART_EVEN:
		even_split(c->layers, S, split);
		break;
	case PART_MANUAL:
		if (c->nmanual != S)
			return KV_NONE;
		for (s = 0; s < S; s++)
			split[s] = c->manual[s];
		break;
	case PART_MEMORY:
		return dp_best(c, budgets, S, split);
	}
	if (c->sizes == SIZES_NONE)
		return 0;
	return split_kv(c, budgets, S, split);
}

static int64_t
need_kv(const struct gcase *c)
{
	int64_t m = c->min_kv_set ? c->min_kv : 1;

	return m > 0 ? m : 0;
}

/* --- node order and placement ---------------------------------------- */

static const struct gcase *sort_case;

/* vLLM's sort_by_driver_then_worker_ip: the driver, fewer workers, then
 * the address compared as a string. */
static int
vllm_cmp(const void *pa, const void *pb)
{
	int a = *(const int *)pa, b = *(const int *)pb;
	const struct gnode *na = &sort_case->nodes[a], *nb = &sort_case->nodes[b];
	int da = (a != sort_case->driver), db = (b != sort_case->driver);

	if (da != db)
		return da - db;
	if (na->workers != nb->workers)
		return na->workers - nb->workers;
	return strcmp(na->addr, nb->addr);
}

static void
policy_order(const struct gcase *c, int *out)
{
	int rest[MAXN], nrest = 0, i, j, k = 0, listed;

	for (i = 0; i < c->nlisted && c->order == ORDER_LISTED; i++)
		out[k++] = c->listed[i];
	for (i = 0; i < c->n; i++) {
		listed = 0;
		for (j = 0; j < c->nlisted && c->order == ORDER_LISTED; j++)
			if (c->listed[j] == i)
				listed = 1;
		if (!listed)
			rest[nrest++] = i;
	}
	sort_case = c;
	qsort(rest, (size_t)nrest, sizeof(int), vllm_cmp);
	for (i = 0; i < nrest; i++)
		out[k++] = rest[i];
}

static int
pin_of(const struct gcase *c, int node)
{
	int i;

	for (i = 0; i < c->npins; i++)
		if (c->pin_node[i] == node)
			return c->pin_stage[i];
	return -1;
}

static int
stages_of(const struct gcase *c, int node)
{
	return c->nodes[node].workers / c->tp;
}

/* Puts every pinned node into slot. Returns -1 when two pins overlap or
 * one runs past the last stage. */
static int
place_pins(const struct gcase *c, int S, int *slot)
{
	int i, s, node, p, cnt;

	for (s = 0; s < S; s++)
		slot[s] = -1;
	for (i = 0; i < c->npins; i++) {
		node = c->pin_node[i];
		p = c->pin_stage[i];
		cnt = stages_of(c, node);
		if (p + cnt > S)
			return -1;
		for (s = p; s < p + cnt; s++) {
			if (slot[s] != -1)
				return -1;
			slot[s] = node;
		}
	}
	return 0;
}

/* Lists every pin that runs past stage S - 1 and every pair of pins that
 * overlap: an error message must name the nodes of one of them. */
static void
pin_faults(const struct gcase *c, int S, struct rplan *r)
{
	int i, j, a0, a1, b0, b1;

	r->npin_faults = 0;
	for (i = 0; i < c->npins; i++) {
		a0 = c->pin_stage[i];
		a1 = a0 + stages_of(c, c->pin_node[i]);
		if (a1 > S) {
			r->pin_fault[r->npin_faults][0] = c->pin_node[i];
			r->pin_fault[r->npin_faults++][1] = -1;
		}
		for (j = i + 1; j < c->npins; j++) {
			b0 = c->pin_stage[j];
			b1 = b0 + stages_of(c, c->pin_node[j]);
			if (a0 < b1 && b0 < a1) {
				r->pin_fault[r->npin_faults][0] = c->pin_node[i];
				r->pin_fault[r->npin_faults++][1] = c->pin_node[j];
			}
		}
	}
}

/* The lowest free slot where cnt stages fit, or -1. */
static int
lowest_fit(const int *slot, int S, int cnt)
{
	int p, s, ok;

	for (p = 0; p + cnt <= S; p++) {
		ok = 1;
		for (s = p; s < p + cnt; s++)
			if (slot[s] != -1)
				ok = 0;
		if (ok)
			return p;
	}
	return -1;
}

/* Whether some placement of nodes (not pinned) fills slot: a search the
 * greedy rule does not make, used to tell an ambiguous case. */
static int
layout_exists(const struct gcase *c, int *slot, int S, const int *nodes,
    int nnodes, int *used)
{
	int p, i, s, cnt, ok;

	for (p = 0; p < S && slot[p] != -1; p++)
		;
	if (p == S)
		return 1;
	for (i = 0; i < nnodes; i++) {
		if (used[i])
			continue;
		cnt = stages_of(c, nodes[i]);
		ok = p + cnt <= S;
		for (s = p; ok && s < p + cnt; s++)
			if (slot[s] != -1)
				ok = 0;
		if (!ok)
			continue;
		used[i] = 1;
		for (s = p; s < p + cnt; s++)
			slot[s] = nodes[i];
		if (layout_exists(c, slot, S, nodes, nnodes, used))
			return 1;
		for (s = p; s < p + cnt; s++)
			slot[s] = -1;
		used[i] = 0;
	}
	return 0;
}

static void
fill_ranks(const struct gcase *c, struct rplan *r, const int *slot)
{
	int s, i;

	for (i = 0; i < c->n; i++)
		r->first_stage[i] = -1;
	r->nsel = 0;
	for (s = 0; s < r->S; s++) {
		r->stage_node[s] = slot[s];
		if (r->first_stage[slot[s]] == -1) {
			r->first_stage[slot[s]] = s;
			r->rank_node[r->nsel++] = slot[s];
		}
	}
}

static void
stage_budgets(const struct gcase *c, const struct rplan *r, int64_t *budgets)
{
	int s;

	for (s = 0; s < r->S; s++)
		budgets[s] = node_budget(c, &c->nodes[r->stage_node[s]]);
}

/* Ends the computation with the partition of a fixed placement. */
static void
finish_fixed(const struct gcase *c, struct rplan *r)
{
	int64_t budgets[MAXS], bb;

	stage_budgets(c, r, budgets);
	if (r->S > c->layers) {
		snprintf(r->why, sizeof(r->why), "%d stages for %d layers",
		    r->S, c->layers);
		return;
	}
	if (c->part == PART_MANUAL && c->nmanual != r->S) {
		snprintf(r->why, sizeof(r->why),
		    "layer_partition has %d entries for %d stages",
		    c->nmanual, r->S);
		r->errexit_any = 1;
		return;
	}
	r->kv = partition_kv(c, budgets, r->S, r->split);
	if (c->part == PART_MEMORY) {
		r->loose = 1;
		if (r->S <= 6 && c->layers <= 16) {
			bb = brute_best(c, budgets, r->S);
			if (bb != r->kv) {
				fprintf(stderr, "planref: internal error: dp %" PRId64
				    " brute %" PRId64 " seed %" PRIu64 "\n",
				    r->kv, bb, c->seed);
				exit(2);
			}
		}
	}
	if (c->sizes != SIZES_NONE && r->kv < need_kv(c)) {
		snprintf(r->why, sizeof(r->why),
		    "best kv_tokens %" PRId64 " below %" PRId64, r->kv,
		    need_kv(c));
		r->memory_short = c->part != PART_MEMORY;
		return;
	}
	r->ok = 1;
}

/* The vllm and listed orders: selection, pins and the greedy slots. */
static void
ref_fixed_order(const struct gcase *c, struct rplan *r)
{
	int order[MAXN], sel[MAXN], nsel = 0, slot[MAXS], used[MAXN];
	int free_nodes[MAXN], nfree = 0, i, node, p, s, need;

	policy_order(c, order);
	need = c->expected - c->npins;
	r->S = 0;
	for (i = 0; i < c->n; i++) {
		node = order[i];
		if (pin_of(c, node) >= 0 || need-- > 0) {
			sel[nsel++] = node;
			r->S += stages_of(c, node);
		}
	}
	if (place_pins(c, r->S, slot) == -1) {
		snprintf(r->why, sizeof(r->why), "pins overlap or run past "
		    "stage %d", r->S - 1);
		pin_faults(c, r->S, r);
		return;
	}
	for (i = 0; i < nsel; i++) {
		node = sel[i];
		if (pin_of(c, node) >= 0)
			continue;
		free_nodes[nfree++] = node;
	}
	for (i = 0; i < nfree; i++) {
		node = free_nodes[i];
		p = lowest_fit(slot, r->S, stages_of(c, node));
		if (p == -1) {
			int copy[MAXS];

			place_pins(c, r->S, copy);
			memset(used, 0, sizeof(used));
			if (layout_exists(c, copy, r->S, free_nodes, nfree,
			    used)) {
				r->ambiguous = 1;
				snprintf(r->why, sizeof(r->why), "the lowest free "
				    "slot rule leaves %s no slot, another order "
				    "fits", c->nodes[node].id);
			} else
				snprintf(r->why, sizeof(r->why), "no slot for %s",
				    c->nodes[node].id);
			return;
		}
		for (s = p; s < p + stages_of(c, node); s++)
			slot[s] = node;
	}
	fill_ranks(c, r, slot);
	finish_fixed(c, r);
}

/* --- the memory order: every subset and every order ----------------- */

struct mo_search {
	const struct gcase *c;
	int		 S;
	int		 slot[MAXS];
	int		 cand[MAXN];	/* unpinned nodes of the subset */
	int		 ncand;
	int		 used[MAXN];
	int64_t		 best;
	int		 best_slot[MAXS];
	int		 best_split[MAXS];
	int		 best_S;
	long		 leaves;
};

/* Two unpinned nodes with the same stage count and budget are
 * interchangeable, so only the first unused one of each kind is tried. */
static int
mo_same_kind(const struct mo_search *m, int i, int j)
{
	const struct gcase *c = m->c;
	int a = m->cand[i], b = m->cand[j];

	return stages_of(c, a) == stages_of(c, b) &&
	    node_budget(c, &c->nodes[a]) == node_budget(c, &c->nodes[b]);
}

static void
mo_rec(struct mo_search *m)
{
	const struct gcase *c = m->c;
	int64_t budgets[MAXS], kv;
	int split[MAXS], p, i, j, s, cnt, ok, dup;

	for (p = 0; p < m->S && m->slot[p] != -1; p++)
		;
	if (p == m->S) {
		for (s = 0; s < m->S; s++)
			budgets[s] = node_budget(c, &c->nodes[m->slot[s]]);
		kv = partition_kv(c, budgets, m->S, split);
		m->leaves++;
		if (kv > m->best) {
			m->best = kv;
			m->best_S = m->S;
			memcpy(m->best_slot, m->slot, sizeof(m->slot));
			memcpy(m->best_split, split, sizeof(split));
		}
		return;
	}
	for (i = 0; i < m->ncand; i++) {
		if (m->used[i])
			continue;
		dup = 0;
		for (j = 0; j < i; j++)
			if (!m->used[j] && mo_same_kind(m, i, j))
				dup = 1;
		if (dup)
			continue;
		cnt = stages_of(c, m->cand[i]);
		ok = p + cnt <= m->S;
		for (s = p; ok && s < p + cnt; s++)
			if (m->slot[s] != -1)
				ok = 0;
		if (!ok)
			continue;
		m->used[i] = 1;
		for (s = p; s < p + cnt; s++)
			m->slot[s] = m->cand[i];
		mo_rec(m);
		for (s = p; s < p + cnt; s++)
			m->slot[s] = -1;
		m->used[i] = 0;
	}
}

static void
ref_memory_order(const struct gcase *c, struct rplan *r)
{
	struct mo_search m;
	int unpinned[MAXN], nun = 0, pinned_stages = 0, i, need, mask, cnt;

	memset(&m, 0, sizeof(m));
	m.c = c;
	m.best = KV_NONE;
	for (i = 0; i < c->n; i++) {
		if (pin_of(c, i) >= 0)
			pinned_stages += stages_of(c, i);
		else
			unpinned[nun++] = i;
	}
	need = c->expected - c->npins;
	for (mask = 0; mask < (1 << nun); mask++) {
		if (__builtin_popcount((unsigned)mask) != need)
			continue;
		m.S = pinned_stages;
		m.ncand = 0;
		for (i = 0; i < nun; i++)
			if (mask & (1 << i)) {
				m.cand[m.ncand++] = unpinned[i];
				m.S += stages_of(c, unpinned[i]);
			}
		if (place_pins(c, m.S, m.slot) == -1)
			continue;
		memset(m.used, 0, sizeof(m.used));
		mo_rec(&m);
	}
	r->loose = 1;
	r->kv = m.best;
	if (m.best != KV_NONE) {
		r->S = m.best_S;
		fill_ranks(c, r, m.best_slot);
		memcpy(r->split, m.best_split, sizeof(r->split));
	}
	if (m.best == KV_NONE) {
		cnt = c->npins;
		snprintf(r->why, sizeof(r->why), "no subset and order fits "
		    "%d pins and %d layers", cnt, c->layers);
		if (c->part == PART_MANUAL)
			r->errexit_any = 1;
		return;
	}
	if (m.best < need_kv(c)) {
		snprintf(r->why, sizeof(r->why), "best kv_tokens %" PRId64
		    " over every order is below %" PRId64, m.best, need_kv(c));
		return;
	}
	r->ok = 1;
}

static void
ref_compute(const struct gcase *c, struct rplan *r)
{
	int i;

	memset(r, 0, sizeof(*r));
	if (c->n < c->expected) {
		snprintf(r->why, sizeof(r->why), "%d nodes, %d expected",
		    c->n, c->expected);
		return;
	}
	if (c->unequal) {
		snprintf(r->why, sizeof(r->why), "no tp_size and unequal "
		    "worker counts");
		return;
	}
	for (i = 0; i < c->n; i++)
		if (c->nodes[i].workers % c->tp != 0) {
			snprintf(r->why, sizeof(r->why), "%s has %d workers, "
			    "tp_size %d", c->nodes[i].id, c->nodes[i].workers,
			    c->tp);
			return;
		}
	if (c->order == ORDER_MEMORY)
		ref_memory_order(c, r);
	else
		ref_fixed_order(c, r);
}

/* --- case generation ------------------------------------------------- */

static const char *addr_pool[] = {
	"10.0.0.1", "10.0.0.2", "10.0.0.9", "10.0.0.10", "10.0.0.11",
	"10.0.0.90", "10.0.0.100", "10.0.1.5", "192.168.0.3", "10.0.0.19",
	"172.16.0.1", "10.10.0.1",
};
static const char *id_pool[] = {
	"gpu-a", "gpu-b", "gpu-c", "gpu-d", "gpu-e", "gpu-f", "gpu-g",
	"gpu-h", "node10", "node9", "h100-1", "a100-2",
};

#define GiB	((int64_t)1 << 30)

static const int64_t mem_pool[] = {
	16 * GiB, 24000000000LL, 40 * GiB, 42949672960LL, 80 * GiB,
	85520809984LL, 25769803776LL, 50000000000LL,
};

static void
shuffle(int *a, int n)
{
	int i, j, t;

	for (i = n - 1; i > 0; i--) {
		j = rnd(i + 1);
		t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

static void
gen_nodes(struct gcase *c)
{
	int ids[12], addrs[12], i, g, per_node[3], kinds, mems[3];
	int64_t m;

	for (i = 0; i < 12; i++)
		ids[i] = addrs[i] = i;
	shuffle(ids, 12);
	shuffle(addrs, 12);
	/* A few stage counts and memory sizes per case, so that interchangeable
	 * nodes and ties occur. */
	kinds = 1 + rnd(3);
	for (i = 0; i < 3; i++) {
		per_node[i] = 1 + rnd(i < kinds ? 3 : 1);
		mems[i] = rnd((int)(sizeof(mem_pool) / sizeof(mem_pool[0])));
	}
	if (chance(40))
		per_node[1] = per_node[2] = per_node[0];
	for (i = 0; i < c->n; i++) {
		struct gnode *n = &c->nodes[i];

		snprintf(n->id, sizeof(n->id), "%s", id_pool[ids[i]]);
		snprintf(n->addr, sizeof(n->addr), "%s", addr_pool[addrs[i]]);
		n->workers = c->tp * per_node[rnd(kinds)];
		if (n->workers > MAXG)
			n->workers = c->tp;
		n->ngpu = n->workers;
		n->write_workers = chance(50);
		m = mem_pool[mems[rnd(3)]];
		for (g = 0; g < n->ngpu; g++)
			n->mem[g] = m;
		/* One smaller GPU: the budget takes the smallest. */
		if (chance(15))
			n->mem[rnd(n->ngpu)] = m - (int64_t)rnd(1 << 20) *
			    4096 - 1;
	}
}

static void
gen_u(struct gcase *c)
{
	static const char *u_pool[] = { "0.9", "0.7", "0.8", "0.85", "0.95",
	    "0.5", "1.0", "0.92", "0.6" };
	const char *s;
	const char *dot;

	if (chance(40)) {
		c->u_str[0] = '\0';
		s = "0.9";
	} else {
		s = u_pool[rnd(9)];
		snprintf(c->u_str, sizeof(c->u_str), "%s", s);
	}
	c->u = strtod(s, NULL);
	dot = strchr(s, '.');
	c->u_num = 0;
	c->u_den = 1;
	for (; *s; s++) {
		if (*s == '.')
			continue;
		c->u_num = c->u_num * 10 + (*s - '0');
	}
	for (s = dot + 1; *s; s++)
		c->u_den *= 10;
}

static void
gen_reserve(struct gcase *c)
{
	switch (rnd(6)) {
	case 0:
	case 1:
		c->R_str[0] = '\0';
		c->R = GiB;
		break;
	case 2:
		snprintf(c->R_str, sizeof(c->R_str), "\"512 MiB\"");
		c->R = 512LL << 20;
		break;
	case 3:
		snprintf(c->R_str, sizeof(c->R_str), "\"2 GiB\"");
		c->R = 2 * GiB;
		break;
	case 4:
		snprintf(c->R_str, sizeof(c->R_str), "0");
		c->R = 0;
		break;
	default:
		snprintf(c->R_str, sizeof(c->R_str), "\"1.5GiB\"");
		c->R = 3 * GiB / 2;
		break;
	}
}

/* Model sizes scaled to the cluster so that some cases fit and some do
 * not. */
static void
gen_model(struct gcase *c)
{
	int64_t total_mem = 0, per_layer, base, total;
	int i, kind;

	for (i = 0; i < c->n && i < c->expected; i++)
		total_mem += node_min_mem(&c->nodes[i]) * c->nodes[i].workers;
	/* Weights between 10% and 90% of the GPU memory of the first
	 * expected_nodes nodes, before the embedding and the head. */
	per_layer = (int64_t)((double)total_mem * (10 + rnd(81)) / 100.0 /
	    c->layers);
	if (per_layer < 4096)
		per_layer = 4096;
	c->k = 1024 * (1 + rnd(400));
	if (chance(30))
		c->k = 32768 + rnd(1 << 20);
	c->E = per_layer * rnd(8) / 2 + rnd(1 << 20);
	c->H = per_layer * rnd(8) / 2 + rnd(1 << 20);
	kind = rnd(3);
	for (i = 0; i < c->layers; i++) {
		base = per_layer;
		if (kind == 1 && i < 1 + rnd(3))
			base = per_layer / 3;	/* dense layers before MoE */
		else if (kind == 2)
			base = per_layer / 2 + (int64_t)rnd(1000) * per_layer / 1000;
		c->w[i] = base;
	}
	c->explicit_E = c->explicit_H = -1;
	if (c->sizes == SIZES_EXPLICIT) {
		/* Explicit sizes give every layer the same size. */
		for (i = 0; i < c->layers; i++)
			c->w[i] = c->w[0];
		c->explicit_E = c->E;
		c->explicit_H = c->H;
		return;
	}
	/* Safetensors tensors are BF16 matrices: even byte counts. */
	for (i = 0; i < c->layers; i++)
		c->w[i] = (c->w[i] / 4096 + 1) * 4096;
	c->E = (c->E / 4096 + 1) * 4096;
	c->H = (c->H / 4096 + 1) * 4096;
	c->tied = chance(20);
	c->mtp = chance(25) ? 1 + rnd(2) : 0;
	c->nfiles = 1 + rnd(3);
	total = c->E + c->H;
	for (i = 0; i < c->layers + 2; i++)
		total += c->w[i < c->layers ? i : 0];
	while (c->nfiles < ST_FILES_MAX &&
	    total > (int64_t)c->nfiles * (ST_FILE_MAX / 2))
		c->nfiles++;
	if (chance(15))
		c->explicit_E = c->E = 2 * GiB + rnd(1 << 20);
	if (chance(15))
		c->explicit_H = c->H = GiB + rnd(1 << 20);
}

static void
gen_pins(struct gcase *c)
{
	int idx[MAXN], i, maxpins, stages_guess = 0;

	c->npins = 0;
	if (!chance(30))
		return;
	for (i = 0; i < c->n; i++) {
		idx[i] = i;
		stages_guess += c->nodes[i].workers / c->tp;
	}
	shuffle(idx, c->n);
	maxpins = c->expected < 3 ? c->expected : 3;
	if (maxpins > c->n)
		maxpins = c->n;
	c->npins = 1 + rnd(maxpins);
	for (i = 0; i < c->npins; i++) {
		c->pin_node[i] = idx[i];
		c->pin_stage[i] = rnd(stages_guess * c->expected / c->n + 1);
	}
}

/* A manual split for the number of stages the reference will place. */
static void
gen_manual(struct gcase *c)
{
	struct rplan r;
	int S, s, left;

	c->part = PART_EVEN;
	ref_compute(c, &r);
	c->part = PART_MANUAL;
	S = r.S;
	if (S <= 0 || c->order == ORDER_MEMORY) {
		/* expected_nodes may exceed the inventory in an infeasible case. */
		S = 0;
		for (s = 0; s < c->expected && s < c->n; s++)
			S += c->nodes[s].workers / c->tp;
	}
	if (chance(10))
		S += chance(50) ? 1 : -1;
	if (S < 1)
		S = 1;
	if (S > c->layers || S > MAXS) {
		c->part = PART_EVEN;
		return;
	}
	c->nmanual = S;
	left = c->layers - S;
	for (s = 0; s < S; s++)
		c->manual[s] = 1;
	while (left-- > 0)
		c->manual[rnd(S)]++;
}

static void
gen_case(struct gcase *c, uint64_t seed)
{
	static const int tps[] = { 1, 2, 2, 4, 4, 8 };
	int i, equal = 1;

	memset(c, 0, sizeof(*c));
	c->seed = seed;
	c->explicit_E = c->explicit_H = -1;
	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	c->n = 1 + rnd(MAXN);
	c->expected = c->n;
	if (chance(40))
		c->expected -= rnd(c->n < 3 ? c->n : 3);
	if (chance(3))
		c->expected = c->n + 1;
	if (c->expected < 1)
		c->expected = 1;
	c->tp = tps[rnd(6)];
	c->tp_set = 1;
	c->layers = 1 + rnd(MAXL);
	gen_nodes(c);
	for (i = 1; i < c->n; i++)
		if (c->nodes[i].workers != c->nodes[0].workers)
			equal = 0;
	if (equal && chance(25)) {
		c->tp_set = 0;
		c->tp = c->nodes[0].workers;
	}
	if (!c->tp_set && chance(5)) {
		/* Unequal worker counts without tp_size: an error. */
		struct gnode *g = &c->nodes[rnd(c->n)];

		if (c->n > 1 && g->ngpu < MAXG) {
			g->mem[g->ngpu] = g->mem[0];
			g->ngpu++;
			g->workers++;
			c->unequal = 1;
		}
	}
	if (c->tp_set && chance(2)) {
		/* A worker count that tp_size does not divide. */
		struct gnode *g = &c->nodes[rnd(c->n)];

		if (g->ngpu < MAXG) {
			g->mem[g->ngpu] = g->mem[0];
			g->ngpu++;
			g->workers++;
		}
		for (i = 0; i < c->n; i++)
			c->nodes[i].write_workers = 1;
	}

	c->sizes = (enum sizes)rnd(3);
	if (chance(30))
		c->sizes = SIZES_EXPLICIT;
	c->order = (enum order)rnd(3);
	c->part = (enum part)rnd(3);
	if (c->sizes == SIZES_NONE) {
		if (c->order == ORDER_MEMORY)
			c->order = ORDER_VLLM;
		if (c->part == PART_MEMORY)
			c->part = PART_EVEN;
	}
	c->driver = -1;
	if (c->order == ORDER_VLLM && chance(40))
		c->driver = rnd(c->n);
	/* With order "listed", the driver sorts first among the unlisted
	 * nodes, which follow in vllm order. */
	if (c->order == ORDER_LISTED && chance(20))
		c->driver = rnd(c->n);
	if (c->order == ORDER_LISTED) {
		int idx[MAXN];

		for (i = 0; i < c->n; i++)
			idx[i] = i;
		shuffle(idx, c->n);
		c->nlisted = 1 + rnd(c->n);
		for (i = 0; i < c->nlisted; i++)
			c->listed[i] = idx[i];
	}
	c->port = chance(50) ? 20000 + rnd(30000) : 0;
	gen_pins(c);
	gen_u(c);
	gen_reserve(c);
	c->min_kv_set = chance(30);
	/* min_kv_tokens = 0 is rejected as invalid, so the values start at 1. */
	c->min_kv = chance(50) ? 1 + rnd(3) : 1 + (int64_t)rnd(200000);
	c->fp8 = chance(10);
	if (c->sizes != SIZES_NONE)
		gen_model(c);
	if (c->part == PART_MANUAL)
		gen_manual(c);
}

/* --- writing the case ------------------------------------------------ */

static void
write_conf(const struct gcase *c, const char *dir, const char *path)
{
	FILE *f = fopen(path, "w");
	int i;

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	fprintf(f, "cluster = {\n  expected_nodes = %d;\n", c->expected);
	if (c->port)
		fprintf(f, "  master_port = %d;\n", c->port);
	fprintf(f, "};\nmodel = {\n  layers = %d;\n", c->layers);
	if (c->sizes == SIZES_EXPLICIT) {
		if (c->w[0] % GiB == 0)
			fprintf(f, "  layer_bytes = \"%" PRId64 " GiB\";\n",
			    c->w[0] / GiB);
		else
			fprintf(f, "  layer_bytes = %" PRId64 "L;\n", c->w[0]);
	}
	if (c->sizes == SIZES_SAFETENSORS)
		fprintf(f, "  weights_dir = \"%s/weights\";\n", dir);
	if (c->explicit_E >= 0)
		fprintf(f, "  embedding_bytes = %" PRId64 "L;\n", c->explicit_E);
	if (c->explicit_H >= 0)
		fprintf(f, "  head_bytes = \"%" PRId64 "\";\n", c->explicit_H);
	if (c->sizes != SIZES_NONE)
		fprintf(f, "  kv_bytes_per_token = %" PRId64 ";\n", c->k);
	fprintf(f, "};\nplan = {\n");
	if (c->tp_set)
		fprintf(f, "  tp_size = %d;\n", c->tp);
	fprintf(f, "  order = \"%s\";\n  partition = \"%s\";\n",
	    order_names[c->order], part_names[c->part]);
	if (c->part == PART_MANUAL) {
		fprintf(f, "  layer_partition = \"");
		for (i = 0; i < c->nmanual; i++)
			fprintf(f, "%s%d", i ? "," : "", c->manual[i]);
		fprintf(f, "\";\n");
	}
	if (c->driver >= 0)
		fprintf(f, "  driver = \"%s\";\n", c->nodes[c->driver].id);
	if (c->nlisted) {
		fprintf(f, "  nodes = [");
		for (i = 0; i < c->nlisted; i++)
			fprintf(f, "%s\"%s\"", i ? ", " : " ",
			    c->nodes[c->listed[i]].id);
		fprintf(f, " ];\n");
	}
	if (c->npins) {
		fprintf(f, "  pins = (");
		for (i = 0; i < c->npins; i++)
			fprintf(f, "%s{ node = \"%s\"; stage = %d; }",
			    i ? ", " : " ", c->nodes[c->pin_node[i]].id,
			    c->pin_stage[i]);
		fprintf(f, " );\n");
	}
	if (c->u_str[0])
		fprintf(f, "  gpu_memory_utilization = %s;\n", c->u_str);
	if (c->R_str[0])
		fprintf(f, "  activation_reserve = %s;\n", c->R_str);
	if (c->min_kv_set)
		fprintf(f, "  min_kv_tokens = %" PRId64 ";\n", c->min_kv);
	if (c->fp8)
		fprintf(f, "  kv_cache_dtype = \"fp8\";\n");
	fprintf(f, "};\n");
	fclose(f);
}

static void
write_inventory(const struct gcase *c, const char *path)
{
	FILE *f = fopen(path, "w");
	int i, g;

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	fprintf(f, "{\"nodes\": [\n");
	for (i = 0; i < c->n; i++) {
		const struct gnode *n = &c->nodes[i];

		fprintf(f, "  {\"id\": \"%s\", \"address\": \"%s\", ", n->id,
		    n->addr);
		if (n->write_workers || n->workers != n->ngpu)
			fprintf(f, "\"workers\": %d, ", n->workers);
		fprintf(f, "\"gpus\": [");
		for (g = 0; g < n->ngpu; g++)
			fprintf(f, "%s{\"index\": %d, \"name\": \"GPU\", "
			    "\"uuid\": \"GPU-%s-%d\", \"memory_total\": %"
			    PRId64 ", \"memory_free\": %" PRId64 "}",
			    g ? ", " : "", g, n->id, g, n->mem[g],
			    n->mem[g] - 1000000);
		fprintf(f, "]}%s\n", i + 1 < c->n ? "," : "");
	}
	fprintf(f, "]}\n");
	fclose(f);
}

/* One safetensors tensor: a BF16 matrix of `bytes` bytes. */
struct st_entry {
	char		 name[96];
	int64_t		 bytes;
	int		 file;
};

static int64_t st_file_bytes[ST_FILES_MAX];	/* per file so far */

static void
st_add(struct st_entry *t, int *nt, int nfiles, const char *name,
    int64_t bytes)
{
	int f = rnd(nfiles), tries;

	for (tries = 0; tries < nfiles &&
	    st_file_bytes[f] + bytes > ST_FILE_MAX; tries++)
		f = (f + 1) % nfiles;
	snprintf(t[*nt].name, sizeof(t[*nt].name), "%s", name);
	t[*nt].bytes = bytes;
	t[*nt].file = f;
	st_file_bytes[f] += bytes;
	(*nt)++;
}

/* Splits `bytes` (a multiple of 4096) into two or three BF16 tensors. */
static void
st_add_layer(struct st_entry *t, int *nt, int nfiles, int layer,
    int64_t bytes)
{
	char name[96];
	int64_t a = (bytes / 4096) / 2 * 4096, b = bytes - a;

	snprintf(name, sizeof(name), "model.layers.%d.mlp.down_proj.weight",
	    layer);
	st_add(t, nt, nfiles, name, a);
	if (b >= 8192 && chance(50)) {
		snprintf(name, sizeof(name),
		    "model.layers.%d.self_attn.o_proj.weight", layer);
		st_add(t, nt, nfiles, name, b - 4096);
		snprintf(name, sizeof(name),
		    "model.layers.%d.input_layernorm.weight", layer);
		st_add(t, nt, nfiles, name, 4096);
	} else {
		snprintf(name, sizeof(name),
		    "model.layers.%d.self_attn.qkv_proj.weight", layer);
		st_add(t, nt, nfiles, name, b);
	}
}

static void
write_st_file(const char *path, struct st_entry *t, int nt, int file)
{
	char *json = NULL;
	size_t jlen = 0;
	FILE *mf = open_memstream(&json, &jlen);
	int64_t off = 0, rows, cols;
	unsigned char len8[8];
	int i, fd, first = 1;

	fprintf(mf, "{\"__metadata__\": {\"format\": \"pt\"}");
	for (i = 0; i < nt; i++) {
		if (t[i].file != file)
			continue;
		/* BF16: bytes / 2 elements as rows x cols. */
		cols = 1024;
		rows = t[i].bytes / 2 / cols;
		if (rows * cols * 2 != t[i].bytes) {
			cols = 1;
			rows = t[i].bytes / 2;
		}
		fprintf(mf, ", \"%s\": {\"dtype\": \"BF16\", \"shape\": [%"
		    PRId64 ", %" PRId64 "], \"data_offsets\": [%" PRId64 ", %"
		    PRId64 "]}", t[i].name, rows, cols, off, off + t[i].bytes);
		off += t[i].bytes;
		first = 0;
	}
	(void)first;
	fprintf(mf, "}");
	fclose(mf);
	for (i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)jlen >> (8 * i));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1 || write(fd, len8, 8) != 8 ||
	    write(fd, json, jlen) != (ssize_t)jlen ||
	    ftruncate(fd, (off_t)(8 + jlen + (size_t)off)) == -1) {
		perror(path);
		exit(2);
	}
	close(fd);
	free(json);
}

static void
write_weights(const struct gcase *c, const char *dir)
{
	static struct st_entry t[4 * (MAXL + 4) + 8];
	char path[512], name[96];
	int nt = 0, i, f;

	snprintf(path, sizeof(path), "%s/weights", dir);
	mkdir(path, 0755);
	memset(st_file_bytes, 0, sizeof(st_file_bytes));
	/* Explicit embedding_bytes or head_bytes override the tensors, so
	 * the tensors then carry another size. */
	st_add(t, &nt, c->nfiles, "model.embed_tokens.weight",
	    c->explicit_E >= 0 ? 8192 : c->E);
	for (i = 0; i < c->layers; i++)
		st_add_layer(t, &nt, c->nfiles, i, c->w[i]);
	for (i = 0; i < c->mtp; i++)
		st_add_layer(t, &nt, c->nfiles, c->layers + i, c->w[0] + 4096);
	if (c->explicit_H >= 0) {
		st_add(t, &nt, c->nfiles, "lm_head.weight", 8192);
		st_add(t, &nt, c->nfiles, "model.norm.weight", 4096);
	} else if (c->tied) {
		st_add(t, &nt, c->nfiles, "model.norm.weight", c->H);
	} else {
		st_add(t, &nt, c->nfiles, "model.norm.weight", 4096);
		st_add(t, &nt, c->nfiles, "lm_head.weight", c->H - 4096 > 0 ?
		    c->H - 4096 : 4096);
	}
	for (f = 0; f < c->nfiles; f++) {
		snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors",
		    f + 1, c->nfiles);
		snprintf(path, sizeof(path), "%s/weights/%s", dir, name);
		write_st_file(path, t, nt, f);
	}
}

/* The H the tensors above carry (norm plus lm_head, at least 4096 each). */
static void
fix_head_bytes(struct gcase *c)
{
	if (c->sizes != SIZES_SAFETENSORS || c->explicit_H >= 0 || c->tied)
		return;
	if (c->H - 4096 <= 0)
		c->H = 8192;
}

/* --- running ppcoordctl ---------------------------------------------- */

static int
run_ctl(const char *ctl, const char *conf, const char *inv,
    const char *format, const char *out, const char *err)
{
	pid_t pid;
	int status, fd;

	pid = fork();
	if (pid == -1) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		execl(ctl, ctl, "plan", "-f", conf, "-i", inv, "--format",
		    format, (char *)NULL);
		fprintf(stderr, "planref: cannot run %s: %s\n", ctl,
		    strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1)
		return -1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* --- checking -------------------------------------------------------- */

struct checker {
	const struct gcase *c;
	const char	*dir;
	char		 msgs[8192];
	size_t		 len;
	int		 bad;
};

static void
disagree(struct checker *k, const char *fmt, ...)
{
	va_list ap;
	int n;

	k->bad = 1;
	if (k->len >= sizeof(k->msgs) - 2)
		return;
	va_start(ap, fmt);
	n = vsnprintf(k->msgs + k->len, sizeof(k->msgs) - k->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		k->len += (size_t)n;
	if (k->len < sizeof(k->msgs) - 1) {
		k->msgs[k->len++] = '\n';
		k->msgs[k->len] = '\0';
	} else
		k->len = sizeof(k->msgs) - 1;
}

static int64_t
jint(json_t *o, const char *key, int *missing)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v)) {
		*missing = 1;
		return -1;
	}
	return json_integer_value(v);
}

static int
node_index(const struct gcase *c, const char *id)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->nodes[i].id, id) == 0)
			return i;
	return -1;
}

/* Reads the program's placement into a struct rplan; 0 or -1. */
static int
read_plan(struct checker *k, json_t *root, struct rplan *p)
{
	const struct gcase *c = k->c;
	json_t *nodes, *stages, *lp, *v;
	int missing = 0, i, s, idx, fs, cnt, seen[MAXS];
	size_t ni;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < c->n; i++)
		p->first_stage[i] = -1;
	nodes = json_object_get(root, "nodes");
	stages = json_object_get(root, "stages");
	lp = json_object_get(root, "layer_partition");
	p->S = (int)jint(root, "num_stages", &missing);
	if (missing || !json_is_array(nodes) || !json_is_array(stages) ||
	    !json_is_array(lp) || p->S < 1 || p->S > MAXS ||
	    (int)json_array_size(stages) != p->S ||
	    (int)json_array_size(lp) != p->S) {
		disagree(k, "plan JSON lacks num_stages, nodes, stages or "
		    "layer_partition of matching sizes");
		return -1;
	}
	memset(seen, 0, sizeof(seen));
	json_array_foreach(nodes, ni, v) {
		const char *id = json_string_value(json_object_get(v, "id"));

		idx = id ? node_index(c, id) : -1;
		fs = (int)jint(v, "first_stage", &missing);
		cnt = (int)jint(v, "stage_count", &missing);
		if (idx < 0 || missing || fs < 0 || cnt < 1 || fs + cnt > p->S ||
		    p->first_stage[idx] != -1 || (int)ni >= MAXN) {
			disagree(k, "plan JSON node %zu is malformed or unknown",
			    ni);
			return -1;
		}
		if ((int)jint(v, "node_rank", &missing) != (int)ni)
			disagree(k, "node %s has node_rank %" PRId64 " at "
			    "position %zu of nodes", id,
			    jint(v, "node_rank", &missing), ni);
		if (strcmp(json_string_value(json_object_get(v, "address")) ?
		    json_string_value(json_object_get(v, "address")) : "",
		    c->nodes[idx].addr) != 0)
			disagree(k, "node %s has the wrong address", id);
		if (jint(v, "workers", &missing) != c->nodes[idx].workers)
			disagree(k, "node %s has workers %" PRId64 ", inventory "
			    "%d", id, jint(v, "workers", &missing),
			    c->nodes[idx].workers);
		if (cnt != stages_of(c, idx))
			disagree(k, "node %s has stage_count %d, workers/tp is "
			    "%d", id, cnt, stages_of(c, idx));
		p->first_stage[idx] = fs;
		p->rank_node[p->nsel++] = idx;
		for (s = fs; s < fs + cnt; s++) {
			if (seen[s]++) {
				disagree(k, "stage %d is given to two nodes", s);
				return -1;
			}
			p->stage_node[s] = idx;
		}
	}
	for (s = 0; s < p->S; s++)
		if (!seen[s]) {
			disagree(k, "no node holds stage %d", s);
			return -1;
		}
	for (i = 1; i < p->nsel; i++)
		if (p->first_stage[p->rank_node[i]] <=
		    p->first_stage[p->rank_node[i - 1]])
			disagree(k, "node ranks do not follow stage order: %s "
			    "rank %d holds stage %d", c->nodes[p->rank_node[i]].id,
			    i, p->first_stage[p->rank_node[i]]);
	for (s = 0; s < p->S; s++)
		p->split[s] = (int)json_integer_value(json_array_get(lp,
		    (size_t)s));
	return 0;
}

/* The stages array against the split and the memory model. */
static void
check_stages(struct checker *k, json_t *root, const struct rplan *p)
{
	const struct gcase *c = k->c;
	json_t *stages = json_object_get(root, "stages"), *st;
	int64_t budget, weights, kv, minkv = INT64_MAX, exact;
	int s, a = 0, missing = 0, sum = 0;
	const char *node;

	for (s = 0; s < p->S; s++) {
		st = json_array_get(stages, (size_t)s);
		node = json_string_value(json_object_get(st, "node"));
		if (jint(st, "stage", &missing) != s)
			disagree(k, "stages[%d].stage is %" PRId64, s,
			    jint(st, "stage", &missing));
		if (node == NULL || strcmp(node,
		    c->nodes[p->stage_node[s]].id) != 0)
			disagree(k, "stages[%d].node is %s, nodes[] give it to %s",
			    s, node ? node : "(none)",
			    c->nodes[p->stage_node[s]].id);
		if (p->split[s] < 1)
			disagree(k, "stage %d has %d layers", s, p->split[s]);
		if (jint(st, "first_layer", &missing) != a ||
		    jint(st, "end_layer", &missing) != a + p->split[s])
			disagree(k, "stage %d has layers %" PRId64 "-%" PRId64
			    ", layer_partition gives %d-%d", s,
			    jint(st, "first_layer", &missing),
			    jint(st, "end_layer", &missing), a, a + p->split[s]);
		sum += p->split[s];
		if (c->sizes != SIZES_NONE && p->split[s] >= 1) {
			budget = node_budget(c, &c->nodes[p->stage_node[s]]);
			exact = node_budget_exact(c, &c->nodes[p->stage_node[s]]);
			kv = stage_kv(c, budget, s, p->S, a, a + p->split[s],
			    &weights);
			if (kv < minkv)
				minkv = kv;
			if (jint(st, "budget_bytes", &missing) != budget) {
				disagree(k, "stage %d budget_bytes %" PRId64
				    ", expected floor(%" PRId64 " * %.17g) - %"
				    PRId64 " = %" PRId64 "%s", s,
				    jint(st, "budget_bytes", &missing),
				    node_min_mem(&c->nodes[p->stage_node[s]]),
				    c->u, c->R, budget,
				    exact != budget ? " (in double precision)" : "");
			} else if (exact != budget)
				n_u_exact_differs++;
			if (jint(st, "weight_bytes", &missing) != weights)
				disagree(k, "stage %d weight_bytes %" PRId64
				    ", expected %" PRId64, s,
				    jint(st, "weight_bytes", &missing), weights);
			if (jint(st, "kv_tokens", &missing) != kv)
				disagree(k, "stage %d kv_tokens %" PRId64
				    ", expected %" PRId64, s,
				    jint(st, "kv_tokens", &missing), kv);
		} else if (json_object_get(st, "budget_bytes") ||
		    json_object_get(st, "kv_tokens"))
			disagree(k, "stage %d has memory figures without model "
			    "sizes", s);
		a += p->split[s];
	}
	if (sum != c->layers)
		disagree(k, "layer_partition sums to %d, model.layers is %d",
		    sum, c->layers);
	if (c->sizes == SIZES_NONE) {
		if (json_object_get(root, "kv_tokens") ||
		    json_object_get(root, "model"))
			disagree(k, "kv_tokens or model present without sizes");
		return;
	}
	if (jint(root, "kv_tokens", &missing) != minkv)
		disagree(k, "kv_tokens %" PRId64 ", the smallest stage's is %"
		    PRId64, jint(root, "kv_tokens", &missing), minkv);
	if (minkv < need_kv(c))
		disagree(k, "plan printed with kv_tokens %" PRId64 " below "
		    "min_kv_tokens %" PRId64 " (or a stage over its budget)",
		    minkv, need_kv(c));
}

static void
check_model(struct checker *k, json_t *root)
{
	const struct gcase *c = k->c;
	json_t *m = json_object_get(root, "model"), *lb;
	int missing = 0, i;

	if (c->sizes == SIZES_NONE)
		return;
	lb = json_object_get(m, "layer_bytes");
	if (!json_is_array(lb) || (int)json_array_size(lb) != c->layers) {
		disagree(k, "model.layer_bytes is not a list of %d", c->layers);
		return;
	}
	for (i = 0; i < c->layers; i++)
		if (json_integer_value(json_array_get(lb, (size_t)i)) !=
		    c->w[i]) {
			disagree(k, "model.layer_bytes[%d] is %" JSON_INTEGER_FORMAT
			    ", expected %" PRId64, i,
			    json_integer_value(json_array_get(lb, (size_t)i)),
			    c->w[i]);
			break;
		}
	if (jint(m, "embedding_bytes", &missing) != c->E)
		disagree(k, "model.embedding_bytes %" PRId64 ", expected %"
		    PRId64, jint(m, "embedding_bytes", &missing), c->E);
	if (jint(m, "head_bytes", &missing) != c->H)
		disagree(k, "model.head_bytes %" PRId64 ", expected %" PRId64,
		    jint(m, "head_bytes", &missing), c->H);
	if (jint(m, "kv_bytes_per_token", &missing) != c->k)
		disagree(k, "model.kv_bytes_per_token %" PRId64 ", expected %"
		    PRId64 "%s", jint(m, "kv_bytes_per_token", &missing), c->k,
		    c->fp8 ? " (kv_cache_dtype fp8 with an explicit size)" : "");
}

/* Placement rules that hold for every order policy. */
static void
check_placement_rules(struct checker *k, const struct rplan *p)
{
	const struct gcase *c = k->c;
	int i, node;

	if (p->nsel != c->expected)
		disagree(k, "%d nodes placed, expected_nodes is %d", p->nsel,
		    c->expected);
	for (i = 0; i < c->npins; i++) {
		node = c->pin_node[i];
		if (p->first_stage[node] != c->pin_stage[i])
			disagree(k, "pinned node %s is at stage %d, pinned to %d",
			    c->nodes[node].id, p->first_stage[node],
			    c->pin_stage[i]);
	}
}

static void
check_spares(struct checker *k, json_t *root, const struct rplan *p)
{
	const struct gcase *c = k->c;
	json_t *sp = json_object_get(root, "spares");
	int want = 0, i, idx, listed[MAXN];
	size_t si;
	json_t *v;

	memset(listed, 0, sizeof(listed));
	if (!json_is_array(sp)) {
		disagree(k, "spares is not a list");
		return;
	}
	json_array_foreach(sp, si, v) {
		idx = json_string_value(v) ? node_index(c, json_string_value(v))
		    : -1;
		if (idx < 0 || p->first_stage[idx] >= 0 || listed[idx]++)
			disagree(k, "spares lists %s, which is placed, unknown "
			    "or repeated", json_string_value(v) ?
			    json_string_value(v) : "?");
	}
	for (i = 0; i < c->n; i++)
		if (p->first_stage[i] < 0) {
			want++;
			if (!listed[i])
				disagree(k, "node %s is neither placed nor a spare",
				    c->nodes[i].id);
		}
	(void)want;
}

static void
check_header(struct checker *k, json_t *root, const struct rplan *p)
{
	const struct gcase *c = k->c;
	const char *s;
	int missing = 0, rank0 = p->rank_node[0];

	if (jint(root, "tp_size", &missing) != c->tp)
		disagree(k, "tp_size %" PRId64 ", expected %d",
		    jint(root, "tp_size", &missing), c->tp);
	if (jint(root, "layers", &missing) != c->layers)
		disagree(k, "layers %" PRId64 ", expected %d",
		    jint(root, "layers", &missing), c->layers);
	s = json_string_value(json_object_get(root, "order"));
	if (s == NULL || strcmp(s, order_names[c->order]) != 0)
		disagree(k, "order is %s", s ? s : "(none)");
	s = json_string_value(json_object_get(root, "partition"));
	if (s == NULL || strcmp(s, part_names[c->part]) != 0)
		disagree(k, "partition is %s", s ? s : "(none)");
	s = json_string_value(json_object_get(root, "master_addr"));
	if (s != NULL && strcmp(s, c->nodes[rank0].addr) != 0)
		disagree(k, "master_addr %s, node rank 0 has %s", s,
		    c->nodes[rank0].addr);
	if (json_object_get(root, "master_port") &&
	    jint(root, "master_port", &missing) != (c->port ? c->port : 29500))
		disagree(k, "master_port %" PRId64,
		    jint(root, "master_port", &missing));
}

/* "node:layers" per stage, in stage order. */
static void
format_layout(const struct gcase *c, const struct rplan *r, char *buf,
    size_t size)
{
	size_t len;
	int s;

	len = (size_t)snprintf(buf, size, "stage node:layers [");
	for (s = 0; s < r->S && len < size - 64; s++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s:%d",
		    s ? " " : "", c->nodes[r->stage_node[s]].id, r->split[s]);
	snprintf(buf + len, size - len, "]");
}

/* The optimum that the program's plan must reach. */
static void
check_optimum(struct checker *k, const struct rplan *want,
    const struct rplan *got)
{
	const struct gcase *c = k->c;
	int64_t budgets[MAXS], kv;
	int s;

	if (c->part == PART_MANUAL)
		for (s = 0; s < got->S && s < c->nmanual; s++)
			if (got->split[s] != c->manual[s]) {
				disagree(k, "layer_partition differs from the "
				    "configured manual split");
				break;
			}
	if (c->part == PART_EVEN) {
		int even[MAXS];

		even_split(c->layers, got->S, even);
		for (s = 0; s < got->S; s++)
			if (got->split[s] != even[s]) {
				disagree(k, "layer_partition is not the even split "
				    "of %d layers on %d stages", c->layers, got->S);
				break;
			}
	}
	if (c->sizes == SIZES_NONE)
		return;
	stage_budgets(c, got, budgets);
	kv = split_kv(c, budgets, got->S, got->split);
	if (kv != want->kv) {
		char buf[1024];

		format_layout(c, want, buf, sizeof(buf));
		disagree(k, "kv_tokens of the printed plan is %" PRId64 ", the "
		    "brute-force optimum is %" PRId64 ", reached by %s", kv,
		    want->kv, buf);
	}
}

static void
check_exact(struct checker *k, const struct rplan *want,
    const struct rplan *got)
{
	const struct gcase *c = k->c;
	int i, s;
	char wb[256] = "", gb[256] = "";

	for (i = 0; i < want->nsel; i++) {
		strncat(wb, c->nodes[want->rank_node[i]].id,
		    sizeof(wb) - strlen(wb) - 2);
		strncat(wb, " ", sizeof(wb) - strlen(wb) - 1);
	}
	for (i = 0; i < got->nsel; i++) {
		strncat(gb, c->nodes[got->rank_node[i]].id,
		    sizeof(gb) - strlen(gb) - 2);
		strncat(gb, " ", sizeof(gb) - strlen(gb) - 1);
	}
	if (strcmp(wb, gb) != 0 || want->S != got->S) {
		disagree(k, "node order (ranks 0..) is [%s], expected [%s]", gb,
		    wb);
		return;
	}
	for (i = 0; i < c->n; i++)
		if (want->first_stage[i] != got->first_stage[i])
			disagree(k, "node %s first_stage %d, expected %d",
			    c->nodes[i].id, got->first_stage[i],
			    want->first_stage[i]);
	if (want->loose)
		return;
	for (s = 0; s < want->S; s++)
		if (want->split[s] != got->split[s]) {
			disagree(k, "layer_partition[%d] is %d, expected %d", s,
			    got->split[s], want->split[s]);
			break;
		}
}

/* --- the env format -------------------------------------------------- */

static void
env_expect(struct checker *k, const char *block, const char *id,
    const char *var, const char *value)
{
	char line[512];
	const char *p;
	size_t n;

	n = (size_t)snprintf(line, sizeof(line), "\n%s=%s\n", var, value);
	p = strstr(block, line);
	if (p == NULL && strncmp(block, line + 1, n - 1) == 0)
		p = block;
	if (p == NULL)
		disagree(k, "env block of %s lacks %s=%s", id, var, value);
}

/* The text of the "# node ID" block of the env output, or NULL. */
static char *
env_block(const char *text, const char *id, int spare)
{
	char head[64];
	const char *p, *end;
	char *b;

	snprintf(head, sizeof(head), "# node %s%s\n", id, spare ? " (spare)" :
	    "");
	p = strstr(text, head);
	if (p == NULL || (p != text && p[-1] != '\n'))
		return NULL;
	p += strlen(head);
	end = strstr(p, "# node ");
	if (end == NULL)
		end = p + strlen(p);
	b = malloc((size_t)(end - p) + 2);
	b[0] = '\n';
	memcpy(b + 1, p, (size_t)(end - p));
	b[end - p + 1] = '\0';
	return b;
}

static int
env_count_vars(const char *block)
{
	int n = 0;
	const char *p;

	for (p = block; *p; p++)
		if (*p == '=' )
			n++;
	return n;
}

static void
check_env(struct checker *k, json_t *root, const char *envpath)
{
	const struct gcase *c = k->c;
	json_t *nodes = json_object_get(root, "nodes"), *v, *stages, *lp;
	char *text = NULL, *b, val[512], part[512];
	long len;
	FILE *f = fopen(envpath, "r");
	size_t ni;
	int missing = 0, fs, cnt, i;
	const char *master;

	if (f == NULL) {
		disagree(k, "no env output");
		return;
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	if (fread(text, 1, (size_t)len, f) != (size_t)len)
		len = 0;
	fclose(f);
	n_env_checked++;
	stages = json_object_get(root, "stages");
	lp = json_object_get(root, "layer_partition");
	part[0] = '\0';
	for (i = 0; i < (int)json_array_size(lp); i++)
		snprintf(part + strlen(part), sizeof(part) - strlen(part),
		    "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
		    json_integer_value(json_array_get(lp, (size_t)i)));
	master = json_string_value(json_object_get(json_array_get(nodes, 0),
	    "address"));
	json_array_foreach(nodes, ni, v) {
		const char *id = json_string_value(json_object_get(v, "id"));

		b = env_block(text, id, 0);
		if (b == NULL) {
			disagree(k, "env output has no block for %s", id);
			continue;
		}
		fs = (int)jint(v, "first_stage", &missing);
		cnt = (int)jint(v, "stage_count", &missing);
		env_expect(k, b, id, "PPCOORD_STATE", "assigned");
		snprintf(val, sizeof(val), "%" PRId64, jint(root, "generation",
		    &missing));
		env_expect(k, b, id, "PPCOORD_GENERATION", val);
		env_expect(k, b, id, "PPCOORD_NODE_ID", id);
		snprintf(val, sizeof(val), "%" PRId64, jint(v, "node_rank",
		    &missing));
		env_expect(k, b, id, "PPCOORD_NODE_RANK", val);
		snprintf(val, sizeof(val), "%zu", json_array_size(nodes));
		env_expect(k, b, id, "PPCOORD_NNODES", val);
		snprintf(val, sizeof(val), "%d", fs);
		env_expect(k, b, id, "PPCOORD_FIRST_STAGE", val);
		snprintf(val, sizeof(val), "%d", cnt);
		env_expect(k, b, id, "PPCOORD_STAGE_COUNT", val);
		snprintf(val, sizeof(val), "%" PRId64, jint(root, "num_stages",
		    &missing));
		env_expect(k, b, id, "PPCOORD_NUM_STAGES", val);
		snprintf(val, sizeof(val), "%d", c->tp);
		env_expect(k, b, id, "PPCOORD_TP_SIZE", val);
		snprintf(val, sizeof(val), "%" PRId64,
		    jint(json_array_get(stages, (size_t)fs), "first_layer",
		    &missing));
		env_expect(k, b, id, "PPCOORD_FIRST_LAYER", val);
		snprintf(val, sizeof(val), "%" PRId64,
		    jint(json_array_get(stages, (size_t)(fs + cnt - 1)),
		    "end_layer", &missing));
		env_expect(k, b, id, "PPCOORD_END_LAYER", val);
		env_expect(k, b, id, "PPCOORD_MASTER_ADDR", master ? master : "");
		snprintf(val, sizeof(val), "%d", c->port ? c->port : 29500);
		env_expect(k, b, id, "PPCOORD_MASTER_PORT", val);
		env_expect(k, b, id, "VLLM_PP_LAYER_PARTITION", part);
		env_expect(k, b, id, "SGLANG_PP_LAYER_PARTITION", part);
		if (env_count_vars(b) != 15)
			disagree(k, "env block of %s has %d variables, the "
			    "stage environment file has 15", id,
			    env_count_vars(b));
		free(b);
	}
	v = json_object_get(root, "spares");
	json_array_foreach(v, ni, nodes) {
		const char *id = json_string_value(nodes);

		b = env_block(text, id, 1);
		if (b == NULL) {
			disagree(k, "env output has no spare block for %s", id);
			continue;
		}
		env_expect(k, b, id, "PPCOORD_STATE", "standby");
		env_expect(k, b, id, "PPCOORD_NODE_ID", id);
		free(b);
	}
	free(text);
}

/* Whether a word occurs in text as a whole word. */
static int
names_word(const char *text, const char *word)
{
	const char *p = text;
	size_t n = strlen(word);

	while ((p = strstr(p, word)) != NULL) {
		if ((p == text || strchr(" \"'(,:", p[-1]) != NULL) &&
		    strchr(" \"'),:;.\n", p[n]) != NULL)
			return 1;
		p += n;
	}
	return 0;
}

/* A pin error names the nodes of one pin past the end or of one pair
 * of overlapping pins. */
static void
check_pin_message(struct checker *k, const struct rplan *want,
    const char *errpath)
{
	const struct gcase *c = k->c;
	char text[4096] = "";
	FILE *f = fopen(errpath, "r");
	size_t n;
	int i, ok = 0;

	if (f == NULL)
		return;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	for (i = 0; i < want->npin_faults && !ok; i++)
		ok = names_word(text, c->nodes[want->pin_fault[i][0]].id) &&
		    (want->pin_fault[i][1] < 0 ||
		    names_word(text, c->nodes[want->pin_fault[i][1]].id));
	if (!ok)
		disagree(k, "the pin error names neither the node of a pin past "
		    "the last stage nor both nodes of two overlapping pins: %s",
		    text);
}

/* The smallest memory_total whose budget is at least `need` bytes. */
static int64_t
least_memory(const struct gcase *c, int64_t need)
{
	struct gnode g;
	int64_t m;

	memset(&g, 0, sizeof(g));
	g.ngpu = 1;
	m = (int64_t)((double)(need + c->R) / c->u) - 2;
	if (m < 0)
		m = 0;
	for (;;) {
		g.mem[0] = m;
		if (node_budget(c, &g) >= need)
			break;
		m++;
	}
	for (; m > 0; m--) {
		g.mem[0] = m - 1;
		if (node_budget(c, &g) < need)
			break;
	}
	return m;
}

/*
 * The message of a fixed split that does not fit: it names a stage that
 * is short, the bytes per GPU it is short (weights plus the KV cache of
 * min_kv_tokens, less the budget) and the least memory_total that fits.
 */
static void
check_short_message(struct checker *k, const struct rplan *want,
    const char *errpath)
{
	const struct gcase *c = k->c;
	char text[4096] = "", id[64];
	const char *p;
	FILE *f = fopen(errpath, "r");
	int stage, s, a = 0;
	int64_t shortb, least, budget, weights, need;
	size_t n;

	if (f == NULL)
		return;
	n_short_checked++;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	p = strstr(text, ": stage ");
	if (p == NULL || sscanf(p, ": stage %d on node %63s is %" SCNd64,
	    &stage, id, &shortb) != 3 || stage < 0 || stage >= want->S) {
		disagree(k, "the message does not name a stage and node: %s",
		    text);
		return;
	}
	for (s = 0; s < stage; s++)
		a += want->split[s];
	budget = node_budget(c, &c->nodes[want->stage_node[stage]]);
	stage_kv(c, budget, stage, want->S, a, a + want->split[stage],
	    &weights);
	need = weights + ceil_div((__int128)need_kv(c) * c->k *
	    want->split[stage], c->tp);
	if (strcmp(id, c->nodes[want->stage_node[stage]].id) != 0)
		disagree(k, "the message names stage %d on %s, which the "
		    "reference gives to %s", stage, id,
		    c->nodes[want->stage_node[stage]].id);
	if (need <= budget)
		disagree(k, "the message names stage %d, which fits", stage);
	else if (shortb != need - budget)
		disagree(k, "the message says stage %d is %" PRId64 " bytes "
		    "short, expected %" PRId64, stage, shortb, need - budget);
	p = strstr(text, "at least ");
	least = least_memory(c, need);
	if (p == NULL || sscanf(p, "at least %" SCNd64, &shortb) != 1)
		disagree(k, "the message gives no least GPU memory: %s", text);
	else if (shortb != least)
		disagree(k, "the message gives %" PRId64 " bytes as the least "
		    "GPU memory for stage %d, expected %" PRId64, shortb, stage,
		    least);
}

/* --- one case -------------------------------------------------------- */

static void
print_file(const char *path)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
}

static void
describe_weights(const struct gcase *c)
{
	int i;

	if (c->sizes != SIZES_SAFETENSORS)
		return;
	printf("safetensors (%d files%s%s): E=%" PRId64 " H=%" PRId64
	    " layer_bytes=", c->nfiles, c->tied ? ", tied lm_head" : "",
	    c->mtp ? ", MTP layers past num_hidden_layers" : "", c->E, c->H);
	for (i = 0; i < c->layers; i++)
		printf("%s%" PRId64, i ? "," : "", c->w[i]);
	printf("\n");
}

struct case_files {
	char		 dir[256];
	char		 conf[300];
	char		 inv[300];
	char		 out[300];
	char		 err[300];
	char		 envout[300];
};

/* Checks the program's exit status and output against the reference. */
static void
evaluate(struct checker *k, const struct gcase *c, const struct case_files *f,
    int rc, int with_env, int count)
{
	struct rplan want, got;
	json_t *root;
	json_error_t jerr;

	memset(k, 0, sizeof(*k));
	k->c = c;
	k->dir = f->dir;
	ref_compute(c, &want);
	if (want.ambiguous) {
		if (count) {
			n_ambiguous++;
			printf("AMBIGUOUS seed %" PRIu64 ": %s; ppcoordctl exited "
			    "%d\n", c->seed, want.why, rc);
		}
	} else if (!want.ok) {
		n_infeasible += count;
		if (rc != 1 && !(want.errexit_any && rc == 2))
			disagree(k, "expected exit 1 (%s), ppcoordctl exited %d",
			    want.why, rc);
		else if (rc == 1 && want.memory_short)
			check_short_message(k, &want, f->err);
		else if (rc == 1 && want.npin_faults > 0 &&
		    want.S <= c->layers)
			check_pin_message(k, &want, f->err);
	} else {
		n_feasible += count;
		if (rc != 0) {
			char buf[1024];

			format_layout(c, &want, buf, sizeof(buf));
			disagree(k, "expected a plan (kv_tokens %" PRId64 ", %s), "
			    "ppcoordctl exited %d", want.kv, buf, rc);
		}
	}
	if (rc != 0 || !(want.ok || want.ambiguous))
		return;
	root = json_load_file(f->out, 0, &jerr);
	if (root == NULL) {
		disagree(k, "output is not JSON: %s", jerr.text);
		return;
	}
	if (read_plan(k, root, &got) == 0) {
		check_header(k, root, &got);
		check_placement_rules(k, &got);
		check_spares(k, root, &got);
		check_stages(k, root, &got);
		check_model(k, root);
		if (!want.ambiguous) {
			if (c->order != ORDER_MEMORY)
				check_exact(k, &want, &got);
			check_optimum(k, &want, &got);
		}
		if (with_env)
			check_env(k, root, f->envout);
	}
	json_decref(root);
}

static void
report(const struct checker *k, const struct gcase *c,
    const struct case_files *f)
{
	printf("==== DISAGREEMENT seed %" PRIu64 " (order %s, partition %s, "
	    "case in %s)\n%s", c->seed, order_names[c->order],
	    part_names[c->part], f->dir, k->msgs);
	printf("---- %s\n", f->conf);
	print_file(f->conf);
	printf("---- %s\n", f->inv);
	print_file(f->inv);
	describe_weights(c);
	printf("---- ppcoordctl stderr\n");
	print_file(f->err);
	printf("----\n");
}

static int
run_case(const char *ctl, const char *workdir, uint64_t seed, int with_env)
{
	struct gcase c;
	struct checker k;
	struct case_files f;
	char cmd[700];
	int rc;

	gen_case(&c, seed);
	fix_head_bytes(&c);
	snprintf(f.dir, sizeof(f.dir), "%s/case-%" PRIu64, workdir, seed);
	mkdir(f.dir, 0755);
	snprintf(f.conf, sizeof(f.conf), "%s/head.conf", f.dir);
	snprintf(f.inv, sizeof(f.inv), "%s/inventory.json", f.dir);
	snprintf(f.out, sizeof(f.out), "%s/plan.json", f.dir);
	snprintf(f.err, sizeof(f.err), "%s/plan.err", f.dir);
	snprintf(f.envout, sizeof(f.envout), "%s/plan.env", f.dir);
	write_conf(&c, f.dir, f.conf);
	write_inventory(&c, f.inv);
	if (c.sizes == SIZES_SAFETENSORS)
		write_weights(&c, f.dir);
	n_cases++;
	n_by_kind[c.order][c.part]++;

	rc = run_ctl(ctl, f.conf, f.inv, "json", f.out, f.err);
	if (rc == 127) {
		print_file(f.err);
		fprintf(stderr, "planref: %s did not run\n", ctl);
		exit(2);
	}
	if (rc == 0 && with_env)
		run_ctl(ctl, f.conf, f.inv, "env", f.envout, f.err);
	evaluate(&k, &c, &f, rc, with_env, 1);

	if (k.bad) {
		n_disagree++;
		report(&k, &c, &f);
		return 1;
	}
	if (verbose)
		printf("ok seed %" PRIu64 " %s/%s exit %d\n", seed,
		    order_names[c.order], part_names[c.part], rc);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "planref: cannot remove %s\n", f.dir);
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: planref -c PPCOORDCTL -d WORKDIR [-s SEED] "
	    "[-n CASES] [-t SECONDS] [-1 SEED] [-v]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *ctl = NULL, *workdir = NULL;
	uint64_t seed = 1, one = 0;
	long count = 2000, i, max_report = 40;
	double limit = 60, start;
	int ch, has_one = 0;

	while ((ch = getopt(argc, argv, "c:d:s:n:t:1:m:v")) != -1) {
		switch (ch) {
		case 'c': ctl = optarg; break;
		case 'd': workdir = optarg; break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'n': count = strtol(optarg, NULL, 10); break;
		case 't': limit = strtod(optarg, NULL); break;
		case 'm': max_report = strtol(optarg, NULL, 10); break;
		case '1': one = strtoull(optarg, NULL, 10); has_one = 1; break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	if (ctl == NULL || workdir == NULL)
		usage();
	mkdir(workdir, 0755);
	if (has_one) {
		verbose = 1;
		return run_case(ctl, workdir, one, 1);
	}
	start = now_s();
	for (i = 0; i < count && now_s() - start < limit; i++) {
		run_case(ctl, workdir, seed + (uint64_t)i, i % 3 == 0);
		if (n_disagree >= max_report)
			break;
	}
	printf("planref: %ld cases in %.1f s (%ld with a plan, %ld "
	    "infeasible, %ld ambiguous), %ld env outputs checked, %ld "
	    "disagreements\n", n_cases, now_s() - start, n_feasible,
	    n_infeasible, n_ambiguous, n_env_checked, n_disagree);
	printf("planref: %ld out-of-memory messages checked for the stage, "
	    "the bytes short and the least GPU memory\n", n_short_checked);
	printf("planref: order/partition cases:");
	for (i = 0; i < 9; i++)
		printf(" %s/%s=%ld", order_names[i / 3], part_names[i % 3],
		    n_by_kind[i / 3][i % 3]);
	printf("\nplanref: %ld stage budgets where the exact decimal "
	    "utilization gives another byte\n", n_u_exact_differs);
	return n_disagree ? 1 : 0;
}
