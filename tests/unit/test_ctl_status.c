/*
 * Unit tests for daemon/ctl_status.c, included so that its static
 * functions are reachable: the control socket request against a forked
 * server on a socket in a temporary folder (replies, errors, oversize
 * replies, time-outs, no server), and the status table.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define REPLY_MAX		4096u
#define REQUEST_TIMEOUT_MS	300

#include "../../daemon/ctl_status.c"

/* The last message of ctl_warnx or ctl_bad_usage. */
static char	 last_message[1024];

void
ctl_usage(FILE *f)
{
	fputs("usage: test\n", f);
}

void
ctl_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
}

int
ctl_bad_usage(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	return CTL_EXIT_USAGE;
}

struct server {
	char	 dir[64];
	char	 path[96];
	pid_t	 pid;
};

enum server_mode {
	SERVE_REPLY,		/* write the reply and close */
	SERVE_SILENT,		/* read the request, then wait without reply */
};

/*
 * Forks a server that accepts one connection, checks that the request
 * line is `request`, and answers as `mode` says. The child exits 0 when
 * the request matched, 3 when it did not.
 */
static void
server_start(struct server *s, const char *request, const char *reply,
    size_t reply_len, enum server_mode mode)
{
	struct sockaddr_un	 sun;
	char			 got[64];
	size_t			 len = 0;
	ssize_t			 n;
	int			 lfd, fd;

	snprintf(s->dir, sizeof(s->dir), "/tmp/test_ctl_status.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/head.sock", s->dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 1), 0);

	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid > 0) {
		close(lfd);
		return;
	}

	signal(SIGPIPE, SIG_IGN);
	alarm(5);
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(4);
	while (len < sizeof(got) - 1 && (len == 0 || got[len - 1] != '\n')) {
		if ((n = read(fd, got + len, sizeof(got) - 1 - len)) <= 0)
			break;
		len += (size_t)n;
	}
	got[len] = '\0';
	if (mode == SERVE_SILENT) {
		sleep(2);
		_exit(0);
	}
	if (reply_len > 0 && write(fd, reply, reply_len) < 0)
		_exit(5);
	close(fd);
	_exit(strcmp(got, request) == 0 ? 0 : 3);
}

/* Waits for the server and returns its exit status; removes its files. */
static int
server_stop(struct server *s)
{
	int	 status;

	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	unlink(s->path);
	rmdir(s->dir);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_request_status_reply(void **state)
{
	static const char reply[] = "{\"cluster\": \"c1\", \"state\": "
	    "\"active\", \"nodes\": []}\n";
	struct server	 s;
	json_t		*o;

	server_start(&s, "status\n", reply, strlen(reply), SERVE_REPLY);
	o = control_request(s.path, "status\n");
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "cluster")),
	    "c1");
	json_decref(o);
	assert_int_equal(server_stop(&s), 0);
}

static void
test_request_error_member(void **state)
{
	static const char reply[] = "{\"error\": \"unknown request\"}\n";
	struct server	 s;

	server_start(&s, "inventory\n", reply, strlen(reply), SERVE_REPLY);
	assert_null(control_request(s.path, "inventory\n"));
	assert_non_null(strstr(last_message,
	    "the head rejected the request: unknown request"));
	assert_int_equal(server_stop(&s), 0);
}

static void
test_request_invalid_json(void **state)
{
	static const char reply[] = "{\"nodes\": [\n";
	struct server	 s;

	server_start(&s, "status\n", reply, strlen(reply), SERVE_REPLY);
	assert_null(control_request(s.path, "status\n"));
	assert_non_null(strstr(last_message, "invalid reply"));
	assert_int_equal(server_stop(&s), 0);
}

static void
test_request_not_object(void **state)
{
	static const char reply[] = "[1, 2]\n";
	struct server	 s;

	server_start(&s, "status\n", reply, strlen(reply), SERVE_REPLY);
	assert_null(control_request(s.path, "status\n"));
	assert_non_null(strstr(last_message, "not an object"));
	assert_int_equal(server_stop(&s), 0);
}

static void
test_request_empty_reply(void **state)
{
	struct server	 s;

	server_start(&s, "status\n", "", 0, SERVE_REPLY);
	assert_null(control_request(s.path, "status\n"));
	assert_non_null(strstr(last_message, "invalid reply"));
	assert_int_equal(server_stop(&s), 0);
}

