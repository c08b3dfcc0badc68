/*
 * `ppcoordctl probe`: this node's GPU inventory as the agent reports it,
 * in the inventory JSON form that `ppcoordctl plan -i` reads.
 */
#include <sys/socket.h>

#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "gpu.h"
#include "inv.h"
#include "tls.h"
#include "util.h"

/*
 * Finds the local address that a connection to `head` ("host:port")
 * would use, as the agent's default advertise_address. A UDP connect()
 * only selects a route and sends no packet.
 */
static int
route_address(const char *head, char *addr, size_t len)
{
	struct addrinfo		 hints, *res, *ai;
	struct sockaddr_storage	 local;
	socklen_t		 slen;
	char			 host[256], port[8], err[PPC_ERRLEN];
	uint16_t		 portnum;
	int			 fd, rc = -1;

	if (util_split_host_port(head, host, sizeof(host), &portnum, err,
	    sizeof(err)) != 0)
		return -1;
	snprintf(port, sizeof(port), "%u", portnum);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && rc != 0; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, SOCK_DGRAM, 0)) == -1)
			continue;
		slen = sizeof(local);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    getsockname(fd, (struct sockaddr *)&local, &slen) == 0 &&
		    getnameinfo((struct sockaddr *)&local, slen, addr, len,
		    NULL, 0, NI_NUMERICHOST) == 0)
			rc = 0;
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

/* Sets the node's id and address the way the agent chooses them. */
static void
probe_identity(const struct agent_conf *c, struct inv_node *node)
{
	char	 err[PPC_ERRLEN];

	if (c->node_id != NULL)
		snprintf(node->id, sizeof(node->id), "%s", c->node_id);
	else if (tls_cert_file_identity(c->tls.cert_file, node->id,
	    sizeof(node->id), err, sizeof(err)) != 0) {
		ctl_warnx("no node id: agent.node_id is not set and %s; "
		    "printing \"unknown\"", err);
		snprintf(node->id, sizeof(node->id), "unknown");
	}

	if (c->advertise_address != NULL)
		snprintf(node->address, sizeof(node->address), "%s",
		    c->advertise_address);
	else if (c->nheads == 0 || route_address(c->heads[0], node->address,
	    sizeof(node->address)) != 0) {
		ctl_warnx("no address: agent.advertise_address is not set and "
		    "no route to the head was found; printing \"unknown\"");
		snprintf(node->address, sizeof(node->address), "unknown");
	}
}

static int
parse_probe_opts(int argc, char **argv, const char **path)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	*path = CTL_AGENT_CONF_DEFAULT;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			*path = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			return -1;
		case ':':
			return ctl_bad_usage("probe: %s needs a value",
			    argv[optind - 1]);
		default:
			return ctl_bad_usage("probe: unknown option %s",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_bad_usage("probe: unexpected argument \"%s\"",
		    argv[optind]);
	return 0;
}

static int
load_agent_conf(const char *path, struct agent_conf *c)
{
	struct conf_errors	 errs = { 0 };
	size_t			 i;

	if (conf_agent_load(c, path, &errs) == 0)
		return 0;
	for (i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.lines[i]);
	if (errs.count == 0)
		ctl_warnx("%s: invalid configuration", path);
	conf_errors_free(&errs);
	return -1;
}

int
ctl_probe_main(int argc, char **argv)
{
	struct agent_conf	 c;
	struct inv_node		 node;
	struct inv		 inv;
	const char		*path;
	char			 err[PPC_ERRLEN], *text = NULL;
	int			 rc;

	if ((rc = parse_probe_opts(argc, argv, &path)) != 0)
		return rc < 0 ? CTL_EXIT_OK : rc;
	if (load_agent_conf(path, &c) != 0)
		return CTL_EXIT_USAGE;

	memset(&node, 0, sizeof(node));
	inv_init(&inv);
	rc = CTL_EXIT_UNSATISFIED;
	if (gpu_probe(&c, &node, err, sizeof(err)) != 0) {
		ctl_warnx("GPU probe failed: %s", err);
		goto out;
	}
	probe_identity(&c, &node);
	if (inv_node_check(&node, err, sizeof(err)) != 0) {
		ctl_warnx("the probed inventory is invalid: %s", err);
		goto out;
	}
	if (inv_add(&inv, &node) != 0 || (text = inv_to_json(&inv)) == NULL) {
		ctl_warnx("out of memory");
		goto out;
	}
	printf("%s\n", text);
	rc = CTL_EXIT_OK;
out:
	free(text);
	inv_free(&inv);
	inv_node_free(&node);
	conf_agent_free(&c);
	return rc;
}
