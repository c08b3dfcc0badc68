/*
 * Assignment frames for many agents at once. Every Assignment of a plan
 * repeats the same stage table (layer_partition and stages, O(stages)
 * bytes). So the table is encoded once per plan, and each agent's output
 * buffer gets a reference to it. Only the node's own fields are encoded
 * per agent. The bytes equal those of wire_send_assignment: protobuf-c
 * writes fields in field-number order, and the stage table fields (13 and
 * 14) come last.
 *
 * Some changes of placement keep the stages and the layer split, such as
 * a spare that takes a lost node's stages. After one, an agent that
 * received the previous plan on the same connection gets only the changed
 * stages and stages_base (fields 14 and 15), also encoded once per plan.
 * With 10,000 stages and one changed, that frame is about 150 bytes
 * instead of 330 KB.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include <zlib.h>

#include "wire.h"

#include "head.h"

/* Envelope field 5 (assignment), wire type 2 (length-delimited). */
#define PUSH_ENVELOPE_TAG	((5u << 3) | 2u)
/* Assignment field 16 (stages_zlib), wire type 2; two bytes as a varint. */
#define PUSH_ZLIB_TAG		((16u << 3) | 2u)

/*
 * Whole tables smaller than this go out as they are. A stage takes about
 * 36 bytes, so agents that accept it get the table compressed from about
 * 15 stages on. A table of 9,999 generated host names and addresses shrinks
 * to about a quarter.
 */
#define PUSH_ZLIB_MIN		512

struct push_table {
	unsigned long	 pt_refs;
	size_t		 pt_len;
	size_t		 pt_plain_len;	/* pt_len before compression */
	uint8_t		 pt_data[];
};

/* Encodes the stage table of p: the Assignment fields layer_partition
 * and stages. Returns NULL on no memory or an invalid plan. */
struct push_table *
push_table_new(const struct plan *p)
{
	Ppcoord__Assignment	 a = PPCOORD__ASSIGNMENT__INIT;
	struct push_table	*t;
	size_t			 len;

	if (p->num_stages == 0 || wire_assignment_set_stages(&a, p) == -1)
		return NULL;

	len = ppcoord__assignment__get_packed_size(&a);
	if ((t = malloc(sizeof(*t) + len)) != NULL) {
		t->pt_refs = 1;
		t->pt_len = ppcoord__assignment__pack(&a, t->pt_data);
		t->pt_plain_len = t->pt_len;
	}
	wire_assignment_free_stages(&a);
	return t;
}

/*
 * Encodes the change from the stage table of `old` to that of p: the
 * stages whose node or address differ, and stages_base. Returns NULL when
 * the stage count or the layer split differ (the whole table is needed
 * then) or on no memory.
 */
struct push_table *
push_delta_new(const struct plan *old, const struct plan *p)
{
	Ppcoord__Assignment	  a = PPCOORD__ASSIGNMENT__INIT;
	Ppcoord__StageInfo	 *infos, **infop;
	const struct plan_node	 *was, *now;
	struct push_table	 *t = NULL;
	size_t			  n = 0, len;
	uint32_t		  s;

	if (old->generation == 0 || old->num_stages != p->num_stages ||
	    p->num_stages == 0 || memcmp(old->layer_partition,
	    p->layer_partition, p->num_stages * sizeof(uint32_t)) != 0)
		return NULL;
	infos = calloc(p->num_stages, sizeof(*infos));
	infop = calloc(p->num_stages, sizeof(*infop));
	if (infos == NULL || infop == NULL)
		goto out;
	for (s = 0; s < p->num_stages; s++) {
		if (old->stages[s].node >= old->nnodes ||
		    p->stages[s].node >= p->nnodes)
			goto out;
		was = &old->nodes[old->stages[s].node];
		now = &p->nodes[p->stages[s].node];
		if (strcmp(was->id, now->id) == 0 &&
		    strcmp(was->address, now->address) == 0)
			continue;
		wire_stage_info_init(&infos[n], s, now->id, now->address,
		    p->stages[s].first_layer, p->stages[s].end_layer);
		infop[n] = &infos[n];
		n++;
	}
	a.n_stages = n;
	a.stages = infop;
	a.has_stages_base = 1;
	a.stages_base = old->generation;

	len = ppcoord__assignment__get_packed_size(&a);
	if ((t = malloc(sizeof(*t) + len)) != NULL) {
		t->pt_refs = 1;
		t->pt_len = ppcoord__assignment__pack(&a, t->pt_data);
		t->pt_plain_len = t->pt_len;
	}
out:
	free(infos);
	free(infop);
	return t;
}

/*
 * True when plan node oi of `old` and node ni of p get the same
 * Assignment apart from the generation and the stage table: the same
 * node, rank, stages, layers and rendezvous address.
 */
