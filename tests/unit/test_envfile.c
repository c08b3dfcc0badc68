/*
 * Stage environment file: the exact bytes written for each state, values
 * that would inject a line rejected before formatting, and a reader that
 * accepts comments but checks every known value.
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

#include "envfile.h"
#include "util.h"

static const char assigned_text[] =
    "PPCOORD_STATE=assigned\n"
    "PPCOORD_GENERATION=4\n"
    "PPCOORD_NODE_ID=gpu-b\n"
    "PPCOORD_NODE_RANK=1\n"
    "PPCOORD_NNODES=3\n"
    "PPCOORD_FIRST_STAGE=1\n"
    "PPCOORD_STAGE_COUNT=1\n"
    "PPCOORD_NUM_STAGES=3\n"
    "PPCOORD_TP_SIZE=8\n"
    "PPCOORD_FIRST_LAYER=27\n"
    "PPCOORD_END_LAYER=54\n"
    "PPCOORD_MASTER_ADDR=10.0.0.1\n"
    "PPCOORD_MASTER_PORT=29500\n"
    "VLLM_PP_LAYER_PARTITION=27,27,26\n"
    "SGLANG_PP_LAYER_PARTITION=27,27,26\n";

static void
example_env(struct stage_env *env)
{
	memset(env, 0, sizeof(*env));
	env->state = STAGE_ASSIGNED;
	env->generation = 4;
	strcpy(env->node_id, "gpu-b");
	env->node_rank = 1;
	env->nnodes = 3;
	env->first_stage = 1;
	env->stage_count = 1;
	env->num_stages = 3;
	env->tp_size = 8;
	env->first_layer = 27;
	env->end_layer = 54;
	strcpy(env->master_addr, "10.0.0.1");
	env->master_port = 29500;
	strcpy(env->layer_partition, "27,27,26");
}

static void
assert_same_env(const struct stage_env *a, const struct stage_env *b)
{
	assert_int_equal(a->state, b->state);
	assert_true(a->generation == b->generation);
	assert_string_equal(a->node_id, b->node_id);
	assert_int_equal(a->node_rank, b->node_rank);
	assert_int_equal(a->nnodes, b->nnodes);
	assert_int_equal(a->first_stage, b->first_stage);
	assert_int_equal(a->stage_count, b->stage_count);
	assert_int_equal(a->num_stages, b->num_stages);
	assert_int_equal(a->tp_size, b->tp_size);
	assert_int_equal(a->first_layer, b->first_layer);
	assert_int_equal(a->end_layer, b->end_layer);
	assert_string_equal(a->master_addr, b->master_addr);
	assert_int_equal(a->master_port, b->master_port);
	assert_string_equal(a->layer_partition, b->layer_partition);
}

static void
test_format_assigned_exact(void **state)
{
	struct stage_env	 env;
	char			*text;

	example_env(&env);
	text = envfile_format(&env);
	assert_non_null(text);
	assert_string_equal(text, assigned_text);
	free(text);
}

static void
test_format_standby_revoked(void **state)
{
	struct stage_env	 env;
	char			*text;

	memset(&env, 0, sizeof(env));
	env.state = STAGE_STANDBY;
	env.generation = 7;
	strcpy(env.node_id, "gpu-d");
	text = envfile_format(&env);
	assert_non_null(text);
	assert_string_equal(text, "PPCOORD_STATE=standby\n"
	    "PPCOORD_GENERATION=7\nPPCOORD_NODE_ID=gpu-d\n");
	free(text);

	/* Revoked keeps only the three variables even with a placement. */
	example_env(&env);
	env.state = STAGE_REVOKED;
	env.generation = 5;
	text = envfile_format(&env);
	assert_non_null(text);
	assert_string_equal(text, "PPCOORD_STATE=revoked\n"
	    "PPCOORD_GENERATION=5\nPPCOORD_NODE_ID=gpu-b\n");
	free(text);
}

