/*
 * Load generator for ppcoord-head: N simulated agents in one process, each
 * with its own TLS connection and node certificate, against a real head
 * started by this program on loopback. It reports the time from the first
 * connect to the last ack, the join rate, the head's CPU time and peak RSS
 * (from /proc), and the time to re-plan and re-push after one node is lost.
 *
 * Before the head, it measures the machine's raw TLS 1.3 handshake rate
 * with the same key type, certificates and client verification, against a
 * minimal libevent + OpenSSL server in a child process: the head's join
 * rate is reported as a fraction of that baseline.
 *
 * Everything is bounded: loopback only, a deadline for every phase, and
 * all child processes are killed on exit.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ca.h"
#include "inv.h"
#include "tls.h"
#include "util.h"
#include "wire.h"

#define BENCH_PHASE_TIMEOUT_S	600
#define BENCH_ADDR		"127.0.0.1"

struct sim_agent {
	struct bufferevent	*bev;
	uint64_t		 generation;	/* last Assignment or Standby */
	uint32_t		 index;
	uint8_t			 state;
};

enum sim_state {
	SIM_IDLE,
	SIM_CONNECTING,
	SIM_WELCOMED,
	SIM_PLACED,		/* received Assignment or Standby */
	SIM_CLOSED,
	SIM_FAILED,
};

struct bench {
	struct event_base	*base;
	SSL_CTX			*ctx;
	X509			*ca_cert;
	EVP_PKEY		*ca_key;
	X509			**certs;
	EVP_PKEY		**keys;
	struct sim_agent	*agents;
	uint32_t		 n;
	uint32_t		 window;	/* handshakes in flight at most */
	double			 rate;		/* joins per second, 0: as fast as the window allows */
	uint16_t		 port;

	/* progress of the current phase */
	uint32_t		 next;		/* next agent to start */
	uint32_t		 in_flight;
	uint32_t		 done;
	uint32_t		 failed;
	uint32_t		 target;	/* done count that ends the phase */
	uint64_t		 want_generation;	/* loss phase: generation to reach */
	bool			 handshake_only;	/* baseline phase */
	struct event		*tick;
	struct event		*deadline;
	uint64_t		 start_ms;
	uint64_t		 first_connect_ms;
	uint64_t		 last_done_ms;
	bool			 timed_out;
};

static volatile pid_t	 child_pid;
/* The callbacks' cbarg is the agent, so they find the bench here. */
static struct bench	*bench_current;
static char		 workdir[256];

static void	bench_start_one(struct bench *, uint32_t);

static void
die(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
	exit(1);
}

static uint64_t
now_ms(void)
{
	return util_now_ms();
}

/* Raises the open-file limit: one descriptor per simulated agent. */
static void
raise_nofile(rlim_t want)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want)
		rl.rlim_max = want;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("cannot raise the open-file limit to %llu: %s; run as root "
		    "or raise `ulimit -n`", (unsigned long long)want,
		    strerror(errno));
}

/* ---- certificates ---- */

static void
bench_make_certs(struct bench *b)
{
	char		 err[PPC_ERRLEN], id[32];
	uint64_t	 t0 = now_ms();
	uint32_t	 i;

	if (ca_init(workdir, err, sizeof(err)) != 0)
		die("%s", err);
	/* An IP literal as id gives the IP SAN that agents verify. */
	if (ca_issue(workdir, BENCH_ADDR, 2, err, sizeof(err)) != 0)
		die("%s", err);
	if (ca_load(workdir, &b->ca_cert, &b->ca_key, err, sizeof(err)) != 0)
		die("%s", err);

	b->certs = calloc(b->n, sizeof(*b->certs));
	b->keys = calloc(b->n, sizeof(*b->keys));
	if (b->certs == NULL || b->keys == NULL)
		die("out of memory");
	for (i = 0; i < b->n; i++) {
		snprintf(id, sizeof(id), "node-%05u", i);
		if (ca_issue_mem(b->ca_cert, b->ca_key, id, 2, &b->certs[i],
		    &b->keys[i], err, sizeof(err)) != 0)
			die("%s", err);
	}
	fprintf(stderr, "loadgen: issued %u node certificates in %.1f s\n",
	    b->n, (now_ms() - t0) / 1000.0);
}

