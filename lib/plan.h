/*
 * The planning engine: node order, stage placement, pins, spares and the
 * layer split. Pure: no sockets, no files, no clock. The same code runs in
 * the head on the live inventory and in `ppcoordctl plan` offline.
 */
#ifndef PPCOORD_PLAN_H
#define PPCOORD_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inv.h"
#include "model.h"
#include "util.h"

enum plan_order {
	PLAN_ORDER_VLLM,	/* driver, then fewer workers, then address as a string */
	PLAN_ORDER_LISTED,	/* plan.nodes, then the rest in vllm order */
	PLAN_ORDER_MEMORY,	/* the order that gives the largest KV cache */
};

enum plan_partition {
	PLAN_PARTITION_EVEN,	/* vLLM's get_pp_indices split */
	PLAN_PARTITION_MANUAL,	/* plan.layer_partition */
	PLAN_PARTITION_MEMORY,	/* the split with the largest KV cache */
};

/* Results of plan_compute other than 0. */
#define PLAN_EINFEASIBLE	(-1)	/* the inputs cannot be satisfied: exit 1 */
#define PLAN_ENOMEM		(-2)

/* Maximum length in bytes of the layer partition as text ("27,27,26"),
 * which agents write into the environment file (ENVFILE_PARTITION_MAX - 1). */
#define PLAN_PARTITION_TEXT_MAX	32767

struct plan_pin {
	char		 node[PPC_NODE_ID_MAX + 1];
	uint32_t	 stage;
};

/* The planning inputs of the head config: the model, plan and cluster
 * groups. Arrays are borrowed; the caller keeps them alive. */
struct plan_config {
	uint32_t		 layers;
	uint32_t		 tp_size;	/* 0: every node's worker count */
	uint32_t		 expected_nodes;	/* 0: every node in the inventory */
	uint16_t		 master_port;
	enum plan_order		 order;
	enum plan_partition	 partition;
	const uint32_t		*layer_partition;	/* manual split */
	size_t			 nlayer_partition;
	const char		*driver;	/* order vllm; NULL or "" for none */
	const char * const	*listed;	/* order listed: plan.nodes */
	size_t			 nlisted;
	const struct plan_pin	*pins;
	size_t			 npins;

	/* Memory model; used only when sizes is not NULL. */
	const struct model_sizes *sizes;
	double			 gpu_memory_utilization;	/* u, default 0.9 */
	uint64_t		 activation_reserve;	/* R per GPU, default 1 GiB */
	uint64_t		 min_kv_tokens;		/* default 1 */
};

/* Sets the defaults: no layers or nodes, order vllm, partition even,
 * master_port 29500, u 0.9 (as in vLLM), R 1 GiB, min_kv_tokens 1. */
void	plan_config_init(struct plan_config *cfg);

/*
 * A soft pin from an earlier plan: keep `node` at `first_stage` when it is
 * present, not displaced by a hard pin, and its stages fit there. The head
 * passes one per placed node so that re-planning moves as little as
 * possible. Hinted nodes are also chosen before others when some must
 * become spares.
 */
struct plan_hint {
	const char	*node;
	uint32_t	 first_stage;
};

struct plan_node {
	char		 id[PPC_NODE_ID_MAX + 1];
	char		 address[PPC_ADDRESS_MAX + 1];
	size_t		 inv_index;	/* index of the node in the input inventory */
	uint32_t	 node_rank;	/* index in plan.nodes */
	uint32_t	 first_stage;
	uint32_t	 stage_count;
	uint32_t	 workers;
	bool		 pinned;
	bool		 hinted;	/* kept in place by a plan_hint */
	char		 reason[192];	/* why this place, for --explain */
};

struct plan_stage {
	uint32_t	 stage;
	uint32_t	 node;		/* index into plan.nodes */
	uint32_t	 first_layer;
	uint32_t	 end_layer;	/* exclusive, as in vLLM's get_pp_indices */
	/* Memory figures per GPU, valid when plan.have_memory. */
	int64_t		 budget_bytes;
	uint64_t	 weight_bytes;
	int64_t		 kv_tokens;
};

struct plan_spare {
	char		 id[PPC_NODE_ID_MAX + 1];
	size_t		 inv_index;
	char		 reason[192];
};

struct plan {
	uint64_t		 generation;	/* set by the head; 0 offline */
	uint32_t		 num_stages;
	uint32_t		 tp_size;
	uint32_t		 layers;
	enum plan_order		 order;
	enum plan_partition	 partition;
	uint32_t		*layer_partition;	/* num_stages entries */
	size_t			 nnodes;
	struct plan_node	*nodes;		/* in node-rank order */
	struct plan_stage	*stages;	/* num_stages entries */
	size_t			 nspares;
	struct plan_spare	*spares;	/* in policy order */
	char			 master_addr[PPC_ADDRESS_MAX + 1];
	uint16_t		 master_port;
	bool			 have_memory;
	int64_t			 kv_tokens;	/* min over stages, when have_memory */
};

