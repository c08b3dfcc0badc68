/*
 * ppcoord-head: the coordinator that collects every agent's GPU inventory,
 * computes the stage placement and pushes each node its assignment.
 *
 * One process, one libevent loop. The files split by role:
 *   head.c          main, signals, config load and reload, shutdown
 *   head_listen.c   TLS listener, agent connections, frame dispatch
 *   head_members.c  node table, joins and losses, planning
 *   head_members_push.c  sending each node its part of the plan
 *   head_state.c    the state file that survives a restart
 *   head_status.c   status JSON, shared by the control socket and HTTP
 *   head_control.c  the operator's Unix control socket
 *   head_http.c     GET /metrics and /status
 *   head_notify.c   systemd readiness and watchdog notifications
 *   head_htab.c     string-keyed hash table of nodes
 *   head_push.c     Assignment frames sharing one encoded stage table
 *   head_state_text.c  the state file text without a jansson tree
 *   head_ha.c       several heads on etcd: election, state, step-down
 */
#ifndef PPCOORD_HEAD_H
#define PPCOORD_HEAD_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "ppcoord.pb-c.h"

struct evbuffer;

#include "conf.h"
#include "inv.h"
#include "log.h"
#include "plan.h"
#include "util.h"

#define HEAD_CONF_DEFAULT	"/etc/ppcoord/head.conf"

/* Extra descriptors beyond max_connections: listeners, control clients,
 * HTTP clients, the state file and logging. */
#define HEAD_FD_RESERVE		64

/*
 * A connection whose unsent output exceeds this has stopped reading. Most
 * of an Assignment is a reference to the plan's shared stage table, which
 * costs no memory per connection, so the limit allows several of the
 * largest (1 MiB) frames.
 */
#define HEAD_OUTPUT_MAX		(4u << 20)

/* Time a connection may take to flush its last message (a Reject) before
 * it is closed anyway. */
#define HEAD_CLOSE_LINGER_MS	2000

/* Sweep interval bounds: the sweep checks every timeout and sends due
 * heartbeats, so its period bounds the timing error of both. */
#define HEAD_SWEEP_MIN_MS	50
#define HEAD_SWEEP_MAX_MS	500
/* The sweep timer's period: each tick covers a slice of the connections,
 * and the ticks of one sweep interval cover them all. */
#define HEAD_SWEEP_TICK_MS	50

/* Intrusive string-keyed hash table (chained, power-of-two buckets). */
struct head_hlink {
	struct head_hlink	*hl_next;
	const char		*hl_key;
};

struct head_htab {
	struct head_hlink	**ht_buckets;
	size_t			  ht_nbuckets;
	size_t			  ht_count;
};

void	htab_init(struct head_htab *t);
void	htab_free(struct head_htab *t);
struct head_hlink *htab_find(const struct head_htab *t, const char *key);
struct head_hlink *htab_find_next(const struct head_hlink *l);
void	htab_insert(struct head_htab *t, struct head_hlink *l,
	    const char *key);
void	htab_remove(struct head_htab *t, struct head_hlink *l);

enum head_conn_state {
	CONN_HANDSHAKE,		/* TLS handshake in progress */
	CONN_HELLO,		/* handshake done, waiting for Hello */
	CONN_JOINED,		/* Hello accepted, node attached */
	CONN_CLOSING,		/* flushing a last message, then closed */
};

struct head_node;

/* One agent connection. Kept small: the head holds up to max_connections
 * of these, and OpenSSL's buffers are released while idle. */
struct head_conn {
	TAILQ_ENTRY(head_conn)	 c_entry;
	struct bufferevent	*c_bev;
	struct head_node	*c_node;	/* when CONN_JOINED */
	enum head_conn_state	 c_state;
	uint64_t		 c_since_ms;	/* entered c_state */
	uint64_t		 c_rx_ms;	/* last frame received */
	uint64_t		 c_hb_ms;	/* last heartbeat sent */
	bool			 c_doomed;	/* closed by the next sweep */
	bool			 c_deltas;	/* Hello set stage_deltas */
	bool			 c_zlib;	/* Hello set stage_table_zlib */
	uint64_t		 c_table_gen;	/* generation of the last
						   Assignment sent, 0 after
						   Standby or Revoke */
	char			 c_peer[56];	/* "[addr]:port" for logs */
	char			 c_id[PPC_NODE_ID_MAX + 1];	/* certificate */
};
TAILQ_HEAD(head_conns, head_conn);

