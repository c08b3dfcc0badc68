/*
 * systemd service notifications (Type=notify): READY=1, RELOADING=1,
 * STOPPING=1, STATUS= and watchdog pings.
 *
 * The protocol is one datagram of "KEY=VALUE" lines to the Unix socket in
 * $NOTIFY_SOCKET, in the abstract namespace when the path starts with '@'
 * (sd_notify(3)). Sending it by hand keeps libsystemd out of the head's
 * dependencies, so the same binary runs on hosts without systemd.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

#include "head.h"

static int
notify_addr(struct sockaddr_un *sun, socklen_t *len)
{
	const char	*path = getenv("NOTIFY_SOCKET");
	size_t		 plen;

	if (path == NULL || path[0] == '\0')
		return -1;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    plen >= sizeof(sun->sun_path)) {
		log_warnx("NOTIFY_SOCKET \"%s\" is not an absolute path or "
		    "an abstract socket name; systemd notifications are off",
		    path);
		return -1;
	}

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, plen);
	if (path[0] == '@')
		sun->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	return 0;
}

/* Sends one notification; does nothing when not run by systemd. */
void
notify_send(const char *fmt, ...)
{
	static struct log_ratelimit	 rl = LOG_RATELIMIT_INIT(60, 3);
	struct sockaddr_un		 sun;
	socklen_t			 slen;
	char				 msg[512];
	unsigned long			 suppressed;
	va_list				 ap;
	int				 fd, n;

	if (notify_addr(&sun, &slen) == -1)
		return;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = (int)strlen(msg);

	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		if (log_ratelimit_allow(&rl, &suppressed))
			log_warn("notify: socket");
		return;
	}
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    slen) == -1 && log_ratelimit_allow(&rl, &suppressed))
		log_warn("notify: sendto %s", getenv("NOTIFY_SOCKET"));
	close(fd);
}

/* Announces a reload with the monotonic time systemd (v253 and later)
 * uses to match it with the READY=1 that follows. */
void
notify_reloading(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading "
	    "the configuration",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
}

static void
notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	notify_send("WATCHDOG=1");
}

/* Pings the watchdog from the event loop at half of WATCHDOG_USEC, so a
 * stuck loop stops the pings and systemd restarts the head. */
void
notify_watchdog_start(void)
{
	const char		*s = getenv("WATCHDOG_USEC");
	const char		*pid = getenv("WATCHDOG_PID");
	struct timeval		 tv;
	unsigned long long	 usec;
	char			*end;

	if (s == NULL || *s == '\0')
		return;
	if (pid != NULL && *pid != '\0' &&
	    strtol(pid, NULL, 10) != (long)getpid())
		return;

	errno = 0;
	usec = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || usec == 0) {
		log_warnx("WATCHDOG_USEC \"%s\" is not a positive integer; "
		    "watchdog pings are off", s);
		return;
	}
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000ULL);
	tv.tv_usec = (suseconds_t)(usec % 1000000ULL);

	hd->h_watchdog = event_new(hd->h_base, -1, EV_PERSIST,
	    notify_watchdog_cb, NULL);
	if (hd->h_watchdog == NULL || event_add(hd->h_watchdog, &tv) == -1)
		fatalx("notify_watchdog_start: cannot add the watchdog timer");
	log_debug("watchdog: pinging every %llu ms", usec / 1000ULL);
}
