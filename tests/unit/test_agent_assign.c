/*
 * The agent's handling of Assignment, Standby and Revoke: when the
 * environment file is written, when a hook runs and what is acknowledged.
 * The module is included whole, and the connection and hook calls it makes
 * are recorded by the stubs below instead.
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

#include "../../daemon/agent_assign.c"

/* What the module under test asked of the connection and the hooks. */
static struct {
	int			acks;
	uint64_t		ack_generation;
	bool			ack_ok;
	char			ack_error[PPC_ERRLEN];
	int			hooks;
	enum agent_hook_kind	hook_kind;
	uint64_t		hook_generation;
	int			losts;
	char			lost_reason[PPC_ERRLEN];
} calls;

void
agent_conn_lost(struct agent *a, bool warn, const char *fmt, ...)
{
	va_list ap;

	calls.losts++;
	va_start(ap, fmt);
	vsnprintf(calls.lost_reason, sizeof(calls.lost_reason), fmt, ap);
	va_end(ap);
	stagetab_clear(&a->table);
}

void
agent_conn_send_ack(struct agent *a, uint64_t generation, bool ok,
    const char *error)
{
	calls.acks++;
	calls.ack_generation = generation;
	calls.ack_ok = ok;
	snprintf(calls.ack_error, sizeof(calls.ack_error), "%s",
	    error != NULL ? error : "");
}

void
agent_hook_request(struct agent *a, enum agent_hook_kind kind,
    const struct stage_env *env)
{
	calls.hooks++;
	calls.hook_kind = kind;
	calls.hook_generation = env->generation;
}

void
agent_hook_refresh(struct agent *a, const struct stage_env *env)
{
}

/* Whether ENV_FILE.hook-pending exists, as the test sets it. */
static bool	hook_pending;

bool
agent_hook_pending(const struct agent *a)
{
	return hook_pending;
}

