/*
 * `ppcoordctl status` and `ppcoordctl inventory`: one request line over
 * the head's control socket, and one JSON document in reply.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "ctl.h"
#include "inv.h"
#include "util.h"

/* The unit test sets smaller limits. */
#ifndef REPLY_MAX
#define REPLY_MAX		(64u << 20)	/* largest reply accepted */
#endif
#ifndef REQUEST_TIMEOUT_MS
#define REQUEST_TIMEOUT_MS	10000
#endif

struct socket_opts {
	const char	*socket;
	char		*conf_socket;	/* head.control_socket of -f, owned */
	int		 json;		/* status: --format json */
};

/*
 * Connects to the control socket. ENOENT and ECONNREFUSED mean that no
 * head listens there, so the message then suggests checking ppcoord-head.
 */
static int
control_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		ctl_warnx("control socket path %s is longer than %zu bytes",
		    path, sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		ctl_warnx("socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		if (saved == ENOENT || saved == ECONNREFUSED)
			ctl_warnx("cannot connect to the head's control socket "
			    "%s: %s; is ppcoord-head running?", path,
			    strerror(saved));
		else
			ctl_warnx("cannot connect to the head's control socket "
			    "%s: %s", path, strerror(saved));
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits until fd is ready for `events` or the deadline passes. */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd	 pfd = { .fd = fd, .events = events };
	uint64_t	 now;
	int		 n;

	for (;;) {
		now = util_now_ms();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&pfd, 1, (int)(deadline - now));
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

static int
send_request(int fd, const char *request, uint64_t deadline)
{
	size_t	 off = 0, len = strlen(request);
	ssize_t	 n;

	while (off < len) {
		if (wait_fd(fd, POLLOUT, deadline) != 0)
			return -1;
		n = send(fd, request + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* Reads until the head closes the connection; NULL with errno set. */
static char *
read_reply(int fd, uint64_t deadline, size_t *lenp)
{
	char	*buf = NULL, *grown;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > REPLY_MAX + 1)
				cap = REPLY_MAX + 1;
			if (cap - len == 0) {
				free(buf);
				errno = EMSGSIZE;
				return NULL;
			}
			if ((grown = realloc(buf, cap)) == NULL) {
				free(buf);
				return NULL;
			}
			buf = grown;
		}
		if (wait_fd(fd, POLLIN, deadline) != 0)
			break;
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0) {
				*lenp = len;
				return buf;
			}
			break;
		}
		len += (size_t)n;
	}
	free(buf);
	return NULL;
}

/*
 * Sends `request` ("status\n" or "inventory\n") and parses the reply. A
 * reply with an "error" member is reported and gives NULL.
 */
static json_t *
control_request(const char *path, const char *request)
{
	json_error_t	 jerr;
	json_t		*reply, *e;
	uint64_t	 deadline;
	size_t		 len = 0;
	char		*text;
	int		 fd;

	if ((fd = control_connect(path)) == -1)
		return NULL;
	deadline = util_now_ms() + REQUEST_TIMEOUT_MS;
	if (send_request(fd, request, deadline) != 0 ||
	    (text = read_reply(fd, deadline, &len)) == NULL) {
		if (errno == ETIMEDOUT)
			ctl_warnx("request to the head's control socket %s "
			    "timed out after %g s", path,
			    REQUEST_TIMEOUT_MS / 1000.0);
		else if (errno == EMSGSIZE)
			ctl_warnx("reply from the head's control socket %s is "
			    "larger than %u bytes", path, REPLY_MAX);
		else
			ctl_warnx("request to the head's control socket %s "
			    "failed: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	close(fd);

	reply = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (reply == NULL || !json_is_object(reply)) {
		ctl_warnx("invalid reply from the head's control socket %s: "
		    "%s", path, reply == NULL ? jerr.text : "not an object");
		json_decref(reply);
		return NULL;
	}
	if ((e = json_object_get(reply, "error")) != NULL) {
		ctl_warnx("the head rejected the request: %s",
		    json_is_string(e) ? json_string_value(e) : "(no message)");
		json_decref(reply);
		return NULL;
	}
	return reply;
}

/*
 * Sets o->socket to head.control_socket of the head config at path. The
 * whole config is validated as ppcoord-head -n would, so a broken file is
 * reported with every FILE:LINE error rather than half-read.
 */
static int
socket_from_conf(const char *path, struct socket_opts *o)
{
	struct conf_errors	 errs = { 0 };
	struct head_conf	 conf;
	size_t			 i;

	if (conf_head_load(&conf, path, CONF_SCOPE_HEAD, &errs) != 0) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.lines[i]);
		if (errs.count == 0)
			ctl_warnx("%s: invalid configuration", path);
		conf_errors_free(&errs);
		return CTL_EXIT_USAGE;
	}
	o->conf_socket = strdup(conf.control_socket);
	conf_head_free(&conf);
	if (o->conf_socket == NULL) {
		ctl_warnx("out of memory");
		return CTL_EXIT_UNSATISFIED;
	}
	o->socket = o->conf_socket;
	return 0;
}

