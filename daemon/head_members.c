/*
 * Membership and planning: the node table, joins and losses, the
 * waiting/settling/active/revoked states, plan generations and spare
 * takeover. head_members_push.c sends the nodes their part.
 *
 * Invariants:
 * - A node is in the table while connected, or while it is a node of the
 *   current (or revoked) plan; n_plan is its index in hd->h_plan or -1.
 * - A new generation is written to the state file before any agent hears
 *   of it. If the write fails, the push waits and the sweep retries.
 * - The spare list in the plan JSON is the one the plan was computed
 *   with. Spares that come and go later do not bump the generation, and
 *   the live set is the "standby" nodes of the status output.
 *
 * Rules:
 * - An assigned node is lost node_timeout after its last frame. A closed
 *   connection alone does not end its place, so an agent restart gets
 *   the same Assignment back and its hook does not run again.
 * - A lost node's stages go to the first connected spare, in spare
 *   order, that takes them with every other node left in place.
 *   Otherwise the plan is revoked (at its own generation) and the next
 *   plan, hinted to the old placement, takes a new generation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "wire.h"

#include "head.h"

/* Spare candidates tried after a loss; each try is one plan_compute. */
#define MEMBERS_TAKEOVER_TRIES	16

/* Largest generation taken from an agent's Hello: exact in JSON numbers,
 * so that a bogus value cannot wrap the counter. */
#define MEMBERS_GENERATION_MAX	(1ULL << 53)

/* Warnings about one node's failed or ignored acks: at most this many
 * per interval, so that a node sending acks in a loop cannot flood the
 * log. */
#define MEMBERS_ACK_LOG_INTERVAL_S	60
#define MEMBERS_ACK_LOG_BURST		5

/* Late joiners queue behind the spares the plan itself ordered. */
#define MEMBERS_LATE_SPARE_SEQ	(1ULL << 32)

struct head	*hd;

static void	members_lost_assigned(struct head_node *, const char *);
static void	members_check_quorum(void);

const char *
members_state_name(enum head_state s)
{
	switch (s) {
	case HEAD_WAITING:
		return "waiting";
	case HEAD_SETTLING:
		return "settling";
	case HEAD_ACTIVE:
		return "active";
	case HEAD_REVOKED:
		return "revoked";
	}
	return "unknown";
}

struct head_node *
node_find(const char *id)
{
	struct head_hlink	*l;

	if ((l = htab_find(&hd->h_byid, id)) == NULL)
		return NULL;
	return (struct head_node *)((char *)l -
	    offsetof(struct head_node, n_idlink));
}

/* True while n keeps its address from other nodes: when connected, and
 * while an away plan node may still return (members_node_state
 * "connecting"). A lost node frees it, so that a replacement machine
 * with a new node id can take the address. */
static bool
node_holds_address(const struct head_node *n)
{
	if (n->n_conn != NULL)
		return true;
	return n->n_lost_at_ms != 0 && hd->h_state == HEAD_ACTIVE;
}

/* Returns the node other than `id` that uses address `addr`, or NULL.
 * Away and lost nodes stay indexed, so several nodes may share an
 * address. */
static struct head_node *
node_address_holder(const char *addr, const char *id)
{
	struct head_hlink	*l;
	struct head_node	*n;

	for (l = htab_find(&hd->h_byaddr, addr); l != NULL;
	    l = htab_find_next(l)) {
		n = (struct head_node *)((char *)l -
		    offsetof(struct head_node, n_addrlink));
		if (strcmp(n->n_inv.id, id) != 0 && node_holds_address(n))
			return n;
	}
	return NULL;
}

static void
node_addr_index(struct head_node *n)
{
	htab_insert(&hd->h_byaddr, &n->n_addrlink, n->n_inv.address);
	n->n_addr_indexed = true;
}

static struct head_node *
node_new(const struct inv_node *inv)
{
	struct head_node	*n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	if (inv_node_copy(&n->n_inv, inv) == -1) {
		free(n);
		return NULL;
	}
	n->n_plan = -1;
	n->n_ack_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(
	    MEMBERS_ACK_LOG_INTERVAL_S, MEMBERS_ACK_LOG_BURST);
	htab_insert(&hd->h_byid, &n->n_idlink, n->n_inv.id);
	node_addr_index(n);
	TAILQ_INSERT_TAIL(&hd->h_nodes, n, n_entry);
	return n;
}

static void
node_addr_unindex(struct head_node *n)
{
	if (n->n_addr_indexed)
		htab_remove(&hd->h_byaddr, &n->n_addrlink);
	n->n_addr_indexed = false;
}

static void
node_free(struct head_node *n)
{
	node_update_drop(n);
	node_addr_unindex(n);
	htab_remove(&hd->h_byid, &n->n_idlink);
	TAILQ_REMOVE(&hd->h_nodes, n, n_entry);
	inv_node_free(&n->n_inv);
	free(n);
}

/* Same inventory as far as planning can tell: memory_free, GPU names and
 * UUIDs may change without moving anything. */
static bool
node_same_inventory(const struct inv_node *a, const struct inv_node *b)
{
	uint32_t	 i;

	if (strcmp(a->address, b->address) != 0 || a->workers != b->workers ||
	    a->ngpus != b->ngpus)
		return false;
	for (i = 0; i < a->ngpus; i++)
		if (a->gpus[i].memory_total != b->gpus[i].memory_total)
			return false;
	return true;
}

