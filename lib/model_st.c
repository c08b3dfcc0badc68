/*
 * Exact weight sizes from safetensors headers. A safetensors file is an
 * 8-byte little-endian header length, a JSON header mapping each tensor
 * name to {"dtype", "shape", "data_offsets": [begin, end]} with offsets
 * relative to the data that follows, then the data. Only the header is
 * read.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "model.h"
#include "util.h"

#define ST_FILES_MAX	100000

static const struct {
	const char	*name;
	unsigned	 bytes;
} st_dtypes[] = {
	{ "F64", 8 }, { "F32", 4 }, { "F16", 2 }, { "BF16", 2 },
	{ "I64", 8 }, { "I32", 4 }, { "I16", 2 }, { "I8", 1 },
	{ "U64", 8 }, { "U32", 4 }, { "U16", 2 }, { "U8", 1 },
	{ "BOOL", 1 }, { "F8_E4M3", 1 }, { "F8_E5M2", 1 },
};

struct span {
	uint64_t	 begin;
	uint64_t	 end;
	const char	*tensor;
};

/* Part of the model that a tensor's bytes count toward. */
enum part { PART_LAYER, PART_EMBEDDING, PART_HEAD, PART_DROPPED,
    PART_OTHER };

/*
 * Classifies a tensor name. "model.layers.N.*" needs a decimal N; a
 * malformed N is an error. Returns 0 with *part (and *layer), or -1.
 */
static int
classify(const char *tensor, uint32_t layers, enum part *part,
    uint32_t *layer)
{
	static const char	 prefix[] = "model.layers.";
	const char		*p;
	uint64_t		 n = 0;

	if (strncmp(tensor, prefix, sizeof(prefix) - 1) == 0) {
		p = tensor + sizeof(prefix) - 1;
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++) {
			/* Saturate: any number past the limit is dropped. */
			if (n <= MODEL_LAYERS_MAX)
				n = n * 10 + (uint64_t)(*p - '0');
		}
		if (*p != '.')
			return -1;
		if (n >= layers) {
			*part = PART_DROPPED;
			return 0;
		}
		*part = PART_LAYER;
		*layer = (uint32_t)n;
		return 0;
	}
	if (strncmp(tensor, "model.embed_tokens.", 19) == 0)
		*part = PART_EMBEDDING;
	else if (strncmp(tensor, "lm_head.", 8) == 0 ||
	    strncmp(tensor, "model.norm.", 11) == 0)
		*part = PART_HEAD;
	else
		*part = PART_OTHER;
	return 0;
}

static int
dtype_bytes(const char *dtype)
{
	size_t	 i;

	for (i = 0; i < sizeof(st_dtypes) / sizeof(st_dtypes[0]); i++)
		if (strcmp(dtype, st_dtypes[i].name) == 0)
			return (int)st_dtypes[i].bytes;
	return -1;
}

