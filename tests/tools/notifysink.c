/*
 * Stands in for systemd's notification socket in tests: binds a Unix
 * datagram socket, and writes each sd_notify(3) message it receives as one
 * line (newlines in the message become spaces) to an output file, for a
 * bounded time.
 *
 * With -c HOST:PORT, every message that contains READY=1 is followed at
 * once by a TCP connect to HOST:PORT, and the line ends with
 * " listening=yes" or " listening=no": the daemon must be accepting
 * connections before it reports ready.
 *
 * usage: notifysink [-c HOST:PORT] SOCKET SECONDS OUTFILE
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int
port_accepts(const char *hostport)
{
	struct addrinfo	 hints, *res;
	char		 host[256], *port;
	int		 fd, ok;

	snprintf(host, sizeof(host), "%s", hostport);
	if ((port = strrchr(host, ':')) == NULL)
		return 0;
	*port++ = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return 0;
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	ok = fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return ok;
}

int
main(int argc, char *argv[])
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	const char		*check = NULL;
	char			 msg[4096];
	time_t			 end;
	ssize_t			 n, i;
	FILE			*out;
	int			 fd, ch;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c') {
			fprintf(stderr, "usage: notifysink [-c HOST:PORT] "
			    "SOCKET SECONDS OUTFILE\n");
			return 2;
		}
		check = optarg;
	}
	argc -= optind;
	argv += optind;
	if (argc != 3) {
		fprintf(stderr, "usage: notifysink [-c HOST:PORT] SOCKET "
		    "SECONDS OUTFILE\n");
		return 2;
	}

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(argv[0]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "notifysink: socket path too long: %s\n",
		    argv[0]);
		return 2;
	}
	strcpy(sun.sun_path, argv[0]);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		perror(argv[0]);
		return 1;
	}
	if ((out = fopen(argv[2], "a")) == NULL) {
		perror(argv[2]);
		return 1;
	}

	end = time(NULL) + atoi(argv[1]);
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (time(NULL) < end) {
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if ((n = recv(fd, msg, sizeof(msg) - 1, 0)) <= 0)
			continue;
		msg[n] = '\0';
		for (i = 0; i < n; i++)
			if (msg[i] == '\n' || msg[i] == '\0')
				msg[i] = ' ';
		if (check != NULL && strstr(msg, "READY=1") != NULL)
			fprintf(out, "%s listening=%s\n", msg,
			    port_accepts(check) ? "yes" : "no");
		else
			fprintf(out, "%s\n", msg);
		fflush(out);
	}
	fclose(out);
	unlink(argv[0]);
	return 0;
}
