/*
 * ppcoord-head: main, signals, configuration load and reload, shutdown.
 */
#include <sys/resource.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <openssl/ssl.h>

#include "log.h"
#include "tls.h"

#include "head.h"

static struct head	 head_instance;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: ppcoord-head [-f FILE] [-n] [-d]\n"
	    "  -f FILE  head config (default %s)\n"
	    "  -n       check the config, print \"configuration OK\" or "
	    "every error, and exit\n"
	    "  -d       log at debug level to stderr\n", HEAD_CONF_DEFAULT);
	exit(2);
}

/* Loads and checks a config; prints or logs every error. */
static struct head_conf *
head_load_conf(const char *path, bool to_stderr)
{
	struct head_conf	*c;
	struct conf_errors	 errs = { 0, NULL };
	size_t			 i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("head_load_conf");
	if (conf_head_load(c, path, CONF_SCOPE_HEAD, &errs) == 0) {
		conf_errors_free(&errs);
		return c;
	}
	for (i = 0; i < errs.count; i++) {
		if (to_stderr)
			fprintf(stderr, "%s\n", errs.lines[i]);
		else
			log_warnx("%s", errs.lines[i]);
	}
	if (errs.count == 0) {
		if (to_stderr)
			fprintf(stderr, "%s: invalid configuration\n", path);
		else
			log_warnx("%s: invalid configuration", path);
	}
	conf_errors_free(&errs);
	conf_head_free(c);
	free(c);
	return NULL;
}

/* Creates the TLS server context for conf, with one change: OpenSSL 3
 * then reports a peer that closes without close_notify as a plain EOF,
 * which the framing layer judges by the frame boundary. */
static SSL_CTX *
head_tls_ctx(const struct head_conf *conf, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	ctx = tls_server_ctx(conf->tls.ca_file, conf->tls.cert_file,
	    conf->tls.key_file, err, errlen);
	if (ctx != NULL)
		SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	return ctx;
}

/* Verifies the head's own certificate against the cluster CA, as the
 * agents will, so that a wrong or expired certificate shows at start. */
static int
head_check_cert(const struct head_conf *conf, char *err, size_t errlen)
{
	return tls_check_cert_file(conf->tls.ca_file, conf->tls.cert_file,
	    X509_PURPOSE_SSL_SERVER, err, errlen);
}

/* -n: checks the loaded config's certificate and exits 0 or 1. */
static void __attribute__((noreturn))
head_check_exit(const char *path)
{
	char	 err[PPC_ERRLEN];
	int	 rc = 0;

	if (head_check_cert(hd->h_conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: tls: %s\n", path, err);
		rc = 1;
	} else
		printf("configuration OK\n");
	conf_head_free(hd->h_conf);
	free(hd->h_conf);
	exit(rc);
}

/* Raises RLIMIT_NOFILE to max_connections plus a reserve. */
static void
head_raise_nofile(uint32_t max_connections)
{
	struct rlimit	 rl;
	rlim_t		 want = (rlim_t)max_connections + HEAD_FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit RLIMIT_NOFILE");
		return;
	}
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		log_warnx("open file limit %llu is below head.max_connections "
		    "%u + %d; raising it to the hard limit %llu (raise "
		    "LimitNOFILE= to allow more)",
		    (unsigned long long)rl.rlim_cur, max_connections,
		    HEAD_FD_RESERVE, (unsigned long long)rl.rlim_max);
		want = rl.rlim_max;
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("setrlimit RLIMIT_NOFILE to %llu",
		    (unsigned long long)want);
}

uint64_t
head_sweep_interval_ms(void)
{
	uint64_t	 ms = hd->h_conf->heartbeat_interval_ms / 4;

	if (ms < HEAD_SWEEP_MIN_MS)
		ms = HEAD_SWEEP_MIN_MS;
	if (ms > HEAD_SWEEP_MAX_MS)
		ms = HEAD_SWEEP_MAX_MS;
	return ms;
}

/* Ticks of the sweep timer per sweep interval. */
static unsigned
head_sweep_slices(void)
{
	return (unsigned)(head_sweep_interval_ms() / HEAD_SWEEP_TICK_MS);
}

/* Checks a slice of the connections each tick, and the nodes once per
 * sweep interval. */
static void
head_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	static unsigned	 tick;
	uint64_t	 now = util_now_ms();
	unsigned	 slices = head_sweep_slices();

	conn_sweep(now, slices);
	if (++tick >= slices) {
		tick = 0;
		members_sweep(now);
	}
}

