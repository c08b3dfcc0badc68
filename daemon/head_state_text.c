/*
 * The state file's text, written straight from the plan and inventory
 * structs. For 10,000 nodes (4.3 MB) building the same document as a
 * jansson tree, dumping and freeing it took about 120 ms on a 2-core
 * test VM, and this writer about 12 ms. The document is equal, as JSON
 * values, to the one plan_to_jansson and inv_to_jansson give, which
 * tests/unit/test_head_state_text.c checks.
 *
 * Strings that are not valid UTF-8 and numbers over INT64_MAX are left
 * to the jansson path: the function returns NULL and the caller falls
 * back.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "head.h"

struct text_buf {
	char	*tb_data;
	size_t	 tb_len;
	size_t	 tb_cap;
	bool	 tb_failed;	/* out of memory, or a string JSON cannot hold */
};

static bool
text_reserve(struct text_buf *b, size_t more)
{
	size_t	 cap;
	char	*p;

	if (b->tb_failed)
		return false;
	if (b->tb_cap - b->tb_len > more)
		return true;
	cap = b->tb_cap > 0 ? b->tb_cap : 4096;
	while (cap - b->tb_len <= more)
		cap *= 2;
	if ((p = realloc(b->tb_data, cap)) == NULL) {
		b->tb_failed = true;
		return false;
	}
	b->tb_data = p;
	b->tb_cap = cap;
	return true;
}

static void
text_raw(struct text_buf *b, const char *s)
{
	size_t	 len = strlen(s);

	if (!text_reserve(b, len))
		return;
	memcpy(b->tb_data + b->tb_len, s, len);
	b->tb_len += len;
}

static void
text_u64(struct text_buf *b, uint64_t v)
{
	char	 digits[20];
	int	 n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	if (!text_reserve(b, (size_t)n))
		return;
	while (n > 0)
		b->tb_data[b->tb_len++] = digits[--n];
}

/* Fails the text for a value over INT64_MAX, which a jansson integer
 * cannot hold (set_uint in plan_fmt.c fails the same way). */
static void
text_u63(struct text_buf *b, uint64_t v)
{
	if (v > INT64_MAX) {
		b->tb_failed = true;
		return;
	}
	text_u64(b, v);
}

static void
text_i64(struct text_buf *b, int64_t v)
{
	if (v < 0) {
		text_raw(b, "-");
		text_u64(b, (uint64_t)0 - (uint64_t)v);
	} else
		text_u64(b, (uint64_t)v);
}

/* Returns the length of the UTF-8 sequence at s, or 0 when it is invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t
utf8_seq_len(const unsigned char *s)
{
	uint32_t	 cp;
	size_t		 n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* Appends s as a JSON string, escaping what RFC 8259 requires. */
static void
text_str(struct text_buf *b, const char *str)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 n;

	if (!text_reserve(b, 2 + 6 * strlen(str)))
		return;
	b->tb_data[b->tb_len++] = '"';
	while (*s != '\0') {
		for (n = 0; s[n] >= 0x20 && s[n] < 0x80 && s[n] != '"' &&
		    s[n] != '\\'; n++)
			;
		if (n > 0) {
			memcpy(b->tb_data + b->tb_len, s, n);
			b->tb_len += n;
			s += n;
			continue;
		}
		if (*s == '"' || *s == '\\') {
			b->tb_data[b->tb_len++] = '\\';
			b->tb_data[b->tb_len++] = (char)*s++;
		} else if (*s < 0x20) {
			memcpy(b->tb_data + b->tb_len, "\\u00", 4);
			b->tb_data[b->tb_len + 4] = hex[*s >> 4];
			b->tb_data[b->tb_len + 5] = hex[*s & 0xf];
			b->tb_len += 6;
			s++;
		} else if ((n = utf8_seq_len(s)) == 0) {
			b->tb_failed = true;
			return;
		} else {
			memcpy(b->tb_data + b->tb_len, s, n);
			b->tb_len += n;
			s += n;
		}
	}
	b->tb_data[b->tb_len++] = '"';
}

/* Appends `"key":` after a comma unless it is the object's first. The
 * keys are literals that need no escaping, except spare ids. */
