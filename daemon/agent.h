/*
 * ppcoord-agent: the node agent. It keeps one TLS connection to the head,
 * reports this node's GPUs, writes the stage environment file that the head
 * assigns, and runs the operator's hooks when the placement changes.
 *
 * agent.c        main, options, config, signals, service notification
 * agent_conn.c   connection to the head: resolve, TLS, backoff, redirects
 * agent_session.c an established connection: Hello, Welcome, heartbeats
 * agent_assign.c Assignment, Standby and Revoke: the environment file
 * agent_hook.c   hook processes: spawn, reap, time out, queue
 * agent_notify.c sd_notify(3) datagrams without libsystemd
 */
#ifndef PPCOORD_AGENT_H
#define PPCOORD_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "ppcoord.pb-c.h"

#include "conf.h"
#include "envfile.h"
#include "inv.h"
#include "log.h"
#include "stagetab.h"
#include "util.h"

struct event;
struct event_base;
struct bufferevent;
struct addrinfo;

/* Longest "host:port" or "[v6]:port" of a head. */
#define AGENT_HEAD_MAX		300

/* Reconnect backoff: full jitter between 0 and min(cap, start * 2^n). */
#define AGENT_BACKOFF_START_MS	500

/* Limit from the start of a connection attempt until the head's Welcome.
 * With several heads it is the node timeout within these bounds, because a
 * paused head still completes TCP connects from its listen backlog. A
 * longer wait on it lets the new leader count this node lost. */
#define AGENT_WELCOME_TIMEOUT_MS	15000
#define AGENT_WELCOME_TIMEOUT_MIN_MS	2000

/* Used until a Welcome sets the head's own values. */
#define AGENT_HEARTBEAT_DEFAULT_MS	2000
#define AGENT_NODE_TIMEOUT_DEFAULT_MS	10000

/* After hook_timeout sends SIGTERM to a hook's process group, SIGKILL
 * follows this much later. */
#define AGENT_HOOK_KILL_GRACE_MS	5000

enum agent_conn_state {
	AGENT_IDLE,		/* no connection; a retry may be scheduled */
	AGENT_CONNECTING,	/* TCP connect and TLS handshake */
	AGENT_HELLO_SENT,	/* waiting for Welcome */
	AGENT_REGISTERED,	/* Welcome received */
};

enum agent_hook_kind {
	AGENT_HOOK_NONE,
	AGENT_HOOK_ASSIGN,
	AGENT_HOOK_REVOKE,
};

/* A hook run: the running one, or the latest one queued behind it. */
struct agent_hook {
	enum agent_hook_kind	 kind;
	struct stage_env	 env;		/* the stage variables it gets */
	pid_t			 pid;		/* 0: not running */
	uint64_t		 started_ms;
	bool			 terminated;	/* SIGTERM sent on timeout */
};

struct agent {
	struct event_base	*base;
	struct agent_conf	*conf;
	SSL_CTX			*ssl_ctx;

	char			 node_id[PPC_NODE_ID_MAX + 1];
	struct inv_node		 node;		/* GPUs and workers; address
						   set per connection */
	struct stage_env	 held;		/* what the env file contains */

	/* Connection to the head. */
	enum agent_conn_state	 state;
	struct bufferevent	*bev;
	char			 target[AGENT_HEAD_MAX + 1];	/* host:port */
	char			 target_host[AGENT_HEAD_MAX + 1];
	size_t			 head_index;	/* next agent.head entry */
	char			 redirect[AGENT_HEAD_MAX + 1];	/* NotLeader */
	unsigned		 redirects;	/* NotLeader in a row */
	struct addrinfo		*addrs;		/* target's addresses */
	struct addrinfo		*addr_next;	/* next one to try */
	struct stagetab		 table;		/* of the last Assignment on
						   this connection */
	unsigned		 attempts;	/* failures since Welcome */
	uint64_t		 heartbeat_ms;
	uint64_t		 node_timeout_ms;
	uint64_t		 last_rx_ms;
	uint64_t		 welcome_ms;	/* when registered */
	struct event		*retry_ev;
	struct event		*welcome_ev;	/* Welcome deadline */
	struct event		*heartbeat_ev;
	struct event		*timeout_ev;	/* node_timeout check */

	/* Hooks. */
	struct agent_hook	 hook;		/* running */
	bool			 hook_owed;	/* on_assign never finished for
						   the held assignment */
	struct agent_hook	 hook_queued;	/* kind NONE: nothing queued */
	struct event		*hook_timer;	/* TERM, then KILL */

	struct event		*sig_ev[4];
	struct event		*watchdog_ev;
	bool			 stopping;
};

/* agent.c */
int	agent_load_conf(const char *path, struct agent_conf *conf,
	    SSL_CTX **ctx, char *node_id, size_t idlen, struct inv_node *node,
	    struct conf_errors *errs);
/* Adds the timer ev to fire in ms milliseconds. */
void	agent_timer_add(struct event *ev, uint64_t ms);

/* agent_conn.c */
void	agent_conn_init(struct agent *a);
void	agent_conn_start(struct agent *a);
void	agent_conn_close(struct agent *a);
void	agent_conn_free(struct agent *a);
/* Ends the connection or attempt, logs the reason and schedules a retry. */
void	agent_conn_lost(struct agent *a, bool warn, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	agent_conn_redirect(struct agent *a, const char *leader);
void	agent_conn_registered(struct agent *a);
/* Sends an AssignmentAck on the current connection, if there is one. */
void	agent_conn_send_ack(struct agent *a, uint64_t generation, bool ok,
	    const char *error);

/* agent_session.c */
void	agent_session_init(struct agent *a);
void	agent_session_stop(struct agent *a);
void	agent_session_free(struct agent *a);
void	agent_session_connected(struct agent *a);
void	agent_session_read_cb(struct bufferevent *bev, void *arg);
void	agent_session_read(struct agent *a);
/* The head closed a registered connection cleanly. */
void	agent_session_closed(struct agent *a);

/* agent_assign.c */
void	agent_assign_init(struct agent *a);
void	agent_on_assignment(struct agent *a, const Ppcoord__Assignment *m);
void	agent_on_standby(struct agent *a, const Ppcoord__Standby *m);
void	agent_on_revoke(struct agent *a, const Ppcoord__Revoke *m);

/* agent_hook.c */
int	agent_hook_init(struct agent *a);
/* Runs the hook now, or queues it behind the running one (replacing any
 * hook queued before). A hook that the config leaves unset is skipped. */
void	agent_hook_request(struct agent *a, enum agent_hook_kind kind,
	    const struct stage_env *env);
void	agent_hook_refresh(struct agent *a, const struct stage_env *env);
void	agent_hook_sigchld(struct agent *a);
/* Returns true when ENV_FILE.hook-pending shows an on_assign that was
 * started or queued but never finished, for example because the agent
 * was killed first. */
bool	agent_hook_pending(const struct agent *a);
/* Logs a hook still running at exit; it is left to finish. */
void	agent_hook_shutdown(struct agent *a);
const char *agent_hook_name(enum agent_hook_kind kind);

/* agent_notify.c */
void	agent_notify(const char *state);
/* Watchdog interval in ms from WATCHDOG_USEC, 0 when not requested. */
uint64_t agent_notify_watchdog_ms(void);

#endif
