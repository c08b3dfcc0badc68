/*
 * Several heads on etcd (head.store = "etcd"): the leader election, the
 * state kept in etcd instead of the state file, and stepping down.
 *
 * Every head campaigns. A follower plans nothing and replies to each
 * Hello with NotLeader naming the leader. A new leader reads the state from
 * etcd and restores it as a single head restores its state file. Each
 * change is written with a put fenced by the leader key, and a new
 * generation reaches agents only after its put succeeded. A head that
 * loses the lease or meets a fenced put steps down at once and closes
 * every agent connection without a Revoke, so that the agents keep their
 * assignment and go to the new leader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "etcd.h"
#include "log.h"

#include "head.h"

/* Retry interval of a failed state get or put while etcd is unreachable. */
#define HA_RETRY_MS		1000

/* Maximum wait for etcd to revoke the lease at a clean shutdown. */
#define HA_RESIGN_WAIT_MS	2000

enum ha_role {
	HA_FOLLOWER,
	HA_ELECTED,		/* elected, reading the state from etcd */
	HA_LEADER,
};

static struct etcd	*ha_etcd;
static enum ha_role	 ha_role;
static struct event	*ha_stepdown_ev;
static struct event	*ha_retry_ev;
static struct event	*ha_resign_ev;
static const char	*ha_stepdown_reason;
static uint64_t		 ha_nleader_changes;
static char		 ha_last_leader[256];	/* last leader counted */

/* Counts elections of this head. A get or put reply carries the term it
 * was sent in, and a reply from an earlier term is ignored, so that a
 * fenced put of a lost term cannot end the next one. */
static uint64_t		 ha_term;
static uint64_t		 ha_put_gen;

/* The state put: at most one in flight. A change made meanwhile sets
 * ha_put_again, and ha_put_push requests a push once a put succeeds. */
static bool		 ha_put_busy;
static bool		 ha_put_again;
static bool		 ha_put_push;
static bool		 ha_get_pending;

static void	ha_put_start(void);
static void	ha_get_start(void);

static bool
ha_etcd_store(void)
{
	return hd->h_conf->store == CONF_STORE_ETCD;
}

/*
 * Returns whether this head may plan and push. With the state file it
 * always may. On etcd it must be the leader with a lease known alive. A
 * lease past its loss deadline steps the head down here, before the
 * client's own timer reports it.
 */
bool
ha_leading(void)
{
	if (!ha_etcd_store())
		return true;
	if (ha_role != HA_LEADER)
		return false;
	if (!etcd_is_leader(ha_etcd)) {
		ha_step_down("the leader lease expired");
		return false;
	}
	return true;
}

/* Whether a Hello gets NotLeader in reply. */
bool
ha_follower(void)
{
	return ha_etcd_store() && !ha_leading();
}

const char *
ha_role_name(void)
{
	if (!ha_etcd_store())
		return "standalone";
	return ha_role == HA_LEADER ? "leader" : "follower";
}

/* The leader's advertise address, or NULL when none is known (and with
 * the state file). */
const char *
ha_leader(void)
{
	if (!ha_etcd_store() || ha_etcd == NULL)
		return NULL;
	return etcd_leader(ha_etcd);
}

uint64_t
ha_leader_changes(void)
{
	return ha_nleader_changes;
}

/*
 * Stops acting as leader at once: nothing is planned or pushed from here
 * on. Closing the connections and clearing the node table happen from a
 * deferred event, because the caller may be inside the members code.
 */
void
ha_step_down(const char *reason)
{
	if (!ha_etcd_store() || ha_role == HA_FOLLOWER)
		return;
	ha_role = HA_FOLLOWER;
	ha_stepdown_reason = reason;
	log_warnx("stepped down as leader: %s; closing every agent "
	    "connection without a revoke", reason);
	event_active(ha_stepdown_ev, EV_TIMEOUT, 0);
}

static void
ha_stepdown_cb(evutil_socket_t fd, short what, void *arg)
{
	if (ha_role == HA_LEADER)
		return;
	evtimer_del(hd->h_settle);
	evtimer_del(ha_retry_ev);
	conn_drop_all("this head stepped down");
	members_free();
	members_init();
	ha_put_again = ha_put_push = ha_get_pending = false;
	log_info("following; agents are sent to %s",
	    ha_leader() != NULL ? ha_leader() : "the next leader");
	notify_send("STATUS=follower");
}