static void
text_key(struct text_buf *b, const char *key, bool first)
{
	size_t	 len = strlen(key);

	if (!text_reserve(b, len + 4))
		return;
	if (!first)
		b->tb_data[b->tb_len++] = ',';
	b->tb_data[b->tb_len++] = '"';
	memcpy(b->tb_data + b->tb_len, key, len);
	b->tb_len += len;
	b->tb_data[b->tb_len++] = '"';
	b->tb_data[b->tb_len++] = ':';
}

static void
text_plan_node(struct text_buf *b, const struct plan_node *n)
{
	text_key(b, "id", true);
	text_str(b, n->id);
	text_key(b, "address", false);
	text_str(b, n->address);
	text_key(b, "node_rank", false);
	text_u64(b, n->node_rank);
	text_key(b, "first_stage", false);
	text_u64(b, n->first_stage);
	text_key(b, "stage_count", false);
	text_u64(b, n->stage_count);
	text_key(b, "workers", false);
	text_u64(b, n->workers);
	text_key(b, "pinned", false);
	text_raw(b, n->pinned ? "true" : "false");
	text_key(b, "hinted", false);
	text_raw(b, n->hinted ? "true" : "false");
	text_key(b, "reason", false);
	text_str(b, n->reason);
}

static void
text_plan_lists(struct text_buf *b, const struct plan *p)
{
	size_t	 i;

	text_key(b, "nodes", false);
	text_raw(b, "[");
	for (i = 0; i < p->nnodes; i++) {
		text_raw(b, i > 0 ? ",{" : "{");
		text_plan_node(b, &p->nodes[i]);
		text_raw(b, "}");
	}
	text_raw(b, "]");

	text_key(b, "stages", false);
	text_raw(b, "[");
	for (i = 0; i < p->num_stages; i++) {
		const struct plan_stage	*s = &p->stages[i];

		if (s->node >= p->nnodes) {
			b->tb_failed = true;
			return;
		}
		text_raw(b, i > 0 ? ",{" : "{");
		text_key(b, "stage", true);
		text_u64(b, s->stage);
		text_key(b, "node", false);
		text_str(b, p->nodes[s->node].id);
		text_key(b, "first_layer", false);
		text_u64(b, s->first_layer);
		text_key(b, "end_layer", false);
		text_u64(b, s->end_layer);
		if (p->have_memory) {
			text_key(b, "budget_bytes", false);
			text_i64(b, s->budget_bytes);
			text_key(b, "weight_bytes", false);
			text_u63(b, s->weight_bytes);
			text_key(b, "kv_tokens", false);
			text_i64(b, s->kv_tokens);
		}
		text_raw(b, "}");
	}
	text_raw(b, "]");

	text_key(b, "spares", false);
	text_raw(b, "[");
	for (i = 0; i < p->nspares; i++) {
		text_raw(b, i > 0 ? "," : "");
		text_str(b, p->spares[i].id);
	}
	text_raw(b, "]");
	text_key(b, "spare_reasons", false);
	text_raw(b, "{");
	for (i = 0; i < p->nspares; i++) {
		text_raw(b, i > 0 ? "," : "");
		text_str(b, p->spares[i].id);
		text_raw(b, ":");
		text_str(b, p->spares[i].reason);
	}
	text_raw(b, "}");
}

/* The "model" object, as model_to_jansson builds it. */
static void
text_model(struct text_buf *b, const struct model_sizes *m)
{
	uint32_t	 i;

	text_raw(b, "{");
	text_key(b, "layer_bytes", true);
	text_raw(b, "[");
	for (i = 0; i < m->layers; i++) {
		text_raw(b, i > 0 ? "," : "");
		text_u63(b, m->layer_bytes[i]);
	}
	text_raw(b, "]");
	text_key(b, "embedding_bytes", false);
	text_u63(b, m->embedding_bytes);
	text_key(b, "head_bytes", false);
	text_u63(b, m->head_bytes);
	text_key(b, "kv_bytes_per_token", false);
	text_u63(b, m->kv_bytes_per_token);
	text_raw(b, "}");
}

/* The plan object, as plan_to_jansson builds it; `sizes` is the model
 * of the plan's config, or NULL. */
