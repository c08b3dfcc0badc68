/*
 * The sd_notify(3) protocol by hand: one datagram of "KEY=VALUE" lines to
 * the Unix socket named by $NOTIFY_SOCKET, where a leading '@' means the
 * Linux abstract namespace. This keeps libsystemd out of the build.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"

/* Sends `state` ("READY=1", "STOPPING=1", "WATCHDOG=1"). A failed send is
 * logged at debug level only, because the agent runs the same without a
 * service manager. */
void
agent_notify(const char *state)
{
	struct sockaddr_un	 sun;
	const char		*path;
	socklen_t		 len;
	size_t			 plen;
	int			 fd;

	if ((path = getenv("NOTIFY_SOCKET")) == NULL || *path == '\0')
		return;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path)) {
		log_debug("ignoring NOTIFY_SOCKET=%s: not an absolute path or "
		    "abstract socket name", path);
		return;
	}

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);

	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("sd_notify: socket");
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1)
		log_debug("sd_notify %s to %s failed: %s", state, path,
		    strerror(errno));
	close(fd);
}

uint64_t
agent_notify_watchdog_ms(void)
{
	const char		*usec, *pid;
	char			*end;
	unsigned long long	 v;

	if ((usec = getenv("WATCHDOG_USEC")) == NULL || *usec == '\0')
		return 0;

	/* WATCHDOG_PID names the process the watchdog applies to, when set. */
	if ((pid = getenv("WATCHDOG_PID")) != NULL && *pid != '\0' &&
	    strtoll(pid, NULL, 10) != (long long)getpid())
		return 0;

	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0) {
		log_warnx("ignoring invalid WATCHDOG_USEC=%s", usec);
		return 0;
	}

	/* Ping at half the interval, as sd_watchdog_enabled(3) advises. */
	v = v / 2000;
	return v > 0 ? v : 1;
}
