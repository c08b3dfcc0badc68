/*
 * The operator's control socket (head.control_socket): a client writes
 * one line, "status" or "inventory", and the head writes one JSON
 * document followed by a newline and closes. Anything else gets
 * {"error": "..."}.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdbool.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <jansson.h>

#include "log.h"

#include "head.h"

#define CONTROL_REQUEST_MAX	256	/* bytes, newline included */
#define CONTROL_TIMEOUT_S	5
#define CONTROL_CLIENTS_MAX	64

static struct evconnlistener	*control_listener;
static char			*control_path;
static unsigned			 control_clients;
static struct bufferevent	*control_slots[CONTROL_CLIENTS_MAX];

static void
control_client_free(struct bufferevent *bev)
{
	size_t	 i;

	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (control_slots[i] == bev)
			control_slots[i] = NULL;
	bufferevent_free(bev);
	control_clients--;
}

static void
control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("control: client timed out");
	control_client_free(bev);
}

static void
control_write_cb(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		control_client_free(bev);
}

static char *
control_error(const char *msg)
{
	json_t	*o;
	char	*text;

	if ((o = json_pack("{s:s}", "error", msg)) == NULL)
		return NULL;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* Builds the reply to one request line. */
static char *
control_reply(const char *req)
{
	char	 msg[CONTROL_REQUEST_MAX + 64];

	if (strcmp(req, "status") == 0)
		return status_json();
	if (strcmp(req, "inventory") == 0)
		return status_inventory_json();
	snprintf(msg, sizeof(msg), "unknown request \"%s\"; expected "
	    "\"status\" or \"inventory\"", req);
	return control_error(msg);
}

static void
control_respond(struct bufferevent *bev, char *text)
{
	struct evbuffer	*out = bufferevent_get_output(bev);

	if (text == NULL)
		text = control_error("out of memory");
	if (text != NULL) {
		evbuffer_add(out, text, strlen(text));
		evbuffer_add(out, "\n", 1);
		free(text);
	}
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, control_write_cb, control_event_cb,
	    NULL);
	bufferevent_enable(bev, EV_WRITE);
	if (evbuffer_get_length(out) == 0)
		control_client_free(bev);
}

static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 len;

	line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
	if (line == NULL) {
		if (evbuffer_get_length(in) >= CONTROL_REQUEST_MAX) {
			log_warnx("control: request longer than %d bytes",
			    CONTROL_REQUEST_MAX);
			control_respond(bev, control_error("request longer "
			    "than 256 bytes"));
		}
		return;
	}
	if (len >= CONTROL_REQUEST_MAX || strlen(line) != len) {
		free(line);
		control_respond(bev, control_error("invalid request"));
		return;
	}
	log_debug("control: request \"%s\"", line);
	control_respond(bev, control_reply(line));
	free(line);
}

static void
control_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct bufferevent	*bev;
	struct timeval		 tv = { CONTROL_TIMEOUT_S, 0 };
	size_t			 i;

	if (control_clients >= CONTROL_CLIENTS_MAX) {
		log_warnx("control: %d clients connected; closing a new one",
		    CONTROL_CLIENTS_MAX);
		close(fd);
		return;
	}
	if ((bev = bufferevent_socket_new(hd->h_base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		return;
	}
	control_clients++;
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		if (control_slots[i] == NULL) {
			control_slots[i] = bev;
			break;
		}
	}
	bufferevent_setwatermark(bev, EV_READ, 0, CONTROL_REQUEST_MAX);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setcb(bev, control_read_cb, NULL, control_event_cb, NULL);
	bufferevent_enable(bev, EV_READ);
}

/* Creates the socket's folder (mode 0750) when it is missing. */
static int
control_mkdir(const char *path, char *err, size_t errlen)
{
	char	*copy, *dir;
	int	 rc = 0;

	if ((copy = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	dir = dirname(copy);
	if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "head.control_socket: cannot create "
		    "folder %s: %s", dir, strerror(errno));
		rc = -1;
	}
	free(copy);
	return rc;
}

/* True when a live process listens on the socket file: then it is not
 * stale and must not be taken over. */
static bool
control_in_use(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	int	 fd, rc, saved;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	saved = errno;
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "head.control_socket %s: another process "
		    "listens on it; is a head already running?", sun->sun_path);
		return true;
	}
	if (saved == EPROTOTYPE) {
		snprintf(err, errlen, "head.control_socket %s is a socket of "
		    "another type that a live process holds; choose another "
		    "path", sun->sun_path);
		return true;
	}
	return false;
}

/* Listens on head.control_socket, replacing a stale socket file. */
int
control_start(char *err, size_t errlen)
{
	const char		*path = hd->h_conf->control_socket;
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "head.control_socket \"%s\" is longer "
		    "than %zu bytes", path, sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (control_mkdir(path, err, errlen) == -1)
		return -1;

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "head.control_socket %s exists "
			    "and is not a socket; remove it", path);
			return -1;
		}
		if (control_in_use(&sun, err, errlen))
			return -1;
		if (unlink(path) == -1) {
			snprintf(err, errlen, "cannot remove stale socket %s: "
			    "%s", path, strerror(errno));
			return -1;
		}
	}

	/* The umask makes the socket 0660 from the moment it exists. */
	old = umask(0117);
	control_listener = evconnlistener_new_bind(hd->h_base,
	    control_accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, 16, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (control_listener == NULL) {
		snprintf(err, errlen, "head.control_socket %s: cannot listen: "
		    "%s", path, strerror(errno));
		return -1;
	}
	if ((control_path = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	log_info("control socket on %s", path);
	return 0;
}

void
control_stop(void)
{
	size_t	 i;

	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (control_slots[i] != NULL)
			control_client_free(control_slots[i]);
	if (control_listener != NULL) {
		evconnlistener_free(control_listener);
		control_listener = NULL;
	}
	if (control_path != NULL) {
		unlink(control_path);
		free(control_path);
		control_path = NULL;
	}
}