/* Nodes connected and able to hold a stage: the count that must reach
 * expected_nodes. */
static size_t
members_usable(void)
{
	return hd->h_nconnected - hd->h_nunusable;
}

/*
 * Marks a connected node whose worker count is not a multiple of
 * plan.tp_size: it can hold no stage, so it is left out of planning and
 * of the expected_nodes count instead of making every plan infeasible.
 */
static void
node_set_usable(struct head_node *n)
{
	uint32_t	 tp = hd->h_conf->plan.tp_size;
	bool		 unusable = tp != 0 && n->n_inv.workers % tp != 0;

	if (n->n_conn == NULL)
		return;
	if (unusable && !n->n_unusable)
		log_warnx("node %s has %u workers, not a multiple of "
		    "plan.tp_size %u: it can hold no stage and is left out "
		    "of planning", n->n_inv.id, n->n_inv.workers, tp);
	if (unusable && !n->n_unusable)
		hd->h_nunusable++;
	else if (!unusable && n->n_unusable)
		hd->h_nunusable--;
	n->n_unusable = unusable;
}

bool
members_node_is_spare(const struct head_node *n)
{
	return n->n_conn != NULL && n->n_plan < 0 &&
	    hd->h_state == HEAD_ACTIVE;
}

/* The node's state in status output and metrics. */
const char *
members_node_state(const struct head_node *n)
{
	if (n->n_conn == NULL)
		return n->n_lost_at_ms != 0 && hd->h_state == HEAD_ACTIVE ?
		    "connecting" : "lost";
	if (hd->h_state == HEAD_ACTIVE)
		return n->n_plan >= 0 ? "assigned" : "standby";
	return "connecting";
}

size_t
members_count(const char *state)
{
	struct head_node	*n;
	size_t			 count = 0;

	TAILQ_FOREACH(n, &hd->h_nodes, n_entry)
		if (strcmp(members_node_state(n), state) == 0)
			count++;
	return count;
}

/*
 * Fills inv with the planning membership: every connected node, plus the
 * plan nodes that are away but not yet lost (disconnected less than
 * node_timeout ago, or not yet back after a head restart), with their
 * last inventory. `exclude` is left out.
 */
static int
members_planning_inventory(struct inv *inv, const struct head_node *exclude)
{
	struct head_node	*n;

	inv_init(inv);
	TAILQ_FOREACH(n, &hd->h_nodes, n_entry) {
		if (n == exclude)
			continue;
		if (n->n_conn == NULL && !(n->n_plan >= 0 &&
		    hd->h_state == HEAD_ACTIVE))
			continue;
		if (n->n_unusable)
			continue;
		if (inv_add(inv, &n->n_inv) == -1) {
			inv_free(inv);
			return -1;
		}
	}
	return 0;
}

/* The inventory of the connected nodes, as `ppcoordctl inventory` shows. */
int
members_inventory(struct inv *inv)
{
	struct head_node	*n;

	inv_init(inv);
	TAILQ_FOREACH(n, &hd->h_nodes, n_entry) {
		if (n->n_conn == NULL)
			continue;
		if (inv_add(inv, &n->n_inv) == -1) {
			inv_free(inv);
			return -1;
		}
	}
	return 0;
}

/* One hint per node of the current plan, at its first stage. The ids
 * point into hd->h_plan, which must outlive the array. */
static struct plan_hint *
members_hints(const struct head_node *skip, size_t *nhints)
{
	struct plan_hint	*h;
	size_t			 i, k = 0;

	*nhints = 0;
	if (!hd->h_have_plan || hd->h_plan.nnodes == 0)
		return NULL;
	if ((h = calloc(hd->h_plan.nnodes + 1, sizeof(*h))) == NULL)
		return NULL;
	for (i = 0; i < hd->h_plan.nnodes; i++) {
		if (skip != NULL && strcmp(hd->h_plan.nodes[i].id,
		    skip->n_inv.id) == 0)
			continue;
		h[k].node = hd->h_plan.nodes[i].id;
		h[k].first_stage = hd->h_plan.nodes[i].first_stage;
		k++;
	}
	*nhints = k;
	return h;
}

/* True when both plans place the same nodes at the same stages with the
 * same layers, so every agent's Assignment is the same. */
static bool
members_same_placement(const struct plan *a, const struct plan *b)
{
	size_t			 i;
	const struct plan_node	*x, *y;

	if (a->num_stages != b->num_stages || a->tp_size != b->tp_size ||
	    a->layers != b->layers || a->nnodes != b->nnodes ||
	    a->master_port != b->master_port ||
	    strcmp(a->master_addr, b->master_addr) != 0)
		return false;
	for (i = 0; i < a->num_stages; i++)
		if (a->layer_partition[i] != b->layer_partition[i] ||
		    a->stages[i].first_layer != b->stages[i].first_layer ||
		    a->stages[i].end_layer != b->stages[i].end_layer)
			return false;
	for (i = 0; i < a->nnodes; i++) {
		x = &a->nodes[i];
		y = &b->nodes[i];
		if (strcmp(x->id, y->id) != 0 ||
		    strcmp(x->address, y->address) != 0 ||
		    x->node_rank != y->node_rank ||
		    x->first_stage != y->first_stage ||
		    x->stage_count != y->stage_count ||
		    x->workers != y->workers)
			return false;
	}
	return true;
}

