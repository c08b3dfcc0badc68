/*
 * The cluster's GPU inventory: deep copies, validation, and the JSON form
 * that agents report and `ppcoordctl plan -i` reads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "inv.h"
#include "util.h"

/* Maximum bytes of an untrusted string quoted in an error message. */
#define INV_QUOTE_MAX	64

static const char *inv_node_keys[] = { "id", "address", "workers", "gpus" };
static const char *inv_gpu_keys[] = {
	"index", "name", "uuid", "memory_total", "memory_free"
};

/* Copies an untrusted string for an error message: control and non-ASCII
 * bytes become '?', and the copy is cut to fit in len bytes. */
static const char *
inv_quote(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	buf[i] = '\0';
	return buf;
}

void
inv_init(struct inv *inv)
{
	inv->nnodes = 0;
	inv->nodes = NULL;
}

void
inv_node_free(struct inv_node *node)
{
	free(node->gpus);
	node->gpus = NULL;
	node->ngpus = 0;
}

void
inv_free(struct inv *inv)
{
	size_t i;

	for (i = 0; i < inv->nnodes; i++)
		inv_node_free(&inv->nodes[i]);
	free(inv->nodes);
	inv_init(inv);
}

int
inv_node_copy(struct inv_node *dst, const struct inv_node *src)
{
	*dst = *src;
	dst->gpus = NULL;
	if (src->ngpus == 0)
		return 0;

	dst->gpus = calloc(src->ngpus, sizeof(*dst->gpus));
	if (dst->gpus == NULL) {
		dst->ngpus = 0;
		return -1;
	}
	memcpy(dst->gpus, src->gpus, src->ngpus * sizeof(*dst->gpus));
	return 0;
}

int
inv_add(struct inv *inv, const struct inv_node *node)
{
	struct inv_node *nodes;

	nodes = reallocarray(inv->nodes, inv->nnodes + 1, sizeof(*nodes));
	if (nodes == NULL)
		return -1;
	inv->nodes = nodes;

	if (inv_node_copy(&inv->nodes[inv->nnodes], node) == -1)
		return -1;
	inv->nnodes++;
	return 0;
}

int
inv_copy(struct inv *dst, const struct inv *src)
{
	size_t i;

	inv_init(dst);
	if (src->nnodes == 0)
		return 0;

	dst->nodes = calloc(src->nnodes, sizeof(*dst->nodes));
	if (dst->nodes == NULL)
		return -1;
	for (i = 0; i < src->nnodes; i++) {
		if (inv_node_copy(&dst->nodes[i], &src->nodes[i]) == -1) {
			dst->nnodes = i;
			inv_free(dst);
			return -1;
		}
	}
	dst->nnodes = src->nnodes;
	return 0;
}

uint64_t
inv_node_min_memory(const struct inv_node *node)
{
	uint64_t	min = 0;
	uint32_t	i;

	for (i = 0; i < node->ngpus; i++) {
		if (i == 0 || node->gpus[i].memory_total < min)
			min = node->gpus[i].memory_total;
	}
	return min;
}

/* Checks a GPU name or UUID field: NUL-terminated within `size` bytes and
 * printable ASCII, so that it is safe in JSON, tables and log lines. */
static int
inv_check_text(const char *field, const char *s, size_t size, char *err,
    size_t errlen)
{
	char	q[INV_QUOTE_MAX + 1];
	size_t	i, len;

	len = strnlen(s, size);
	if (len == size) {
		util_err(err, errlen, "%s is longer than the limit of %zu "
		    "bytes", field, size - 1);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f) {
			util_err(err, errlen, "%s \"%s\" contains a control or "
			    "non-ASCII character at byte %zu", field,
			    inv_quote(s, q, sizeof(q)), i);
			return -1;
		}
	}
	return 0;
}