static void
head_sweep_arm(void)
{
	uint64_t	 ms = head_sweep_interval_ms() / head_sweep_slices();
	struct timeval	 tv = { (time_t)(ms / 1000),
			    (suseconds_t)((ms % 1000) * 1000) };

	event_del(hd->h_sweep);
	event_add(hd->h_sweep, &tv);
}

static void
head_settle_cb(evutil_socket_t fd, short what, void *arg)
{
	members_settle_expired();
}

static bool
head_str_equal(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL &&
	    strcmp(a, b) == 0);
}

/* Whether two etcd groups are the same; the etcd client keeps the one it
 * was started with. */
static bool
head_etcd_same(const struct conf_etcd *a, const struct conf_etcd *b)
{
	size_t	 i;

	if (a->nendpoints != b->nendpoints ||
	    a->lease_ttl_ms != b->lease_ttl_ms ||
	    !head_str_equal(a->prefix, b->prefix) ||
	    !head_str_equal(a->ca_file, b->ca_file) ||
	    !head_str_equal(a->cert_file, b->cert_file) ||
	    !head_str_equal(a->key_file, b->key_file))
		return false;
	for (i = 0; i < a->nendpoints; i++)
		if (!head_str_equal(a->endpoints[i], b->endpoints[i]))
			return false;
	return true;
}

/* Whether a reload may apply `nc`: the listening addresses and files
 * that are open cannot change without a restart. */
static bool
head_reload_allowed(const struct head_conf *oc, const struct head_conf *nc)
{
	bool	 ok = true;

	if (strcmp(oc->listen, nc->listen) != 0) {
		log_warnx("reload: head.listen changed from %s to %s; "
		    "restart the head to apply it", oc->listen, nc->listen);
		ok = false;
	}
	if (oc->store != nc->store || !head_str_equal(oc->advertise,
	    nc->advertise) || !head_etcd_same(&oc->etcd, &nc->etcd)) {
		log_warnx("reload: head.store, head.advertise or the etcd "
		    "group changed; restart the head to apply them");
		ok = false;
	}
	if (strcmp(oc->control_socket, nc->control_socket) != 0 ||
	    strcmp(oc->state_file, nc->state_file) != 0 ||
	    strcmp(oc->cluster_name, nc->cluster_name) != 0 ||
	    (oc->status_listen == NULL) != (nc->status_listen == NULL) ||
	    (oc->status_listen != NULL &&
	    strcmp(oc->status_listen, nc->status_listen) != 0)) {
		log_warnx("reload: head.control_socket, head.state_file, "
		    "head.status_listen or cluster.name changed; restart the "
		    "head to apply them");
		ok = false;
	}
	return ok;
}

/* SIGHUP: re-reads the config and the TLS files. An invalid config is
 * logged and the head keeps the one it runs on. */
static void
head_reload(void)
{
	struct head_conf	*nc, *oc = hd->h_conf;
	SSL_CTX			*ctx;
	char			 err[PPC_ERRLEN];

	err[0] = '\0';
	notify_reloading();
	log_info("reloading %s", oc->path);
	if ((nc = head_load_conf(oc->path, false)) == NULL) {
		log_warnx("reload: %s is invalid; keeping the running "
		    "configuration", oc->path);
		goto done;
	}
	if (!head_reload_allowed(oc, nc) ||
	    (ctx = head_tls_ctx(nc, err, sizeof(err))) == NULL) {
		if (err[0] != '\0')
			log_warnx("reload: %s", err);
		log_warnx("reload: keeping the running configuration");
		conf_head_free(nc);
		free(nc);
		goto done;
	}

	/* Existing connections keep a reference to the old context. */
	SSL_CTX_free(hd->h_ssl);
	hd->h_ssl = ctx;
	hd->h_conf = nc;
	head_raise_nofile(nc->max_connections);
	head_sweep_arm();
	members_reload();
	conf_head_free(oc);
	free(oc);
	log_info("configuration reloaded");
done:
	notify_send("READY=1\nSTATUS=%s, generation %llu",
	    members_state_name(hd->h_state),
	    (unsigned long long)hd->h_generation);
}

static void
head_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGHUP:
		head_reload();
		break;
	case SIGTERM:
	case SIGINT:
		log_info("received %s; shutting down", strsignal((int)sig));
		notify_send("STOPPING=1");
		hd->h_shutting_down = true;
		event_base_loopbreak(hd->h_base);
		break;
	}
}

