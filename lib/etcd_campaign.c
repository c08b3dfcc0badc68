/*
 * Leader election on an etcd lease.
 *
 * A campaign grants a lease, then creates P/leader with it in a
 * transaction that succeeds only if the key is absent. The winner refreshes
 * the lease every TTL/3 and polls P/leader every TTL/4; the others poll
 * P/leader every TTL/4 and try again once it is gone. Polling replaces
 * the gateway's streaming watch: it costs one small range request per head
 * per TTL/4, and a takeover waits at most that long after the key goes.
 *
 * The leader gives up, and calls on_lost, when etcd reports its lease
 * gone or when no keepalive sent in the last 2/3 of the TTL succeeded.
 * A keepalive refreshes the lease at some moment between sending and its
 * reply, so counting from the send keeps the leader's deadline at least
 * TTL/3 before etcd can expire the lease. After a loss the old lease is
 * revoked, so that this head's stale key does not block the next
 * election, and the campaign starts again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "etcd_impl.h"
#include "util.h"

static void etcd_campaign_start(struct etcd *);
static void etcd_revoke_old(struct etcd *);

static uint64_t
etcd_keepalive_ms(const struct etcd *e)
{
	return e->ttl_ms / 3;
}

static uint64_t
etcd_poll_ms(const struct etcd *e)
{
	return e->ttl_ms / 4;
}

uint64_t
etcd_loss_deadline(const struct etcd *e)
{
	return e->lease_ok_ms + e->ttl_ms * 2 / 3;
}

static void
etcd_arm(struct event *ev, uint64_t ms)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

static void
etcd_stop_timers(struct etcd *e)
{
	struct event	*evs[] = { e->ev_keepalive, e->ev_poll,
			    e->ev_deadline, e->ev_retry };
	size_t		 i;

	for (i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i] != NULL)
			evtimer_del(evs[i]);
	e->keepalive_busy = false;
	e->poll_busy = false;
}

/* True when a reply belongs to an earlier campaign or another phase. */
static bool
etcd_stale(const struct etcd *e, const struct etcd_req *req,
    enum etcd_phase phase)
{
	return e->dead || req->epoch != e->epoch || e->phase != phase;
}

static void
etcd_ignore_reply(struct etcd *e, struct etcd_req *req, json_t *reply,
    const char *err)
{
}

/* Revokes a lease that nothing depends on; failures only reach on_error,
 * and the lease then expires by itself. */
static void
etcd_revoke_unused(struct etcd *e, int64_t lease)
{
	struct etcd_req	*req;

	req = etcd_http_post(e, "lease revoke", "/v3/lease/revoke",
	    etcd_json_lease_id(lease), (long)e->conf_ttl_ms, etcd_ignore_reply);
	req->not_found_ok = true;
}

/* The next retry delay: twice the last one up to ETCD_BACKOFF_MAX_MS,
 * with jitter so that heads do not retry in step. */
static uint64_t
etcd_backoff_next(struct etcd *e)
{
	if (e->backoff_ms == 0)
		e->backoff_ms = ETCD_BACKOFF_MIN_MS;
	else if (e->backoff_ms < ETCD_BACKOFF_MAX_MS)
		e->backoff_ms *= 2;
	if (e->backoff_ms > ETCD_BACKOFF_MAX_MS)
		e->backoff_ms = ETCD_BACKOFF_MAX_MS;
	return e->backoff_ms / 2 +
	    arc4random_uniform((uint32_t)e->backoff_ms / 2 + 1);
}

/* Retries the lease revoke (phase ETCD_REVOKE) or the campaign
 * (ETCD_BACKOFF) after the backoff delay. */
static void
etcd_retry_later(struct etcd *e, enum etcd_phase phase)
{
	e->phase = phase;
	etcd_arm(e->ev_retry, etcd_backoff_next(e));
}

static void
etcd_retry_event(evutil_socket_t fd, short what, void *arg)
{
	struct etcd	*e = arg;

	etcd_enter(e);
	if (e->phase == ETCD_REVOKE)
		etcd_revoke_old(e);
	else if (e->phase == ETCD_BACKOFF)
		etcd_campaign_start(e);
	etcd_leave(e);
}

/*
 * Calls on_lost and starts over: the lease is revoked first, and the known
 * leader becomes `next` (NULL: unknown). Does nothing unless this head
 * leads.
 */