struct fixture {
	struct agent		agent;
	struct agent_conf	conf;
	char			dir[64];
	char			path[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_agent_assign.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/stage.env", f->dir);
	f->conf.env_file = f->path;
	f->agent.conf = &f->conf;
	snprintf(f->agent.node_id, sizeof(f->agent.node_id), "gpu-b");
	snprintf(f->agent.target, sizeof(f->agent.target), "head:7450");
	memset(&calls, 0, sizeof(calls));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	stagetab_clear(&f->agent.table);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* An Assignment of node gpu-b in a three-node plan of 80 layers. */
struct assignment {
	Ppcoord__Assignment	msg;
	Ppcoord__StageInfo	stage[3];
	Ppcoord__StageInfo	*stages[3];
	uint32_t		partition[3];
};

static void
assignment_init(struct assignment *as, uint64_t generation, uint32_t rank)
{
	/* gpu-b takes stage `rank`; gpu-a and gpu-c fill the others. */
	static const char *others[2] = { "gpu-a", "gpu-c" };
	static const char *other_addrs[2] = { "10.0.0.1", "10.0.0.3" };
	static const uint32_t first[3] = { 0, 27, 54 }, end[3] = { 27, 54, 80 };
	uint32_t i, k = 0;

	memset(as, 0, sizeof(*as));
	ppcoord__assignment__init(&as->msg);
	as->partition[0] = 27;
	as->partition[1] = 27;
	as->partition[2] = 26;
	for (i = 0; i < 3; i++) {
		ppcoord__stage_info__init(&as->stage[i]);
		as->stage[i].has_stage = 1;
		as->stage[i].stage = i;
		if (i == rank) {
			as->stage[i].node_id = "gpu-b";
			as->stage[i].address = "10.0.0.2";
		} else {
			as->stage[i].node_id = (char *)others[k];
			as->stage[i].address = (char *)other_addrs[k];
			k++;
		}
		as->stage[i].has_first_layer = 1;
		as->stage[i].first_layer = first[i];
		as->stage[i].has_end_layer = 1;
		as->stage[i].end_layer = end[i];
		as->stages[i] = &as->stage[i];
	}
	as->msg.has_generation = 1;
	as->msg.generation = generation;
	as->msg.node_id = "gpu-b";
	as->msg.has_node_rank = 1;
	as->msg.node_rank = rank;
	as->msg.has_nnodes = 1;
	as->msg.nnodes = 3;
	as->msg.has_first_stage = 1;
	as->msg.first_stage = rank;
	as->msg.has_stage_count = 1;
	as->msg.stage_count = 1;
	as->msg.has_num_stages = 1;
	as->msg.num_stages = 3;
	as->msg.has_tp_size = 1;
	as->msg.tp_size = 8;
	as->msg.has_first_layer = 1;
	as->msg.first_layer = first[rank];
	as->msg.has_end_layer = 1;
	as->msg.end_layer = end[rank];
	as->msg.master_addr = as->stage[0].address;
	as->msg.has_master_port = 1;
	as->msg.master_port = 29500;
	as->msg.n_layer_partition = 3;
	as->msg.layer_partition = as->partition;
	as->msg.n_stages = 3;
	as->msg.stages = as->stages;
}

/* Modification time and inode of the file, to tell a rewrite. */
static void
file_id(const char *path, char *buf, size_t len)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	snprintf(buf, len, "%llu %lld.%09ld", (unsigned long long)st.st_ino,
	    (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static void
assign(struct fixture *f, uint64_t generation, uint32_t rank)
{
	struct assignment as;

	assignment_init(&as, generation, rank);
	agent_on_assignment(&f->agent, &as.msg);
}

static void
test_assign_first_writes_and_runs_hook(void **state)
{
	struct fixture		*f = *state;
	struct stage_env	 read;
	char			 err[PPC_ERRLEN];

	assign(f, 4, 1);
	assert_int_equal(calls.acks, 1);
	assert_true(calls.ack_ok);
	assert_int_equal(calls.ack_generation, 4);
	assert_int_equal(calls.hooks, 1);
	assert_int_equal(calls.hook_kind, AGENT_HOOK_ASSIGN);
	assert_int_equal(calls.hook_generation, 4);

	assert_int_equal(envfile_read(f->path, &read, err, sizeof(err)), 0);
	assert_int_equal(read.state, STAGE_ASSIGNED);
	assert_int_equal(read.generation, 4);
	assert_int_equal(read.node_rank, 1);
	assert_int_equal(read.first_layer, 27);
	assert_int_equal(read.end_layer, 54);
	assert_string_equal(read.layer_partition, "27,27,26");
}

static void
test_assign_same_generation_writes_nothing(void **state)
{
	struct fixture	*f = *state;
	char		 before[64], after[64];

	assign(f, 4, 1);
	file_id(f->path, before, sizeof(before));
	usleep(20000);	/* a rewrite would get a later mtime */
	assign(f, 4, 1);
	file_id(f->path, after, sizeof(after));

	assert_string_equal(before, after);
	assert_int_equal(calls.acks, 2);
	assert_true(calls.ack_ok);
	assert_int_equal(calls.hooks, 1);
}

static void
test_assign_held_at_start_skips_hook(void **state)
{
	struct fixture	*f = *state;
	char		 before[64], after[64];

	assign(f, 4, 1);
	memset(&calls, 0, sizeof(calls));
	memset(&f->agent.held, 0, sizeof(f->agent.held));

	/* A restarted agent reads the file, then receives the same plan. */
	agent_assign_init(&f->agent);
	assert_int_equal(f->agent.held.state, STAGE_ASSIGNED);
	assert_int_equal(f->agent.held.generation, 4);
	file_id(f->path, before, sizeof(before));
	assign(f, 4, 1);
	file_id(f->path, after, sizeof(after));

	assert_string_equal(before, after);
	assert_int_equal(calls.acks, 1);
	assert_true(calls.ack_ok);
	assert_int_equal(calls.hooks, 0);
}

static void
test_assign_pending_hook_reruns(void **state)
{
	struct fixture	*f = *state;

	assign(f, 4, 1);
	memset(&calls, 0, sizeof(calls));
	memset(&f->agent.held, 0, sizeof(f->agent.held));

	/* The agent died while on_assign ran: the restart owes it. */
	hook_pending = true;
	agent_assign_init(&f->agent);
	hook_pending = false;
	assert_true(f->agent.hook_owed);
	assign(f, 4, 1);

	assert_int_equal(calls.acks, 1);
	assert_int_equal(calls.hooks, 1);
	assert_int_equal(calls.hook_kind, AGENT_HOOK_ASSIGN);
	assert_int_equal(calls.hook_generation, 4);
	assert_false(f->agent.hook_owed);

	/* Once requested, the same assignment again runs nothing. */
	assign(f, 4, 1);
	assert_int_equal(calls.hooks, 1);
}

static void
test_assign_new_generation_same_placement(void **state)
{
	struct fixture		*f = *state;
	struct stage_env	 read;
	char			 err[PPC_ERRLEN];

	assign(f, 4, 1);
	assign(f, 5, 1);
	assert_int_equal(calls.acks, 2);
	assert_int_equal(calls.ack_generation, 5);
	assert_int_equal(calls.hooks, 1);
	assert_int_equal(envfile_read(f->path, &read, err, sizeof(err)), 0);
	assert_int_equal(read.generation, 5);
}

static void
test_assign_moved_node_runs_hook(void **state)
{
	struct fixture *f = *state;

	assign(f, 4, 1);
	assign(f, 5, 0);
	assert_int_equal(calls.hooks, 2);
	assert_int_equal(calls.hook_kind, AGENT_HOOK_ASSIGN);
	assert_int_equal(calls.hook_generation, 5);
	assert_int_equal(f->agent.held.node_rank, 0);
}

static void
test_assign_other_node_rejected(void **state)
{
	struct fixture		*f = *state;
	struct assignment	 as;

	assignment_init(&as, 4, 1);
	as.msg.node_id = "gpu-a";
	agent_on_assignment(&f->agent, &as.msg);

	assert_int_equal(calls.acks, 1);
	assert_false(calls.ack_ok);
	assert_non_null(strstr(calls.ack_error, "gpu-a"));
	assert_int_equal(calls.hooks, 0);
	assert_int_equal(access(f->path, F_OK), -1);
}

static void
test_assign_invalid_rejected(void **state)
{
	struct fixture		*f = *state;
	struct assignment	 as;

	assignment_init(&as, 4, 1);
	as.msg.master_addr = NULL;
	agent_on_assignment(&f->agent, &as.msg);

	assert_int_equal(calls.acks, 1);
	assert_false(calls.ack_ok);
	assert_int_equal(calls.ack_generation, 4);
	assert_non_null(strstr(calls.ack_error, "master_addr"));
	assert_int_equal(calls.hooks, 0);
	assert_int_equal(access(f->path, F_OK), -1);
}

static void
test_assign_write_failure_acks_false(void **state)
{
	struct fixture	*f = *state;
	char		 missing[160];

	snprintf(missing, sizeof(missing), "%s/no-such-dir/stage.env",
	    f->dir);
	f->conf.env_file = missing;
	assign(f, 4, 1);

	assert_int_equal(calls.acks, 1);
	assert_false(calls.ack_ok);
	assert_true(calls.ack_error[0] != '\0');
	assert_int_equal(calls.hooks, 0);
	assert_int_equal(f->agent.held.state, STAGE_NONE);
}

static void
test_standby_after_assigned_runs_revoke(void **state)
{
	struct fixture		*f = *state;
	Ppcoord__Standby	 sb = PPCOORD__STANDBY__INIT;
	struct stage_env	 read;
	char			 err[PPC_ERRLEN];

	assign(f, 4, 1);
	sb.has_generation = 1;
	sb.generation = 5;
	agent_on_standby(&f->agent, &sb);

	assert_int_equal(calls.acks, 2);
	assert_true(calls.ack_ok);
	assert_int_equal(calls.ack_generation, 5);
	assert_int_equal(calls.hooks, 2);
	assert_int_equal(calls.hook_kind, AGENT_HOOK_REVOKE);
	assert_int_equal(envfile_read(f->path, &read, err, sizeof(err)), 0);
	assert_int_equal(read.state, STAGE_STANDBY);
	assert_int_equal(read.generation, 5);
	assert_string_equal(read.node_id, "gpu-b");
}

static void
test_standby_first_runs_no_hook(void **state)
{
	struct fixture		*f = *state;
	Ppcoord__Standby	 sb = PPCOORD__STANDBY__INIT;

	sb.has_generation = 1;
	sb.generation = 2;
	agent_on_standby(&f->agent, &sb);
	assert_int_equal(calls.acks, 1);
	assert_true(calls.ack_ok);
	assert_int_equal(calls.hooks, 0);
	assert_int_equal(f->agent.held.state, STAGE_STANDBY);
}

static void
test_revoke_runs_hook_once_no_ack(void **state)
{
	struct fixture		*f = *state;
	Ppcoord__Revoke		 rv = PPCOORD__REVOKE__INIT;
	struct stage_env	 read;
	char			 err[PPC_ERRLEN];

	assign(f, 4, 1);
	rv.has_generation = 1;
	rv.generation = 4;
	agent_on_revoke(&f->agent, &rv);
	assert_int_equal(calls.acks, 1);	/* the assignment's only */
	assert_int_equal(calls.hooks, 2);
	assert_int_equal(calls.hook_kind, AGENT_HOOK_REVOKE);
	assert_int_equal(envfile_read(f->path, &read, err, sizeof(err)), 0);
	assert_int_equal(read.state, STAGE_REVOKED);

	/* Revoked again: nothing was assigned, so no second on_revoke. */
	agent_on_revoke(&f->agent, &rv);
	assert_int_equal(calls.hooks, 2);
}

static void
test_assign_after_revoke_runs_hook(void **state)
{
	struct fixture	*f = *state;
	Ppcoord__Revoke	 rv = PPCOORD__REVOKE__INIT;

	assign(f, 4, 1);
	rv.has_generation = 1;
	rv.generation = 4;
	agent_on_revoke(&f->agent, &rv);
	assign(f, 5, 1);	/* the same placement as before the revoke */

	assert_int_equal(calls.hooks, 3);
	assert_int_equal(calls.hook_kind, AGENT_HOOK_ASSIGN);
	assert_int_equal(calls.hook_generation, 5);
}

static void
test_init_ignores_other_node_file(void **state)
{
	struct fixture		*f = *state;
	struct stage_env	 other;
	char			 err[PPC_ERRLEN];

	memset(&other, 0, sizeof(other));
	other.state = STAGE_STANDBY;
	other.generation = 9;
	snprintf(other.node_id, sizeof(other.node_id), "gpu-z");
	assert_int_equal(envfile_write(f->path, &other, err, sizeof(err)), 0);

	agent_assign_init(&f->agent);
	assert_int_equal(f->agent.held.state, STAGE_NONE);
}

static void
test_init_ignores_malformed_file(void **state)
{
	struct fixture	*f = *state;
	FILE		*fp;

	assert_non_null(fp = fopen(f->path, "w"));
	fputs("PPCOORD_STATE=sideways\n", fp);
	fclose(fp);

	agent_assign_init(&f->agent);
	assert_int_equal(f->agent.held.state, STAGE_NONE);
	assign(f, 1, 1);
	assert_int_equal(calls.hooks, 1);
}

/* Makes `as` a change against generation `base` in which gpu-d at
 * 10.0.0.4 takes stage 0 and the other stages stay as they were. */
static void
delta_init(struct assignment *as, uint64_t generation, uint64_t base)
{
	assignment_init(as, generation, 1);
	as->stage[0].node_id = "gpu-d";
	as->stage[0].address = "10.0.0.4";
	as->msg.master_addr = "10.0.0.4";
	as->msg.n_layer_partition = 0;
	as->msg.layer_partition = NULL;
	as->msg.n_stages = 1;
	as->msg.has_stages_base = 1;
	as->msg.stages_base = base;
}

static void
test_assign_delta_applies_change(void **state)
{
	struct fixture		*f = *state;
	struct assignment	 as;
	struct stage_env	 read;
	char			 err[PPC_ERRLEN];

	assign(f, 4, 1);
	assert_int_equal(f->agent.table.generation, 4);
	delta_init(&as, 5, 4);
	agent_on_assignment(&f->agent, &as.msg);

	assert_int_equal(calls.losts, 0);
	assert_int_equal(calls.acks, 2);
	assert_true(calls.ack_ok);
	assert_int_equal(calls.ack_generation, 5);
	assert_int_equal(envfile_read(f->path, &read, err, sizeof(err)), 0);
	assert_int_equal(read.generation, 5);
	assert_string_equal(read.master_addr, "10.0.0.4");
	assert_string_equal(read.layer_partition, "27,27,26");
	assert_int_equal(read.first_layer, 27);
	assert_int_equal(f->agent.table.generation, 5);
	assert_string_equal(f->agent.table.entries[0].node_id, "gpu-d");
	assert_string_equal(f->agent.table.entries[0].address, "10.0.0.4");
	assert_string_equal(f->agent.table.entries[1].node_id, "gpu-b");
	assert_string_equal(f->agent.table.entries[2].node_id, "gpu-c");
	assert_int_equal(f->agent.table.entries[2].layers, 26);
}

static void
test_assign_delta_wrong_base_reconnects(void **state)
{
	struct fixture		*f = *state;
	struct assignment	 as;

	assign(f, 4, 1);
	delta_init(&as, 6, 5);
	agent_on_assignment(&f->agent, &as.msg);

	assert_int_equal(calls.losts, 1);
	assert_non_null(strstr(calls.lost_reason, "generation 5"));
	assert_non_null(strstr(calls.lost_reason, "generation 4"));
	/* The same head, not the next one, gets the next attempt. */
	assert_string_equal(f->agent.redirect, "head:7450");
	assert_int_equal(calls.acks, 1);
	assert_int_equal(f->agent.held.generation, 4);
}

static void
test_assign_delta_without_table_reconnects(void **state)
{
	struct fixture		*f = *state;
	struct assignment	 as;

	delta_init(&as, 5, 4);
	agent_on_assignment(&f->agent, &as.msg);

	assert_int_equal(calls.losts, 1);
	assert_non_null(strstr(calls.lost_reason, "no table was accepted"));
	assert_int_equal(calls.acks, 0);
	assert_int_equal(calls.hooks, 0);
}

static void
test_assign_delta_invalid_rejected(void **state)
{
	struct fixture		*f = *state;
	struct assignment	 as;

	assign(f, 4, 1);
	/* A change that gives gpu-b's own stage to another node. */
	delta_init(&as, 5, 4);
	as.stages[0] = &as.stage[1];
	as.stage[1].node_id = "gpu-d";
	agent_on_assignment(&f->agent, &as.msg);

	assert_int_equal(calls.losts, 0);
	assert_int_equal(calls.acks, 2);
	assert_false(calls.ack_ok);
	assert_non_null(strstr(calls.ack_error, "stages[1] names node gpu-d"));
	assert_int_equal(f->agent.held.generation, 4);
	assert_int_equal(f->agent.table.generation, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_assign_first_writes_and_runs_hook),
		T(test_assign_same_generation_writes_nothing),
		T(test_assign_held_at_start_skips_hook),
		T(test_assign_pending_hook_reruns),
		T(test_assign_new_generation_same_placement),
		T(test_assign_moved_node_runs_hook),
		T(test_assign_other_node_rejected),
		T(test_assign_invalid_rejected),
		T(test_assign_write_failure_acks_false),
		T(test_standby_after_assigned_runs_revoke),
		T(test_standby_first_runs_no_hook),
		T(test_revoke_runs_hook_once_no_ack),
		T(test_assign_after_revoke_runs_hook),
		T(test_init_ignores_other_node_file),
		T(test_init_ignores_malformed_file),
		T(test_assign_delta_applies_change),
		T(test_assign_delta_wrong_base_reconnects),
		T(test_assign_delta_without_table_reconnects),
		T(test_assign_delta_invalid_rejected),
#undef T
	};

	log_init("test_agent_assign", false, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