static int
inv_gpu_check(const struct inv_gpu *gpu, uint32_t n, char *err,
    size_t errlen)
{
	char msg[PPC_ERRLEN];

	if (gpu->memory_total == 0 || gpu->memory_total > INV_MEMORY_MAX) {
		util_err(err, errlen, "gpus[%" PRIu32 "]: memory_total %"
		    PRIu64 " is out of range: expected 1 byte to %llu bytes "
		    "(16 TiB)", n, gpu->memory_total, INV_MEMORY_MAX);
		return -1;
	}
	if (gpu->memory_free > gpu->memory_total) {
		util_err(err, errlen, "gpus[%" PRIu32 "]: memory_free %" PRIu64
		    " is larger than memory_total %" PRIu64, n,
		    gpu->memory_free, gpu->memory_total);
		return -1;
	}
	if (inv_check_text("name", gpu->name, sizeof(gpu->name), msg,
	    sizeof(msg)) == -1 ||
	    inv_check_text("uuid", gpu->uuid, sizeof(gpu->uuid), msg,
	    sizeof(msg)) == -1) {
		util_err(err, errlen, "gpus[%" PRIu32 "]: %s", n, msg);
		return -1;
	}
	return 0;
}

/* Checks everything but the id, with messages that do not name the node. */
static int
inv_node_check_fields(const struct inv_node *node, char *err, size_t errlen)
{
	char		msg[PPC_ERRLEN];
	uint32_t	i, j;

	if (util_check_address(node->address, msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "%s", msg);
		return -1;
	}
	if (node->ngpus == 0 || node->ngpus > INV_GPUS_MAX) {
		util_err(err, errlen, "%" PRIu32 " GPUs listed: expected 1 to "
		    "%d", node->ngpus, INV_GPUS_MAX);
		return -1;
	}
	if (node->workers == 0 || node->workers > node->ngpus) {
		util_err(err, errlen, "workers %" PRIu32 " is out of range: "
		    "expected 1 to the %" PRIu32 " GPUs listed", node->workers,
		    node->ngpus);
		return -1;
	}

	for (i = 0; i < node->ngpus; i++) {
		if (inv_gpu_check(&node->gpus[i], i, err, errlen) == -1)
			return -1;
		for (j = 0; j < i; j++) {
			if (node->gpus[j].index != node->gpus[i].index)
				continue;
			util_err(err, errlen, "gpus[%" PRIu32 "] and gpus[%"
			    PRIu32 "] have the same index %" PRIu32, j, i,
			    node->gpus[i].index);
			return -1;
		}
	}
	return 0;
}

int
inv_node_check(const struct inv_node *node, char *err, size_t errlen)
{
	char msg[PPC_ERRLEN];

	if (util_check_node_id(node->id, msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "%s", msg);
		return -1;
	}
	if (inv_node_check_fields(node, msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "node %s: %s", node->id, msg);
		return -1;
	}
	return 0;
}

/* JSON input. */

/* Rejects a key that is not in `keys`, so that a misspelt key such as
 * "worker" is reported instead of silently taking the default. */
static int
inv_json_check_keys(const json_t *obj, const char **keys, size_t nkeys,
    char *err, size_t errlen)
{
	const char	*key;
	json_t		*value;
	char		 q[INV_QUOTE_MAX + 1];
	size_t		 i;

	json_object_foreach((json_t *)obj, key, value) {
		for (i = 0; i < nkeys; i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == nkeys) {
			util_err(err, errlen, "unknown key \"%s\"",
			    inv_quote(key, q, sizeof(q)));
			return -1;
		}
	}
	return 0;
}

/* Reads an optional non-negative integer no larger than max. Returns 1 when
 * present, 0 when absent, -1 on a wrong type or range. */
static int
inv_json_uint(const json_t *obj, const char *key, uint64_t max,
    uint64_t *out, char *err, size_t errlen)
{
	json_t		*v = json_object_get(obj, key);
	json_int_t	 n;

	if (v == NULL)
		return 0;
	if (!json_is_integer(v)) {
		util_err(err, errlen, "%s must be an integer", key);
		return -1;
	}
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n > max) {
		util_err(err, errlen, "%s %lld is out of range: expected 0 to "
		    "%" PRIu64, key, (long long)n, max);
		return -1;
	}
	*out = (uint64_t)n;
	return 1;
}

/* Copies an optional string member into buf[size]. Returns 1 when present,
 * 0 when absent, -1 on a wrong type or a string too long. */
static int
inv_json_string(const json_t *obj, const char *key, char *buf, size_t size,
    char *err, size_t errlen)
{
	json_t	*v = json_object_get(obj, key);
	size_t	 len;

	if (v == NULL)
		return 0;
	if (!json_is_string(v)) {
		util_err(err, errlen, "%s must be a string", key);
		return -1;
	}
	len = json_string_length(v);
	if (len >= size || strlen(json_string_value(v)) != len) {
		util_err(err, errlen, "%s is %zu bytes: expected at most %zu "
		    "bytes and no NUL character", key, len, size - 1);
		return -1;
	}
	memcpy(buf, json_string_value(v), len + 1);
	return 1;
}

