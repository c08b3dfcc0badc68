/*
 * etcd client: creation, the fenced state write and the state read. The
 * election is in etcd_campaign.c, the HTTP transport in etcd_http.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conf.h"
#include "etcd_impl.h"
#include "util.h"

/* libcurl's global state is set up with the first client and torn down
 * with the last; the daemons run on one thread. */
static unsigned	etcd_clients;

void
etcd_enter(struct etcd *e)
{
	e->depth++;
}

static void
etcd_destroy(struct etcd *e)
{
	size_t	i;

	etcd_campaign_free(e);
	etcd_http_free(e);
	for (i = 0; i < e->nendpoints; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	free(e->ca_file);
	free(e->cert_file);
	free(e->key_file);
	free(e->prefix);
	free(e->leader_key);
	free(e->state_key);
	free(e);
	if (--etcd_clients == 0)
		curl_global_cleanup();
}

/* Leaves a callback; the outermost one frees a client marked dead. */
void
etcd_leave(struct etcd *e)
{
	if (--e->depth == 0 && e->dead)
		etcd_destroy(e);
}

void
etcd_report_error(struct etcd *e, const char *msg)
{
	e->failing = true;
	if (e->cb.on_error != NULL)
		e->cb.on_error(e, msg, e->cb.arg);
}

void
etcd_report_ok(struct etcd *e, const char *endpoint)
{
	if (!e->failing)
		return;
	e->failing = false;
	if (e->cb.on_restored != NULL)
		e->cb.on_restored(e, endpoint, e->cb.arg);
}

/* Records the leader value (NULL: none known) and reports a change. */
void
etcd_set_leader(struct etcd *e, const char *value)
{
	char	*copy = NULL;

	if (value == NULL && e->leader == NULL)
		return;
	if (value != NULL && e->leader != NULL &&
	    strcmp(value, e->leader) == 0)
		return;
	if (value != NULL && (copy = strdup(value)) == NULL)
		abort();
	free(e->leader);
	e->leader = copy;
	if (e->cb.on_leader_changed != NULL)
		e->cb.on_leader_changed(e, e->leader, e->cb.arg);
}

void
etcd_reply_error(const struct etcd *e, const struct etcd_req *req,
    const char *detail, char *buf, size_t len)
{
	snprintf(buf, len, "%s: etcd %s: invalid reply: %s",
	    e->endpoints[req->endpoint], req->op, detail);
}

static char *
etcd_strdup(const char *s)
{
	char	*p;

	if (s == NULL)
		return NULL;
	if ((p = strdup(s)) == NULL)
		abort();
	return p;
}

static char *
etcd_join(const char *a, const char *b)
{
	char	*p;

	if (asprintf(&p, "%s%s", a, b) == -1)
		abort();
	return p;
}

/* Copies the endpoints without a trailing '/', so paths can be appended. */
static int
etcd_copy_endpoints(struct etcd *e, const struct conf_etcd *conf, char *err,
    size_t errlen)
{
	size_t	i, n;

	if (conf->nendpoints == 0) {
		snprintf(err, errlen, "etcd: no endpoints; set etcd.endpoints "
		    "to a list such as [ \"https://host:2379\" ]");
		return -1;
	}
	if ((e->endpoints = calloc(conf->nendpoints, sizeof(char *))) == NULL)
		abort();
	e->nendpoints = conf->nendpoints;
	for (i = 0; i < conf->nendpoints; i++) {
		e->endpoints[i] = etcd_strdup(conf->endpoints[i]);
		n = strlen(e->endpoints[i]);
		while (n > 0 && e->endpoints[i][n - 1] == '/')
			e->endpoints[i][--n] = '\0';
		if ((strncmp(e->endpoints[i], "https://", 8) != 0 &&
		    strncmp(e->endpoints[i], "http://", 7) != 0) || n > 900) {
			snprintf(err, errlen, "etcd endpoint \"%.64s\" must be "
			    "\"https://host:port\" or \"http://host:port\"",
			    conf->endpoints[i]);
			return -1;
		}
	}
	return 0;
}

/* Sets the prefix without a trailing '/' and the two keys under it. */
static int
etcd_set_prefix(struct etcd *e, const struct conf_etcd *conf,
    const char *cluster_name, char *err, size_t errlen)
{
	size_t	n;

	if (conf->prefix != NULL && conf->prefix[0] != '\0')
		e->prefix = etcd_strdup(conf->prefix);
	else
		e->prefix = etcd_join("/ppcoord/", cluster_name);
	n = strlen(e->prefix);
	while (n > 1 && e->prefix[n - 1] == '/')
		e->prefix[--n] = '\0';
	if (e->prefix[0] != '/' || n > 512) {
		snprintf(err, errlen, "etcd prefix \"%.64s\" must start with "
		    "'/' and be at most 512 bytes", e->prefix);
		return -1;
	}
	e->leader_key = etcd_join(e->prefix, n > 1 ? "/leader" : "leader");
	e->state_key = etcd_join(e->prefix, n > 1 ? "/state" : "state");
	return 0;
}

struct etcd *
etcd_new(struct event_base *base, const struct conf_etcd *conf,
    const char *cluster_name, char *err, size_t errlen)
{
	struct etcd	*e;

	if (etcd_clients++ == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) !=
	    CURLE_OK) {
		etcd_clients--;
		snprintf(err, errlen, "etcd: curl_global_init failed");
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		abort();
	e->base = base;
	TAILQ_INIT(&e->reqs);
	e->conf_ttl_ms = conf->lease_ttl_ms;
	e->ca_file = etcd_strdup(conf->ca_file);
	e->cert_file = etcd_strdup(conf->cert_file);
	e->key_file = etcd_strdup(conf->key_file);

	if (conf->lease_ttl_ms < 1000) {
		snprintf(err, errlen, "etcd lease TTL of %llu ms is under the "
		    "least of 1 s", (unsigned long long)conf->lease_ttl_ms);
		goto fail;
	}
	if (etcd_copy_endpoints(e, conf, err, errlen) == -1 ||
	    etcd_set_prefix(e, conf, cluster_name != NULL ? cluster_name :
	    "default", err, errlen) == -1 ||
	    etcd_http_init(e, err, errlen) == -1)
		goto fail;
	return e;

fail:
	etcd_destroy(e);
	return NULL;
}

void
etcd_free(struct etcd *e)
{
	if (e == NULL || e->dead)
		return;
	e->dead = true;
	memset(&e->cb, 0, sizeof(e->cb));
	if (e->depth == 0)
		etcd_destroy(e);
}

const char *
etcd_leader(const struct etcd *e)
{
	return e->leader;
}

bool
etcd_is_leader(const struct etcd *e)
{
	return e->phase == ETCD_LEAD &&
	    util_now_ms() < etcd_loss_deadline(e);
}

const char *
etcd_prefix(const struct etcd *e)
{
	return e->prefix;
}

/* Describes why a fenced write failed, from what its failure branch read. */
static void
etcd_fence_reason(struct etcd *e, int64_t expected, const struct etcd_kv *kv,
    bool found, char *buf, size_t len)
{
	if (!found)
		snprintf(buf, len, "fenced: not the leader: %s does not exist",
		    e->leader_key);
	else {
		snprintf(buf, len, "fenced: not the leader: %s was created at "
		    "revision %lld by \"%.64s\", this head's at %lld",
		    e->leader_key, (long long)kv->create_revision,
		    kv->value, (long long)expected);
		etcd_sanitize(buf);
	}
}

static void
etcd_put_result(struct etcd *e, struct etcd_req *req, int rc,
    const char *msg)
{
	if (req->user_cb.put != NULL)
		req->user_cb.put(e, rc, msg, req->user_arg);
}

static void
etcd_put_done(struct etcd *e, struct etcd_req *req, json_t *reply,
    const char *err)
{
	struct etcd_kv	 kv;
	int64_t		 revision;
	bool		 ok, found;
	char		 detail[PPC_ERRLEN / 2], msg[PPC_ERRLEN];

	if (reply == NULL) {
		etcd_put_result(e, req, req->local_fence ? ETCD_FENCED :
		    ETCD_ERROR, err);
		return;
	}
	if (etcd_json_txn_reply(reply, ETCD_LEADER_MAX, &ok, &revision, &kv,
	    &found, detail, sizeof(detail)) == -1) {
		etcd_reply_error(e, req, detail, msg, sizeof(msg));
		etcd_put_result(e, req, ETCD_ERROR, msg);
		return;
	}
	if (ok) {
		etcd_put_result(e, req, ETCD_OK, NULL);
		return;
	}

	etcd_fence_reason(e, req->revision, &kv, found, msg, sizeof(msg));
	etcd_kv_clear(&kv);
	etcd_put_result(e, req, ETCD_FENCED, msg);
	if (!e->dead && e->phase == ETCD_LEAD && e->lead_rev == req->revision)
		etcd_campaign_lose(e, msg);
}

void
etcd_put_state(struct etcd *e, const char *json, size_t len, etcd_put_cb cb,
    void *arg)
{
	struct etcd_req	*req;
	char		 msg[PPC_ERRLEN];

	if (len > ETCD_STATE_MAX) {
		snprintf(msg, sizeof(msg), "etcd state put: %zu bytes is over "
		    "the limit of %u", len, ETCD_STATE_MAX);
		req = etcd_http_fail(e, "state put", msg, etcd_put_done);
	} else if (!etcd_is_leader(e)) {
		req = etcd_http_fail(e, "state put", "fenced: not the leader",
		    etcd_put_done);
		req->local_fence = true;
	} else {
		req = etcd_http_post(e, "state put", "/v3/kv/txn",
		    etcd_json_fenced_put(e->leader_key, e->lead_rev,
		    e->state_key, json, len), (long)e->conf_ttl_ms,
		    etcd_put_done);
		req->revision = e->lead_rev;
	}
	req->user_cb.put = cb;
	req->user_arg = arg;
}

static void
etcd_get_done(struct etcd *e, struct etcd_req *req, json_t *reply,
    const char *err)
{
	struct etcd_kv	 kv;
	bool		 found;
	char		 detail[PPC_ERRLEN / 2], msg[PPC_ERRLEN];

	if (req->user_cb.get == NULL)
		return;
	if (reply == NULL) {
		req->user_cb.get(e, ETCD_ERROR, NULL, 0, err, req->user_arg);
		return;
	}
	if (etcd_json_range_reply(reply, ETCD_STATE_MAX, &kv, &found, detail,
	    sizeof(detail)) == -1) {
		etcd_reply_error(e, req, detail, msg, sizeof(msg));
		req->user_cb.get(e, ETCD_ERROR, NULL, 0, msg, req->user_arg);
		return;
	}
	req->user_cb.get(e, ETCD_OK, found ? kv.value : NULL,
	    found ? kv.value_len : 0, NULL, req->user_arg);
	etcd_kv_clear(&kv);
}

void
etcd_get_state(struct etcd *e, etcd_get_cb cb, void *arg)
{
	struct etcd_req	*req;

	req = etcd_http_post(e, "state get", "/v3/kv/range",
	    etcd_json_range(e->state_key), (long)e->conf_ttl_ms,
	    etcd_get_done);
	req->user_cb.get = cb;
	req->user_arg = arg;
}
