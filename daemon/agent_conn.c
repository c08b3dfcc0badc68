/*
 * The connection to the head: choosing a head, resolving it, TCP and the
 * TLS 1.3 handshake through a bufferevent_openssl, describing why a
 * connection ended, and reconnecting with exponential backoff and full
 * jitter. What travels over an established connection is agent_session.c.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "agent.h"
#include "tls.h"
#include "wire.h"

/* At the backoff cap, failures are logged at most once per this many
 * seconds, so that a head away for hours does not flood the log. */
#define CONN_LOG_INTERVAL_S	300

static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_retry_cb(evutil_socket_t, short, void *);
static void	conn_welcome_timeout_cb(evutil_socket_t, short, void *);
static void	conn_connect_next(struct agent *);
static bool	conn_errno_unreachable(int);

static struct log_ratelimit conn_ratelimit =
    LOG_RATELIMIT_INIT(CONN_LOG_INTERVAL_S, 1);

void
agent_conn_init(struct agent *a)
{
	a->state = AGENT_IDLE;
	a->heartbeat_ms = AGENT_HEARTBEAT_DEFAULT_MS;
	a->node_timeout_ms = AGENT_NODE_TIMEOUT_DEFAULT_MS;
	a->retry_ev = evtimer_new(a->base, conn_retry_cb, a);
	a->welcome_ev = evtimer_new(a->base, conn_welcome_timeout_cb, a);
	if (a->retry_ev == NULL || a->welcome_ev == NULL)
		fatalx("failed to create connection timers");
	agent_session_init(a);
}

/* Schedules the first connection attempt at once. */
void
agent_conn_start(struct agent *a)
{
	agent_timer_add(a->retry_ev, 0);
}

/* The head the next attempt goes to: a NotLeader redirect first, then the
 * configured heads in turn. */
static const char *
conn_peek_target(const struct agent *a)
{
	if (a->redirect[0] != '\0')
		return a->redirect;
	return a->conf->heads[a->head_index % a->conf->nheads];
}

/* Returns the limit from the start of an attempt until Welcome; see
 * AGENT_WELCOME_TIMEOUT_MS. */
static uint64_t
conn_welcome_timeout(const struct agent *a)
{
	uint64_t ms = a->node_timeout_ms;

	if (a->conf->nheads < 2 || ms > AGENT_WELCOME_TIMEOUT_MS)
		return AGENT_WELCOME_TIMEOUT_MS;
	return ms < AGENT_WELCOME_TIMEOUT_MIN_MS ?
	    AGENT_WELCOME_TIMEOUT_MIN_MS : ms;
}

/* Moves the turn to the configured head after `target`, whose registered
 * connection ended. The head that was lost (silent, paused, shutting down)
 * is the least likely to accept the next attempt. A target that only a
 * redirect named leaves the turn as it is. */
static void
conn_skip_lost_head(struct agent *a, const char *target)
{
	size_t i;

	for (i = 0; i < a->conf->nheads; i++)
		if (strcmp(a->conf->heads[i], target) == 0) {
			a->head_index = (i + 1) % a->conf->nheads;
			return;
		}
}

/* Frees the bufferevent (and with it the SSL and the socket), the address
 * list and the per-connection timers. */
static void
conn_teardown(struct agent *a)
{
	SSL *ssl;

	agent_session_stop(a);
	evtimer_del(a->welcome_ev);
	if (a->bev != NULL) {
		/* A close_notify lets the head tell this close from a
		 * truncated stream; it is best effort on a socket that may
		 * already be gone. */
		if (a->state >= AGENT_HELLO_SENT &&
		    (ssl = bufferevent_openssl_get_ssl(a->bev)) != NULL) {
			SSL_shutdown(ssl);
			ERR_clear_error();
		}
		bufferevent_free(a->bev);
		a->bev = NULL;
	}
	if (a->addrs != NULL) {
		freeaddrinfo(a->addrs);
		a->addrs = NULL;
		a->addr_next = NULL;
	}
	stagetab_clear(&a->table);
	a->state = AGENT_IDLE;
}

void
agent_conn_close(struct agent *a)
{
	if (a->bev != NULL && a->state == AGENT_REGISTERED)
		log_info("closing connection to head %s", a->target);
	conn_teardown(a);
	evtimer_del(a->retry_ev);
}

