/*
 * Hook processes. A hook is an argument vector from the config, run without
 * a shell in a process group of its own, with the agent's environment plus
 * the stage variables. The event loop never waits for it: SIGCHLD reaps it,
 * and a timer sends the group SIGTERM after hook_timeout and SIGKILL after
 * a grace period. One hook runs at a time; a request that arrives meanwhile
 * is queued, and a later request replaces the queued one, because only the
 * latest assignment matters.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"

/* Maximum length of a command line in a log line; longer ones end in
 * "...". */
#define HOOK_CMDLINE_MAX	512

extern char **environ;

static void	hook_timer_cb(evutil_socket_t, short, void *);

/*
 * ENV_FILE.hook-pending exists from the moment on_assign is requested until
 * it exits, so that an agent killed in between runs it again after its
 * restart instead of taking the written environment file as done.
 */
static void
hook_marker_path(const struct agent *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s.hook-pending", a->conf->env_file);
}

static void
hook_marker_set(struct agent *a, uint64_t generation)
{
	char	path[PATH_MAX], text[32], err[PPC_ERRLEN];
	int	n;

	hook_marker_path(a, path, sizeof(path));
	n = snprintf(text, sizeof(text), "%llu\n",
	    (unsigned long long)generation);
	if (util_write_file_atomic(path, text, (size_t)n, 0644, err,
	    sizeof(err)) == -1)
		log_warnx("cannot record the pending on_assign: %s; a restart "
		    "before it finishes will not run it again", err);
}

static void
hook_marker_clear(struct agent *a)
{
	char	path[PATH_MAX];

	hook_marker_path(a, path, sizeof(path));
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("unlink %s", path);
}

bool
agent_hook_pending(const struct agent *a)
{
	char	path[PATH_MAX];

	hook_marker_path(a, path, sizeof(path));
	return access(path, F_OK) == 0;
}

const char *
agent_hook_name(enum agent_hook_kind kind)
{
	switch (kind) {
	case AGENT_HOOK_ASSIGN:
		return "on_assign";
	case AGENT_HOOK_REVOKE:
		return "on_revoke";
	default:
		return "no hook";
	}
}

int
agent_hook_init(struct agent *a)
{
	memset(&a->hook, 0, sizeof(a->hook));
	memset(&a->hook_queued, 0, sizeof(a->hook_queued));
	a->hook_timer = evtimer_new(a->base, hook_timer_cb, a);
	return a->hook_timer == NULL ? -1 : 0;
}

static char **
hook_argv(const struct agent *a, enum agent_hook_kind kind)
{
	return kind == AGENT_HOOK_ASSIGN ? a->conf->on_assign :
	    a->conf->on_revoke;
}

/* Joins argv with spaces for the log. */
static void
hook_cmdline(char *const *argv, char *buf, size_t len)
{
	size_t	i, off = 0;
	int	n;

	buf[0] = '\0';
	for (i = 0; argv[i] != NULL; i++) {
		n = snprintf(buf + off, len - off, "%s%s", i > 0 ? " " : "",
		    argv[i]);
		if (n < 0 || (size_t)n >= len - off) {
			if (len > 4)
				memcpy(buf + len - 4, "...", 4);
			return;
		}
		off += (size_t)n;
	}
}

/*
 * The service manager's variables that address the agent itself. A hook
 * that inherited them could notify or feed the watchdog in the agent's
 * name, so they are left out, as libsystemd's sd_notify(3) and
 * sd_watchdog_enabled(3) drop them when called with unset_environment.
 */
static const char *const hook_env_dropped[] = {
	"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", NULL
};

/* True when `entry` ("KEY=VALUE") sets the same key as one of `vars`, or is
 * one of hook_env_dropped. */
static bool
hook_env_overridden(const char *entry, char *const *vars)
{
	const char	*eq;
	size_t		 klen, i;

	if ((eq = strchr(entry, '=')) == NULL)
		return false;
	klen = (size_t)(eq - entry) + 1;	/* with the '=' */
	for (i = 0; vars[i] != NULL; i++)
		if (strncmp(entry, vars[i], klen) == 0)
			return true;
	for (i = 0; hook_env_dropped[i] != NULL; i++)
		if (strncmp(entry, hook_env_dropped[i], klen) == 0 &&
		    strlen(hook_env_dropped[i]) == klen)
			return true;
	return false;
}

/*
 * The hook's environment: the agent's own, minus any variable that the
 * stage sets and the service manager's notification variables, plus the
 * stage variables. The strings belong to environ and
 * to `vars`; only the array is allocated here.
 */
