/*
 * ppcoordctl: the operator's command-line tool. Each subcommand lives in
 * its own file and returns the program's exit status.
 */
#ifndef PPCOORD_CTL_H
#define PPCOORD_CTL_H

#include <stdio.h>

#define CTL_EXIT_OK		0
#define CTL_EXIT_UNSATISFIED	1	/* plan infeasible, head not running */
#define CTL_EXIT_USAGE		2	/* bad usage or an invalid file */

#define CTL_SOCKET_DEFAULT	"/run/ppcoord/head.sock"
#define CTL_AGENT_CONF_DEFAULT	"/etc/ppcoord/agent.conf"

/* Prints the usage text to f. */
void	ctl_usage(FILE *f);
/* Prints "ppcoordctl: " and the message to stderr. */
void	ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Prints the message and a pointer to -h as one line on stderr; returns
 * CTL_EXIT_USAGE. Only -h and a bare `ppcoordctl` print the full usage.
 */
int	ctl_bad_usage(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

int	ctl_plan_main(int argc, char **argv);
int	ctl_status_main(int argc, char **argv);
int	ctl_inventory_main(int argc, char **argv);
int	ctl_probe_main(int argc, char **argv);
int	ctl_ca_main(int argc, char **argv);

#endif