void
agent_conn_free(struct agent *a)
{
	agent_conn_close(a);
	agent_session_free(a);
	if (a->retry_ev != NULL)
		event_free(a->retry_ev);
	if (a->welcome_ev != NULL)
		event_free(a->welcome_ev);
	a->retry_ev = a->welcome_ev = NULL;
}

/* Next delay: uniform in [0, min(cap, start * 2^(attempts-1))]. Sets
 * *capped when the ceiling has reached the cap. */
static uint64_t
conn_backoff(struct agent *a, bool *capped)
{
	uint64_t	cap = a->conf->reconnect_max_ms;
	uint64_t	ceiling = AGENT_BACKOFF_START_MS;
	unsigned	i;

	if (cap < AGENT_BACKOFF_START_MS)
		cap = AGENT_BACKOFF_START_MS;
	if (cap > UINT32_MAX - 1)
		cap = UINT32_MAX - 1;
	a->attempts++;
	for (i = 1; i < a->attempts && ceiling < cap; i++)
		ceiling *= 2;
	*capped = ceiling >= cap;
	if (ceiling > cap)
		ceiling = cap;
	return arc4random_uniform((uint32_t)ceiling + 1);
}

/*
 * Ends the connection or the attempt, logs why and schedules the next one.
 * `warn` marks failures an operator must fix (a Reject, a TLS error) as
 * warnings; a head that is merely down is logged at info. Once the backoff
 * is at its cap, the lines are rate-limited.
 */
void
agent_conn_lost(struct agent *a, bool warn, const char *fmt, ...)
{
	char		 reason[1024];
	va_list		 ap;
	bool		 registered = a->state == AGENT_REGISTERED;
	bool		 capped = false;
	uint64_t	 delay;
	unsigned long	 suppressed = 0;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);

	conn_teardown(a);
	if (a->stopping)
		return;
	if (registered)
		conn_skip_lost_head(a, a->target);

	delay = conn_backoff(a, &capped);
	if (registered)
		log_warnx("lost connection to head %s: %s; reconnecting to %s "
		    "in %.1f s", a->target, reason, conn_peek_target(a),
		    (double)delay / 1000);
	else if (!capped || log_ratelimit_allow(&conn_ratelimit,
	    &suppressed)) {
		(warn ? log_warnx : log_info)("connection to head %s failed: "
		    "%s; next attempt to %s in %.1f s (attempt %u)%s",
		    a->target, reason, conn_peek_target(a),
		    (double)delay / 1000, a->attempts,
		    capped ? "; further failures are logged every 5 min" : "");
		if (suppressed > 0)
			log_info("%lu connection failures not logged",
			    suppressed);
	}
	agent_timer_add(a->retry_ev, delay);
}

/* NotLeader: the next attempt goes to `leader` at once the first time; a
 * second redirect in a row backs off, so two heads that each name the
 * other cannot make the agent spin. */
void
agent_conn_redirect(struct agent *a, const char *leader)
{
	bool		capped;
	uint64_t	delay = 0;
	const char	*from = a->target;
	char		prev[AGENT_HEAD_MAX + 1];

	snprintf(prev, sizeof(prev), "%s", from);
	conn_teardown(a);
	snprintf(a->redirect, sizeof(a->redirect), "%s", leader);
	if (a->redirects++ > 0)
		delay = conn_backoff(a, &capped);
	log_info("head %s is not the leader: connecting to %s in %.1f s",
	    prev, leader, (double)delay / 1000);
	agent_timer_add(a->retry_ev, delay);
}