/* Runs plan_compute and records how long it took. */
static int
members_compute(const struct inv *inv, const struct plan_hint *hints,
    size_t nhints, struct plan *out, char *err, size_t errlen)
{
	struct timespec	 t0, t1;
	int		 rc;

	plan_init(out);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = plan_compute(&hd->h_conf->plan, inv, hints, nhints, out, err,
	    errlen);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	hd->h_metrics.plan_seconds = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (rc != 0)
		plan_free(out);
	return rc;
}

/* Points every node at its index in the current plan, orders the plan's
 * spares first, and drops away nodes that the plan no longer needs. */
static void
members_reindex(void)
{
	struct head_node	*n, *next;
	size_t			 i;

	TAILQ_FOREACH(n, &hd->h_nodes, n_entry)
		n->n_plan = -1;
	for (i = 0; i < hd->h_plan.nnodes; i++)
		if ((n = node_find(hd->h_plan.nodes[i].id)) != NULL)
			n->n_plan = (long)i;
	for (i = 0; i < hd->h_plan.nspares; i++)
		if ((n = node_find(hd->h_plan.spares[i].id)) != NULL)
			n->n_spare_seq = i + 1;
	for (n = TAILQ_FIRST(&hd->h_nodes); n != NULL; n = next) {
		next = TAILQ_NEXT(n, n_entry);
		if (n->n_conn == NULL && n->n_plan < 0)
			node_free(n);
	}
}

static void
members_log_plan(const char *why)
{
	char	 split[256];
	size_t	 i, off = 0;

	split[0] = '\0';
	for (i = 0; i < hd->h_plan.num_stages && off < sizeof(split); i++)
		off += (size_t)snprintf(split + off, sizeof(split) - off,
		    "%s%u", i > 0 ? "," : "", hd->h_plan.layer_partition[i]);
	log_info("plan generation %llu (%s): %zu nodes, %u stages, "
	    "layers %s, %zu spares, computed in %.3f s",
	    (unsigned long long)hd->h_generation, why, hd->h_plan.nnodes,
	    hd->h_plan.num_stages, split, hd->h_plan.nspares,
	    hd->h_metrics.plan_seconds);
}

/*
 * Makes `np` (made from `inv`) the current plan and takes ownership of
 * both. With new_generation the generation goes up by one. Either way
 * the state file is written before any agent receives the plan.
 */
static void
members_commit(struct plan *np, struct inv *inv, bool new_generation,
    const char *why)
{
	members_flush_deferred();

	/* Agents may hold a higher generation when the state file was
	 * lost; generations must never go back from their view. */
	if (new_generation) {
		if (hd->h_generation < hd->h_max_held_gen)
			hd->h_generation = hd->h_max_held_gen;
		hd->h_generation++;
	}
	np->generation = hd->h_generation;

	members_mark_same_place(new_generation && hd->h_have_plan &&
	    hd->h_state == HEAD_ACTIVE ? &hd->h_plan : NULL, np);
	members_tables_reset(new_generation && hd->h_have_plan ?
	    &hd->h_plan : NULL, np);
	plan_free(&hd->h_plan);
	inv_free(&hd->h_plan_inv);
	hd->h_plan = *np;
	hd->h_plan_inv = *inv;
	hd->h_have_plan = true;
	hd->h_plan_error[0] = '\0';
	hd->h_state = HEAD_ACTIVE;
	members_reindex();

	if (new_generation) {
		members_log_plan(why);
		members_persist_and_push();
		return;
	}

	/* No agent's Assignment changed, so only the file is updated. */
	members_persist_only();
}

/* Plans from scratch for the connected nodes, keeping the previous
 * plan's nodes in place where they fit. */
static void
members_plan_fresh(void)
{
	struct plan		 np;
	struct inv		 inv;
	struct plan_hint	*hints;
	size_t			 nhints;
	char			 err[PPC_ERRLEN];
	int			 rc;

	if (members_planning_inventory(&inv, NULL) == -1) {
		log_warnx("plan: out of memory for the inventory");
		return;
	}
	hints = members_hints(NULL, &nhints);
	rc = members_compute(&inv, hints, nhints, &np, err, sizeof(err));
	free(hints);
	if (rc != 0) {
		snprintf(hd->h_plan_error, sizeof(hd->h_plan_error), "%s",
		    rc == PLAN_ENOMEM ? "out of memory" : err);
		hd->h_state = hd->h_have_plan ? HEAD_REVOKED : HEAD_WAITING;
		log_warnx("no plan for the %zu usable connected nodes: %s; "
		    "retrying on the next join, loss or reload", inv.nnodes,
		    hd->h_plan_error);
		inv_free(&inv);
		return;
	}
	members_commit(&np, &inv, true, hd->h_have_plan ?
	    "re-planned after a revoke" : "first plan");
}

