/*
 * What the head assigns: Assignment, Standby and Revoke become the stage
 * environment file, and a change of placement runs a hook.
 *
 * The file is rewritten only when its text would change, so that a head
 * restart that resends the assignment the agent already holds touches
 * nothing. on_assign runs only when the placement differs from the held one
 * or the node was not assigned before; on_revoke runs when an assigned node
 * is revoked or put on standby. Losing the head changes nothing here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "wire.h"

void
agent_assign_init(struct agent *a)
{
	char err[PPC_ERRLEN];

	if (envfile_read(a->conf->env_file, &a->held, err, sizeof(err)) ==
	    -1) {
		/* The next assignment replaces the file, and runs on_assign
		 * because nothing valid was held. */
		log_warnx("ignoring environment file %s: %s",
		    a->conf->env_file, err);
		memset(&a->held, 0, sizeof(a->held));
		a->held.state = STAGE_NONE;
		return;
	}
	if (a->held.state != STAGE_NONE &&
	    strcmp(a->held.node_id, a->node_id) != 0) {
		log_warnx("environment file %s is for node %s, not %s: "
		    "ignoring it", a->conf->env_file, a->held.node_id,
		    a->node_id);
		memset(&a->held, 0, sizeof(a->held));
		a->held.state = STAGE_NONE;
		return;
	}
	if (a->held.state == STAGE_ASSIGNED && agent_hook_pending(a)) {
		a->hook_owed = true;
		log_warnx("on_assign for generation %llu did not finish before "
		    "the agent stopped: it runs again once the head confirms "
		    "the assignment", (unsigned long long)a->held.generation);
	}
	if (a->held.state == STAGE_NONE)
		log_info("no environment file %s yet", a->conf->env_file);
	else
		log_info("environment file %s contains generation %llu, state %s",
		    a->conf->env_file, (unsigned long long)a->held.generation,
		    envfile_state_name(a->held.state));
}

/*
 * Writes `env` unless the file already contains exactly that text.
 * Returns 1 when written, 0 when unchanged, -1 on error (with err).
 */
static int
assign_write(struct agent *a, const struct stage_env *env, char *err,
    size_t errlen)
{
	char	*now, *next;
	int	 same;

	if (a->held.state != STAGE_NONE) {
		now = envfile_format(&a->held);
		next = envfile_format(env);
		same = now != NULL && next != NULL && strcmp(now, next) == 0;
		free(now);
		free(next);
		if (same)
			return 0;
	}
	if (envfile_write(a->conf->env_file, env, err, errlen) == -1)
		return -1;
	a->held = *env;
	return 1;
}

/* Checks that a message is for this node and not older than the held one. */
static int
assign_check(struct agent *a, const char *what, uint64_t generation,
    const char *node_id, char *err, size_t errlen)
{
	if (node_id != NULL && strcmp(node_id, a->node_id) != 0) {
		snprintf(err, errlen, "%s for node %s, but this node is %s",
		    what, node_id, a->node_id);
		return -1;
	}
	/* A head that lost its state file starts over at generation 1; the
	 * agent follows it rather than wait forever for a higher one. */
	if (a->held.state != STAGE_NONE && generation < a->held.generation)
		log_warnx("%s generation %llu from head %s is older than the "
		    "held generation %llu: applying it", what,
		    (unsigned long long)generation, a->target,
		    (unsigned long long)a->held.generation);
	return 0;
}

/*
 * Expands m against the stage table of the previous Assignment on this
 * connection, validates it into env and keeps its table for the next
 * change. Returns 0, or -1 once the failure was handled. An invalid
 * Assignment gets a failed ack. A change against a table this agent does
 * not hold ends the connection, because the next one starts with the
 * whole table.
 */
static int
assign_expand(struct agent *a, const Ppcoord__Assignment *m,
    struct stage_env *env, char *err, size_t errlen)
{
	struct stagetab_view	v;
	uint64_t		gen = m->has_generation ? m->generation : 0;
	int			rc;

	rc = stagetab_expand(&a->table, m, &v, err, errlen);
	if (rc == STAGETAB_EBASE) {
		/* The head is reachable, so the next attempt goes back
		 * to it. */
		snprintf(a->redirect, sizeof(a->redirect), "%s", a->target);
		agent_conn_lost(a, true, "assignment generation %llu: %s, so "
		    "a new connection starts with the whole table",
		    (unsigned long long)gen, err);
		return -1;
	}
	if (rc == 0 && wire_assignment_to_env(&v.msg, env, err, errlen) == -1)
		rc = -1;
	if (rc == 0 && stagetab_store(&a->table, &v.msg) == -1)
		log_warnx("out of memory for the stage table of generation "
		    "%llu: a change against it from head %s will end the "
		    "connection", (unsigned long long)gen, a->target);
	stagetab_view_free(&v);
	if (rc != 0) {
		log_warnx("rejecting assignment generation %llu from head %s: "
		    "%s", (unsigned long long)gen, a->target, err);
		agent_conn_send_ack(a, gen, false, err);
		return -1;
	}
	return 0;
}

