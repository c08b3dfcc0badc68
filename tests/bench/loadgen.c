/*
 * Load generator for ppcoord-head: N simulated agents in one process, each
 * with its own TLS connection and node certificate, against a real head
 * started by this program on loopback. The agents heartbeat at the interval
 * the head's Welcome gives, as real agents do. It reports the time from the
 * first connect to the last ack, which the head's control socket must
 * then confirm. It also reports the join rate, the head's CPU time and RSS
 * from /proc, the state file write time from the head's log, and the time
 * to re-plan and re-push after one assigned node is lost.
 *
 * Before the head, it measures the machine's raw TLS 1.3 handshake rate
 * with the same key type, certificates and client verification, against a
 * minimal libevent + OpenSSL server in a child process. A baseline
 * handshake counts once the server has verified the client certificate
 * and the client has read one byte the server sent after that, so both
 * sides have done all their TLS work. The head's join rate is reported as
 * a fraction of that baseline.
 *
 * Everything is bounded: loopback only, a deadline for every phase, and
 * all child processes are killed on exit.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
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

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ca.h"
#include "inv.h"
#include "tls.h"
#include "util.h"
#include "wire.h"

#define BENCH_PHASE_TIMEOUT_S	600
#define BENCH_LOSS_TIMEOUT_S	120
#define BENCH_ACK_TIMEOUT_S	60
#define BENCH_ADDR		"127.0.0.1"

/* The head's defaults; agents heartbeat at the interval Welcome gives. */
#define BENCH_HEARTBEAT_MS	2000
#define BENCH_NODE_TIMEOUT_MS	10000

/* Envelope field 5 (assignment) and Assignment field 1 (generation), as
 * protobuf tags: (field << 3) | wire type. */
#define TAG_ENVELOPE_ASSIGNMENT	((5u << 3) | 2u)
#define TAG_ASSIGNMENT_GEN	((1u << 3) | 0u)

enum sim_state {
	SIM_IDLE,
	SIM_CONNECTING,		/* TCP connect, TLS handshake, Hello sent */
	SIM_WELCOMED,
	SIM_PLACED,		/* received and acked Assignment or Standby */
	SIM_CLOSED,
	SIM_FAILED,
};

struct sim_agent {
	struct bufferevent	*bev;
	uint64_t		 generation;	/* last Assignment or Standby */
	uint64_t		 skip_gen;	/* generation of the frame skipped */
	uint64_t		 hb_ms;		/* last heartbeat sent */
	uint32_t		 skip;		/* bytes of an Assignment to drop */
	uint32_t		 index;
	uint8_t			 state;
	bool			 assigned;	/* last placement: an Assignment */
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
	uint32_t		 plan_nodes;	/* expected_nodes; the rest are spares */
	uint32_t		 window;	/* connections before Welcome, at most */
	double			 rate;		/* joins per second, 0: as fast as the window allows */
	uint16_t		 port;
	uint32_t		 hb_interval_ms;	/* from Welcome */
	struct event		*hb;