/*
 * Re-plans the active plan for the current membership with every plan
 * node hinted in place. A result with the same placement keeps the
 * generation. Returns 1 for a new generation, 0 for the same placement,
 * or -1 when no plan could be computed (the current plan stays and the
 * reason is logged).
 */
static int
members_replan(const char *why, const struct head_node *exclude)
{
	struct plan		 np;
	struct inv		 inv;
	struct plan_hint	*hints;
	size_t			 nhints;
	char			 err[PPC_ERRLEN];
	bool			 same;
	int			 rc;

	if (members_planning_inventory(&inv, exclude) == -1) {
		log_warnx("plan: out of memory for the inventory");
		return -1;
	}
	hints = members_hints(exclude, &nhints);
	rc = members_compute(&inv, hints, nhints, &np, err, sizeof(err));
	free(hints);
	if (rc != 0) {
		inv_free(&inv);
		snprintf(hd->h_plan_error, sizeof(hd->h_plan_error), "%s",
		    rc == PLAN_ENOMEM ? "out of memory" : err);
		log_warnx("re-planning (%s) failed: %s", why,
		    hd->h_plan_error);
		return -1;
	}
	same = members_same_placement(&hd->h_plan, &np);
	if (same)
		log_info("re-planned (%s): placement unchanged, generation "
		    "stays %llu", why, (unsigned long long)hd->h_generation);
	members_commit(&np, &inv, !same, why);
	return same ? 0 : 1;
}

static void
members_settle_start(void)
{
	struct timeval	 tv;
	uint64_t	 ms = hd->h_conf->settle_time_ms;

	hd->h_state = HEAD_SETTLING;
	if (ms == 0) {
		members_settle_expired();
		return;
	}
	log_info("%zu of %u expected nodes connected; planning in %llu ms",
	    members_usable(), hd->h_conf->expected_nodes,
	    (unsigned long long)ms);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	evtimer_add(hd->h_settle, &tv);
}

/* Starts or stops settling as the connected count crosses
 * expected_nodes; the active state does not depend on the count. */
static void
members_check_quorum(void)
{
	bool	 enough = members_usable() >= hd->h_conf->expected_nodes;

	switch (hd->h_state) {
	case HEAD_WAITING:
	case HEAD_REVOKED:
		if (enough)
			members_settle_start();
		break;
	case HEAD_SETTLING:
		if (!enough) {
			evtimer_del(hd->h_settle);
			hd->h_state = hd->h_have_plan ? HEAD_REVOKED :
			    HEAD_WAITING;
			log_info("%zu of %u expected nodes connected; waiting",
			    members_usable(), hd->h_conf->expected_nodes);
		}
		break;
	case HEAD_ACTIVE:
		break;
	}
}

void
members_settle_expired(void)
{
	if (hd->h_state != HEAD_SETTLING)
		return;
	if (members_usable() < hd->h_conf->expected_nodes) {
		hd->h_state = hd->h_have_plan ? HEAD_REVOKED : HEAD_WAITING;
		return;
	}
	members_plan_fresh();
}

/* Voids the plan: every connected plan node gets a Revoke, and the head
 * waits for expected_nodes again with the old placement as hints. */
static void
members_revoke(const char *reason)
{
	struct head_node	*n;
	char			 err[PPC_ERRLEN];

	hd->h_state = HEAD_REVOKED;
	log_warnx("plan generation %llu revoked: %s",
	    (unsigned long long)hd->h_generation, reason);
	if (state_save(err, sizeof(err)) == -1)
		log_warnx("cannot record the revoke in the state file: %s",
		    err);
	TAILQ_FOREACH(n, &hd->h_nodes, n_entry)
		if (n->n_plan >= 0 && ha_leading())
			members_send_revoke(n, reason);
	members_check_quorum();
}

static int
spare_seq_cmp(const void *a, const void *b)
{
	const struct head_node	*x = *(struct head_node * const *)a;
	const struct head_node	*y = *(struct head_node * const *)b;

	if (x->n_spare_seq != y->n_spare_seq)
		return x->n_spare_seq < y->n_spare_seq ? -1 : 1;
	return strcmp(x->n_inv.id, y->n_inv.id);
}

/* Connected spares that could hold `lost`'s stages, in spare order. */
static struct head_node **
members_spare_candidates(const struct plan_node *lost, size_t *count)
{
	struct head_node	**v, *n;
	size_t			  k = 0, max = hd->h_nconnected;
	uint32_t		  tp = hd->h_plan.tp_size;

	*count = 0;
	if (max == 0 || tp == 0 ||
	    (v = calloc(max, sizeof(*v))) == NULL)
		return NULL;
	TAILQ_FOREACH(n, &hd->h_nodes, n_entry) {
		if (n->n_conn == NULL || n->n_plan >= 0 || k == max)
			continue;
		if (n->n_inv.workers % tp != 0 ||
		    n->n_inv.workers / tp != lost->stage_count)
			continue;
		v[k++] = n;
	}
	qsort(v, k, sizeof(*v), spare_seq_cmp);
	*count = k;
	return v;
}

/*
 * Tries a spare in place of the lost plan node: the plan must keep every
 * other node at its stages and put one spare at the lost node's stages.
 * With s NULL the planner picks the spare, in its policy order; else s is
 * hinted there. On success *chosen is the spare placed.
 */
