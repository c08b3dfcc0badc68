/*
 * ppcoord-agent [-f FILE] [-n] [-d]: the node agent. main() loads the
 * config, reads the held assignment and probes the GPUs, then wires the
 * event loop: the connection to the head, the signals and the service
 * manager's notifications.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "gpu.h"
#include "tls.h"

#define AGENT_CONF_DEFAULT	"/etc/ppcoord/agent.conf"

static void
usage(void)
{
	fprintf(stderr, "usage: ppcoord-agent [-dn] [-f file]\n"
	    "  -f file  config file (default " AGENT_CONF_DEFAULT ")\n"
	    "  -n       check the config and exit\n"
	    "  -d       log debug messages to stderr\n");
	exit(2);
}

/* Appends "PATH: message" to errs. */
static void
agent_conf_error(struct conf_errors *errs, const char *path, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
agent_conf_error(struct conf_errors *errs, const char *path, const char *fmt,
    ...)
{
	char	  msg[2 * PPC_ERRLEN], *line;
	char	**lines;
	va_list	  ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	lines = realloc(errs->lines, (errs->count + 1) * sizeof(*lines));
	if (lines == NULL)
		fatal("agent_conf_error");
	errs->lines = lines;
	if (asprintf(&line, "%s: %s", path, msg) == -1)
		fatal("agent_conf_error");
	errs->lines[errs->count++] = line;
}

/* The node id: agent.node_id, else the identity in the certificate. Both
 * must agree when both exist, because the head rejects a Hello whose node
 * id differs from the certificate. */
static void
agent_conf_node_id(const struct agent_conf *conf, char *node_id,
    size_t idlen, struct conf_errors *errs)
{
	char	cert_id[PPC_NODE_ID_MAX + 1], err[PPC_ERRLEN];

	if (tls_cert_file_identity(conf->tls.cert_file, cert_id,
	    sizeof(cert_id), err, sizeof(err)) == -1) {
		agent_conf_error(errs, conf->path, "tls.cert_file %s: %s",
		    conf->tls.cert_file, err);
		return;
	}
	if (conf->node_id != NULL && strcmp(conf->node_id, cert_id) != 0) {
		agent_conf_error(errs, conf->path, "agent.node_id \"%s\" "
		    "differs from the identity \"%s\" of certificate %s: the "
		    "head would reject it; remove node_id or issue a "
		    "certificate for it", conf->node_id, cert_id,
		    conf->tls.cert_file);
		return;
	}
	if (util_check_node_id(cert_id, err, sizeof(err)) == -1) {
		agent_conf_error(errs, conf->path, "node id from certificate "
		    "%s: %s", conf->tls.cert_file, err);
		return;
	}
	snprintf(node_id, idlen, "%s", cert_id);
}

/*
 * Loads and checks everything the agent needs from its config: the file
 * itself, the TLS files, the node id, and the GPU probe. Returns 0, or -1
 * with every error in errs as "FILE[:LINE]: message".
 */
int
agent_load_conf(const char *path, struct agent_conf *conf, SSL_CTX **ctx,
    char *node_id, size_t idlen, struct inv_node *node,
    struct conf_errors *errs)
{
	char err[PPC_ERRLEN];

	*ctx = NULL;
	memset(node, 0, sizeof(*node));
	if (conf_agent_load(conf, path, errs) == -1)
		return -1;

	if ((*ctx = tls_client_ctx(conf->tls.ca_file, conf->tls.cert_file,
	    conf->tls.key_file, err, sizeof(err))) == NULL)
		agent_conf_error(errs, path, "tls: %s", err);
	agent_conf_node_id(conf, node_id, idlen, errs);
	if (gpu_probe(conf, node, err, sizeof(err)) == -1)
		agent_conf_error(errs, path, "gpus: %s", err);

	if (errs->count == 0)
		return 0;
	SSL_CTX_free(*ctx);
	*ctx = NULL;
	inv_node_free(node);
	return -1;
}

/*
 * Verifies the agent's own certificate against its ca_file for TLS client
 * use, as the head will. -n treats a failure as an error. A running agent
 * only warns, because the head decides and may trust another CA file.
 */
static int
agent_check_cert(const struct agent_conf *conf, char *err, size_t errlen)
{
	return tls_check_cert_file(conf->tls.ca_file, conf->tls.cert_file,
	    X509_PURPOSE_SSL_CLIENT, err, errlen);
}

static void
agent_log_errors(const struct conf_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->count; i++)
		log_warnx("%s", errs->lines[i]);
}

