/*
 * The TLS listener and the agent connections: accept limits, the TLS
 * handshake, framing, per-state timeouts and heartbeats.
 *
 * Timeouts and heartbeats run from one periodic sweep over all
 * connections instead of a timer per connection, which keeps a connection
 * down to one small struct plus its bufferevent and SSL.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "tls.h"
#include "wire.h"

#include "head.h"

/* Pause after accept() fails for lack of descriptors, so the listener
 * does not spin on a queue it cannot drain. */
#define LISTEN_PAUSE_MS		1000

/*
 * Time a socket stays open after a rejected handshake, a Reject or a
 * NotLeader, with its write side shut down and its input discarded.
 * Closing a socket with unread input makes the kernel send a reset, and
 * the peer may then lose the TLS alert or the message before reading it.
 */
#define LISTEN_LINGER_MS	1000
#define LISTEN_LINGER_READ	16384

/* A closed connection's socket, kept open to discard the peer's input. */
struct head_linger {
	TAILQ_ENTRY(head_linger)  l_entry;
	struct event		 *l_ev;
	evutil_socket_t		  l_fd;
	uint64_t		  l_deadline_ms;
};
TAILQ_HEAD(head_lingers, head_linger);

static struct event		*listen_resume_ev;
static struct event		*listen_reap_ev;
static struct head_conns	 listen_dead = TAILQ_HEAD_INITIALIZER(listen_dead);
/* The connection where the next conn_sweep starts, or NULL for the first. */
static struct head_conn		*sweep_next;
static struct head_lingers	 listen_lingers =
				    TAILQ_HEAD_INITIALIZER(listen_lingers);

static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);

/* Reports how many lines a rate limit dropped since its last line. */
static void
log_suppressed(unsigned long n, const char *what)
{
	if (n > 0)
		log_warnx("%lu more %s were not logged", n, what);
}

static bool
conn_is_unauth(enum head_conn_state s)
{
	return s == CONN_HANDSHAKE || s == CONN_HELLO;
}

/* Moves c to state s and keeps the count of unauthenticated
 * connections, which head.max_unauthenticated bounds. */
static void
conn_set_state(struct head_conn *c, enum head_conn_state s)
{
	if (conn_is_unauth(c->c_state) && !conn_is_unauth(s))
		hd->h_nunauth--;
	else if (!conn_is_unauth(c->c_state) && conn_is_unauth(s))
		hd->h_nunauth++;
	c->c_state = s;
	c->c_since_ms = util_now_ms();
}

static void
format_peer(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	} else
		snprintf(buf, len, "unknown");
}

/* Names a connection in logs: the node id once known, and the peer. */
static const char *
conn_name(const struct head_conn *c, char *buf, size_t len)
{
	if (c->c_id[0] != '\0')
		snprintf(buf, len, "%s (%s)", c->c_id, c->c_peer);
	else
		snprintf(buf, len, "%s", c->c_peer);
	return buf;
}

static void
linger_free(struct head_linger *l)
{
	TAILQ_REMOVE(&listen_lingers, l, l_entry);
	event_free(l->l_ev);
	evutil_closesocket(l->l_fd);
	free(l);
	hd->h_nconns--;
}

/* Discards what the peer sends until it closes or the linger time ends. */
static void
linger_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct head_linger	*l = arg;
	char			 buf[LISTEN_LINGER_READ];
	ssize_t			 n = 0;

	if (what & EV_READ)
		n = recv(fd, buf, sizeof(buf), 0);
	if ((what & EV_TIMEOUT) || n == 0 || (n == -1 && errno != EAGAIN &&
	    errno != EINTR) || util_now_ms() >= l->l_deadline_ms)
		linger_free(l);
}

/*
 * Takes over the socket of bev before it is freed: shuts down its write
 * side, so the peer reads what was sent and then an end of stream, and
 * discards its input for up to LISTEN_LINGER_MS. The socket still counts
 * against head.max_connections. Returns false when the socket is to be
 * closed at once.
 */