static int
members_try_spare(struct head_node *lostn, const struct plan_node *lost,
    struct head_node *s, struct plan *np, struct inv *inv,
    struct head_node **chosen)
{
	struct plan_hint	*hints;
	const char		*moved;
	size_t			 nhints, j;
	char			 err[PPC_ERRLEN];
	int			 rc;

	if (members_planning_inventory(inv, lostn) == -1)
		return -1;
	if ((hints = members_hints(lostn, &nhints)) == NULL) {
		inv_free(inv);
		return -1;
	}
	if (s != NULL) {
		hints[nhints].node = s->n_inv.id;
		hints[nhints].first_stage = lost->first_stage;
		nhints++;
	}
	rc = members_compute(inv, hints, nhints, np, err, sizeof(err));
	free(hints);
	if (rc != 0) {
		log_info("no spare can take the place of %s%s%s: %s", lost->id,
		    s != NULL ? " with " : "", s != NULL ? s->n_inv.id : "",
		    err);
		inv_free(inv);
		return -1;
	}

	/* Each new plan node must be an old one at the same stages, or the
	 * one spare at the lost node's stages. Equal node counts then make
	 * the mapping one to one. The lookups go through the node table, so
	 * the check is O(n). */
	*chosen = NULL;
	moved = np->nnodes != hd->h_plan.nnodes ? lost->id : NULL;
	for (j = 0; moved == NULL && j < np->nnodes; j++) {
		const struct plan_node	*pn = &np->nodes[j], *old = NULL;
		struct head_node	*hn = node_find(pn->id);

		if (hn != NULL && hn != lostn && hn->n_plan >= 0)
			old = &hd->h_plan.nodes[hn->n_plan];
		else if (hn != NULL && hn != lostn && *chosen == NULL &&
		    (s == NULL || hn == s)) {
			old = lost;
			*chosen = hn;
		}
		if (old == NULL || pn->first_stage != old->first_stage ||
		    pn->stage_count != old->stage_count)
			moved = pn->id;
	}
	if (moved != NULL || *chosen == NULL) {
		log_info("%s%s cannot take the place of %s without moving %s",
		    s != NULL ? "spare " : "", s != NULL ? s->n_inv.id :
		    "the planner's choice of spare", lost->id,
		    moved != NULL ? moved : "the rest");
		plan_free(np);
		inv_free(inv);
		return -1;
	}
	return 0;
}

/* An assigned node is gone: a fitting spare takes exactly its stages, or
 * the plan is revoked. */
static void
members_lost_assigned(struct head_node *n, const char *reason)
{
	const struct plan_node	*lost = &hd->h_plan.nodes[n->n_plan];
	struct head_node	**cand, *chosen;
	struct plan		  np;
	struct inv		  inv;
	size_t			  ncand, i;
	char			  why[PPC_ERRLEN];

	/* The planner's own choice comes first, because it follows the
	 * policy order (pins, driver, workers, address). Then each fitting
	 * spare is hinted in the order that the plan or its join gave it. */
	cand = members_spare_candidates(lost, &ncand);
	for (i = 0; ncand > 0 && i <= ncand && i <= MEMBERS_TAKEOVER_TRIES;
	    i++) {
		if (members_try_spare(n, lost, i == 0 ? NULL : cand[i - 1],
		    &np, &inv, &chosen) == -1)
			continue;
		snprintf(why, sizeof(why), "spare %s takes stages %u-%u of "
		    "lost node %s", chosen->n_inv.id, lost->first_stage,
		    lost->first_stage + lost->stage_count - 1, lost->id);
		free(cand);
		members_commit(&np, &inv, true, why);
		return;
	}
	free(cand);

	snprintf(why, sizeof(why), "node %s was lost (%s) and no connected "
	    "spare with %u stage%s fits; waiting for %u nodes", n->n_inv.id,
	    reason, lost->stage_count, lost->stage_count == 1 ? "" : "s",
	    hd->h_conf->expected_nodes);
	members_revoke(why);
}

/* Sends a joined node its Assignment, Standby or Revoke for the current
 * state. */
static void
members_greet(struct head_node *n, bool changed, const Ppcoord__Hello *h)
{
	char	 reason[128];

	switch (hd->h_state) {
	case HEAD_ACTIVE:
		if (n->n_plan < 0) {
			if (n->n_spare_seq == 0)
				n->n_spare_seq = hd->h_spare_seq++;
			members_send_standby(n);
			return;
		}
		if (!changed) {
			log_info("node %s: same inventory, same assignment of "
			    "generation %llu", n->n_inv.id,
			    (unsigned long long)hd->h_generation);
			members_send_assignment(n);
			return;
		}
		if (n->n_unusable) {
			members_lost_assigned(n, "its new inventory can hold "
			    "no stage");
			return;
		}
		log_info("node %s: inventory changed; re-planning",
		    n->n_inv.id);
		snprintf(reason, sizeof(reason), "inventory of %s changed",
		    n->n_inv.id);
		switch (members_replan(reason, NULL)) {
		case -1:
			members_lost_assigned(n, "its new inventory does not "
			    "fit the plan");
			return;
		case 0:
			/* Same placement: nothing was pushed, so send. */
			members_send_assignment(n);
			return;
		default:
			return;
		}
	case HEAD_REVOKED:
		if (h->held_state != NULL &&
		    strcmp(h->held_state, "assigned") == 0)
			members_send_revoke(n, "the plan this node held is "
			    "void; waiting for the expected nodes");
		break;
	case HEAD_WAITING:
	case HEAD_SETTLING:
		break;
	}
	members_check_quorum();
}