/*
 * Parses -s, -f and --format. -s wins over -f; without either the socket
 * is CTL_SOCKET_DEFAULT. Returns 0, -1 after -h, or an exit status.
 */
static int
parse_socket_opts(int argc, char **argv, int with_format,
    struct socket_opts *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*socket = NULL, *conf = NULL;
	int		 ch;

	memset(o, 0, sizeof(*o));
	o->socket = CTL_SOCKET_DEFAULT;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":s:f:h", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 's':
			socket = optarg;
			break;
		case 'f':
			conf = optarg;
			break;
		case 'F':
			if (!with_format)
				return ctl_bad_usage("%s: unknown option "
				    "--format", argv[0]);
			if (strcmp(optarg, "json") == 0)
				o->json = 1;
			else if (strcmp(optarg, "table") == 0)
				o->json = 0;
			else
				return ctl_bad_usage("%s: invalid --format "
				    "\"%s\": expected table or json", argv[0],
				    optarg);
			break;
		case 'h':
			ctl_usage(stdout);
			return -1;
		case ':':
			return ctl_bad_usage("%s: %s needs a value", argv[0],
			    argv[optind - 1]);
		default:
			return ctl_bad_usage("%s: unknown option %s", argv[0],
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_bad_usage("%s: unexpected argument \"%s\"", argv[0],
		    argv[optind]);

	if (socket != NULL)
		o->socket = socket;
	else if (conf != NULL)
		return socket_from_conf(conf, o);
	return 0;
}

static int
print_json(const json_t *o)
{
	char	*text;

	if ((text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	    NULL)
		return -1;
	printf("%s\n", text);
	free(text);
	return fflush(stdout) == 0 ? 0 : -1;
}

int
ctl_inventory_main(int argc, char **argv)
{
	struct socket_opts	 o;
	struct inv		 inv;
	json_t			*reply;
	char			 err[PPC_ERRLEN], *text;
	int			 rc;

	if ((rc = parse_socket_opts(argc, argv, 0, &o)) != 0)
		return rc < 0 ? CTL_EXIT_OK : rc;
	reply = control_request(o.socket, "inventory\n");
	if (reply == NULL) {
		free(o.conf_socket);
		return CTL_EXIT_UNSATISFIED;
	}

	/* Print it only if `plan -i` would read it back. */
	inv_init(&inv);
	rc = inv_from_jansson(&inv, reply, o.socket, err, sizeof(err));
	free(o.conf_socket);
	json_decref(reply);
	if (rc != 0) {
		ctl_warnx("the head's inventory is invalid: %s", err);
		inv_free(&inv);
		return CTL_EXIT_UNSATISFIED;
	}
	text = inv_to_json(&inv);
	inv_free(&inv);
	if (text == NULL) {
		ctl_warnx("out of memory");
		return CTL_EXIT_UNSATISFIED;
	}
	printf("%s\n", text);
	free(text);
	return CTL_EXIT_OK;
}

/*
 * The status table. The head writes the status JSON, so every member is
 * read leniently: a missing or mistyped one prints as "-".
 */

#define STATUS_COLS	9
#define STATUS_CELL	80

struct status_row {
	char	 cell[STATUS_COLS][STATUS_CELL];
};

/* Copies obj[key] as text into buf: strings as they are, integers in
 * decimal, anything else as "-". */
static const char *
member_text(const json_t *obj, const char *key, char *buf, size_t len)
{
	json_t	*v = json_object_get(obj, key);

	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else
		snprintf(buf, len, "-");
	return buf;
}

static int
member_int(const json_t *obj, const char *key, json_int_t *out)
{
	json_t	*v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 0;
}

/*
 * Formats an age in milliseconds as "850 ms", "1.5 s", "12 s", "5m03s" or
 * "2h07m", rounded down.
 */
static void
format_age(json_int_t ms, char *buf, size_t len)
{
	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms < 1000)
		snprintf(buf, len, "%lld ms", (long long)ms);
	else if (ms < 10000)
		snprintf(buf, len, "%lld.%lld s", (long long)(ms / 1000),
		    (long long)(ms / 100 % 10));
	else if (ms < 60000)
		snprintf(buf, len, "%lld s", (long long)(ms / 1000));
	else if (ms < 3600000)
		snprintf(buf, len, "%lldm%02llds", (long long)(ms / 60000),
		    (long long)(ms / 1000 % 60));
	else
		snprintf(buf, len, "%lldh%02lldm", (long long)(ms / 3600000),
		    (long long)(ms / 60000 % 60));
}

/* Formats "8 x 80.0 GiB" from the node's GPU list (smallest memory). */
static void
format_gpus(const json_t *node, char *buf, size_t len)
{
	json_t		*gpus = json_object_get(node, "gpus"), *g;
	json_int_t	 mem, min = -1;
	char		 size[32];
	size_t		 i;

	if (!json_is_array(gpus) || json_array_size(gpus) == 0) {
		snprintf(buf, len, "-");
		return;
	}
	json_array_foreach(gpus, i, g) {
		if (member_int(g, "memory_total", &mem) == 0 && mem >= 0 &&
		    (min < 0 || mem < min))
			min = mem;
	}
	if (min < 0)
		snprintf(buf, len, "%zu", json_array_size(gpus));
	else
		snprintf(buf, len, "%zu x %s", json_array_size(gpus),
		    util_format_size((uint64_t)min, size, sizeof(size)));
}

/* Formats the node's stages as "0" or "0-1"; "-" when it has none. */
static void
format_stages(const json_t *node, char *buf, size_t len)
{
	json_int_t	 first, count;

	if (member_int(node, "first_stage", &first) != 0 ||
	    member_int(node, "stage_count", &count) != 0 || count < 1)
		snprintf(buf, len, "-");
	else if (count == 1)
		snprintf(buf, len, "%lld", (long long)first);
	else
		snprintf(buf, len, "%lld-%lld", (long long)first,
		    (long long)(first + count - 1));
}

/* Formats the node's layers as "0-27", the end exclusive as in the plan. */
static void
format_layers(const json_t *node, char *buf, size_t len)
{
	json_int_t	 first, end;

	if (member_int(node, "first_layer", &first) != 0 ||
	    member_int(node, "end_layer", &end) != 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%lld-%lld", (long long)first,
		    (long long)end);
}

static void
status_node_row(const json_t *node, struct status_row *r)
{
	json_int_t	 ms, s;

	member_text(node, "id", r->cell[0], STATUS_CELL);
	member_text(node, "address", r->cell[1], STATUS_CELL);
	member_text(node, "state", r->cell[2], STATUS_CELL);
	format_gpus(node, r->cell[3], STATUS_CELL);
	format_stages(node, r->cell[4], STATUS_CELL);
	format_layers(node, r->cell[5], STATUS_CELL);
	member_text(node, "acked_generation", r->cell[6], STATUS_CELL);
	if (member_int(node, "last_heartbeat_ms", &ms) == 0)
		format_age(ms, r->cell[7], STATUS_CELL);
	else
		snprintf(r->cell[7], STATUS_CELL, "-");
	/*
	 * A lost node keeps its row with "connected": false and connected_s
	 * 0; "0 s" would read as a node that has just joined. connected_s
	 * has whole seconds, so under a minute it prints "N s".
	 */
	if (json_is_false(json_object_get(node, "connected")))
		snprintf(r->cell[8], STATUS_CELL, "disconnected");
	else if (member_int(node, "connected_s", &s) == 0 && s >= 0 && s < 60)
		snprintf(r->cell[8], STATUS_CELL, "%lld s", (long long)s);
	else if (member_int(node, "connected_s", &s) == 0 &&
	    s <= INT64_MAX / 1000)
		format_age(s * 1000, r->cell[8], STATUS_CELL);
	else
		snprintf(r->cell[8], STATUS_CELL, "-");
}

static void
print_rows(const struct status_row *rows, size_t n, FILE *f)
{
	size_t	 width[STATUS_COLS] = { 0 }, r, c, len;

	for (r = 0; r < n; r++)
		for (c = 0; c < STATUS_COLS; c++)
			if ((len = strlen(rows[r].cell[c])) > width[c])
				width[c] = len;
	for (r = 0; r < n; r++) {
		for (c = 0; c + 1 < STATUS_COLS; c++)
			fprintf(f, "%-*s  ", (int)width[c], rows[r].cell[c]);
		fprintf(f, "%s\n", rows[r].cell[c]);
	}
}

/*
 * Prints "plan order vllm, partition memory, tp 8, master
 * 10.0.0.10:29500, kv_tokens 12345"; kv_tokens only when the model sizes
 * are known. An IPv6 master address is bracketed.
 */
static void
print_plan_line(const json_t *plan, FILE *f)
{
	char	 order[32], partition[32], tp[32], addr[80], port[32], kv[32];

	member_text(plan, "order", order, sizeof(order));
	member_text(plan, "partition", partition, sizeof(partition));
	member_text(plan, "tp_size", tp, sizeof(tp));
	member_text(plan, "master_addr", addr, sizeof(addr));
	member_text(plan, "master_port", port, sizeof(port));
	member_text(plan, "kv_tokens", kv, sizeof(kv));

	fprintf(f, "plan order %s, partition %s, tp %s, master %s%s%s:%s",
	    order, partition, tp, strchr(addr, ':') != NULL ? "[" : "", addr,
	    strchr(addr, ':') != NULL ? "]" : "", port);
	if (strcmp(kv, "-") != 0)
		fprintf(f, ", kv_tokens %s", kv);
	fprintf(f, "\n");
}

static void
print_status_summary(const json_t *st, FILE *f)
{
	char		 cluster[80], state[32], gen[32], expected[32];
	char		 role[32], leader[80], store[32];
	const json_t	*plan = json_object_get(st, "plan");
	const json_t	*error = json_object_get(st, "plan_error");
	const json_t	*nodes = json_object_get(st, "nodes");

	member_text(st, "cluster", cluster, sizeof(cluster));
	member_text(st, "state", state, sizeof(state));
	member_text(st, "generation", gen, sizeof(gen));
	member_text(st, "expected_nodes", expected, sizeof(expected));
	fprintf(f, "cluster %s, state %s, generation %s, %zu nodes, %s "
	    "expected\n", cluster, state, gen,
	    json_is_array(nodes) ? json_array_size(nodes) : 0, expected);

	member_text(st, "role", role, sizeof(role));
	member_text(st, "leader", leader, sizeof(leader));
	member_text(st, "store", store, sizeof(store));
	/* A single head on the state file has no leader to name. */
	if (strcmp(role, "-") != 0 && strcmp(role, "standalone") != 0) {
		fprintf(f, "role %s, leader %s", role, leader);
		if (strcmp(store, "-") != 0)
			fprintf(f, ", store %s", store);
		fprintf(f, "\n");
	}
	if (json_is_object(plan))
		print_plan_line(plan, f);
	else
		fprintf(f, "no plan yet\n");
	if (json_is_string(error))
		fprintf(f, "last planning error: %s\n",
		    json_string_value(error));
}

/*
 * Orders node rows by node rank, then id. Nodes without a rank (spares,
 * nodes not placed) come after the placed ones, and entries that are not
 * objects last.
 */
static int
compare_nodes(const void *a, const void *b)
{
	const json_t	*na = *(const json_t * const *)a;
	const json_t	*nb = *(const json_t * const *)b;
	json_int_t	 ra, rb;
	int		 has_a, has_b;
	const char	*ia, *ib;

	if (json_is_object(na) != json_is_object(nb))
		return json_is_object(na) ? -1 : 1;
	has_a = member_int(na, "node_rank", &ra) == 0;
	has_b = member_int(nb, "node_rank", &rb) == 0;
	if (has_a != has_b)
		return has_a ? -1 : 1;
	if (has_a && ra != rb)
		return ra < rb ? -1 : 1;

	ia = json_string_value(json_object_get(na, "id"));
	ib = json_string_value(json_object_get(nb, "id"));
	return strcmp(ia != NULL ? ia : "", ib != NULL ? ib : "");
}

/* Prints the summary and one row per node (at most INV_NODES_MAX). */
static int
print_status_table(const json_t *st, FILE *f)
{
	static const char *header[STATUS_COLS] = { "NODE", "ADDRESS",
	    "STATE", "GPUS", "STAGES", "LAYERS", "ACKED_GEN", "HEARTBEAT",
	    "CONNECTED" };
	const json_t		*nodes = json_object_get(st, "nodes");
	const json_t		**sorted;
	struct status_row	*rows;
	size_t			 n, i, c;

	print_status_summary(st, f);
	n = json_is_array(nodes) ? json_array_size(nodes) : 0;
	if (n > INV_NODES_MAX)
		n = INV_NODES_MAX;
	rows = calloc(n + 1, sizeof(*rows));
	sorted = calloc(n + 1, sizeof(*sorted));
	if (rows == NULL || sorted == NULL) {
		free(rows);
		free(sorted);
		return -1;
	}
	for (i = 0; i < n; i++)
		sorted[i] = json_array_get(nodes, i);
	qsort(sorted, n, sizeof(*sorted), compare_nodes);

	for (c = 0; c < STATUS_COLS; c++)
		snprintf(rows[0].cell[c], STATUS_CELL, "%s", header[c]);
	for (i = 0; i < n; i++)
		if (json_is_object(sorted[i]))
			status_node_row(sorted[i], &rows[i + 1]);
	print_rows(rows, n + 1, f);
	free(sorted);
	free(rows);
	return fflush(f) == 0 ? 0 : -1;
}

int
ctl_status_main(int argc, char **argv)
{
	struct socket_opts	 o;
	json_t			*reply;
	int			 rc;

	if ((rc = parse_socket_opts(argc, argv, 1, &o)) != 0)
		return rc < 0 ? CTL_EXIT_OK : rc;
	reply = control_request(o.socket, "status\n");
	free(o.conf_socket);
	if (reply == NULL)
		return CTL_EXIT_UNSATISFIED;
	rc = o.json ? print_json(reply) : print_status_table(reply, stdout);
	json_decref(reply);
	if (rc != 0) {
		ctl_warnx("failed to write the status: out of memory or "
		    "stdout closed");
		return CTL_EXIT_UNSATISFIED;
	}
	return CTL_EXIT_OK;
}