	/* progress of the current phase */
	uint32_t		 next;		/* next agent to start */
	uint32_t		 in_flight;
	uint32_t		 done;
	uint32_t		 failed;
	uint32_t		 target;	/* done count that ends the phase */
	uint64_t		 want_generation;	/* loss phase: generation to reach */
	pid_t			 head_pid;
	uint64_t		 spare_ms;	/* loss phase: a spare's Assignment */
	double			 spare_cpu;	/* the head's CPU seconds then */
	bool			 handshake_only;	/* baseline phase */
	bool			 tearing_down;
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

/* Wall-clock milliseconds, comparable with the head's log timestamps. */
static uint64_t
wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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

/* Returns the CPU time of pid's main thread in seconds, to the
 * nanosecond (/proc/PID/schedstat); the head runs one thread. */
static double
proc_cpu_seconds(pid_t pid)
{
	char			 path[64];
	unsigned long long	 ns;
	FILE			*f;
	int			 n;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fscanf(f, "%llu", &ns);
	fclose(f);
	return n == 1 ? (double)ns / 1e9 : -1;
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
	if (a->state == SIM_CONNECTING)
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

/* An Assignment or Standby arrived whole and its ack is queued. The join
 * phase counts an agent's first placement; the loss phase counts the
 * agents that reached the new generation. */
static void
agent_placed(struct bench *b, struct sim_agent *a, uint64_t generation,
    bool assigned)
{
	bool	counted, was_assigned = a->assigned;

	wire_send_ack(bufferevent_get_output(a->bev), generation, 1, NULL);
	a->generation = generation;
	a->assigned = assigned;
	if (a->state != SIM_PLACED) {
		agent_finish(b, a, SIM_PLACED);
		counted = b->want_generation == 0;
	} else
		counted = b->want_generation != 0 &&
		    generation == b->want_generation;
	/* The spare that takes the lost node's stages: the update that the
	 * re-push must deliver at once. */
	if (counted && b->want_generation != 0 && assigned && !was_assigned &&
	    b->spare_ms == 0) {
		b->spare_ms = now_ms();
		b->spare_cpu = proc_cpu_seconds(b->head_pid);
	}
	if (counted) {
		b->done++;
		b->last_done_ms = now_ms();
		phase_check_done(b);
	}
}

static int
read_varint(const uint8_t *p, size_t len, uint64_t *v)
{
	size_t	i;

	*v = 0;
	for (i = 0; i < len && i < 10; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0)
			return (int)i + 1;
	}
	return -1;
}

/*
 * Takes an Assignment frame's generation from its first bytes and drops
 * the rest as it arrives. A real agent decodes the whole stage table;
 * one process decoding 10,000 tables of 10,000 stages would time the
 * load generator, not the head. Returns 1 when the frame in `in` is an
 * Assignment (its header consumed), 0 when it is another message, -1
 * when it is malformed.
 */
static int
agent_skip_assignment(struct sim_agent *a, struct evbuffer *in,
    uint32_t frame)
{
	uint8_t		 buf[WIRE_HEADER_LEN + 24];
	uint64_t	 body, gen;
	size_t		 have, off = WIRE_HEADER_LEN;
	ssize_t		 got;
	int		 k;

	if ((got = evbuffer_copyout(in, buf, sizeof(buf))) <= 0)
		return 0;
	have = (size_t)got;
	/* Wait for the whole frame or enough of its start to parse. */
	if (have < sizeof(buf) && have < (size_t)frame + WIRE_HEADER_LEN)
		return 0;
	if (have < WIRE_HEADER_LEN + 1 || buf[off] != TAG_ENVELOPE_ASSIGNMENT)
		return 0;
	off++;
	if ((k = read_varint(buf + off, have - off, &body)) < 0)
		return -1;
	off += (size_t)k;
	if (body + (off - WIRE_HEADER_LEN) != frame)
		return -1;
	if (off >= have || buf[off] != TAG_ASSIGNMENT_GEN)
		return -1;
	off++;
	if ((k = read_varint(buf + off, have - off, &gen)) < 0)
		return -1;
	a->skip_gen = gen;
	a->skip = frame + WIRE_HEADER_LEN;
	return 1;
}

/* Decodes the frames in the input; Assignments are skipped as above. */
static void
agent_read_cb(struct bufferevent *bev, void *arg)
{
	struct sim_agent	*a = arg;
	struct bench		*b = bench_current;
	struct evbuffer		*in = bufferevent_get_input(bev);
	Ppcoord__Envelope	*env;
	char			 err[PPC_ERRLEN];
	enum wire_result	 r;
	uint8_t			 hdr[WIRE_HEADER_LEN];
	uint32_t		 frame;
	size_t			 len;
	int			 k;

	if (b->handshake_only) {
		/* The baseline server's byte: it verified our certificate.
		 * The connection stays open, as an agent's does, until the
		 * phase ends. */
		evbuffer_drain(in, evbuffer_get_length(in));
		if (a->state != SIM_CONNECTING)
			return;
		agent_finish(b, a, SIM_PLACED);
		b->done++;
		b->last_done_ms = now_ms();
		phase_check_done(b);
		return;
	}
	for (;;) {
		if (a->skip > 0) {
			len = evbuffer_get_length(in);
			if (len > a->skip)
				len = a->skip;
			evbuffer_drain(in, len);
			a->skip -= (uint32_t)len;
			if (a->skip > 0)
				return;
			agent_placed(b, a, a->skip_gen, true);
			if (a->bev == NULL)
				return;
			continue;
		}
		if (evbuffer_copyout(in, hdr, sizeof(hdr)) != sizeof(hdr))
			return;
		frame = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
		    (uint32_t)hdr[2] << 8 | hdr[3];
		if ((k = agent_skip_assignment(a, in, frame)) == 1)
			continue;
		if (k == -1) {
			snprintf(err, sizeof(err), "malformed Assignment");
			break;
		}
		if ((r = wire_read(in, WIRE_FRAME_MAX, &env, err,
		    sizeof(err))) != WIRE_FRAME) {
			if (r == WIRE_MORE)
				return;
			break;
		}
		switch (env->msg_case) {
		case PPCOORD__ENVELOPE__MSG_WELCOME:
			if (a->state == SIM_CONNECTING) {
				agent_finish(b, a, SIM_WELCOMED);
				a->hb_ms = now_ms();
			}
			if (env->welcome->heartbeat_interval_ms > 0)
				b->hb_interval_ms =
				    env->welcome->heartbeat_interval_ms;
			break;
		case PPCOORD__ENVELOPE__MSG_STANDBY:
			agent_placed(b, a, env->standby->generation, false);
			break;
		case PPCOORD__ENVELOPE__MSG_REJECT:
		case PPCOORD__ENVELOPE__MSG_REVOKE:
			fprintf(stderr, "loadgen: node-%05u: %s: %s\n",
			    a->index, wire_msg_name(env),
			    env->msg_case == PPCOORD__ENVELOPE__MSG_REJECT ?
			    env->reject->message : env->revoke->reason);
			wire_free(env);
			agent_close(b, a, SIM_FAILED);
			phase_check_done(b);
			return;
		default:
			break;
		}
		wire_free(env);
		if (a->bev == NULL)
			return;
	}
	fprintf(stderr, "loadgen: node-%05u: %s\n", a->index, err);
	agent_close(b, a, SIM_FAILED);
	phase_check_done(b);
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

/* Every close by the head is a failure: no phase expects one. */
static void
agent_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct sim_agent	*a = arg;
	struct bench		*b = bench_current;
	unsigned long		 e;

	if (what & BEV_EVENT_CONNECTED) {
		if (!b->handshake_only)
			agent_send_hello(b, a);
		return;
	}
	if (b->tearing_down)
		return;
	e = bufferevent_get_openssl_error(bev);
	fprintf(stderr, "loadgen: node-%05u: connection %s%s%s\n",
	    a->index, (what & BEV_EVENT_EOF) ? "closed by the server" :
	    (what & BEV_EVENT_TIMEOUT) ? "timed out" : "failed",
	    e ? ": " : "", e ? ERR_reason_error_string(e) : "");
	agent_close(b, a, SIM_FAILED);
	phase_check_done(b);
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

/* Sends each welcomed agent's heartbeat when due, as the agent does. */
static void
bench_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench		*b = arg;
	struct sim_agent	*a;
	uint64_t		 now = now_ms();
	uint32_t		 i;

	for (i = 0; i < b->n; i++) {
		a = &b->agents[i];
		if (a->bev == NULL || a->state < SIM_WELCOMED ||
		    now - a->hb_ms < b->hb_interval_ms)
			continue;
		a->hb_ms = now;
		wire_send_heartbeat(bufferevent_get_output(a->bev),
		    a->generation);
	}
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
	if (b->done + b->failed < b->target)
		event_base_dispatch(b->base);
	event_free(b->tick);
	event_free(b->deadline);
}

/* Runs the event loop (heartbeats, acks) for ms milliseconds. */
static void
bench_idle(struct bench *b, unsigned ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(b->base, &tv);
	event_base_dispatch(b->base);
}

/* ---- baseline server: handshakes only, in a child process ---- */

static void
baseline_event_cb(struct bufferevent *bev, short what, void *arg)
{
	static const char	one = '1';

	/* The handshake is done and the client certificate verified: tell
	 * the client with one byte, then wait for it to close. */
	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_write(bev, &one, 1);
		return;
	}
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
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_setcb(bev, NULL, NULL, baseline_event_cb, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* The head's TLS server context, the same accept path through
 * evconnlistener and bufferevent_openssl, and nothing else. */
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
	    LEV_OPT_CLOSE_ON_FREE, -1, lfd);
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

