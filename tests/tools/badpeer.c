/*
 * badpeer: a hostile agent for the misuse tests. It connects to a head,
 * performs one scenario of bad input, prints the head's reply and exits. Every scenario is bounded in count and in time (-t).
 *
 *   badpeer -s SCENARIO [-c CERT -k KEY] [-a CA] [-2] [-t SECONDS]
 *       [-n COUNT] [-w SECONDS] [-j] [-i NODE_ID] [-A ADDRESS] [-g GPUS]
 *       [-m BYTES] [-W WORKERS] [-V VERSION] [-G GENERATION] [-E MESSAGE]
 *       HOST:PORT
 *
 * The last line of output is always "result: ..." and names the head's
 * reply: "reject REASON", "alert DESCRIPTION", "closed", "open",
 * "welcome", or a count for the scenarios with several connections.
 * Exit status: 0 when the scenario ran (whatever the head replied), 1 when
 * it could not start (no TCP connection, unreadable files), 2 bad usage.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
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

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls.h"
#include "util.h"
#include "wire.h"

#define BP_DEFAULT_TIMEOUT_S	10
#define BP_MAX_COUNT		100000000u	/* heartbeats */
#define BP_MAX_CONNS		4000		/* slowloris and conns */
#define BP_MAX_ACKS		1000000		/* built in memory at once */
#define BP_READ_SLICE_MS	100
#define BP_FLOOD_BATCH		1000		/* heartbeats per write */
#define BP_SETTLE_MS		300		/* read after the handshake */

enum bp_scenario {
	BP_PLAINTEXT,
	BP_HTTP,
	BP_SLOWLORIS,
	BP_HELLO,
	BP_DOUBLE_HELLO,
	BP_LEN_4G,
	BP_LEN_1M1,
	BP_TRUNCATED,
	BP_UNKNOWN,
	BP_FLOOD,
	BP_CONNS,
	BP_ACK,
	BP_HEARTBEAT,
};

static const struct {
	const char		*name;
	enum bp_scenario	 scenario;
	const char		*help;
} bp_scenarios[] = {
	{ "plaintext", BP_PLAINTEXT, "plain text bytes on the TLS port" },
	{ "http", BP_HTTP, "an HTTP GET on the TLS port" },
	{ "slowloris", BP_SLOWLORIS, "-n connections, each sending half a "
	    "ClientHello and holding" },
	{ "hello", BP_HELLO, "one Hello (with -i -A -g -m -W -V overrides); "
	    "with -w, the connection is held that long once joined" },
	{ "double-hello", BP_DOUBLE_HELLO, "a Hello, then a second Hello "
	    "after the Welcome" },
	{ "len-4g", BP_LEN_4G, "a length prefix of 4 GiB - 1" },
	{ "len-1m1", BP_LEN_1M1, "a length prefix of 1 MiB + 1" },
	{ "truncated", BP_TRUNCATED, "half a frame, then close" },
	{ "unknown", BP_UNKNOWN, "an Envelope with only an unknown field" },
	{ "flood", BP_FLOOD, "a Hello, then -n heartbeats as fast as "
	    "possible" },
	{ "conns", BP_CONNS, "-n TLS connections held -w seconds without "
	    "a Hello" },
	{ "heartbeat", BP_HEARTBEAT, "one Heartbeat (after a Hello with -j)" },
	{ "ack", BP_ACK, "a Hello, then -n AssignmentAcks of generation -G "
	    "(default 2^64 - 1), failed ones with -E MESSAGE" },
};

struct bp_opts {
	enum bp_scenario	 scenario;
	const char		*scenario_name;
	const char		*target;
	char			 host[256];
	uint16_t		 port;
	const char		*cert;
	const char		*key;
	const char		*ca;
	bool			 tls12;
	bool			 join;		/* -j: Hello before the bad frame */
	unsigned		 timeout_s;
	unsigned		 hold_s;
	bool			 hold_given;	/* -w: hello keeps its place */
	unsigned long		 count;
	const char		*node_id;	/* default: the certificate's */
	const char		*address;
	unsigned long		 gpus;
	uint64_t		 memory;
	long			 workers;	/* -1: the GPU count */
	unsigned long		 version;
	uint64_t		 ack_generation;
	const char		*ack_error;	/* -E: acks with ok = false */
};

struct bp_conn {
	int		 fd;
	SSL		*ssl;
	uint8_t		*buf;		/* received bytes not yet parsed */
	size_t		 len;
};

static struct bp_opts	 opts;
static SSL_CTX		*bp_ctx;
static uint64_t		 bp_deadline_ms;
static char		 bp_alert[128];	/* last TLS alert received */
static char		 bp_default_id[PPC_NODE_ID_MAX + 1];
/* What result() prints before its text: scenarios with several
 * connections print one line per connection, then their own result. */
static const char	*bp_result_prefix = "result: ";
static bool		 bp_multi;	/* several connections: less output */