static bool
linger_start(struct bufferevent *bev)
{
	struct head_linger	*l;
	struct timeval		 tv = { LISTEN_LINGER_MS / 1000,
				    (LISTEN_LINGER_MS % 1000) * 1000 };
	evutil_socket_t		 fd = bufferevent_getfd(bev);

	if (fd < 0 || hd->h_shutting_down || (l = calloc(1,
	    sizeof(*l))) == NULL)
		return false;
	if ((l->l_fd = dup(fd)) == -1) {
		free(l);
		return false;
	}
	l->l_ev = event_new(hd->h_base, l->l_fd, EV_READ | EV_PERSIST,
	    linger_read_cb, l);
	if (l->l_ev == NULL || event_add(l->l_ev, &tv) == -1) {
		if (l->l_ev != NULL)
			event_free(l->l_ev);
		close(l->l_fd);
		free(l);
		return false;
	}
	shutdown(l->l_fd, SHUT_WR);
	l->l_deadline_ms = util_now_ms() + LISTEN_LINGER_MS;
	TAILQ_INSERT_TAIL(&listen_lingers, l, l_entry);
	hd->h_nconns++;
	return true;
}

static void
listen_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct head_conn	*c;

	while ((c = TAILQ_FIRST(&listen_dead)) != NULL) {
		TAILQ_REMOVE(&listen_dead, c, c_entry);
		free(c);
	}
}

/*
 * Closes c now, and with `linger` keeps its socket open for a while to
 * discard the peer's input (linger_start). The struct is freed from a
 * deferred event, because callers further up the stack (the read loop,
 * the sweep) may still hold the pointer; they check c_bev == NULL.
 */
static void
conn_close_linger(struct head_conn *c, const char *why, bool linger)
{
	struct head_node	*n = c->c_node;
	char			 name[128];

	if (c->c_bev == NULL)
		return;

	log_debug("connection %s closed: %s", conn_name(c, name,
	    sizeof(name)), why);
	if (n != NULL) {
		c->c_node = NULL;
		n->n_conn = NULL;
		members_disconnected(n, why, c->c_rx_ms);
	}

	/* Best effort close_notify so the agent sees a clean end. */
	if (c->c_state == CONN_JOINED || c->c_state == CONN_CLOSING ||
	    c->c_state == CONN_HELLO) {
		SSL *ssl = bufferevent_openssl_get_ssl(c->c_bev);

		if (ssl != NULL && SSL_is_init_finished(ssl))
			SSL_shutdown(ssl);
	}
	ERR_clear_error();

	if (conn_is_unauth(c->c_state))
		hd->h_nunauth--;
	if (linger)
		linger_start(c->c_bev);
	bufferevent_free(c->c_bev);
	c->c_bev = NULL;
	if (sweep_next == c)
		sweep_next = TAILQ_NEXT(c, c_entry);
	TAILQ_REMOVE(&hd->h_conns, c, c_entry);
	hd->h_nconns--;
	TAILQ_INSERT_TAIL(&listen_dead, c, c_entry);
	event_active(listen_reap_ev, EV_TIMEOUT, 0);
}

void
conn_close(struct head_conn *c, const char *why)
{
	conn_close_linger(c, why, false);
}

/* Closes c once its output has been sent. */
static void
conn_flushed_cb(struct bufferevent *bev, void *arg)
{
	struct head_conn	*c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_close_linger(c, "closed after the last message", true);
}

/*
 * Sends a Reject, logs it, and closes the connection once the Reject is
 * flushed (or after HEAD_CLOSE_LINGER_MS).
 */
