/*
 * etcd client for heads that share their plan through etcd: leader
 * election on a lease, writes fenced by the leader key, and the state read
 * by a new leader. It speaks the etcd v3 JSON gateway (/v3/..., keys and
 * values in base64; etcd 3.4 and later) over HTTPS with a client
 * certificate, through libcurl's multi interface driven by the caller's
 * libevent loop, so no call here blocks.
 *
 * Keys, under the configured prefix P:
 *   P/leader   the leader's advertise address, bound to its lease
 *   P/state    the state JSON, written only by the leader
 *
 * A head calls etcd_new and etcd_campaign at start. On on_elected it reads
 * the state with etcd_get_state, continues from that generation, and writes
 * each change with etcd_put_state; it acts as leader only while
 * etcd_is_leader is true. On on_lost, or a put that returns ETCD_FENCED, it
 * stops acting as leader at once and sends agents NotLeader with
 * etcd_leader(). On a clean shutdown it calls etcd_resign, runs the loop
 * until the resign callback (bounded by a timeout), then calls etcd_free.
 *
 * The library does not log. Every failure reaches a callback with a message
 * that names the endpoint and etcd's error; the head decides what to log.
 * Callbacks run from the event loop, never from inside the call that
 * started the operation. A callback may call any function here, etcd_free
 * included.
 */
#ifndef PPCOORD_ETCD_H
#define PPCOORD_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct conf_etcd;
struct etcd;

/* Largest state document etcd_put_state takes. Base64 makes it 4/3 larger,
 * and etcd rejects a request over 1.5 MiB by default. */
#define ETCD_STATE_MAX		(1u << 20)

/* Result codes of etcd_put_state and etcd_get_state. */
#define ETCD_OK			0
#define ETCD_ERROR		-1	/* etcd unreachable or an invalid reply */
#define ETCD_FENCED		-2	/* this head is not the leader */

/*
 * Election callbacks; any may be NULL. `arg` is passed to each.
 *
 * on_elected: this head now holds the leader key.
 * on_lost: this head stopped being the leader, with the reason. It is
 *   called when etcd reports the lease gone, when no keepalive sent in the
 *   last 2/3 of the lease TTL has succeeded (so before etcd can expire the
 *   lease), and when a poll or a fenced write finds the leader key deleted
 *   or replaced. The client then campaigns again by itself.
 * on_leader_changed: the leader value that etcd_leader returns changed;
 *   NULL when no leader is known. Also called for this head's own value,
 *   before on_elected.
 * on_error: a request to one endpoint failed, for example
 *   "https://10.0.0.5:2379: etcd lease grant failed: Couldn't connect to
 *   server". Called for every failed attempt of every request, the state
 *   put and get included, so the caller should rate-limit its logging.
 *   The campaign retries by itself; a put or get tries each endpoint once
 *   and then reports the last failure to its own callback.
 * on_restored: the first request that succeeded after on_error, with the
 *   endpoint that replied.
 */
struct etcd_campaign_cb {
	void	(*on_elected)(struct etcd *, void *arg);
	void	(*on_lost)(struct etcd *, const char *reason, void *arg);
	void	(*on_leader_changed)(struct etcd *, const char *leader,
		    void *arg);
	void	(*on_error)(struct etcd *, const char *message, void *arg);
	void	(*on_restored)(struct etcd *, const char *endpoint,
		    void *arg);
	void	*arg;
};

/* Completion of etcd_put_state: rc is ETCD_OK, ETCD_ERROR or ETCD_FENCED,
 * and message gives the reason when rc is not ETCD_OK. */
typedef void	(*etcd_put_cb)(struct etcd *, int rc, const char *message,
		    void *arg);

/* Completion of etcd_get_state: on ETCD_OK, json is the stored state (NUL-
 * terminated, len bytes, valid during the call) or NULL when P/state does
 * not exist. */
typedef void	(*etcd_get_cb)(struct etcd *, int rc, const char *json,
		    size_t len, const char *message, void *arg);

/* Completion of etcd_resign: rc ETCD_OK when etcd revoked the lease. */
typedef void	(*etcd_done_cb)(struct etcd *, int rc, const char *message,
		    void *arg);

/*
 * Creates a client on `base` for the endpoints, TLS files, prefix and lease
 * TTL in `conf` (copied). An empty prefix defaults to "/ppcoord/" +
 * cluster_name. Nothing is sent until a campaign or a request starts.
 * Returns NULL with a message in err when the config is unusable.
 */
struct etcd	*etcd_new(struct event_base *base, const struct conf_etcd *conf,
		    const char *cluster_name, char *err, size_t errlen);

/* Cancels every request and timer and frees the client without contacting
 * etcd; the lease, if any, expires by itself. Use etcd_resign first on a
 * clean shutdown. No callback runs afterwards. NULL is accepted. */
void		 etcd_free(struct etcd *e);

/*
 * Campaigns for leadership with `my_id` (this head's advertise address) as
 * the leader value, and keeps campaigning after each loss until etcd_resign
 * or etcd_free. It grants a lease of the configured TTL and creates
 * P/leader with it only if the key is absent. While another head leads, it
 * polls P/leader every TTL/4 and tries again once the key is gone. The
 * leader refreshes its lease every TTL/3 and polls P/leader too, to see a
 * deleted or replaced key. Returns -1 with a message in err when a campaign
 * is already running or my_id is invalid.
 */
int		 etcd_campaign(struct etcd *e, const char *my_id,
		    const struct etcd_campaign_cb *cb, char *err, size_t errlen);

/*
 * Stops campaigning and revokes the lease, which deletes P/leader if this
 * head holds it, so another head can take over at once. `cb` (may be NULL)
 * runs when etcd replied or every endpoint failed, or on the next turn of
 * the loop when there is no lease. on_lost is not called.
 */
void		 etcd_resign(struct etcd *e, etcd_done_cb cb, void *arg);

/*
 * Writes `json` (len bytes, at most ETCD_STATE_MAX) to P/state in a
 * transaction that succeeds only while P/leader still has the create
 * revision that this head created it with. When the compare fails, cb gets
 * ETCD_FENCED with "fenced: not the leader: ...", and on_lost follows if
 * this head still counted itself as leader. A call while not the leader
 * fails with ETCD_FENCED without contacting etcd. cb is called once, unless
 * the client is freed first.
 */
void		 etcd_put_state(struct etcd *e, const char *json, size_t len,
		    etcd_put_cb cb, void *arg);

/* Reads P/state. Its size is checked against ETCD_STATE_MAX but its JSON is
 * not parsed. cb is called once, unless the client is freed first. */
void		 etcd_get_state(struct etcd *e, etcd_get_cb cb, void *arg);

/* The last leader value seen in etcd, or NULL when none is known. The
 * string stays valid until the next callback, etcd_resign or etcd_free. */
const char	*etcd_leader(const struct etcd *e);

/* True while this head holds the leader key and its lease is known to be
 * alive: false as soon as the loss deadline has passed, even if the timer
 * that calls on_lost has not run yet. */
bool		 etcd_is_leader(const struct etcd *e);

/* The configured key prefix, such as "/ppcoord/default". */
const char	*etcd_prefix(const struct etcd *e);

#endif
