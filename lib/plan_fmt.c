/*
 * Output formats of a plan: the plan JSON (written by `ppcoordctl plan`,
 * the head's status and state file, and read back from the state file),
 * the operator's table, the stage environment file and --explain.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "envfile.h"
#include "plan.h"
#include "wire.h"

/*
 * Sets an integer member. jansson integers are signed 64-bit, so an
 * unsigned value above INT64_MAX fails. Byte counts of a valid plan are far
 * below that, because GPU memory is at most INV_MEMORY_MAX.
 */
static int
set_uint(json_t *obj, const char *key, uint64_t v)
{
	if (v > INT64_MAX)
		return -1;
	return json_object_set_new(obj, key, json_integer((json_int_t)v));
}

static int
set_int(json_t *obj, const char *key, int64_t v)
{
	return json_object_set_new(obj, key, json_integer(v));
}

static int
set_str(json_t *obj, const char *key, const char *s)
{
	return json_object_set_new(obj, key, json_string(s));
}

static int
set_bool(json_t *obj, const char *key, bool b)
{
	return json_object_set_new(obj, key, json_boolean(b));
}

static json_t *
node_to_jansson(const struct plan_node *n)
{
	json_t	*o;
	int	 rc = 0;

	if ((o = json_object()) == NULL)
		return NULL;
	rc |= set_str(o, "id", n->id);
	rc |= set_str(o, "address", n->address);
	rc |= set_uint(o, "node_rank", n->node_rank);
	rc |= set_uint(o, "first_stage", n->first_stage);
	rc |= set_uint(o, "stage_count", n->stage_count);
	rc |= set_uint(o, "workers", n->workers);
	rc |= set_bool(o, "pinned", n->pinned);
	rc |= set_bool(o, "hinted", n->hinted);
	rc |= set_str(o, "reason", n->reason);
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
stage_to_jansson(const struct plan *p, const struct plan_stage *s)
{
	json_t	*o;
	int	 rc = 0;

	if (s->node >= p->nnodes || (o = json_object()) == NULL)
		return NULL;
	rc |= set_uint(o, "stage", s->stage);
	rc |= set_str(o, "node", p->nodes[s->node].id);
	rc |= set_uint(o, "first_layer", s->first_layer);
	rc |= set_uint(o, "end_layer", s->end_layer);
	if (p->have_memory) {
		rc |= set_int(o, "budget_bytes", s->budget_bytes);
		rc |= set_uint(o, "weight_bytes", s->weight_bytes);
		rc |= set_int(o, "kv_tokens", s->kv_tokens);
	}
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
model_to_jansson(const struct model_sizes *m)
{
	json_t		*o, *layers;
	uint32_t	 i;
	int		 rc = 0;

	if ((o = json_object()) == NULL)
		return NULL;
	if ((layers = json_array()) == NULL ||
	    json_object_set_new(o, "layer_bytes", layers) != 0) {
		json_decref(o);
		return NULL;
	}
	for (i = 0; i < m->layers; i++) {
		if (m->layer_bytes[i] > INT64_MAX ||
		    json_array_append_new(layers,
		    json_integer((json_int_t)m->layer_bytes[i])) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	rc |= set_uint(o, "embedding_bytes", m->embedding_bytes);
	rc |= set_uint(o, "head_bytes", m->head_bytes);
	rc |= set_uint(o, "kv_bytes_per_token", m->kv_bytes_per_token);
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Appends the members from "nodes" to "spare_reasons". */
static int
plan_lists_to_jansson(json_t *o, const struct plan *p)
{
	json_t	*a, *reasons, *v;
	size_t	 i;

	if ((a = json_array()) == NULL || json_object_set_new(o, "nodes", a))
		return -1;
	for (i = 0; i < p->nnodes; i++)
		if ((v = node_to_jansson(&p->nodes[i])) == NULL ||
		    json_array_append_new(a, v) != 0)
			return -1;

	if ((a = json_array()) == NULL || json_object_set_new(o, "stages", a))
		return -1;
	for (i = 0; i < p->num_stages; i++)
		if ((v = stage_to_jansson(p, &p->stages[i])) == NULL ||
		    json_array_append_new(a, v) != 0)
			return -1;

	if ((a = json_array()) == NULL || json_object_set_new(o, "spares", a))
		return -1;
	if ((reasons = json_object()) == NULL ||
	    json_object_set_new(o, "spare_reasons", reasons) != 0)
		return -1;
	for (i = 0; i < p->nspares; i++) {
		if (json_array_append_new(a, json_string(p->spares[i].id)) ||
		    set_str(reasons, p->spares[i].id, p->spares[i].reason))
			return -1;
	}
	return 0;
}

/*
 * Builds the plan JSON. Key order follows the documented plan JSON, then
 * the memory figures and the rendezvous address. The per-node "pinned",
 * "hinted" and "reason" and the "spare_reasons" object carry the rest of
 * struct plan so that plan_from_jansson restores it.
 */
void *
plan_to_jansson(const struct plan *p, const struct plan_config *cfg)
{
	json_t		*o, *a, *m;
	uint32_t	 i;
	int		 rc = 0;

	if ((o = json_object()) == NULL)
		return NULL;
	rc |= set_uint(o, "generation", p->generation);
	rc |= set_uint(o, "num_stages", p->num_stages);
	rc |= set_uint(o, "tp_size", p->tp_size);
	rc |= set_uint(o, "layers", p->layers);
	rc |= set_str(o, "order", plan_order_name(p->order));
	rc |= set_str(o, "partition", plan_partition_name(p->partition));
	if (rc != 0 || (a = json_array()) == NULL ||
	    json_object_set_new(o, "layer_partition", a) != 0)
		goto fail;
	for (i = 0; i < p->num_stages; i++)
		if (json_array_append_new(a,
		    json_integer(p->layer_partition[i])) != 0)
			goto fail;

	if (plan_lists_to_jansson(o, p) != 0)
		goto fail;

	if (p->have_memory) {
		if (set_int(o, "kv_tokens", p->kv_tokens) != 0)
			goto fail;
		if (cfg != NULL && cfg->sizes != NULL) {
			if ((m = model_to_jansson(cfg->sizes)) == NULL ||
			    json_object_set_new(o, "model", m) != 0)
				goto fail;
		}
	}
	rc |= set_str(o, "master_addr", p->master_addr);
	rc |= set_uint(o, "master_port", p->master_port);
	if (rc != 0)
		goto fail;
	return o;

fail:
	json_decref(o);
	return NULL;
}

char *
plan_to_json(const struct plan *p, const struct plan_config *cfg)
{
	json_t	*o;
	char	*s;

	if ((o = plan_to_jansson(p, cfg)) == NULL)
		return NULL;
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

/*
 * Reading the plan JSON back. The text may come from a damaged state
 * file, so every member is type- and range-checked and cross-checked
 * against the others (node ranks, stage ranges, layer ranges) before
 * anything is copied.
 */

static int
fmt_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fmt_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	n = snprintf(err, errlen, "invalid plan JSON: ");
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *
json_type_name(const json_t *v)
{
	if (v == NULL)
		return "missing";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* Reads obj[key] as an integer in min..max; `where` names obj in errors. */
static int
get_int(const json_t *obj, const char *where, const char *key, int64_t min,
    int64_t max, int64_t *out, char *err, size_t errlen)
{
	json_t		*v = json_object_get(obj, key);
	json_int_t	 i;

	if (v == NULL || !json_is_integer(v))
		return fmt_err(err, errlen, "%s\"%s\" must be an integer, "
		    "found %s", where, key, json_type_name(v));
	i = json_integer_value(v);
	if (i < min || i > max)
		return fmt_err(err, errlen, "%s\"%s\" is %lld, expected "
		    "%lld to %lld", where, key, (long long)i, (long long)min,
		    (long long)max);
	*out = i;
	return 0;
}

static int
get_u32(const json_t *obj, const char *where, const char *key, uint32_t min,
    uint32_t max, uint32_t *out, char *err, size_t errlen)
{
	int64_t	 v;

	if (get_int(obj, where, key, min, max, &v, err, errlen) != 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Copies obj[key], a string of 0 to size - 1 bytes, into buf. */
static int
get_str(const json_t *obj, const char *where, const char *key, char *buf,
    size_t size, char *err, size_t errlen)
{
	json_t	*v = json_object_get(obj, key);
	size_t	 len;

	if (v == NULL || !json_is_string(v))
		return fmt_err(err, errlen, "%s\"%s\" must be a string, "
		    "found %s", where, key, json_type_name(v));
	len = json_string_length(v);
	if (len >= size || strlen(json_string_value(v)) != len)
		return fmt_err(err, errlen, "%s\"%s\" is longer than %zu "
		    "bytes or contains a NUL byte", where, key, size - 1);
	memcpy(buf, json_string_value(v), len + 1);
	return 0;
}

static int
get_bool(const json_t *obj, const char *where, const char *key, bool *out,
    char *err, size_t errlen)
{
	json_t	*v = json_object_get(obj, key);

	if (v == NULL || !json_is_boolean(v))
		return fmt_err(err, errlen, "%s\"%s\" must be true or false, "
		    "found %s", where, key, json_type_name(v));
	*out = json_is_true(v);
	return 0;
}

/* Returns obj[key] when it is an array of min..max elements, else NULL. */
static json_t *
get_array(const json_t *obj, const char *key, size_t min, size_t max,
    char *err, size_t errlen)
{
	json_t	*v = json_object_get(obj, key);

	if (v == NULL || !json_is_array(v)) {
		fmt_err(err, errlen, "\"%s\" must be an array, found %s", key,
		    json_type_name(v));
		return NULL;
	}
	if (json_array_size(v) < min || json_array_size(v) > max) {
		fmt_err(err, errlen, "\"%s\" has %zu entries, expected %zu "
		    "to %zu", key, json_array_size(v), min, max);
		return NULL;
	}
	return v;
}

static int
check_id(const char *id, const char *where, char *err, size_t errlen)
{
	char	 why[PPC_ERRLEN];

	if (util_check_node_id(id, why, sizeof(why)) != 0)
		return fmt_err(err, errlen, "%s%s", where, why);
	return 0;
}

/* Reads the scalar members at the top of the document. */
static int
plan_header_from_jansson(struct plan *p, const json_t *o, char *err,
    size_t errlen)
{
	char		 name[32], why[PPC_ERRLEN];
	int64_t		 gen;
	uint32_t	 port;

	if (get_int(o, "", "generation", 0, INT64_MAX, &gen, err, errlen) ||
	    get_u32(o, "", "layers", 1, MODEL_LAYERS_MAX, &p->layers, err,
	    errlen) ||
	    get_u32(o, "", "num_stages", 1, p->layers, &p->num_stages, err,
	    errlen) ||
	    get_u32(o, "", "tp_size", 1, INV_GPUS_MAX, &p->tp_size, err,
	    errlen))
		return -1;
	p->generation = (uint64_t)gen;

	if (get_str(o, "", "order", name, sizeof(name), err, errlen))
		return -1;
	if (plan_order_parse(name, &p->order) != 0)
		return fmt_err(err, errlen, "\"order\" is \"%s\", expected "
		    "vllm, listed or memory", name);
	if (get_str(o, "", "partition", name, sizeof(name), err, errlen))
		return -1;
	if (plan_partition_parse(name, &p->partition) != 0)
		return fmt_err(err, errlen, "\"partition\" is \"%s\", "
		    "expected even, manual or memory", name);

	if (get_str(o, "", "master_addr", p->master_addr,
	    sizeof(p->master_addr), err, errlen))
		return -1;
	if (util_check_address(p->master_addr, why, sizeof(why)) != 0)
		return fmt_err(err, errlen, "\"master_addr\": %s", why);
	if (get_u32(o, "", "master_port", 0, UINT16_MAX, &port, err, errlen))
		return -1;
	p->master_port = (uint16_t)port;
	return 0;
}

/* Reads "layer_partition": num_stages positive entries summing to layers. */
static int
plan_partition_from_jansson(struct plan *p, const json_t *o, char *err,
    size_t errlen)
{
	json_t		*a, *v;
	uint64_t	 sum = 0;
	size_t		 i;

	if ((a = get_array(o, "layer_partition", p->num_stages,
	    p->num_stages, err, errlen)) == NULL)
		return -1;
	if ((p->layer_partition = calloc(p->num_stages,
	    sizeof(*p->layer_partition))) == NULL)
		return fmt_err(err, errlen, "out of memory");
	json_array_foreach(a, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > p->layers)
			return fmt_err(err, errlen, "layer_partition[%zu] must "
			    "be an integer from 1 to %" PRIu32, i, p->layers);
		p->layer_partition[i] = (uint32_t)json_integer_value(v);
		sum += p->layer_partition[i];
	}
	if (sum != p->layers)
		return fmt_err(err, errlen, "layer_partition sums to %" PRIu64
		    " layers, expected %" PRIu32, sum, p->layers);
	return 0;
}

/*
 * Reads one entry of "nodes". `next_stage` is the first stage not held by
 * the nodes before it: stages follow node rank without gaps.
 */
static int
plan_node_from_jansson(struct plan *p, const json_t *o, size_t i,
    uint32_t next_stage, char *err, size_t errlen)
{
	struct plan_node	*n = &p->nodes[i];
	char			 where[48], why[PPC_ERRLEN];
	uint32_t		 left = p->num_stages - next_stage;

	snprintf(where, sizeof(where), "nodes[%zu].", i);
	if (!json_is_object(o))
		return fmt_err(err, errlen, "nodes[%zu] must be an object, "
		    "found %s", i, json_type_name(o));
	if (get_str(o, where, "id", n->id, sizeof(n->id), err, errlen) ||
	    check_id(n->id, where, err, errlen) ||
	    get_str(o, where, "address", n->address, sizeof(n->address), err,
	    errlen))
		return -1;
	if (util_check_address(n->address, why, sizeof(why)) != 0)
		return fmt_err(err, errlen, "%saddress: %s", where, why);

	if (get_u32(o, where, "node_rank", i, i, &n->node_rank, err, errlen) ||
	    get_u32(o, where, "first_stage", next_stage, next_stage,
	    &n->first_stage, err, errlen) ||
	    get_u32(o, where, "stage_count", 1, left, &n->stage_count, err,
	    errlen) ||
	    get_u32(o, where, "workers", 1, INV_GPUS_MAX, &n->workers, err,
	    errlen))
		return -1;
	if ((uint64_t)n->stage_count * p->tp_size > n->workers)
		return fmt_err(err, errlen, "%sworkers is %" PRIu32 ", fewer "
		    "than stage_count %" PRIu32 " times tp_size %" PRIu32,
		    where, n->workers, n->stage_count, p->tp_size);

	if (get_bool(o, where, "pinned", &n->pinned, err, errlen) ||
	    get_bool(o, where, "hinted", &n->hinted, err, errlen) ||
	    get_str(o, where, "reason", n->reason, sizeof(n->reason), err,
	    errlen))
		return -1;
	/* The inventory that inv_index points into is not part of the plan. */
	n->inv_index = SIZE_MAX;
	return 0;
}

/* Returns the index of node `id` in p->nodes, or -1. */
static long
plan_find_node(const struct plan *p, const char *id)
{
	size_t	 i;

	for (i = 0; i < p->nnodes; i++)
		if (strcmp(p->nodes[i].id, id) == 0)
			return (long)i;
	return -1;
}

static int
plan_nodes_from_jansson(struct plan *p, const json_t *o, char *err,
    size_t errlen)
{
	json_t		*a, *v;
	uint32_t	 next = 0;
	size_t		 i;

	if ((a = get_array(o, "nodes", 1, p->num_stages, err, errlen)) == NULL)
		return -1;
	if ((p->nodes = calloc(json_array_size(a), sizeof(*p->nodes))) == NULL)
		return fmt_err(err, errlen, "out of memory");
	json_array_foreach(a, i, v) {
		if (plan_node_from_jansson(p, v, i, next, err, errlen) != 0)
			return -1;
		if (plan_find_node(p, p->nodes[i].id) >= 0)
			return fmt_err(err, errlen, "nodes[%zu].id \"%s\" is "
			    "listed twice", i, p->nodes[i].id);
		next += p->nodes[i].stage_count;
		p->nnodes = i + 1;
	}
	if (next != p->num_stages)
		return fmt_err(err, errlen, "the nodes hold %" PRIu32 " stages, "
		    "expected num_stages %" PRIu32, next, p->num_stages);
	return 0;
}

static int
plan_stage_memory_from_jansson(struct plan_stage *s, const json_t *o,
    const char *where, char *err, size_t errlen)
{
	int64_t	 weights;

	if (get_int(o, where, "budget_bytes", INT64_MIN, INT64_MAX,
	    &s->budget_bytes, err, errlen) ||
	    get_int(o, where, "weight_bytes", 0, INT64_MAX, &weights, err,
	    errlen) ||
	    get_int(o, where, "kv_tokens", INT64_MIN, INT64_MAX, &s->kv_tokens,
	    err, errlen))
		return -1;
	s->weight_bytes = (uint64_t)weights;
	return 0;
}

/* Reads "stages" and checks each stage's node and layer range. */
static int
plan_stages_from_jansson(struct plan *p, const json_t *o, char *err,
    size_t errlen)
{
	json_t			*a, *v;
	struct plan_stage	*s;
	char			 where[48], id[PPC_NODE_ID_MAX + 1];
	uint32_t		 layer = 0, owner = 0;
	size_t			 i;

	if ((a = get_array(o, "stages", p->num_stages, p->num_stages, err,
	    errlen)) == NULL)
		return -1;
	if ((p->stages = calloc(p->num_stages, sizeof(*p->stages))) == NULL)
		return fmt_err(err, errlen, "out of memory");
	json_array_foreach(a, i, v) {
		s = &p->stages[i];
		snprintf(where, sizeof(where), "stages[%zu].", i);
		if (!json_is_object(v))
			return fmt_err(err, errlen, "stages[%zu] must be an "
			    "object, found %s", i, json_type_name(v));
		while (i >= (size_t)p->nodes[owner].first_stage +
		    p->nodes[owner].stage_count)
			owner++;
		if (get_u32(v, where, "stage", i, i, &s->stage, err, errlen) ||
		    get_str(v, where, "node", id, sizeof(id), err, errlen))
			return -1;
		if (strcmp(id, p->nodes[owner].id) != 0)
			return fmt_err(err, errlen, "%snode is \"%s\", but "
			    "the nodes list gives stage %zu to \"%s\"", where,
			    id, i, p->nodes[owner].id);
		s->node = owner;
		if (get_u32(v, where, "first_layer", layer, layer,
		    &s->first_layer, err, errlen) ||
		    get_u32(v, where, "end_layer",
		    layer + p->layer_partition[i],
		    layer + p->layer_partition[i], &s->end_layer, err, errlen))
			return -1;
		layer = s->end_layer;
		if (p->have_memory &&
		    plan_stage_memory_from_jansson(s, v, where, err, errlen))
			return -1;
	}
	return 0;
}

/* Reads "spares" and their reasons; spares are never plan nodes. */
static int
plan_spares_from_jansson(struct plan *p, const json_t *o, char *err,
    size_t errlen)
{
	json_t	*a, *v, *reasons;
	char	 where[48];
	size_t	 i, j;

	if ((a = get_array(o, "spares", 0, INV_NODES_MAX, err, errlen)) == NULL)
		return -1;
	reasons = json_object_get(o, "spare_reasons");
	if (reasons == NULL || !json_is_object(reasons))
		return fmt_err(err, errlen, "\"spare_reasons\" must be an "
		    "object, found %s", json_type_name(reasons));
	if (json_array_size(a) == 0)
		return 0;
	if ((p->spares = calloc(json_array_size(a), sizeof(*p->spares))) ==
	    NULL)
		return fmt_err(err, errlen, "out of memory");
	json_array_foreach(a, i, v) {
		struct plan_spare *s = &p->spares[i];

		snprintf(where, sizeof(where), "spares[%zu]: ", i);
		if (!json_is_string(v) || json_string_length(v) >=
		    sizeof(s->id) || strlen(json_string_value(v)) !=
		    json_string_length(v))
			return fmt_err(err, errlen, "spares[%zu] must be a node "
			    "id string, found %s", i, json_type_name(v));
		memcpy(s->id, json_string_value(v), json_string_length(v) + 1);
		if (check_id(s->id, where, err, errlen) != 0)
			return -1;
		if (plan_find_node(p, s->id) >= 0)
			return fmt_err(err, errlen, "spare \"%s\" is also a "
			    "plan node", s->id);
		for (j = 0; j < i; j++)
			if (strcmp(p->spares[j].id, s->id) == 0)
				return fmt_err(err, errlen, "spare \"%s\" is "
				    "listed twice", s->id);
		snprintf(where, sizeof(where), "spare_reasons.");
		if (json_object_get(reasons, s->id) != NULL &&
		    get_str(reasons, where, s->id, s->reason,
		    sizeof(s->reason), err, errlen) != 0)
			return -1;
		s->inv_index = SIZE_MAX;
		p->nspares = i + 1;
	}
	return 0;
}

/* Reads the plan's "kv_tokens", which must be the stages' minimum. */
static int
plan_kv_from_jansson(struct plan *p, const json_t *o, char *err,
    size_t errlen)
{
	int64_t	 min;
	size_t	 i;

	if (get_int(o, "", "kv_tokens", INT64_MIN, INT64_MAX, &p->kv_tokens,
	    err, errlen))
		return -1;
	min = p->stages[0].kv_tokens;
	for (i = 1; i < p->num_stages; i++)
		if (p->stages[i].kv_tokens < min)
			min = p->stages[i].kv_tokens;
	if (p->kv_tokens != min)
		return fmt_err(err, errlen, "\"kv_tokens\" is %" PRId64 ", but "
		    "the smallest stage kv_tokens is %" PRId64, p->kv_tokens,
		    min);
	return 0;
}

int
plan_from_jansson(struct plan *p, const void *json, char *err, size_t errlen)
{
	const json_t	*o = json;
	const json_t	*model;
	struct plan	 tmp;

	plan_init(p);
	if (o == NULL || !json_is_object(o))
		return fmt_err(err, errlen, "the document must be an object, "
		    "found %s", json_type_name(o));

	plan_init(&tmp);
	tmp.have_memory = json_object_get(o, "kv_tokens") != NULL;
	model = json_object_get(o, "model");
	if (model != NULL && !json_is_object(model)) {
		fmt_err(err, errlen, "\"model\" must be an object, found %s",
		    json_type_name(model));
		goto fail;
	}
	if (plan_header_from_jansson(&tmp, o, err, errlen) != 0 ||
	    plan_partition_from_jansson(&tmp, o, err, errlen) != 0 ||
	    plan_nodes_from_jansson(&tmp, o, err, errlen) != 0 ||
	    plan_stages_from_jansson(&tmp, o, err, errlen) != 0 ||
	    plan_spares_from_jansson(&tmp, o, err, errlen) != 0)
		goto fail;
	if (tmp.have_memory && plan_kv_from_jansson(&tmp, o, err, errlen))
		goto fail;
	*p = tmp;
	return 0;

fail:
	plan_free(&tmp);
	return -1;
}

/*
 * Text tables: rows of cells, printed left-aligned with every column as
 * wide as its widest cell.
 */

#define TABLE_COLS	12
#define TABLE_CELL	256	/* a node's reason and a mark fit */

struct table {
	size_t	 ncols;
	size_t	 nrows;
	char	(*cells)[TABLE_COLS][TABLE_CELL];
};

/* Appends a row: `fmt` formats the cells, separated by '\t'. */
static int
table_row(struct table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
table_row(struct table *t, const char *fmt, ...)
{
	char		 line[TABLE_COLS * TABLE_CELL], *cell, *next;
	void		*grown;
	va_list		 ap;
	size_t		 col, len;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	grown = realloc(t->cells, (t->nrows + 1) * sizeof(*t->cells));
	if (grown == NULL)
		return -1;
	t->cells = grown;
	memset(t->cells[t->nrows], 0, sizeof(*t->cells));
	for (col = 0, cell = line; cell != NULL && col < TABLE_COLS; col++) {
		if ((next = strchr(cell, '\t')) != NULL)
			*next++ = '\0';
		len = strlen(cell);
		if (len >= TABLE_CELL)
			len = TABLE_CELL - 1;
		memcpy(t->cells[t->nrows][col], cell, len);
		cell = next;
	}
	if (col > t->ncols)
		t->ncols = col;
	t->nrows++;
	return 0;
}

/* Prints the table to f, each line after `indent`, and frees it. */
static void
table_print(struct table *t, FILE *f, const char *indent)
{
	size_t	 width[TABLE_COLS] = { 0 }, r, c, len, last;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			if ((len = strlen(t->cells[r][c])) > width[c])
				width[c] = len;
	for (r = 0; r < t->nrows; r++) {
		/* Empty cells at the end of a row print nothing. */
		for (last = t->ncols; last > 1; last--)
			if (t->cells[r][last - 1][0] != '\0')
				break;
		fputs(indent, f);
		for (c = 0; c + 1 < last; c++)
			fprintf(f, "%-*s  ", (int)width[c], t->cells[r][c]);
		fprintf(f, "%s\n", t->cells[r][c]);
	}
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->ncols = 0;
}

/* Formats a signed byte count such as a budget that may be negative. */
static const char *
format_signed_size(int64_t bytes, char *buf, size_t len)
{
	if (bytes >= 0 || len < 2)
		return util_format_size((uint64_t)bytes, buf, len);
	buf[0] = '-';
	util_format_size(-(uint64_t)bytes, buf + 1, len - 1);
	return buf;
}

/* Returns the inventory node with `id`, or NULL. */
static const struct inv_node *
inv_find(const struct inv *inv, const char *id)
{
	size_t	 i;

	if (inv == NULL)
		return NULL;
	for (i = 0; i < inv->nnodes; i++)
		if (strcmp(inv->nodes[i].id, id) == 0)
			return &inv->nodes[i];
	return NULL;
}

static void
table_header_line(const struct plan *p, FILE *f)
{
	fprintf(f, "generation %" PRIu64 ", %" PRIu32 " stage%s, tp %" PRIu32
	    ", %" PRIu32 " layer%s, order %s, partition %s", p->generation,
	    p->num_stages, p->num_stages == 1 ? "" : "s", p->tp_size,
	    p->layers, p->layers == 1 ? "" : "s", plan_order_name(p->order),
	    plan_partition_name(p->partition));
	if (p->have_memory)
		fprintf(f, ", kv_tokens %" PRId64, p->kv_tokens);
	fprintf(f, "\nmaster %s:%u\n", p->master_addr, p->master_port);
}

/* Prints "spares: none" or one line per spare with its address. */
static void
table_spares(const struct plan *p, const struct inv *inv, FILE *f)
{
	const struct inv_node	*n;
	size_t			 i;

	if (p->nspares == 0) {
		fprintf(f, "spares: none\n");
		return;
	}
	fprintf(f, "spares:\n");
	for (i = 0; i < p->nspares; i++) {
		n = inv_find(inv, p->spares[i].id);
		fprintf(f, "  %s%s%s%s%s\n", p->spares[i].id,
		    n != NULL ? " " : "", n != NULL ? n->address : "",
		    p->spares[i].reason[0] != '\0' ? ": " : "",
		    p->spares[i].reason);
	}
}

/*
 * The operator's view: a header line, one row per stage (layer ranges
 * with exclusive ends, as vLLM's get_pp_indices gives them; byte figures
 * per GPU), then the spares.
 */
char *
plan_to_table(const struct plan *p, const struct inv *inv)
{
	struct table		 t = { 0 };
	const struct plan_stage	*s;
	const struct plan_node	*n;
	char			*buf = NULL, b[32], w[32];
	size_t			 len = 0, i;
	FILE			*f;
	int			 rc = 0;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	table_header_line(p, f);
	rc |= table_row(&t, "STAGE\tNODE\tADDRESS\tRANK\tLAYERS\tCOUNT%s",
	    p->have_memory ? "\tBUDGET/GPU\tWEIGHTS/GPU\tKV_TOKENS" : "");
	for (i = 0; i < p->num_stages; i++) {
		s = &p->stages[i];
		n = &p->nodes[s->node];
		if (!p->have_memory) {
			rc |= table_row(&t, "%" PRIu32 "\t%s\t%s\t%" PRIu32
			    "\t%" PRIu32 "-%" PRIu32 "\t%" PRIu32, s->stage,
			    n->id, n->address, n->node_rank, s->first_layer,
			    s->end_layer, s->end_layer - s->first_layer);
			continue;
		}
		rc |= table_row(&t, "%" PRIu32 "\t%s\t%s\t%" PRIu32 "\t%"
		    PRIu32 "-%" PRIu32 "\t%" PRIu32 "\t%s\t%s\t%" PRId64,
		    s->stage, n->id, n->address, n->node_rank, s->first_layer,
		    s->end_layer, s->end_layer - s->first_layer,
		    format_signed_size(s->budget_bytes, b, sizeof(b)),
		    util_format_size(s->weight_bytes, w, sizeof(w)),
		    s->kv_tokens);
	}
	table_print(&t, f, "");
	table_spares(p, inv, f);
	if (fclose(f) != 0 || rc != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *
plan_node_env(const struct plan *p, size_t node)
{
	struct stage_env	 env;

	if (node >= p->nnodes)
		return NULL;
	plan_node_stage_env(p, node, &env);
	return envfile_format(&env);
}

char *
plan_spare_env(const struct plan *p, size_t spare)
{
	struct stage_env	 env;

	if (spare >= p->nspares)
		return NULL;
	memset(&env, 0, sizeof(env));
	env.state = STAGE_STANDBY;
	env.generation = p->generation;
	snprintf(env.node_id, sizeof(env.node_id), "%s", p->spares[spare].id);
	return envfile_format(&env);
}

/*
 * --explain: why each node has its place, each stage's memory next to
 * what vLLM's even split in the same node order would give, and why the
 * spares are spares.
 */

static void
explain_nodes(const struct plan *p, FILE *f, int *rc)
{
	struct table		 t = { 0 };
	const struct plan_node	*n;
	char			 stages[32];
	size_t			 i;

	fprintf(f, "Node order (order %s):\n", plan_order_name(p->order));
	*rc |= table_row(&t, "RANK\tNODE\tADDRESS\tWORKERS\tSTAGES\tWHY");
	for (i = 0; i < p->nnodes; i++) {
		n = &p->nodes[i];
		if (n->stage_count > 1)
			snprintf(stages, sizeof(stages), "%" PRIu32 "-%" PRIu32,
			    n->first_stage, n->first_stage + n->stage_count - 1);
		else
			snprintf(stages, sizeof(stages), "%" PRIu32,
			    n->first_stage);
		*rc |= table_row(&t, "%" PRIu32 "\t%s\t%s\t%" PRIu32 "\t%s\t"
		    "%s%s", n->node_rank, n->id, n->address, n->workers,
		    stages, n->pinned ? "(pinned) " : n->hinted ? "(kept) " :
		    "", n->reason);
	}
	table_print(&t, f, "  ");
}

/* Formats "8 x 80.0 GiB" for the node's GPUs, or "?" when not known. */
static const char *
format_gpus(const struct inv *inv, const char *id, char *buf, size_t len)
{
	const struct inv_node	*n = inv_find(inv, id);
	char			 mem[32];

	if (n == NULL) {
		snprintf(buf, len, "?");
		return buf;
	}
	snprintf(buf, len, "%" PRIu32 " x %s", n->ngpus,
	    util_format_size(inv_node_min_memory(n), mem, sizeof(mem)));
	return buf;
}

/*
 * Computes the memory figures of vLLM's even split in the plan's node
 * order into even[num_stages]. Returns its kv_tokens through *kv, or -1
 * with a reason in why (a node missing from the inventory).
 */
static int
explain_even_split(const struct plan *p, const struct plan_config *cfg,
    const struct inv *inv, struct plan_stage *even, int64_t *kv, char *why,
    size_t whylen)
{
	struct plan		 copy;
	const struct inv_node	*n;
	uint32_t		*partition, layer = 0;
	size_t			 i;
	int			 rc = -1;

	plan_init(&copy);
	if ((partition = calloc(p->num_stages, sizeof(*partition))) == NULL ||
	    plan_copy(&copy, p) != 0) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	/* A plan read back from JSON has no inventory index. */
	for (i = 0; i < copy.nnodes; i++) {
		if ((n = inv_find(inv, copy.nodes[i].id)) == NULL) {
			snprintf(why, whylen, "node %s is not in the inventory",
			    copy.nodes[i].id);
			goto out;
		}
		copy.nodes[i].inv_index = (size_t)(n - inv->nodes);
	}
	plan_even_partition(p->layers, p->num_stages, partition);
	for (i = 0; i < p->num_stages; i++) {
		even[i] = p->stages[i];
		even[i].first_layer = layer;
		layer += partition[i];
		even[i].end_layer = layer;
	}
	*kv = plan_fill_memory(cfg, inv, &copy, partition, even);
	rc = 0;
out:
	plan_free(&copy);
	free(partition);
	return rc;
}

/* The NOTE column: why a stage of the even split would not start. */
static const char *
explain_even_note(const struct plan_config *cfg, const struct plan_stage *s)
{
	if (s->budget_bytes < 0 || (uint64_t)s->budget_bytes < s->weight_bytes)
		return "OOM under the even split";
	if (s->kv_tokens < 0 || (uint64_t)s->kv_tokens < cfg->min_kv_tokens)
		return "KV cache below min_kv_tokens under the even split";
	return "";
}

/* One row per stage; with `even`, the even split's figures beside it. */
static void
explain_stage_rows(const struct plan *p, const struct plan_config *cfg,
    const struct inv *inv, const struct plan_stage *even, struct table *t,
    int *rc)
{
	const struct plan_stage	*s, *e;
	char			 g[48], b[32], w[32], ew[32];
	size_t			 i;

	*rc |= table_row(t, "STAGE\tNODE\tGPUS\tLAYERS\tBUDGET/GPU\t"
	    "WEIGHTS/GPU\tKV_TOKENS%s", even != NULL ?
	    "\tEVEN_LAYERS\tEVEN_WEIGHTS/GPU\tEVEN_KV_TOKENS\tNOTE" : "");
	for (i = 0; i < p->num_stages; i++) {
		s = &p->stages[i];
		format_gpus(inv, p->nodes[s->node].id, g, sizeof(g));
		format_signed_size(s->budget_bytes, b, sizeof(b));
		util_format_size(s->weight_bytes, w, sizeof(w));
		if (even == NULL) {
			*rc |= table_row(t, "%" PRIu32 "\t%s\t%s\t%" PRIu32
			    "-%" PRIu32 "\t%s\t%s\t%" PRId64, s->stage,
			    p->nodes[s->node].id, g, s->first_layer,
			    s->end_layer, b, w, s->kv_tokens);
			continue;
		}
		e = &even[i];
		util_format_size(e->weight_bytes, ew, sizeof(ew));
		*rc |= table_row(t, "%" PRIu32 "\t%s\t%s\t%" PRIu32 "-%" PRIu32
		    "\t%s\t%s\t%" PRId64 "\t%" PRIu32 "-%" PRIu32 "\t%s\t%"
		    PRId64 "\t%s", s->stage, p->nodes[s->node].id, g,
		    s->first_layer, s->end_layer, b, w, s->kv_tokens,
		    e->first_layer, e->end_layer, ew, e->kv_tokens,
		    explain_even_note(cfg, e));
	}
}

/* Counts the stages of the even split that would not start. */
static size_t
explain_even_failures(const struct plan *p, const struct plan_config *cfg,
    const struct plan_stage *even)
{
	size_t	 i, n = 0;

	for (i = 0; i < p->num_stages; i++)
		if (explain_even_note(cfg, &even[i])[0] != '\0')
			n++;
	return n;
}

static void
explain_stages_plain(const struct plan *p, const struct inv *inv, FILE *f,
    int *rc)
{
	struct table		 t = { 0 };
	const struct plan_stage	*s;
	char			 g[48];
	size_t			 i;

	*rc |= table_row(&t, "STAGE\tNODE\tGPUS\tLAYERS\tCOUNT");
	for (i = 0; i < p->num_stages; i++) {
		s = &p->stages[i];
		*rc |= table_row(&t, "%" PRIu32 "\t%s\t%s\t%" PRIu32 "-%"
		    PRIu32 "\t%" PRIu32, s->stage, p->nodes[s->node].id,
		    format_gpus(inv, p->nodes[s->node].id, g, sizeof(g)),
		    s->first_layer, s->end_layer,
		    s->end_layer - s->first_layer);
	}
	table_print(&t, f, "  ");
	fprintf(f, "  No memory figures: set model.hf_config, "
	    "model.weights_dir or the explicit sizes to see each stage's "
	    "budget, weights and KV cache.\n");
}

static void
explain_stages(const struct plan *p, const struct plan_config *cfg,
    const struct inv *inv, FILE *f, int *rc)
{
	struct table		 t = { 0 };
	struct plan_stage	*even = NULL;
	int64_t			 even_kv = 0;
	char			 why[PPC_ERRLEN] = "";
	bool			 compare;

	fprintf(f, "Stages (partition %s; byte figures per GPU):\n",
	    plan_partition_name(p->partition));
	if (!p->have_memory || cfg == NULL || cfg->sizes == NULL) {
		explain_stages_plain(p, inv, f, rc);
		return;
	}

	compare = p->partition != PLAN_PARTITION_EVEN;
	if (compare && ((even = calloc(p->num_stages, sizeof(*even))) == NULL ||
	    explain_even_split(p, cfg, inv, even, &even_kv, why,
	    sizeof(why)) != 0)) {
		free(even);
		even = NULL;
	}
	explain_stage_rows(p, cfg, inv, even, &t, rc);
	table_print(&t, f, "  ");

	fprintf(f, "  kv_tokens %" PRId64 " (the smallest stage's)", p->kv_tokens);
	if (!compare)
		fprintf(f, ": this is vLLM's even split.\n");
	else if (even == NULL)
		fprintf(f, "; no comparison with vLLM's even split: %s.\n",
		    why[0] != '\0' ? why : "out of memory");
	else if (explain_even_failures(p, cfg, even) > 0)
		fprintf(f, "; vLLM's even split in the same node order would "
		    "not start: %zu stage(s) marked above.\n",
		    explain_even_failures(p, cfg, even));
	else
		fprintf(f, "; vLLM's even split in the same node order would "
		    "give %" PRId64 ".\n", even_kv);
	free(even);
}

static void
explain_spares(const struct plan *p, const struct inv *inv, FILE *f,
    int *rc)
{
	struct table		 t = { 0 };
	const struct inv_node	*n;
	size_t			 i;

	if (p->nspares == 0) {
		fprintf(f, "Spares: none\n");
		return;
	}
	fprintf(f, "Spares:\n");
	*rc |= table_row(&t, "NODE\tADDRESS\tWHY");
	for (i = 0; i < p->nspares; i++) {
		n = inv_find(inv, p->spares[i].id);
		*rc |= table_row(&t, "%s\t%s\t%s", p->spares[i].id,
		    n != NULL ? n->address : "?", p->spares[i].reason);
	}
	table_print(&t, f, "  ");
}

char *
plan_explain(const struct plan *p, const struct plan_config *cfg,
    const struct inv *inv)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f;
	int	 rc = 0;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	explain_nodes(p, f, &rc);
	fputc('\n', f);
	explain_stages(p, cfg, inv, f, &rc);
	fputc('\n', f);
	explain_spares(p, inv, f, &rc);
	if (fclose(f) != 0 || rc != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