/* A node in the head's table: connected, or a plan member that is away. */
struct head_node {
	TAILQ_ENTRY(head_node)	 n_entry;
	struct head_hlink	 n_idlink;
	struct head_hlink	 n_addrlink;	/* while in the table */
	struct inv_node		 n_inv;		/* last reported inventory */
	struct head_conn	*n_conn;	/* NULL while away */
	long			 n_plan;	/* index in the plan, or -1 */
	uint64_t		 n_spare_seq;	/* spare order: lower first */
	uint64_t		 n_sent_gen;	/* generation last sent */
	uint64_t		 n_acked_gen;	/* from AssignmentAck */
	struct log_ratelimit	 n_ack_rl;	/* failed or ignored acks */
	uint64_t		 n_joined_ms;
	uint64_t		 n_lost_at_ms;	/* away plan node: lost at */
	bool			 n_addr_indexed;
	bool			 n_unusable;	/* workers fit no stage */
	bool			 n_same_place;	/* the current generation
						   changed nothing of this
						   node's but its number */
	bool			 n_update_due;	/* that generation goes out
						   in place of the node's
						   next heartbeat */
};
TAILQ_HEAD(head_nodes, head_node);

enum head_state {
	HEAD_WAITING,		/* fewer than expected_nodes connected */
	HEAD_SETTLING,		/* expected reached, waiting settle_time */
	HEAD_ACTIVE,		/* a plan is pushed */
	HEAD_REVOKED,		/* the plan is void; waiting for nodes */
};

struct head_metrics {
	uint64_t	 joins;
	uint64_t	 leaves;
	uint64_t	 rejections[PPCOORD__REJECT__REASON__REASON_SHUTTING_DOWN + 1];
	uint64_t	 handshake_failures;
	uint64_t	 frames_in;
	uint64_t	 frames_out;
	uint64_t	 connections_refused;
	uint64_t	 acks_ok;
	uint64_t	 acks_failed;	/* ok = false from the agent */
	uint64_t	 acks_ignored;	/* not of the generation sent */
	uint64_t	 assign_whole;	/* Assignments with the whole table */
	uint64_t	 assign_change;	/* with the changed stages only */
	uint64_t	 assign_zlib;	/* with the whole table compressed */
	uint64_t	 deferred_updates;	/* sent in place of a heartbeat */
	double		 plan_seconds;
};

struct head {
	struct event_base	*h_base;
	struct head_conf	*h_conf;
	SSL_CTX			*h_ssl;
	struct evconnlistener	*h_listener;
	struct event		*h_sweep;
	struct event		*h_settle;
	struct event		*h_watchdog;
	struct event		*h_sigs[4];

	struct head_conns	 h_conns;
	size_t			 h_nconns;
	size_t			 h_nunauth;	/* before an accepted Hello */

	struct head_nodes	 h_nodes;
	struct head_htab	 h_byid;
	struct head_htab	 h_byaddr;	/* every node in the table */
	size_t			 h_nconnected;	/* joined nodes */
	size_t			 h_nunusable;	/* joined, but fit no stage */
	uint64_t		 h_spare_seq;

	enum head_state		 h_state;
	uint64_t		 h_generation;
	uint64_t		 h_max_held_gen;	/* highest Hello.held_generation */
	bool			 h_have_plan;	/* h_plan valid (maybe revoked) */
	struct plan		 h_plan;
	struct inv		 h_plan_inv;	/* the inventory of h_plan */
	char			 h_plan_error[PPC_ERRLEN];

