/*
 * Sending the nodes their part of the current plan: Assignments with a
 * shared stage table (head_push.c) in passes of the event loop, Standby
 * and Revoke. In large clusters, an update that changes only a node's
 * generation number waits for the node's next heartbeat.
 *
 * Invariants:
 * - Nothing is sent for a generation before the state file (or etcd)
 *   contains it. A failed write leaves the push waiting for the sweep.
 * - A node with n_update_due has received the previous generation with
 *   its stage table, and every such node gets the current one before the
 *   next commit replaces the tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "wire.h"

#include "head.h"

static bool	 members_push_pending;

/*
 * The plan nodes' Assignments go out in passes of the event loop. Each
 * Assignment lists every stage, about 33 bytes each, so a plan of 10,000
 * stages pushes 3.3 GB of TLS records. Queueing them all at once keeps
 * the head from reading frames for seconds, and agents then look silent.
 */
#define MEMBERS_PUSH_PASS_BYTES	(8u << 20)

static struct event	*members_push_ev;
static size_t		 members_push_next;	/* plan node index */
static uint64_t		 members_push_start_ms;
static uint64_t		 members_push_whole;	/* metrics at the start,
						   compressed or not */
static uint64_t		 members_push_change;

/* The encoded stage table of hd->h_plan, shared by every Assignment;
 * NULL until first needed after a plan change. */
static struct push_table *members_table;

/* The same table compressed, for agents that accept it; NULL until first
 * needed, or when compressing does not pay. */
static struct push_table *members_table_zlib;
static bool		  members_table_zlib_tried;

/* The change to that table from the plan of generation members_delta_base,
 * for connections whose last Assignment was of that generation; NULL when
 * there is none. */
static struct push_table *members_delta;
static uint64_t		  members_delta_base;

/*
 * Updates that change only a node's generation number, such as those of
 * every other node after a spare takes a lost node's stages. Each one
 * sent at once costs a TLS record written and an ack read, and at 10,000
 * nodes that is more head time than the rest of the re-plan. So beyond
 * head.max_immediate_updates of them, each goes out in place of the
 * node's next heartbeat: within one heartbeat interval, and with no frame
 * sent that the head would not have sent anyway. Only the acks are
 * extra.
 */
static uint64_t		 members_prev_gen;	/* the generation before,
						   for n_same_place */
static size_t		 members_due;		/* nodes with n_update_due */
static size_t		 members_due_total;	/* deferred by the push */
static size_t		 members_due_sent;	/* of those, sent so far */
static uint64_t		 members_due_start_ms;

/* Drops n's pending update: it was sent, or its connection is gone. */
void
node_update_drop(struct head_node *n)
{
	if (!n->n_update_due)
		return;
	n->n_update_due = false;
	members_due--;
}

/* Drops the encoded tables of the current plan. */
static void
members_tables_drop(void)
{
	push_table_unref(members_table);
	members_table = NULL;
	push_table_unref(members_table_zlib);
	members_table_zlib = NULL;
	members_table_zlib_tried = false;
	push_table_unref(members_delta);
	members_delta = NULL;
	members_delta_base = 0;
}

/* Returns the stage table for c's next Assignment: the change since its
 * last one when the agent accepts changes and received that base, else
 * the whole table. NULL on no memory. */
static struct push_table *
members_table_for(const struct head_conn *c)
{
	if (members_delta != NULL && c->c_deltas &&
	    c->c_table_gen == members_delta_base)
		return members_delta;
	if (members_table == NULL)
		members_table = push_table_new(&hd->h_plan);
	if (c->c_zlib && members_table != NULL && !members_table_zlib_tried) {
		members_table_zlib = push_table_zlib_new(members_table);
		members_table_zlib_tried = true;
	}
	if (c->c_zlib && members_table_zlib != NULL)
		return members_table_zlib;
	return members_table;
}

void
members_send_assignment(struct head_node *n)
{
	struct evbuffer		*out;
	struct push_table	*t;

	if (!conn_writable(n->n_conn) || n->n_plan < 0)
		return;
	if ((t = members_table_for(n->n_conn)) == NULL) {
		log_warnx("node %s: out of memory for the stage table of "
		    "generation %llu", n->n_inv.id,
		    (unsigned long long)hd->h_generation);
		return;
	}
	out = bufferevent_get_output(n->n_conn->c_bev);
	if (push_assignment(out, &hd->h_plan, (size_t)n->n_plan, t,
	    WIRE_FRAME_MAX) == -1) {
		log_warnx("node %s: cannot queue its Assignment of generation "
		    "%llu (out of memory, or a frame over %u bytes)",
		    n->n_inv.id, (unsigned long long)hd->h_generation,
		    WIRE_FRAME_MAX);
		/* The output may hold part of a frame now. */
		conn_doom(n->n_conn);
		return;
	}
	conn_sent(n->n_conn);
	if (t == members_table)
		hd->h_metrics.assign_whole++;
	else if (t == members_table_zlib)
		hd->h_metrics.assign_zlib++;
	else
		hd->h_metrics.assign_change++;
	n->n_conn->c_table_gen = hd->h_generation;
	n->n_sent_gen = hd->h_generation;
}