static void
test_format_rejects_injection(void **state)
{
	struct stage_env	env;
	char			err[PPC_ERRLEN] = "";

	example_env(&env);
	strcpy(env.node_id, "gpu-b\nPPCOORD_STATE=revoked");
	assert_null(envfile_format(&env));
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid node id"));

	example_env(&env);
	strcpy(env.master_addr, "10.0.0.1\nLD_PRELOAD=/tmp/x.so");
	assert_null(envfile_format(&env));
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "master address"));

	example_env(&env);
	strcpy(env.layer_partition, "27,27,26\nLD_PRELOAD=/tmp/x.so");
	assert_null(envfile_format(&env));
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "layer partition"));

	example_env(&env);
	env.state = STAGE_STANDBY;
	strcpy(env.node_id, "gpu b");
	assert_null(envfile_format(&env));
}

/*
 * Node ids that name a path or carry bytes special to systemd's
 * EnvironmentFile= (quotes, a trailing backslash that joins the next line)
 * or to a shell, and addresses of the same kind: none reaches the file.
 */
static void
test_format_rejects_paths_and_quoting(void **state)
{
	static const char *const ids[] = {
		"../x", "a/b", "/etc/passwd", ".", "..", ".hidden", "-rf",
		"gpu-b\\", "gpu-b\"", "gpu-b'", "$(reboot)", "gpu-b\r",
		"gpu-b\t", "gpu-b\x7f", "gpu-\xc3\xa9", "",
	};
	static const char *const addrs[] = {
		"10.0.0.1\\", "\"10.0.0.1\"", "'10.0.0.1'", "$(reboot)",
		"`id`", "10.0.0.1;id", "10.0.0.1\r", "a=b", "../x", "",
	};
	struct stage_env	 env;
	char			 err[PPC_ERRLEN];
	size_t			 i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		example_env(&env);
		snprintf(env.node_id, sizeof(env.node_id), "%s", ids[i]);
		if (envfile_format(&env) != NULL)
			fail_msg("node id %zu \"%s\" was formatted", i, ids[i]);
		err[0] = '\0';
		assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "invalid node id"));
		assert_null(strchr(err, '\n'));
	}
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		example_env(&env);
		snprintf(env.master_addr, sizeof(env.master_addr), "%s",
		    addrs[i]);
		if (envfile_format(&env) != NULL)
			fail_msg("address %zu \"%s\" was formatted", i,
			    addrs[i]);
		err[0] = '\0';
		assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "master address"));
		assert_null(strchr(err, '\n'));
	}
}

static void
test_check_errors(void **state)
{
	struct stage_env	env;
	char			err[PPC_ERRLEN] = "";

	example_env(&env);
	assert_int_equal(envfile_check(&env, err, sizeof(err)), 0);

	env.node_rank = 3;
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "node rank 3 is not below nnodes 3"));

	example_env(&env);
	env.stage_count = 3;
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "stages 1 to 4 are outside num_stages 3"));

	example_env(&env);
	env.master_port = 0;
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "master port 0"));

	example_env(&env);
	env.end_layer = 53;
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "layers 27 to 53 do not match"));

	example_env(&env);
	strcpy(env.layer_partition, "27,27");
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has 2 entries: expected num_stages 3"));

	example_env(&env);
	strcpy(env.layer_partition, "27,0,26");
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "entry 2 is out of range"));

	example_env(&env);
	strcpy(env.layer_partition, "27,,26");
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "entry 2 is not a positive integer"));

	example_env(&env);
	env.tp_size = 0;
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tp_size 0"));

	example_env(&env);
	env.state = STAGE_NONE;
	assert_int_equal(envfile_check(&env, err, sizeof(err)), -1);
	assert_null(envfile_format(&env));
}