/* SIGHUP: a new config applies to the next connection (heads, TLS files,
 * GPUs) and at once to hooks and timeouts. A config that changes the node
 * id or the environment file is rejected whole, because changing either
 * under a running agent would orphan the assignment in the file. */
static void
agent_reload(struct agent *a)
{
	struct agent_conf	*nc;
	struct conf_errors	 errs = { 0, NULL };
	struct inv_node		 nnode;
	SSL_CTX			*nctx;
	char			 nid[PPC_NODE_ID_MAX + 1] = "";
	char			 err[PPC_ERRLEN];

	log_info("reloading configuration from %s", a->conf->path);
	if ((nc = calloc(1, sizeof(*nc))) == NULL) {
		log_warn("reload");
		return;
	}
	if (agent_load_conf(a->conf->path, nc, &nctx, nid, sizeof(nid),
	    &nnode, &errs) == -1) {
		agent_log_errors(&errs);
		log_warnx("keeping the previous configuration");
		goto out;
	}
	if (agent_check_cert(nc, err, sizeof(err)) == -1)
		log_warnx("%s; the head will likely reject this node", err);
	if (strcmp(nid, a->node_id) != 0 ||
	    strcmp(nc->env_file, a->conf->env_file) != 0) {
		log_warnx("the node id (%s, was %s) or agent.env_file changed: "
		    "that needs a restart; keeping the previous configuration",
		    nid, a->node_id);
		SSL_CTX_free(nctx);
		inv_node_free(&nnode);
		goto out;
	}

	/* SSL objects hold a reference to their context, so a connection
	 * made with the old one keeps working. */
	SSL_CTX_free(a->ssl_ctx);
	a->ssl_ctx = nctx;
	inv_node_free(&a->node);
	a->node = nnode;
	conf_agent_free(a->conf);
	free(a->conf);
	a->conf = nc;
	nc = NULL;
	a->head_index %= a->conf->nheads;
	log_info("configuration reloaded: %u workers; heads, TLS files and "
	    "GPUs apply from the next connection", a->node.workers);
out:
	conf_errors_free(&errs);
	if (nc != NULL) {
		conf_agent_free(nc);
		free(nc);
	}
}

static void
agent_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	struct agent *a = arg;

	switch (sig) {
	case SIGHUP:
		agent_reload(a);
		return;
	case SIGCHLD:
		agent_hook_sigchld(a);
		return;
	default:
		break;
	}

	if (a->stopping)
		return;
	a->stopping = true;
	log_info("received %s, exiting", sig == SIGTERM ? "SIGTERM" :
	    "SIGINT");
	agent_notify("STOPPING=1");
	agent_conn_close(a);
	agent_hook_shutdown(a);
	event_base_loopexit(a->base, NULL);
}

void
agent_timer_add(struct event *ev, uint64_t ms)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

static void
agent_watchdog_cb(evutil_socket_t fd, short events, void *arg)
{
	agent_notify("WATCHDOG=1");
}

static void
agent_events_init(struct agent *a)
{
	static const int	 sigs[4] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	uint64_t		 wd;
	size_t			 i;

	for (i = 0; i < 4; i++) {
		a->sig_ev[i] = evsignal_new(a->base, sigs[i], agent_signal_cb,
		    a);
		if (a->sig_ev[i] == NULL || evsignal_add(a->sig_ev[i],
		    NULL) == -1)
			fatalx("failed to install the handler for signal %d",
			    sigs[i]);
	}

	if ((wd = agent_notify_watchdog_ms()) > 0) {
		a->watchdog_ev = event_new(a->base, -1, EV_PERSIST,
		    agent_watchdog_cb, a);
		if (a->watchdog_ev == NULL)
			fatalx("failed to create the watchdog timer");
		agent_timer_add(a->watchdog_ev, wd);
		log_debug("systemd watchdog: pinging every %llu ms",
		    (unsigned long long)wd);
	}
}