static char **
hook_environ(char **vars)
{
	char	**envp;
	size_t	  n = 0, nvars = 0, i, j = 0;

	while (environ[n] != NULL)
		n++;
	while (vars[nvars] != NULL)
		nvars++;
	if ((envp = calloc(n + nvars + 1, sizeof(*envp))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (!hook_env_overridden(environ[i], vars))
			envp[j++] = environ[i];
	for (i = 0; i < nvars; i++)
		envp[j++] = vars[i];
	envp[j] = NULL;
	return envp;
}

/*
 * Starts the process: its own process group so that a timeout reaches
 * whatever it forks, default signal dispositions (the agent ignores
 * SIGPIPE), stdin from /dev/null, stdout to the agent's stderr, and no
 * descriptor of the agent's beyond the first three. posix_spawn in glibc
 * reports an exec failure such as ENOENT as its return value.
 */
static int
hook_spawn(char *const *argv, char *const *envp, pid_t *pid)
{
	posix_spawn_file_actions_t	fa;
	posix_spawnattr_t		attr;
	sigset_t			none, dfl;
	int				rc;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);

	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		return rc;
	if ((rc = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}

	rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO,
		    STDOUT_FILENO);
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa,
		    STDERR_FILENO + 1);
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(&attr, 0);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&attr, &dfl);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
		    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (rc == 0)
		rc = posix_spawn(pid, argv[0], &fa, &attr, argv, envp);

	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* Starts `h` (kind and env set). Returns 0 when the process runs. */
static int
hook_start(struct agent *a, struct agent_hook *h)
{
	char		**argv = hook_argv(a, h->kind);
	char		**vars, **envp;
	char		  cmd[HOOK_CMDLINE_MAX];
	struct timeval	  tv;
	pid_t		  pid;
	int		  rc;

	hook_cmdline(argv, cmd, sizeof(cmd));
	log_info("running %s for generation %llu (state %s): %s",
	    agent_hook_name(h->kind), (unsigned long long)h->env.generation,
	    envfile_state_name(h->env.state), cmd);

	if ((vars = envfile_vars(&h->env)) == NULL) {
		log_warnx("failed to run %s: out of memory",
		    agent_hook_name(h->kind));
		return -1;
	}
	if ((envp = hook_environ(vars)) == NULL) {
		envfile_free_vars(vars);
		log_warnx("failed to run %s: out of memory",
		    agent_hook_name(h->kind));
		return -1;
	}
	rc = hook_spawn(argv, envp, &pid);
	free(envp);
	envfile_free_vars(vars);
	if (rc != 0) {
		log_warnx("failed to run %s for generation %llu: %s: %s",
		    agent_hook_name(h->kind),
		    (unsigned long long)h->env.generation, argv[0],
		    strerror(rc));
		return -1;
	}

	a->hook = *h;
	a->hook.pid = pid;
	a->hook.started_ms = util_now_ms();
	a->hook.terminated = false;
	log_debug("%s started as pid %ld", agent_hook_name(h->kind),
	    (long)pid);

	tv.tv_sec = (time_t)(a->conf->hook_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(a->conf->hook_timeout_ms % 1000) * 1000;
	evtimer_add(a->hook_timer, &tv);
	return 0;
}

/* Starts the queued hook, if any, now that none runs. */
static void
hook_run_queued(struct agent *a)
{
	struct agent_hook h;

	while (a->hook.pid == 0 && a->hook_queued.kind != AGENT_HOOK_NONE) {
		h = a->hook_queued;
		memset(&a->hook_queued, 0, sizeof(a->hook_queued));
		if (hook_argv(a, h.kind) == NULL)
			continue;	/* removed from the config since */
		(void)hook_start(a, &h);
	}
}

void
agent_hook_request(struct agent *a, enum agent_hook_kind kind,
    const struct stage_env *env)
{
	struct agent_hook h;

	if (hook_argv(a, kind) == NULL) {
		log_debug("no %s configured for generation %llu",
		    agent_hook_name(kind),
		    (unsigned long long)env->generation);
		/* A queued hook is stale too: this request is newer. */
		memset(&a->hook_queued, 0, sizeof(a->hook_queued));
		hook_marker_clear(a);
		return;
	}

	/* A revoke also makes a pending on_assign moot. */
	if (kind == AGENT_HOOK_ASSIGN)
		hook_marker_set(a, env->generation);
	else
		hook_marker_clear(a);

	memset(&h, 0, sizeof(h));
	h.kind = kind;
	h.env = *env;

	if (a->hook.pid != 0) {
		if (a->hook_queued.kind != AGENT_HOOK_NONE)
			log_info("%s for generation %llu replaces the queued "
			    "%s for generation %llu", agent_hook_name(kind),
			    (unsigned long long)env->generation,
			    agent_hook_name(a->hook_queued.kind),
			    (unsigned long long)a->hook_queued.env.generation);
		else
			log_info("%s for generation %llu queued until %s "
			    "(pid %ld) exits", agent_hook_name(kind),
			    (unsigned long long)env->generation,
			    agent_hook_name(a->hook.kind), (long)a->hook.pid);
		a->hook_queued = h;
		return;
	}
	(void)hook_start(a, &h);
}

/* A queued on_assign gets the latest assignment of the same placement, so
 * that it sees the generation that the environment file now contains. */
void
agent_hook_refresh(struct agent *a, const struct stage_env *env)
{
	if (a->hook_queued.kind == AGENT_HOOK_ASSIGN &&
	    env->state == STAGE_ASSIGNED &&
	    envfile_same_placement(&a->hook_queued.env, env))
		a->hook_queued.env = *env;
}

/* Logs how the running hook ended. */
static void
hook_log_exit(const struct agent_hook *h, int status)
{
	const char		*name = agent_hook_name(h->kind);
	unsigned long long	 gen = (unsigned long long)h->env.generation;
	uint64_t		 ms = util_now_ms() - h->started_ms;
	unsigned long long	 s = ms / 1000, frac = (ms % 1000) / 100;

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_info("%s for generation %llu exited with status 0 after "
		    "%llu.%llu s", name, gen, s, frac);
	else if (WIFEXITED(status))
		log_warnx("%s for generation %llu failed: exit status %d "
		    "after %llu.%llu s", name, gen, WEXITSTATUS(status), s,
		    frac);
	else if (WIFSIGNALED(status))
		log_warnx("%s for generation %llu failed: killed by signal "
		    "%d (%s) after %llu.%llu s%s", name, gen, WTERMSIG(status),
		    strsignal(WTERMSIG(status)), s, frac,
		    h->terminated ? ", on timeout" : "");
}

void
agent_hook_sigchld(struct agent *a)
{
	pid_t	pid;
	int	status;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		if (pid != a->hook.pid) {
			log_debug("reaped process %ld", (long)pid);
			continue;
		}
		hook_log_exit(&a->hook, status);
		evtimer_del(a->hook_timer);
		if (a->hook.kind == AGENT_HOOK_ASSIGN &&
		    a->hook_queued.kind != AGENT_HOOK_ASSIGN)
			hook_marker_clear(a);
		memset(&a->hook, 0, sizeof(a->hook));
	}
	if (!a->stopping)
		hook_run_queued(a);
}