void
members_send_standby(struct head_node *n)
{
	char	 reason[160];

	if (!conn_writable(n->n_conn))
		return;
	snprintf(reason, sizeof(reason), "spare: the plan of generation %llu "
	    "has its %zu nodes", (unsigned long long)hd->h_generation,
	    hd->h_plan.nnodes);
	if (wire_send_standby(bufferevent_get_output(n->n_conn->c_bev),
	    hd->h_generation, reason) == 0) {
		conn_sent(n->n_conn);
		n->n_conn->c_table_gen = 0;
		n->n_sent_gen = hd->h_generation;
	}
}

void
members_send_revoke(struct head_node *n, const char *reason)
{
	if (!conn_writable(n->n_conn))
		return;
	if (wire_send_revoke(bufferevent_get_output(n->n_conn->c_bev),
	    hd->h_generation, reason) == 0) {
		conn_sent(n->n_conn);
		n->n_conn->c_table_gen = 0;
	}
}

/*
 * Queues the next plan nodes' Assignments, about MEMBERS_PUSH_PASS_BYTES of
 * output per pass, then yields to the event loop until the next pass.
 */
static void
members_push_pass_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval	 now = { 0, 0 };
	struct head_node		*n;
	size_t				 queued = 0;

	/* A head that stepped down mid-push leaves the rest to the leader. */
	if (!ha_leading())
		return;
	while (hd->h_state == HEAD_ACTIVE && members_push_next <
	    hd->h_plan.nnodes && queued < MEMBERS_PUSH_PASS_BYTES) {
		n = node_find(hd->h_plan.nodes[members_push_next++].id);
		/* A node that rejoined meanwhile has its Assignment. */
		if (n == NULL || n->n_sent_gen == hd->h_generation ||
		    n->n_update_due || !conn_writable(n->n_conn))
			continue;
		members_send_assignment(n);
		if (n->n_conn != NULL && n->n_conn->c_bev != NULL)
			queued += evbuffer_get_length(
			    bufferevent_get_output(n->n_conn->c_bev));
	}
	if (hd->h_state != HEAD_ACTIVE)
		return;
	if (members_push_next < hd->h_plan.nnodes) {
		evtimer_add(members_push_ev, &now);
		return;
	}
	/* The TLS records are written and encrypted as sockets drain. */
	log_info("generation %llu queued for every connected node in %llu ms "
	    "(Assignments: %llu with the whole stage table, %llu with the "
	    "changed stages only; %zu nodes whose only change is the "
	    "generation get it in place of their next heartbeat)",
	    (unsigned long long)hd->h_generation,
	    (unsigned long long)(util_now_ms() - members_push_start_ms),
	    (unsigned long long)(hd->h_metrics.assign_whole +
	    hd->h_metrics.assign_zlib - members_push_whole),
	    (unsigned long long)(hd->h_metrics.assign_change -
	    members_push_change), members_due);
}

/* Writes the state file, or the state in etcd, then sends every
 * connected node its part (members_push). */
void
members_persist_and_push(void)
{
	static struct log_ratelimit	 rl = LOG_RATELIMIT_INIT(30, 2);
	unsigned long			 suppressed;
	char				 err[PPC_ERRLEN];

	if (hd->h_conf->store == CONF_STORE_ETCD) {
		members_push_pending = false;
		ha_save(true);
		return;
	}
	if (state_save(err, sizeof(err)) == -1) {
		members_push_pending = true;
		if (log_ratelimit_allow(&rl, &suppressed))
			log_warnx("generation %llu is not pushed until the "
			    "state file is written (%lu retries not logged): "
			    "%s", (unsigned long long)hd->h_generation,
			    suppressed, err);
		return;
	}
	members_push_pending = false;
	members_push();
}

/* True when n's update to the current generation may wait for its next
 * heartbeat: only the generation number changes, and n received the one
 * before (with its stage table, for a plan node). */
static bool
members_update_deferrable(const struct head_node *n)
{
	if (!n->n_same_place || !conn_writable(n->n_conn) ||
	    members_prev_gen == 0 || n->n_sent_gen != members_prev_gen)
		return false;
	if (n->n_plan < 0)
		return true;
	return members_delta != NULL && n->n_conn->c_deltas &&
	    n->n_conn->c_table_gen == members_delta_base;
}

/* Marks the updates that go out in place of heartbeats, when there are
 * more than head.max_immediate_updates of them. */
static void
members_defer_updates(void)
{
	struct head_node	*n;
	size_t			 count = 0;

	TAILQ_FOREACH(n, &hd->h_nodes, n_entry)
		if (!n->n_update_due && members_update_deferrable(n))
			count++;
	if (count <= hd->h_conf->max_immediate_updates)
		return;
	TAILQ_FOREACH(n, &hd->h_nodes, n_entry)
		if (!n->n_update_due && members_update_deferrable(n)) {
			n->n_update_due = true;
			members_due++;
		}
	members_due_total = members_due;
	members_due_sent = 0;
	members_due_start_ms = util_now_ms();
}

