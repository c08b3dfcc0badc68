/*
 * The agent's hook runner: the environment a hook gets, the queue of one
 * latest request behind a running hook, the timeout that sends SIGTERM, and
 * a program that cannot be started. Real processes run; the test reaps them
 * by calling the SIGCHLD handler itself instead of running the event loop.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../daemon/agent_hook.c"

/* Maximum wait for a hook to exit, in steps of 10 ms. */
#define REAP_STEPS	500

struct fixture {
	struct agent		agent;
	struct agent_conf	conf;
	char			dir[64];
	char			out[128];
	char			*assign_argv[4];
	char			*revoke_argv[4];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_agent_hook.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->out, sizeof(f->out), "%s/out", f->dir);
	f->conf.hook_timeout_ms = 60000;
	f->agent.conf = &f->conf;
	assert_non_null(f->agent.base = event_base_new());
	assert_int_equal(agent_hook_init(&f->agent), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	agent_hook_shutdown(&f->agent);
	event_base_free(f->agent.base);
	unlink(f->out);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Sets on_assign or on_revoke to `/bin/sh -c SCRIPT`. */
static void
set_hook(struct fixture *f, enum agent_hook_kind kind, const char *script)
{
	char **argv = kind == AGENT_HOOK_ASSIGN ? f->assign_argv :
	    f->revoke_argv;

	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = (char *)script;
	argv[3] = NULL;
	if (kind == AGENT_HOOK_ASSIGN)
		f->conf.on_assign = argv;
	else
		f->conf.on_revoke = argv;
}

static void
stage(struct stage_env *env, enum stage_state state, uint64_t generation)
{
	memset(env, 0, sizeof(*env));
	env->state = state;
	env->generation = generation;
	snprintf(env->node_id, sizeof(env->node_id), "gpu-b");
	if (state != STAGE_ASSIGNED)
		return;
	env->node_rank = 1;
	env->nnodes = 2;
	env->first_stage = 1;
	env->stage_count = 1;
	env->num_stages = 2;
	env->tp_size = 8;
	env->first_layer = 40;
	env->end_layer = 80;
	snprintf(env->master_addr, sizeof(env->master_addr), "10.0.0.1");
	env->master_port = 29500;
	snprintf(env->layer_partition, sizeof(env->layer_partition), "40,40");
}

/* Reaps until no hook runs; fails the test after REAP_STEPS. */
static void
reap_all(struct fixture *f)
{
	int i;

	for (i = 0; i < REAP_STEPS && f->agent.hook.pid != 0; i++) {
		usleep(10000);
		agent_hook_sigchld(&f->agent);
	}
	assert_int_equal(f->agent.hook.pid, 0);
}

static char *
read_out(struct fixture *f)
{
	char	err[PPC_ERRLEN], *text;
	size_t	len;

	text = util_read_file(f->out, 1 << 20, &len, err, sizeof(err));
	assert_non_null(text);
	return text;
}

static void
test_hook_env_has_stage_vars(void **state)
{
	struct fixture		*f = *state;
	struct stage_env	 env;
	char			 script[256], *text;

	setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
	setenv("WATCHDOG_USEC", "30000000", 1);
	setenv("PPCOORD_GENERATION", "999", 1);
	setenv("HOOK_TEST_KEPT", "yes", 1);
	snprintf(script, sizeof(script), "env > %s", f->out);
	set_hook(f, AGENT_HOOK_ASSIGN, script);

	stage(&env, STAGE_ASSIGNED, 7);
	agent_hook_request(&f->agent, AGENT_HOOK_ASSIGN, &env);
	assert_int_not_equal(f->agent.hook.pid, 0);
	reap_all(f);

	text = read_out(f);
	assert_non_null(strstr(text, "PPCOORD_STATE=assigned\n"));
	assert_non_null(strstr(text, "PPCOORD_GENERATION=7\n"));
	assert_null(strstr(text, "PPCOORD_GENERATION=999"));
	assert_non_null(strstr(text, "VLLM_PP_LAYER_PARTITION=40,40\n"));
	assert_non_null(strstr(text, "HOOK_TEST_KEPT=yes\n"));
	assert_null(strstr(text, "NOTIFY_SOCKET="));
	assert_null(strstr(text, "WATCHDOG_USEC="));
	free(text);

	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("PPCOORD_GENERATION");
	unsetenv("HOOK_TEST_KEPT");
}

static void
test_hook_queue_keeps_latest(void **state)
{
	struct fixture		*f = *state;
	struct stage_env	 env;
	char			 assign[256], revoke[256], *text;

	snprintf(assign, sizeof(assign), "sleep 0.3; echo assign "
	    "$PPCOORD_GENERATION >> %s", f->out);
	snprintf(revoke, sizeof(revoke), "echo revoke $PPCOORD_GENERATION "
	    ">> %s", f->out);
	set_hook(f, AGENT_HOOK_ASSIGN, assign);
	set_hook(f, AGENT_HOOK_REVOKE, revoke);

	stage(&env, STAGE_ASSIGNED, 1);
	agent_hook_request(&f->agent, AGENT_HOOK_ASSIGN, &env);
	stage(&env, STAGE_ASSIGNED, 2);
	agent_hook_request(&f->agent, AGENT_HOOK_ASSIGN, &env);
	stage(&env, STAGE_REVOKED, 3);
	agent_hook_request(&f->agent, AGENT_HOOK_REVOKE, &env);
	assert_int_equal(f->agent.hook_queued.kind, AGENT_HOOK_REVOKE);
	assert_int_equal(f->agent.hook_queued.env.generation, 3);

	reap_all(f);	/* the first, then the queued one */
	reap_all(f);
	assert_int_equal(f->agent.hook_queued.kind, AGENT_HOOK_NONE);

	text = read_out(f);
	assert_string_equal(text, "assign 1\nrevoke 3\n");
	free(text);
}

static void
test_hook_refresh_updates_queued(void **state)
{
	struct fixture		*f = *state;
	struct stage_env	 env;

	set_hook(f, AGENT_HOOK_ASSIGN, "sleep 0.2");
	stage(&env, STAGE_ASSIGNED, 1);
	agent_hook_request(&f->agent, AGENT_HOOK_ASSIGN, &env);
	stage(&env, STAGE_ASSIGNED, 2);
	env.node_rank = 0;
	env.first_stage = 0;
	env.first_layer = 0;
	env.end_layer = 40;
	agent_hook_request(&f->agent, AGENT_HOOK_ASSIGN, &env);

	/* Generation 3 places the node as generation 2 did. */
	env.generation = 3;
	agent_hook_refresh(&f->agent, &env);
	assert_int_equal(f->agent.hook_queued.env.generation, 3);

	/* Another placement is not a refresh. */
	stage(&env, STAGE_ASSIGNED, 4);
	agent_hook_refresh(&f->agent, &env);
	assert_int_equal(f->agent.hook_queued.env.generation, 3);
	reap_all(f);
	reap_all(f);
}

static void
test_hook_timeout_sends_sigterm(void **state)
{
	struct fixture		*f = *state;
	struct stage_env	 env;
	int			 i;

	set_hook(f, AGENT_HOOK_ASSIGN, "exec sleep 30");
	stage(&env, STAGE_ASSIGNED, 1);
	agent_hook_request(&f->agent, AGENT_HOOK_ASSIGN, &env);
	assert_int_not_equal(f->agent.hook.pid, 0);

	/* What the timer does when hook_timeout passes. */
	hook_timer_cb(-1, EV_TIMEOUT, &f->agent);
	assert_true(f->agent.hook.terminated);
	for (i = 0; i < REAP_STEPS && f->agent.hook.pid != 0; i++) {
		usleep(10000);
		agent_hook_sigchld(&f->agent);
	}
	assert_int_equal(f->agent.hook.pid, 0);
}

static void
test_hook_missing_program(void **state)
{
	struct fixture		*f = *state;
	struct stage_env	 env;
	char			*argv[2] = { "/nonexistent/hook", NULL };

	f->conf.on_assign = argv;
	stage(&env, STAGE_ASSIGNED, 1);
	agent_hook_request(&f->agent, AGENT_HOOK_ASSIGN, &env);
	assert_int_equal(f->agent.hook.pid, 0);
	assert_int_equal(f->agent.hook_queued.kind, AGENT_HOOK_NONE);
}

static void
test_hook_unset_skipped(void **state)
{
	struct fixture		*f = *state;
	struct stage_env	 env;

	stage(&env, STAGE_REVOKED, 1);
	agent_hook_request(&f->agent, AGENT_HOOK_REVOKE, &env);
	assert_int_equal(f->agent.hook.pid, 0);
}

static void
test_hook_cmdline_joined_and_cut(void **state)
{
	char	*argv[3] = { "/bin/systemctl", "restart", NULL };
	char	 small[16], large[64];

	hook_cmdline(argv, small, sizeof(small));
	assert_string_equal(small, "/bin/systemc...");
	hook_cmdline(argv, large, sizeof(large));
	assert_string_equal(large, "/bin/systemctl restart");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_hook_env_has_stage_vars),
		T(test_hook_queue_keeps_latest),
		T(test_hook_refresh_updates_queued),
		T(test_hook_timeout_sends_sigterm),
		T(test_hook_missing_program),
		T(test_hook_unset_skipped),
		cmocka_unit_test(test_hook_cmdline_joined_and_cut),
#undef T
	};

	log_init("test_agent_hook", false, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