/* Reads a non-negative JSON integer. */
static int
get_u64(json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/*
 * Checks one tensor entry and returns its byte size in *size and its data
 * span. Returns 0, or -1 with a message naming the file and tensor.
 */
static int
check_tensor(const char *name, const char *tensor, json_t *t,
    uint64_t data_size, uint64_t *size, struct span *span, char *err,
    size_t errlen)
{
	json_t			*dtype, *shape, *offsets, *dim;
	unsigned __int128	 expected;
	uint64_t		 begin, end, d;
	size_t			 i;
	int			 eb;

	if (!json_is_object(t)) {
		snprintf(err, errlen, "%s: tensor \"%.128s\": expected an "
		    "object", name, tensor);
		return -1;
	}
	dtype = json_object_get(t, "dtype");
	shape = json_object_get(t, "shape");
	offsets = json_object_get(t, "data_offsets");
	if (!json_is_string(dtype) || !json_is_array(shape) ||
	    !json_is_array(offsets)) {
		snprintf(err, errlen, "%s: tensor \"%.128s\": missing or "
		    "invalid dtype, shape or data_offsets", name, tensor);
		return -1;
	}
	if ((eb = dtype_bytes(json_string_value(dtype))) == -1) {
		snprintf(err, errlen, "%s: tensor \"%.128s\": unknown dtype "
		    "\"%.16s\"", name, tensor, json_string_value(dtype));
		return -1;
	}

	expected = (unsigned __int128)eb;
	json_array_foreach(shape, i, dim) {
		if (get_u64(dim, &d) == -1) {
			snprintf(err, errlen, "%s: tensor \"%.128s\": shape "
			    "entry %zu is not a non-negative integer", name,
			    tensor, i);
			return -1;
		}
		expected *= d;
		if (expected > UINT64_MAX)
			expected = (unsigned __int128)UINT64_MAX + 1;
	}

	if (json_array_size(offsets) != 2 ||
	    get_u64(json_array_get(offsets, 0), &begin) == -1 ||
	    get_u64(json_array_get(offsets, 1), &end) == -1 || begin > end) {
		snprintf(err, errlen, "%s: tensor \"%.128s\": data_offsets must "
		    "be [begin, end] with 0 <= begin <= end", name, tensor);
		return -1;
	}
	if (end > data_size) {
		snprintf(err, errlen, "%s: tensor \"%.128s\": data_offsets end "
		    "%llu is past the end of the data (%llu bytes); the file "
		    "is truncated or corrupt", name, tensor,
		    (unsigned long long)end, (unsigned long long)data_size);
		return -1;
	}
	if (expected != end - begin) {
		snprintf(err, errlen, "%s: tensor \"%.128s\": data_offsets "
		    "span %llu bytes but dtype and shape give %llu", name,
		    tensor, (unsigned long long)(end - begin),
		    (unsigned long long)(expected > UINT64_MAX ? UINT64_MAX :
		    (uint64_t)expected));
		return -1;
	}
	*size = end - begin;
	span->begin = begin;
	span->end = end;
	span->tensor = tensor;
	return 0;
}

static int
span_cmp(const void *a, const void *b)
{
	const struct span	*x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

/* Checks that no two tensors share bytes. Empty tensors overlap nothing. */
static int
check_overlaps(const char *name, struct span *spans, size_t n, char *err,
    size_t errlen)
{
	size_t	 i, last = SIZE_MAX;

	qsort(spans, n, sizeof(*spans), span_cmp);
	for (i = 0; i < n; i++) {
		if (spans[i].begin == spans[i].end)
			continue;
		if (last != SIZE_MAX && spans[i].begin < spans[last].end) {
			snprintf(err, errlen, "%s: tensors \"%.100s\" and "
			    "\"%.100s\" overlap in the data", name,
			    spans[last].tensor, spans[i].tensor);
			return -1;
		}
		last = i;
	}
	return 0;
}

/* Adds a tensor's bytes to its part of m. Returns -1 on overflow. */
static int
add_bytes(struct model_sizes *m, enum part part, uint32_t layer,
    uint64_t size)
{
	uint64_t	*sum;

	switch (part) {
	case PART_LAYER:
		sum = &m->layer_bytes[layer];
		break;
	case PART_EMBEDDING:
		sum = &m->embedding_bytes;
		break;
	case PART_HEAD:
		sum = &m->head_bytes;
		break;
	case PART_DROPPED:
		m->dropped_tensors++;
		return 0;
	default:
		m->other_tensors++;
		return 0;
	}
	if (*sum > UINT64_MAX - size)
		return -1;
	*sum += size;
	return 0;
}

int
model_add_safetensors_header(struct model_sizes *m, const char *json,
    size_t json_len, uint64_t data_size, const char *name, char *err,
    size_t errlen)
{
	json_error_t	 jerr;
	json_t		*root, *t;
	const char	*tensor;
	struct span	*spans;
	enum part	 part;
	uint32_t	 layer = 0;
	uint64_t	 size;
	size_t		 n = 0;
	int		 rc = -1;

	root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "%s: invalid JSON header at byte %d: %s",
		    name, jerr.position, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s: the header is not a JSON object",
		    name);
		json_decref(root);
		return -1;
	}
	if ((spans = calloc(json_object_size(root) + 1, sizeof(*spans))) ==
	    NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		json_decref(root);
		return -1;
	}

	json_object_foreach(root, tensor, t) {
		if (strcmp(tensor, "__metadata__") == 0)
			continue;
		if (check_tensor(name, tensor, t, data_size, &size, &spans[n],
		    err, errlen) == -1)
			goto out;
		n++;
		if (classify(tensor, m->layers, &part, &layer) == -1) {
			snprintf(err, errlen, "%s: tensor \"%.128s\": the layer "
			    "number after model.layers. is not a decimal "
			    "number", name, tensor);
			goto out;
		}
		if (part == PART_HEAD && strncmp(tensor, "lm_head.", 8) == 0)
			m->have_lm_head = true;
		if (add_bytes(m, part, layer, size) == -1) {
			snprintf(err, errlen, "%s: tensor \"%.128s\": byte total "
			    "overflows 64 bits", name, tensor);
			goto out;
		}
	}
	if (check_overlaps(name, spans, n, err, errlen) == -1)
		goto out;
	rc = 0;
out:
	free(spans);
	json_decref(root);
	return rc;
}

