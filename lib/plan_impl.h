/*
 * Internals shared by the files of the planning engine (plan.c,
 * plan_order.c, plan_place.c, plan_mem.c, plan_memorder.c,
 * plan_memexact.c). Not for other modules.
 */
#ifndef PPCOORD_PLAN_IMPL_H
#define PPCOORD_PLAN_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"

/* Limits that keep the memory model's products inside 128 bits. */
#define PLAN_MEM_BYTES_MAX	(1ULL << 62)	/* all weights together */
#define PLAN_KV_BYTES_MAX	(1ULL << 40)	/* kv_bytes_per_token */
#define PLAN_KV_TOKENS_MAX	(1ULL << 40)	/* plan.min_kv_tokens */

/* The memory order searches every layout of up to this many unpinned
 * nodes; beyond it a heuristic is used. */
#define PLAN_EXACT_NODES	12

typedef __int128 plan_i128;

/* a / b rounded toward minus infinity, for b > 0: C's division rounds a
 * negative quotient toward zero. Inline because the memory order's search
 * calls it in its innermost loop. */
static inline plan_i128
plan_div_floor(plan_i128 a, plan_i128 b)
{
	plan_i128	q = a / b;

	if (a % b != 0 && a < 0)
		q--;
	return q;
}

/* A closed interval of layer boundary positions. */
struct plan_ivl {
	uint32_t	 lo;
	uint32_t	 hi;
};

/* The model's sizes prepared for fast range sums and range maxima. */
struct plan_mem {
	uint32_t	 layers;
	uint32_t	 tp;
	uint64_t	 embedding;	/* E */
	uint64_t	 head;		/* H */
	uint64_t	 kv;		/* k */
	uint64_t	*prefix;	/* layers + 1 prefix sums of w */
	uint64_t	*rmq;		/* [l][i]: max of w[i, i + 2^l) */
	uint32_t	 levels;
	struct plan_ivl	*cur;		/* scratch, layers + 2 intervals each */
	struct plan_ivl	*next;
};

/* Everything plan_compute derives from its inputs before ordering. */
struct plan_ctx {
	const struct plan_config *cfg;
	const struct inv	*inv;
	const struct plan_hint	*hints;
	size_t			 nhints;
	size_t			 n;		/* inventory nodes */
	uint32_t		 tp;
	uint32_t		*count;		/* stages per inventory node */
	int64_t			*pin;		/* pinned first stage or -1 */
	int64_t			*hint;		/* hinted first stage or -1 */
	size_t			 npinned;
	size_t			*vllm;		/* indices in vllm order */
	size_t			*vrank;		/* position in vllm order */
	size_t			*byid;		/* indices sorted by id */
	bool			*kept;		/* hinted node kept in place */
	int64_t			*budget;	/* budget_s, with sizes */
	uint64_t		*minmem;	/* minimum memory_total */
	bool			 have_mem;
	struct plan_mem		 mem;
	char			(*why)[192];	/* policy reason per node */
};

/* plan_order.c */
int	plan_ctx_init(struct plan_ctx *c, const struct plan_config *cfg,
	    const struct inv *inv, const struct plan_hint *hints,
	    size_t nhints, char *err, size_t errlen);
void	plan_ctx_free(struct plan_ctx *c);
size_t	plan_ctx_find(const struct plan_ctx *c, const char *id);
int	plan_order_listed(struct plan_ctx *c, size_t *seq);
int	plan_build(struct plan_ctx *c, const size_t *seq, struct plan *out,
	    char *err, size_t errlen);
int	plan_place_fixed(struct plan_ctx *c, const bool *used,
	    uint32_t stages, int64_t *owner, bool use_hints, char *err,
	    size_t errlen);
int	plan_select(struct plan_ctx *c, const size_t *seq, bool *used,
	    char *err, size_t errlen);

/* plan_mem.c */
int	plan_mem_init(struct plan_mem *m, const struct plan_config *cfg,
	    uint32_t tp, char *err, size_t errlen);
void	plan_mem_free(struct plan_mem *m);
int64_t	plan_mem_budget(const struct plan_config *cfg, uint64_t memory);
plan_i128 plan_mem_tokens_max(const struct plan_mem *m, uint32_t stages,
	    const int64_t *budget);
size_t	plan_mem_step(struct plan_mem *m, uint32_t stages, uint32_t s,
	    int64_t budget, plan_i128 tokens, plan_i128 slack,
	    const struct plan_ivl *in, size_t nin, struct plan_ivl *out);
int	plan_mem_reach(struct plan_mem *m, uint32_t stages,
	    const int64_t *budget, plan_i128 tokens, plan_i128 slack);
int	plan_mem_best(struct plan_mem *m, uint32_t stages,
	    const int64_t *budget, plan_i128 lower, uint32_t *split,
	    int64_t *tokens);
int	plan_mem_closest(struct plan_mem *m, uint32_t stages,
	    const int64_t *budget, uint64_t min_tokens, uint32_t *split);
int	plan_mem_check(const struct plan_config *cfg, const struct inv *inv,
	    struct plan *p, bool best_split, char *err, size_t errlen);

/*
 * The memory order's slot model: when every candidate (used node that is
 * neither pinned nor kept by a hint) has the same stage count, the
 * candidates fill fixed stage ranges ("slots") in order.
 */
struct plan_mo {
	struct plan_ctx	*c;
	uint32_t	 stages;
	uint32_t	 cnt;		/* stages per candidate */
	size_t		 nslots;
	size_t		*cand;		/* candidates in vllm order */
	size_t		 ncand;
	size_t		*top;		/* candidates, largest budget first */
	int64_t		*owner;		/* fixed node per stage, or -1 */
	int64_t		*budget;	/* per stage; slot stages set per try */
	uint32_t	*slot;		/* first stage of each slot */
	uint32_t	*split;		/* scratch layer split */
	bool		*used;
};

/* plan_mo_layout returns this past PLAN_EXACT_NODES unpinned nodes or
 * when its interval lists grow too large. */
#define PLAN_MO_TOO_LARGE	(-3)

/* plan_memorder.c */
int	plan_memory_order(struct plan_ctx *c, size_t *seq);
void	plan_mo_apply(struct plan_mo *mo, const size_t *order);

/* plan_memexact.c */
int	plan_mo_layout(struct plan_ctx *c, size_t *seq);

#endif