static void
bench_make_ctx(struct bench *b)
{
	char	ca[300], cert[300], key[300], err[PPC_ERRLEN];

	snprintf(ca, sizeof(ca), "%s/ca.pem", workdir);
	snprintf(cert, sizeof(cert), "%s/" BENCH_ADDR ".pem", workdir);
	snprintf(key, sizeof(key), "%s/" BENCH_ADDR ".key", workdir);
	/* The context's own certificate is replaced per connection. */
	b->ctx = tls_client_ctx(ca, cert, key, err, sizeof(err));
	if (b->ctx == NULL)
		die("%s", err);
}

/* ---- /proc readings of the head ---- */

static double
proc_cpu_seconds(pid_t pid)
{
	char			 path[64], buf[2048], *p;
	unsigned long long	 utime, stime;
	FILE			*f;
	int			 i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Fields after the parenthesised command name; utime is field 14. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	p += 2;
	for (i = 3; i < 14; i++) {
		if ((p = strchr(p, ' ')) == NULL)
			return -1;
		p++;
	}
	if (sscanf(p, "%llu %llu", &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Returns VmRSS or VmHWM of pid in KiB. */
static long
proc_status_kib(pid_t pid, const char *field)
{
	char	 path[64], line[256];
	size_t	 flen = strlen(field);
	long	 kib = -1;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kib = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

/* ---- simulated agents ---- */

static void
agent_finish(struct bench *b, struct sim_agent *a, enum sim_state st)
{
	if (a->state == SIM_CONNECTING || a->state == SIM_WELCOMED)
		b->in_flight--;
	a->state = st;
	if (st == SIM_FAILED)
		b->failed++;
}

static void
agent_close(struct bench *b, struct sim_agent *a, enum sim_state st)
{
	if (a->bev != NULL) {
		bufferevent_free(a->bev);	/* also frees the SSL */
		a->bev = NULL;
	}
	agent_finish(b, a, st);
}

static void
phase_check_done(struct bench *b)
{
	if (b->done + b->failed >= b->target)
		event_base_loopbreak(b->base);
}

static void
agent_placed(struct bench *b, struct sim_agent *a, uint64_t generation)
{
	bool	counted;

	a->generation = generation;
	if (a->state != SIM_PLACED) {
		agent_finish(b, a, SIM_PLACED);
		counted = b->want_generation == 0;
	} else
		counted = b->want_generation != 0 &&
		    generation == b->want_generation;
	if (counted) {
		b->done++;
		b->last_done_ms = now_ms();
		phase_check_done(b);
	}
}

static void
agent_read_cb(struct bufferevent *bev, void *arg)
{
	struct sim_agent	*a = arg;
	struct bench		*b = bench_current;
	Ppcoord__Envelope	*env;
	char			 err[PPC_ERRLEN];
	enum wire_result	 r;

	while ((r = wire_read(bufferevent_get_input(bev), WIRE_FRAME_MAX,
	    &env, err, sizeof(err))) == WIRE_FRAME) {
		switch (env->msg_case) {
		case PPCOORD__ENVELOPE__MSG_WELCOME:
			if (a->state == SIM_CONNECTING)
				a->state = SIM_WELCOMED;
			break;
		case PPCOORD__ENVELOPE__MSG_ASSIGNMENT:
			wire_send_ack(bufferevent_get_output(bev),
			    env->assignment->generation, 1, NULL);
			agent_placed(b, a, env->assignment->generation);
			break;
		case PPCOORD__ENVELOPE__MSG_STANDBY:
			wire_send_ack(bufferevent_get_output(bev),
			    env->standby->generation, 1, NULL);
			agent_placed(b, a, env->standby->generation);
			break;
		case PPCOORD__ENVELOPE__MSG_REJECT:
			fprintf(stderr, "loadgen: node-%05u rejected: %s\n",
			    a->index, env->reject->message ?
			    env->reject->message : "(no message)");
			wire_free(env);
			agent_close(b, a, SIM_FAILED);
			phase_check_done(b);
			return;
		default:
			break;
		}
		wire_free(env);
	}
	if (r == WIRE_ERROR) {
		fprintf(stderr, "loadgen: node-%05u: %s\n", a->index, err);
		agent_close(b, a, SIM_FAILED);
		phase_check_done(b);
	}
}

static void
agent_send_hello(struct bench *b, struct sim_agent *a)
{
	struct inv_node	node;
	struct inv_gpu	gpu;

	memset(&node, 0, sizeof(node));
	memset(&gpu, 0, sizeof(gpu));
	snprintf(node.id, sizeof(node.id), "node-%05u", a->index);
	/* Distinct advertised addresses; nothing connects to them. */
	snprintf(node.address, sizeof(node.address), "10.%u.%u.%u",
	    (a->index >> 16) & 0xff, (a->index >> 8) & 0xff, a->index & 0xff);
	node.workers = 1;
	node.ngpus = 1;
	node.gpus = &gpu;
	snprintf(gpu.name, sizeof(gpu.name), "simulated");
	snprintf(gpu.uuid, sizeof(gpu.uuid), "GPU-sim-%05u", a->index);
	gpu.memory_total = 80ULL << 30;
	gpu.memory_free = 80ULL << 30;
	if (wire_send_hello(bufferevent_get_output(a->bev), &node, 0, "") != 0)
		die("wire_send_hello failed");
}

static void
agent_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct sim_agent	*a = arg;
	struct bench		*b = bench_current;

	if (what & BEV_EVENT_CONNECTED) {
		if (b->handshake_only) {
			agent_close(b, a, SIM_CLOSED);
			b->done++;
			b->last_done_ms = now_ms();
			phase_check_done(b);
			return;
		}
		agent_send_hello(b, a);
		return;
	}
	if (a->state == SIM_PLACED && b->want_generation == 0 &&
	    (what & BEV_EVENT_EOF)) {
		agent_close(b, a, SIM_CLOSED);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF | BEV_EVENT_TIMEOUT)) {
		unsigned long	e = bufferevent_get_openssl_error(bev);

		fprintf(stderr, "loadgen: node-%05u: connection %s%s%s\n",
		    a->index, (what & BEV_EVENT_EOF) ? "closed" :
		    (what & BEV_EVENT_TIMEOUT) ? "timed out" : "failed",
		    e ? ": " : "", e ? ERR_reason_error_string(e) : "");
		agent_close(b, a, SIM_FAILED);
		phase_check_done(b);
	}
}

static void
bench_start_one(struct bench *b, uint32_t i)
{
	struct sim_agent	*a = &b->agents[i];
	struct sockaddr_in	 sin;
	char			 err[PPC_ERRLEN];
	SSL			*ssl;

	a->index = i;
	if ((ssl = SSL_new(b->ctx)) == NULL)
		die("SSL_new failed");
	if (SSL_use_certificate(ssl, b->certs[i]) != 1 ||
	    SSL_use_PrivateKey(ssl, b->keys[i]) != 1)
		die("cannot use the certificate of node-%05u", i);
	if (tls_client_set_host(ssl, BENCH_ADDR, err, sizeof(err)) != 0)
		die("%s", err);

	a->bev = bufferevent_openssl_socket_new(b->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (a->bev == NULL)
		die("bufferevent_openssl_socket_new failed");
	bufferevent_openssl_set_allow_dirty_shutdown(a->bev, 1);
	bufferevent_setcb(a->bev, agent_read_cb, NULL, agent_event_cb, a);
	bufferevent_enable(a->bev, EV_READ | EV_WRITE);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(b->port);
	inet_pton(AF_INET, BENCH_ADDR, &sin.sin_addr);
	a->state = SIM_CONNECTING;
	b->in_flight++;
	if (b->first_connect_ms == 0)
		b->first_connect_ms = now_ms();
	if (bufferevent_socket_connect(a->bev, (struct sockaddr *)&sin,
	    sizeof(sin)) != 0) {
		fprintf(stderr, "loadgen: node-%05u: connect failed: %s\n", i,
		    strerror(errno));
		agent_close(b, a, SIM_FAILED);
	}
}

/* Starts agents while the window and the join rate allow. */
static void
bench_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench	*b = arg;
	uint64_t	 allowed = b->n;
	uint32_t	 limit;

	if (b->rate > 0)
		allowed = (uint64_t)((now_ms() - b->start_ms) * b->rate /
		    1000.0) + 1;
	limit = b->target < b->n ? b->target : b->n;
	while (b->next < limit && b->in_flight < b->window &&
	    b->next < allowed)
		bench_start_one(b, b->next++);
}

static void
bench_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench	*b = arg;

	b->timed_out = true;
	event_base_loopbreak(b->base);
}

/* Runs the event loop until the phase's target is met or it times out. */
static void
bench_run_phase(struct bench *b, int timeout_s)
{
	struct timeval	tick = { 0, 1000 };
	struct timeval	limit = { timeout_s, 0 };

	b->tick = event_new(b->base, -1, EV_PERSIST, bench_tick_cb, b);
	b->deadline = evtimer_new(b->base, bench_deadline_cb, b);
	event_add(b->tick, &tick);
	evtimer_add(b->deadline, &limit);
	b->timed_out = false;
	b->start_ms = now_ms();
	bench_tick_cb(-1, 0, b);
	event_base_dispatch(b->base);
	event_free(b->tick);
	event_free(b->deadline);
}

/* ---- baseline server: handshakes only, in a child process ---- */

static void
baseline_event_cb(struct bufferevent *bev, short what, void *arg)
{
	/* Connected, closed or failed: the handshake is over either way. */
	bufferevent_free(bev);
}

static void
baseline_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	SSL_CTX			*ctx = arg;
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(ctx)) == NULL) {
		close(fd);
		return;
	}
	bev = bufferevent_openssl_socket_new(evconnlistener_get_base(l), fd,
	    ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		close(fd);
		return;
	}
	bufferevent_setcb(bev, NULL, NULL, baseline_event_cb, NULL);
	bufferevent_enable(bev, EV_READ);
}