	b->tearing_down = true;
	for (i = 0; i < b->n; i++)
		if (b->agents[i].bev != NULL)
			agent_close(b, &b->agents[i], SIM_CLOSED);
	b->tearing_down = false;
	memset(b->agents, 0, b->n * sizeof(*b->agents));
	b->next = b->in_flight = b->done = b->failed = 0;
	b->target = target;
	b->want_generation = 0;
	b->first_connect_ms = b->last_done_ms = 0;
}

/* Returns the baseline handshake rate per second, and the server's CPU
 * time per handshake in *server_ms. */
static double
bench_baseline(struct bench *b, uint32_t count, double *server_ms)
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

	*server_ms = proc_cpu_seconds(pid) * 1000.0 /
	    (b->done > 0 ? b->done : 1);
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

	/* expected_nodes is at least one short of the agents, so the last
	 * ones to join are spares, and one takes over in the loss phase. Each
	 * simulated node has one GPU and gets one stage, so the model has
	 * about one layer per stage. */
	snprintf(conf, sizeof(conf), "%s/head.conf", workdir);
	snprintf(log, sizeof(log), "%s/head.log", workdir);
	snprintf(text, sizeof(text),
	    "head = {\n"
	    "  listen = \"%s:%u\";\n"
	    "  control_socket = \"%s/head.sock\";\n"
	    "  state_file = \"%s/plan.state\";\n"
	    "  max_connections = %u;\n"
	    "  max_unauthenticated = %u;\n"
	    "};\n"
	    "tls = { ca_file = \"%s/ca.pem\"; cert_file = \"%s/" BENCH_ADDR ".pem\";"
	    " key_file = \"%s/" BENCH_ADDR ".key\"; };\n"
	    "cluster = { name = \"bench\"; expected_nodes = %u;"
	    " heartbeat_interval = \"%ums\"; node_timeout = \"%ums\";"
	    " settle_time = \"0s\"; };\n"
	    "model = { layers = %u; };\n"
	    "plan = { tp_size = 1; order = \"vllm\"; partition = \"even\"; };\n",
	    BENCH_ADDR, b->port, workdir, workdir, b->n + 64,
	    b->window + 64 > 1024 ? b->window + 64 : 1024,
	    workdir, workdir, workdir, b->plan_nodes, BENCH_HEARTBEAT_MS,
	    BENCH_NODE_TIMEOUT_MS, b->plan_nodes + 1);
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

