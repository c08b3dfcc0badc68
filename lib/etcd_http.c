/*
 * HTTP requests to etcd: libcurl's multi interface driven by libevent.
 * libcurl names the sockets to watch (CURLMOPT_SOCKETFUNCTION) and the
 * time of its next call (CURLMOPT_TIMERFUNCTION). Each libevent event
 * passes the ready socket to curl_multi_socket_action, and finished
 * transfers are collected with curl_multi_info_read. libcurl resolves
 * names in a thread of its own, so nothing here blocks the loop.
 *
 * A request that fails in transport or with a 5xx status is tried once on
 * each of the other endpoints, and later requests start at the endpoint
 * that answered last.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "etcd_impl.h"
#include "util.h"

struct etcd_sock {
	struct etcd	*e;
	struct event	*ev;
};

static void etcd_http_start(struct etcd_req *);
static void etcd_http_finish(struct etcd_req *, CURLcode);

static void
etcd_http_check_done(struct etcd *e)
{
	CURLMsg		*msg;
	struct etcd_req	*req;
	int		 left;

	while (!e->dead && (msg = curl_multi_info_read(e->multi,
	    &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		req = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &req);
		etcd_http_finish(req, msg->data.result);
	}
}

static void
etcd_http_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_sock	*s = arg;
	struct etcd		*e = s->e;
	int			 flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;

	/* `s` may be freed inside the call, when libcurl drops the socket. */
	etcd_enter(e);
	curl_multi_socket_action(e->multi, fd, flags, &running);
	etcd_http_check_done(e);
	etcd_leave(e);
}

static void
etcd_http_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct etcd	*e = arg;
	int		 running;

	etcd_enter(e);
	curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	etcd_http_check_done(e);
	etcd_leave(e);
}

/* CURLMOPT_SOCKETFUNCTION: watches `fd` for what libcurl waits on. */
static int
etcd_http_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct etcd		*e = userp;
	struct etcd_sock	*s = socketp;
	short			 kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			free(s);
		}
		curl_multi_assign(e->multi, fd, NULL);
		return 0;
	}

	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -1;
		s->e = e;
		curl_multi_assign(e->multi, fd, s);
	} else {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	s->ev = event_new(e->base, fd, kind, etcd_http_sock_event, s);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1) {
		if (s->ev != NULL)
			event_free(s->ev);
		curl_multi_assign(e->multi, fd, NULL);
		free(s);
		return -1;
	}
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 deletes the timer, 0 means "now". */
static int
etcd_http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct etcd	*e = userp;
	struct timeval	 tv;

	if (timeout_ms < 0)
		return event_del(e->curl_timer);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(e->curl_timer, &tv);
}

int
etcd_http_init(struct etcd *e, char *err, size_t errlen)
{
	TAILQ_INIT(&e->reqs);
	e->multi = curl_multi_init();
	e->curl_timer = evtimer_new(e->base, etcd_http_timer_event, e);
	e->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (e->multi == NULL || e->curl_timer == NULL || e->headers == NULL) {
		snprintf(err, errlen, "etcd client: out of memory");
		return -1;
	}
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, etcd_http_sock_cb);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, etcd_http_timer_cb);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
	return 0;
}

static void
etcd_http_req_free(struct etcd_req *req)
{
	struct etcd	*e = req->e;

	TAILQ_REMOVE(&e->reqs, req, entry);
	if (req->easy != NULL) {
		curl_multi_remove_handle(e->multi, req->easy);
		curl_easy_cleanup(req->easy);
	}
	if (req->defer != NULL)
		event_free(req->defer);
	free(req->body);
	free(req->reply);
	free(req->local_err);
	free(req);
}

void
etcd_http_free(struct etcd *e)
{
	while (!TAILQ_EMPTY(&e->reqs))
		etcd_http_req_free(TAILQ_FIRST(&e->reqs));
	/* Removing the last handles may still call the socket callback. */
	if (e->multi != NULL)
		curl_multi_cleanup(e->multi);
	if (e->curl_timer != NULL)
		event_free(e->curl_timer);
	curl_slist_free_all(e->headers);
}