	uint64_t		 h_start_ms;
	bool			 h_shutting_down;
	struct head_metrics	 h_metrics;
};

extern struct head	*hd;

/* head.c */
uint64_t head_sweep_interval_ms(void);

/* head_listen.c */
int	listen_start(char *err, size_t errlen);
void	listen_stop(void);
void	conn_sweep(uint64_t now, unsigned slices);
void	conn_close(struct head_conn *c, const char *why);
void	conn_doom(struct head_conn *c);
void	conn_close_all(void);
void	conn_drop_all(const char *why);
void	conn_reject(struct head_conn *c, Ppcoord__Reject__Reason reason,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool	conn_writable(struct head_conn *c);
void	conn_joined(struct head_conn *c);
void	conn_sent(struct head_conn *c);

/* head_members.c */
void	members_init(void);
void	members_free(void);
void	members_hello(struct head_conn *c, const Ppcoord__Hello *hello);
void	members_frame(struct head_node *n, const Ppcoord__Envelope *env);
void	members_disconnected(struct head_node *n, const char *reason,
	    uint64_t last_rx_ms);
void	members_sweep(uint64_t now);
void	members_settle_expired(void);
void	members_reload(void);
void	members_restore(void);
void	members_restored(int rc);
bool	members_node_is_spare(const struct head_node *n);
const char *members_state_name(enum head_state s);
const char *members_node_state(const struct head_node *n);
size_t	members_count(const char *state);
int	members_inventory(struct inv *inv);
struct head_node *node_find(const char *id);

/* head_members_push.c */
void	members_push(void);
void	members_push_init(void);
void	members_push_free(void);
void	members_push_retry(void);
void	members_persist_and_push(void);
void	members_persist_only(void);
void	members_send_assignment(struct head_node *n);
void	members_send_standby(struct head_node *n);
void	members_send_revoke(struct head_node *n, const char *reason);
bool	members_send_due(struct head_node *n);
void	members_flush_deferred(void);
void	members_mark_same_place(const struct plan *old,
	    const struct plan *np);
void	members_tables_reset(const struct plan *old, const struct plan *np);
void	node_update_drop(struct head_node *n);

/* head_push.c */
struct push_table;
struct push_table *push_table_new(const struct plan *p);
struct push_table *push_delta_new(const struct plan *old,
	    const struct plan *p);
struct push_table *push_table_zlib_new(const struct push_table *t);
void	push_table_unref(struct push_table *t);
bool	push_same_own_fields(const struct plan *old, size_t oi,
	    const struct plan *p, size_t ni);
int	push_assignment(struct evbuffer *out, const struct plan *p,
	    size_t node, struct push_table *t, uint32_t max_frame);

/* head_state.c */
int	state_save(char *err, size_t errlen);
int	state_load(char *err, size_t errlen);
int	state_load_text(const char *text, size_t len, char *err,
	    size_t errlen);
char	*state_build(size_t *len, char *err, size_t errlen);
void	state_config_digest(const struct plan_config *cfg, char *hex,
	    size_t len);

/* head_state_text.c */
char	*state_text(const struct plan *p, const struct inv *inv,
	    const struct model_sizes *sizes, int version, const char *cluster,
	    uint64_t generation, const char *state, const char *digest,
	    size_t *len);

/* head_ha.c */
int	ha_start(char *err, size_t errlen);
void	ha_stop(void);
bool	ha_leading(void);
bool	ha_follower(void);
void	ha_step_down(const char *reason);
void	ha_save(bool push);
const char *ha_role_name(void);
const char *ha_leader(void);
uint64_t ha_leader_changes(void);

/* head_status.c */
char	*status_json(void);
char	*status_plan_json(void);
char	*status_inventory_json(void);

/* head_control.c */
int	control_start(char *err, size_t errlen);
void	control_stop(void);

/* head_http.c */
int	http_start(char *err, size_t errlen);
void	http_stop(void);

/* head_notify.c */
void	notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	notify_watchdog_start(void);
void	notify_reloading(void);

#endif