static void
baseline_serve(int lfd)
{
	struct event_base	*base;
	struct evconnlistener	*l;
	SSL_CTX			*ctx;
	char			 ca[300], cert[300], key[300], err[PPC_ERRLEN];

	snprintf(ca, sizeof(ca), "%s/ca.pem", workdir);
	snprintf(cert, sizeof(cert), "%s/" BENCH_ADDR ".pem", workdir);
	snprintf(key, sizeof(key), "%s/" BENCH_ADDR ".key", workdir);
	if ((ctx = tls_server_ctx(ca, cert, key, err, sizeof(err))) == NULL) {
		fprintf(stderr, "loadgen: baseline server: %s\n", err);
		_exit(1);
	}
	base = event_base_new();
	l = evconnlistener_new(base, baseline_accept_cb, ctx,
	    LEV_OPT_CLOSE_ON_FREE, 4096, lfd);
	if (base == NULL || l == NULL)
		_exit(1);
	event_base_dispatch(base);
	_exit(0);
}

static int
listen_loopback(uint16_t *port)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, BENCH_ADDR, &sin.sin_addr);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		die("cannot listen on %s: %s", BENCH_ADDR, strerror(errno));
	evutil_make_socket_nonblocking(fd);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
bench_reset(struct bench *b, uint32_t target)
{
	uint32_t	i;

	for (i = 0; i < b->n; i++)
		if (b->agents[i].bev != NULL)
			agent_close(b, &b->agents[i], SIM_CLOSED);
	memset(b->agents, 0, b->n * sizeof(*b->agents));
	b->next = b->in_flight = b->done = b->failed = 0;
	b->target = target;
	b->want_generation = 0;
	b->first_connect_ms = b->last_done_ms = 0;
}