/* Copies at most len - 1 bytes of s into buf with every byte outside
 * printable ASCII replaced by '?', for a peer's value that the head
 * sends back or logs. */
static void
members_printable(const char *s, char *buf, size_t len)
{
	size_t	 i;

	for (i = 0; i + 1 < len && s[i] != '\0'; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
}

/* Rejects a Hello whose address another node holds: a connected node,
 * or an away plan node that may still return to its stages. */
static void
members_reject_address(struct head_conn *c, const struct inv_node *ni,
    const struct head_node *holder)
{
	uint64_t	 now = util_now_ms();

	if (holder->n_conn != NULL) {
		conn_reject(c, PPCOORD__REJECT__REASON__REASON_DUPLICATE_ADDRESS,
		    "node %s advertises address %s, which connected node %s "
		    "uses", ni->id, ni->address, holder->n_inv.id);
		return;
	}
	conn_reject(c, PPCOORD__REJECT__REASON__REASON_DUPLICATE_ADDRESS,
	    "node %s advertises address %s, which away node %s keeps until "
	    "it returns or is lost in %llu ms", ni->id, ni->address,
	    holder->n_inv.id, (unsigned long long)(holder->n_lost_at_ms > now ?
	    holder->n_lost_at_ms - now : 0));
}

/* Checks a Hello against the certificate and the nodes already joined.
 * Returns 0, or -1 after rejecting the connection. */
static int
members_check_hello(struct head_conn *c, const Ppcoord__Hello *h,
    struct inv_node *ni)
{
	struct head_node	*other;
	char			 err[PPC_ERRLEN], id[65];

	if (!h->has_protocol_version || h->protocol_version !=
	    PPCOORD__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT) {
		conn_reject(c, PPCOORD__REJECT__REASON__REASON_PROTOCOL_VERSION,
		    "protocol version %u is not supported; this head speaks "
		    "version %d", h->has_protocol_version ?
		    h->protocol_version : 0,
		    PPCOORD__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
		return -1;
	}
	if (h->node_id == NULL || strcmp(h->node_id, c->c_id) != 0) {
		members_printable(h->node_id != NULL ? h->node_id : "", id,
		    sizeof(id));
		conn_reject(c, PPCOORD__REJECT__REASON__REASON_IDENTITY_MISMATCH,
		    "hello names node \"%s\" but the client certificate "
		    "identifies \"%s\"", id, c->c_id);
		return -1;
	}
	if (wire_hello_to_node(h, ni, err, sizeof(err)) == -1) {
		inv_node_free(ni);
		conn_reject(c, PPCOORD__REJECT__REASON__REASON_INVALID_INVENTORY,
		    "%s", err);
		return -1;
	}
	if ((other = node_address_holder(ni->address, ni->id)) != NULL) {
		members_reject_address(c, ni, other);
		inv_node_free(ni);
		return -1;
	}
	return 0;
}

/* Attaches c to node n and replaces its inventory with ni when it
 * changed. Returns whether it changed. */
static bool
members_attach(struct head_node *n, struct head_conn *c,
    struct inv_node *ni)
{
	struct head_conn	*old = n->n_conn;
	bool			 changed;

	if (old != NULL) {
		log_info("node %s: the new connection from %s replaces the one "
		    "from %s", n->n_inv.id, c->c_peer, old->c_peer);
		old->c_node = NULL;
		if (n->n_unusable)
			hd->h_nunusable--;
		n->n_unusable = false;
		n->n_conn = NULL;
		hd->h_nconnected--;
		conn_close(old, "replaced by a newer connection");
	}

	changed = !node_same_inventory(&n->n_inv, ni);
	node_addr_unindex(n);
	if (changed || old == NULL) {
		inv_node_free(&n->n_inv);
		n->n_inv = *ni;
	} else
		inv_node_free(ni);

	node_addr_index(n);
	node_update_drop(n);
	n->n_conn = c;
	c->c_node = n;
	n->n_joined_ms = util_now_ms();
	n->n_lost_at_ms = 0;
	hd->h_nconnected++;
	conn_joined(c);
	node_set_usable(n);
	return changed;
}

/* Handles the first frame of a connection. */
void
members_hello(struct head_conn *c, const Ppcoord__Hello *h)
{
	struct head_node	*n;
	struct inv_node		 ni;
	char			 mem[32];
	bool			 changed, fresh = false;

	memset(&ni, 0, sizeof(ni));
	if (members_check_hello(c, h, &ni) == -1)
		return;

	if ((n = node_find(ni.id)) == NULL) {
		if ((n = node_new(&ni)) == NULL) {
			inv_node_free(&ni);
			conn_close(c, "out of memory");
			return;
		}
		fresh = true;
	}
	changed = members_attach(n, c, &ni) && !fresh;
	c->c_deltas = h->has_stage_deltas && h->stage_deltas;
	c->c_zlib = h->has_stage_table_zlib && h->stage_table_zlib;
	hd->h_metrics.joins++;
	if (h->has_held_generation && h->held_generation > hd->h_max_held_gen &&
	    h->held_generation <= MEMBERS_GENERATION_MAX)
		hd->h_max_held_gen = h->held_generation;

	if (wire_send_welcome(bufferevent_get_output(c->c_bev), n->n_inv.id,
	    hd->h_conf->cluster_name, (uint32_t)hd->h_conf->heartbeat_interval_ms,
	    (uint32_t)hd->h_conf->node_timeout_ms) == 0)
		conn_sent(c);

	util_format_size(inv_node_min_memory(&n->n_inv), mem, sizeof(mem));
	log_info("node %s joined from %s (%u GPUs, %u workers, %s min)",
	    n->n_inv.id, c->c_peer, n->n_inv.ngpus, n->n_inv.workers, mem);
	members_greet(n, changed, h);
}

/* Formats the count of a node's ack warnings that its rate limit
 * dropped, as a suffix for the next one. */
static void
members_ack_suppressed(unsigned long n, char *buf, size_t len)
{
	buf[0] = '\0';
	if (n > 0)
		snprintf(buf, len, " (%lu more failed or ignored acks of this "
		    "node not logged)", n);
}

/*
 * Handles an AssignmentAck. Only an ack of the generation last sent to
 * the node is stored. An older one is a reply to a push that a newer one
 * replaced, and any other generation was never sent, so both are
 * ignored and counted.
 */
static void
members_ack(struct head_node *n, const Ppcoord__AssignmentAck *ack)
{
	unsigned long	 suppressed;
	char		 more[80];
	bool		 stale = ack->generation < n->n_sent_gen;

	if (ack->generation != n->n_sent_gen || n->n_sent_gen == 0) {
		hd->h_metrics.acks_ignored++;
		if (stale) {
			log_debug("node %s acknowledged generation %llu after "
			    "it was sent %llu; ignored", n->n_inv.id,
			    (unsigned long long)ack->generation,
			    (unsigned long long)n->n_sent_gen);
			return;
		}
		if (!log_ratelimit_allow(&n->n_ack_rl, &suppressed))
			return;
		members_ack_suppressed(suppressed, more, sizeof(more));
		log_warnx("node %s acknowledged generation %llu, which the "
		    "head never sent it (last sent: %llu); ignored%s",
		    n->n_inv.id, (unsigned long long)ack->generation,
		    (unsigned long long)n->n_sent_gen, more);
		return;
	}
	if (ack->has_ok && !ack->ok) {
		hd->h_metrics.acks_failed++;
		/* A refused Assignment may have left the agent without its
		 * table, so the next one carries the whole table. */
		if (n->n_conn != NULL && n->n_conn->c_table_gen ==
		    ack->generation)
			n->n_conn->c_table_gen = 0;
		if (!log_ratelimit_allow(&n->n_ack_rl, &suppressed))
			return;
		members_ack_suppressed(suppressed, more, sizeof(more));
		log_warnx("node %s failed to apply generation %llu: %.256s%s",
		    n->n_inv.id, (unsigned long long)ack->generation,
		    ack->error != NULL ? ack->error : "no reason given", more);
		return;
	}
	hd->h_metrics.acks_ok++;
	n->n_acked_gen = ack->generation;
	log_debug("node %s acknowledged generation %llu", n->n_inv.id,
	    (unsigned long long)ack->generation);
}

/* Handles a frame from a joined node. */
void
members_frame(struct head_node *n, const Ppcoord__Envelope *env)
{
	switch (env->msg_case) {
	case PPCOORD__ENVELOPE__MSG_HEARTBEAT:
		return;
	case PPCOORD__ENVELOPE__MSG_ACK:
		members_ack(n, env->ack);
		return;
	case PPCOORD__ENVELOPE__MSG_HELLO:
		conn_reject(n->n_conn,
		    PPCOORD__REJECT__REASON__REASON_UNEXPECTED_MESSAGE,
		    "a second hello on one connection");
		return;
	default:
		conn_reject(n->n_conn,
		    PPCOORD__REJECT__REASON__REASON_UNEXPECTED_MESSAGE,
		    "%s is a message from the head to agents",
		    wire_msg_name(env));
		return;
	}
}

/*
 * A node's connection is gone (closed, timed out or rejected). An
 * assigned node is lost once node_timeout has passed since its last
 * frame: at once when it went silent, later when its connection closed,
 * so that an agent restart or a reconnect keeps the deployment and gets
 * the same assignment back.
 */
void
members_disconnected(struct head_node *n, const char *reason,
    uint64_t last_rx_ms)
{
	uint64_t	 now = util_now_ms();
	uint64_t	 lost_at = last_rx_ms + hd->h_conf->node_timeout_ms;

	hd->h_nconnected--;
	if (n->n_unusable)
		hd->h_nunusable--;
	n->n_unusable = false;
	node_update_drop(n);
	hd->h_metrics.leaves++;

	/* A head that stepped down clears its whole table instead. */
	if (hd->h_shutting_down || !ha_leading())
		return;

	if (n->n_plan >= 0 && hd->h_state == HEAD_ACTIVE) {
		if (lost_at > now) {
			n->n_lost_at_ms = lost_at;
			log_info("node %s disconnected: %s; lost unless it "
			    "returns within %llu ms", n->n_inv.id, reason,
			    (unsigned long long)(lost_at - now));
			return;
		}
		log_warnx("node %s lost: %s", n->n_inv.id, reason);
		members_lost_assigned(n, reason);
		return;
	}
	log_info("node %s left: %s", n->n_inv.id, reason);
	if (n->n_plan < 0)
		node_free(n);
	members_check_quorum();
}

/* Declares away plan nodes lost when they have not returned in time
 * (node_timeout after their last frame, or after the head's start for a
 * restored plan), and retries a pending push. */
void
members_sweep(uint64_t now)
{
	struct head_node	*n;
	size_t			 i;
	bool			 again = true;

	if (!ha_leading())
		return;
	members_push_retry();

	while (again && hd->h_state == HEAD_ACTIVE) {
		again = false;
		for (i = 0; i < hd->h_plan.nnodes; i++) {
			n = node_find(hd->h_plan.nodes[i].id);
			if (n == NULL || n->n_conn != NULL ||
			    n->n_lost_at_ms == 0 || now < n->n_lost_at_ms)
				continue;
			n->n_lost_at_ms = 0;
			log_warnx("node %s lost: not reconnected within "
			    "node_timeout (%llu ms)", n->n_inv.id,
			    (unsigned long long)hd->h_conf->node_timeout_ms);
			members_lost_assigned(n, "not reconnected within "
			    "node_timeout");
			again = true;
			break;
		}
	}
}

/* Applies a reloaded config: re-plans an active plan (a new generation
 * only when the placement changes) and re-checks the quorum. */
void
members_reload(void)
{
	struct head_node	*n;

	TAILQ_FOREACH(n, &hd->h_nodes, n_entry)
		node_set_usable(n);
	if (hd->h_state == HEAD_ACTIVE) {
		members_replan("configuration reloaded", NULL);
		return;
	}
	members_check_quorum();
}

/*
 * Restores the plan from the state file at start; with head.store =
 * "etcd" the state is read once this head is elected instead. Every plan
 * node starts away and must reconnect within node_timeout; a changed
 * config re-plans on the saved inventory.
 */
void
members_restore(void)
{
	char			 err[PPC_ERRLEN];
	int			 rc;

	if (hd->h_conf->store == CONF_STORE_ETCD)
		return;
	rc = state_load(err, sizeof(err));
	if (rc == -1)
		log_warnx("%s", err);
	members_restored(rc);
}

/*
 * Makes the plan that state_load or state_load_text read (rc 1, or 2 when
 * the planning inputs changed) the current one. Every plan node starts
 * away and must reconnect within node_timeout from now.
 */
void
members_restored(int rc)
{
	struct head_node	*n;
	const struct inv_node	*in;
	uint64_t		 now = util_now_ms();
	bool			 config_changed = rc == 2;
	size_t			 i, j;

	if (rc != 1 && rc != 2)
		return;

	for (i = 0; i < hd->h_plan.nnodes; i++) {
		in = NULL;
		for (j = 0; j < hd->h_plan_inv.nnodes; j++)
			if (strcmp(hd->h_plan_inv.nodes[j].id,
			    hd->h_plan.nodes[i].id) == 0)
				in = &hd->h_plan_inv.nodes[j];
		if (in == NULL || (n = node_new(in)) == NULL) {
			log_warnx("restored state: plan node %s has no "
			    "inventory; planning afresh",
			    hd->h_plan.nodes[i].id);
			members_free();
			members_init();
			return;
		}
		n->n_plan = (long)i;
		n->n_lost_at_ms = now + hd->h_conf->node_timeout_ms;
	}
	log_info("restored plan generation %llu (%s) with %zu nodes; each "
	    "must reconnect within %llu ms",
	    (unsigned long long)hd->h_generation,
	    members_state_name(hd->h_state), hd->h_plan.nnodes,
	    (unsigned long long)hd->h_conf->node_timeout_ms);
	if (config_changed && hd->h_state == HEAD_ACTIVE)
		members_replan("configuration changed since the state was "
		    "written", NULL);
}

void
members_init(void)
{
	TAILQ_INIT(&hd->h_nodes);
	htab_init(&hd->h_byid);
	htab_init(&hd->h_byaddr);
	hd->h_nconnected = 0;
	hd->h_nunusable = 0;
	hd->h_spare_seq = MEMBERS_LATE_SPARE_SEQ;
	hd->h_state = HEAD_WAITING;
	hd->h_generation = 0;
	hd->h_have_plan = false;
	plan_init(&hd->h_plan);
	inv_init(&hd->h_plan_inv);
	hd->h_plan_error[0] = '\0';
	hd->h_max_held_gen = 0;
	members_push_init();
}

void
members_free(void)
{
	struct head_node	*n;

	members_push_free();
	while ((n = TAILQ_FIRST(&hd->h_nodes)) != NULL)
		node_free(n);
	htab_free(&hd->h_byid);
	htab_free(&hd->h_byaddr);
	plan_free(&hd->h_plan);
	inv_free(&hd->h_plan_inv);
	hd->h_have_plan = false;
}