static int
inv_gpu_from_json(const json_t *obj, uint32_t n, struct inv_gpu *gpu,
    char *err, size_t errlen)
{
	char		msg[PPC_ERRLEN];
	uint64_t	v;
	int		r;

	memset(gpu, 0, sizeof(*gpu));
	if (!json_is_object(obj)) {
		util_err(err, errlen, "gpus[%" PRIu32 "] must be an object", n);
		return -1;
	}
	if (inv_json_check_keys(obj, inv_gpu_keys, 5, msg, sizeof(msg)) == -1)
		goto fail;

	/* index defaults to the position in the list. */
	v = n;
	if (inv_json_uint(obj, "index", UINT32_MAX, &v, msg,
	    sizeof(msg)) == -1)
		goto fail;
	gpu->index = (uint32_t)v;

	if (inv_json_string(obj, "name", gpu->name, sizeof(gpu->name), msg,
	    sizeof(msg)) == -1 ||
	    inv_json_string(obj, "uuid", gpu->uuid, sizeof(gpu->uuid), msg,
	    sizeof(msg)) == -1)
		goto fail;

	r = inv_json_uint(obj, "memory_total", INT64_MAX,
	    &gpu->memory_total, msg, sizeof(msg));
	if (r == -1)
		goto fail;
	if (r == 0) {
		snprintf(msg, sizeof(msg), "memory_total is missing: give the "
		    "GPU's memory in bytes");
		goto fail;
	}

	/* An absent memory_free means the whole GPU is free. */
	gpu->memory_free = gpu->memory_total;
	if (inv_json_uint(obj, "memory_free", INT64_MAX,
	    &gpu->memory_free, msg, sizeof(msg)) == -1)
		goto fail;
	return 0;

fail:
	util_err(err, errlen, "gpus[%" PRIu32 "]: %s", n, msg);
	return -1;
}