void
agent_on_assignment(struct agent *a, const Ppcoord__Assignment *m)
{
	struct stage_env	env;
	char			err[PPC_ERRLEN];
	uint64_t		gen = m->has_generation ? m->generation : 0;
	bool			run;
	int			rc;

	memset(&env, 0, sizeof(env));
	if (assign_expand(a, m, &env, err, sizeof(err)) == -1)
		return;
	if (assign_check(a, "assignment", env.generation, env.node_id, err,
	    sizeof(err)) == -1) {
		log_warnx("rejecting assignment generation %llu from head %s: "
		    "%s", (unsigned long long)gen, a->target, err);
		agent_conn_send_ack(a, gen, false, err);
		return;
	}
	env.state = STAGE_ASSIGNED;

	run = a->hook_owed || a->held.state != STAGE_ASSIGNED ||
	    !envfile_same_placement(&a->held, &env);

	if ((rc = assign_write(a, &env, err, sizeof(err))) == -1) {
		log_warnx("failed to write assignment generation %llu to %s: "
		    "%s", (unsigned long long)env.generation,
		    a->conf->env_file, err);
		agent_conn_send_ack(a, env.generation, false, err);
		return;
	}

	if (rc == 0)
		log_info("assignment generation %llu already held: node rank "
		    "%u, first stage %u, layers %u to %u (end exclusive)",
		    (unsigned long long)env.generation, env.node_rank,
		    env.first_stage, env.first_layer, env.end_layer);
	else
		log_info("assigned generation %llu: node rank %u of %u, %u of "
		    "%u stages from stage %u, layers %u to %u (end exclusive), "
		    "master %s:%u; written to %s",
		    (unsigned long long)env.generation, env.node_rank,
		    env.nnodes, env.stage_count, env.num_stages,
		    env.first_stage, env.first_layer, env.end_layer,
		    env.master_addr, env.master_port, a->conf->env_file);

	agent_conn_send_ack(a, env.generation, true, NULL);
	if (run) {
		a->hook_owed = false;
		agent_hook_request(a, AGENT_HOOK_ASSIGN, &a->held);
	}
	else {
		log_debug("placement unchanged: not running on_assign");
		agent_hook_refresh(a, &a->held);
	}
}

/*
 * Writes a standby or revoked file. Even when the write fails, the held
 * state becomes the new one, because on_revoke runs regardless: a node told
 * to stop serving stops, and the next assignment then counts as a change.
 * Returns 0, or -1 with err.
 */
static int
assign_unassign(struct agent *a, enum stage_state state, uint64_t gen,
    char *err, size_t errlen)
{
	struct stage_env	env;

	memset(&env, 0, sizeof(env));
	env.state = state;
	env.generation = gen;
	snprintf(env.node_id, sizeof(env.node_id), "%s", a->node_id);
	if (assign_write(a, &env, err, errlen) == -1) {
		a->held = env;
		return -1;
	}
	return 0;
}

void
agent_on_standby(struct agent *a, const Ppcoord__Standby *m)
{
	char		err[PPC_ERRLEN];
	uint64_t	gen = m->has_generation ? m->generation : 0;
	const char	*reason = m->reason != NULL ? m->reason : "";
	enum stage_state before = a->held.state;

	(void)assign_check(a, "standby", gen, NULL, err, sizeof(err));
	if (assign_unassign(a, STAGE_STANDBY, gen, err, sizeof(err)) == -1) {
		log_warnx("failed to write standby generation %llu to %s: %s",
		    (unsigned long long)gen, a->conf->env_file, err);
		agent_conn_send_ack(a, gen, false, err);
	} else {
		log_info("standby at generation %llu%s%s",
		    (unsigned long long)gen, *reason != '\0' ? ": " : "",
		    reason);
		agent_conn_send_ack(a, gen, true, NULL);
	}
	if (before == STAGE_ASSIGNED)
		agent_hook_request(a, AGENT_HOOK_REVOKE, &a->held);
}

/*
 * Revoke is not acknowledged: AssignmentAck reports an assignment or a
 * standby that the node now holds, and a revoked node holds no plan.
 */
void
agent_on_revoke(struct agent *a, const Ppcoord__Revoke *m)
{
	char		err[PPC_ERRLEN];
	uint64_t	gen = m->has_generation ? m->generation : 0;
	const char	*reason = m->reason != NULL ? m->reason : "";
	enum stage_state before = a->held.state;

	(void)assign_check(a, "revoke", gen, NULL, err, sizeof(err));
	if (assign_unassign(a, STAGE_REVOKED, gen, err, sizeof(err)) == -1)
		log_warnx("failed to write revoke generation %llu to %s: %s",
		    (unsigned long long)gen, a->conf->env_file, err);
	else
		log_info("revoked at generation %llu%s%s",
		    (unsigned long long)gen, *reason != '\0' ? ": " : "",
		    reason);
	if (before == STAGE_ASSIGNED)
		agent_hook_request(a, AGENT_HOOK_REVOKE, &a->held);
}