static void
ha_retry_arm(void)
{
	struct timeval	 tv = { HA_RETRY_MS / 1000,
			    (HA_RETRY_MS % 1000) * 1000 };

	evtimer_add(ha_retry_ev, &tv);
}

static void
ha_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	if (ha_get_pending)
		ha_get_start();
	else if (ha_put_again && !ha_put_busy)
		ha_put_start();
}

/* Restores the state that etcd holds, then acts as leader. */
static void
ha_get_cb(struct etcd *e, int rc, const char *json, size_t len,
    const char *message, void *arg)
{
	char	 err[PPC_ERRLEN];
	int	 lrc = 0;

	if (ha_role != HA_ELECTED || (uint64_t)(uintptr_t)arg != ha_term)
		return;
	if (rc == ETCD_FENCED) {
		ha_step_down(message);
		return;
	}
	if (rc != ETCD_OK) {
		log_warnx("reading the state from etcd failed: %s; retrying "
		    "in %d ms", message, HA_RETRY_MS);
		ha_retry_arm();
		return;
	}
	ha_get_pending = false;
	ha_role = HA_LEADER;
	err[0] = '\0';
	if (json != NULL)
		lrc = state_load_text(json, len, err, sizeof(err));
	if (lrc == -1)
		log_warnx("the state in etcd under %s is invalid: %s; planning "
		    "afresh", etcd_prefix(e), err);
	log_info("leading cluster %s from generation %llu",
	    hd->h_conf->cluster_name, (unsigned long long)hd->h_generation);
	members_restored(lrc < 0 ? 0 : lrc);
	notify_send("STATUS=leader, %s, generation %llu",
	    members_state_name(hd->h_state),
	    (unsigned long long)hd->h_generation);
}

static void
ha_get_start(void)
{
	ha_get_pending = true;
	etcd_get_state(ha_etcd, ha_get_cb, (void *)(uintptr_t)ha_term);
}

static void
ha_on_elected(struct etcd *e, void *arg)
{
	log_info("elected leader as %s; reading the state from etcd",
	    hd->h_conf->advertise);
	/* A step-down still queued must not run after the election. */
	event_del(ha_stepdown_ev);
	conn_drop_all("this head was elected");
	members_free();
	members_init();
	ha_role = HA_ELECTED;
	ha_term++;
	ha_put_busy = ha_put_again = ha_put_push = false;
	ha_get_start();
}

static void
ha_on_lost(struct etcd *e, const char *reason, void *arg)
{
	ha_step_down(reason);
}

static void
ha_on_leader_changed(struct etcd *e, const char *leader, void *arg)
{
	if (leader != NULL && strcmp(leader, ha_last_leader) != 0) {
		ha_nleader_changes++;
		snprintf(ha_last_leader, sizeof(ha_last_leader), "%s", leader);
	}
	log_info("cluster leader is now %s", leader != NULL ? leader :
	    "unknown");
}

static void
ha_on_error(struct etcd *e, const char *message, void *arg)
{
	static struct log_ratelimit	 rl = LOG_RATELIMIT_INIT(30, 3);
	unsigned long			 suppressed;

	if (log_ratelimit_allow(&rl, &suppressed))
		log_warnx("%s (%lu more etcd errors not logged)", message,
		    suppressed);
}

static void
ha_on_restored(struct etcd *e, const char *endpoint, void *arg)
{
	log_info("etcd %s reachable again", endpoint);
}

static void
ha_put_cb(struct etcd *e, int rc, const char *message, void *arg)
{
	static struct log_ratelimit	 rl = LOG_RATELIMIT_INIT(30, 2);
	unsigned long			 suppressed;
	uint64_t			 gen = ha_put_gen;

	if ((uint64_t)(uintptr_t)arg != ha_term)
		return;
	ha_put_busy = false;
	if (ha_role != HA_LEADER)
		return;
	if (rc == ETCD_FENCED) {
		ha_step_down(message);
		return;
	}
	if (rc != ETCD_OK) {
		ha_put_again = true;
		if (log_ratelimit_allow(&rl, &suppressed))
			log_warnx("generation %llu is not pushed until etcd "
			    "stores it (%lu retries not logged): %s",
			    (unsigned long long)gen, suppressed, message);
		ha_retry_arm();
		return;
	}
	log_info("etcd %s/state: generation %llu stored", etcd_prefix(e),
	    (unsigned long long)gen);
	if (ha_put_again) {
		ha_put_start();
		return;
	}
	if (ha_put_push) {
		ha_put_push = false;
		members_push();
	}
}