static void
etcd_lose(struct etcd *e, const char *reason, const char *next)
{
	unsigned	epoch = e->epoch;

	if (e->phase != ETCD_LEAD)
		return;
	etcd_stop_timers(e);
	e->phase = ETCD_REVOKE;
	e->lead_rev = 0;
	e->backoff_ms = 0;

	if (e->cb.on_lost != NULL)
		e->cb.on_lost(e, reason, e->cb.arg);
	if (e->dead || e->epoch != epoch)
		return;
	etcd_set_leader(e, next);
	if (e->dead || e->epoch != epoch)
		return;
	etcd_revoke_old(e);
}

void
etcd_campaign_lose(struct etcd *e, const char *reason)
{
	etcd_lose(e, reason, NULL);
}

static void
etcd_revoke_old_done(struct etcd *e, struct etcd_req *req, json_t *reply,
    const char *err)
{
	if (etcd_stale(e, req, ETCD_REVOKE))
		return;

	/* A lease that etcd no longer has is as good as revoked. Past its
	 * TTL the lease has expired unless etcd restarted in between (a
	 * restart renews every lease), so the campaign goes on and at worst
	 * follows this head's old key until it expires. */
	if (err != NULL && req->grpc_code != ETCD_GRPC_NOT_FOUND &&
	    util_now_ms() < e->lease_ok_ms + e->ttl_ms) {
		etcd_retry_later(e, ETCD_REVOKE);
		return;
	}
	e->lease = 0;
	e->backoff_ms = 0;
	etcd_campaign_start(e);
}

static void
etcd_revoke_old(struct etcd *e)
{
	struct etcd_req	*req;

	if (e->lease == 0) {
		etcd_campaign_start(e);
		return;
	}
	e->phase = ETCD_REVOKE;
	req = etcd_http_post(e, "lease revoke", "/v3/lease/revoke",
	    etcd_json_lease_id(e->lease), (long)e->conf_ttl_ms,
	    etcd_revoke_old_done);
	req->lease = e->lease;
	req->not_found_ok = true;
}

static void
etcd_poll_now(struct etcd *e);

static void
etcd_poll_event(evutil_socket_t fd, short what, void *arg)
{
	struct etcd	*e = arg;

	etcd_enter(e);
	etcd_poll_now(e);
	etcd_leave(e);
}

/* A leader value read from etcd, or NULL when it is not printable. */
static const char *
etcd_leader_value(struct etcd *e, const struct etcd_req *req,
    const struct etcd_kv *kv)
{
	char	err[PPC_ERRLEN / 4], detail[PPC_ERRLEN / 2], msg[PPC_ERRLEN];

	if (etcd_check_value(kv->value, kv->value_len, err,
	    sizeof(err)) == 0)
		return kv->value;
	snprintf(detail, sizeof(detail), "%.100s: %s",
	    e->leader_key, err);
	etcd_reply_error(e, req, detail, msg, sizeof(msg));
	etcd_report_error(e, msg);
	return NULL;
}

static void
etcd_poll_lead(struct etcd *e, const struct etcd_req *req,
    const struct etcd_kv *kv, bool found)
{
	char	reason[PPC_ERRLEN];

	if (!found) {
		snprintf(reason, sizeof(reason), "%s was deleted",
		    e->leader_key);
		etcd_lose(e, reason, NULL);
	} else if (kv->create_revision != e->lead_rev) {
		snprintf(reason, sizeof(reason), "%s was replaced at revision "
		    "%lld", e->leader_key, (long long)kv->create_revision);
		etcd_lose(e, reason, etcd_leader_value(e, req, kv));
	} else
		etcd_arm(e->ev_poll, etcd_poll_ms(e));
}