static void
test_format_partition(void **state)
{
	uint32_t	parts[3] = { 27, 27, 26 };
	char		buf[9];

	assert_int_equal(envfile_format_partition(parts, 3, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "27,27,26");
	assert_int_equal(envfile_format_partition(parts, 3, buf, 8), -1);
	assert_int_equal(envfile_format_partition(parts, 0, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void
test_parse_round_trip(void **state)
{
	struct stage_env	 env, back;
	char			 err[PPC_ERRLEN] = "";
	char			*text;

	example_env(&env);
	text = envfile_format(&env);
	assert_non_null(text);
	assert_int_equal(envfile_parse(text, strlen(text), &back, "stage.env",
	    err, sizeof(err)), 0);
	assert_same_env(&env, &back);
	free(text);

	memset(&env, 0, sizeof(env));
	env.state = STAGE_REVOKED;
	env.generation = 18446744073709551615ULL;
	strcpy(env.node_id, "gpu-a");
	text = envfile_format(&env);
	assert_non_null(text);
	assert_int_equal(envfile_parse(text, strlen(text), &back, "stage.env",
	    err, sizeof(err)), 0);
	assert_same_env(&env, &back);
	free(text);
}

static void
test_parse_tolerates_comments(void **state)
{
	static const char text[] =
	    "# written by hand\n"
	    "\n"
	    "PPCOORD_STATE=assigned            # assigned | standby | revoked\r\n"
	    "  PPCOORD_GENERATION=4\n"
	    "PPCOORD_NODE_ID=\"gpu-b\"\n"
	    "PPCOORD_NODE_RANK=1\n"
	    "PPCOORD_NNODES=3\n"
	    "PPCOORD_FIRST_STAGE=1\n"
	    "PPCOORD_STAGE_COUNT=1\n"
	    "PPCOORD_NUM_STAGES=3\n"
	    "PPCOORD_TP_SIZE=8\n"
	    "PPCOORD_FIRST_LAYER=27\n"
	    "PPCOORD_END_LAYER=54\n"
	    "PPCOORD_MASTER_ADDR='10.0.0.1'\n"
	    "PPCOORD_MASTER_PORT=29500\n"
	    "VLLM_PP_LAYER_PARTITION=27,27,26\n"
	    "CUDA_VISIBLE_DEVICES=0,1,2,3\n"
	    "SGLANG_PP_LAYER_PARTITION=27,27,26";
	struct stage_env	env, expected;
	char			err[PPC_ERRLEN] = "";

	example_env(&expected);
	assert_int_equal(envfile_parse(text, strlen(text), &env, "stage.env",
	    err, sizeof(err)), 0);
	assert_same_env(&env, &expected);
}

static void
test_parse_one_partition_enough(void **state)
{
	struct stage_env	 env;
	char			 err[PPC_ERRLEN] = "";
	char			*text, *line;

	example_env(&env);
	text = envfile_format(&env);
	assert_non_null(text);
	line = strstr(text, "SGLANG_PP_LAYER_PARTITION");
	assert_non_null(line);
	*line = '\0';
	assert_int_equal(envfile_parse(text, strlen(text), &env, "stage.env",
	    err, sizeof(err)), 0);
	assert_string_equal(env.layer_partition, "27,27,26");
	free(text);
}

struct bad_line {
	const char	*from;	/* replaced in assigned_text */
	const char	*to;
	const char	*error;
};

static const struct bad_line bad_lines[] = {
	{ "PPCOORD_NNODES=3", "PPCOORD_NNODES=3x",
	    "stage.env:5: invalid PPCOORD_NNODES \"3x\"" },
	{ "PPCOORD_NNODES=3", "PPCOORD_NNODES=-3",
	    "stage.env:5: invalid PPCOORD_NNODES \"-3\"" },
	{ "PPCOORD_NNODES=3", "PPCOORD_NNODES=4294967296",
	    "stage.env:5: invalid PPCOORD_NNODES \"4294967296\"" },
	{ "PPCOORD_NNODES=3", "PPCOORD_NNODES=",
	    "stage.env:5: invalid PPCOORD_NNODES \"\"" },
	{ "PPCOORD_GENERATION=4", "PPCOORD_GENERATION=18446744073709551616",
	    "stage.env:2: invalid PPCOORD_GENERATION" },
	{ "PPCOORD_MASTER_PORT=29500", "PPCOORD_MASTER_PORT=65536",
	    "stage.env:13: invalid PPCOORD_MASTER_PORT \"65536\": expected a "
	    "port from 1 to 65535" },
	{ "PPCOORD_STATE=assigned", "PPCOORD_STATE=active",
	    "stage.env:1: invalid PPCOORD_STATE \"active\": expected "
	    "assigned, standby or revoked" },
	{ "PPCOORD_NNODES=3\n", "",
	    "stage.env: PPCOORD_NNODES is missing" },
	{ "PPCOORD_STATE=assigned\n", "",
	    "stage.env: PPCOORD_STATE is missing" },
	{ "PPCOORD_NNODES=3\n", "PPCOORD_NNODES=3\nPPCOORD_NNODES=3\n",
	    "stage.env:6: PPCOORD_NNODES is set twice" },
	{ "PPCOORD_NNODES=3\n", "PPCOORD_NNODES=3\njust words\n",
	    "stage.env:6: expected KEY=VALUE" },
	{ "PPCOORD_NNODES=3\n", "PPCOORD_NNODES=3 4\n",
	    "stage.env:5: expected KEY=VALUE" },
	{ "SGLANG_PP_LAYER_PARTITION=27,27,26",
	    "SGLANG_PP_LAYER_PARTITION=26,27,27",
	    "stage.env:15: invalid SGLANG_PP_LAYER_PARTITION \"26,27,27\": "
	    "differs from the other" },
	{ "PPCOORD_NODE_ID=gpu-b", "PPCOORD_NODE_ID=gpu;b",
	    "stage.env: invalid node id \"gpu;b\"" },
	{ "PPCOORD_END_LAYER=54", "PPCOORD_END_LAYER=55",
	    "stage.env: layers 27 to 55 do not match" },
	{ "PPCOORD_NODE_ID=gpu-b", "PPCOORD_NODE_ID="
	    "a123456789012345678901234567890123456789012345678901234567890123",
	    "value is 64 bytes long: the maximum is 63" },
};

static char *
replace(const char *text, const char *from, const char *to)
{
	const char	*at = strstr(text, from);
	char		*out;

	assert_non_null(at);
	out = malloc(strlen(text) + strlen(to) + 1);
	assert_non_null(out);
	memcpy(out, text, (size_t)(at - text));
	strcpy(out + (at - text), to);
	strcat(out, at + strlen(from));
	return out;
}

static void
test_parse_errors(void **state)
{
	struct stage_env	 env;
	char			 err[PPC_ERRLEN];
	char			*text;
	size_t			 i;

	for (i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		text = replace(assigned_text, bad_lines[i].from,
		    bad_lines[i].to);
		err[0] = '\0';
		if (envfile_parse(text, strlen(text), &env, "stage.env", err,
		    sizeof(err)) != -1)
			fail_msg("case %zu parsed", i);
		if (strstr(err, bad_lines[i].error) == NULL)
			fail_msg("case %zu: expected \"%s\" in \"%s\"", i,
			    bad_lines[i].error, err);
		assert_int_equal(env.state, STAGE_NONE);
		free(text);
	}
}

static void
test_parse_nul_byte(void **state)
{
	struct stage_env	env;
	char			err[PPC_ERRLEN] = "";
	static const char	text[] = "PPCOORD_STATE=standby\0x\n";

	assert_int_equal(envfile_parse(text, sizeof(text) - 1, &env,
	    "stage.env", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL byte"));
}

static void
test_write_read_file(void **state)
{
	struct stage_env	env, back;
	char			dir[] = "/tmp/ppcoord-test-env.XXXXXX";
	char			path[64], err[PPC_ERRLEN] = "";
	struct stat		st;
	FILE			*f;
	char			buf[1024];
	size_t			n;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/stage.env", dir);

	assert_int_equal(envfile_read(path, &back, err, sizeof(err)), 0);
	assert_int_equal(back.state, STAGE_NONE);

	example_env(&env);
	assert_int_equal(envfile_write(path, &env, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_string_equal(buf, assigned_text);

	assert_int_equal(envfile_read(path, &back, err, sizeof(err)), 0);
	assert_same_env(&env, &back);

	/* An invalid environment leaves the old file in place. */
	strcpy(env.node_id, "gpu-b\nX=1");
	assert_int_equal(envfile_write(path, &env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not written"));
	assert_int_equal(envfile_read(path, &back, err, sizeof(err)), 0);
	assert_string_equal(back.node_id, "gpu-b");

	unlink(path);
	rmdir(dir);
}

static void
test_read_file_too_large(void **state)
{
	struct stage_env	 env;
	char			 path[] = "/tmp/ppcoord-test-env.XXXXXX";
	char			 err[PPC_ERRLEN] = "";
	char			*big;
	int			 fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	big = malloc(ENVFILE_MAX + 1);
	assert_non_null(big);
	memset(big, '#', ENVFILE_MAX + 1);
	assert_int_equal(write(fd, big, ENVFILE_MAX + 1), ENVFILE_MAX + 1);
	close(fd);
	free(big);

	assert_int_equal(envfile_read(path, &env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than the limit"));
	unlink(path);
}

static void
test_vars_match_file(void **state)
{
	struct stage_env	  env;
	char			**vars;
	char			 *text, *line, *save = NULL;
	size_t			  i = 0;

	example_env(&env);
	vars = envfile_vars(&env);
	assert_non_null(vars);
	text = strdup(assigned_text);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		assert_non_null(vars[i]);
		assert_string_equal(vars[i], line);
		i++;
	}
	assert_int_equal(i, 15);
	assert_null(vars[i]);
	free(text);
	envfile_free_vars(vars);

	strcpy(env.master_addr, "bad addr");
	assert_null(envfile_vars(&env));
}

static void
test_same_placement(void **state)
{
	struct stage_env	a, b;

	example_env(&a);
	example_env(&b);
	assert_true(envfile_same_placement(&a, &b));

	b.generation = 9;
	b.state = STAGE_REVOKED;
	assert_true(envfile_same_placement(&a, &b));

	example_env(&b);
	b.first_layer = 26;
	assert_false(envfile_same_placement(&a, &b));

	example_env(&b);
	strcpy(b.layer_partition, "26,28,26");
	assert_false(envfile_same_placement(&a, &b));

	example_env(&b);
	strcpy(b.master_addr, "10.0.0.9");
	assert_false(envfile_same_placement(&a, &b));

	example_env(&b);
	b.master_port = 29501;
	assert_false(envfile_same_placement(&a, &b));
}

static void
test_state_names(void **state)
{
	assert_string_equal(envfile_state_name(STAGE_ASSIGNED), "assigned");
	assert_string_equal(envfile_state_name(STAGE_STANDBY), "standby");
	assert_string_equal(envfile_state_name(STAGE_REVOKED), "revoked");
	assert_string_equal(envfile_state_name(STAGE_NONE), "none");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_assigned_exact),
		cmocka_unit_test(test_format_standby_revoked),
		cmocka_unit_test(test_format_rejects_injection),
		cmocka_unit_test(test_format_rejects_paths_and_quoting),
		cmocka_unit_test(test_check_errors),
		cmocka_unit_test(test_format_partition),
		cmocka_unit_test(test_parse_round_trip),
		cmocka_unit_test(test_parse_tolerates_comments),
		cmocka_unit_test(test_parse_one_partition_enough),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_nul_byte),
		cmocka_unit_test(test_write_read_file),
		cmocka_unit_test(test_read_file_too_large),
		cmocka_unit_test(test_vars_match_file),
		cmocka_unit_test(test_same_placement),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
