/*
 * The agent's copy of the stage table, and the expansion of an
 * Assignment that lists only the changed stages or carries its table
 * compressed (see stagetab.h).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "stagetab.h"
#include "wire.h"

void
stagetab_clear(struct stagetab *t)
{
	free(t->entries);
	memset(t, 0, sizeof(*t));
}

void
stagetab_view_free(struct stagetab_view *v)
{
	free(v->partition);
	free(v->infos);
	free(v->infop);
	if (v->inner != NULL)
		ppcoord__assignment__free_unpacked(v->inner, NULL);
	memset(v, 0, sizeof(*v));
}

/* True when the table of stages_zlib sets a field besides
 * layer_partition and stages, or one this agent does not know. */
static bool
stagetab_inner_has_more(const Ppcoord__Assignment *in)
{
	return in->has_generation || in->node_id != NULL ||
	    in->has_node_rank || in->has_nnodes || in->has_first_stage ||
	    in->has_stage_count || in->has_num_stages || in->has_tp_size ||
	    in->has_first_layer || in->has_end_layer ||
	    in->master_addr != NULL || in->has_master_port ||
	    in->has_stages_base || in->has_stages_zlib ||
	    in->base.n_unknown_fields > 0;
}

/*
 * Inflates the zlib stream of `src` into buf (at most *len bytes) and
 * sets *len to its length. The stream must end exactly at the end of
 * src. Returns a zlib code: Z_BUF_ERROR when it inflates to more.
 */
static int
stagetab_uncompress(uint8_t *buf, size_t *len, const ProtobufCBinaryData *src)
{
	z_stream	 zs;
	int		 rc;

	memset(&zs, 0, sizeof(zs));
	if (src->len > UINT_MAX || *len > UINT_MAX)
		return Z_BUF_ERROR;
	if ((rc = inflateInit(&zs)) != Z_OK)
		return rc;
	zs.next_in = src->data;
	zs.avail_in = (uInt)src->len;
	zs.next_out = buf;
	zs.avail_out = (uInt)*len;
	rc = inflate(&zs, Z_FINISH);
	*len = zs.total_out;
	inflateEnd(&zs);
	if (rc == Z_STREAM_END)
		return zs.avail_in == 0 ? Z_OK : Z_DATA_ERROR;
	/* Out of output space with input left: more than *len bytes. */
	if ((rc == Z_BUF_ERROR || rc == Z_OK) && zs.avail_out == 0)
		return Z_BUF_ERROR;
	return rc == Z_MEM_ERROR ? Z_MEM_ERROR : Z_DATA_ERROR;
}

/* Sets v->msg's table from m's stages_zlib: inflated, at most
 * STAGETAB_ZLIB_MAX bytes, and decoded as an Assignment of its own. */
static int
stagetab_inflate(const Ppcoord__Assignment *m, struct stagetab_view *v,
    char *err, size_t errlen)
{
	const Ppcoord__Assignment	*in;
	uint8_t				*buf;
	size_t				 len = STAGETAB_ZLIB_MAX;
	int				 rc;

	if (m->has_stages_base || m->n_stages > 0 ||
	    m->n_layer_partition > 0) {
		util_err(err, errlen, "stages_zlib is set together with "
		    "stages_base, stages or layer_partition, but it carries "
		    "the whole table alone");
		return STAGETAB_EINVAL;
	}
	if ((buf = malloc(STAGETAB_ZLIB_MAX)) == NULL) {
		util_err(err, errlen, "out of memory for a stage table of up "
		    "to %u bytes", STAGETAB_ZLIB_MAX);
		return STAGETAB_ENOMEM;
	}
	rc = stagetab_uncompress(buf, &len, &m->stages_zlib);
	if (rc != Z_OK) {
		free(buf);
		util_err(err, errlen, "stages_zlib (%zu bytes) %s",
		    m->stages_zlib.len, rc == Z_BUF_ERROR ? "inflates to more "
		    "than 1 MiB" : rc == Z_MEM_ERROR ? "cannot be inflated: "
		    "out of memory" : "is not valid zlib data, is cut short, "
		    "or has bytes after its end");
		return rc == Z_MEM_ERROR ? STAGETAB_ENOMEM : STAGETAB_EINVAL;
	}
	v->inner = ppcoord__assignment__unpack(NULL, len, buf);
	free(buf);
	if ((in = v->inner) == NULL) {
		util_err(err, errlen, "stages_zlib inflates to %zu bytes that "
		    "are not a valid stage table", len);
		return STAGETAB_EINVAL;
	}
	if (stagetab_inner_has_more(in)) {
		util_err(err, errlen, "the table in stages_zlib sets fields "
		    "besides layer_partition and stages");
		return STAGETAB_EINVAL;
	}
	v->msg.has_stages_zlib = 0;
	v->msg.stages_zlib.len = 0;
	v->msg.stages_zlib.data = NULL;
	v->msg.n_layer_partition = in->n_layer_partition;
	v->msg.layer_partition = in->layer_partition;
	v->msg.n_stages = in->n_stages;
	v->msg.stages = in->stages;
	return 0;
}