/* Returns the baseline handshake rate per second. */
static double
bench_baseline(struct bench *b, uint32_t count)
{
	pid_t	pid;
	int	lfd;
	double	rate;

	lfd = listen_loopback(&b->port);
	if ((pid = fork()) == -1)
		die("fork: %s", strerror(errno));
	if (pid == 0)
		baseline_serve(lfd);
	child_pid = pid;
	close(lfd);

	bench_reset(b, count);
	b->handshake_only = true;
	bench_run_phase(b, BENCH_PHASE_TIMEOUT_S);
	b->handshake_only = false;

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	child_pid = 0;
	if (b->timed_out || b->failed > 0)
		die("baseline: %u of %u handshakes done, %u failed%s", b->done,
		    count, b->failed, b->timed_out ? ", timed out" : "");
	rate = b->done * 1000.0 / (double)(b->last_done_ms -
	    b->first_connect_ms);
	bench_reset(b, 0);
	return rate;
}

/* ---- the head ---- */

static pid_t
head_start(struct bench *b, const char *head_bin)
{
	char	 conf[300], log[300], text[2048];
	char	 err[PPC_ERRLEN];
	pid_t	 pid;
	int	 fd, lfd;

	/* Take a free port from the kernel, then hand it to the head. */
	lfd = listen_loopback(&b->port);
	close(lfd);

	snprintf(conf, sizeof(conf), "%s/head.conf", workdir);
	snprintf(log, sizeof(log), "%s/head.log", workdir);
	snprintf(text, sizeof(text),
	    "head = {\n"
	    "  listen = \"%s:%u\";\n"
	    "  control_socket = \"%s/head.sock\";\n"
	    "  state_file = \"%s/plan.state\";\n"
	    "  max_connections = %u;\n"
	    "  max_unauthenticated = %u;\n"
	    "  handshake_timeout = \"60s\";\n"
	    "  hello_timeout = \"60s\";\n"
	    "};\n"
	    "tls = { ca_file = \"%s/ca.pem\"; cert_file = \"%s/" BENCH_ADDR ".pem\";"
	    " key_file = \"%s/" BENCH_ADDR ".key\"; };\n"
	    "cluster = { name = \"bench\"; expected_nodes = %u;"
	    " heartbeat_interval = \"10s\"; node_timeout = \"60s\";"
	    " settle_time = \"0s\"; };\n"
	    "model = { layers = %u; };\n"
	    "plan = { tp_size = 1; order = \"vllm\"; partition = \"even\"; };\n",
	    BENCH_ADDR, b->port, workdir, workdir, b->n + 64, b->n + 64,
	    workdir, workdir, workdir, b->n - 1, b->n);
	if (util_write_file_atomic(conf, text, strlen(text), 0644, err,
	    sizeof(err)) != 0)
		die("%s", err);

	if ((pid = fork()) == -1)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		unsetenv("NOTIFY_SOCKET");
		execl(head_bin, head_bin, "-f", conf, (char *)NULL);
		_exit(127);
	}
	child_pid = pid;
	return pid;
}

