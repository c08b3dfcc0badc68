/*
 * An established connection to the head. After the TLS handshake the agent
 * sends Hello. With TLS 1.3 the client's handshake completes before the
 * head has checked the client certificate, so a rejected certificate shows
 * up only as an alert at the first read. The agent therefore counts as
 * registered only once it has read the head's Welcome. From then on it
 * sends a Heartbeat every heartbeat interval and closes the connection when
 * nothing has arrived from the head for the node timeout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "agent.h"
#include "wire.h"

/* Bounds on the intervals a Welcome may set; outside them the defaults
 * apply, so that a broken head cannot make the agent spin or go deaf. */
#define SESSION_HEARTBEAT_MIN_MS	50
#define SESSION_HEARTBEAT_MAX_MS	(10 * 60 * 1000)

static void	session_heartbeat_cb(evutil_socket_t, short, void *);
static void	session_timeout_cb(evutil_socket_t, short, void *);

void
agent_session_init(struct agent *a)
{
	a->heartbeat_ev = event_new(a->base, -1, EV_PERSIST,
	    session_heartbeat_cb, a);
	a->timeout_ev = evtimer_new(a->base, session_timeout_cb, a);
	if (a->heartbeat_ev == NULL || a->timeout_ev == NULL)
		fatalx("failed to create heartbeat timers");
}

void
agent_session_stop(struct agent *a)
{
	if (a->heartbeat_ev != NULL)
		evtimer_del(a->heartbeat_ev);
	if (a->timeout_ev != NULL)
		evtimer_del(a->timeout_ev);
}

void
agent_session_free(struct agent *a)
{
	if (a->heartbeat_ev != NULL)
		event_free(a->heartbeat_ev);
	if (a->timeout_ev != NULL)
		event_free(a->timeout_ev);
	a->heartbeat_ev = a->timeout_ev = NULL;
}

/* The local address of the connection as an IP literal, for Hello when
 * agent.advertise_address is not set. IPv4-mapped IPv6 becomes IPv4. */
static int
session_local_address(struct agent *a, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	socklen_t		 sslen = sizeof(ss);
	int			 fd = bufferevent_getfd(a->bev);

	if (fd == -1 || getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
		return -1;
	if (ss.ss_family == AF_INET)
		return inet_ntop(AF_INET, &sin->sin_addr, buf,
		    (socklen_t)len) == NULL ? -1 : 0;
	if (ss.ss_family != AF_INET6)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		return inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf,
		    (socklen_t)len) == NULL ? -1 : 0;
	return inet_ntop(AF_INET6, &sin6->sin6_addr, buf,
	    (socklen_t)len) == NULL ? -1 : 0;
}

/* The TLS handshake is done: send Hello and wait for Welcome. */
void
agent_session_connected(struct agent *a)
{
	const char	*held_state = "";
	uint64_t	 held_gen = 0;

	a->state = AGENT_HELLO_SENT;
	if (a->conf->advertise_address != NULL)
		snprintf(a->node.address, sizeof(a->node.address), "%s",
		    a->conf->advertise_address);
	else if (session_local_address(a, a->node.address,
	    sizeof(a->node.address)) == -1) {
		agent_conn_lost(a, false, "cannot read the local address of "
		    "the connection; set agent.advertise_address");
		return;
	}
	snprintf(a->node.id, sizeof(a->node.id), "%s", a->node_id);

	if (a->held.state != STAGE_NONE) {
		held_state = envfile_state_name(a->held.state);
		held_gen = a->held.generation;
	}
	if (wire_send_hello(bufferevent_get_output(a->bev), &a->node,
	    held_gen, held_state) == -1) {
		agent_conn_lost(a, false, "failed to build Hello: out of "
		    "memory");
		return;
	}
	log_debug("TLS established with head %s; sent Hello as node %s, "
	    "address %s, %u workers, holding generation %llu (%s)",
	    a->target, a->node_id, a->node.address, a->node.workers,
	    (unsigned long long)held_gen,
	    *held_state != '\0' ? held_state : "nothing");
}

/* Applies the intervals of a Welcome, or the defaults when it sets
 * none or values out of bounds. */