/* Sends n its deferred update, if it still has one. Returns true when a
 * frame was queued. */
static bool
members_send_deferred(struct head_node *n)
{
	if (!n->n_update_due)
		return false;
	node_update_drop(n);
	if (hd->h_state != HEAD_ACTIVE || !ha_leading() ||
	    n->n_sent_gen == hd->h_generation)
		return false;
	if (n->n_plan >= 0)
		members_send_assignment(n);
	else
		members_send_standby(n);
	if (n->n_sent_gen != hd->h_generation)
		return false;
	hd->h_metrics.deferred_updates++;
	return true;
}

/*
 * Sends every deferred update at once. A commit calls it first, because
 * the next plan replaces the stage tables that those updates refer to,
 * and a node must hold the current generation before it can take the
 * change to the next one.
 */
void
members_flush_deferred(void)
{
	struct head_node	*n;
	size_t			 sent = 0;

	if (members_due == 0)
		return;
	TAILQ_FOREACH(n, &hd->h_nodes, n_entry)
		if (members_send_deferred(n))
			sent++;
	if (sent > 0)
		log_info("generation %llu sent at once to the %zu nodes still "
		    "waiting for their heartbeat, before the plan changes "
		    "again", (unsigned long long)hd->h_generation, sent);
}

/*
 * Sends n its deferred update to the current generation, in place of the
 * heartbeat that is due. Returns true when that replaced the heartbeat.
 */
bool
members_send_due(struct head_node *n)
{
	if (n == NULL || !members_send_deferred(n))
		return false;
	members_due_sent++;
	/* The others left or reconnected, and got their update then. */
	if (members_due == 0)
		log_info("generation %llu sent in place of a heartbeat to %zu "
		    "of the %zu nodes whose update waited, the last %llu ms "
		    "after the plan was queued",
		    (unsigned long long)hd->h_generation, members_due_sent,
		    members_due_total,
		    (unsigned long long)(util_now_ms() - members_due_start_ms));
	return true;
}

/* Sends every connected node its part of the stored plan: the spares
 * their Standby at once, the plan nodes their Assignment in passes, and
 * nodes with a deferred update nothing until their next heartbeat. */
void
members_push(void)
{
	struct head_node	*n;

	if (hd->h_state != HEAD_ACTIVE || !ha_leading())
		return;
	members_push_start_ms = util_now_ms();
	members_push_whole = hd->h_metrics.assign_whole +
	    hd->h_metrics.assign_zlib;
	members_push_change = hd->h_metrics.assign_change;
	members_defer_updates();
	TAILQ_FOREACH(n, &hd->h_nodes, n_entry)
		if (n->n_plan < 0 && !n->n_update_due)
			members_send_standby(n);
	if (members_push_ev == NULL && (members_push_ev =
	    evtimer_new(hd->h_base, members_push_pass_cb, NULL)) == NULL)
		fatalx("cannot create the push timer");
	members_push_next = 0;
	members_push_pass_cb(-1, 0, NULL);
}

void
members_persist_only(void)
{
	char	 err[PPC_ERRLEN];

	if (state_save(err, sizeof(err)) == -1)
		log_warnx("cannot update the state file: %s", err);
}

/*
 * Sets n_same_place on the nodes whose part of np equals their part of
 * `old`, the plan they were sent: spares that stay spares, and plan nodes
 * with the same Assignment apart from the generation and other nodes'
 * stages. With old NULL (no plan was pushed, or it was revoked) no node
 * is the same. Runs before members_reindex, while n_plan indexes `old`.
 */
void
members_mark_same_place(const struct plan *old, const struct plan *np)
{
	struct head_node	*n;
	size_t			 i;

	TAILQ_FOREACH(n, &hd->h_nodes, n_entry) {
		node_update_drop(n);
		n->n_same_place = old != NULL && n->n_plan < 0;
	}
	members_prev_gen = old != NULL ? old->generation : 0;
	if (old == NULL)
		return;
	for (i = 0; i < np->nnodes; i++)
		if ((n = node_find(np->nodes[i].id)) != NULL)
			n->n_same_place = n->n_plan >= 0 &&
			    push_same_own_fields(old, (size_t)n->n_plan, np, i);
}

/* Drops the encoded tables of the current plan and, with `old` set,
 * encodes the change from old to np for agents that hold old. */
void
members_tables_reset(const struct plan *old, const struct plan *np)
{
	members_tables_drop();
	if (old != NULL && (members_delta = push_delta_new(old, np)) != NULL)
		members_delta_base = old->generation;
}

/* Retries a push that waits for the state file to be written. */
void
members_push_retry(void)
{
	if (members_push_pending)
		members_persist_and_push();
}

void
members_push_init(void)
{
	members_push_pending = false;
}

void
members_push_free(void)
{
	members_tables_drop();
	if (members_push_ev != NULL)
		event_free(members_push_ev);
	members_push_ev = NULL;
}