/* Reads the header of one file and adds its tensors to m. */
static int
add_file(struct model_sizes *m, const char *path, char *err, size_t errlen)
{
	unsigned char	 lenbuf[8];
	struct stat	 st;
	uint64_t	 hlen = 0;
	ssize_t		 r;
	char		*json = NULL;
	int		 fd, i, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size < 8 || pread(fd, lenbuf, 8, 0) != 8) {
		snprintf(err, errlen, "%s: truncated: shorter than the 8-byte "
		    "header length", path);
		goto out;
	}
	for (i = 7; i >= 0; i--)
		hlen = hlen << 8 | lenbuf[i];
	if (hlen > MODEL_ST_HEADER_MAX) {
		snprintf(err, errlen, "%s: header length %llu is over the "
		    "limit of %u bytes; not a safetensors file?", path,
		    (unsigned long long)hlen, MODEL_ST_HEADER_MAX);
		goto out;
	}
	if (hlen > (uint64_t)st.st_size - 8) {
		snprintf(err, errlen, "%s: truncated: header length %llu is "
		    "past the end of the file (%lld bytes)", path,
		    (unsigned long long)hlen, (long long)st.st_size);
		goto out;
	}
	if ((json = malloc(hlen + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	r = pread(fd, json, hlen, 8);
	if (r < 0 || (uint64_t)r != hlen) {
		snprintf(err, errlen, "%s: reading the header failed: %s",
		    path, r < 0 ? strerror(errno) : "short read");
		goto out;
	}
	rc = model_add_safetensors_header(m, json, hlen,
	    (uint64_t)st.st_size - 8 - hlen, path, err, errlen);
out:
	free(json);
	close(fd);
	return rc;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

/* Lists the *.safetensors files of dir, sorted. Returns their count or
 * -1. */
static ssize_t
list_files(const char *dir, char ***out, char *err, size_t errlen)
{
	struct dirent	*de;
	DIR		*d;
	char		**names = NULL, **nn;
	size_t		 n = 0, len, i;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 12 || de->d_name[0] == '.' ||
		    strcmp(de->d_name + len - 12, ".safetensors") != 0)
			continue;
		if (n == ST_FILES_MAX) {
			snprintf(err, errlen, "%s: more than %d safetensors "
			    "files", dir, ST_FILES_MAX);
			goto fail;
		}
		if ((nn = realloc(names, (n + 1) * sizeof(*names))) == NULL)
			goto nomem;
		names = nn;
		if ((names[n] = strdup(de->d_name)) == NULL)
			goto nomem;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	return (ssize_t)n;

nomem:
	snprintf(err, errlen, "%s: out of memory", dir);
fail:
	closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return -1;
}

/* Checks the totals once every file is read. */
static int
check_totals(struct model_sizes *m, const char *dir, char *err,
    size_t errlen)
{
	uint32_t	 i;

	for (i = 0; i < m->layers; i++) {
		if (m->layer_bytes[i] == 0) {
			snprintf(err, errlen, "%s: no tensors for layer %u of "
			    "%u (named model.layers.%u.*); is a *.safetensors "
			    "file missing, or is model.layers too large?", dir,
			    i, m->layers, i);
			return -1;
		}
	}
	if (m->embedding_bytes == 0) {
		snprintf(err, errlen, "%s: no model.embed_tokens tensor; is a "
		    "*.safetensors file missing?", dir);
		return -1;
	}
	/*
	 * H is exactly the lm_head.* and model.norm.* tensors, also when
	 * there is no lm_head (tied embeddings).
	 * NOTE: vLLM's LlamaModel (model_executor/models/llama.py, v0.8)
	 * with tied embeddings also creates the embedding table on the last
	 * pipeline stage, which H then leaves out; operators of such models
	 * should set model.head_bytes explicitly.
	 */
	return 0;
}

int
model_from_safetensors_dir(struct model_sizes *m, const char *dir,
    uint32_t layers, char *err, size_t errlen)
{
	char		 path[4096];
	char		**names = NULL;
	ssize_t		 n, i;
	int		 rc = -1;

	model_sizes_init(m);
	if (layers == 0 || layers > MODEL_LAYERS_MAX) {
		snprintf(err, errlen, "%s: layer count %u is out of range",
		    dir, layers);
		return -1;
	}
	m->layers = layers;
	if ((m->layer_bytes = calloc(layers, sizeof(uint64_t))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", dir);
		return -1;
	}
	if ((n = list_files(dir, &names, err, errlen)) == -1)
		goto out;
	if (n == 0) {
		snprintf(err, errlen, "%s: no *.safetensors files", dir);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >=
		    (int)sizeof(path)) {
			snprintf(err, errlen, "%s/%s: path too long", dir,
			    names[i]);
			goto out;
		}
		if (add_file(m, path, err, errlen) == -1)
			goto out;
	}
	if (check_totals(m, dir, err, errlen) == -1)
		goto out;
	snprintf(m->source, sizeof(m->source), "safetensors");
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rc == -1)
		model_sizes_free(m);
	return rc;
}