static void
head_events_init(void)
{
	static const int	 sigs[] = { SIGHUP, SIGTERM, SIGINT };
	struct event_config	*cfg;
	size_t			 i;

	/*
	 * Queueing a frame adds the connection's write event, and writing it
	 * out deletes the event again. With the changelist, epoll learns of
	 * changes once per loop turn, and a change undone within the turn
	 * costs no epoll_ctl call. At 10,000 agents, queueing a generation
	 * took 11 ms with it and 28 ms without. libevent documents that the
	 * changelist does not support dup()ed sockets; the head has none.
	 */
	if ((cfg = event_config_new()) == NULL ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST)
	    == -1 || (hd->h_base = event_base_new_with_config(cfg)) == NULL)
		fatalx("cannot create the event base");
	event_config_free(cfg);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		hd->h_sigs[i] = evsignal_new(hd->h_base, sigs[i],
		    head_signal_cb, NULL);
		if (hd->h_sigs[i] == NULL || event_add(hd->h_sigs[i],
		    NULL) == -1)
			fatalx("cannot handle signal %d", sigs[i]);
	}
	signal(SIGPIPE, SIG_IGN);

	hd->h_sweep = event_new(hd->h_base, -1, EV_PERSIST, head_sweep_cb,
	    NULL);
	hd->h_settle = evtimer_new(hd->h_base, head_settle_cb, NULL);
	if (hd->h_sweep == NULL || hd->h_settle == NULL)
		fatalx("cannot create timers");
	head_sweep_arm();
}

static void
head_shutdown(void)
{
	size_t	 i;

	listen_stop();
	control_stop();
	http_stop();
	conn_close_all();
	event_del(hd->h_sweep);
	evtimer_del(hd->h_settle);
	ha_stop();
	members_free();

	for (i = 0; i < sizeof(hd->h_sigs) / sizeof(hd->h_sigs[0]); i++)
		if (hd->h_sigs[i] != NULL)
			event_free(hd->h_sigs[i]);
	event_free(hd->h_sweep);
	event_free(hd->h_settle);
	if (hd->h_watchdog != NULL)
		event_free(hd->h_watchdog);
	event_base_free(hd->h_base);
	SSL_CTX_free(hd->h_ssl);
	conf_head_free(hd->h_conf);
	free(hd->h_conf);
	log_info("stopped");
}

int
main(int argc, char *argv[])
{
	const char	*path = HEAD_CONF_DEFAULT;
	char		 err[PPC_ERRLEN];
	bool		 check = false, debug = false;
	int		 ch;

	while ((ch = getopt(argc, argv, "f:nd")) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'd':
			debug = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	log_init(argv[0], debug, getenv("NOTIFY_SOCKET") != NULL ||
	    getenv("JOURNAL_STREAM") != NULL);

	hd = &head_instance;
	if ((hd->h_conf = head_load_conf(path, true)) == NULL)
		exit(check ? 1 : 2);
	if (check)
		head_check_exit(path);

	log_info("starting ppcoord-head %s for cluster %s, expecting %u "
	    "nodes", PPCOORD_VERSION, hd->h_conf->cluster_name,
	    hd->h_conf->expected_nodes);
	if (head_check_cert(hd->h_conf, err, sizeof(err)) == -1)
		log_warnx("%s; starting anyway, but agents will reject this "
		    "head", err);
	head_raise_nofile(hd->h_conf->max_connections);
	if ((hd->h_ssl = head_tls_ctx(hd->h_conf, err, sizeof(err))) == NULL)
		fatalx("%s", err);

	TAILQ_INIT(&hd->h_conns);
	hd->h_start_ms = util_now_ms();
	head_events_init();
	members_init();
	members_restore();

	if (ha_start(err, sizeof(err)) == -1 ||
	    listen_start(err, sizeof(err)) == -1 ||
	    control_start(err, sizeof(err)) == -1 ||
	    http_start(err, sizeof(err)) == -1)
		fatalx("%s", err);

	notify_watchdog_start();
	notify_send("READY=1\nSTATUS=%s, generation %llu",
	    members_state_name(hd->h_state),
	    (unsigned long long)hd->h_generation);

	event_base_dispatch(hd->h_base);
	head_shutdown();
	return 0;
}