/* hook_timeout passed: SIGTERM to the process group, then SIGKILL. */
static void
hook_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct agent	*a = arg;
	struct timeval	 tv;

	if (a->hook.pid == 0)
		return;

	if (!a->hook.terminated) {
		log_warnx("%s for generation %llu (pid %ld) still running "
		    "after hook_timeout %llu ms: sending SIGTERM to its "
		    "process group", agent_hook_name(a->hook.kind),
		    (unsigned long long)a->hook.env.generation,
		    (long)a->hook.pid,
		    (unsigned long long)a->conf->hook_timeout_ms);
		if (kill(-a->hook.pid, SIGTERM) == -1 && errno != ESRCH)
			log_warn("kill -TERM -%ld", (long)a->hook.pid);
		a->hook.terminated = true;
		tv.tv_sec = AGENT_HOOK_KILL_GRACE_MS / 1000;
		tv.tv_usec = (AGENT_HOOK_KILL_GRACE_MS % 1000) * 1000;
		evtimer_add(a->hook_timer, &tv);
		return;
	}

	log_warnx("%s (pid %ld) ignored SIGTERM for %d ms: sending SIGKILL "
	    "to its process group", agent_hook_name(a->hook.kind),
	    (long)a->hook.pid, AGENT_HOOK_KILL_GRACE_MS);
	if (kill(-a->hook.pid, SIGKILL) == -1 && errno != ESRCH)
		log_warn("kill -KILL -%ld", (long)a->hook.pid);
}

/*
 * At exit a running hook is left alone: it is typically restarting or
 * stopping the model server, and killing it halfway would leave the server
 * in neither state. Under systemd, KillMode decides whether it outlives
 * the agent.
 */
void
agent_hook_shutdown(struct agent *a)
{
	if (a->hook.pid != 0)
		log_info("leaving %s for generation %llu (pid %ld) running",
		    agent_hook_name(a->hook.kind),
		    (unsigned long long)a->hook.env.generation,
		    (long)a->hook.pid);
	if (a->hook_queued.kind != AGENT_HOOK_NONE)
		log_warnx("%s for generation %llu was queued and will not run "
		    "now; %s", agent_hook_name(a->hook_queued.kind),
		    (unsigned long long)a->hook_queued.env.generation,
		    a->hook_queued.kind == AGENT_HOOK_ASSIGN ?
		    "the agent runs it after its restart" :
		    "run it by hand if the model server must stop");
	memset(&a->hook, 0, sizeof(a->hook));
	memset(&a->hook_queued, 0, sizeof(a->hook_queued));
	if (a->hook_timer != NULL) {
		event_free(a->hook_timer);
		a->hook_timer = NULL;
	}
}