static void
session_intervals(struct agent *a, const Ppcoord__Welcome *w)
{
	uint64_t hb = AGENT_HEARTBEAT_DEFAULT_MS;
	uint64_t to = AGENT_NODE_TIMEOUT_DEFAULT_MS;

	if (w->has_heartbeat_interval_ms)
		hb = w->heartbeat_interval_ms;
	if (w->has_node_timeout_ms)
		to = w->node_timeout_ms;
	if (hb < SESSION_HEARTBEAT_MIN_MS || hb > SESSION_HEARTBEAT_MAX_MS ||
	    to <= hb) {
		log_warnx("head %s sent heartbeat interval %llu ms and node "
		    "timeout %llu ms; using %d ms and %d ms", a->target,
		    (unsigned long long)hb, (unsigned long long)to,
		    AGENT_HEARTBEAT_DEFAULT_MS, AGENT_NODE_TIMEOUT_DEFAULT_MS);
		hb = AGENT_HEARTBEAT_DEFAULT_MS;
		to = AGENT_NODE_TIMEOUT_DEFAULT_MS;
	}
	a->heartbeat_ms = hb;
	a->node_timeout_ms = to;
}

static void
session_welcome(struct agent *a, const Ppcoord__Welcome *w)
{
	if (a->state == AGENT_REGISTERED) {
		log_debug("ignoring a second Welcome from head %s", a->target);
		return;
	}
	if (w->has_protocol_version &&
	    w->protocol_version != PPCOORD__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT) {
		agent_conn_lost(a, true, "head speaks protocol version %u, "
		    "this agent %d", w->protocol_version,
		    PPCOORD__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
		return;
	}
	if (w->node_id != NULL && *w->node_id != '\0' &&
	    strcmp(w->node_id, a->node_id) != 0) {
		agent_conn_lost(a, true, "head registered this node as %s, "
		    "not %s", w->node_id, a->node_id);
		return;
	}

	session_intervals(a, w);
	agent_conn_registered(a);
	a->welcome_ms = a->last_rx_ms = util_now_ms();
	log_info("registered with head %s as node %s (cluster %s, head "
	    "version %s, heartbeat %llu ms, node timeout %llu ms)", a->target,
	    a->node_id, w->cluster != NULL ? w->cluster : "?",
	    w->head_version != NULL ? w->head_version : "?",
	    (unsigned long long)a->heartbeat_ms,
	    (unsigned long long)a->node_timeout_ms);

	agent_timer_add(a->heartbeat_ev, a->heartbeat_ms);
	agent_timer_add(a->timeout_ev, a->node_timeout_ms);
}

static void
session_reject(struct agent *a, const Ppcoord__Reject *r)
{
	Ppcoord__Reject__Reason reason = r->has_reason ? r->reason :
	    PPCOORD__REJECT__REASON__REASON_UNSPECIFIED;

	agent_conn_lost(a, true, "rejected by the head (%s): %s",
	    wire_reject_reason_name(reason),
	    r->message != NULL && *r->message != '\0' ? r->message :
	    "no message");
}

/* NotLeader: follow it to any valid host:port. The certificate of that
 * head is checked against its host part, as for a configured head. */
static void
session_not_leader(struct agent *a, const Ppcoord__NotLeader *n)
{
	const char	*leader = n->leader_address;
	char		 host[AGENT_HEAD_MAX + 1], err[PPC_ERRLEN];
	uint16_t	 port;

	if (leader == NULL || *leader == '\0') {
		agent_conn_lost(a, false, "head is not the leader and does not "
		    "know which head is");
		return;
	}
	if (strlen(leader) > AGENT_HEAD_MAX ||
	    util_split_host_port(leader, host, sizeof(host), &port, err,
	    sizeof(err)) == -1 ||
	    util_check_address(host, err, sizeof(err)) == -1) {
		if (strlen(leader) > AGENT_HEAD_MAX)
			snprintf(err, sizeof(err), "longer than %d bytes",
			    AGENT_HEAD_MAX);
		agent_conn_lost(a, true, "head is not the leader and sent an "
		    "invalid leader address: %s", err);
		return;
	}
	agent_conn_redirect(a, leader);
}

/* Handles one message. The connection may be gone on return. */
static void
session_dispatch(struct agent *a, const Ppcoord__Envelope *env)
{
	bool registered = a->state == AGENT_REGISTERED;

	switch (env->msg_case) {
	case PPCOORD__ENVELOPE__MSG_WELCOME:
		session_welcome(a, env->welcome);
		return;
	case PPCOORD__ENVELOPE__MSG_REJECT:
		session_reject(a, env->reject);
		return;
	case PPCOORD__ENVELOPE__MSG_NOT_LEADER:
		session_not_leader(a, env->not_leader);
		return;
	case PPCOORD__ENVELOPE__MSG_ASSIGNMENT:
		if (registered)
			agent_on_assignment(a, env->assignment);
		break;
	case PPCOORD__ENVELOPE__MSG_STANDBY:
		if (registered)
			agent_on_standby(a, env->standby);
		break;
	case PPCOORD__ENVELOPE__MSG_REVOKE:
		if (registered)
			agent_on_revoke(a, env->revoke);
		break;
	case PPCOORD__ENVELOPE__MSG_HEARTBEAT:
		break;
	default:
		agent_conn_lost(a, true, "unexpected %s message from the head",
		    wire_msg_name(env));
		return;
	}
	if (!registered)
		agent_conn_lost(a, true, "%s message before Welcome",
		    wire_msg_name(env));
}

void
agent_session_read(struct agent *a)
{
	struct bufferevent	*bev = a->bev;
	Ppcoord__Envelope	*env;
	char			 err[PPC_ERRLEN];
	enum wire_result	 r;

	while (a->bev == bev && bev != NULL) {
		r = wire_read(bufferevent_get_input(bev), WIRE_FRAME_MAX, &env,
		    err, sizeof(err));
		if (r == WIRE_MORE)
			return;
		if (r == WIRE_ERROR) {
			agent_conn_lost(a, true, "invalid frame from the head: "
			    "%s", err);
			return;
		}
		if (env->msg_case != PPCOORD__ENVELOPE__MSG_HEARTBEAT)
			log_debug("received %s from head %s",
			    wire_msg_name(env), a->target);
		session_dispatch(a, env);
		wire_free(env);
	}
}

void
agent_session_read_cb(struct bufferevent *bev, void *arg)
{
	struct agent *a = arg;

	a->last_rx_ms = util_now_ms();
	agent_session_read(a);
}

/*
 * The head closed a registered connection. Between frames that is an
 * ordinary disconnect (a head restart, say); in the middle of a frame the
 * stream was cut short.
 */
void
agent_session_closed(struct agent *a)
{
	size_t pending = evbuffer_get_length(bufferevent_get_input(a->bev));

	if (pending > 0)
		agent_conn_lost(a, true, "closed by the head in the middle of "
		    "a frame (%zu bytes unread)", pending);
	else
		agent_conn_lost(a, false, "closed by the head");
}

static void
session_heartbeat_cb(evutil_socket_t fd, short events, void *arg)
{
	struct agent	*a = arg;
	uint64_t	 gen;

	if (a->bev == NULL || a->state != AGENT_REGISTERED)
		return;
	gen = a->held.state != STAGE_NONE ? a->held.generation : 0;
	if (wire_send_heartbeat(bufferevent_get_output(a->bev), gen) == -1)
		log_warnx("failed to send Heartbeat to head %s: out of memory",
		    a->target);
}

/* Closes the connection when the head has been silent for node_timeout;
 * otherwise checks again when that much time has passed since the last
 * frame. */
static void
session_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct agent	*a = arg;
	uint64_t	 idle;

	if (a->bev == NULL || a->state != AGENT_REGISTERED)
		return;
	idle = util_now_ms() - a->last_rx_ms;
	if (idle >= a->node_timeout_ms) {
		agent_conn_lost(a, false, "nothing received for %llu ms "
		    "(node timeout %llu ms)", (unsigned long long)idle,
		    (unsigned long long)a->node_timeout_ms);
		return;
	}
	agent_timer_add(a->timeout_ev, a->node_timeout_ms - idle);
}
