/*
 * Logger: the line formats with and without the journal, strerror on
 * log_warn, debug filtering, control characters replaced, fatal exits,
 * libevent's messages, and the rate limit.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>

#include "log.h"

struct capture {
	char	path[64];
	int	fd;
	int	saved_stderr;
};

/* Points stderr at a temporary file until capture_end. */
static void
capture_start(struct capture *c)
{
	snprintf(c->path, sizeof(c->path), "/tmp/ppcoord-test-log.XXXXXX");
	c->fd = mkstemp(c->path);
	assert_true(c->fd >= 0);
	c->saved_stderr = dup(STDERR_FILENO);
	assert_true(c->saved_stderr >= 0);
	assert_int_equal(dup2(c->fd, STDERR_FILENO), STDERR_FILENO);
}

/* Restores stderr and returns what was written (malloc'd). */
static char *
capture_end(struct capture *c)
{
	char	*buf;
	off_t	 size;

	dup2(c->saved_stderr, STDERR_FILENO);
	close(c->saved_stderr);
	size = lseek(c->fd, 0, SEEK_END);
	assert_true(size >= 0);
	buf = calloc(1, (size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(c->fd, buf, (size_t)size, 0), size);
	close(c->fd);
	unlink(c->path);
	return buf;
}

static void
test_journal_priorities(void **state)
{
	struct capture	 c;
	char		*out;

	log_init("ppcoord-test", false, true);
	capture_start(&c);
	log_warnx("node %s lost", "gpu-a");
	log_notice("plan generation %d", 4);
	log_info("node gpu-b joined");
	log_debug("not shown without debug");
	out = capture_end(&c);
	assert_string_equal(out, "<4>node gpu-a lost\n"
	    "<5>plan generation 4\n"
	    "<6>node gpu-b joined\n");
	free(out);

	log_setdebug(true);
	assert_true(log_getdebug());
	capture_start(&c);
	log_debug("frame from %s", "gpu-c");
	out = capture_end(&c);
	assert_string_equal(out, "<7>frame from gpu-c\n");
	free(out);
	log_setdebug(false);
	assert_false(log_getdebug());
}

static void
test_stderr_format(void **state)
{
	struct capture	 c;
	regex_t		 re;
	char		 pattern[256], *out;

	log_init("/usr/sbin/ppcoord-head", false, false);
	capture_start(&c);
	log_warnx("listen on %s failed", "0.0.0.0:7450");
	out = capture_end(&c);

	snprintf(pattern, sizeof(pattern), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T"
	    "[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z ppcoord-head\\[%ld\\]: "
	    "warning: listen on 0\\.0\\.0\\.0:7450 failed\n$", (long)getpid());
	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED), 0);
	if (regexec(&re, out, 0, NULL, 0) != 0)
		fail_msg("line does not match: %s", out);
	regfree(&re);
	free(out);
}

static void
test_warn_appends_strerror(void **state)
{
	struct capture	 c;
	char		*out;

	log_init("ppcoord-test", false, true);
	capture_start(&c);
	errno = ENOENT;
	log_warn("open %s", "/etc/ppcoord/head.conf");
	assert_int_equal(errno, ENOENT);
	out = capture_end(&c);
	assert_string_equal(out, "<4>open /etc/ppcoord/head.conf: "
	    "No such file or directory\n");
	free(out);
}

static void
test_control_chars_replaced(void **state)
{
	struct capture	 c;
	char		*out;

	log_init("ppcoord-test", false, true);
	capture_start(&c);
	log_warnx("node %s rejected", "x\n<3>forged\r\x1b[2J");
	out = capture_end(&c);
	assert_string_equal(out, "<4>node x?<3>forged??[2J rejected\n");
	free(out);
}

static void
test_long_line_truncated(void **state)
{
	struct capture	 c;
	char		*big, *out;
	size_t		 len;

	big = malloc(10000);
	assert_non_null(big);
	memset(big, 'x', 9999);
	big[9999] = '\0';

	log_init("ppcoord-test", false, true);
	capture_start(&c);
	log_info("%s", big);
	out = capture_end(&c);
	len = strlen(out);
	assert_true(len > 1000);
	assert_true(len < 9999);
	assert_int_equal(out[len - 1], '\n');
	assert_null(memchr(out, '\n', len - 1));
	free(out);
	free(big);
}

static void
run_fatal_child(int use_errno)
{
	log_init("ppcoord-test", false, true);
	errno = EACCES;
	if (use_errno)
		fatal("open %s", "key.pem");
	fatalx("bad config %d", 2);
}

static void
test_fatal_exits(void **state)
{
	struct capture	 c;
	pid_t		 pid;
	int		 status, i;
	char		*out;

	for (i = 0; i < 2; i++) {
		capture_start(&c);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			run_fatal_child(i == 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		out = capture_end(&c);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 1);
		if (i == 0)
			assert_string_equal(out, "<3>open key.pem: Permission "
			    "denied\n");
		else
			assert_string_equal(out, "<3>bad config 2\n");
		free(out);
	}
}

static void
test_libevent_routed(void **state)
{
	struct capture		 c;
	struct event_base	*base;
	char			*out;

	/* libevent's debug logging reports the base it creates. */
	log_init("ppcoord-test", true, true);
	event_enable_debug_logging(EVENT_DBG_ALL);
	capture_start(&c);
	base = event_base_new();
	assert_non_null(base);
	event_base_free(base);
	out = capture_end(&c);
	event_enable_debug_logging(EVENT_DBG_NONE);
	log_setdebug(false);

	assert_non_null(strstr(out, "<7>libevent: "));
	free(out);
}

static void
test_ratelimit_burst_and_report(void **state)
{
	struct log_ratelimit	rl = LOG_RATELIMIT_INIT(3600, 2);
	unsigned long		suppressed = 99;

	assert_true(log_ratelimit_allow(&rl, &suppressed));
	assert_int_equal(suppressed, 0);
	assert_true(log_ratelimit_allow(&rl, &suppressed));
	assert_int_equal(suppressed, 0);
	assert_false(log_ratelimit_allow(&rl, &suppressed));
	assert_false(log_ratelimit_allow(&rl, &suppressed));
	assert_false(log_ratelimit_allow(&rl, &suppressed));

	/* The window ends: the next line reports the three dropped. */
	rl.window_start -= 3600;
	assert_true(log_ratelimit_allow(&rl, &suppressed));
	assert_int_equal(suppressed, 3);
	assert_true(log_ratelimit_allow(&rl, &suppressed));
	assert_int_equal(suppressed, 0);
	assert_false(log_ratelimit_allow(&rl, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_priorities),
		cmocka_unit_test(test_stderr_format),
		cmocka_unit_test(test_warn_appends_strerror),
		cmocka_unit_test(test_control_chars_replaced),
		cmocka_unit_test(test_long_line_truncated),
		cmocka_unit_test(test_fatal_exits),
		cmocka_unit_test(test_libevent_routed),
		cmocka_unit_test(test_ratelimit_burst_and_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