void
conn_reject(struct head_conn *c, Ppcoord__Reject__Reason reason,
    const char *fmt, ...)
{
	struct head_node	*n = c->c_node;
	char			 msg[512], name[128];
	va_list			 ap;

	if (c->c_bev == NULL || c->c_state == CONN_CLOSING)
		return;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	log_warnx("rejected %s: %s: %s", conn_name(c, name, sizeof(name)),
	    wire_reject_reason_name(reason), msg);
	if ((size_t)reason < sizeof(hd->h_metrics.rejections) /
	    sizeof(hd->h_metrics.rejections[0]))
		hd->h_metrics.rejections[reason]++;

	if (n != NULL) {
		c->c_node = NULL;
		n->n_conn = NULL;
		members_disconnected(n, "rejected", c->c_rx_ms);
	}

	if (wire_send_reject(bufferevent_get_output(c->c_bev), reason,
	    msg) == -1) {
		conn_close(c, "no memory for the Reject");
		return;
	}
	hd->h_metrics.frames_out++;
	conn_set_state(c, CONN_CLOSING);
	bufferevent_disable(c->c_bev, EV_READ);
	bufferevent_setwatermark(c->c_bev, EV_WRITE, 0, 0);
	bufferevent_setcb(c->c_bev, NULL, conn_flushed_cb, conn_event_cb, c);
}

/* Returns true when c can take another message. */
bool
conn_writable(struct head_conn *c)
{
	return c != NULL && c->c_bev != NULL && c->c_state == CONN_JOINED &&
	    !c->c_doomed;
}

/* Marks c to be closed by the next sweep: for callers that walk the
 * node list, which closing (and its loss handling) may change. */
void
conn_doom(struct head_conn *c)
{
	c->c_doomed = true;
	bufferevent_disable(c->c_bev, EV_READ | EV_WRITE);
}

void
conn_sent(struct head_conn *c)
{
	hd->h_metrics.frames_out++;
}

/* Marks c as joined; the members code calls it once a Hello is
 * accepted and before it sends anything. */
void
conn_joined(struct head_conn *c)
{
	conn_set_state(c, CONN_JOINED);
	c->c_hb_ms = util_now_ms();
}

/* Sends NotLeader with the leader's address (empty when unknown) in
 * reply to a Hello on a head that does not lead, then closes. */
static void
conn_not_leader(struct head_conn *c)
{
	const char	*leader = ha_leader();
	char		 name[128];

	log_debug("%s: not the leader; sent to %s", conn_name(c, name,
	    sizeof(name)), leader != NULL ? leader : "no known leader");
	if (wire_send_not_leader(bufferevent_get_output(c->c_bev),
	    leader != NULL ? leader : "") == -1) {
		conn_close(c, "no memory for NotLeader");
		return;
	}
	hd->h_metrics.frames_out++;
	conn_set_state(c, CONN_CLOSING);
	bufferevent_disable(c->c_bev, EV_READ);
	bufferevent_setwatermark(c->c_bev, EV_WRITE, 0, 0);
	bufferevent_setcb(c->c_bev, NULL, conn_flushed_cb, conn_event_cb, c);
}

static void
conn_dispatch(struct head_conn *c, Ppcoord__Envelope *env)
{
	if (c->c_state == CONN_HELLO) {
		if (env->msg_case != PPCOORD__ENVELOPE__MSG_HELLO) {
			conn_reject(c, PPCOORD__REJECT__REASON__REASON_UNEXPECTED_MESSAGE,
			    "the first message must be hello, not %s",
			    wire_msg_name(env));
			return;
		}
		if (ha_follower() && env->hello->node_id != NULL &&
		    strcmp(env->hello->node_id, c->c_id) == 0) {
			conn_not_leader(c);
			return;
		}
		if (ha_follower()) {
			conn_reject(c, PPCOORD__REJECT__REASON__REASON_IDENTITY_MISMATCH,
			    "hello names another node than the client "
			    "certificate, which identifies \"%s\"", c->c_id);
			return;
		}
		members_hello(c, env->hello);
		return;
	}
	if (c->c_state == CONN_JOINED && c->c_node != NULL)
		members_frame(c->c_node, env);
}

/*
 * True when the frame at the start of `in`, which wire_read rejected, is
 * whole and a valid Envelope with no message this version defines. The
 * stream is then still in step, so a Reject can tell the peer why.
 */
