/*
 * Tests for the etcd client: reply parsing without a network, then
 * elections, fencing and state against a real etcd started by
 * tests/etcd.sh on loopback with TLS and client certificates. Without etcd
 * installed (the etcd-server package) the etcd tests are skipped.
 *
 * Every client uses a lease TTL of 2 s: a keepalive every 667 ms, the loss
 * deadline 1333 ms after the last keepalive sent, and a poll every 500 ms.
 * Each test uses a key prefix of its own. ETCD_TEST_TRACE=1 prints each
 * client's errors and leader changes.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <fcntl.h>
#include <ftw.h>
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
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "conf.h"
#include "etcd.h"
#include "etcd_impl.h"
#include "util.h"

#define TTL_MS		2000

/* The etcd that tests/etcd.sh started, shared by the tests. */
static struct {
	bool	 up;
	char	 dir[64];
	char	 endpoint[128];
	char	 ca[256];
	char	 certs[256];	/* folder of node-a.pem ... node-x-other.pem */
} etcd_env;

struct client {
	struct etcd	*e;
	const char	*id;
	int		 elected;
	int		 lost;
	int		 leader_changes;
	int		 errors;
	int		 restored;
	uint64_t	 elected_ms;
	uint64_t	 lost_ms;
	uint64_t	 lease_ok_at_loss;	/* last keepalive sent */
	bool		 leader_at_loss;	/* etcd_is_leader in on_lost */
	char		 lost_reason[PPC_ERRLEN];
	char		 first_error[PPC_ERRLEN];

	bool		 put_done;
	int		 put_rc;
	char		 put_msg[PPC_ERRLEN];
	bool		 get_done;
	int		 get_rc;
	char		*get_json;
	size_t		 get_len;
	bool		 resign_done;
	int		 resign_rc;
};

/* ---- reply parsing, no etcd needed ---- */

static void
test_b64_round_trip(void **state)
{
	static const char *cases[] = { "", "a", "ab", "abc", "abcd",
	    "{\"generation\": 4}", "10.0.0.1:7450" };
	size_t	 i, len;
	char	*enc, *dec;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enc = etcd_b64_encode(cases[i], strlen(cases[i]));
		assert_non_null(enc);
		dec = etcd_b64_decode(enc, 100, &len);
		assert_non_null(dec);
		assert_int_equal(len, strlen(cases[i]));
		assert_memory_equal(dec, cases[i], len);
		free(enc);
		free(dec);
	}
}

static void
test_b64_invalid_rejected(void **state)
{
	static const char *cases[] = { "a", "abc", "ab=c", "a=bc", "ab!d",
	    "YWJj\n", "====", "YQ==YQ==" };
	size_t	 i, len;
	char	*dec;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dec = etcd_b64_decode(cases[i], 100, &len);
		if (dec != NULL)
			fail_msg("\"%s\" decoded", cases[i]);
	}
	/* "abcd" is 4 bytes; a limit of 3 rejects it. */
	assert_null(etcd_b64_decode("YWJjZA==", 3, &len));
	dec = etcd_b64_decode("YWJjZA==", 4, &len);
	assert_non_null(dec);
	free(dec);
}

static void
test_reply_errors_named(void **state)
{
	static const struct {
		const char	*body;
		long		 status;
		const char	*want;
		int		 code;
	} cases[] = {
		{ "{\"error\":\"etcdserver: requested lease not found\","
		    "\"message\":\"etcdserver: requested lease not found\","
		    "\"code\":5}", 404, "requested lease not found (code 5)",
		    5 },
		{ "{\"error\":{\"grpc_code\":14,\"http_code\":503,"
		    "\"message\":\"etcdserver: no leader\"}}", 200,
		    "no leader (code 14)", 14 },
		{ "Not Found\n", 404, "HTTP status 404: \"Not Found\"", 0 },
		{ "[1]", 200, "not a JSON object", 0 },
		{ "{\"header\":", 200, "not a JSON object", 0 },
		{ "{}", 502, "HTTP status 502 without an etcd error", 0 },
		{ "{\"error\":7}", 200, "not a string", 0 },
		{ "{\"error\":\"bad\\nline\\u001b[31m\",\"code\":2}", 400,
		    "etcd error: bad?line?[31m (code 2)", 2 },
	};
	json_t	*reply;
	char	 err[PPC_ERRLEN];
	size_t	 i;
	int	 code;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(etcd_json_reply(cases[i].body,
		    strlen(cases[i].body), cases[i].status, &reply, &code, err,
		    sizeof(err)), -1);
		assert_null(reply);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
			    cases[i].want);
		assert_int_equal(code, cases[i].code);
	}
}

static void
test_reply_size_limited(void **state)
{
	json_t	*reply;
	char	 err[PPC_ERRLEN];
	int	 code;

	assert_int_equal(etcd_json_reply("{}", ETCD_REPLY_MAX + 1, 200, &reply,
	    &code, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "over the limit"));
}

static json_t *
parse(const char *text)
{
	json_t	*reply;
	char	 err[PPC_ERRLEN];
	int	 code;

	if (etcd_json_reply(text, strlen(text), 200, &reply, &code, err,
	    sizeof(err)) == -1)
		fail_msg("%s: %s", text, err);
	return reply;
}

