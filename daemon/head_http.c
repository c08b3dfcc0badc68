/*
 * HTTP on head.status_listen: GET /metrics in the Prometheus text format
 * 0.0.4 and GET /status with the plan JSON. Only GET and HEAD are served.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "wire.h"

#include "head.h"

#define HTTP_TIMEOUT_S		10
#define HTTP_HEADERS_MAX	8192
#define HTTP_BODY_MAX		1024

static struct evhttp	*http_server;

static void
metric_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
metrics_nodes(struct evbuffer *b)
{
	static const char	*states[] = { "assigned", "standby",
				    "connecting", "lost" };
	size_t			 i;

	metric_head(b, "ppcoord_nodes", "gauge",
	    "Nodes known to the head, by state.");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		evbuffer_add_printf(b, "ppcoord_nodes{state=\"%s\"} %zu\n",
		    states[i], members_count(states[i]));
}

static void
metrics_plan(struct evbuffer *b)
{
	bool	 active = hd->h_have_plan && hd->h_state == HEAD_ACTIVE;
	size_t	 i;

	metric_head(b, "ppcoord_plan_generation", "gauge",
	    "Generation of the current plan (0 before the first).");
	evbuffer_add_printf(b, "ppcoord_plan_generation %llu\n",
	    (unsigned long long)hd->h_generation);
	metric_head(b, "ppcoord_stages", "gauge",
	    "Pipeline stages of the active plan.");
	evbuffer_add_printf(b, "ppcoord_stages %u\n",
	    active ? hd->h_plan.num_stages : 0);
	metric_head(b, "ppcoord_node_stages", "gauge",
	    "Stages held by each node of the active plan.");
	for (i = 0; active && i < hd->h_plan.nnodes; i++)
		evbuffer_add_printf(b, "ppcoord_node_stages{node=\"%s\","
		    "first_stage=\"%u\"} %u\n", hd->h_plan.nodes[i].id,
		    hd->h_plan.nodes[i].first_stage,
		    hd->h_plan.nodes[i].stage_count);
	if (active && hd->h_plan.have_memory) {
		metric_head(b, "ppcoord_kv_tokens", "gauge",
		    "KV cache tokens of the deployment by the memory model.");
		evbuffer_add_printf(b, "ppcoord_kv_tokens %lld\n",
		    (long long)hd->h_plan.kv_tokens);
	}
	metric_head(b, "ppcoord_plan_seconds", "gauge",
	    "Time to compute the last plan, in seconds.");
	evbuffer_add_printf(b, "ppcoord_plan_seconds %.6f\n",
	    hd->h_metrics.plan_seconds);
}

static void
metrics_counters(struct evbuffer *b)
{
	struct head_metrics	*m = &hd->h_metrics;
	size_t			 r;

	metric_head(b, "ppcoord_connections", "gauge",
	    "Open agent connections, including those before Hello.");
	evbuffer_add_printf(b, "ppcoord_connections %zu\n", hd->h_nconns);
	metric_head(b, "ppcoord_joins_total", "counter",
	    "Hellos accepted.");
	evbuffer_add_printf(b, "ppcoord_joins_total %llu\n",
	    (unsigned long long)m->joins);
	metric_head(b, "ppcoord_leaves_total", "counter",
	    "Joined nodes whose connection ended.");
	evbuffer_add_printf(b, "ppcoord_leaves_total %llu\n",
	    (unsigned long long)m->leaves);
	metric_head(b, "ppcoord_rejections_total", "counter",
	    "Rejects sent to agents, by reason.");
	for (r = 1; r < sizeof(m->rejections) / sizeof(m->rejections[0]); r++)
		evbuffer_add_printf(b, "ppcoord_rejections_total{reason=\"%s\"}"
		    " %llu\n", wire_reject_reason_name((Ppcoord__Reject__Reason)r),
		    (unsigned long long)m->rejections[r]);
	metric_head(b, "ppcoord_handshake_failures_total", "counter",
	    "TLS handshakes that failed or timed out.");
	evbuffer_add_printf(b, "ppcoord_handshake_failures_total %llu\n",
	    (unsigned long long)m->handshake_failures);
	metric_head(b, "ppcoord_connections_refused_total", "counter",
	    "Connections closed at accept by head.max_connections or "
	    "head.max_unauthenticated.");
	evbuffer_add_printf(b, "ppcoord_connections_refused_total %llu\n",
	    (unsigned long long)m->connections_refused);
	metric_head(b, "ppcoord_acks_total", "counter",
	    "AssignmentAcks received: ok, failed (the agent could not apply "
	    "the generation), or ignored (not of the generation sent).");
	evbuffer_add_printf(b, "ppcoord_acks_total{result=\"ok\"} %llu\n"
	    "ppcoord_acks_total{result=\"failed\"} %llu\n"
	    "ppcoord_acks_total{result=\"ignored\"} %llu\n",
	    (unsigned long long)m->acks_ok,
	    (unsigned long long)m->acks_failed,
	    (unsigned long long)m->acks_ignored);
	metric_head(b, "ppcoord_assignments_total", "counter",
	    "Assignments sent, with the whole stage table, the whole table "
	    "compressed, or only the stages changed since the agent's "
	    "previous Assignment.");
	evbuffer_add_printf(b, "ppcoord_assignments_total{table=\"whole\"} "
	    "%llu\nppcoord_assignments_total{table=\"compressed\"} %llu\n"
	    "ppcoord_assignments_total{table=\"changes\"} %llu\n",
	    (unsigned long long)m->assign_whole,
	    (unsigned long long)m->assign_zlib,
	    (unsigned long long)m->assign_change);
	metric_head(b, "ppcoord_deferred_updates_total", "counter",
	    "Assignments and Standbys that changed only the generation "
	    "number and went out in place of a heartbeat "
	    "(head.max_immediate_updates).");
	evbuffer_add_printf(b, "ppcoord_deferred_updates_total %llu\n",
	    (unsigned long long)m->deferred_updates);
	metric_head(b, "ppcoord_frames_total", "counter",
	    "Protocol frames received and sent.");
	evbuffer_add_printf(b, "ppcoord_frames_total{direction=\"in\"} %llu\n"
	    "ppcoord_frames_total{direction=\"out\"} %llu\n",
	    (unsigned long long)m->frames_in,
	    (unsigned long long)m->frames_out);
	metric_head(b, "ppcoord_leader", "gauge",
	    "1 when this head leads the cluster.");
	evbuffer_add_printf(b, "ppcoord_leader %d\n",
	    strcmp(ha_role_name(), "follower") != 0);
	metric_head(b, "ppcoord_leader_changes_total", "counter",
	    "Changes of the cluster leader seen in etcd.");
	evbuffer_add_printf(b, "ppcoord_leader_changes_total %llu\n",
	    (unsigned long long)ha_leader_changes());
}

static void
http_send(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	evhttp_send_reply(req, code, reason, body);
}

/* Names the request's peer as "addr:port" for logs. */
static const char *
http_peer(struct evhttp_request *req, char *buf, size_t len)
{
	struct evhttp_connection	*conn;
	char				*addr = NULL;
	ev_uint16_t			 port = 0;

	if ((conn = evhttp_request_get_connection(req)) != NULL)
		evhttp_connection_get_peer(conn, &addr, &port);
	snprintf(buf, len, "%s:%u", addr != NULL ? addr : "unknown", port);
	return buf;
}