static bool
conn_frame_unknown(struct evbuffer *in)
{
	uint8_t			 hdr[WIRE_HEADER_LEN];
	const uint8_t		*frame;
	Ppcoord__Envelope	*e;
	uint32_t		 flen;
	bool			 unknown;

	if (evbuffer_copyout(in, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		return false;
	flen = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3];
	if (flen == 0 || flen > hd->h_conf->max_frame_bytes ||
	    flen > WIRE_FRAME_MAX ||
	    evbuffer_get_length(in) - WIRE_HEADER_LEN < flen)
		return false;
	if ((frame = evbuffer_pullup(in, (ssize_t)(WIRE_HEADER_LEN +
	    flen))) == NULL)
		return false;
	if ((e = ppcoord__envelope__unpack(NULL, flen, frame +
	    WIRE_HEADER_LEN)) == NULL)
		return false;
	unknown = e->msg_case == PPCOORD__ENVELOPE__MSG__NOT_SET;
	ppcoord__envelope__free_unpacked(e, NULL);
	return unknown;
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct head_conn	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	Ppcoord__Envelope	*env;
	enum wire_result	 r;
	char			 err[PPC_ERRLEN], name[128];

	while (c->c_bev != NULL && c->c_state != CONN_CLOSING &&
	    !c->c_doomed) {
		r = wire_read(in, hd->h_conf->max_frame_bytes, &env, err,
		    sizeof(err));
		if (r == WIRE_MORE)
			return;
		if (r == WIRE_ERROR && conn_frame_unknown(in)) {
			conn_reject(c, PPCOORD__REJECT__REASON__REASON_UNEXPECTED_MESSAGE,
			    "invalid frame: %s", err);
			return;
		}
		if (r == WIRE_ERROR) {
			log_warnx("%s: invalid frame: %s", conn_name(c, name,
			    sizeof(name)), err);
			conn_close(c, "invalid frame");
			return;
		}
		hd->h_metrics.frames_in++;
		c->c_rx_ms = util_now_ms();
		conn_dispatch(c, env);
		wire_free(env);
	}
	if (c->c_bev != NULL && c->c_state == CONN_CLOSING)
		evbuffer_drain(in, evbuffer_get_length(in));
}

/* Collects libevent's queued OpenSSL errors into buf. Returns true when
 * the only error is a close without close_notify. */
static bool
conn_ssl_errors(struct bufferevent *bev, char *buf, size_t len)
{
	unsigned long	 e;
	size_t		 off = 0;
	bool		 only_eof = true, any = false;

	buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		any = true;
		if (ERR_GET_REASON(e) != SSL_R_UNEXPECTED_EOF_WHILE_READING)
			only_eof = false;
		if (off < len) {
			const char *r = ERR_SYSTEM_ERROR(e) ?
			    strerror(ERR_GET_REASON(e)) :
			    ERR_reason_error_string(e);

			if (r != NULL)
				off += (size_t)snprintf(buf + off, len - off,
				    "%s%s", off > 0 ? ", " : "", r);
		}
	}
	if (!any && errno != 0 && errno != EAGAIN)
		snprintf(buf, len, "%s", strerror(errno));
	return any ? only_eof : buf[0] == '\0';
}

/* Appends the reason the peer's certificate failed verification, which
 * the OpenSSL error queue gives only as "certificate verify failed". */
static void
conn_verify_error(struct bufferevent *bev, char *buf, size_t len)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);
	size_t	 off = strlen(buf);
	long	 v;

	if (ssl == NULL || (v = SSL_get_verify_result(ssl)) == X509_V_OK ||
	    off >= len)
		return;
	snprintf(buf + off, len - off, "%s%s", off > 0 ? ": " : "",
	    X509_verify_cert_error_string(v));
}