/* Checks the form of a change against t: the base, the stage count, no
 * partition, and changed stages in increasing order within the table. */
static int
stagetab_check_change(const struct stagetab *t, const Ppcoord__Assignment *m,
    char *err, size_t errlen)
{
	const Ppcoord__StageInfo	*si;
	size_t				 k;
	uint64_t			 next = 0;

	if (t->generation == 0) {
		util_err(err, errlen, "the stage table is a change against "
		    "generation %" PRIu64 ", but no table was accepted on "
		    "this connection", m->stages_base);
		return STAGETAB_EBASE;
	}
	if (m->stages_base != t->generation) {
		util_err(err, errlen, "the stage table is a change against "
		    "generation %" PRIu64 ", but the table received last is "
		    "of generation %" PRIu64, m->stages_base, t->generation);
		return STAGETAB_EBASE;
	}
	if (!m->has_num_stages) {
		util_err(err, errlen, "num_stages is missing");
		return STAGETAB_EINVAL;
	}
	if (m->num_stages != t->num_stages) {
		util_err(err, errlen, "num_stages %" PRIu32 " differs from "
		    "the %" PRIu32 " stages of the table of generation "
		    "%" PRIu64 ", so the whole table was expected",
		    m->num_stages, t->num_stages, t->generation);
		return STAGETAB_EINVAL;
	}
	if (m->n_layer_partition != 0) {
		util_err(err, errlen, "layer_partition is set in a stage table "
		    "change, which keeps the partition of generation %" PRIu64,
		    t->generation);
		return STAGETAB_EINVAL;
	}
	for (k = 0; k < m->n_stages; k++) {
		si = m->stages[k];
		if (!si->has_stage || si->stage < next ||
		    si->stage >= t->num_stages) {
			util_err(err, errlen, "stages[%zu]: stage %" PRIu32
			    " is missing, repeated, out of order or not below "
			    "num_stages %" PRIu32, k, si->stage,
			    t->num_stages);
			return STAGETAB_EINVAL;
		}
		next = (uint64_t)si->stage + 1;
	}
	return 0;
}

int
stagetab_expand(const struct stagetab *t, const Ppcoord__Assignment *m,
    struct stagetab_view *v, char *err, size_t errlen)
{
	const struct stagetab_entry	*e;
	uint32_t			 n = t->num_stages, s, layer = 0;
	size_t				 k = 0;
	int				 rc;

	memset(v, 0, sizeof(*v));
	v->msg = *m;
	if (m->has_stages_zlib) {
		if ((rc = stagetab_inflate(m, v, err, errlen)) != 0)
			stagetab_view_free(v);
		return rc;
	}
	if (!m->has_stages_base)
		return 0;
	v->msg.has_stages_base = 0;
	if ((rc = stagetab_check_change(t, m, err, errlen)) != 0)
		return rc;

	v->partition = calloc(n, sizeof(*v->partition));
	v->infos = calloc(n, sizeof(*v->infos));
	v->infop = calloc(n, sizeof(*v->infop));
	if (v->partition == NULL || v->infos == NULL || v->infop == NULL) {
		stagetab_view_free(v);
		util_err(err, errlen, "out of memory for a table of %" PRIu32
		    " stages", n);
		return STAGETAB_ENOMEM;
	}
	for (s = 0; s < n; s++) {
		e = &t->entries[s];
		v->partition[s] = e->layers;
		if (k < m->n_stages && m->stages[k]->stage == s) {
			/* A changed stage, checked later like any other. */
			v->infop[s] = m->stages[k++];
		} else {
			wire_stage_info_init(&v->infos[s], s, e->node_id,
			    e->address, layer, layer + e->layers);
			v->infop[s] = &v->infos[s];
		}
		layer += e->layers;
	}
	v->msg.n_layer_partition = n;
	v->msg.layer_partition = v->partition;
	v->msg.n_stages = n;
	v->msg.stages = v->infop;
	return 0;
}

int
stagetab_store(struct stagetab *t, const Ppcoord__Assignment *full)
{
	struct stagetab_entry	*entries, *e;
	uint32_t		 n = full->num_stages, s;

	/* The strings of `full` may point into the held table, so the new
	 * one is built beside it. */
	if (n == 0 || full->n_stages != n || full->n_layer_partition != n ||
	    (entries = calloc(n, sizeof(*entries))) == NULL) {
		stagetab_clear(t);
		return -1;
	}
	for (s = 0; s < n; s++) {
		e = &entries[s];
		snprintf(e->node_id, sizeof(e->node_id), "%s",
		    full->stages[s]->node_id);
		snprintf(e->address, sizeof(e->address), "%s",
		    full->stages[s]->address);
		e->layers = full->layer_partition[s];
	}
	stagetab_clear(t);
	t->entries = entries;
	t->num_stages = n;
	t->generation = full->generation;
	return 0;
}