static void
etcd_poll_done(struct etcd *e, struct etcd_req *req, json_t *reply,
    const char *err)
{
	struct etcd_kv	 kv;
	enum etcd_phase	 phase = e->phase;
	bool		 found;
	char		 detail[PPC_ERRLEN / 2], msg[PPC_ERRLEN];

	/* A leader's poll carries the revision of the key it checks, so a
	 * reply from before a loss and a new election is ignored. */
	if (e->dead || req->epoch != e->epoch ||
	    (phase != ETCD_FOLLOW && phase != ETCD_LEAD) ||
	    req->revision != (phase == ETCD_LEAD ? e->lead_rev : 0))
		return;
	e->poll_busy = false;
	if (err == NULL && etcd_json_range_reply(reply, ETCD_LEADER_MAX, &kv,
	    &found, detail, sizeof(detail)) == -1) {
		etcd_reply_error(e, req, detail, msg, sizeof(msg));
		etcd_report_error(e, msg);
		err = msg;
	}
	if (err != NULL) {
		/* A follower backs off while etcd fails; a leader keeps
		 * polling, and its loss deadline covers an outage. */
		if (phase == ETCD_FOLLOW)
			etcd_arm(e->ev_poll, etcd_backoff_next(e));
		else
			etcd_arm(e->ev_poll, etcd_poll_ms(e));
		return;
	}

	if (phase == ETCD_LEAD)
		etcd_poll_lead(e, req, &kv, found);
	else if (!found) {
		etcd_set_leader(e, NULL);
		if (!e->dead && req->epoch == e->epoch)
			etcd_campaign_start(e);
	} else {
		e->backoff_ms = 0;
		etcd_set_leader(e, etcd_leader_value(e, req, &kv));
		etcd_arm(e->ev_poll, etcd_poll_ms(e));
	}
	etcd_kv_clear(&kv);
}

static void
etcd_poll_now(struct etcd *e)
{
	struct etcd_req	*req;
	long		 timeout;

	if ((e->phase != ETCD_FOLLOW && e->phase != ETCD_LEAD) || e->poll_busy)
		return;
	timeout = (long)(e->phase == ETCD_LEAD ? etcd_keepalive_ms(e) :
	    e->conf_ttl_ms);
	e->poll_busy = true;
	req = etcd_http_post(e, "leader range", "/v3/kv/range",
	    etcd_json_range(e->leader_key), timeout, etcd_poll_done);
	req->revision = e->phase == ETCD_LEAD ? e->lead_rev : 0;
}

static void
etcd_deadline_event(evutil_socket_t fd, short what, void *arg)
{
	struct etcd	*e = arg;
	char		 reason[PPC_ERRLEN];

	etcd_enter(e);
	snprintf(reason, sizeof(reason), "no lease keepalive succeeded for "
	    "%llu ms, 2/3 of the %llu ms lease TTL",
	    (unsigned long long)(e->ttl_ms * 2 / 3),
	    (unsigned long long)e->ttl_ms);
	etcd_lose(e, reason, NULL);
	etcd_leave(e);
}

static void
etcd_arm_deadline(struct etcd *e)
{
	uint64_t	now = util_now_ms(), deadline = etcd_loss_deadline(e);

	etcd_arm(e->ev_deadline, deadline > now ? deadline - now : 0);
}

static void
etcd_keepalive_done(struct etcd *e, struct etcd_req *req, json_t *reply,
    const char *err)
{
	int64_t	ttl_s;
	char	detail[PPC_ERRLEN / 2], msg[PPC_ERRLEN], reason[PPC_ERRLEN];

	if (etcd_stale(e, req, ETCD_LEAD) || req->lease != e->lease)
		return;
	e->keepalive_busy = false;
	if (err == NULL && etcd_json_keepalive_reply(reply, e->lease, &ttl_s,
	    detail, sizeof(detail)) == -1) {
		etcd_reply_error(e, req, detail, msg, sizeof(msg));
		etcd_report_error(e, msg);
		err = msg;
	}

	/* One failure does not end the lead: the next keepalive goes out
	 * after TTL/10 instead of TTL/3, so there is time for another try
	 * before the loss deadline. */
	if (err != NULL) {
		etcd_arm(e->ev_keepalive, e->ttl_ms / 10);
		return;
	}
	if (ttl_s == 0) {
		snprintf(reason, sizeof(reason), "lease %llx expired in etcd",
		    (unsigned long long)e->lease);
		etcd_lose(e, reason, NULL);
		return;
	}
	/* Once the deadline has passed, etcd_is_leader has returned false, so
	 * a late success does not make this head the leader again. */
	if (util_now_ms() >= etcd_loss_deadline(e)) {
		etcd_deadline_event(-1, 0, e);
		return;
	}
	if (req->sent_ms > e->lease_ok_ms)
		e->lease_ok_ms = req->sent_ms;
	etcd_arm_deadline(e);
}