static void
ha_put_start(void)
{
	char	 err[PPC_ERRLEN], *text;
	size_t	 len;

	ha_put_again = false;
	if ((text = state_build(&len, err, sizeof(err))) == NULL) {
		log_warnx("cannot build the state for etcd: %s", err);
		ha_put_again = true;
		ha_retry_arm();
		return;
	}
	ha_put_busy = true;
	ha_put_gen = hd->h_generation;
	/* The client copies the document into its request. */
	etcd_put_state(ha_etcd, text, len, ha_put_cb,
	    (void *)(uintptr_t)ha_term);
	free(text);
}

/*
 * Stores the current state in etcd, then, with `push`, sends every agent
 * its part (members_push). A call while a put is in flight is folded
 * into one more put after it.
 */
void
ha_save(bool push)
{
	if (!ha_leading())
		return;
	if (push)
		ha_put_push = true;
	if (ha_put_busy) {
		ha_put_again = true;
		return;
	}
	ha_put_start();
}

/* Creates the etcd client and starts campaigning; nothing with the
 * state file. */
int
ha_start(char *err, size_t errlen)
{
	static struct etcd_campaign_cb	 cb = {
		.on_elected = ha_on_elected,
		.on_lost = ha_on_lost,
		.on_leader_changed = ha_on_leader_changed,
		.on_error = ha_on_error,
		.on_restored = ha_on_restored,
	};
	struct head_conf		*conf = hd->h_conf;

	if (!ha_etcd_store())
		return 0;
	ha_role = HA_FOLLOWER;
	ha_stepdown_ev = event_new(hd->h_base, -1, 0, ha_stepdown_cb, NULL);
	ha_retry_ev = evtimer_new(hd->h_base, ha_retry_cb, NULL);
	if (ha_stepdown_ev == NULL || ha_retry_ev == NULL) {
		snprintf(err, errlen, "cannot create the etcd events");
		return -1;
	}
	if ((ha_etcd = etcd_new(hd->h_base, &conf->etcd, conf->cluster_name,
	    err, errlen)) == NULL)
		return -1;
	if (etcd_campaign(ha_etcd, conf->advertise, &cb, err, errlen) == -1)
		return -1;
	log_info("campaigning for leadership of cluster %s as %s under "
	    "etcd prefix %s", conf->cluster_name, conf->advertise,
	    etcd_prefix(ha_etcd));
	return 0;
}

static void
ha_resign_cb(struct etcd *e, int rc, const char *message, void *arg)
{
	if (rc != ETCD_OK)
		log_warnx("resigning from etcd failed: %s; the lease expires "
		    "by itself", message);
	else
		log_info("resigned: etcd revoked this head's lease");
	event_base_loopbreak(hd->h_base);
}

static void
ha_resign_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	log_warnx("etcd did not confirm the resignation within %d ms; the "
	    "lease expires by itself", HA_RESIGN_WAIT_MS);
	event_base_loopbreak(hd->h_base);
}

/* Resigns with a bounded wait, so that another head takes over at once,
 * and frees the client. The caller has stopped the listeners. */
void
ha_stop(void)
{
	struct timeval	 tv = { HA_RESIGN_WAIT_MS / 1000,
			    (HA_RESIGN_WAIT_MS % 1000) * 1000 };

	if (ha_etcd == NULL)
		return;
	ha_role = HA_FOLLOWER;
	ha_resign_ev = evtimer_new(hd->h_base, ha_resign_timeout_cb, NULL);
	if (ha_resign_ev != NULL) {
		etcd_resign(ha_etcd, ha_resign_cb, NULL);
		evtimer_add(ha_resign_ev, &tv);
		event_base_dispatch(hd->h_base);
		event_free(ha_resign_ev);
	}
	etcd_free(ha_etcd);
	ha_etcd = NULL;
	event_free(ha_stepdown_ev);
	event_free(ha_retry_ev);
}
