/*
 * The stage table an agent received on its connection to the head: every
 * stage's node, address and layer count. An Assignment either carries the
 * whole table (as it is, or compressed in stages_zlib), or (with
 * stages_base) only the stages whose node or address changed since the
 * previous Assignment on the same connection. The agent keeps the table
 * of that previous Assignment here and expands a change, or inflates a
 * compressed table, into a whole Assignment before it validates it.
 */
#ifndef PPCOORD_STAGETAB_H
#define PPCOORD_STAGETAB_H

#include <stddef.h>
#include <stdint.h>

#include "ppcoord.pb-c.h"

#include "util.h"
#include "wire.h"

struct stagetab_entry {
	char		 node_id[PPC_NODE_ID_MAX + 1];
	char		 address[PPC_ADDRESS_MAX + 1];
	uint32_t	 layers;
};

struct stagetab {
	uint64_t		 generation;	/* 0: no table held */
	uint32_t		 num_stages;
	struct stagetab_entry	*entries;
};

/* Largest stage table that stages_zlib may inflate to: the frame limit,
 * which the head also keeps for the table uncompressed. */
#define STAGETAB_ZLIB_MAX	WIRE_FRAME_MAX

/* A whole Assignment built by stagetab_expand, with the arrays it owns. */
struct stagetab_view {
	Ppcoord__Assignment	  msg;
	uint32_t		 *partition;
	Ppcoord__StageInfo	 *infos;
	Ppcoord__StageInfo	**infop;
	Ppcoord__Assignment	 *inner;	/* decoded stages_zlib */
};

/* Error codes of stagetab_expand. */
#define STAGETAB_EINVAL	(-1)	/* invalid change: the message is wrong */
#define STAGETAB_EBASE	(-2)	/* a change against a table not held */
#define STAGETAB_ENOMEM	(-3)

/* Drops the held table; the struct can be used again. */
void	stagetab_clear(struct stagetab *t);

/*
 * Builds in v->msg the whole Assignment that m describes. Without
 * stages_base or stages_zlib, v->msg is a copy of m. With stages_base,
 * m's own fields are combined with the held table (the layer partition
 * and every stage) and m's changed stages. With stages_zlib, the table
 * is inflated and decoded. Strings in v->msg point into m and t, so both must
 * outlive it; free with stagetab_view_free. Only the form of a change is
 * checked here (base, stage numbers, order); wire_assignment_to_env
 * checks the result. Returns 0, or a STAGETAB_E* code with err.
 */
int	stagetab_expand(const struct stagetab *t, const Ppcoord__Assignment *m,
	    struct stagetab_view *v, char *err, size_t errlen);
void	stagetab_view_free(struct stagetab_view *v);

/*
 * Replaces the held table with the one of `full`, an Assignment that
 * wire_assignment_to_env accepted. Returns 0, or -1 on no memory or a
 * table that does not match num_stages (the held table is then empty).
 */
int	stagetab_store(struct stagetab *t, const Ppcoord__Assignment *full);

#endif