static void
result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the final line that the tests check. */
static void
result(const char *fmt, ...)
{
	va_list	 ap;

	fputs(bp_result_prefix, stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static void
alarm_cb(int sig)
{
	static const char msg[] = "result: timeout (badpeer's own limit)\n";

	(void)sig;
	(void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(3);
}

static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool
expired(void)
{
	return now_ms() >= bp_deadline_ms;
}

static void
usage(void)
{
	size_t	 i;

	fprintf(stderr, "usage: badpeer -s SCENARIO [-c CERT -k KEY] [-a CA] "
	    "[-2] [-t SECONDS] [-n COUNT]\n"
	    "\t[-w SECONDS] [-j] [-i NODE_ID] [-A ADDRESS] [-g GPUS] "
	    "[-m BYTES] [-W WORKERS]\n\t[-V VERSION] [-G GENERATION] "
	    "[-E MESSAGE] HOST:PORT\n"
	    "scenarios:\n");
	for (i = 0; i < sizeof(bp_scenarios) / sizeof(bp_scenarios[0]); i++)
		fprintf(stderr, "  %-13s %s\n", bp_scenarios[i].name,
		    bp_scenarios[i].help);
	exit(2);
}

static unsigned long long
parse_number(const char *opt, const char *s, unsigned long long max)
{
	unsigned long long	 v;
	char			*end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v > max) {
		fprintf(stderr, "badpeer: invalid %s \"%s\": expected a number "
		    "up to %llu\n", opt, s, max);
		exit(2);
	}
	return v;
}

static void
parse_scenario(const char *s)
{
	size_t	 i;

	for (i = 0; i < sizeof(bp_scenarios) / sizeof(bp_scenarios[0]); i++) {
		if (strcmp(bp_scenarios[i].name, s) == 0) {
			opts.scenario = bp_scenarios[i].scenario;
			opts.scenario_name = bp_scenarios[i].name;
			return;
		}
	}
	fprintf(stderr, "badpeer: unknown scenario \"%s\"\n", s);
	usage();
}

static void
parse_args(int argc, char *argv[])
{
	char	 err[PPC_ERRLEN];
	bool	 have_scenario = false;
	int	 ch;

	opts.timeout_s = BP_DEFAULT_TIMEOUT_S;
	opts.hold_s = 2;
	opts.count = 1;
	opts.address = "127.0.0.9";
	opts.gpus = 8;
	opts.memory = 80ULL << 30;
	opts.workers = -1;
	opts.version = PPCOORD__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
	opts.ack_generation = UINT64_MAX;

	while ((ch = getopt(argc, argv, "2a:A:c:E:g:G:i:jk:m:n:s:t:V:w:W:")) != -1) {
		switch (ch) {
		case '2':
			opts.tls12 = true;
			break;
		case 'a':
			opts.ca = optarg;
			break;
		case 'A':
			opts.address = optarg;
			break;
		case 'c':
			opts.cert = optarg;
			break;
		case 'g':
			opts.gpus = parse_number("-g", optarg, 100000);
			break;
		case 'E':
			opts.ack_error = optarg;
			break;
		case 'G':
			opts.ack_generation = parse_number("-G", optarg,
			    UINT64_MAX);
			break;
		case 'i':
			opts.node_id = optarg;
			break;
		case 'j':
			opts.join = true;
			break;
		case 'k':
			opts.key = optarg;
			break;
		case 'm':
			opts.memory = parse_number("-m", optarg, UINT64_MAX);
			break;
		case 'n':
			opts.count = parse_number("-n", optarg, BP_MAX_COUNT);
			break;
		case 's':
			parse_scenario(optarg);
			have_scenario = true;
			break;
		case 't':
			opts.timeout_s = parse_number("-t", optarg, 600);
			break;
		case 'V':
			opts.version = parse_number("-V", optarg, UINT32_MAX);
			break;
		case 'w':
			opts.hold_s = parse_number("-w", optarg, 600);
			opts.hold_given = true;
			break;
		case 'W':
			opts.workers = (long)parse_number("-W", optarg,
			    UINT32_MAX);
			break;
		default:
			usage();
		}
	}
	if (!have_scenario || optind != argc - 1)
		usage();
	if ((opts.cert == NULL) != (opts.key == NULL)) {
		fprintf(stderr, "badpeer: -c and -k go together\n");
		exit(2);
	}
	if ((opts.scenario == BP_SLOWLORIS || opts.scenario == BP_CONNS) &&
	    opts.count > BP_MAX_CONNS) {
		fprintf(stderr, "badpeer: -n %lu is over the limit of %d "
		    "connections\n", opts.count, BP_MAX_CONNS);
		exit(2);
	}
	if (opts.scenario == BP_ACK && opts.count > BP_MAX_ACKS) {
		fprintf(stderr, "badpeer: -n %lu is over the limit of %d "
		    "acks\n", opts.count, BP_MAX_ACKS);
		exit(2);
	}
	opts.target = argv[optind];
	if (util_split_host_port(opts.target, opts.host, sizeof(opts.host),
	    &opts.port, err, sizeof(err)) == -1) {
		fprintf(stderr, "badpeer: %s\n", err);
		exit(2);
	}
}

/* Prints the local address, which the head's log names as the peer. */
static void
print_local_address(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 host[NI_MAXHOST], port[NI_MAXSERV];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		printf("local address %s%s%s:%s\n", ss.ss_family == AF_INET6 ?
		    "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "", port);
}

/* Opens a TCP connection to the target with send and receive timeouts
 * of BP_READ_SLICE_MS. Returns the socket or -1. */
static int
tcp_connect(void)
{
	struct addrinfo	 hints, *res, *ai;
	struct timeval	 tv = { 0, BP_READ_SLICE_MS * 1000 };
	char		 port[8];
	int		 fd = -1, rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", opts.port);
	if ((rc = getaddrinfo(opts.host, port, &hints, &res)) != 0) {
		fprintf(stderr, "badpeer: cannot resolve %s: %s\n", opts.host,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		fprintf(stderr, "badpeer: cannot connect to %s: %s\n",
		    opts.target, strerror(errno));
		return -1;
	}
	if (!bp_multi)
		print_local_address(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* OpenSSL 3.0's SSL_alert_desc_string_long names no TLS 1.3 alert. */
static const char *
alert_name(int code)
{
	switch (code) {
	case 109:
		return "missing extension";
	case 116:
		return "certificate required";
	case 120:
		return "no application protocol";
	default:
		return SSL_alert_desc_string_long(code);
	}
}

static void
info_cb(const SSL *ssl, int where, int ret)
{
	(void)ssl;
	if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT)
		snprintf(bp_alert, sizeof(bp_alert), "%s",
		    alert_name(ret & 0xff));
}

static void
print_ssl_errors(const char *what)
{
	unsigned long	 e;
	char		 buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		printf("%s: %s\n", what, buf);
	}
}

/* The client context: TLS 1.3 (or 1.2 only with -2), the optional
 * client certificate, and server verification only when -a is given. */
static int
ctx_init(void)
{
	char	 err[PPC_ERRLEN];

	if ((bp_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail;
	if (opts.tls12) {
		SSL_CTX_set_min_proto_version(bp_ctx, TLS1_2_VERSION);
		SSL_CTX_set_max_proto_version(bp_ctx, TLS1_2_VERSION);
	} else
		SSL_CTX_set_min_proto_version(bp_ctx, TLS1_3_VERSION);
	SSL_CTX_set_info_callback(bp_ctx, info_cb);

	if (opts.cert != NULL) {
		if (SSL_CTX_use_certificate_chain_file(bp_ctx, opts.cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(bp_ctx, opts.key,
		    SSL_FILETYPE_PEM) != 1)
			goto fail;
		if (tls_cert_file_identity(opts.cert, bp_default_id,
		    sizeof(bp_default_id), err, sizeof(err)) == -1) {
			/* A certificate without a valid identity is a
			 * scenario of its own; the Hello then names none. */
			printf("certificate identity: %s\n", err);
			bp_default_id[0] = '\0';
		}
	}
	if (opts.ca != NULL) {
		if (SSL_CTX_load_verify_locations(bp_ctx, opts.ca, NULL) != 1)
			goto fail;
		SSL_CTX_set_verify(bp_ctx, SSL_VERIFY_PEER, NULL);
	} else
		SSL_CTX_set_verify(bp_ctx, SSL_VERIFY_NONE, NULL);
	return 0;

fail:
	print_ssl_errors("badpeer: TLS setup failed");
	return -1;
}

static void
conn_free(struct bp_conn *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd != -1)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Describes why the connection ended: the alert received, or a close. */
static void
result_closed(const char *when)
{
	if (bp_alert[0] != '\0' && strcmp(bp_alert, "close notify") != 0)
		result("alert %s (%s)", bp_alert, when);
	else
		result("closed (%s)", when);
}

/* Prints the Reject that the head sent before it closed right after the
 * handshake, as it does for a certificate without a usable identity.
 * Returns whether there was one. */
static bool
settle_rejected(struct bp_conn *c)
{
	Ppcoord__Envelope	*env;
	size_t			 consumed;
	char			 err[PPC_ERRLEN];

	if (wire_parse(c->buf, c->len, 0, &consumed, &env, err,
	    sizeof(err)) != WIRE_FRAME)
		return false;
	if (env->msg_case != PPCOORD__ENVELOPE__MSG_REJECT) {
		wire_free(env);
		return false;
	}
	printf("received reject: %s: %s\n", wire_reject_reason_name(
	    env->reject->reason), env->reject->message != NULL ?
	    env->reject->message : "");
	result("reject %s", wire_reject_reason_name(env->reject->reason));
	wire_free(env);
	return true;
}

/*
 * Reads for BP_SETTLE_MS after the handshake. A TLS 1.3 server checks the
 * client certificate after the client has finished, so its alert arrives
 * now. Sending first would make the head close with unread data, and the
 * reset that follows discards the alert. Returns 0, or -1 after printing
 * the result when the head ended the connection.
 */
static int
conn_settle(struct bp_conn *c)
{
	uint64_t	 until = now_ms() + BP_SETTLE_MS;
	size_t		 got;
	int		 rc, e;

	while (now_ms() < until) {
		ERR_clear_error();
		errno = 0;
		rc = SSL_read_ex(c->ssl, c->buf + c->len,
		    WIRE_FRAME_MAX + WIRE_HEADER_LEN - c->len, &got);
		if (rc == 1) {
			c->len += got;
			continue;
		}
		e = SSL_get_error(c->ssl, rc);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			continue;
		if (e == SSL_ERROR_SYSCALL && errno != 0)
			printf("read: %s\n", strerror(errno));
		print_ssl_errors("read");
		if (!settle_rejected(c))
			result_closed("after the handshake");
		return -1;
	}
	return 0;
}

/*
 * Connects and performs the TLS handshake. Returns 0, or -1 after
 * printing the result (an alert or a close) when the handshake failed,
 * or -2 when no TCP connection could be made.
 */
static int
conn_open(struct bp_conn *c)
{
	int	 rc, e;

	memset(c, 0, sizeof(*c));
	if ((c->fd = tcp_connect()) == -1)
		return -2;
	if ((c->buf = malloc(WIRE_FRAME_MAX + WIRE_HEADER_LEN)) == NULL ||
	    (c->ssl = SSL_new(bp_ctx)) == NULL) {
		fprintf(stderr, "badpeer: out of memory\n");
		conn_free(c);
		return -2;
	}
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");

	for (;;) {
		ERR_clear_error();
		if ((rc = SSL_connect(c->ssl)) == 1)
			break;
		e = SSL_get_error(c->ssl, rc);
		if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
		    !expired())
			continue;
		if (e == SSL_ERROR_SYSCALL && errno != 0)
			printf("handshake: %s\n", strerror(errno));
		print_ssl_errors("handshake");
		if (expired())
			result("timeout (handshake not finished)");
		else
			result_closed("during the handshake");
		return -1;
	}
	printf("handshake done: %s, %s\n", SSL_get_version(c->ssl),
	    SSL_get_cipher_name(c->ssl));
	if (!bp_multi)
		return conn_settle(c);
	return 0;
}

/* Writes everything or returns -1. */
static int
conn_write(struct bp_conn *c, const void *data, size_t len)
{
	const uint8_t	*p = data;
	size_t		 done;
	int		 rc, e;

	while (len > 0) {
		ERR_clear_error();
		rc = SSL_write_ex(c->ssl, p, len, &done);
		if (rc == 1) {
			p += done;
			len -= done;
			continue;
		}
		e = SSL_get_error(c->ssl, rc);
		if ((e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) &&
		    !expired())
			continue;
		if (e == SSL_ERROR_SYSCALL && errno != 0)
			printf("write: %s\n", strerror(errno));
		print_ssl_errors("write");
		return -1;
	}
	return 0;
}

/* Packs env into one frame and sends it. */
static int
send_envelope(struct bp_conn *c, const Ppcoord__Envelope *env)
{
	size_t	 len = ppcoord__envelope__get_packed_size(env);
	uint8_t	*frame;
	int	 rc;

	if ((frame = malloc(WIRE_HEADER_LEN + len)) == NULL)
		return -1;
	frame[0] = (uint8_t)(len >> 24);
	frame[1] = (uint8_t)(len >> 16);
	frame[2] = (uint8_t)(len >> 8);
	frame[3] = (uint8_t)len;
	ppcoord__envelope__pack(env, frame + WIRE_HEADER_LEN);
	printf("sent a frame of %zu bytes\n", len);
	rc = conn_write(c, frame, WIRE_HEADER_LEN + len);
	free(frame);
	return rc;
}

/* Sends the Hello that the options describe. The GPU count, memory,
 * protocol version, node id and address can each be out of range. */
static int
send_hello(struct bp_conn *c)
{
	Ppcoord__Envelope	 env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__Hello		 hello = PPCOORD__HELLO__INIT;
	Ppcoord__Gpu		*gpus, **gpup;
	size_t			 i;
	int			 rc;

	gpus = calloc(opts.gpus + 1, sizeof(*gpus));
	gpup = calloc(opts.gpus + 1, sizeof(*gpup));
	if (gpus == NULL || gpup == NULL) {
		free(gpus);
		free(gpup);
		return -1;
	}
	for (i = 0; i < opts.gpus; i++) {
		ppcoord__gpu__init(&gpus[i]);
		gpus[i].has_index = 1;
		gpus[i].index = (uint32_t)i;
		gpus[i].name = "badpeer GPU";
		gpus[i].uuid = "";
		gpus[i].has_memory_total = 1;
		gpus[i].memory_total = opts.memory;
		gpus[i].has_memory_free = 1;
		gpus[i].memory_free = opts.memory;
		gpup[i] = &gpus[i];
	}
	hello.has_protocol_version = 1;
	hello.protocol_version = (uint32_t)opts.version;
	hello.node_id = (char *)(opts.node_id != NULL ? opts.node_id :
	    bp_default_id);
	hello.address = (char *)opts.address;
	hello.n_gpus = opts.gpus;
	hello.gpus = gpup;
	hello.has_workers = 1;
	hello.workers = opts.workers >= 0 ? (uint32_t)opts.workers :
	    (uint32_t)opts.gpus;
	hello.agent_version = "badpeer";
	hello.has_held_generation = 1;
	hello.held_state = "";
	env.msg_case = PPCOORD__ENVELOPE__MSG_HELLO;
	env.hello = &hello;

	printf("sending hello: node id %zu bytes, %lu GPUs of %llu bytes, "
	    "protocol version %lu\n", strlen(hello.node_id), opts.gpus,
	    (unsigned long long)opts.memory, opts.version);
	rc = send_envelope(c, &env);
	free(gpus);
	free(gpup);
	return rc;
}

static int
send_heartbeat(struct bp_conn *c)
{
	Ppcoord__Envelope	 env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__Heartbeat	 hb = PPCOORD__HEARTBEAT__INIT;

	hb.has_generation = 1;
	env.msg_case = PPCOORD__ENVELOPE__MSG_HEARTBEAT;
	env.heartbeat = &hb;
	printf("sending a heartbeat\n");
	return send_envelope(c, &env);
}

/* Sends count acks of a generation that the head may never have sent,
 * as failures when -E gives an error message. */
static int
send_ack(struct bp_conn *c)
{
	Ppcoord__Envelope	 env = PPCOORD__ENVELOPE__INIT;
	Ppcoord__AssignmentAck	 ack = PPCOORD__ASSIGNMENT_ACK__INIT;
	size_t			 len;
	uint8_t			*frames, *p;
	unsigned long		 i;
	int			 rc;

	ack.has_generation = 1;
	ack.generation = opts.ack_generation;
	ack.has_ok = 1;
	ack.ok = opts.ack_error == NULL;
	ack.error = (char *)opts.ack_error;
	env.msg_case = PPCOORD__ENVELOPE__MSG_ACK;
	env.ack = &ack;

	len = ppcoord__envelope__get_packed_size(&env);
	if ((frames = malloc((WIRE_HEADER_LEN + len) * opts.count)) == NULL)
		return -1;
	for (i = 0, p = frames; i < opts.count; i++) {
		p[0] = (uint8_t)(len >> 24);
		p[1] = (uint8_t)(len >> 16);
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
		ppcoord__envelope__pack(&env, p + WIRE_HEADER_LEN);
		p += WIRE_HEADER_LEN + len;
	}
	printf("sending %lu %s acks of generation %llu\n", opts.count,
	    ack.ok ? "successful" : "failed",
	    (unsigned long long)opts.ack_generation);
	rc = conn_write(c, frames, (size_t)(p - frames));
	free(frames);
	return rc;
}

/* Prints one received message. */
static void
print_envelope(const Ppcoord__Envelope *env)
{
	switch (env->msg_case) {
	case PPCOORD__ENVELOPE__MSG_REJECT:
		printf("received reject: %s: %s\n", wire_reject_reason_name(
		    env->reject->reason), env->reject->message != NULL ?
		    env->reject->message : "");
		break;
	case PPCOORD__ENVELOPE__MSG_WELCOME:
		printf("received welcome: node %s, cluster %s\n",
		    env->welcome->node_id != NULL ? env->welcome->node_id : "",
		    env->welcome->cluster != NULL ? env->welcome->cluster :
		    "");
		break;
	case PPCOORD__ENVELOPE__MSG_HEARTBEAT:
		break;
	default:
		printf("received %s\n", wire_msg_name(env));
		break;
	}
}

enum bp_read {
	BP_READ_MSG,		/* one envelope in *env */
	BP_READ_TIMEOUT,	/* the deadline passed */
	BP_READ_CLOSED,		/* EOF, reset or alert: result printed */
	BP_READ_INVALID,	/* the head sent a bad frame: result printed */
};

/* Reads the next message, until `until_ms`. */
static enum bp_read
conn_next(struct bp_conn *c, uint64_t until_ms, Ppcoord__Envelope **env)
{
	enum wire_result	 r;
	size_t			 consumed, got;
	char			 err[PPC_ERRLEN];
	int			 rc, e;

	for (;;) {
		r = wire_parse(c->buf, c->len, 0, &consumed, env, err,
		    sizeof(err));
		if (r == WIRE_FRAME) {
			memmove(c->buf, c->buf + consumed, c->len - consumed);
			c->len -= consumed;
			return BP_READ_MSG;
		}
		if (r == WIRE_ERROR) {
			result("invalid frame from the head: %s", err);
			return BP_READ_INVALID;
		}
		if (now_ms() >= until_ms || expired())
			return BP_READ_TIMEOUT;

		ERR_clear_error();
		errno = 0;
		rc = SSL_read_ex(c->ssl, c->buf + c->len,
		    WIRE_FRAME_MAX + WIRE_HEADER_LEN - c->len, &got);
		if (rc == 1) {
			c->len += got;
			continue;
		}
		e = SSL_get_error(c->ssl, rc);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			continue;
		if (e == SSL_ERROR_SYSCALL && errno != 0)
			printf("read: %s\n", strerror(errno));
		print_ssl_errors("read");
		result_closed(c->len > 0 ? "inside a frame" : "by the head");
		return BP_READ_CLOSED;
	}
}

/*
 * Reads until the head rejects, closes, or `ms` pass. Prints every
 * message and the result. With `stop_after_welcome`, returns 1 as soon
 * as the Welcome and the placement that follows it (Assignment, Standby
 * or nothing within a second) are in, without printing a result.
 */
static int
read_answer(struct bp_conn *c, uint64_t ms, bool stop_after_welcome)
{
	Ppcoord__Envelope	*env;
	uint64_t		 until = now_ms() + ms, welcomed = 0;
	bool			 placed;

	for (;;) {
		if (welcomed != 0 && until > welcomed + 1000)
			until = welcomed + 1000;
		switch (conn_next(c, until, &env)) {
		case BP_READ_MSG:
			break;
		case BP_READ_TIMEOUT:
			if (welcomed != 0 && stop_after_welcome)
				return 1;
			result(welcomed != 0 ? "welcome" : "open");
			return 0;
		default:
			return 0;
		}
		print_envelope(env);
		placed = env->msg_case == PPCOORD__ENVELOPE__MSG_ASSIGNMENT ||
		    env->msg_case == PPCOORD__ENVELOPE__MSG_STANDBY;
		if (env->msg_case == PPCOORD__ENVELOPE__MSG_REJECT) {
			result("reject %s", wire_reject_reason_name(
			    env->reject->reason));
			wire_free(env);
			return 0;
		}
		if (env->msg_case == PPCOORD__ENVELOPE__MSG_WELCOME)
			welcomed = now_ms();
		wire_free(env);
		if (placed && welcomed != 0) {
			if (stop_after_welcome)
				return 1;
			result("welcome");
			return 0;
		}
	}
}

/* Waits `ms` for what the head does next; prints the result. */
static void
await_answer(struct bp_conn *c, uint64_t ms)
{
	read_answer(c, ms, false);
}

static uint64_t
remaining_ms(void)
{
	uint64_t	 now = now_ms();

	return bp_deadline_ms > now ? bp_deadline_ms - now : 0;
}

/* Sends a Hello and waits for the Welcome; prints a result and returns
 * -1 when the head did not accept it. */
static int
join(struct bp_conn *c)
{
	if (send_hello(c) == -1) {
		result_closed("while sending the Hello");
		return -1;
	}
	return read_answer(c, remaining_ms(), true) == 1 ? 0 : -1;
}

/* Keeps a joined connection open for hold_s seconds, reading what the
 * head sends, and prints the result. */
static void
hold_joined(struct bp_conn *c)
{
	Ppcoord__Envelope	*env;
	uint64_t		 until = now_ms() + (uint64_t)opts.hold_s * 1000;

	printf("joined; holding the connection for %u s\n", opts.hold_s);
	for (;;) {
		switch (conn_next(c, until, &env)) {
		case BP_READ_MSG:
			print_envelope(env);
			if (env->msg_case == PPCOORD__ENVELOPE__MSG_REJECT) {
				result("reject %s", wire_reject_reason_name(
				    env->reject->reason));
				wire_free(env);
				return;
			}
			wire_free(env);
			break;
		case BP_READ_TIMEOUT:
			result("welcome");
			return;
		default:
			return;
		}
	}
}

/* Raw bytes on a plain TCP connection; prints the first bytes back. */
static int
run_raw(const char *payload)
{
	uint8_t	 buf[512];
	ssize_t	 n;
	size_t	 got = 0;
	int	 fd;

	if ((fd = tcp_connect()) == -1)
		return 1;
	if (write(fd, payload, strlen(payload)) == -1)
		printf("write: %s\n", strerror(errno));
	printf("sent %zu plain bytes\n", strlen(payload));
	while (!expired() && got < sizeof(buf)) {
		n = read(fd, buf + got, sizeof(buf) - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n == -1)
			printf("read: %s\n", strerror(errno));
		break;
	}
	close(fd);
	printf("received %zu bytes\n", got);
	/* A TLS alert record: type 21, version, length 2, level, code. */
	if (got >= 7 && buf[0] == 21)
		result("alert %s", alert_name(buf[6]));
	else if (got > 0 && buf[0] == 'H')
		result("http answer");
	else if (expired())
		result("open");
	else if (got > 0)
		result("closed after %zu bytes of another kind", got);
	else
		result("closed");
	return 0;
}

/* The first record of a real ClientHello, made over memory BIOs. */
static int
client_hello_bytes(uint8_t *out, size_t outlen, size_t *len)
{
	SSL	*ssl;
	BIO	*rbio, *wbio;
	int	 n;

	if ((ssl = SSL_new(bp_ctx)) == NULL)
		return -1;
	rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(BIO_s_mem());
	if (rbio == NULL || wbio == NULL) {
		BIO_free(rbio);
		BIO_free(wbio);
		SSL_free(ssl);
		return -1;
	}
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_connect_state(ssl);
	(void)SSL_do_handshake(ssl);
	n = BIO_read(wbio, out, (int)outlen);
	SSL_free(ssl);
	ERR_clear_error();
	if (n <= 5)
		return -1;
	*len = (size_t)n;
	return 0;
}

/*
 * Slowloris: count connections each send the first half of a ClientHello
 * and then nothing. Reports how many the head closed before the deadline
 * and the longest time one stayed open.
 */
static int
run_slowloris(void)
{
	struct pollfd	*pfd;
	uint64_t	*opened, start, longest = 0, t;
	uint8_t		 hello[2048], drain[256];
	size_t		 hlen, i, n = opts.count, open_now = 0, closed = 0;
	ssize_t		 r;

	if (client_hello_bytes(hello, sizeof(hello), &hlen) == -1) {
		fprintf(stderr, "badpeer: cannot make a ClientHello\n");
		return 1;
	}
	pfd = calloc(n, sizeof(*pfd));
	opened = calloc(n, sizeof(*opened));
	if (pfd == NULL || opened == NULL) {
		free(pfd);
		free(opened);
		return 1;
	}
	start = now_ms();
	for (i = 0; i < n && !expired(); i++) {
		if ((pfd[i].fd = tcp_connect()) == -1)
			break;
		pfd[i].events = POLLIN;
		opened[i] = now_ms();
		if (write(pfd[i].fd, hello, hlen / 2) == -1)
			printf("write: %s\n", strerror(errno));
		open_now++;
	}
	n = i;
	printf("opened %zu connections in %llu ms, each with %zu of the %zu "
	    "bytes of a ClientHello\n", n, (unsigned long long)(now_ms() -
	    start), hlen / 2, hlen);

	while (open_now > 0 && !expired()) {
		if (poll(pfd, n, BP_READ_SLICE_MS) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			r = read(pfd[i].fd, drain, sizeof(drain));
			if (r > 0)
				continue;
			t = now_ms() - opened[i];
			if (t > longest)
				longest = t;
			close(pfd[i].fd);
			pfd[i].fd = -1;
			open_now--;
			closed++;
		}
	}
	for (i = 0; i < n; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	free(pfd);
	free(opened);
	printf("the head closed %zu of %zu; the longest one stayed open %llu "
	    "ms\n", closed, n, (unsigned long long)longest);
	result("closed %zu of %zu, longest %llu ms", closed, n,
	    (unsigned long long)longest);
	return 0;
}

/* Sends a raw frame header and optional body bytes. */
static int
send_raw_frame(struct bp_conn *c, uint32_t length, const uint8_t *body,
    size_t bodylen)
{
	uint8_t	 hdr[WIRE_HEADER_LEN] = { (uint8_t)(length >> 24),
	    (uint8_t)(length >> 16), (uint8_t)(length >> 8), (uint8_t)length };

	printf("sending a length prefix of %lu and %zu body bytes\n",
	    (unsigned long)length, bodylen);
	if (conn_write(c, hdr, sizeof(hdr)) == -1 ||
	    (bodylen > 0 && conn_write(c, body, bodylen) == -1))
		return -1;
	return 0;
}

/* -n heartbeats as fast as the head reads them, then a check that the
 * connection still carries the head's own heartbeats. */
static void
run_flood(struct bp_conn *c)
{
	struct evbuffer	*batch;
	unsigned long	 sent = 0, k;
	uint64_t	 start = now_ms();
	Ppcoord__Envelope *env;

	if ((batch = evbuffer_new()) == NULL)
		return;
	while (sent < opts.count && !expired()) {
		for (k = 0; k < BP_FLOOD_BATCH && sent + k < opts.count; k++)
			if (wire_send_heartbeat(batch, 0) == -1)
				break;
		if (conn_write(c, evbuffer_pullup(batch, -1),
		    evbuffer_get_length(batch)) == -1) {
			printf("sent %lu heartbeats before the write failed\n",
			    sent);
			evbuffer_free(batch);
			result_closed("during the flood");
			return;
		}
		sent += k;
		evbuffer_drain(batch, evbuffer_get_length(batch));
	}
	evbuffer_free(batch);
	printf("sent %lu heartbeats in %llu ms\n", sent,
	    (unsigned long long)(now_ms() - start));

	/* The head's heartbeats and anything it queued during the flood are
	 * read until one heartbeat arrives that was sent after it. */
	c->len = 0;
	for (;;) {
		switch (conn_next(c, bp_deadline_ms, &env)) {
		case BP_READ_MSG:
			print_envelope(env);
			if (env->msg_case == PPCOORD__ENVELOPE__MSG_REJECT) {
				result("reject %s", wire_reject_reason_name(
				    env->reject->reason));
				wire_free(env);
				return;
			}
			if (env->msg_case ==
			    PPCOORD__ENVELOPE__MSG_HEARTBEAT) {
				wire_free(env);
				printf("received a heartbeat after the "
				    "flood\n");
				result("open");
				return;
			}
			wire_free(env);
			break;
		case BP_READ_TIMEOUT:
			result("open (no heartbeat from the head)");
			return;
		default:
			return;
		}
	}
}

/* count TLS connections, opened one after another and held hold_s
 * seconds without a Hello. */
static int
run_conns(void)
{
	struct bp_conn	*conns;
	size_t		 i, accepted = 0, refused = 0, lost = 0;
	uint64_t	 until;
	uint8_t		 b;
	int		 rc;

	if ((conns = calloc(opts.count, sizeof(*conns))) == NULL)
		return 1;
	bp_result_prefix = "connection ended: ";
	for (i = 0; i < opts.count && !expired(); i++) {
		rc = conn_open(&conns[i]);
		if (rc == -2)
			break;
		if (rc == 0)
			accepted++;
		else
			refused++;
		bp_alert[0] = '\0';
	}
	bp_result_prefix = "result: ";
	printf("%zu handshakes done, %zu refused\n", accepted, refused);

	/* Holding: a connection the head closes now reads EOF. */
	until = now_ms() + (uint64_t)opts.hold_s * 1000;
	while (now_ms() < until && !expired())
		usleep(BP_READ_SLICE_MS * 1000);
	for (i = 0; i < opts.count; i++) {
		if (conns[i].ssl != NULL && SSL_is_init_finished(conns[i].ssl)) {
			ERR_clear_error();
			rc = SSL_peek(conns[i].ssl, &b, 1);
			if (rc <= 0 && SSL_get_error(conns[i].ssl, rc) !=
			    SSL_ERROR_WANT_READ)
				lost++;
		}
		if (conns[i].ssl != NULL)
			conn_free(&conns[i]);
	}
	free(conns);
	result("accepted %zu refused %zu closed while held %zu", accepted,
	    refused, lost);
	return 0;
}

static int
run_tls(void)
{
	struct bp_conn	 c;
	static const uint8_t unknown[] = { 0x78, 0x01 };	/* field 15 */
	static const uint8_t partial[] = { 0x0a, 0x40, 0x08, 0x01, 0x12 };
	int		 rc;

	if ((rc = conn_open(&c)) == -2)
		return 1;
	if (rc == -1) {
		conn_free(&c);
		return 0;
	}
	if (opts.join || opts.scenario == BP_DOUBLE_HELLO ||
	    opts.scenario == BP_FLOOD || opts.scenario == BP_ACK) {
		if (join(&c) == -1) {
			conn_free(&c);
			return 0;
		}
		printf("joined\n");
	}

	switch (opts.scenario) {
	case BP_HELLO:
		if (send_hello(&c) == -1)
			result_closed("while sending the Hello");
		else if (!opts.hold_given)
			await_answer(&c, remaining_ms());
		else if (read_answer(&c, remaining_ms(), true) == 1)
			hold_joined(&c);
		break;
	case BP_DOUBLE_HELLO:
		if (send_hello(&c) == -1)
			result_closed("while sending the second Hello");
		else
			await_answer(&c, remaining_ms());
		break;
	case BP_LEN_4G:
		if (send_raw_frame(&c, UINT32_MAX, NULL, 0) == 0)
			await_answer(&c, remaining_ms());
		else
			result_closed("while sending");
		break;
	case BP_LEN_1M1:
		if (send_raw_frame(&c, WIRE_FRAME_MAX + 1, NULL, 0) == 0)
			await_answer(&c, remaining_ms());
		else
			result_closed("while sending");
		break;
	case BP_TRUNCATED:
		/* A Hello frame announced as 100 bytes; 5 are sent. */
		if (send_raw_frame(&c, 100, partial, sizeof(partial)) == 0) {
			SSL_shutdown(c.ssl);
			shutdown(c.fd, SHUT_WR);
			printf("closed our side after the truncated frame\n");
			await_answer(&c, remaining_ms());
		} else
			result_closed("while sending");
		break;
	case BP_UNKNOWN:
		if (send_raw_frame(&c, sizeof(unknown), unknown,
		    sizeof(unknown)) == 0)
			await_answer(&c, remaining_ms());
		else
			result_closed("while sending");
		break;
	case BP_FLOOD:
		run_flood(&c);
		break;
	case BP_HEARTBEAT:
		if (send_heartbeat(&c) == 0)
			await_answer(&c, remaining_ms());
		else
			result_closed("while sending");
		break;
	case BP_ACK:
		if (send_ack(&c) == 0)
			await_answer(&c, remaining_ms());
		else
			result_closed("while sending");
		break;
	default:
		break;
	}
	conn_free(&c);
	return 0;
}

int
main(int argc, char *argv[])
{
	int	 rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, alarm_cb);
	/* A hard stop beyond the scenario's own deadline. */
	alarm(opts.timeout_s + opts.hold_s + 5);
	bp_deadline_ms = now_ms() + (uint64_t)opts.timeout_s * 1000;

	if (ctx_init() == -1)
		return 1;
	printf("scenario %s against %s\n", opts.scenario_name, opts.target);

	switch (opts.scenario) {
	case BP_PLAINTEXT:
		rc = run_raw("PPCOORD plain text, not TLS\r\n");
		break;
	case BP_HTTP:
		rc = run_raw("GET /status HTTP/1.1\r\nHost: localhost\r\n"
		    "Connection: close\r\n\r\n");
		break;
	case BP_SLOWLORIS:
		bp_multi = true;
		rc = run_slowloris();
		break;
	case BP_CONNS:
		bp_multi = true;
		rc = run_conns();
		break;
	default:
		rc = run_tls();
		break;
	}
	SSL_CTX_free(bp_ctx);
	return rc;
}