static void
etcd_keepalive_event(evutil_socket_t fd, short what, void *arg)
{
	struct etcd	*e = arg;
	struct etcd_req	*req;
	uint64_t	 timeout = e->ttl_ms / 6;

	/* A keepalive sent at TTL/3 that times out after TTL/6 on a silent
	 * endpoint still has TTL/6 to succeed on the next endpoint before
	 * the loss deadline at 2/3 of the TTL. */
	etcd_enter(e);
	if (e->phase == ETCD_LEAD && !e->keepalive_busy) {
		e->keepalive_busy = true;
		req = etcd_http_post(e, "lease keepalive",
		    "/v3/lease/keepalive", etcd_json_lease_id(e->lease),
		    (long)(timeout > 200 ? timeout : 200), etcd_keepalive_done);
		req->lease = e->lease;
	}
	if (e->phase == ETCD_LEAD)
		etcd_arm(e->ev_keepalive, etcd_keepalive_ms(e));
	etcd_leave(e);
}

/* Takes the lead with P/leader created at revision `rev`. */
static void
etcd_become_leader(struct etcd *e, int64_t rev)
{
	unsigned	epoch = e->epoch;

	/* Granting and creating took so long that the lease may be close
	 * to expiry: drop it and try again rather than lead on borrowed
	 * time. */
	if (util_now_ms() >= etcd_loss_deadline(e)) {
		etcd_revoke_old(e);
		return;
	}
	e->phase = ETCD_LEAD;
	e->lead_rev = rev;
	e->backoff_ms = 0;
	etcd_arm(e->ev_keepalive, etcd_keepalive_ms(e));
	etcd_arm(e->ev_poll, etcd_poll_ms(e));
	etcd_arm_deadline(e);

	etcd_set_leader(e, e->my_id);
	if (e->dead || e->epoch != epoch || e->phase != ETCD_LEAD)
		return;
	if (e->cb.on_elected != NULL)
		e->cb.on_elected(e, e->cb.arg);
}

static void
etcd_create_done(struct etcd *e, struct etcd_req *req, json_t *reply,
    const char *err)
{
	struct etcd_kv	 kv;
	int64_t		 revision;
	bool		 ok, found;
	char		 detail[PPC_ERRLEN / 2], msg[PPC_ERRLEN];

	if (etcd_stale(e, req, ETCD_CREATE))
		return;
	if (err == NULL && etcd_json_txn_reply(reply, ETCD_LEADER_MAX, &ok,
	    &revision, &kv, &found, detail, sizeof(detail)) == -1) {
		etcd_reply_error(e, req, detail, msg, sizeof(msg));
		etcd_report_error(e, msg);
		err = msg;
	}
	if (err != NULL) {
		etcd_revoke_unused(e, e->lease);
		e->lease = 0;
		etcd_retry_later(e, ETCD_BACKOFF);
		return;
	}

	/* A retry on another endpoint may find the key that the first
	 * attempt created: it carries this head's lease. */
	if (ok)
		etcd_become_leader(e, revision);
	else if (found && kv.lease == e->lease)
		etcd_become_leader(e, kv.create_revision);
	else {
		etcd_revoke_unused(e, e->lease);
		e->lease = 0;
		e->phase = ETCD_FOLLOW;
		e->backoff_ms = 0;
		etcd_arm(e->ev_poll, found ? etcd_poll_ms(e) : 0);
		if (found)
			etcd_set_leader(e, etcd_leader_value(e, req, &kv));
	}
	etcd_kv_clear(&kv);
}

static void
etcd_grant_done(struct etcd *e, struct etcd_req *req, json_t *reply,
    const char *err)
{
	int64_t		 lease = 0, ttl_s;
	struct etcd_req	*create;
	char		 detail[PPC_ERRLEN / 2], msg[PPC_ERRLEN];

	if (err == NULL && etcd_json_grant_reply(reply, &lease, &ttl_s, detail,
	    sizeof(detail)) == -1) {
		etcd_reply_error(e, req, detail, msg, sizeof(msg));
		etcd_report_error(e, msg);
		err = msg;
	}
	if (etcd_stale(e, req, ETCD_GRANT)) {
		if (err == NULL && !e->dead)
			etcd_revoke_unused(e, lease);
		return;
	}
	if (err != NULL) {
		etcd_retry_later(e, ETCD_BACKOFF);
		return;
	}

	/* etcd raises a TTL below its minimum lease TTL, which follows from
	 * its election timeout, and never lowers one. The shorter of the two
	 * is the safe one to time keepalives by. */
	e->lease = lease;
	e->ttl_ms = e->conf_ttl_ms;
	if ((uint64_t)ttl_s * 1000 < e->ttl_ms)
		e->ttl_ms = (uint64_t)ttl_s * 1000;
	e->lease_ok_ms = req->sent_ms;
	e->phase = ETCD_CREATE;
	create = etcd_http_post(e, "leader create", "/v3/kv/txn",
	    etcd_json_create(e->leader_key, e->my_id, lease),
	    (long)e->conf_ttl_ms, etcd_create_done);
	create->lease = lease;
}