bool
push_same_own_fields(const struct plan *old, size_t oi, const struct plan *p,
    size_t ni)
{
	Ppcoord__Assignment	 a = PPCOORD__ASSIGNMENT__INIT;
	Ppcoord__Assignment	 b = PPCOORD__ASSIGNMENT__INIT;
	uint8_t			 x[512], y[512];
	size_t			 len;

	if (wire_assignment_fill(&a, old, oi) == -1 ||
	    wire_assignment_fill(&b, p, ni) == -1)
		return false;
	a.generation = b.generation = 0;
	len = ppcoord__assignment__get_packed_size(&a);
	if (len > sizeof(x) || ppcoord__assignment__get_packed_size(&b) != len)
		return false;
	ppcoord__assignment__pack(&a, x);
	ppcoord__assignment__pack(&b, y);
	return memcmp(x, y, len) == 0;
}

void
push_table_unref(struct push_table *t)
{
	if (t != NULL && --t->pt_refs == 0)
		free(t);
}

static void
push_table_cleanup_cb(const void *data, size_t len, void *arg)
{
	push_table_unref(arg);
}

static size_t
push_varint(uint64_t v, uint8_t *out)
{
	size_t	 n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/*
 * Encodes the whole table t as Assignment field stages_zlib. Returns NULL
 * when t is small or the field would not be shorter than t, or on no
 * memory or a zlib error.
 */
struct push_table *
push_table_zlib_new(const struct push_table *t)
{
	struct push_table	*z;
	uLongf			 zlen;
	size_t			 hdr;

	if (t == NULL || t->pt_len < PUSH_ZLIB_MIN || t->pt_len > UINT32_MAX)
		return NULL;
	zlen = compressBound((uLong)t->pt_len);
	if ((z = malloc(sizeof(*z) + 2 + 10 + zlen)) == NULL)
		return NULL;
	/* The tag and the length go first, so the data is compressed into
	 * the space after the longest length varint and then moved. */
	if (compress2(z->pt_data + 12, &zlen, t->pt_data, (uLong)t->pt_len,
	    Z_DEFAULT_COMPRESSION) != Z_OK) {
		free(z);
		return NULL;
	}
	z->pt_data[0] = (uint8_t)(PUSH_ZLIB_TAG | 0x80);
	z->pt_data[1] = (uint8_t)(PUSH_ZLIB_TAG >> 7);
	hdr = 2 + push_varint(zlen, z->pt_data + 2);
	if (hdr + zlen >= t->pt_len) {
		free(z);
		return NULL;
	}
	memmove(z->pt_data + hdr, z->pt_data + 12, zlen);
	z->pt_refs = 1;
	z->pt_len = hdr + zlen;
	z->pt_plain_len = t->pt_plain_len;
	return z;
}

/*
 * Appends the Assignment frame of plan node `node` to out, referring to
 * the shared table t: the whole table or a change, built from the same
 * plan. Returns 0, or -1 for an invalid node or a frame over max_frame.
 */
int
push_assignment(struct evbuffer *out, const struct plan *p, size_t node,
    struct push_table *t, uint32_t max_frame)
{
	Ppcoord__Assignment	 a = PPCOORD__ASSIGNMENT__INIT;
	uint8_t			 hdr[WIRE_HEADER_LEN + 1 + 10 + 512];
	size_t			 own, body, frame, off;

	if (t == NULL || wire_assignment_fill(&a, p, node) == -1)
		return -1;

	/* The node's own fields: ids and addresses are at most 63 bytes, so
	 * they fit in hdr with room to spare. */
	own = ppcoord__assignment__get_packed_size(&a);
	if (own > sizeof(hdr) - WIRE_HEADER_LEN - 11)
		return -1;
	/* A compressed table must also fit uncompressed, so that every
	 * agent can take the plan and inflating is bounded. */
	body = own + t->pt_plain_len;
	if (1 + push_varint(body, hdr) + body > max_frame)
		return -1;
	body = own + t->pt_len;

	off = WIRE_HEADER_LEN;
	hdr[off++] = PUSH_ENVELOPE_TAG;
	off += push_varint(body, hdr + off);
	frame = off - WIRE_HEADER_LEN + body;
	if (frame > max_frame)
		return -1;
	hdr[0] = (uint8_t)(frame >> 24);
	hdr[1] = (uint8_t)(frame >> 16);
	hdr[2] = (uint8_t)(frame >> 8);
	hdr[3] = (uint8_t)frame;
	off += ppcoord__assignment__pack(&a, hdr + off);

	if (evbuffer_add(out, hdr, off) == -1)
		return -1;
	t->pt_refs++;
	if (evbuffer_add_reference(out, t->pt_data, t->pt_len,
	    push_table_cleanup_cb, t) == -1) {
		t->pt_refs--;
		return -1;
	}
	return 0;
}