/* Returns the head's status JSON from its control socket, or NULL. */
static json_t *
head_status(void)
{
	struct sockaddr_un	 sun;
	json_error_t		 jerr;
	json_t			*j;
	char			*text = NULL, *p;
	size_t			 len = 0, cap = 0;
	ssize_t			 r;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/head.sock",
	    workdir) >= (int)sizeof(sun.sun_path))
		return NULL;
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    write(fd, "status\n", 7) != 7) {
		close(fd);
		return NULL;
	}
	for (;;) {
		if (cap - len < 65536) {
			cap = cap * 2 + 65536;
			if ((p = realloc(text, cap)) == NULL)
				die("out of memory");
			text = p;
		}
		if ((r = read(fd, text + len, cap - len)) <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	j = json_loadb(text, len, 0, &jerr);
	free(text);
	return j;
}

/*
 * Counts, from the head's own status, the connected nodes whose
 * acked_generation is `generation`: the acks the head has received, not
 * the ones the load generator sent.
 */
static uint32_t
head_acked(uint64_t generation, uint64_t *head_gen)
{
	json_t		*st, *nodes, *node;
	size_t		 i;
	uint32_t	 acked = 0;

	if ((st = head_status()) == NULL)
		return 0;
	*head_gen = (uint64_t)json_integer_value(json_object_get(st,
	    "generation"));
	nodes = json_object_get(st, "nodes");
	json_array_foreach(nodes, i, node) {
		if (json_is_true(json_object_get(node, "connected")) &&
		    (uint64_t)json_integer_value(json_object_get(node,
		    "acked_generation")) == generation)
			acked++;
	}
	json_decref(st);
	return acked;
}

/* Waits until the head has `want` acks of generation; returns the
 * milliseconds that took, or dies. */
static uint64_t
head_wait_acks(struct bench *b, uint64_t generation, uint32_t want)
{
	uint64_t	 t0 = now_ms(), head_gen = 0;
	uint32_t	 acked = 0;

	while (now_ms() - t0 < BENCH_ACK_TIMEOUT_S * 1000) {
		if ((acked = head_acked(generation, &head_gen)) >= want)
			return now_ms() - t0;
		bench_idle(b, 100);
	}
	die("the head recorded %u of %u acks of generation %llu (it is at "
	    "generation %llu); head log: %s/head.log", acked, want,
	    (unsigned long long)generation, (unsigned long long)head_gen,
	    workdir);
	return 0;
}

/* ---- the head's log ---- */

/* Parses the head's "2026-12-04T20:12:05.123Z" log timestamp. */
static uint64_t
log_line_ms(const char *line)
{
	struct tm	tm;
	int		ms;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
	    &ms) != 7)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (uint64_t)timegm(&tm) * 1000 + (uint64_t)ms;
}