void	plan_init(struct plan *p);
void	plan_free(struct plan *p);
int	plan_copy(struct plan *dst, const struct plan *src);

/*
 * Computes a plan for `inv` under `cfg`, keeping hinted nodes in place
 * where possible. `out` is initialized here (an earlier content is not
 * freed) and is empty after an error. Pins and hints of nodes absent from
 * `inv` are ignored. When kept hints leave some node no free stages, the
 * placement is redone without hints. Returns 0; PLAN_EINFEASIBLE with a
 * message that names the nodes, stages or numbers involved; or
 * PLAN_ENOMEM.
 *
 * Order "memory" searches every subset and layout of the unpinned nodes
 * when there are at most 12, under every partition policy. With more, it
 * is exact when the nodes other than pinned and hinted ones have the same
 * number of stages and the partition is even or manual, and other cases
 * use a heuristic. The result is never worse than the vllm order, which
 * is kept on a tie.
 */
int	plan_compute(const struct plan_config *cfg, const struct inv *inv,
	    const struct plan_hint *hints, size_t nhints, struct plan *out,
	    char *err, size_t errlen);

/*
 * Parses a VLLM_PP_LAYER_PARTITION string ("20,10,50") into a malloc'd
 * array. Rejects empty, zero, negative, non-numeric and overlong entries
 * with a message that names the entry. Returns 0 or -1.
 */
int	plan_parse_partition(const char *s, uint32_t **out, size_t *n,
	    char *err, size_t errlen);

/* vLLM's even split of `layers` over `stages` into out[stages]. */
void	plan_even_partition(uint32_t layers, uint32_t stages, uint32_t *out);

/*
 * Memory figures per GPU of one stage with `n` layers starting at
 * `first_layer` on GPUs whose smallest memory_total is `gpu_memory`:
 *   budget    = floor(gpu_memory * u) - R
 *   weights   = ceil((layer bytes + E if is_first + H if is_last) / tp)
 *   kv_tokens = floor((budget - weights) * tp / (k * n)), negative when
 *               the weights do not fit. cfg->sizes must be set.
 */
void	plan_stage_memory(const struct plan_config *cfg, uint64_t gpu_memory,
	    uint32_t tp_size, uint32_t first_layer, uint32_t n, bool is_first,
	    bool is_last, int64_t *budget, uint64_t *weights,
	    int64_t *kv_tokens);

/*
 * Fills the memory figures of every stage of `p` for the layer split
 * `partition` (p->num_stages entries), and returns the plan's kv_tokens.
 * Each node is looked up by inv_index, and one outside `inv` counts as
 * 0 bytes of GPU memory. Returns INT64_MIN when cfg->sizes is NULL.
 * Used for the plan itself and for --explain's even-split comparison.
 */
int64_t	plan_fill_memory(const struct plan_config *cfg, const struct inv *inv,
	    const struct plan *p, const uint32_t *partition,
	    struct plan_stage *stages);

const char	*plan_order_name(enum plan_order o);
const char	*plan_partition_name(enum plan_partition p);
int		 plan_order_parse(const char *s, enum plan_order *o);
int		 plan_partition_parse(const char *s, enum plan_partition *p);

/*
 * Output formats, in plan_fmt.c. The char * functions return a malloc'd
 * string, NULL on no memory. `cfg` may be NULL; it adds the "model"
 * object to a plan JSON with memory figures.
 */
char	*plan_to_json(const struct plan *p, const struct plan_config *cfg);
/* The plan JSON as a json_t * (declared void * to keep jansson out). */
void	*plan_to_jansson(const struct plan *p, const struct plan_config *cfg);
/*
 * Reads a plan JSON back into `p`, which is overwritten, not freed. Every
 * member is checked, and so is the consistency of ranks, stages and layer
 * ranges. The inventory that inv_index refers to is not part of the plan,
 * so the restored nodes and spares have inv_index SIZE_MAX. Returns 0, or
 * -1 with a message in err and `p` left empty.
 */
int	 plan_from_jansson(struct plan *p, const void *json, char *err,
	    size_t errlen);
char	*plan_to_table(const struct plan *p, const struct inv *inv);
/* The environment file text of plan node `node` (an index into nodes). */
char	*plan_node_env(const struct plan *p, size_t node);
/* The standby environment file text of spare `spare` (an index into
 * spares), as the agent writes it on a Standby. */
char	*plan_spare_env(const struct plan *p, size_t spare);
char	*plan_explain(const struct plan *p, const struct plan_config *cfg,
	    const struct inv *inv);

#endif