/* Starts an attempt to the next head. */
static void
conn_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct agent	*a = arg;
	struct addrinfo	 hints;
	char		 host[AGENT_HEAD_MAX + 1], port[8];
	char		 err[PPC_ERRLEN];
	uint16_t	 portnum;
	int		 rc;

	if (a->redirect[0] != '\0') {
		snprintf(a->target, sizeof(a->target), "%s", a->redirect);
		a->redirect[0] = '\0';
	} else {
		snprintf(a->target, sizeof(a->target), "%s",
		    a->conf->heads[a->head_index % a->conf->nheads]);
		a->head_index = (a->head_index + 1) % a->conf->nheads;
	}

	a->state = AGENT_CONNECTING;
	agent_timer_add(a->welcome_ev, conn_welcome_timeout(a));
	if (util_split_host_port(a->target, host, sizeof(host), &portnum, err,
	    sizeof(err)) == -1) {
		agent_conn_lost(a, true, "%s", err);
		return;
	}
	snprintf(a->target_host, sizeof(a->target_host), "%s", host);
	snprintf(port, sizeof(port), "%u", portnum);

	/*
	 * getaddrinfo blocks the event loop while it resolves. The agent has
	 * one connection and nothing else to serve meanwhile, so this is
	 * acceptable here; the head, with many peers, must not do this.
	 */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	log_debug("connecting to head %s", a->target);
	if ((rc = getaddrinfo(host, port, &hints, &a->addrs)) != 0) {
		a->addrs = NULL;
		agent_conn_lost(a, false, "cannot resolve %s: %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return;
	}
	a->addr_next = a->addrs;
	conn_connect_next(a);
}

/* Formats the IP address of a socket address as a numeric string. */
static void
conn_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char	host[NI_MAXHOST];

	if (getnameinfo(sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
	    host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s", host);
}

/* Connects to the next resolved address of the current head. */
static void
conn_connect_next(struct agent *a)
{
	struct addrinfo		*ai = a->addr_next;
	struct bufferevent	*bev;
	SSL			*ssl;
	char			 err[PPC_ERRLEN], ip[NI_MAXHOST];
	int			 sockerr;

	a->addr_next = ai->ai_next;
	conn_format_addr(ai->ai_addr, ip, sizeof(ip));
	log_debug("connecting to head %s at %s", a->target, ip);

	if ((ssl = SSL_new(a->ssl_ctx)) == NULL) {
		tls_error_string(err, sizeof(err));
		agent_conn_lost(a, true, "failed to create TLS session: %s",
		    err);
		return;
	}
	/* OpenSSL 3 reports a close without close_notify as an error, and
	 * libevent 2.1 passes it on as one. With this option it is an end of
	 * stream, and the session checks that it fell between frames. */
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (tls_client_set_host(ssl, a->target_host, err, sizeof(err)) ==
	    -1) {
		SSL_free(ssl);
		agent_conn_lost(a, true, "%s", err);
		return;
	}

	/* With BEV_OPT_CLOSE_ON_FREE, freeing the bufferevent frees the SSL
	 * and closes the socket. */
	a->bev = bufferevent_openssl_socket_new(a->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (a->bev == NULL) {
		agent_conn_lost(a, false, "failed to create a bufferevent");
		return;
	}
	bev = a->bev;
	bufferevent_setcb(bev, agent_session_read_cb, NULL, conn_event_cb, a);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(bev, ai->ai_addr,
	    (int)ai->ai_addrlen) == 0 || a->bev != bev)
		return;

	/* libevent 2.1.12 reports a connect() that fails at once, such as
	 * ENETUNREACH on a link that is down, only through this return
	 * value and not through the event callback. */
	sockerr = errno;
	bufferevent_free(a->bev);
	a->bev = NULL;
	if (conn_errno_unreachable(sockerr) && a->addr_next != NULL) {
		log_debug("head %s at %s: %s; trying its next address",
		    a->target, ip, strerror(sockerr));
		conn_connect_next(a);
		return;
	}
	agent_conn_lost(a, false, "connect to %s: %s", ip, strerror(sockerr));
}

/* True for socket errors after which another address of the same head may
 * work: nothing reached a listening head there. */
static bool
conn_errno_unreachable(int err)
{
	return err == ECONNREFUSED || err == ENETUNREACH ||
	    err == EHOSTUNREACH || err == EADDRNOTAVAIL ||
	    err == EAFNOSUPPORT || err == ETIMEDOUT;
}

/*
 * Describes why the connection ended: the TLS errors libevent collected
 * (an alert from the head such as "tlsv1 alert unknown ca", or a failed
 * check of the head's certificate), else the socket error. Sets *eof for a
 * clean end of stream.
 */
static void
conn_describe(struct agent *a, short events, int sockerr, char *buf,
    size_t len, bool *eof, bool *tls_error)
{
	unsigned long	 e;
	SSL		*ssl = bufferevent_openssl_get_ssl(a->bev);
	const char	*r;
	size_t		 off = 0;
	long		 vr;

	*eof = (events & BEV_EVENT_EOF) != 0;
	*tls_error = false;
	buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(a->bev)) != 0) {
		/* libevent 2.1 also queues the SSL_get_error() code. For
		 * SSL_ERROR_SYSCALL, the socket error gives the cause. */
		if (ERR_GET_LIB(e) == 0) {
			if (e == SSL_ERROR_SYSCALL && sockerr == 0)
				*eof = true;
			continue;
		}
		if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			*eof = true;
			continue;
		}
		*tls_error = true;
		if ((r = ERR_reason_error_string(e)) == NULL)
			r = "unknown TLS error";
		if (off < len)
			off += (size_t)snprintf(buf + off, len - off, "%sTLS: %s",
			    off > 0 ? "; " : "", r);
		if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
		    ssl != NULL && (vr = SSL_get_verify_result(ssl)) !=
		    X509_V_OK && off < len)
			off += (size_t)snprintf(buf + off, len - off,
			    " (head certificate: %s)",
			    X509_verify_cert_error_string(vr));
	}
	ERR_clear_error();
	if (*tls_error)
		return;
	if (*eof)
		snprintf(buf, len, "closed by the head");
	else if (sockerr != 0)
		snprintf(buf, len, "%s", strerror(sockerr));
	else
		snprintf(buf, len, "connection error");
}