static void
text_plan(struct text_buf *b, const struct plan *p,
    const struct model_sizes *sizes)
{
	uint32_t	 i;

	text_raw(b, "{");
	text_key(b, "generation", true);
	text_u64(b, p->generation);
	text_key(b, "num_stages", false);
	text_u64(b, p->num_stages);
	text_key(b, "tp_size", false);
	text_u64(b, p->tp_size);
	text_key(b, "layers", false);
	text_u64(b, p->layers);
	text_key(b, "order", false);
	text_str(b, plan_order_name(p->order));
	text_key(b, "partition", false);
	text_str(b, plan_partition_name(p->partition));
	text_key(b, "layer_partition", false);
	text_raw(b, "[");
	for (i = 0; i < p->num_stages; i++) {
		text_raw(b, i > 0 ? "," : "");
		text_u64(b, p->layer_partition[i]);
	}
	text_raw(b, "]");
	text_plan_lists(b, p);
	if (p->have_memory) {
		text_key(b, "kv_tokens", false);
		text_i64(b, p->kv_tokens);
		if (sizes != NULL) {
			text_key(b, "model", false);
			text_model(b, sizes);
		}
	}
	text_key(b, "master_addr", false);
	text_str(b, p->master_addr);
	text_key(b, "master_port", false);
	text_u64(b, p->master_port);
	text_raw(b, "}");
}

/* The inventory object, as inv_to_jansson builds it. */
static void
text_inventory(struct text_buf *b, const struct inv *inv)
{
	const struct inv_node	*n;
	const struct inv_gpu	*g;
	size_t			 i;
	uint32_t		 k;

	text_raw(b, "{\"nodes\":[");
	for (i = 0; i < inv->nnodes; i++) {
		n = &inv->nodes[i];
		text_raw(b, i > 0 ? ",{" : "{");
		text_key(b, "id", true);
		text_str(b, n->id);
		text_key(b, "address", false);
		text_str(b, n->address);
		text_key(b, "workers", false);
		text_u64(b, n->workers);
		text_key(b, "gpus", false);
		text_raw(b, "[");
		for (k = 0; k < n->ngpus; k++) {
			g = &n->gpus[k];
			text_raw(b, k > 0 ? ",{" : "{");
			text_key(b, "index", true);
			text_u64(b, g->index);
			text_key(b, "name", false);
			text_str(b, g->name);
			text_key(b, "uuid", false);
			text_str(b, g->uuid);
			if (g->memory_total > INT64_MAX ||
			    g->memory_free > INT64_MAX)
				b->tb_failed = true;
			text_key(b, "memory_total", false);
			text_u64(b, g->memory_total);
			text_key(b, "memory_free", false);
			text_u64(b, g->memory_free);
			text_raw(b, "}");
		}
		text_raw(b, "]}");
	}
	text_raw(b, "]}");
}

/*
 * Formats the state file document: version, cluster, generation, state,
 * plan, inventory and config_digest. `sizes` is the model of the plan's
 * config, or NULL. Returns the text (free it), or NULL when a string is
 * not valid UTF-8, a number does not fit a JSON integer, or memory ran
 * out.
 */
char *
state_text(const struct plan *p, const struct inv *inv,
    const struct model_sizes *sizes, int version, const char *cluster,
    uint64_t generation, const char *state, const char *digest, size_t *len)
{
	struct text_buf	 b;

	/* jansson integers are signed 64-bit. */
	if (generation > INT64_MAX || p->generation > INT64_MAX)
		return NULL;
	memset(&b, 0, sizeof(b));
	text_raw(&b, "{");
	text_key(&b, "version", true);
	text_u64(&b, (uint64_t)version);
	text_key(&b, "cluster", false);
	text_str(&b, cluster);
	text_key(&b, "generation", false);
	text_u64(&b, generation);
	text_key(&b, "state", false);
	text_str(&b, state);
	text_key(&b, "plan", false);
	text_plan(&b, p, sizes);
	text_key(&b, "inventory", false);
	text_inventory(&b, inv);
	text_key(&b, "config_digest", false);
	text_str(&b, digest);
	text_raw(&b, "}");
	if (b.tb_failed || !text_reserve(&b, 1)) {
		free(b.tb_data);
		return NULL;
	}
	b.tb_data[b.tb_len] = '\0';
	*len = b.tb_len;
	return b.tb_data;
}
