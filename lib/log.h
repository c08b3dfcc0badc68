/*
 * Logging in the OpenBSD vocabulary. Lines go to stderr: with a timestamp
 * when run by hand, with a syslog priority prefix ("<3>") and no timestamp
 * under systemd, where the journal adds its own. Only daemon code logs;
 * lib/ functions report errors through a caller-supplied buffer instead.
 */
#ifndef PPCOORD_LOG_H
#define PPCOORD_LOG_H

#include <stdarg.h>
#include <stdbool.h>

/* Sets the program name, debug level and output style. `journal` selects
 * syslog priority prefixes. Also routes libevent's own messages here. */
void log_init(const char *progname, bool debug, bool journal);
void log_setdebug(bool debug);
bool log_getdebug(void);

/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Rate limit for a repeated warning: at most `burst` lines per `interval_s`
 * seconds; the first line after a quiet period reports how many were
 * suppressed. Use one static struct log_ratelimit per message site.
 */
struct log_ratelimit {
	int		 interval_s;
	int		 burst;
	long long	 window_start;
	int		 printed;
	unsigned long	 suppressed;
};
#define LOG_RATELIMIT_INIT(interval, burst) { (interval), (burst), 0, 0, 0 }

/* Returns true when the caller may log now; false when the line must be
 * dropped. Reports the suppressed count through `suppressed`. */
bool log_ratelimit_allow(struct log_ratelimit *rl, unsigned long *suppressed);

#endif