static void
etcd_campaign_start(struct etcd *e)
{
	/* etcd lease TTLs are whole seconds. */
	int64_t	ttl_s = (int64_t)((e->conf_ttl_ms + 999) / 1000);

	e->phase = ETCD_GRANT;
	e->ttl_ms = e->conf_ttl_ms;
	etcd_http_post(e, "lease grant", "/v3/lease/grant",
	    etcd_json_grant(ttl_s), (long)e->conf_ttl_ms, etcd_grant_done);
}

static int
etcd_campaign_timers(struct etcd *e)
{
	if (e->ev_keepalive == NULL)
		e->ev_keepalive = evtimer_new(e->base, etcd_keepalive_event, e);
	if (e->ev_poll == NULL)
		e->ev_poll = evtimer_new(e->base, etcd_poll_event, e);
	if (e->ev_deadline == NULL)
		e->ev_deadline = evtimer_new(e->base, etcd_deadline_event, e);
	if (e->ev_retry == NULL)
		e->ev_retry = evtimer_new(e->base, etcd_retry_event, e);
	return e->ev_keepalive == NULL || e->ev_poll == NULL ||
	    e->ev_deadline == NULL || e->ev_retry == NULL ? -1 : 0;
}

int
etcd_campaign(struct etcd *e, const char *my_id,
    const struct etcd_campaign_cb *cb, char *err, size_t errlen)
{
	char	detail[PPC_ERRLEN];

	if (e->phase != ETCD_IDLE) {
		snprintf(err, errlen, "etcd: a campaign is already running");
		return -1;
	}
	if (my_id == NULL || etcd_check_value(my_id, strlen(my_id), detail,
	    sizeof(detail)) == -1) {
		snprintf(err, errlen, "etcd campaign: invalid %s; set "
		    "head.advertise to this head's host:port",
		    my_id == NULL ? "leader value (none)" : detail);
		return -1;
	}
	if (etcd_campaign_timers(e) == -1) {
		snprintf(err, errlen, "etcd campaign: out of memory");
		return -1;
	}
	free(e->my_id);
	if ((e->my_id = strdup(my_id)) == NULL)
		abort();
	if (cb != NULL)
		e->cb = *cb;
	else
		memset(&e->cb, 0, sizeof(e->cb));
	e->backoff_ms = 0;
	etcd_campaign_start(e);
	return 0;
}

/* Ends the campaign without callbacks; the lease stays in e->lease. */
void
etcd_campaign_stop(struct etcd *e)
{
	e->epoch++;
	etcd_stop_timers(e);
	e->phase = ETCD_IDLE;
	e->lead_rev = 0;
	free(e->leader);
	e->leader = NULL;
}

static void
etcd_resign_done(struct etcd *e, struct etcd_req *req, json_t *reply,
    const char *err)
{
	int	rc = ETCD_OK;

	if (err != NULL && req->grpc_code != ETCD_GRPC_NOT_FOUND)
		rc = ETCD_ERROR;
	if (req->user_cb.done != NULL)
		req->user_cb.done(e, rc, rc == ETCD_OK ? NULL : err,
		    req->user_arg);
}

void
etcd_resign(struct etcd *e, etcd_done_cb cb, void *arg)
{
	struct etcd_req	*req;

	etcd_campaign_stop(e);
	if (e->lease != 0) {
		req = etcd_http_post(e, "lease revoke", "/v3/lease/revoke",
		    etcd_json_lease_id(e->lease), (long)e->conf_ttl_ms,
		    etcd_resign_done);
		req->not_found_ok = true;
		e->lease = 0;
	} else
		req = etcd_http_fail(e, "lease revoke", NULL,
		    etcd_resign_done);
	req->user_cb.done = cb;
	req->user_arg = arg;
}

void
etcd_campaign_free(struct etcd *e)
{
	struct event	*evs[] = { e->ev_keepalive, e->ev_poll,
			    e->ev_deadline, e->ev_retry };
	size_t		 i;

	for (i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	free(e->my_id);
	free(e->leader);
}