static void
conn_handshake_done(struct head_conn *c)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(c->c_bev);
	char	 err[PPC_ERRLEN];

	/* TLS is up even when the identity is unusable, so a Reject can
	 * tell the agent why; conn_reject logs it with the peer. */
	conn_set_state(c, CONN_HELLO);
	if (tls_peer_identity(ssl, c->c_id, sizeof(c->c_id), err,
	    sizeof(err)) == -1) {
		c->c_id[0] = '\0';
		conn_reject(c, PPCOORD__REJECT__REASON__REASON_INVALID_HELLO,
		    "no usable identity in the client certificate: %s", err);
		return;
	}
	log_debug("%s: TLS handshake done, identity %s", c->c_peer, c->c_id);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	static struct log_ratelimit	 rl = LOG_RATELIMIT_INIT(10, 10);
	struct head_conn		*c = arg;
	unsigned long			 suppressed;
	char				 errs[256], name[128];
	size_t				 pending;
	bool				 eof;

	if (what & BEV_EVENT_CONNECTED) {
		conn_handshake_done(c);
		return;
	}

	eof = (what & BEV_EVENT_EOF) != 0;
	if (what & BEV_EVENT_ERROR)
		eof = conn_ssl_errors(bev, errs, sizeof(errs));
	else
		errs[0] = '\0';

	if (c->c_state == CONN_HANDSHAKE) {
		hd->h_metrics.handshake_failures++;
		conn_verify_error(bev, errs, sizeof(errs));
		if (log_ratelimit_allow(&rl, &suppressed)) {
			log_suppressed(suppressed, "TLS handshake failures");
			log_warnx("TLS handshake with %s failed: %s",
			    c->c_peer, errs[0] != '\0' ? errs :
			    "connection closed");
		}
		conn_close_linger(c, "handshake failed", true);
		return;
	}

	/* Frames carry their length, so a close between frames is an
	 * ordinary disconnect even without a TLS close_notify. */
	pending = evbuffer_get_length(bufferevent_get_input(bev));
	if (eof && pending > 0 && c->c_state != CONN_CLOSING)
		log_warnx("%s: connection closed inside a frame (%zu bytes "
		    "of it received)", conn_name(c, name, sizeof(name)),
		    pending);
	else if (!eof)
		log_warnx("%s: connection failed: %s", conn_name(c, name,
		    sizeof(name)), errs[0] != '\0' ? errs : "unknown error");
	conn_close(c, eof ? "connection closed by the peer" :
	    "connection failed");
}

static void
listen_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	static struct log_ratelimit	 rl = LOG_RATELIMIT_INIT(10, 5);
	struct head_conf		*conf = hd->h_conf;
	struct head_conn		*c;
	SSL				*ssl;
	unsigned long			 suppressed;
	char				 peer[56];

	format_peer(sa, peer, sizeof(peer));
	if (hd->h_shutting_down) {
		close(fd);
		return;
	}
	if (hd->h_nconns >= conf->max_connections ||
	    hd->h_nunauth >= conf->max_unauthenticated) {
		hd->h_metrics.connections_refused++;
		if (log_ratelimit_allow(&rl, &suppressed)) {
			log_suppressed(suppressed, "refused connections");
			log_warnx("connection from %s refused: %zu open "
			    "(head.max_connections %u), %zu before Hello "
			    "(head.max_unauthenticated %u)", peer,
			    hd->h_nconns, conf->max_connections,
			    hd->h_nunauth, conf->max_unauthenticated);
		}
		close(fd);
		return;
	}

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (ssl = SSL_new(hd->h_ssl)) == NULL) {
		log_warnx("connection from %s dropped: out of memory", peer);
		free(c);
		close(fd);
		return;
	}
	c->c_bev = bufferevent_openssl_socket_new(hd->h_base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->c_bev == NULL) {
		log_warnx("connection from %s dropped: cannot create its "
		    "buffers", peer);
		SSL_free(ssl);
		free(c);
		close(fd);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(c->c_bev, 1);

	snprintf(c->c_peer, sizeof(c->c_peer), "%s", peer);
	c->c_state = CONN_HANDSHAKE;
	c->c_since_ms = c->c_rx_ms = util_now_ms();
	hd->h_nunauth++;
	hd->h_nconns++;
	TAILQ_INSERT_TAIL(&hd->h_conns, c, c_entry);

	/* A frame is read whole, so reading may only stop past the largest
	 * frame plus its length header. */
	bufferevent_setwatermark(c->c_bev, EV_READ, 0,
	    (size_t)conf->max_frame_bytes + WIRE_HEADER_LEN);
	bufferevent_setcb(c->c_bev, conn_read_cb, NULL, conn_event_cb, c);
	bufferevent_enable(c->c_bev, EV_READ);
	log_debug("%s: connection accepted", peer);
}