static void
conn_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct agent	*a = arg;
	char		 why[1024];
	int		 sockerr = EVUTIL_SOCKET_ERROR();
	bool		 eof, tls_error;

	if (events & BEV_EVENT_CONNECTED) {
		agent_session_connected(a);
		return;
	}
	if ((events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) == 0)
		return;

	/* Frames that arrived with the close (a Reject, say) come first. */
	agent_session_read(a);
	if (a->bev != bev)
		return;

	conn_describe(a, events, sockerr, why, sizeof(why), &eof, &tls_error);
	if (a->state == AGENT_CONNECTING && !eof && !tls_error &&
	    conn_errno_unreachable(sockerr) && a->addr_next != NULL) {
		log_debug("head %s: %s; trying its next address", a->target,
		    why);
		bufferevent_free(a->bev);
		a->bev = NULL;
		conn_connect_next(a);
		return;
	}
	/* With TLS 1.3 the head checks this node's certificate after the
	 * agent's handshake is done, and a close it sends then can arrive as
	 * a plain close or a reset instead of an alert. */
	if (a->state == AGENT_HELLO_SENT && !tls_error) {
		agent_conn_lost(a, true, "%s before Welcome; the head may have "
		    "rejected this node's certificate, and its log says why",
		    why);
		return;
	}
	if (eof && a->state != AGENT_REGISTERED) {
		agent_conn_lost(a, true, "%s before Welcome", why);
		return;
	}
	if (eof) {
		agent_session_closed(a);
		return;
	}
	agent_conn_lost(a, tls_error, "%s", why);
}

static void
conn_welcome_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct agent *a = arg;

	agent_conn_lost(a, false, "%s within %.1f s",
	    a->state == AGENT_HELLO_SENT ? "no Welcome" :
	    "no TLS connection", (double)conn_welcome_timeout(a) / 1000);
}

/* A Welcome arrived: the attempt succeeded, so the backoff starts over. */
void
agent_conn_registered(struct agent *a)
{
	evtimer_del(a->welcome_ev);
	a->state = AGENT_REGISTERED;
	a->attempts = 0;
	a->redirects = 0;
}

void
agent_conn_send_ack(struct agent *a, uint64_t generation, bool ok,
    const char *error)
{
	if (a->bev == NULL || a->state != AGENT_REGISTERED)
		return;
	if (wire_send_ack(bufferevent_get_output(a->bev), generation,
	    ok ? 1 : 0, error) == -1)
		log_warnx("failed to send AssignmentAck for generation %llu "
		    "to head %s: out of memory",
		    (unsigned long long)generation, a->target);
}
