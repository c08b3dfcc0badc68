/*
 * Logging to stderr, one write() per line so that lines from several
 * processes do not interleave. Under systemd each line starts with a syslog
 * priority ("<4>") that journald turns into the entry's priority.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

/* syslog(3) priorities, spelled out to keep <syslog.h> macros out. */
#define LOG_PRI_ERR	3
#define LOG_PRI_WARNING	4
#define LOG_PRI_NOTICE	5
#define LOG_PRI_INFO	6
#define LOG_PRI_DEBUG	7

/* Maximum line length in bytes; longer messages are truncated. */
#define LOG_LINE_MAX	4096

static const char	*log_progname = "ppcoord";
static bool		 log_debug_enabled;
static bool		 log_journal;

static void	log_vlog(int pri, const char *level, const char *fmt,
		    va_list ap) __attribute__((format(printf, 3, 0)));
static void	log_msg(int pri, const char *level, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
static void	log_vlog_errno(int pri, const char *level, int err,
		    const char *fmt, va_list ap)
		    __attribute__((format(printf, 4, 0)));
static void	log_event_cb(int severity, const char *msg);

void
log_init(const char *progname, bool debug, bool journal)
{
	const char *slash;

	if (progname != NULL) {
		slash = strrchr(progname, '/');
		log_progname = slash != NULL ? slash + 1 : progname;
	}
	log_debug_enabled = debug;
	log_journal = journal;
	event_set_log_callback(log_event_cb);
}

void
log_setdebug(bool debug)
{
	log_debug_enabled = debug;
}

bool
log_getdebug(void)
{
	return log_debug_enabled;
}

/* Formats "2026-12-04T20:12:05.123Z" (UTC) into buf. */
static void
log_timestamp(char *buf, size_t len)
{
	struct timespec	ts;
	struct tm	tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
}

/*
 * Replaces every control character with '?', so that a value embedded in a
 * message cannot end the line early and forge a second entry.
 */
static void
log_sanitize(char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			s[i] = '?';
	}
}

static void
log_emit(char *line, size_t len)
{
	ssize_t n;

	log_sanitize(line, len);
	line[len++] = '\n';
	while (len > 0) {
		n = write(STDERR_FILENO, line, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		line += n;
		len -= (size_t)n;
	}
}

static void
log_vlog(int pri, const char *level, const char *fmt, va_list ap)
{
	char	line[LOG_LINE_MAX + 1];	/* + 1 for the newline */
	char	ts[96];
	int	saved_errno = errno;
	int	n, m;

	if (pri == LOG_PRI_DEBUG && !log_debug_enabled)
		return;

	if (log_journal)
		n = snprintf(line, LOG_LINE_MAX, "<%d>", pri);
	else {
		log_timestamp(ts, sizeof(ts));
		n = snprintf(line, LOG_LINE_MAX, "%s %s[%ld]: %s: ", ts,
		    log_progname, (long)getpid(), level);
	}
	if (n < 0 || n >= LOG_LINE_MAX)
		n = 0;

	m = vsnprintf(line + n, LOG_LINE_MAX - (size_t)n, fmt, ap);
	if (m < 0)
		m = 0;
	if (m >= LOG_LINE_MAX - n)
		m = LOG_LINE_MAX - n - 1;

	log_emit(line, (size_t)(n + m));
	errno = saved_errno;
}

/* Logs `fmt` with ": strerror(err)" appended. */
static void
log_vlog_errno(int pri, const char *level, int err, const char *fmt,
    va_list ap)
{
	char	msg[LOG_LINE_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err != 0)
		log_msg(pri, level, "%s: %s", msg, strerror(err));
	else
		log_msg(pri, level, "%s", msg);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	err = errno;

	va_start(ap, fmt);
	log_vlog_errno(LOG_PRI_WARNING, "warning", err, fmt, ap);
	va_end(ap);
	errno = err;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_PRI_WARNING, "warning", fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_PRI_INFO, "info", fmt, ap);
	va_end(ap);
}

void
log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_PRI_NOTICE, "notice", fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_PRI_DEBUG, "debug", fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	err = errno;

	va_start(ap, fmt);
	log_vlog_errno(LOG_PRI_ERR, "fatal", err, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_PRI_ERR, "fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

static void
log_msg(int pri, const char *level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(pri, level, fmt, ap);
	va_end(ap);
}

/* libevent's own warnings and errors, in the program's log. */
static void
log_event_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warnx("libevent: %s", msg);
		break;
	default:
		log_msg(LOG_PRI_ERR, "error", "libevent: %s", msg);
		break;
	}
}

static long long
log_monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec;
}

bool
log_ratelimit_allow(struct log_ratelimit *rl, unsigned long *suppressed)
{
	long long now = log_monotonic_s();

	if (suppressed != NULL)
		*suppressed = 0;

	if (rl->printed == 0 || now - rl->window_start >= rl->interval_s) {
		/* A new window: report what the previous one dropped. */
		if (suppressed != NULL)
			*suppressed = rl->suppressed;
		rl->suppressed = 0;
		rl->window_start = now;
		rl->printed = 1;
		return true;
	}
	if (rl->printed < rl->burst) {
		rl->printed++;
		return true;
	}
	rl->suppressed++;
	return false;
}