static void
listen_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	if (hd->h_listener != NULL)
		evconnlistener_enable(hd->h_listener);
}

static void
listen_error_cb(struct evconnlistener *l, void *arg)
{
	static struct log_ratelimit	 rl = LOG_RATELIMIT_INIT(10, 3);
	struct timeval			 tv = { LISTEN_PAUSE_MS / 1000,
					    (LISTEN_PAUSE_MS % 1000) * 1000 };
	unsigned long			 suppressed;
	int				 err = EVUTIL_SOCKET_ERROR();

	if (log_ratelimit_allow(&rl, &suppressed)) {
		log_suppressed(suppressed, "accept failures");
		log_warnx("accept on %s failed: %s; pausing for %d ms",
		    hd->h_conf->listen, evutil_socket_error_to_string(err),
		    LISTEN_PAUSE_MS);
	}
	evconnlistener_disable(l);
	evtimer_add(listen_resume_ev, &tv);
}

/* Opens the TLS listener on head.listen. */
int
listen_start(char *err, size_t errlen)
{
	struct evutil_addrinfo	 hints, *res = NULL;
	char			 host[256], port[8];
	uint16_t		 portnum;
	int			 rc;

	if ((listen_reap_ev = event_new(hd->h_base, -1, 0, listen_reap_cb,
	    NULL)) == NULL || (listen_resume_ev = evtimer_new(hd->h_base,
	    listen_resume_cb, NULL)) == NULL) {
		snprintf(err, errlen, "cannot create listener events");
		return -1;
	}

	if (util_split_host_port(hd->h_conf->listen, host, sizeof(host),
	    &portnum, err, errlen) == -1)
		return -1;
	snprintf(port, sizeof(port), "%u", portnum);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
	if ((rc = evutil_getaddrinfo(host[0] != '\0' ? host : NULL, port,
	    &hints, &res)) != 0) {
		snprintf(err, errlen, "head.listen \"%s\": cannot resolve "
		    "\"%s\": %s", hd->h_conf->listen, host,
		    evutil_gai_strerror(rc));
		return -1;
	}

	hd->h_listener = evconnlistener_new_bind(hd->h_base,
	    listen_accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, SOMAXCONN,
	    res->ai_addr, (int)res->ai_addrlen);
	evutil_freeaddrinfo(res);
	if (hd->h_listener == NULL) {
		snprintf(err, errlen, "head.listen \"%s\": cannot listen: %s",
		    hd->h_conf->listen, strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(hd->h_listener, listen_error_cb);
	log_info("listening for agents on %s", hd->h_conf->listen);
	return 0;
}

void
listen_stop(void)
{
	if (hd->h_listener != NULL)
		evconnlistener_free(hd->h_listener);
	hd->h_listener = NULL;
	if (listen_resume_ev != NULL)
		event_free(listen_resume_ev);
	listen_resume_ev = NULL;
}

/* Closes every agent connection and keeps the listener: for a head that
 * stepped down. The agents keep their assignment, reconnect, and are sent
 * to the leader. */
void
conn_drop_all(const char *why)
{
	struct head_conn	*c, *next;

	for (c = TAILQ_FIRST(&hd->h_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		conn_close(c, why);
	}
}

/* Closes every connection without telling the agents anything: they keep
 * their assignment and reconnect to the next head. */
void
conn_close_all(void)
{
	struct head_conn	*c;
	struct head_linger	*l;

	while ((c = TAILQ_FIRST(&hd->h_conns)) != NULL)
		conn_close(c, "head shutting down");
	while ((l = TAILQ_FIRST(&listen_lingers)) != NULL)
		linger_free(l);
	listen_reap_cb(-1, 0, NULL);
	if (listen_reap_ev != NULL)
		event_free(listen_reap_ev);
	listen_reap_ev = NULL;
}

/* Checks one connection's timeouts and sends its heartbeat when due. */
static void
conn_sweep_one(struct head_conn *c, uint64_t now)
{
	static struct log_ratelimit	 rl = LOG_RATELIMIT_INIT(10, 10);
	struct head_conf		*conf = hd->h_conf;
	uint64_t			 idle, limit;
	unsigned long			 suppressed;
	char				 name[128], why[128];

	if (c->c_doomed) {
		conn_close(c, "its output is incomplete");
		return;
	}

	switch (c->c_state) {
	case CONN_HANDSHAKE:
		if (now - c->c_since_ms < conf->handshake_timeout_ms)
			return;
		hd->h_metrics.handshake_failures++;
		if (log_ratelimit_allow(&rl, &suppressed)) {
			log_suppressed(suppressed, "handshake timeouts");
			log_warnx("TLS handshake with %s timed out after %llu "
			    "ms (head.handshake_timeout)", c->c_peer,
			    (unsigned long long)conf->handshake_timeout_ms);
		}
		conn_close(c, "handshake timed out");
		return;
	case CONN_HELLO:
		if (now - c->c_since_ms < conf->hello_timeout_ms)
			return;
		log_warnx("%s: no Hello within %llu ms (head.hello_timeout)",
		    conn_name(c, name, sizeof(name)),
		    (unsigned long long)conf->hello_timeout_ms);
		conn_close(c, "no Hello");
		return;
	case CONN_CLOSING:
		if (now - c->c_since_ms >= HEAD_CLOSE_LINGER_MS)
			conn_close(c, "last message not read in time");
		return;
	case CONN_JOINED:
		break;
	}

	limit = conf->node_timeout_ms;
	if (conf->idle_timeout_ms != 0 && conf->idle_timeout_ms < limit)
		limit = conf->idle_timeout_ms;
	idle = now - c->c_rx_ms;
	if (idle >= limit) {
		snprintf(why, sizeof(why), "no frame for %llu ms",
		    (unsigned long long)idle);
		conn_close(c, why);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->c_bev)) >
	    HEAD_OUTPUT_MAX) {
		snprintf(why, sizeof(why), "more than %u bytes of output "
		    "unread", HEAD_OUTPUT_MAX);
		conn_close(c, why);
		return;
	}
	if (now - c->c_hb_ms >= conf->heartbeat_interval_ms) {
		c->c_hb_ms = now;
		if (members_send_due(c->c_node))
			return;
		if (wire_send_heartbeat(bufferevent_get_output(c->c_bev),
		    hd->h_generation) == 0)
			conn_sent(c);
	}
}

/*
 * Checks the next 1/slices of the connections, so that a full round takes
 * `slices` calls. Spreading the round keeps each due heartbeat (and each
 * update sent in its place) in small batches instead of one burst of a
 * quarter of the connections.
 */
void
conn_sweep(uint64_t now, unsigned slices)
{
	struct head_conn	*c;
	size_t			 count;

	count = (hd->h_nconns + slices - 1) / slices;
	c = sweep_next != NULL ? sweep_next : TAILQ_FIRST(&hd->h_conns);
	for (; c != NULL && count > 0; count--) {
		/* conn_sweep_one may close c or others; closing moves
		 * sweep_next past the closed connection. */
		sweep_next = TAILQ_NEXT(c, c_entry);
		conn_sweep_one(c, now);
		c = sweep_next;
	}
}