/* A reply of exactly REPLY_MAX bytes is read; one byte more is rejected. */
static void
test_request_reply_limit(void **state)
{
	struct server	 s;
	char		*reply;
	json_t		*o;

	reply = malloc(REPLY_MAX + 1);
	assert_non_null(reply);
	memset(reply, ' ', REPLY_MAX + 1);
	memcpy(reply, "{\"pad\": 1}", 10);

	server_start(&s, "status\n", reply, REPLY_MAX, SERVE_REPLY);
	o = control_request(s.path, "status\n");
	assert_non_null(o);
	json_decref(o);
	assert_int_equal(server_stop(&s), 0);

	server_start(&s, "status\n", reply, REPLY_MAX + 1, SERVE_REPLY);
	assert_null(control_request(s.path, "status\n"));
	assert_non_null(strstr(last_message, "is larger than 4096 bytes"));
	server_stop(&s);
	free(reply);
}

static void
test_request_timeout(void **state)
{
	struct server	 s;
	uint64_t	 start;

	server_start(&s, "status\n", NULL, 0, SERVE_SILENT);
	start = util_now_ms();
	assert_null(control_request(s.path, "status\n"));
	assert_true(util_now_ms() - start >= REQUEST_TIMEOUT_MS);
	assert_true(util_now_ms() - start < 1500);
	assert_non_null(strstr(last_message, "timed out after 0.3 s"));
	kill(s.pid, SIGTERM);
	server_stop(&s);
}

static void
test_request_no_head(void **state)
{
	assert_null(control_request("/nonexistent/ppcoord/head.sock",
	    "status\n"));
	assert_non_null(strstr(last_message, "cannot connect to the head's "
	    "control socket /nonexistent/ppcoord/head.sock: No such file or "
	    "directory; is ppcoord-head running?"));
}

static void
test_request_path_too_long(void **state)
{
	char	 path[200];

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_null(control_request(path, "status\n"));
	assert_non_null(strstr(last_message, "is longer than"));
}

static void
test_format_age_units(void **state)
{
	static const struct {
		json_int_t	 ms;
		const char	*text;
	} cases[] = {
		{ -1, "-" },
		{ 0, "0 ms" },
		{ 999, "999 ms" },
		{ 1000, "1.0 s" },
		{ 1550, "1.5 s" },
		{ 9999, "9.9 s" },
		{ 12000, "12 s" },
		{ 59999, "59 s" },
		{ 60000, "1m00s" },
		{ 303000, "5m03s" },
		{ 3600000, "1h00m" },
		{ 7620000, "2h07m" },
	};
	char	 buf[32];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		format_age(cases[i].ms, buf, sizeof(buf));
		if (strcmp(buf, cases[i].text) != 0)
			fail_msg("%lld ms: got \"%s\", expected \"%s\"",
			    (long long)cases[i].ms, buf, cases[i].text);
	}
}

/* Prints the status table of `text` into a string. */
static char *
table_of(const char *text)
{
	json_error_t	 jerr;
	json_t		*st;
	char		*buf = NULL;
	size_t		 len = 0;
	FILE		*f;

	st = json_loads(text, 0, &jerr);
	if (st == NULL)
		fail_msg("test JSON: %s", jerr.text);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(print_status_table(st, f), 0);
	fclose(f);
	json_decref(st);
	return buf;
}

static void
test_status_table_rows(void **state)
{
	static const char text[] =
	    "{\"cluster\": \"integ\", \"state\": \"active\", "
	    "\"expected_nodes\": 3, \"generation\": 4, \"role\": \"leader\", "
	    "\"plan\": {\"kv_tokens\": 12345}, \"nodes\": ["
	    "{\"id\": \"node-a\", \"address\": \"127.0.0.2\", \"state\": "
	    "\"assigned\", \"gpus\": [{\"memory_total\": 85899345920}, "
	    "{\"memory_total\": 42949672960}], \"first_stage\": 2, "
	    "\"stage_count\": 2, \"first_layer\": 40, \"end_layer\": 80, "
	    "\"acked_generation\": 4, \"last_heartbeat_ms\": 512, "
	    "\"connected_s\": 3700},"
	    "{\"id\": \"node-d\", \"address\": \"127.0.0.5\", \"state\": "
	    "\"standby\", \"gpus\": [], \"last_heartbeat_ms\": 1500, "
	    "\"connected_s\": 0}]}";
	char	*out;

	out = table_of(text);
	assert_non_null(strstr(out, "cluster integ, state active, generation 4, "
	    "2 nodes, 3 expected\n"));
	assert_non_null(strstr(out, "plan order -, partition -, tp -, "
	    "master -:-, kv_tokens 12345\n"));
	assert_non_null(strstr(out, "NODE    ADDRESS    STATE     GPUS  "));
	assert_non_null(strstr(out, "node-a  127.0.0.2  assigned  "
	    "2 x 40.0 GiB  2-3     40-80   4          512 ms     1h01m\n"));
	assert_non_null(strstr(out, "node-d  127.0.0.5  standby   "
	    "-             -       -       -          1.5 s      0 s\n"));
	assert_null(strstr(out, "no plan yet"));
	free(out);
}