/* CURLOPT_WRITEFUNCTION: appends to the reply, up to ETCD_REPLY_MAX. */
static size_t
etcd_http_write(char *data, size_t size, size_t n, void *arg)
{
	struct etcd_req	*req = arg;
	size_t		 len = size * n, cap;
	char		*p;

	if (len > ETCD_REPLY_MAX - req->reply_len) {
		req->reply_too_large = true;
		return 0;
	}
	if (req->reply_len + len + 1 > req->reply_cap) {
		cap = req->reply_cap == 0 ? 4096 : req->reply_cap;
		while (cap < req->reply_len + len + 1)
			cap *= 2;
		if ((p = realloc(req->reply, cap)) == NULL)
			return 0;
		req->reply = p;
		req->reply_cap = cap;
	}
	memcpy(req->reply + req->reply_len, data, len);
	req->reply_len += len;
	req->reply[req->reply_len] = '\0';
	return len;
}

static int
etcd_http_setup(struct etcd_req *req)
{
	struct etcd	*e = req->e;
	CURL		*c = req->easy;
	char		 url[1024];
	int		 rc = 0;

	snprintf(url, sizeof(url), "%s%s", e->endpoints[req->endpoint],
	    req->path);
	rc |= curl_easy_setopt(c, CURLOPT_URL, url);
	rc |= curl_easy_setopt(c, CURLOPT_PRIVATE, req);
	rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
	rc |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->headers);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, etcd_http_write);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, req);
	rc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, req->curl_err);
	rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	rc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    req->timeout_ms < 2000 ? req->timeout_ms : 2000L);
	rc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	/* HTTP/1.1 gives each request in flight a connection of its own, and
	 * libcurl closes the connection of a request that timed out. Over
	 * HTTP/2 every request would share one connection, which after a
	 * silent network partition can stay in the pool until TCP gives up.
	 * Keepalive probes find such a connection while it is idle. */
	rc |= curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1);
	rc |= curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 2L);
	rc |= curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* etcd is reached directly: http_proxy and friends in the
	 * environment are for other traffic. */
	rc |= curl_easy_setopt(c, CURLOPT_PROXY, "");
	rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (e->ca_file != NULL)
		rc |= curl_easy_setopt(c, CURLOPT_CAINFO, e->ca_file);
	if (e->cert_file != NULL)
		rc |= curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert_file);
	if (e->key_file != NULL)
		rc |= curl_easy_setopt(c, CURLOPT_SSLKEY, e->key_file);
	return rc == 0 ? 0 : -1;
}

static void
etcd_http_defer_event(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_req	*req = arg;
	struct etcd	*e = req->e;

	etcd_enter(e);
	if (!e->dead)
		req->cb(e, req, NULL, req->local_err);
	if (!e->dead)
		etcd_http_req_free(req);
	etcd_leave(e);
}

static struct etcd_req *
etcd_http_new(struct etcd *e, const char *op, etcd_req_cb cb)
{
	struct etcd_req	*req;

	/* Out of memory for a request is not worth recovering from in a
	 * daemon, and a NULL here would need a check at every caller. */
	if ((req = calloc(1, sizeof(*req))) == NULL)
		abort();
	req->e = e;
	req->op = op;
	req->cb = cb;
	req->epoch = e->epoch;
	TAILQ_INSERT_TAIL(&e->reqs, req, entry);
	return req;
}

/* Completes req with `err` (NULL: neither reply nor error) on the next
 * turn of the loop. */
static void
etcd_http_defer(struct etcd_req *req, const char *err)
{
	struct timeval	tv = { 0, 0 };

	if (err != NULL && (req->local_err = strdup(err)) == NULL)
		abort();
	req->defer = evtimer_new(req->e->base, etcd_http_defer_event, req);
	if (req->defer == NULL)
		abort();
	evtimer_add(req->defer, &tv);
}

struct etcd_req *
etcd_http_fail(struct etcd *e, const char *op, const char *err,
    etcd_req_cb cb)
{
	struct etcd_req	*req = etcd_http_new(e, op, cb);

	etcd_http_defer(req, err);
	return req;
}