/* Returns the head's log from byte `from` on, NUL-terminated. */
static char *
log_read(size_t from)
{
	char	 path[300], *text;
	FILE	*f;
	long	 size;
	size_t	 n;

	snprintf(path, sizeof(path), "%s/head.log", workdir);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	if (size < 0 || (size_t)size < from) {
		fclose(f);
		return NULL;
	}
	fseek(f, (long)from, SEEK_SET);
	if ((text = malloc((size_t)size - from + 1)) == NULL)
		die("out of memory");
	n = fread(text, 1, (size_t)size - from, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static size_t
log_size(void)
{
	char		path[300];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/head.log", workdir);
	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* Finds the last line after byte `from` that contains `what`; returns a
 * copy of it, or NULL. */
static char *
log_find(size_t from, const char *what)
{
	char	*text, *hit = NULL, *p, *line, *copy = NULL;
	size_t	 len;

	if ((text = log_read(from)) == NULL)
		return NULL;
	for (p = text; (p = strstr(p, what)) != NULL; p++)
		hit = p;
	if (hit != NULL) {
		for (line = hit; line > text && line[-1] != '\n'; line--)
			;
		len = strcspn(line, "\n");
		if ((copy = malloc(len + 1)) == NULL)
			die("out of memory");
		memcpy(copy, line, len);
		copy[len] = '\0';
	}
	free(text);
	return copy;
}

/* Returns the number that follows `key` in the last line after `from`
 * containing `what`, or -1. */
static double
log_number(size_t from, const char *what, const char *key)
{
	char	*line, *p;
	double	 v = -1;

	if ((line = log_find(from, what)) == NULL)
		return -1;
	if ((p = strstr(line, key)) != NULL)
		v = strtod(p + strlen(key), NULL);
	free(line);
	return v;
}

/* ---- phases ---- */

struct loss_result {
	uint64_t	 wall_ms;	/* head's loss log line to the re-push */
	double		 cpu_ms;	/* head CPU over the same span */
	uint64_t	 all_ms;	/* loss line to the last receipt */
	double		 all_extra_cpu_ms;	/* head CPU over that span
						   and one more heartbeat
						   interval, beyond the
						   heartbeats */
	long		 deferred;	/* updates sent in place of a
					   heartbeat, or -1 */
	double		 idle_cpu_ms_per_s;	/* heartbeats alone, before */
	int64_t		 sync_ms;	/* loss line to "queued" line, or -1 */
	uint64_t	 close_to_loss_ms;
};

/* Polls the head's log for the loss of the victim; samples the head's CPU
 * time at once when it appears. */
struct loss_watch {
	struct bench	*b;
	pid_t		 pid;
	size_t		 from;
	char		 needle[64];
	uint64_t	 lost_wall_ms;
	double		 cpu_at_loss;
	struct event	*ev;
};

static void
loss_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loss_watch	*w = arg;
	char			*line;

	if (w->lost_wall_ms != 0 || log_size() <= w->from)
		return;
	if ((line = log_find(w->from, w->needle)) == NULL)
		return;
	w->cpu_at_loss = proc_cpu_seconds(w->pid);
	w->lost_wall_ms = log_line_ms(line);
	free(line);
	event_del(w->ev);
}

/*
 * Closes one assigned agent as a crash would and times the head's
 * re-plan and re-push. The head waits node_timeout for a reconnect, so
 * the times run from its log line that declares the node lost. The
 * re-push ends when every update that the head sends at once has
 * arrived: every agent's, or only the spare's when the head sends the
 * others' new generation in place of their heartbeats. A second span
 * ends when every agent has the new generation. Its CPU time is taken
 * one heartbeat interval later, because the acks of the last updates
 * and the heartbeats that those updates replace may fall after the last
 * receipt.
 */
static void
bench_loss(struct bench *b, pid_t pid, struct loss_result *res)
{
	struct loss_watch	 w;
	struct timeval		 poll = { 0, 1000 };
	uint64_t		 gen = 0, t_close, t_done, t_spare, t_after;
	uint32_t		 i, victim = UINT32_MAX;
	double			 cpu_close, cpu_done, cpu_after, idle_rate;
	char			*line, *p;

	for (i = 0; i < b->n; i++)
		if (b->agents[i].generation > gen)
			gen = b->agents[i].generation;
	/* An assigned agent from the middle of the plan. */
	for (i = 0; i < b->n && victim == UINT32_MAX; i++)
		if (b->agents[(b->n / 2 + i) % b->n].assigned)
			victim = (b->n / 2 + i) % b->n;
	if (victim == UINT32_MAX)
		die("no assigned agent to lose");

	memset(&w, 0, sizeof(w));
	w.b = b;
	w.pid = pid;
	w.from = log_size();
	snprintf(w.needle, sizeof(w.needle), "node node-%05u lost", victim);
	w.ev = event_new(b->base, -1, EV_PERSIST, loss_watch_cb, &w);
	event_add(w.ev, &poll);

	b->want_generation = gen + 1;
	b->spare_ms = 0;
	b->done = 0;
	b->target = b->n - 1;
	b->next = b->n;
	t_close = wall_ms();
	cpu_close = proc_cpu_seconds(pid);
	agent_close(b, &b->agents[victim], SIM_CLOSED);
	bench_run_phase(b, BENCH_LOSS_TIMEOUT_S);
	t_done = wall_ms() - (now_ms() - b->last_done_ms);
	t_spare = wall_ms() - (now_ms() - b->spare_ms);
	cpu_done = proc_cpu_seconds(pid);
	bench_idle(b, b->hb_interval_ms);
	cpu_after = proc_cpu_seconds(pid);
	t_after = wall_ms();
	event_free(w.ev);
	if (b->timed_out || b->failed > 0)
		die("after the loss of node-%05u, %u of %u agents got "
		    "generation %llu, %u failed%s; head log: %s/head.log",
		    victim, b->done, b->n - 1,
		    (unsigned long long)b->want_generation, b->failed,
		    b->timed_out ? ", timed out" : "", workdir);
	if (w.lost_wall_ms == 0)
		loss_watch_cb(-1, 0, &w);
	if (w.lost_wall_ms == 0)
		die("no \"%s\" line in %s/head.log", w.needle, workdir);
	if (b->spare_ms == 0)
		die("after the loss of node-%05u no spare got an Assignment",
		    victim);
	res->close_to_loss_ms = w.lost_wall_ms - t_close;
	/* Until the loss the head only exchanges heartbeats, at the rate
	 * that also runs beside the re-push. */
	idle_rate = res->close_to_loss_ms > 0 ?
	    (w.cpu_at_loss - cpu_close) * 1e3 / res->close_to_loss_ms : 0;
	res->idle_cpu_ms_per_s = idle_rate * 1000.0;

	/* The head's own work before it yields: re-plan, state file, and
	 * every Assignment and Standby queued, and the count it defers. */
	res->sync_ms = -1;
	res->deferred = -1;
	if ((line = log_find(w.from, "queued for every connected node")) !=
	    NULL) {
		res->sync_ms = (int64_t)log_line_ms(line) -
		    (int64_t)w.lost_wall_ms;
		if ((p = strstr(line, "changed stages only; ")) != NULL)
			res->deferred = strtol(p + 21, NULL, 10);
		free(line);
	}
	if (res->deferred > 0 && (uint32_t)res->deferred != b->n - 2)
		fprintf(stderr, "loadgen: the head deferred %ld updates, "
		    "expected %u (every agent but the spare)\n",
		    res->deferred, b->n - 2);

	res->all_ms = t_done - w.lost_wall_ms;
	res->all_extra_cpu_ms = (cpu_after - w.cpu_at_loss) * 1000.0 -
	    idle_rate * (double)(t_after - w.lost_wall_ms);
	if (res->deferred > 0) {
		res->wall_ms = t_spare - w.lost_wall_ms;
		res->cpu_ms = (b->spare_cpu - w.cpu_at_loss) * 1000.0;
	} else {
		res->wall_ms = res->all_ms;
		res->cpu_ms = (cpu_done - w.cpu_at_loss) * 1000.0;
	}
	head_wait_acks(b, b->want_generation, b->n - 1);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen -n AGENTS [-e PLAN_NODES] [-r JOINS_PER_S] "
	    "[-w WINDOW] [-b BASELINE_HANDSHAKES] -H HEAD_BINARY\n"
	    "  -n  simulated agents (one TLS connection and certificate each)\n"
	    "  -e  nodes in the plan, the head's expected_nodes; the other\n"
	    "      agents are spares (default AGENTS - 1)\n"
	    "  -r  join rate in agents per second; 0 starts them as fast as\n"
	    "      the window allows (default 0)\n"
	    "  -w  connections before Welcome at most, which includes the\n"
	    "      TLS handshake (default 256)\n"
	    "  -b  handshakes for the baseline (default min(AGENTS, 2000))\n"
	    "  -H  path of ppcoord-head\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct bench		 b;
	struct loss_result	 loss;
	struct timeval		 hb_tick = { 0, 100000 };
	const char		*head_bin = NULL;
	double			 baseline, baseline0, baseline1, joins;
	double			 converged_s, cpu0, cpu1;
	double			 server_ms0, server_ms1, server_ms, join_ms;
	double			 persist_join_ms, persist_loss_ms, plan_ms;
	long			 rss_base, rss_peak, rss_steady;
	uint64_t		 gen, ack_check_ms;
	size_t			 log_at_loss;
	uint32_t		 i, baseline_n = 0;
	pid_t			 pid;
	int			 ch, status;

	memset(&b, 0, sizeof(b));
	b.window = 256;
	b.hb_interval_ms = BENCH_HEARTBEAT_MS;
	while ((ch = getopt(argc, argv, "n:e:r:w:b:H:")) != -1) {
		switch (ch) {
		case 'n': b.n = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'e': b.plan_nodes = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'r': b.rate = strtod(optarg, NULL); break;
		case 'w': b.window = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'b': baseline_n = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'H': head_bin = optarg; break;
		default: usage();
		}
	}
	if (b.n < 3 || b.n > 100000 || b.window == 0 || head_bin == NULL)
		usage();
	if (b.plan_nodes == 0)
		b.plan_nodes = b.n - 1;
	if (b.plan_nodes >= b.n)
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

	/* The baseline runs before and after the head, and the ratio uses
	 * their mean, so that a neighbour's load on a shared machine shows
	 * as a gap between the two instead of skewing the ratio unseen. */
	baseline0 = bench_baseline(&b, baseline_n, &server_ms0);
	fprintf(stderr, "loadgen: baseline %.0f TLS 1.3 handshakes/s over %u "
	    "connections\n", baseline0, baseline_n);

	/* Joins: every agent connects, sends Hello, and acks its placement. */
	pid = head_start(&b, head_bin);
	b.head_pid = pid;
	head_wait_listening(&b, pid);
	usleep(200000);
	rss_base = proc_status_kib(pid, "VmRSS");
	cpu0 = proc_cpu_seconds(pid);
	b.hb = event_new(b.base, -1, EV_PERSIST, bench_heartbeat_cb, &b);
	event_add(b.hb, &hb_tick);
	bench_reset(&b, b.n);
	bench_run_phase(&b, BENCH_PHASE_TIMEOUT_S);
	if (b.timed_out || b.failed > 0)
		die("%u of %u agents placed, %u failed%s; head log: %s/head.log",
		    b.done, b.n, b.failed, b.timed_out ? ", timed out" : "",
		    workdir);
	converged_s = (b.last_done_ms - b.first_connect_ms) / 1000.0;
	joins = b.n / converged_s;
	cpu1 = proc_cpu_seconds(pid);
	gen = 0;
	for (i = 0; i < b.n; i++)
		if (b.agents[i].generation > gen)
			gen = b.agents[i].generation;
	ack_check_ms = head_wait_acks(&b, gen, b.n);
	rss_peak = proc_status_kib(pid, "VmHWM");
	bench_idle(&b, 1000);
	rss_steady = proc_status_kib(pid, "VmRSS");
	persist_join_ms = log_number(0, "state file", " written in ");

	/* Loss: close one assigned agent; the spare takes its stage. */
	log_at_loss = log_size();
	bench_loss(&b, pid, &loss);
	persist_loss_ms = log_number(log_at_loss, "state file", " written in ");
	plan_ms = log_number(log_at_loss, "plan generation", "computed in ") *
	    1000.0;

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	child_pid = 0;
	event_free(b.hb);

	baseline1 = bench_baseline(&b, baseline_n, &server_ms1);
	fprintf(stderr, "loadgen: baseline after the head %.0f TLS 1.3 "
	    "handshakes/s\n", baseline1);
	baseline = (baseline0 + baseline1) / 2;

	/* CPU per join against CPU per handshake: the same comparison,
	 * free of the neighbours' load that moves the rates. */
	server_ms = (server_ms0 + server_ms1) / 2;
	join_ms = (cpu1 - cpu0) * 1000.0 / b.n;

	fprintf(stderr, "loadgen: head CPU %.2f s for %u joins; acks checked "
	    "on the head in %llu ms; RSS %ld KiB at start, %ld KiB steady, "
	    "%ld KiB peak; loss declared %llu ms after the close\n",
	    cpu1 - cpu0, b.n, (unsigned long long)ack_check_ms, rss_base,
	    rss_steady, rss_peak, (unsigned long long)loss.close_to_loss_ms);
	printf("agents=%u plan_nodes=%u converged_s=%.3f joins_per_s=%.0f "
	    "baseline_handshakes_per_s=%.0f ratio=%.2f rss_per_agent_kib=%.1f "
	    "replan_ms=%llu replan_cpu_ms=%.1f state_write_ms=%.1f "
	    "head_cpu_s=%.2f rss_steady_per_agent_kib=%.1f plan_ms=%.1f "
	    "state_write_join_ms=%.1f baseline_before=%.0f "
	    "baseline_after=%.0f idle_cpu_ms_per_s=%.1f "
	    "server_cpu_ms_per_handshake=%.3f head_cpu_ms_per_join=%.3f "
	    "cpu_ratio=%.2f replan_sync_ms=%lld deferred_updates=%ld "
	    "generation_all_ms=%llu generation_all_extra_cpu_ms=%.1f\n",
	    b.n, b.plan_nodes,
	    converged_s, joins, baseline, joins / baseline,
	    (double)(rss_peak - rss_base) / b.n,
	    (unsigned long long)loss.wall_ms, loss.cpu_ms, persist_loss_ms,
	    cpu1 - cpu0, (double)(rss_steady - rss_base) / b.n, plan_ms,
	    persist_join_ms, baseline0, baseline1, loss.idle_cpu_ms_per_s,
	    server_ms, join_ms, server_ms / join_ms, (long long)loss.sync_ms,
	    loss.deferred, (unsigned long long)loss.all_ms,
	    loss.all_extra_cpu_ms);
	return 0;
}