/* Waits until the head accepts TCP connections. */
static void
head_wait_listening(struct bench *b, pid_t pid)
{
	struct sockaddr_in	sin;
	uint64_t		deadline = now_ms() + 10000;
	int			fd, status;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(b->port);
	inet_pton(AF_INET, BENCH_ADDR, &sin.sin_addr);
	while (now_ms() < deadline) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			die("the head exited at start; see %s/head.log",
			    workdir);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			close(fd);
			return;
		}
		close(fd);
		usleep(20000);
	}
	die("the head did not listen on port %u within 10 s", b->port);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen -n AGENTS [-r JOINS_PER_S] [-w WINDOW] "
	    "[-b BASELINE_HANDSHAKES] -H HEAD_BINARY\n"
	    "  -n  simulated agents (one TLS connection and certificate each)\n"
	    "  -r  join rate in agents per second; 0 starts them as fast as\n"
	    "      the window allows (default 0)\n"
	    "  -w  TLS handshakes in flight at most (default 256)\n"
	    "  -b  handshakes for the baseline (default min(AGENTS, 2000))\n"
	    "  -H  path of ppcoord-head\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct bench	 b;
	const char	*head_bin = NULL;
	double		 baseline, joins, converged_s, cpu0, cpu1, cpu2, cpu3;
	long		 rss_base, rss_peak;
	uint64_t	 gen, t_loss, replan_ms;
	uint32_t	 i, victim, baseline_n = 0;
	pid_t		 pid;
	int		 ch, status;

	memset(&b, 0, sizeof(b));
	b.window = 256;
	while ((ch = getopt(argc, argv, "n:r:w:b:H:")) != -1) {
		switch (ch) {
		case 'n': b.n = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'r': b.rate = strtod(optarg, NULL); break;
		case 'w': b.window = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'b': baseline_n = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'H': head_bin = optarg; break;
		default: usage();
		}
	}
	if (b.n < 3 || b.n > 100000 || b.window == 0 || head_bin == NULL)
		usage();
	if (baseline_n == 0)
		baseline_n = b.n < 2000 ? b.n : 2000;
	if (baseline_n > b.n)
		baseline_n = b.n;

	signal(SIGPIPE, SIG_IGN);
	raise_nofile(b.n + 256);
	snprintf(workdir, sizeof(workdir), "/tmp/ppcoord-bench.XXXXXX");
	if (mkdtemp(workdir) == NULL)
		die("mkdtemp: %s", strerror(errno));

	bench_current = &b;
	if ((b.base = event_base_new()) == NULL)
		die("event_base_new failed");
	if ((b.agents = calloc(b.n, sizeof(*b.agents))) == NULL)
		die("out of memory");
	bench_make_certs(&b);
	bench_make_ctx(&b);

	baseline = bench_baseline(&b, baseline_n);
	fprintf(stderr, "loadgen: baseline %.0f TLS 1.3 handshakes/s over %u "
	    "connections\n", baseline, baseline_n);

	/* Joins: every agent connects, says Hello, and acks its placement. */
	pid = head_start(&b, head_bin);
	head_wait_listening(&b, pid);
	usleep(200000);
	rss_base = proc_status_kib(pid, "VmRSS");
	cpu0 = proc_cpu_seconds(pid);
	bench_reset(&b, b.n);
	bench_run_phase(&b, BENCH_PHASE_TIMEOUT_S);
	if (b.timed_out || b.failed > 0)
		die("%u of %u agents placed, %u failed%s; head log: %s/head.log",
		    b.done, b.n, b.failed, b.timed_out ? ", timed out" : "",
		    workdir);
	converged_s = (b.last_done_ms - b.first_connect_ms) / 1000.0;
	joins = b.n / converged_s;
	cpu1 = proc_cpu_seconds(pid);
	rss_peak = proc_status_kib(pid, "VmHWM");

	/* Loss: close one assigned agent; the spare takes its stage. */
	gen = 0;
	for (i = 0; i < b.n; i++)
		if (b.agents[i].generation > gen)
			gen = b.agents[i].generation;
	victim = b.n / 2;
	b.want_generation = gen + 1;
	b.done = 0;
	b.target = b.n - 1;
	cpu2 = proc_cpu_seconds(pid);
	t_loss = now_ms();
	agent_close(&b, &b.agents[victim], SIM_CLOSED);
	b.next = b.n;
	bench_run_phase(&b, 120);
	replan_ms = b.last_done_ms - t_loss;
	cpu3 = proc_cpu_seconds(pid);
	if (b.timed_out)
		die("after the loss of node-%05u, %u of %u agents got "
		    "generation %llu; head log: %s/head.log", victim, b.done,
		    b.n - 1, (unsigned long long)b.want_generation, workdir);

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	child_pid = 0;

	fprintf(stderr, "loadgen: head CPU %.2f s for %u joins, %.1f ms for "
	    "the loss; RSS %ld KiB at start, %ld KiB peak\n", cpu1 - cpu0, b.n,
	    (cpu3 - cpu2) * 1000.0, rss_base, rss_peak);
	printf("agents=%u converged_s=%.3f joins_per_s=%.0f "
	    "baseline_handshakes_per_s=%.0f ratio=%.2f rss_per_agent_kib=%.1f "
	    "replan_ms=%llu head_cpu_s=%.2f replan_cpu_ms=%.1f\n", b.n,
	    converged_s, joins, baseline, joins / baseline,
	    (double)(rss_peak - rss_base) / b.n,
	    (unsigned long long)replan_ms, cpu1 - cpu0,
	    (cpu3 - cpu2) * 1000.0);
	return 0;
}
