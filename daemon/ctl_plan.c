/*
 * `ppcoordctl plan`: the head's planning engine run offline on a head
 * config and an inventory file.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf.h"
#include "ctl.h"
#include "inv.h"
#include "plan.h"

enum plan_format { FORMAT_TABLE, FORMAT_JSON, FORMAT_ENV };

struct plan_opts {
	const char		*conf_path;
	const char		*inv_path;
	enum plan_format	 format;
	int			 explain;
};

/* Prints every node's environment file, then each spare's standby file. */
static int
print_env(const struct plan *p)
{
	char	*text;
	size_t	 i;

	for (i = 0; i < p->nnodes; i++) {
		if ((text = plan_node_env(p, i)) == NULL)
			return -1;
		printf("%s# node %s\n%s", i > 0 ? "\n" : "", p->nodes[i].id,
		    text);
		free(text);
	}
	for (i = 0; i < p->nspares; i++) {
		if ((text = plan_spare_env(p, i)) == NULL)
			return -1;
		printf("\n# node %s (spare)\n%s", p->spares[i].id, text);
		free(text);
	}
	return 0;
}

static int
print_plan(const struct plan_opts *o, const struct plan *p,
    const struct plan_config *cfg, const struct inv *inv)
{
	char	*text = NULL;
	FILE	*explain_to = stdout;

	switch (o->format) {
	case FORMAT_TABLE:
		if ((text = plan_to_table(p, inv)) == NULL)
			return -1;
		fputs(text, stdout);
		break;
	case FORMAT_JSON:
		if ((text = plan_to_json(p, cfg)) == NULL)
			return -1;
		printf("%s\n", text);
		explain_to = stderr;
		break;
	case FORMAT_ENV:
		if (print_env(p) != 0)
			return -1;
		break;
	}
	free(text);

	if (o->explain) {
		if ((text = plan_explain(p, cfg, inv)) == NULL)
			return -1;
		fprintf(explain_to, "\n%s", text);
		free(text);
	}
	return fflush(stdout) == 0 ? 0 : -1;
}

static int
parse_plan_opts(int argc, char **argv, struct plan_opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "inventory", required_argument, NULL, 'i' },
		{ "format", required_argument, NULL, 'F' },
		{ "explain", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	memset(o, 0, sizeof(*o));
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:i:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->conf_path = optarg;
			break;
		case 'i':
			o->inv_path = optarg;
			break;
		case 'F':
			if (strcmp(optarg, "table") == 0)
				o->format = FORMAT_TABLE;
			else if (strcmp(optarg, "json") == 0)
				o->format = FORMAT_JSON;
			else if (strcmp(optarg, "env") == 0)
				o->format = FORMAT_ENV;
			else
				return ctl_bad_usage("plan: invalid --format "
				    "\"%s\": expected table, json or env",
				    optarg);
			break;
		case 'e':
			o->explain = 1;
			break;
		case 'h':
			ctl_usage(stdout);
			return -1;
		case ':':
			return ctl_bad_usage("plan: %s needs a value",
			    argv[optind - 1]);
		default:
			return ctl_bad_usage("plan: unknown option %s",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_bad_usage("plan: unexpected argument \"%s\"",
		    argv[optind]);
	if (o->conf_path == NULL)
		return ctl_bad_usage("plan: missing -f HEAD_CONF");
	if (o->inv_path == NULL)
		return ctl_bad_usage("plan: missing -i INVENTORY_JSON");
	return 0;
}

/* Loads the head config's planning groups; prints every error. */
static int
load_conf(const char *path, struct head_conf *conf)
{
	struct conf_errors	 errs = { 0 };
	size_t			 i;

	if (conf_head_load(conf, path, CONF_SCOPE_PLAN, &errs) == 0)
		return 0;
	for (i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.lines[i]);
	if (errs.count == 0)
		ctl_warnx("%s: invalid configuration", path);
	conf_errors_free(&errs);
	return -1;
}

int
ctl_plan_main(int argc, char **argv)
{
	struct plan_opts	 o;
	struct head_conf	 conf;
	struct inv		 inv;
	struct plan		 plan;
	char			 err[PPC_ERRLEN];
	int			 rc;

	if ((rc = parse_plan_opts(argc, argv, &o)) != 0)
		return rc < 0 ? CTL_EXIT_OK : rc;
	if (load_conf(o.conf_path, &conf) != 0)
		return CTL_EXIT_USAGE;

	inv_init(&inv);
	if (inv_load_file(&inv, o.inv_path, err, sizeof(err)) != 0) {
		ctl_warnx("%s", err);
		conf_head_free(&conf);
		return CTL_EXIT_USAGE;
	}

	plan_init(&plan);
	rc = plan_compute(&conf.plan, &inv, NULL, 0, &plan, err, sizeof(err));
	if (rc == PLAN_ENOMEM) {
		ctl_warnx("out of memory while planning");
		rc = CTL_EXIT_UNSATISFIED;
	} else if (rc != 0) {
		ctl_warnx("no plan satisfies %s with inventory %s: %s",
		    o.conf_path, o.inv_path, err);
		rc = CTL_EXIT_UNSATISFIED;
	} else if (print_plan(&o, &plan, &conf.plan, &inv) != 0) {
		ctl_warnx("failed to format or write the plan: out of "
		    "memory, an invalid plan, or stdout closed");
		rc = CTL_EXIT_UNSATISFIED;
	}

	plan_free(&plan);
	inv_free(&inv);
	conf_head_free(&conf);
	return rc;
}