/*
 * The plan line, the last planning error, rows in node rank order with
 * unranked nodes after, and "disconnected" for a node without a
 * connection.
 */
static void
test_status_table_plan_and_order(void **state)
{
	static const char text[] =
	    "{\"cluster\": \"c\", \"state\": \"active\", "
	    "\"expected_nodes\": 2, \"generation\": 5, \"role\": \"leader\", "
	    "\"plan\": {\"tp_size\": 8, \"order\": \"vllm\", "
	    "\"partition\": \"even\", \"master_addr\": \"fd00::1\", "
	    "\"master_port\": 29500}, "
	    "\"plan_error\": \"stage 1 on node b is short\", \"nodes\": ["
	    "{\"id\": \"spare-a\", \"state\": \"standby\", "
	    "\"connected\": true, \"connected_s\": 5},"
	    "{\"id\": \"z\", \"state\": \"assigned\", \"node_rank\": 0, "
	    "\"connected\": true, \"connected_s\": 7},"
	    "{\"id\": \"lost-b\", \"state\": \"lost\", "
	    "\"connected\": false, \"connected_s\": 0},"
	    "{\"id\": \"a\", \"state\": \"assigned\", \"node_rank\": 1, "
	    "\"connected\": true, \"connected_s\": 9}]}";
	char	*out, *z, *a, *lost, *spare;

	out = table_of(text);
	assert_non_null(strstr(out, "plan order vllm, partition even, tp 8, "
	    "master [fd00::1]:29500\n"));
	assert_null(strstr(out, "kv_tokens"));
	assert_non_null(strstr(out, "last planning error: stage 1 on node b "
	    "is short\n"));

	z = strstr(out, "\nz ");
	a = strstr(out, "\na ");
	lost = strstr(out, "\nlost-b ");
	spare = strstr(out, "\nspare-a ");
	assert_non_null(z);
	assert_non_null(a);
	assert_non_null(lost);
	assert_non_null(spare);
	assert_true(z < a);
	assert_true(a < lost);
	assert_true(lost < spare);

	assert_non_null(strstr(lost, "disconnected\n"));
	assert_null(strstr(lost, "0 s\n"));
	free(out);
}

/* The head's JSON is read leniently: wrong types print as "-". */
static void
test_status_table_lenient(void **state)
{
	static const char text[] =
	    "{\"cluster\": 5, \"role\": \"follower\", \"leader\": "
	    "\"head-2:7450\", \"plan\": null, \"nodes\": [7, "
	    "{\"id\": \"n\", \"gpus\": \"many\", \"first_stage\": \"x\", "
	    "\"last_heartbeat_ms\": -5}]}";
	char	*out;

	out = table_of(text);
	assert_non_null(strstr(out, "cluster 5, state -, generation -, 2 nodes, "
	    "- expected\n"));
	assert_non_null(strstr(out, "role follower, leader head-2:7450\n"));
	assert_non_null(strstr(out, "no plan yet\n"));
	assert_non_null(strstr(out, "\nn  "));
	free(out);
}

/* The role line names the store on etcd and is left out for a single
 * head on the state file. */
static void
test_status_table_role_line(void **state)
{
	static const char leader[] =
	    "{\"cluster\": \"c\", \"role\": \"leader\", \"leader\": "
	    "\"head-1:7450\", \"store\": \"etcd\", \"plan\": null, "
	    "\"nodes\": []}";
	static const char single[] =
	    "{\"cluster\": \"c\", \"role\": \"standalone\", \"leader\": "
	    "null, \"store\": \"file\", \"plan\": null, \"nodes\": []}";
	char	*out;

	out = table_of(leader);
	assert_non_null(strstr(out, "role leader, leader head-1:7450, "
	    "store etcd\n"));
	free(out);

	out = table_of(single);
	assert_null(strstr(out, "role "));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_status_reply),
		cmocka_unit_test(test_request_error_member),
		cmocka_unit_test(test_request_invalid_json),
		cmocka_unit_test(test_request_not_object),
		cmocka_unit_test(test_request_empty_reply),
		cmocka_unit_test(test_request_reply_limit),
		cmocka_unit_test(test_request_timeout),
		cmocka_unit_test(test_request_no_head),
		cmocka_unit_test(test_request_path_too_long),
		cmocka_unit_test(test_format_age_units),
		cmocka_unit_test(test_status_table_rows),
		cmocka_unit_test(test_status_table_plan_and_order),
		cmocka_unit_test(test_status_table_lenient),
		cmocka_unit_test(test_status_table_role_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
