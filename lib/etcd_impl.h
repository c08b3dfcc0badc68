/*
 * Internals of the etcd client, shared by etcd.c (client and state),
 * etcd_campaign.c (election), etcd_http.c (libcurl on libevent) and
 * etcd_json.c (request bodies and reply parsing). Not for other modules.
 */
#ifndef PPCOORD_ETCD_IMPL_H
#define PPCOORD_ETCD_IMPL_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "etcd.h"

/* Largest reply body read from etcd: a state of ETCD_STATE_MAX bytes in
 * base64 with its JSON envelope fits with room to spare. */
#define ETCD_REPLY_MAX		(4u << 20)

/* Maximum length of a leader value, an advertise address "host:port". */
#define ETCD_LEADER_MAX		255

/* Retry delays while etcd is unreachable, doubled on each failure. */
#define ETCD_BACKOFF_MIN_MS	250
#define ETCD_BACKOFF_MAX_MS	5000

/* gRPC status codes that etcd returns in its error replies. */
#define ETCD_GRPC_NOT_FOUND	5

struct etcd_req;

/*
 * Completion of one request. On success `reply` is the parsed JSON object
 * and `err` is NULL; otherwise reply is NULL and err names the endpoint,
 * the operation and the failure. The request is freed after the call.
 */
typedef void	(*etcd_req_cb)(struct etcd *, struct etcd_req *,
		    json_t *reply, const char *err);

struct etcd_req {
	TAILQ_ENTRY(etcd_req)	 entry;
	struct etcd		*e;
	CURL			*easy;
	const char		*op;		/* "lease grant", in messages */
	const char		*path;		/* "/v3/lease/grant" */
	char			*body;
	long			 timeout_ms;

	char			*reply;		/* reply body as received */
	size_t			 reply_len;
	size_t			 reply_cap;
	bool			 reply_too_large;
	char			 curl_err[CURL_ERROR_SIZE];

	size_t			 endpoint;	/* index of the current attempt */
	size_t			 attempts;	/* endpoints tried so far */
	uint64_t		 sent_ms;	/* start of the current attempt */
	long			 http_status;
	int			 grpc_code;	/* from an error reply, else 0 */
	bool			 not_found_ok;	/* NotFound is no error: a lease
						 * revoke of an expired lease */

	struct event		*defer;		/* completes a local failure */
	char			*local_err;
	bool			 local_fence;	/* local failure: not the leader */

	etcd_req_cb		 cb;
	unsigned		 epoch;		/* campaign epoch at the start */
	int64_t			 lease;		/* lease the request concerns */
	int64_t			 revision;	/* fenced put: expected revision */
	union {
		etcd_put_cb	 put;
		etcd_get_cb	 get;
		etcd_done_cb	 done;
	}			 user_cb;
	void			*user_arg;
};
TAILQ_HEAD(etcd_reqs, etcd_req);

enum etcd_phase {
	ETCD_IDLE,		/* no campaign */
	ETCD_GRANT,		/* lease grant in flight */
	ETCD_CREATE,		/* create-if-absent transaction in flight */
	ETCD_FOLLOW,		/* another head leads; polling P/leader */
	ETCD_LEAD,		/* this head leads */
	ETCD_REVOKE,		/* lost; revoking the old lease */
	ETCD_BACKOFF		/* waiting to retry after a failure */
};

struct etcd {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*curl_timer;
	struct curl_slist	*headers;
	struct etcd_reqs	 reqs;

	char			**endpoints;	/* without a trailing '/' */
	size_t			 nendpoints;
	size_t			 endpoint_cur;	/* where requests start */
	char			*ca_file;
	char			*cert_file;
	char			*key_file;
	char			*prefix;
	char			*leader_key;	/* prefix + "/leader" */
	char			*state_key;	/* prefix + "/state" */
	uint64_t		 conf_ttl_ms;

	/* Reentrancy: etcd_free from inside a callback only marks the
	 * client dead, and the outermost entry point frees it. */
	unsigned		 depth;
	bool			 dead;
	bool			 failing;	/* on_error sent, no success since */