/*
 * Sends an HTTP error reply and logs it: at debug level, or as a
 * rate-limited warning when the request is malformed. The URI is cut,
 * and the log replaces its control characters.
 * NOTE: libevent 2.1 answers a request line or headers it cannot parse
 * (400), a body over HTTP_BODY_MAX (413) and an unknown method (501)
 * itself without calling back, so those requests are not logged.
 */
static void
http_json_error(struct evhttp_request *req, int code, const char *reason,
    const char *msg)
{
	static struct log_ratelimit	 rl = LOG_RATELIMIT_INIT(60, 5);
	struct evbuffer			*b;
	unsigned long			 suppressed;
	const char			*uri = evhttp_request_get_uri(req);
	char				 peer[80];

	http_peer(req, peer, sizeof(peer));
	if (code != 400)
		log_debug("HTTP %d for %.200s from %s: %s", code,
		    uri != NULL ? uri : "", peer, msg);
	else if (log_ratelimit_allow(&rl, &suppressed)) {
		if (suppressed > 0)
			log_warnx("%lu more malformed HTTP requests were not "
			    "logged", suppressed);
		log_warnx("HTTP %d for %.200s from %s: %s", code,
		    uri != NULL ? uri : "", peer, msg);
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"error\":\"%s\"}\n", msg);
	http_send(req, code, reason, "application/json", b);
	evbuffer_free(b);
}