static void
agent_free(struct agent *a)
{
	size_t i;

	agent_conn_free(a);
	agent_hook_shutdown(a);
	for (i = 0; i < 4; i++)
		if (a->sig_ev[i] != NULL)
			event_free(a->sig_ev[i]);
	if (a->watchdog_ev != NULL)
		event_free(a->watchdog_ev);
	SSL_CTX_free(a->ssl_ctx);
	inv_node_free(&a->node);
	conf_agent_free(a->conf);
	free(a->conf);
	event_base_free(a->base);
}

/* -n: prints "configuration OK" or every error; returns the exit status. */
static int
agent_check(const char *path)
{
	struct agent_conf	conf;
	struct conf_errors	errs = { 0, NULL };
	struct inv_node		node;
	SSL_CTX			*ctx;
	char			node_id[PPC_NODE_ID_MAX + 1];
	char			err[PPC_ERRLEN];
	size_t			i;
	int			rc;

	memset(&conf, 0, sizeof(conf));
	rc = agent_load_conf(path, &conf, &ctx, node_id, sizeof(node_id),
	    &node, &errs);
	if (rc == 0) {
		SSL_CTX_free(ctx);
		inv_node_free(&node);
		if (agent_check_cert(&conf, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s: tls: %s\n", path, err);
			rc = -1;
		} else
			printf("configuration OK\n");
	} else
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.lines[i]);
	conf_errors_free(&errs);
	conf_agent_free(&conf);
	return rc == 0 ? 0 : 1;
}

static void
agent_log_start(const struct agent *a)
{
	char	heads[1024];
	size_t	i, off = 0;

	heads[0] = '\0';
	for (i = 0; i < a->conf->nheads && off < sizeof(heads); i++)
		off += (size_t)snprintf(heads + off, sizeof(heads) - off,
		    "%s%s", i > 0 ? ", " : "", a->conf->heads[i]);
	log_info("ppcoord-agent %s starting as node %s: %u GPUs, %u workers, "
	    "head %s", PPCOORD_VERSION, a->node_id, a->node.ngpus,
	    a->node.workers, heads);
}

int
main(int argc, char *argv[])
{
	struct agent		 a;
	struct conf_errors	 errs = { 0, NULL };
	const char		*path = AGENT_CONF_DEFAULT;
	char			 err[PPC_ERRLEN];
	bool			 debug = false, check = false;
	int			 ch;

	while ((ch = getopt(argc, argv, "df:n")) != -1) {
		switch (ch) {
		case 'd':
			debug = true;
			break;
		case 'f':
			path = optarg;
			break;
		case 'n':
			check = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	log_init(argv[0], debug, getenv("NOTIFY_SOCKET") != NULL ||
	    getenv("JOURNAL_STREAM") != NULL);
	if (check)
		return agent_check(path);

	/* A head that goes away mid-write must not kill the agent. */
	signal(SIGPIPE, SIG_IGN);

	memset(&a, 0, sizeof(a));
	if ((a.conf = calloc(1, sizeof(*a.conf))) == NULL)
		fatal("calloc");
	if (agent_load_conf(path, a.conf, &a.ssl_ctx, a.node_id,
	    sizeof(a.node_id), &a.node, &errs) == -1) {
		agent_log_errors(&errs);
		fatalx("invalid configuration in %s", path);
	}
	conf_errors_free(&errs);
	if (agent_check_cert(a.conf, err, sizeof(err)) == -1)
		log_warnx("%s; starting anyway, but the head will likely "
		    "reject this node", err);

	if ((a.base = event_base_new()) == NULL)
		fatalx("failed to create the event loop");
	agent_log_start(&a);
	agent_assign_init(&a);
	if (agent_hook_init(&a) == -1)
		fatalx("failed to create the hook timer");
	agent_conn_init(&a);
	agent_events_init(&a);

	agent_conn_start(&a);
	agent_notify("READY=1");

	if (event_base_dispatch(a.base) == -1)
		fatalx("event loop failed");

	agent_free(&a);
	return 0;
}
