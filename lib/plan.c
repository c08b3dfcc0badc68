/*
 * The planning engine's entry points: defaults, names of the policies,
 * the layer partition syntax, and plan_compute, which chooses the node
 * order and hands it to the placement code.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_impl.h"

void
plan_config_init(struct plan_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->master_port = 29500;
	cfg->order = PLAN_ORDER_VLLM;
	cfg->partition = PLAN_PARTITION_EVEN;
	cfg->gpu_memory_utilization = 0.9;
	cfg->activation_reserve = 1ULL << 30;
	cfg->min_kv_tokens = 1;
}

static const char *const order_names[] = { "vllm", "listed", "memory" };
static const char *const partition_names[] = { "even", "manual", "memory" };

const char *
plan_order_name(enum plan_order o)
{
	if ((unsigned)o >= sizeof(order_names) / sizeof(order_names[0]))
		return "unknown";
	return order_names[o];
}

const char *
plan_partition_name(enum plan_partition p)
{
	if ((unsigned)p >= sizeof(partition_names) / sizeof(partition_names[0]))
		return "unknown";
	return partition_names[p];
}

/* Returns 0, or -1 when s is no order policy name. */
int
plan_order_parse(const char *s, enum plan_order *o)
{
	unsigned	 i;

	for (i = 0; i < sizeof(order_names) / sizeof(order_names[0]); i++) {
		if (s != NULL && strcmp(s, order_names[i]) == 0) {
			*o = (enum plan_order)i;
			return 0;
		}
	}
	return -1;
}

/* Returns 0, or -1 when s is no partition policy name. */
int
plan_partition_parse(const char *s, enum plan_partition *p)
{
	unsigned	 i;

	for (i = 0; i < sizeof(partition_names) / sizeof(partition_names[0]);
	    i++) {
		if (s != NULL && strcmp(s, partition_names[i]) == 0) {
			*p = (enum plan_partition)i;
			return 0;
		}
	}
	return -1;
}

void
plan_init(struct plan *p)
{
	memset(p, 0, sizeof(*p));
}

void
plan_free(struct plan *p)
{
	free(p->layer_partition);
	free(p->nodes);
	free(p->stages);
	free(p->spares);
	plan_init(p);
}

/* Deep-copies src into dst (dst is overwritten, not freed). */
int
plan_copy(struct plan *dst, const struct plan *src)
{
	*dst = *src;
	dst->layer_partition = NULL;
	dst->nodes = NULL;
	dst->stages = NULL;
	dst->spares = NULL;

	dst->layer_partition = calloc(src->num_stages > 0 ? src->num_stages : 1,
	    sizeof(*dst->layer_partition));
	dst->stages = calloc(src->num_stages > 0 ? src->num_stages : 1,
	    sizeof(*dst->stages));
	dst->nodes = calloc(src->nnodes > 0 ? src->nnodes : 1,
	    sizeof(*dst->nodes));
	dst->spares = calloc(src->nspares > 0 ? src->nspares : 1,
	    sizeof(*dst->spares));
	if (dst->layer_partition == NULL || dst->stages == NULL ||
	    dst->nodes == NULL || dst->spares == NULL) {
		plan_free(dst);
		return -1;
	}
	if (src->layer_partition != NULL)
		memcpy(dst->layer_partition, src->layer_partition,
		    src->num_stages * sizeof(*dst->layer_partition));
	if (src->stages != NULL)
		memcpy(dst->stages, src->stages,
		    src->num_stages * sizeof(*dst->stages));
	if (src->nodes != NULL)
		memcpy(dst->nodes, src->nodes,
		    src->nnodes * sizeof(*dst->nodes));
	if (src->spares != NULL)
		memcpy(dst->spares, src->spares,
		    src->nspares * sizeof(*dst->spares));
	return 0;
}

/*
 * vLLM's get_pp_indices (vllm/distributed/utils.py): layers / stages
 * each, and the remainder adds one layer to stages stages - 2,
 * stages - 3, ..., so the last stage, which also has the final norm and
 * the LM head, gets none.
 */