struct etcd_req *
etcd_http_post(struct etcd *e, const char *op, const char *path, char *body,
    long timeout_ms, etcd_req_cb cb)
{
	struct etcd_req	*req = etcd_http_new(e, op, cb);
	char		 err[PPC_ERRLEN];

	req->path = path;
	req->body = body;
	req->timeout_ms = timeout_ms;
	req->endpoint = e->endpoint_cur;
	if (body == NULL) {
		snprintf(err, sizeof(err), "etcd %s: out of memory", op);
		etcd_http_defer(req, err);
		return req;
	}
	etcd_http_start(req);
	return req;
}

static void
etcd_http_start(struct etcd_req *req)
{
	struct etcd	*e = req->e;
	char		 err[PPC_ERRLEN];

	req->attempts++;
	req->reply_len = 0;
	req->reply_too_large = false;
	req->curl_err[0] = '\0';
	req->http_status = 0;
	req->grpc_code = 0;
	req->sent_ms = util_now_ms();
	if (req->easy == NULL && (req->easy = curl_easy_init()) == NULL) {
		snprintf(err, sizeof(err), "etcd %s: curl_easy_init failed",
		    req->op);
		etcd_http_defer(req, err);
		return;
	}
	if (etcd_http_setup(req) == -1 ||
	    curl_multi_add_handle(e->multi, req->easy) != CURLM_OK) {
		snprintf(err, sizeof(err), "%s: etcd %s: cannot set up the "
		    "request in libcurl", e->endpoints[req->endpoint], req->op);
		etcd_http_defer(req, err);
	}
}

/*
 * Describes a finished attempt in err. Returns 0 with the parsed reply,
 * 1 for a failure worth trying on another endpoint, -1 for any other.
 */
static int
etcd_http_outcome(struct etcd_req *req, CURLcode result, json_t **reply,
    char *err, size_t errlen)
{
	const char	*ep = req->e->endpoints[req->endpoint];
	char		 detail[PPC_ERRLEN / 2];

	*reply = NULL;
	if (req->reply_too_large) {
		snprintf(err, errlen, "%s: etcd %s: reply is larger than %u "
		    "bytes", ep, req->op, ETCD_REPLY_MAX);
		return -1;
	}
	if (result != CURLE_OK) {
		snprintf(err, errlen, "%s: etcd %s failed: %s", ep, req->op,
		    req->curl_err[0] != '\0' ? req->curl_err :
		    curl_easy_strerror(result));
		return 1;
	}
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE,
	    &req->http_status);
	if (etcd_json_reply(req->reply != NULL ? req->reply : "",
	    req->reply_len, req->http_status, reply, &req->grpc_code, detail,
	    sizeof(detail)) == -1) {
		snprintf(err, errlen, "%s: etcd %s failed: %s", ep, req->op,
		    detail);
		/* 503 is etcd without a quorum or timing out a proposal;
		 * another member may do better. */
		return req->http_status >= 500 ? 1 : -1;
	}
	return 0;
}

static void
etcd_http_finish(struct etcd_req *req, CURLcode result)
{
	struct etcd	*e = req->e;
	json_t		*reply;
	char		 err[PPC_ERRLEN];
	int		 rc;

	curl_multi_remove_handle(e->multi, req->easy);
	rc = etcd_http_outcome(req, result, &reply, err, sizeof(err));
	if (rc == 0 || (req->not_found_ok &&
	    req->grpc_code == ETCD_GRPC_NOT_FOUND)) {
		e->endpoint_cur = req->endpoint;
		etcd_report_ok(e, e->endpoints[req->endpoint]);
	} else
		etcd_report_error(e, err);
	if (e->dead)
		return;

	if (rc == 1 && req->attempts < e->nendpoints) {
		req->endpoint = (req->endpoint + 1) % e->nendpoints;
		e->endpoint_cur = req->endpoint;
		etcd_http_start(req);
		return;
	}
	req->cb(e, req, reply, rc == 0 ? NULL : err);
	json_decref(reply);
	if (!e->dead)
		etcd_http_req_free(req);
}