static void
test_int64_forms(void **state)
{
	json_t	*o = parse("{\"s\":\"-42\",\"i\":7,\"big\":"
	    "\"9223372036854775807\",\"over\":\"9223372036854775808\","
	    "\"x\":\"12a\",\"f\":1.5,\"e\":\"\"}");
	char	 err[PPC_ERRLEN];
	int64_t	 v;

	assert_int_equal(etcd_json_int64(o, "s", &v, err, sizeof(err)), 0);
	assert_int_equal(v, -42);
	assert_int_equal(etcd_json_int64(o, "i", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 7);
	assert_int_equal(etcd_json_int64(o, "big", &v, err, sizeof(err)), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(etcd_json_int64(o, "absent", &v, err, sizeof(err)),
	    0);
	assert_int_equal(v, 0);
	assert_int_equal(etcd_json_int64(o, "over", &v, err, sizeof(err)), -1);
	assert_int_equal(etcd_json_int64(o, "x", &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "\"x\""));
	assert_int_equal(etcd_json_int64(o, "f", &v, err, sizeof(err)), -1);
	assert_int_equal(etcd_json_int64(o, "e", &v, err, sizeof(err)), -1);
	json_decref(o);
}

/* Replies as etcd 3.4.23 sends them, with the header shortened. */
static void
test_txn_reply_forms(void **state)
{
	json_t		*ok = parse("{\"header\":{\"revision\":\"2\"},"
	    "\"succeeded\":true,\"responses\":[{\"response_put\":"
	    "{\"header\":{\"revision\":\"2\"}}}]}");
	json_t		*failed = parse("{\"header\":{\"revision\":\"2\"},"
	    "\"responses\":[{\"response_range\":{\"header\":{\"revision\":"
	    "\"2\"},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\","
	    "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YmFy\","
	    "\"lease\":\"77\"}],\"count\":\"1\"}}]}");
	json_t		*bad = parse("{\"header\":{\"revision\":\"3\"},"
	    "\"responses\":[{\"response_put\":{}}]}");
	struct etcd_kv	 kv;
	int64_t		 rev;
	bool		 succeeded, found;
	char		 err[PPC_ERRLEN];

	assert_int_equal(etcd_json_txn_reply(ok, 64, &succeeded, &rev, &kv,
	    &found, err, sizeof(err)), 0);
	assert_true(succeeded);
	assert_int_equal(rev, 2);
	assert_false(found);

	assert_int_equal(etcd_json_txn_reply(failed, 64, &succeeded, &rev,
	    &kv, &found, err, sizeof(err)), 0);
	assert_false(succeeded);
	assert_true(found);
	assert_string_equal(kv.value, "bar");
	assert_int_equal(kv.create_revision, 2);
	assert_int_equal(kv.lease, 77);
	etcd_kv_clear(&kv);

	/* A value longer than the limit is an error, not a truncation. */
	assert_int_equal(etcd_json_txn_reply(failed, 2, &succeeded, &rev,
	    &kv, &found, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 2 bytes"));

	assert_int_equal(etcd_json_txn_reply(bad, 64, &succeeded, &rev, &kv,
	    &found, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "response_range"));
	json_decref(ok);
	json_decref(failed);
	json_decref(bad);
}

static void
test_keepalive_reply_forms(void **state)
{
	json_t	*alive = parse("{\"result\":{\"header\":{},\"ID\":\"99\","
	    "\"TTL\":\"2\"}}");
	json_t	*expired = parse("{\"result\":{\"header\":{},\"ID\":\"99\"}}");
	json_t	*grant = parse("{\"header\":{},\"ID\":\"99\",\"TTL\":\"2\"}");
	json_t	*zero = parse("{\"header\":{},\"ID\":\"0\",\"TTL\":\"2\"}");
	char	 err[PPC_ERRLEN];
	int64_t	 ttl, id;

	assert_int_equal(etcd_json_keepalive_reply(alive, 99, &ttl, err,
	    sizeof(err)), 0);
	assert_int_equal(ttl, 2);
	assert_int_equal(etcd_json_keepalive_reply(expired, 99, &ttl, err,
	    sizeof(err)), 0);
	assert_int_equal(ttl, 0);
	assert_int_equal(etcd_json_keepalive_reply(alive, 98, &ttl, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "expected 98"));
	assert_int_equal(etcd_json_keepalive_reply(grant, 99, &ttl, err,
	    sizeof(err)), -1);

	assert_int_equal(etcd_json_grant_reply(grant, &id, &ttl, err,
	    sizeof(err)), 0);
	assert_int_equal(id, 99);
	assert_int_equal(etcd_json_grant_reply(zero, &id, &ttl, err,
	    sizeof(err)), -1);
	json_decref(alive);
	json_decref(expired);
	json_decref(grant);
	json_decref(zero);
}

static void
test_leader_value_checked(void **state)
{
	char	err[PPC_ERRLEN];
	char	longv[ETCD_LEADER_MAX + 2];

	assert_int_equal(etcd_check_value("10.0.0.1:7450", 13, err,
	    sizeof(err)), 0);
	assert_int_equal(etcd_check_value("", 0, err, sizeof(err)), -1);
	assert_int_equal(etcd_check_value("a b", 3, err, sizeof(err)), -1);
	assert_int_equal(etcd_check_value("a\nb", 3, err, sizeof(err)), -1);
	memset(longv, 'a', sizeof(longv));
	assert_int_equal(etcd_check_value(longv, ETCD_LEADER_MAX + 1, err,
	    sizeof(err)), -1);
}

/* ---- the test etcd ---- */

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

/* Copies the value of "NAME=value" lines from tests/etcd.sh's output. */
static void
env_line(const char *line, const char *name, char *out, size_t len)
{
	size_t	n = strlen(name);

	if (strncmp(line, name, n) != 0 || line[n] != '=')
		return;
	snprintf(out, len, "%s", line + n + 1);
	out[strcspn(out, "\n")] = '\0';
}

/* tests/etcd.sh, relative to the source tree where `make unit` runs, or
 * the path in ETCD_SH. */
static const char *
etcd_script(void)
{
	const char	*s = getenv("ETCD_SH");

	return s != NULL ? s : "tests/etcd.sh";
}

static int
etcd_up(void **state)
{
	char	 cmd[512], line[512], ca[256] = "";
	FILE	*p;
	int	 status;

	if (access(etcd_script(), R_OK) != 0) {
		fprintf(stderr, "%s not found: run from the source tree or "
		    "set ETCD_SH to the path of tests/etcd.sh\n",
		    etcd_script());
		return -1;
	}

	snprintf(etcd_env.dir, sizeof(etcd_env.dir),
	    "/tmp/ppcoord-test-etcd.XXXXXX");
	if (mkdtemp(etcd_env.dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "sh %s start %s", etcd_script(),
	    etcd_env.dir);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), p) != NULL) {
		env_line(line, "ETCD_ENDPOINT", etcd_env.endpoint,
		    sizeof(etcd_env.endpoint));
		env_line(line, "ETCD_CA", ca, sizeof(ca));
	}
	status = pclose(p);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		fprintf(stderr, "etcd is not installed: skipping the etcd "
		    "tests\n");
		return 0;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    etcd_env.endpoint[0] == '\0') {
		fprintf(stderr, "tests/etcd.sh start failed\n");
		return -1;
	}
	snprintf(etcd_env.ca, sizeof(etcd_env.ca), "%s", ca);
	snprintf(etcd_env.certs, sizeof(etcd_env.certs), "%s/certs",
	    etcd_env.dir);
	etcd_env.up = true;
	return 0;
}

static int
etcd_down(void **state)
{
	char	cmd[512];

	if (etcd_env.dir[0] == '\0')
		return 0;
	snprintf(cmd, sizeof(cmd), "sh %s stop %s >/dev/null", etcd_script(),
	    etcd_env.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "tests/etcd.sh stop failed\n");
	nftw(etcd_env.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void
need_etcd(void)
{
	if (!etcd_env.up)
		skip();
}

/* Runs `sh tests/etcd.sh start|stop` on the shared etcd. */
static void
etcd_control(const char *what)
{
	char	cmd[512];

	snprintf(cmd, sizeof(cmd), "sh %s %s %s >/dev/null", etcd_script(),
	    what, etcd_env.dir);
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
}

/* ---- clients ---- */

static void trace(const struct client *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* With ETCD_TEST_TRACE=1 in the environment, prints a client's errors and
 * leader changes with the monotonic time in ms. */
static void
trace(const struct client *c, const char *fmt, ...)
{
	va_list	ap;

	if (getenv("ETCD_TEST_TRACE") == NULL)
		return;
	fprintf(stderr, "%llu %s: ", (unsigned long long)util_now_ms(), c->id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
on_elected(struct etcd *e, void *arg)
{
	struct client	*c = arg;

	c->elected++;
	c->elected_ms = util_now_ms();
}

static void
on_lost(struct etcd *e, const char *reason, void *arg)
{
	struct client	*c = arg;

	c->lost++;
	c->lost_ms = util_now_ms();
	c->lease_ok_at_loss = e->lease_ok_ms;
	c->leader_at_loss = etcd_is_leader(e);
	snprintf(c->lost_reason, sizeof(c->lost_reason), "%s", reason);
}

static void
on_leader_changed(struct etcd *e, const char *leader, void *arg)
{
	struct client	*c = arg;

	c->leader_changes++;
	trace(c, "leader %s", leader != NULL ? leader : "unknown");
}

static void
on_error(struct etcd *e, const char *msg, void *arg)
{
	struct client	*c = arg;

	trace(c, "%s", msg);
	if (c->errors++ == 0)
		snprintf(c->first_error, sizeof(c->first_error), "%s", msg);
}

static void
on_restored(struct etcd *e, const char *endpoint, void *arg)
{
	struct client	*c = arg;

	c->restored++;
}

/* Makes a client with node-NAME's certificate (node-a, node-x-other ...)
 * on the given endpoints, or the test etcd when endpoints is NULL. */
static struct etcd *
client_new_with(struct event_base *base, const char *prefix,
    const char *cert, char **endpoints, size_t n)
{
	struct conf_etcd	 conf;
	struct etcd		*e;
	char			*one[1] = { etcd_env.endpoint };
	char			 certfile[320], keyfile[320];
	char			 err[PPC_ERRLEN] = "";

	snprintf(certfile, sizeof(certfile), "%s/%s.pem", etcd_env.certs,
	    cert);
	snprintf(keyfile, sizeof(keyfile), "%s/%s.key", etcd_env.certs, cert);
	memset(&conf, 0, sizeof(conf));
	conf.endpoints = endpoints != NULL ? endpoints : one;
	conf.nendpoints = endpoints != NULL ? n : 1;
	conf.ca_file = etcd_env.ca;
	conf.cert_file = certfile;
	conf.key_file = keyfile;
	conf.prefix = (char *)prefix;
	conf.lease_ttl_ms = TTL_MS;
	if ((e = etcd_new(base, &conf, "test", err, sizeof(err))) == NULL)
		fail_msg("etcd_new: %s", err);
	return e;
}

static void
client_campaign(struct client *c, struct etcd *e, const char *id)
{
	struct etcd_campaign_cb	cb = { on_elected, on_lost,
				    on_leader_changed, on_error, on_restored,
				    c };
	char			err[PPC_ERRLEN] = "";

	c->e = e;
	c->id = id;
	if (etcd_campaign(e, id, &cb, err, sizeof(err)) == -1)
		fail_msg("etcd_campaign %s: %s", id, err);
}

static void
put_cb(struct etcd *e, int rc, const char *msg, void *arg)
{
	struct client	*c = arg;

	c->put_done = true;
	c->put_rc = rc;
	snprintf(c->put_msg, sizeof(c->put_msg), "%s", msg != NULL ? msg : "");
}

static void
get_cb(struct etcd *e, int rc, const char *json, size_t len,
    const char *msg, void *arg)
{
	struct client	*c = arg;

	c->get_done = true;
	c->get_rc = rc;
	free(c->get_json);
	c->get_json = NULL;
	c->get_len = len;
	if (json != NULL) {
		c->get_json = malloc(len + 1);
		assert_non_null(c->get_json);
		memcpy(c->get_json, json, len + 1);
	}
}

static void
resign_cb(struct etcd *e, int rc, const char *msg, void *arg)
{
	struct client	*c = arg;

	c->resign_done = true;
	c->resign_rc = rc;
}

/* ---- running the loop ---- */

struct wait {
	struct event_base	*base;
	bool			(*done)(void *);
	void			*arg;
	uint64_t		 until_ms;
	bool			 met;
};

static void
wait_tick(evutil_socket_t fd, short what, void *arg)
{
	struct wait	*w = arg;

	if (w->done != NULL && w->done(w->arg)) {
		w->met = true;
		event_base_loopbreak(w->base);
	} else if (util_now_ms() >= w->until_ms)
		event_base_loopbreak(w->base);
}

/* Runs the loop until done(arg) is true (returns true) or ms have passed
 * (returns false). With done NULL it just runs for ms. */
static bool
run_until(struct event_base *base, bool (*done)(void *), void *arg,
    uint64_t ms)
{
	struct wait	 w = { base, done, arg, util_now_ms() + ms, false };
	struct timeval	 tv = { 0, 5000 };
	struct event	*tick;

	tick = event_new(base, -1, EV_PERSIST, wait_tick, &w);
	assert_non_null(tick);
	event_add(tick, &tv);
	event_base_dispatch(base);
	event_free(tick);
	return w.met;
}

static bool
is_elected(void *arg)
{
	return ((struct client *)arg)->elected > 0;
}

static bool
elected_twice(void *arg)
{
	return ((struct client *)arg)->elected > 1;
}

static bool
has_lost(void *arg)
{
	return ((struct client *)arg)->lost > 0;
}

static bool
put_finished(void *arg)
{
	return ((struct client *)arg)->put_done;
}

static bool
get_finished(void *arg)
{
	return ((struct client *)arg)->get_done;
}

static bool
resign_finished(void *arg)
{
	return ((struct client *)arg)->resign_done;
}

/* Both clients have settled: one leads, and the other has read its value. */
static bool
pair_settled(void *arg)
{
	struct client	*c = arg;

	return (c[0].elected > 0 && etcd_leader(c[1].e) != NULL) ||
	    (c[1].elected > 0 && etcd_leader(c[0].e) != NULL);
}

static void
client_clear(struct client *c)
{
	free(c->get_json);
	etcd_free(c->e);
	memset(c, 0, sizeof(*c));
}

/* ---- elections ---- */

static void
test_one_of_two_elected(void **state)
{
	struct event_base	*base = event_base_new();
	struct client		 c[2];
	int			 w;

	need_etcd();
	memset(c, 0, sizeof(c));
	client_campaign(&c[0], client_new_with(base, "/t/one-of-two",
	    "node-a", NULL, 0), "10.0.0.1:7450");
	client_campaign(&c[1], client_new_with(base, "/t/one-of-two",
	    "node-b", NULL, 0), "10.0.0.2:7450");
	assert_true(run_until(base, pair_settled, c, 3000));
	assert_int_equal(c[0].elected + c[1].elected, 1);

	w = c[0].elected ? 0 : 1;
	assert_true(etcd_is_leader(c[w].e));
	assert_false(etcd_is_leader(c[!w].e));
	assert_string_equal(etcd_leader(c[!w].e), c[w].id);
	assert_string_equal(etcd_leader(c[w].e), c[w].id);

	/* Keepalives hold the lease well past its TTL. */
	run_until(base, NULL, NULL, 3 * TTL_MS);
	assert_int_equal(c[w].lost, 0);
	assert_int_equal(c[0].elected + c[1].elected, 1);
	assert_true(etcd_is_leader(c[w].e));
	assert_int_equal(c[0].errors + c[1].errors, 0);

	client_clear(&c[0]);
	client_clear(&c[1]);
	event_base_free(base);
}

static void
test_resign_hands_over_at_once(void **state)
{
	struct event_base	*base = event_base_new();
	struct client		 a, b;
	uint64_t		 t0;

	need_etcd();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	client_campaign(&a, client_new_with(base, "/t/resign", "node-a",
	    NULL, 0), "10.0.0.1:7450");
	assert_true(run_until(base, is_elected, &a, 3000));
	client_campaign(&b, client_new_with(base, "/t/resign", "node-b",
	    NULL, 0), "10.0.0.2:7450");
	run_until(base, NULL, NULL, 700);
	assert_int_equal(b.elected, 0);
	assert_string_equal(etcd_leader(b.e), "10.0.0.1:7450");

	t0 = util_now_ms();
	etcd_resign(a.e, resign_cb, &a);
	assert_false(etcd_is_leader(a.e));
	assert_true(run_until(base, resign_finished, &a, 2000));
	assert_int_equal(a.resign_rc, ETCD_OK);
	/* One poll interval (TTL/4) and two requests, not a whole TTL. */
	assert_true(run_until(base, is_elected, &b, TTL_MS));
	assert_true(b.elected_ms - t0 < TTL_MS / 4 + 500);
	assert_int_equal(a.lost, 0);
	assert_string_equal(etcd_leader(b.e), "10.0.0.2:7450");

	/* After a resign the client can campaign again, now as follower. */
	client_campaign(&a, a.e, "10.0.0.1:7450");
	run_until(base, NULL, NULL, 700);
	assert_int_equal(a.elected, 1);
	assert_false(etcd_is_leader(a.e));
	assert_string_equal(etcd_leader(a.e), "10.0.0.2:7450");

	client_clear(&a);
	client_clear(&b);
	event_base_free(base);
}

/* ---- a leader in a child process ---- */

struct child {
	pid_t	 pid;
	int	 fd;
	char	 buf[8192];
	size_t	 len;
};

struct child_ctx {
	struct event_base	*base;
	struct etcd		*e;
	int			 fd;
};

static void
child_say(int fd, const char *fmt, ...)
{
	char	line[PPC_ERRLEN + 64];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) == -1)
		_exit(3);
}

static void
child_elected(struct etcd *e, void *arg)
{
	child_say(((struct child_ctx *)arg)->fd, "elected");
}

static void
child_lost(struct etcd *e, const char *reason, void *arg)
{
	child_say(((struct child_ctx *)arg)->fd, "lost %s", reason);
}

static void
child_put(struct etcd *e, int rc, const char *msg, void *arg)
{
	child_say(((struct child_ctx *)arg)->fd, "put %d %s", rc,
	    msg != NULL ? msg : "ok");
}

/* On SIGCONT, after a SIGSTOP: writes the state as a leader would. */
static void
child_continued(evutil_socket_t sig, short what, void *arg)
{
	struct child_ctx	*ctx = arg;

	child_say(ctx->fd, "continued leader=%d", etcd_is_leader(ctx->e));
	etcd_put_state(ctx->e, "{\"generation\":9}", 16, child_put, ctx);
}

static void
child_stop(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(((struct child_ctx *)arg)->base);
}

/* The child's life: campaign until SIGTERM, or 30 s at most. */
static void
child_main(int fd, const char *prefix, const char *id)
{
	struct etcd_campaign_cb	 cb = { child_elected, child_lost, NULL,
				    NULL, NULL, NULL };
	struct child_ctx	 ctx;
	struct timeval		 life = { 30, 0 };
	struct event		*cont, *term;
	char			 err[PPC_ERRLEN];

	ctx.fd = fd;
	ctx.base = event_base_new();
	ctx.e = client_new_with(ctx.base, prefix, "node-c", NULL, 0);
	cb.arg = &ctx;
	if (etcd_campaign(ctx.e, id, &cb, err, sizeof(err)) == -1)
		_exit(2);
	cont = evsignal_new(ctx.base, SIGCONT, child_continued, &ctx);
	term = evsignal_new(ctx.base, SIGTERM, child_stop, &ctx);
	event_add(cont, NULL);
	event_add(term, NULL);
	event_base_loopexit(ctx.base, &life);
	event_base_dispatch(ctx.base);
	_exit(0);
}

static void
child_start(struct child *ch, const char *prefix, const char *id)
{
	int	fds[2];

	memset(ch, 0, sizeof(*ch));
	assert_int_equal(pipe(fds), 0);
	ch->pid = fork();
	assert_true(ch->pid >= 0);
	if (ch->pid == 0) {
		close(fds[0]);
		child_main(fds[1], prefix, id);
	}
	close(fds[1]);
	ch->fd = fds[0];
	fcntl(ch->fd, F_SETFL, O_NONBLOCK);
}

static void
child_end(struct child *ch)
{
	if (ch->pid > 0) {
		kill(ch->pid, SIGCONT);
		kill(ch->pid, SIGKILL);
		waitpid(ch->pid, NULL, 0);
	}
	close(ch->fd);
	ch->pid = 0;
}

struct child_wait {
	struct child	*ch;
	const char	*text;
};

/* Reads what the child wrote so far and looks for a line start. */
static bool
child_said(void *arg)
{
	struct child_wait	*w = arg;
	struct child		*ch = w->ch;
	ssize_t			 n;
	char			 pattern[128];

	while (ch->len + 1 < sizeof(ch->buf) && (n = read(ch->fd,
	    ch->buf + ch->len, sizeof(ch->buf) - ch->len - 1)) > 0)
		ch->len += (size_t)n;
	ch->buf[ch->len] = '\0';
	snprintf(pattern, sizeof(pattern), "\n%s", w->text);
	return strncmp(ch->buf, w->text, strlen(w->text)) == 0 ||
	    strstr(ch->buf, pattern) != NULL;
}

static bool
child_wait(struct event_base *base, struct child *ch, const char *text,
    uint64_t ms)
{
	struct child_wait	w = { ch, text };

	return run_until(base, child_said, &w, ms);
}

static void
test_killed_leader_replaced(void **state)
{
	struct event_base	*base = event_base_new();
	struct child		 ch;
	struct client		 b;
	uint64_t		 t0;

	need_etcd();
	memset(&b, 0, sizeof(b));
	child_start(&ch, "/t/killed", "10.0.0.3:7450");
	if (!child_wait(base, &ch, "elected", 3000))
		fail_msg("child not elected; it wrote: %s", ch.buf);
	client_campaign(&b, client_new_with(base, "/t/killed", "node-b",
	    NULL, 0), "10.0.0.2:7450");
	run_until(base, NULL, NULL, 600);
	assert_int_equal(b.elected, 0);
	assert_string_equal(etcd_leader(b.e), "10.0.0.3:7450");

	t0 = util_now_ms();
	kill(ch.pid, SIGKILL);
	assert_true(run_until(base, is_elected, &b, TTL_MS + 1000));
	print_message("elected %llu ms after the leader was killed\n",
	    (unsigned long long)(b.elected_ms - t0));

	child_end(&ch);
	client_clear(&b);
	event_base_free(base);
}

static void
test_paused_leader_loses(void **state)
{
	struct event_base	*base = event_base_new();
	struct child		 ch;
	struct client		 b;
	uint64_t		 t0;

	need_etcd();
	memset(&b, 0, sizeof(b));
	child_start(&ch, "/t/paused", "10.0.0.3:7450");
	if (!child_wait(base, &ch, "elected", 3000))
		fail_msg("child not elected; it wrote: %s", ch.buf);
	client_campaign(&b, client_new_with(base, "/t/paused", "node-b",
	    NULL, 0), "10.0.0.2:7450");
	run_until(base, NULL, NULL, 300);

	kill(ch.pid, SIGSTOP);
	assert_true(run_until(base, is_elected, &b, TTL_MS + 1000));

	t0 = util_now_ms();
	kill(ch.pid, SIGCONT);
	if (!child_wait(base, &ch, "lost", 1000))
		fail_msg("no loss within 1 s of resuming; child wrote: %s",
		    ch.buf);
	if (!child_wait(base, &ch, "put -2 fenced: not the leader", 2000))
		fail_msg("state put was not fenced; child wrote: %s", ch.buf);
	assert_non_null(strstr(ch.buf, "continued leader=0"));
	print_message("child's loss reported within %llu ms of resuming\n",
	    (unsigned long long)(util_now_ms() - t0));

	/* The new leader kept the lead. */
	run_until(base, NULL, NULL, 500);
	assert_true(etcd_is_leader(b.e));
	assert_int_equal(b.lost, 0);

	child_end(&ch);
	client_clear(&b);
	event_base_free(base);
}

/* ---- fenced writes and state ---- */

static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
	return size * n;
}

/* Posts `body` to the test etcd's gateway at `path` with a blocking
 * request (only the test may block) and expects HTTP 200. */
static void
etcd_raw(const char *path, const char *body)
{
	CURL			*c = curl_easy_init();
	struct curl_slist	*h;
	char			 url[256], cert[320], keyf[320];
	long			 status = 0;

	snprintf(url, sizeof(url), "%s%s", etcd_env.endpoint, path);
	snprintf(cert, sizeof(cert), "%s/node-a.pem", etcd_env.certs);
	snprintf(keyf, sizeof(keyf), "%s/node-a.key", etcd_env.certs);
	h = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CAINFO, etcd_env.ca);
	curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
	curl_easy_setopt(c, CURLOPT_SSLKEY, keyf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static void
delete_key(const char *key)
{
	char	*k = etcd_b64_encode(key, strlen(key));
	char	 body[512];

	snprintf(body, sizeof(body), "{\"key\":\"%s\"}", k);
	etcd_raw("/v3/kv/deleterange", body);
	free(k);
}

/* Puts key = value without a lease. */
static void
put_key(const char *key, const char *value)
{
	char	*k = etcd_b64_encode(key, strlen(key));
	char	*v = etcd_b64_encode(value, strlen(value));
	char	 body[1024];

	snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}",
	    k, v);
	etcd_raw("/v3/kv/put", body);
	free(k);
	free(v);
}

/* A leader value that is not printable is reported and not passed on.
 * The client still waits for the key to go, as for any other leader. */
static void
test_bad_leader_value_rejected(void **state)
{
	struct event_base	*base = event_base_new();
	struct client		 a;

	need_etcd();
	memset(&a, 0, sizeof(a));
	put_key("/t/bad/leader", "10.0.0.9:7450\n\033[2J");
	client_campaign(&a, client_new_with(base, "/t/bad", "node-a", NULL,
	    0), "10.0.0.1:7450");
	run_until(base, NULL, NULL, 1000);
	assert_int_equal(a.elected, 0);
	assert_null(etcd_leader(a.e));
	assert_true(a.errors >= 1);
	if (strstr(a.first_error, "invalid reply: /t/bad/leader: leader "
	    "value has byte 0x0a at offset 13") == NULL)
		fail_msg("unexpected error: %s", a.first_error);

	delete_key("/t/bad/leader");
	assert_true(run_until(base, is_elected, &a, 2000));

	client_clear(&a);
	event_base_free(base);
}

static void
test_put_fenced_by_etcd(void **state)
{
	struct event_base	*base = event_base_new();
	struct client		 a;

	need_etcd();
	memset(&a, 0, sizeof(a));
	client_campaign(&a, client_new_with(base, "/t/fence", "node-a", NULL,
	    0), "10.0.0.1:7450");
	assert_true(run_until(base, is_elected, &a, 3000));

	/* The client still counts itself leader; only etcd's compare of
	 * the leader key's create revision can stop this write. */
	delete_key("/t/fence/leader");
	assert_true(etcd_is_leader(a.e));
	etcd_put_state(a.e, "{}", 2, put_cb, &a);
	assert_true(run_until(base, put_finished, &a, 2000));
	assert_int_equal(a.put_rc, ETCD_FENCED);
	if (strstr(a.put_msg, "/t/fence/leader does not exist") == NULL)
		fail_msg("unexpected message: %s", a.put_msg);
	assert_true(run_until(base, has_lost, &a, 1000));
	assert_false(a.leader_at_loss);

	/* It campaigns again and wins, as no other client runs. */
	assert_true(run_until(base, elected_twice, &a, 3000));
	a.put_done = false;
	etcd_put_state(a.e, "{}", 2, put_cb, &a);
	assert_true(run_until(base, put_finished, &a, 2000));
	assert_int_equal(a.put_rc, ETCD_OK);

	client_clear(&a);
	event_base_free(base);
}

static void
test_state_round_trip(void **state)
{
	struct event_base	*base = event_base_new();
	struct client		 a, b;
	const char		*doc = "{\"generation\": 4, \"plan\": null,"
				    " \"text\": \"\\u00e9\\n\"}";
	char			*big;

	need_etcd();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	client_campaign(&a, client_new_with(base, "/t/state", "node-a", NULL,
	    0), "10.0.0.1:7450");
	assert_true(run_until(base, is_elected, &a, 3000));
	b.e = client_new_with(base, "/t/state", "node-b", NULL, 0);

	etcd_get_state(b.e, get_cb, &b);
	assert_true(run_until(base, get_finished, &b, 2000));
	assert_int_equal(b.get_rc, ETCD_OK);
	assert_null(b.get_json);

	etcd_put_state(a.e, doc, strlen(doc), put_cb, &a);
	assert_true(run_until(base, put_finished, &a, 2000));
	assert_int_equal(a.put_rc, ETCD_OK);
	b.get_done = false;
	etcd_get_state(b.e, get_cb, &b);
	assert_true(run_until(base, get_finished, &b, 2000));
	assert_int_equal(b.get_rc, ETCD_OK);
	assert_non_null(b.get_json);
	assert_int_equal(b.get_len, strlen(doc));
	assert_string_equal(b.get_json, doc);

	/* A head that never led is fenced without asking etcd. */
	etcd_put_state(b.e, "{}", 2, put_cb, &b);
	assert_false(b.put_done);
	assert_true(run_until(base, put_finished, &b, 1000));
	assert_int_equal(b.put_rc, ETCD_FENCED);
	assert_string_equal(b.put_msg, "fenced: not the leader");

	big = calloc(1, ETCD_STATE_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', ETCD_STATE_MAX + 1);
	a.put_done = false;
	etcd_put_state(a.e, big, ETCD_STATE_MAX + 1, put_cb, &a);
	assert_true(run_until(base, put_finished, &a, 1000));
	assert_int_equal(a.put_rc, ETCD_ERROR);
	assert_non_null(strstr(a.put_msg, "over the limit"));

	/* The largest state fits in an etcd request. */
	big[0] = '"';
	big[ETCD_STATE_MAX - 1] = '"';
	a.put_done = false;
	etcd_put_state(a.e, big, ETCD_STATE_MAX, put_cb, &a);
	assert_true(run_until(base, put_finished, &a, 5000));
	if (a.put_rc != ETCD_OK)
		fail_msg("largest state put: %s", a.put_msg);
	b.get_done = false;
	etcd_get_state(b.e, get_cb, &b);
	assert_true(run_until(base, get_finished, &b, 5000));
	assert_int_equal(b.get_len, ETCD_STATE_MAX);
	assert_memory_equal(b.get_json, big, ETCD_STATE_MAX);
	free(big);

	client_clear(&a);
	client_clear(&b);
	event_base_free(base);
}

static void
free_on_elected(struct etcd *e, void *arg)
{
	struct client	*c = arg;

	c->elected++;
	etcd_free(e);
	c->e = NULL;
}

static void
free_on_put(struct etcd *e, int rc, const char *msg, void *arg)
{
	struct client	*c = arg;

	c->put_done = true;
	c->put_rc = rc;
	etcd_free(e);
	c->e = NULL;
}

/* A client freed from inside its own callbacks, with requests and timers
 * pending, neither crashes nor calls back again (ASan checks the rest). */
static void
test_free_inside_callback(void **state)
{
	struct event_base	*base = event_base_new();
	struct etcd_campaign_cb	 cb = { free_on_elected, on_lost, NULL,
				    on_error, NULL, NULL };
	struct client		 a, b;
	char			 err[PPC_ERRLEN];

	need_etcd();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.e = client_new_with(base, "/t/free", "node-a", NULL, 0);
	cb.arg = &a;
	assert_int_equal(etcd_campaign(a.e, "10.0.0.1:7450", &cb, err,
	    sizeof(err)), 0);
	assert_true(run_until(base, is_elected, &a, 3000));
	assert_null(a.e);

	/* Two puts in flight; the first callback frees the client, so the
	 * second never runs. */
	client_campaign(&b, client_new_with(base, "/t/free2", "node-b", NULL,
	    0), "10.0.0.2:7450");
	assert_true(run_until(base, is_elected, &b, 3000));
	etcd_put_state(b.e, "{}", 2, free_on_put, &b);
	etcd_put_state(b.e, "{}", 2, free_on_put, &b);
	assert_true(run_until(base, put_finished, &b, 2000));
	assert_null(b.e);
	b.put_done = false;
	run_until(base, NULL, NULL, TTL_MS / 2);
	assert_false(b.put_done);
	assert_int_equal(a.lost + b.lost, 0);

	event_base_free(base);
}

/* ---- endpoints and TLS ---- */

/* A loopback port that refuses connections: bound once, then closed. */
static int
closed_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static void
test_dead_endpoint_skipped(void **state)
{
	struct event_base	*base = event_base_new();
	struct client		 a;
	char			 dead[64], *eps[2];

	need_etcd();
	memset(&a, 0, sizeof(a));
	snprintf(dead, sizeof(dead), "https://127.0.0.1:%d", closed_port());
	eps[0] = dead;
	eps[1] = etcd_env.endpoint;
	client_campaign(&a, client_new_with(base, "/t/endpoints", "node-a",
	    eps, 2), "10.0.0.1:7450");
	assert_true(run_until(base, is_elected, &a, 3000));
	assert_int_equal(a.errors, 1);
	if (strncmp(a.first_error, dead, strlen(dead)) != 0 ||
	    strstr(a.first_error, "lease grant failed") == NULL)
		fail_msg("unexpected error: %s", a.first_error);
	assert_int_equal(a.restored, 1);

	/* Later requests go straight to the endpoint that replied. */
	run_until(base, NULL, NULL, TTL_MS);
	assert_int_equal(a.errors, 1);
	assert_int_equal(a.lost, 0);

	client_clear(&a);
	event_base_free(base);
}

static void
test_untrusted_cert_reported(void **state)
{
	struct event_base	*base = event_base_new();
	struct client		 a;

	need_etcd();
	memset(&a, 0, sizeof(a));
	client_campaign(&a, client_new_with(base, "/t/cert", "node-x-other",
	    NULL, 0), "10.0.0.1:7450");
	run_until(base, NULL, NULL, 1500);
	assert_int_equal(a.elected, 0);
	assert_true(a.errors >= 1);
	if (strncmp(a.first_error, etcd_env.endpoint,
	    strlen(etcd_env.endpoint)) != 0)
		fail_msg("error does not name the endpoint: %s",
		    a.first_error);
	print_message("untrusted certificate: %s\n", a.first_error);

	client_clear(&a);
	event_base_free(base);
}

/* ---- a network partition ---- */

#define PROXY_PAIRS_MAX	64

/* A TCP proxy on loopback to the test etcd. Frozen, it stops moving bytes
 * and leaves new connections unanswered, but closes nothing: a silent
 * partition, where requests time out instead of failing fast. */
struct proxy {
	struct event_base	*base;
	struct evconnlistener	*listener;
	int			 port;
	bool			 frozen;
	struct bufferevent	*bev[PROXY_PAIRS_MAX][2];
	evutil_socket_t		 held[PROXY_PAIRS_MAX];
	size_t			 npairs;
	size_t			 nheld;
};

static void
proxy_read(struct bufferevent *bev, void *arg)
{
	struct bufferevent	*peer = arg;

	bufferevent_write_buffer(peer, bufferevent_get_input(bev));
}

static void
proxy_event(struct bufferevent *bev, short what, void *arg)
{
	struct bufferevent	*peer = arg;

	/* Either side closing ends both, once the proxy is not frozen. */
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		bufferevent_disable(peer, EV_READ | EV_WRITE);
		shutdown(bufferevent_getfd(peer), SHUT_RDWR);
	}
}

static void
proxy_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct proxy		*p = arg;
	struct bufferevent	*in, *out;
	struct sockaddr_in	 sin;
	int			 port;

	if (p->frozen || p->npairs == PROXY_PAIRS_MAX) {
		if (p->nheld < PROXY_PAIRS_MAX)
			p->held[p->nheld++] = fd;
		else
			close(fd);
		return;
	}
	port = atoi(strrchr(etcd_env.endpoint, ':') + 1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	in = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	out = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(in);
	assert_non_null(out);
	bufferevent_setcb(in, proxy_read, NULL, proxy_event, out);
	bufferevent_setcb(out, proxy_read, NULL, proxy_event, in);
	assert_int_equal(bufferevent_socket_connect(out,
	    (struct sockaddr *)&sin, sizeof(sin)), 0);
	bufferevent_enable(in, EV_READ | EV_WRITE);
	bufferevent_enable(out, EV_READ | EV_WRITE);
	p->bev[p->npairs][0] = in;
	p->bev[p->npairs][1] = out;
	p->npairs++;
}

static void
proxy_start(struct proxy *p, struct event_base *base)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);

	memset(p, 0, sizeof(*p));
	p->base = base;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->listener = evconnlistener_new_bind(base, proxy_accept, p,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(p->listener);
	assert_int_equal(getsockname(evconnlistener_get_fd(p->listener),
	    (struct sockaddr *)&sin, &len), 0);
	p->port = ntohs(sin.sin_port);
}

static void
proxy_freeze(struct proxy *p)
{
	size_t	i;

	p->frozen = true;
	for (i = 0; i < p->npairs; i++) {
		bufferevent_disable(p->bev[i][0], EV_READ | EV_WRITE);
		bufferevent_disable(p->bev[i][1], EV_READ | EV_WRITE);
	}
}

static void
proxy_free(struct proxy *p)
{
	size_t	i;

	for (i = 0; i < p->npairs; i++) {
		bufferevent_free(p->bev[i][0]);
		bufferevent_free(p->bev[i][1]);
	}
	for (i = 0; i < p->nheld; i++)
		close(p->held[i]);
	evconnlistener_free(p->listener);
}

/* The leader, cut off from etcd without a reset, steps down before the
 * other head can be elected: its deadline is 2/3 of the TTL after its
 * last keepalive, and etcd expires the lease a whole TTL after it. */
static void
test_partitioned_leader_yields(void **state)
{
	struct event_base	*base = event_base_new();
	struct proxy		 proxy;
	struct client		 a, b;
	char			 via[64], *eps[1];
	uint64_t		 t0;

	need_etcd();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	proxy_start(&proxy, base);
	snprintf(via, sizeof(via), "https://127.0.0.1:%d", proxy.port);
	eps[0] = via;
	client_campaign(&a, client_new_with(base, "/t/partition", "node-a",
	    eps, 1), "10.0.0.1:7450");
	assert_true(run_until(base, is_elected, &a, 3000));
	client_campaign(&b, client_new_with(base, "/t/partition", "node-b",
	    NULL, 0), "10.0.0.2:7450");
	run_until(base, NULL, NULL, TTL_MS);
	assert_int_equal(b.elected, 0);
	assert_int_equal(a.lost, 0);

	t0 = util_now_ms();
	proxy_freeze(&proxy);
	assert_true(run_until(base, is_elected, &b, TTL_MS + 1500));
	assert_int_equal(a.lost, 1);
	assert_false(a.leader_at_loss);
	print_message("partitioned leader stepped down %llu ms after the "
	    "partition and %llu ms before the other head was elected: %s\n",
	    (unsigned long long)(a.lost_ms - t0),
	    (unsigned long long)(b.elected_ms - a.lost_ms), a.lost_reason);
	assert_true(a.lost_ms < b.elected_ms);
	assert_true(a.lost_ms - a.lease_ok_at_loss <= TTL_MS * 2 / 3 + 200);
	assert_true(a.errors >= 1);
	if (strstr(a.first_error, "timed out") == NULL &&
	    strstr(a.first_error, "Timeout") == NULL)
		fail_msg("expected a timeout, got: %s", a.first_error);

	client_clear(&a);
	client_clear(&b);
	proxy_free(&proxy);
	event_base_free(base);
}

/* The leader's endpoint goes silent, and the leader moves to its second
 * endpoint in time to keep the lease and the lead. */
static void
test_leader_fails_over_endpoint(void **state)
{
	struct event_base	*base = event_base_new();
	struct proxy		 proxy;
	struct client		 a, b;
	char			 via[64], *eps[2];

	need_etcd();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	proxy_start(&proxy, base);
	snprintf(via, sizeof(via), "https://127.0.0.1:%d", proxy.port);
	eps[0] = via;
	eps[1] = etcd_env.endpoint;
	client_campaign(&a, client_new_with(base, "/t/failover", "node-a",
	    eps, 2), "10.0.0.1:7450");
	assert_true(run_until(base, is_elected, &a, 3000));
	client_campaign(&b, client_new_with(base, "/t/failover", "node-b",
	    NULL, 0), "10.0.0.2:7450");

	proxy_freeze(&proxy);
	run_until(base, NULL, NULL, 3 * TTL_MS);
	assert_int_equal(a.lost, 0);
	assert_true(etcd_is_leader(a.e));
	assert_int_equal(b.elected, 0);
	assert_true(a.errors >= 1);
	if (strncmp(a.first_error, via, strlen(via)) != 0)
		fail_msg("error does not name the silent endpoint: %s",
		    a.first_error);
	assert_true(a.restored >= 1);

	client_clear(&a);
	client_clear(&b);
	proxy_free(&proxy);
	event_base_free(base);
}

/* Runs last: the shared etcd goes down and comes back. */
static void
test_etcd_restart_reelects(void **state)
{
	struct event_base	*base = event_base_new();
	struct client		 a;
	uint64_t		 t0;
	pid_t			 stopper;
	int			 status;

	need_etcd();
	memset(&a, 0, sizeof(a));
	client_campaign(&a, client_new_with(base, "/t/restart", "node-a",
	    NULL, 0), "10.0.0.1:7450");
	assert_true(run_until(base, is_elected, &a, 3000));

	/* etcd takes a few seconds to stop, so the stop runs beside the
	 * loop. */
	t0 = util_now_ms();
	stopper = fork();
	assert_true(stopper >= 0);
	if (stopper == 0) {
		execlp("sh", "sh", etcd_script(), "stop", etcd_env.dir,
		    (char *)NULL);
		_exit(127);
	}
	assert_true(run_until(base, has_lost, &a, 2 * TTL_MS));
	assert_int_equal(waitpid(stopper, &status, 0), stopper);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* The loss comes 2/3 of the TTL after the last keepalive sent, a
	 * TTL/3 before etcd could expire the lease. The 200 ms allow for a
	 * late timer on a busy machine. */
	print_message("loss reported %llu ms after etcd began to stop and "
	    "%llu ms after the last keepalive sent: %s\n",
	    (unsigned long long)(a.lost_ms - t0),
	    (unsigned long long)(a.lost_ms - a.lease_ok_at_loss),
	    a.lost_reason);
	assert_true(a.lost_ms - a.lease_ok_at_loss <= TTL_MS * 2 / 3 + 200);
	assert_false(a.leader_at_loss);
	assert_true(a.errors >= 1);

	run_until(base, NULL, NULL, 1000);
	assert_int_equal(a.elected, 1);
	etcd_control("start");
	t0 = util_now_ms();
	assert_true(run_until(base, elected_twice, &a, 10000));
	assert_int_equal(a.elected, 2);
	assert_true(a.restored >= 1);
	print_message("re-elected %llu ms after etcd came back\n",
	    (unsigned long long)(a.elected_ms - t0));

	client_clear(&a);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest parsing[] = {
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_b64_invalid_rejected),
		cmocka_unit_test(test_reply_errors_named),
		cmocka_unit_test(test_reply_size_limited),
		cmocka_unit_test(test_int64_forms),
		cmocka_unit_test(test_txn_reply_forms),
		cmocka_unit_test(test_keepalive_reply_forms),
		cmocka_unit_test(test_leader_value_checked),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test(test_one_of_two_elected),
		cmocka_unit_test(test_resign_hands_over_at_once),
		cmocka_unit_test(test_killed_leader_replaced),
		cmocka_unit_test(test_paused_leader_loses),
		cmocka_unit_test(test_put_fenced_by_etcd),
		cmocka_unit_test(test_bad_leader_value_rejected),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_free_inside_callback),
		cmocka_unit_test(test_dead_endpoint_skipped),
		cmocka_unit_test(test_untrusted_cert_reported),
		cmocka_unit_test(test_partitioned_leader_yields),
		cmocka_unit_test(test_leader_fails_over_endpoint),
		cmocka_unit_test(test_etcd_restart_reelects),
	};
	int	fail;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	fail = cmocka_run_group_tests_name("etcd replies", parsing, NULL,
	    NULL);
	fail += cmocka_run_group_tests_name("etcd live", live, etcd_up,
	    etcd_down);
	curl_global_cleanup();
	return fail;
}