void
plan_even_partition(uint32_t layers, uint32_t stages, uint32_t *out)
{
	uint32_t	 s, base, rem;

	if (stages == 0)
		return;
	base = layers / stages;
	rem = layers % stages;
	for (s = 0; s < stages; s++)
		out[s] = base;
	for (s = 0; s < rem; s++)
		out[stages - 2 - s]++;
}

/* Parses one entry of a layer partition: digits only, 1 to 100000. */
static int
partition_entry(const char *s, size_t len, size_t index, uint32_t *out,
    char *err, size_t errlen)
{
	unsigned long	 v = 0;
	size_t		 i;

	if (len == 0) {
		snprintf(err, errlen, "layer partition entry %zu is empty; "
		    "expected comma-separated positive integers such as "
		    "\"20,10,50\"", index);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			snprintf(err, errlen, "layer partition entry %zu "
			    "\"%.*s\" is not a positive integer", index,
			    (int)(len > 32 ? 32 : len), s);
			return -1;
		}
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > MODEL_LAYERS_MAX) {
			snprintf(err, errlen, "layer partition entry %zu "
			    "\"%.*s\" is more than %u layers", index,
			    (int)(len > 32 ? 32 : len), s, MODEL_LAYERS_MAX);
			return -1;
		}
	}
	if (v == 0) {
		snprintf(err, errlen, "layer partition entry %zu is 0, but "
		    "every stage needs at least one layer", index);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int
plan_parse_partition(const char *s, uint32_t **out, size_t *n, char *err,
    size_t errlen)
{
	uint32_t	*v;
	const char	*p, *end, *b, *e;
	size_t		 cap = 1, k = 0;

	*out = NULL;
	*n = 0;
	for (p = s; *p != '\0'; p++)
		cap += *p == ',';
	if (cap > MODEL_LAYERS_MAX) {
		snprintf(err, errlen, "layer partition has more than %u "
		    "entries", MODEL_LAYERS_MAX);
		return -1;
	}
	if ((v = calloc(cap, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (p = s;; p = end + 1) {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		for (b = p; b < end && (*b == ' ' || *b == '\t'); b++)
			;
		for (e = end; e > b && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		if (partition_entry(b, (size_t)(e - b), k + 1, &v[k], err,
		    errlen) != 0) {
			free(v);
			return -1;
		}
		k++;
		if (*end == '\0')
			break;
	}
	*out = v;
	*n = k;
	return 0;
}

/* Checks the parts of the config that the head's config parser may not. */
static int
check_config(const struct plan_config *cfg, char *err, size_t errlen)
{
	if (cfg->layers == 0) {
		snprintf(err, errlen, "model.layers is 0");
		return PLAN_EINFEASIBLE;
	}
	if ((cfg->partition == PLAN_PARTITION_MEMORY ||
	    cfg->order == PLAN_ORDER_MEMORY) && cfg->sizes == NULL) {
		snprintf(err, errlen, "plan.%s = \"memory\" needs the model "
		    "sizes: set model.hf_config, model.weights_dir or "
		    "model.layer_bytes and model.kv_bytes_per_token",
		    cfg->order == PLAN_ORDER_MEMORY ? "order" : "partition");
		return PLAN_EINFEASIBLE;
	}
	if (cfg->sizes == NULL)
		return 0;
	if (!(cfg->gpu_memory_utilization > 0.0 &&
	    cfg->gpu_memory_utilization <= 1.0)) {
		snprintf(err, errlen, "plan.gpu_memory_utilization is %g, "
		    "expected more than 0 and at most 1",
		    cfg->gpu_memory_utilization);
		return PLAN_EINFEASIBLE;
	}
	if (cfg->activation_reserve > INV_MEMORY_MAX) {
		snprintf(err, errlen, "plan.activation_reserve is %" PRIu64
		    " bytes, more than any GPU holds", cfg->activation_reserve);
		return PLAN_EINFEASIBLE;
	}
	if (cfg->min_kv_tokens > PLAN_KV_TOKENS_MAX) {
		snprintf(err, errlen, "plan.min_kv_tokens is %" PRIu64
		    ", expected at most %" PRIu64, cfg->min_kv_tokens,
		    (uint64_t)PLAN_KV_TOKENS_MAX);
		return PLAN_EINFEASIBLE;
	}
	return 0;
}

/*
 * Chooses between the memory order and the vllm order: the memory order
 * is kept only when it gives more KV cache tokens, so it is never worse.
 */
static int
compute_memory_order(struct plan_ctx *c, size_t *seq, struct plan *out,
    char *err, size_t errlen)
{
	struct plan	 alt;
	char		 aerr[PPC_ERRLEN], (*vwhy)[192];
	size_t		 i;
	int		 rc, arc;

	/* Keep the vllm reasons, which plan_memory_order replaces. */
	if ((vwhy = calloc(c->n, sizeof(*vwhy))) == NULL)
		return PLAN_ENOMEM;
	memcpy(vwhy, c->why, c->n * sizeof(*vwhy));
	if ((rc = plan_memory_order(c, seq)) != 0) {
		free(vwhy);
		return rc;
	}
	plan_init(&alt);
	arc = plan_build(c, c->vllm, &alt, aerr, sizeof(aerr));
	rc = plan_build(c, seq, out, err, errlen);
	if (arc == 0 && (rc != 0 || alt.kv_tokens >= out->kv_tokens)) {
		/* Rebuild so that each reason states that vllm order won. */
		for (i = 0; i < c->n; i++)
			snprintf(c->why[i], sizeof(c->why[i]), "memory order "
			    "kept the vllm order, as no order found gives more "
			    "KV cache; %s", vwhy[i]);
		memcpy(seq, c->vllm, c->n * sizeof(*seq));
		rc = plan_build(c, seq, out, err, errlen);
	}
	plan_free(&alt);
	free(vwhy);
	return rc;
}

/* Checks that agents can write the plan's layer partition as text. */
static int
check_partition_text(const struct plan *p, char *err, size_t errlen)
{
	uint64_t	len = 0;
	uint32_t	i, v;

	for (i = 0; i < p->num_stages; i++) {
		len += i > 0 ? 1 : 0;
		for (v = p->layer_partition[i]; v >= 10; v /= 10)
			len++;
		len++;
	}
	if (len <= PLAN_PARTITION_TEXT_MAX)
		return 0;
	snprintf(err, errlen, "the layer partition of %" PRIu32 " stages is "
	    "%" PRIu64 " bytes as text, and agents write at most %d into "
	    "the environment file: use fewer pipeline stages",
	    p->num_stages, len, PLAN_PARTITION_TEXT_MAX);
	return PLAN_EINFEASIBLE;
}

int
plan_compute(const struct plan_config *cfg, const struct inv *inv,
    const struct plan_hint *hints, size_t nhints, struct plan *out,
    char *err, size_t errlen)
{
	struct plan_ctx	 c;
	size_t		*seq = NULL;
	int		 rc;

	plan_init(out);
	if ((rc = check_config(cfg, err, errlen)) != 0)
		return rc;
	if ((rc = plan_ctx_init(&c, cfg, inv, hints, nhints, err,
	    errlen)) != 0)
		goto done;
	if ((seq = calloc(c.n, sizeof(*seq))) == NULL) {
		rc = PLAN_ENOMEM;
		goto done;
	}

	switch (cfg->order) {
	case PLAN_ORDER_LISTED:
		if ((rc = plan_order_listed(&c, seq)) == 0)
			rc = plan_build(&c, seq, out, err, errlen);
		break;
	case PLAN_ORDER_MEMORY:
		rc = compute_memory_order(&c, seq, out, err, errlen);
		break;
	default:
		memcpy(seq, c.vllm, c.n * sizeof(*seq));
		rc = plan_build(&c, seq, out, err, errlen);
		break;
	}
	if (rc == 0)
		rc = check_partition_text(out, err, errlen);
done:
	if (rc == PLAN_ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (rc != 0)
		plan_free(out);
	free(seq);
	plan_ctx_free(&c);
	return rc;
}
