/*
 * `ppcoordctl ca init DIR` and `ppcoordctl ca issue DIR NODE_ID`: the
 * cluster CA and node certificates.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "ctl.h"
#include "util.h"

#define CA_DAYS_DEFAULT	825
#define CA_DAYS_MAX	36500	/* 100 years */

static int
parse_days(const char *s, unsigned *days)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
	    v < 1 || v > CA_DAYS_MAX)
		return -1;
	*days = (unsigned)v;
	return 0;
}

int
ctl_ca_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "days", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char		 err[PPC_ERRLEN];
	unsigned	 days = CA_DAYS_DEFAULT;
	int		 ch, days_set = 0;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (parse_days(optarg, &days) != 0)
				return ctl_bad_usage("ca: invalid --days \"%s\": "
				    "expected a whole number of days from 1 "
				    "to %d", optarg, CA_DAYS_MAX);
			days_set = 1;
			break;
		case 'h':
			ctl_usage(stdout);
			return CTL_EXIT_OK;
		case ':':
			return ctl_bad_usage("ca: %s needs a value",
			    argv[optind - 1]);
		default:
			return ctl_bad_usage("ca: unknown option %s",
			    argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;

	if (argc >= 1 && strcmp(argv[0], "init") == 0) {
		if (argc != 2)
			return ctl_bad_usage("ca init: expected one argument, DIR");
		if (days_set)
			return ctl_bad_usage("ca init: --days applies only to "
			    "ca issue");
		if (ca_init(argv[1], err, sizeof(err)) != 0) {
			ctl_warnx("ca init: %s", err);
			return CTL_EXIT_UNSATISFIED;
		}
		printf("created %s/ca.pem and %s/ca.key\n", argv[1], argv[1]);
		return CTL_EXIT_OK;
	}
	if (argc >= 1 && strcmp(argv[0], "issue") == 0) {
		if (argc != 3)
			return ctl_bad_usage("ca issue: expected two "
			    "arguments, DIR and NODE_ID");
		if (util_check_node_id(argv[2], err, sizeof(err)) != 0)
			return ctl_bad_usage("ca issue: %s", err);
		if (ca_issue(argv[1], argv[2], days, err, sizeof(err)) != 0) {
			ctl_warnx("ca issue: %s", err);
			return CTL_EXIT_UNSATISFIED;
		}
		printf("created %s/%s.pem and %s/%s.key, valid for %u days\n",
		    argv[1], argv[2], argv[1], argv[2], days);
		return CTL_EXIT_OK;
	}
	if (argc == 0)
		return ctl_bad_usage("ca: missing init or issue");
	return ctl_bad_usage("ca: unknown command \"%s\": expected init or "
	    "issue", argv[0]);
}