	/* Campaign. */
	enum etcd_phase		 phase;
	unsigned		 epoch;		/* bumped on resign; stale replies
						 * carry an older one */
	char			*my_id;
	struct etcd_campaign_cb	 cb;
	char			*leader;	/* last known leader value */
	int64_t			 lease;		/* 0: none */
	uint64_t		 ttl_ms;	/* min(configured, granted) */
	uint64_t		 lease_ok_ms;	/* start of the last request that
						 * refreshed the lease */
	int64_t			 lead_rev;	/* create revision of our key */
	bool			 keepalive_busy;
	bool			 poll_busy;
	uint64_t		 backoff_ms;
	struct event		*ev_keepalive;
	struct event		*ev_poll;
	struct event		*ev_deadline;
	struct event		*ev_retry;
};

/* etcd.c */
void	 etcd_enter(struct etcd *);
void	 etcd_leave(struct etcd *);
void	 etcd_report_error(struct etcd *, const char *msg);
void	 etcd_report_ok(struct etcd *, const char *endpoint);
void	 etcd_set_leader(struct etcd *, const char *value);
/* Writes "ENDPOINT: etcd OP: invalid reply: DETAIL" for a reply that
 * failed a check after the transport succeeded. */
void	 etcd_reply_error(const struct etcd *, const struct etcd_req *,
	    const char *detail, char *buf, size_t len);

/* etcd_campaign.c */
void	 etcd_campaign_stop(struct etcd *);
void	 etcd_campaign_free(struct etcd *);
void	 etcd_campaign_lose(struct etcd *, const char *reason);
uint64_t etcd_loss_deadline(const struct etcd *);

/* etcd_http.c */
int	 etcd_http_init(struct etcd *, char *err, size_t errlen);
void	 etcd_http_free(struct etcd *);
/* Starts a POST of `body` (taken over) to `path`; returns the request,
 * whose fields the caller may fill before returning to the loop. Never
 * NULL: a failure to start completes the request with an error from the
 * loop. */
struct etcd_req *etcd_http_post(struct etcd *, const char *op,
	    const char *path, char *body, long timeout_ms, etcd_req_cb cb);
/* Completes a request with `err` from the loop, without contacting etcd;
 * a NULL err completes it with neither a reply nor an error. */
struct etcd_req *etcd_http_fail(struct etcd *, const char *op,
	    const char *err, etcd_req_cb cb);

/* etcd_json.c: bodies (NULL when out of memory) */
char	*etcd_json_grant(int64_t ttl_s);
char	*etcd_json_lease_id(int64_t lease);
char	*etcd_json_range(const char *key);
char	*etcd_json_create(const char *key, const char *value, int64_t lease);
char	*etcd_json_fenced_put(const char *fence_key, int64_t create_rev,
	    const char *key, const char *value, size_t len);

/* One key-value pair of a range reply; value is NUL-terminated. */
struct etcd_kv {
	char		*value;
	size_t		 value_len;
	int64_t		 create_revision;
	int64_t		 mod_revision;
	int64_t		 lease;
};
void	 etcd_kv_clear(struct etcd_kv *);

/* etcd_json.c: replies. Each returns 0, or -1 with a message in err. */
int	 etcd_json_reply(const char *body, size_t len, long http_status,
	    json_t **reply, int *grpc_code, char *err, size_t errlen);
int	 etcd_json_int64(const json_t *obj, const char *name, int64_t *v,
	    char *err, size_t errlen);
int	 etcd_json_grant_reply(const json_t *reply, int64_t *lease,
	    int64_t *ttl_s, char *err, size_t errlen);
int	 etcd_json_keepalive_reply(const json_t *reply, int64_t lease,
	    int64_t *ttl_s, char *err, size_t errlen);
int	 etcd_json_range_reply(const json_t *reply, size_t value_max,
	    struct etcd_kv *kv, bool *found, char *err, size_t errlen);
int	 etcd_json_txn_reply(const json_t *reply, size_t value_max,
	    bool *succeeded, int64_t *revision, struct etcd_kv *kv,
	    bool *found, char *err, size_t errlen);
char	*etcd_b64_encode(const void *data, size_t len);
char	*etcd_b64_decode(const char *s, size_t max, size_t *len);
int	 etcd_check_value(const char *v, size_t len, char *err,
	    size_t errlen);
/* Replaces every byte outside printable ASCII in s with '?', so text from
 * the network is safe in a log line. */
void	 etcd_sanitize(char *s);

#endif