static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	const char		*uri = evhttp_request_get_uri(req);
	struct evhttp_uri	*parsed;
	const char		*path = NULL;
	struct evbuffer		*b;
	char			*text;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		http_json_error(req, 405, "Method Not Allowed",
		    "only GET and HEAD are allowed");
		return;
	}
	if ((parsed = evhttp_uri_parse(uri)) == NULL) {
		http_json_error(req, 400, "Bad Request", "invalid URI");
		return;
	}
	if ((path = evhttp_uri_get_path(parsed)) == NULL)
		path = "";
	if ((b = evbuffer_new()) == NULL) {
		evhttp_uri_free(parsed);
		evhttp_send_error(req, 500, NULL);
		return;
	}

	if (strcmp(path, "/metrics") == 0) {
		metrics_nodes(b);
		metrics_plan(b);
		metrics_counters(b);
		http_send(req, 200, "OK", "text/plain; version=0.0.4; "
		    "charset=utf-8", b);
	} else if (strcmp(path, "/status") == 0) {
		if ((text = status_plan_json()) == NULL)
			http_json_error(req, 404, "Not Found",
			    "no plan is active");
		else {
			evbuffer_add_printf(b, "%s\n", text);
			free(text);
			http_send(req, 200, "OK", "application/json", b);
		}
	} else
		http_json_error(req, 404, "Not Found",
		    "unknown path; try /metrics or /status");
	evbuffer_free(b);
	evhttp_uri_free(parsed);
}

/* Serves HTTP on head.status_listen when it is set. */
int
http_start(char *err, size_t errlen)
{
	char		 host[256];
	uint16_t	 port;

	if (hd->h_conf->status_listen == NULL)
		return 0;
	if (util_split_host_port(hd->h_conf->status_listen, host,
	    sizeof(host), &port, err, errlen) == -1)
		return -1;
	if ((http_server = evhttp_new(hd->h_base)) == NULL) {
		snprintf(err, errlen, "cannot create the HTTP server");
		return -1;
	}
	evhttp_set_allowed_methods(http_server, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_timeout(http_server, HTTP_TIMEOUT_S);
	evhttp_set_max_headers_size(http_server, HTTP_HEADERS_MAX);
	evhttp_set_max_body_size(http_server, HTTP_BODY_MAX);
	evhttp_set_gencb(http_server, http_request_cb, NULL);
	if (evhttp_bind_socket_with_handle(http_server, host[0] != '\0' ?
	    host : "0.0.0.0", port) == NULL) {
		snprintf(err, errlen, "head.status_listen: cannot listen on "
		    "%s: %s", hd->h_conf->status_listen, strerror(errno));
		evhttp_free(http_server);
		http_server = NULL;
		return -1;
	}
	log_info("serving /metrics and /status on %s",
	    hd->h_conf->status_listen);
	return 0;
}

void
http_stop(void)
{
	if (http_server != NULL)
		evhttp_free(http_server);
	http_server = NULL;
}