static int
inv_node_gpus_from_json(const json_t *obj, struct inv_node *node, char *err,
    size_t errlen)
{
	json_t	*gpus = json_object_get(obj, "gpus");
	size_t	 i, n;

	if (gpus == NULL) {
		util_err(err, errlen, "gpus is missing: list the node's GPUs");
		return -1;
	}
	if (!json_is_array(gpus)) {
		util_err(err, errlen, "gpus must be an array");
		return -1;
	}
	n = json_array_size(gpus);
	if (n == 0 || n > INV_GPUS_MAX) {
		util_err(err, errlen, "%zu GPUs listed: expected 1 to %d", n,
		    INV_GPUS_MAX);
		return -1;
	}

	node->gpus = calloc(n, sizeof(*node->gpus));
	if (node->gpus == NULL) {
		util_err(err, errlen, "out of memory");
		return -1;
	}
	node->ngpus = (uint32_t)n;
	for (i = 0; i < n; i++) {
		if (inv_gpu_from_json(json_array_get(gpus, i), (uint32_t)i,
		    &node->gpus[i], err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* Fills `node` from one element of "nodes"; the caller frees it on error. */
static int
inv_node_from_json(const json_t *obj, struct inv_node *node, char *err,
    size_t errlen)
{
	uint64_t	workers;
	int		r;

	memset(node, 0, sizeof(*node));
	if (!json_is_object(obj)) {
		util_err(err, errlen, "must be an object");
		return -1;
	}
	r = inv_json_string(obj, "id", node->id, sizeof(node->id), err,
	    errlen);
	if (r == 0)
		util_err(err, errlen, "id is missing");
	if (r != 1)
		return -1;

	if (inv_json_check_keys(obj, inv_node_keys, 4, err, errlen) == -1)
		return -1;

	r = inv_json_string(obj, "address", node->address,
	    sizeof(node->address), err, errlen);
	if (r == 0)
		util_err(err, errlen, "address is missing");
	if (r != 1)
		return -1;

	if (inv_node_gpus_from_json(obj, node, err, errlen) == -1)
		return -1;

	/* workers defaults to the number of GPUs listed. */
	workers = node->ngpus;
	if (inv_json_uint(obj, "workers", UINT32_MAX, &workers, err,
	    errlen) == -1)
		return -1;
	node->workers = (uint32_t)workers;
	return 0;
}

static int
inv_cmp_index_by_id(const void *a, const void *b, void *arg)
{
	const struct inv	*inv = arg;
	size_t			 i = *(const size_t *)a, j = *(const size_t *)b;
	int			 c;

	c = strcmp(inv->nodes[i].id, inv->nodes[j].id);
	if (c != 0)
		return c;
	return (i > j) - (i < j);
}

static int
inv_cmp_index_by_address(const void *a, const void *b, void *arg)
{
	const struct inv	*inv = arg;
	size_t			 i = *(const size_t *)a, j = *(const size_t *)b;
	int			 c;

	c = strcmp(inv->nodes[i].address, inv->nodes[j].address);
	if (c != 0)
		return c;
	return (i > j) - (i < j);
}

/*
 * Rejects two nodes with the same id or the same address. Sorting an index
 * array keeps this O(n log n) for INV_NODES_MAX nodes and, because ties are
 * broken by position, names the two nodes in file order.
 */
static int
inv_check_duplicates(const struct inv *inv, const char *name, char *err,
    size_t errlen)
{
	size_t	*idx, i, a, b;
	int	 pass;

	if (inv->nnodes < 2)
		return 0;
	idx = calloc(inv->nnodes, sizeof(*idx));
	if (idx == NULL) {
		util_err(err, errlen, "%s: out of memory", name);
		return -1;
	}

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < inv->nnodes; i++)
			idx[i] = i;
		qsort_r(idx, inv->nnodes, sizeof(*idx), pass == 0 ?
		    inv_cmp_index_by_id : inv_cmp_index_by_address,
		    (void *)inv);
		for (i = 1; i < inv->nnodes; i++) {
			a = idx[i - 1];
			b = idx[i];
			if (pass == 0 && strcmp(inv->nodes[a].id,
			    inv->nodes[b].id) == 0) {
				util_err(err, errlen, "%s: nodes[%zu] and "
				    "nodes[%zu] have the same id %s", name,
				    a, b, inv->nodes[a].id);
				free(idx);
				return -1;
			}
			if (pass == 1 && strcmp(inv->nodes[a].address,
			    inv->nodes[b].address) == 0) {
				util_err(err, errlen, "%s: nodes[%zu] (%s) and "
				    "nodes[%zu] (%s) have the same address %s",
				    name, a, inv->nodes[a].id, b,
				    inv->nodes[b].id, inv->nodes[a].address);
				free(idx);
				return -1;
			}
		}
	}
	free(idx);
	return 0;
}

/* Writes "name: nodes[i] (id): msg", leaving out an id that is empty or
 * invalid, because an invalid id is quoted in msg itself. */
static void
inv_err_node(char *err, size_t errlen, const char *name, size_t i,
    const char *id, const char *msg)
{
	if (id[0] != '\0' && util_check_node_id(id, NULL, 0) == 0)
		util_err(err, errlen, "%s: nodes[%zu] (%s): %s", name, i, id,
		    msg);
	else
		util_err(err, errlen, "%s: nodes[%zu]: %s", name, i, msg);
}

/* Checks one parsed node and prefixes any error with its position and id. */
static int
inv_check_parsed_node(const struct inv_node *node, size_t i,
    const char *name, char *err, size_t errlen)
{
	char msg[PPC_ERRLEN];

	if (util_check_node_id(node->id, msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "%s: nodes[%zu]: %s", name, i, msg);
		return -1;
	}
	if (inv_node_check_fields(node, msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "%s: nodes[%zu] (%s): %s", name, i,
		    node->id, msg);
		return -1;
	}
	return 0;
}

int
inv_from_jansson(struct inv *inv, const void *json, const char *name,
    char *err, size_t errlen)
{
	const json_t	*root = json, *nodes;
	char		 msg[PPC_ERRLEN];
	size_t		 i, n;

	inv_init(inv);
	if (name == NULL)
		name = "inventory";
	if (!json_is_object(root) ||
	    (nodes = json_object_get(root, "nodes")) == NULL) {
		util_err(err, errlen, "%s: expected an object with a \"nodes\" "
		    "array", name);
		return -1;
	}
	if (json_object_size(root) != 1) {
		util_err(err, errlen, "%s: unknown key next to \"nodes\": the "
		    "top-level object has only \"nodes\"", name);
		return -1;
	}
	if (!json_is_array(nodes)) {
		util_err(err, errlen, "%s: \"nodes\" must be an array", name);
		return -1;
	}
	n = json_array_size(nodes);
	if (n > INV_NODES_MAX) {
		util_err(err, errlen, "%s: %zu nodes listed: expected at most "
		    "%d", name, n, INV_NODES_MAX);
		return -1;
	}
	if (n == 0)
		return 0;

	inv->nodes = calloc(n, sizeof(*inv->nodes));
	if (inv->nodes == NULL) {
		util_err(err, errlen, "%s: out of memory", name);
		return -1;
	}
	for (i = 0; i < n; i++) {
		/* Count the node first so that inv_free frees its GPUs. */
		inv->nnodes = i + 1;
		if (inv_node_from_json(json_array_get(nodes, i),
		    &inv->nodes[i], msg, sizeof(msg)) == -1) {
			inv_err_node(err, errlen, name, i, inv->nodes[i].id,
			    msg);
			goto fail;
		}
		if (inv_check_parsed_node(&inv->nodes[i], i, name, err,
		    errlen) == -1)
			goto fail;
	}
	if (inv_check_duplicates(inv, name, err, errlen) == -1)
		goto fail;
	return 0;

fail:
	inv_free(inv);
	return -1;
}

int
inv_parse_json(struct inv *inv, const char *text, size_t len,
    const char *name, char *err, size_t errlen)
{
	json_t		*root;
	json_error_t	 jerr;
	char		 q[JSON_ERROR_TEXT_LENGTH];
	int		 r;

	inv_init(inv);
	if (name == NULL)
		name = "inventory";
	if (len > INV_FILE_MAX) {
		util_err(err, errlen, "%s: %zu bytes is over the limit of %u "
		    "bytes", name, len, INV_FILE_MAX);
		return -1;
	}

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		util_err(err, errlen, "%s:%d:%d: invalid JSON: %s", name,
		    jerr.line, jerr.column, inv_quote(jerr.text, q, sizeof(q)));
		return -1;
	}
	r = inv_from_jansson(inv, root, name, err, errlen);
	json_decref(root);
	return r;
}

int
inv_load_file(struct inv *inv, const char *path, char *err, size_t errlen)
{
	char	*text;
	size_t	 len;
	int	 r;

	inv_init(inv);
	text = util_read_file(path, INV_FILE_MAX, &len, err, errlen);
	if (text == NULL)
		return -1;
	r = inv_parse_json(inv, text, len, path, err, errlen);
	free(text);
	return r;
}

/* JSON output. */

static json_t *
inv_gpu_to_jansson(const struct inv_gpu *gpu)
{
	return json_pack("{s:I, s:s, s:s, s:I, s:I}",
	    "index", (json_int_t)gpu->index,
	    "name", gpu->name,
	    "uuid", gpu->uuid,
	    "memory_total", (json_int_t)gpu->memory_total,
	    "memory_free", (json_int_t)gpu->memory_free);
}

void *
inv_node_to_jansson(const struct inv_node *node)
{
	json_t		*obj, *gpus, *gpu;
	uint32_t	 i;

	gpus = json_array();
	if (gpus == NULL)
		return NULL;
	for (i = 0; i < node->ngpus; i++) {
		gpu = inv_gpu_to_jansson(&node->gpus[i]);
		if (gpu == NULL || json_array_append_new(gpus, gpu) == -1) {
			json_decref(gpus);
			return NULL;
		}
	}

	/* "o" steals the reference to gpus, also when json_pack fails. */
	obj = json_pack("{s:s, s:s, s:I, s:o}",
	    "id", node->id,
	    "address", node->address,
	    "workers", (json_int_t)node->workers,
	    "gpus", gpus);
	return obj;
}

void *
inv_to_jansson(const struct inv *inv)
{
	json_t	*nodes, *node;
	size_t	 i;

	nodes = json_array();
	if (nodes == NULL)
		return NULL;
	for (i = 0; i < inv->nnodes; i++) {
		node = inv_node_to_jansson(&inv->nodes[i]);
		if (node == NULL || json_array_append_new(nodes, node) == -1) {
			json_decref(nodes);
			return NULL;
		}
	}
	return json_pack("{s:o}", "nodes", nodes);
}

char *
inv_to_json(const struct inv *inv)
{
	json_t	*root;
	char	*text;

	root = inv_to_jansson(inv);
	if (root == NULL)
		return NULL;
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return text;
}
