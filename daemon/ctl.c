/*
 * ppcoordctl: offline planning, the live status and inventory of a
 * running head, the local GPU probe and the cluster CA.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char usage_text[] =
"usage: ppcoordctl plan -f HEAD_CONF -i INVENTORY_JSON [--format table|json|env]\n"
"                       [--explain]\n"
"       ppcoordctl status [-s SOCKET | -f HEAD_CONF] [--format table|json]\n"
"       ppcoordctl inventory [-s SOCKET | -f HEAD_CONF]\n"
"       ppcoordctl probe [-f AGENT_CONF]\n"
"       ppcoordctl ca init DIR\n"
"       ppcoordctl ca issue DIR NODE_ID [--days N]\n"
"       ppcoordctl --version | -h\n"
"\n"
"plan       compute a plan offline with the head's planning engine\n"
"  -f, --config FILE      head config; only its model, plan and cluster\n"
"                         groups are read\n"
"  -i, --inventory FILE   inventory JSON ({\"nodes\": [...]}), as `inventory`\n"
"                         and `probe` print it\n"
"  --format table         one row per stage (default)\n"
"  --format json          the plan JSON\n"
"  --format env           each node's stage environment file, after a\n"
"                         \"# node ID\" line; spares get their standby file\n"
"  --explain              also print why each node has its place, each\n"
"                         stage's memory (bytes per GPU) and vLLM's even\n"
"                         split beside it; after table or env output on\n"
"                         stdout, after json on stderr so that stdout stays\n"
"                         one JSON document\n"
"status     print the live plan and nodes of a running head\n"
"  -s, --socket PATH      the head's control socket\n"
"                         (default " CTL_SOCKET_DEFAULT ")\n"
"  -f, --config FILE      take the socket from head.control_socket of this\n"
"                         head config; -s wins over -f\n"
"  --format table|json    a summary and one row per node (default), or the\n"
"                         head's status JSON\n"
"inventory  print the live inventory JSON, which `plan -i` reads\n"
"  -s, -f                 as for status\n"
"probe      print this node's GPU inventory as the agent reports it\n"
"  -f, --config FILE      agent config (default " CTL_AGENT_CONF_DEFAULT ")\n"
"ca init    create DIR/ca.pem and DIR/ca.key (never overwrites a CA)\n"
"ca issue   create DIR/NODE_ID.pem and DIR/NODE_ID.key, signed by DIR's CA\n"
"  --days N               certificate validity in days (default 825)\n"
"\n"
"A request to the head times out after 10 seconds.\n"
"Exit status: 0 success; 1 a plan or request that cannot be satisfied, or\n"
"the head is not running; 2 bad usage or an invalid file.\n";

void
ctl_usage(FILE *f)
{
	fputs(usage_text, f);
}

void
ctl_warnx(const char *fmt, ...)
{
	va_list	 ap;

	fputs("ppcoordctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
ctl_bad_usage(const char *fmt, ...)
{
	va_list	 ap;

	fputs("ppcoordctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (ppcoordctl -h prints the usage)\n", stderr);
	return CTL_EXIT_USAGE;
}

static const struct {
	const char	*name;
	int		(*main)(int, char **);
} commands[] = {
	{ "plan", ctl_plan_main },
	{ "status", ctl_status_main },
	{ "inventory", ctl_inventory_main },
	{ "probe", ctl_probe_main },
	{ "ca", ctl_ca_main },
};

int
main(int argc, char *argv[])
{
	size_t	 i;

	if (argc < 2) {
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		ctl_usage(stdout);
		return CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("ppcoordctl %s\n", PPCOORD_VERSION);
		return CTL_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].main(argc - 1, argv + 1);
	return ctl_bad_usage("unknown subcommand \"%s\"", argv[1]);
}
