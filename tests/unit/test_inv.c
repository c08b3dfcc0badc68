/*
 * GPU inventory: JSON parsing with its defaults and limits, serialization
 * that parses back to the same inventory, and an error for every invalid
 * value that names the file, the node and the value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inv.h"
#include "util.h"

#define GPU_H100 "{\"index\": 0, \"name\": \"NVIDIA H100 80GB HBM3\", " \
	"\"uuid\": \"GPU-0a1b\", \"memory_total\": 85520809984, " \
	"\"memory_free\": 84987740160}"

static const char example[] =
    "{\"nodes\": [\n"
    "  {\"id\": \"gpu-a\", \"address\": \"10.0.0.1\", \"workers\": 2,\n"
    "   \"gpus\": [" GPU_H100 ",\n"
    "     {\"index\": 1, \"name\": \"NVIDIA H100 80GB HBM3\",\n"
    "      \"uuid\": \"GPU-2c3d\", \"memory_total\": 85520809984,\n"
    "      \"memory_free\": 1000}]},\n"
    "  {\"id\": \"gpu-b\", \"address\": \"gpu-b.example\",\n"
    "   \"gpus\": [{\"memory_total\": 42949672960}]}\n"
    "]}\n";

static int
parse(struct inv *inv, const char *text, char *err)
{
	return inv_parse_json(inv, text, strlen(text), "inv.json", err,
	    PPC_ERRLEN);
}

static void
test_parse_example(void **state)
{
	struct inv	inv;
	char		err[PPC_ERRLEN] = "";

	assert_int_equal(parse(&inv, example, err), 0);
	assert_int_equal(inv.nnodes, 2);

	assert_string_equal(inv.nodes[0].id, "gpu-a");
	assert_string_equal(inv.nodes[0].address, "10.0.0.1");
	assert_int_equal(inv.nodes[0].workers, 2);
	assert_int_equal(inv.nodes[0].ngpus, 2);
	assert_int_equal(inv.nodes[0].gpus[0].index, 0);
	assert_string_equal(inv.nodes[0].gpus[0].name,
	    "NVIDIA H100 80GB HBM3");
	assert_string_equal(inv.nodes[0].gpus[0].uuid, "GPU-0a1b");
	assert_true(inv.nodes[0].gpus[0].memory_total == 85520809984ULL);
	assert_true(inv.nodes[0].gpus[0].memory_free == 84987740160ULL);
	assert_true(inv.nodes[0].gpus[1].memory_free == 1000);
	assert_int_equal(inv.nodes[0].gpus[1].index, 1);
	inv_free(&inv);
}

static void
test_parse_defaults(void **state)
{
	struct inv	inv;
	char		err[PPC_ERRLEN] = "";

	assert_int_equal(parse(&inv, example, err), 0);
	/* gpu-b gives only memory_total. */
	assert_int_equal(inv.nodes[1].workers, 1);
	assert_int_equal(inv.nodes[1].gpus[0].index, 0);
	assert_string_equal(inv.nodes[1].gpus[0].name, "");
	assert_string_equal(inv.nodes[1].gpus[0].uuid, "");
	assert_true(inv.nodes[1].gpus[0].memory_free == 42949672960ULL);
	assert_true(inv_node_min_memory(&inv.nodes[1]) == 42949672960ULL);
	inv_free(&inv);
}

static void
test_parse_empty_nodes(void **state)
{
	struct inv	inv;
	char		err[PPC_ERRLEN] = "";

	assert_int_equal(parse(&inv, "{\"nodes\": []}", err), 0);
	assert_int_equal(inv.nnodes, 0);
	inv_free(&inv);
}

static void
assert_same_inv(const struct inv *a, const struct inv *b)
{
	size_t		i;
	uint32_t	g;

	assert_int_equal(a->nnodes, b->nnodes);
	for (i = 0; i < a->nnodes; i++) {
		assert_string_equal(a->nodes[i].id, b->nodes[i].id);
		assert_string_equal(a->nodes[i].address, b->nodes[i].address);
		assert_int_equal(a->nodes[i].workers, b->nodes[i].workers);
		assert_int_equal(a->nodes[i].ngpus, b->nodes[i].ngpus);
		for (g = 0; g < a->nodes[i].ngpus; g++) {
			const struct inv_gpu *x = &a->nodes[i].gpus[g];
			const struct inv_gpu *y = &b->nodes[i].gpus[g];

			assert_int_equal(x->index, y->index);
			assert_string_equal(x->name, y->name);
			assert_string_equal(x->uuid, y->uuid);
			assert_true(x->memory_total == y->memory_total);
			assert_true(x->memory_free == y->memory_free);
		}
	}
}

static void
test_json_round_trip(void **state)
{
	struct inv	 a, b;
	char		 err[PPC_ERRLEN] = "";
	char		*text, *text2;

	assert_int_equal(parse(&a, example, err), 0);
	text = inv_to_json(&a);
	assert_non_null(text);
	assert_int_equal(parse(&b, text, err), 0);
	assert_same_inv(&a, &b);

	/* Serializing the parsed copy gives the same bytes. */
	text2 = inv_to_json(&b);
	assert_non_null(text2);
	assert_string_equal(text, text2);

	free(text);
	free(text2);
	inv_free(&a);
	inv_free(&b);
}

static void
test_copy_and_add(void **state)
{
	struct inv	a, b;
	char		err[PPC_ERRLEN] = "";

	assert_int_equal(parse(&a, example, err), 0);
	assert_int_equal(inv_copy(&b, &a), 0);
	assert_same_inv(&a, &b);
	assert_ptr_not_equal(a.nodes[0].gpus, b.nodes[0].gpus);

	assert_int_equal(inv_add(&b, &a.nodes[1]), 0);
	assert_int_equal(b.nnodes, 3);
	assert_string_equal(b.nodes[2].id, "gpu-b");
	assert_ptr_not_equal(b.nodes[2].gpus, a.nodes[1].gpus);
	inv_free(&a);
	inv_free(&b);
	assert_int_equal(b.nnodes, 0);
	assert_null(b.nodes);
}

static void
test_node_check_names_node(void **state)
{
	struct inv_gpu	gpu = { 0, "A100", "GPU-1", 0, 0 };
	struct inv_node	node = { "gpu-c", "10.0.0.3", 1, 1, &gpu };
	char		err[PPC_ERRLEN] = "";

	assert_int_equal(inv_node_check(&node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "node gpu-c"));
	assert_non_null(strstr(err, "memory_total 0"));

	gpu.memory_total = INV_MEMORY_MAX;
	gpu.memory_free = INV_MEMORY_MAX;
	assert_int_equal(inv_node_check(&node, err, sizeof(err)), 0);

	gpu.memory_total = INV_MEMORY_MAX + 1;
	assert_int_equal(inv_node_check(&node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "out of range"));

	gpu.memory_total = 100;
	gpu.memory_free = 101;
	assert_int_equal(inv_node_check(&node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "memory_free 101"));
}

static void
test_node_check_strings(void **state)
{
	struct inv_gpu	gpu = { 0, "A100", "GPU-1", 100, 100 };
	struct inv_node	node = { "gpu-c", "10.0.0.3", 1, 1, &gpu };
	char		err[PPC_ERRLEN] = "";

	gpu.name[1] = '\n';
	assert_int_equal(inv_node_check(&node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "name"));
	assert_null(strchr(err, '\n'));

	strcpy(gpu.name, "A100");
	memset(gpu.uuid, 'u', sizeof(gpu.uuid));
	assert_int_equal(inv_node_check(&node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "uuid is longer"));

	strcpy(gpu.uuid, "GPU-1");
	strcpy(node.id, "bad id");
	assert_int_equal(inv_node_check(&node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid node id"));

	strcpy(node.id, "gpu-c");
	strcpy(node.address, "10.0.0.3\nx");
	assert_int_equal(inv_node_check(&node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid address"));
	assert_null(strchr(err, '\n'));
}

/* One invalid inventory and a piece of the error it must produce. */
struct bad_case {
	const char	*json;
	const char	*error;
};

#define NODE_B "{\"id\": \"gpu-b\", \"address\": \"10.0.0.2\", \"gpus\": [" \
	GPU_H100 "]}"
#define WITH_B(node) "{\"nodes\": [" NODE_B ", " node "]}"
#define GPU_B(gpu) WITH_B("{\"id\": \"gpu-c\", \"address\": \"10.0.0.3\", " \
	"\"gpus\": [" gpu "]}")

static const struct bad_case bad_cases[] = {
	{ "{\"nodes\": [", "inv.json:1:" },
	{ "[]", "expected an object with a \"nodes\" array" },
	{ "{\"nodes\": {}}", "\"nodes\" must be an array" },
	{ "{\"nodes\": [], \"extra\": 1}", "unknown key next to \"nodes\"" },
	{ "{\"nodes\": [], \"nodes\": []}", "duplicate" },
	{ WITH_B("7"), "nodes[1]: must be an object" },
	{ WITH_B("{\"id\": \"gpu-c\", \"address\": \"10.0.0.3\", "
	    "\"worker\": 1, \"gpus\": [" GPU_H100 "]}"),
	    "nodes[1] (gpu-c): unknown key \"worker\"" },
	{ WITH_B("{\"address\": \"10.0.0.3\", \"gpus\": [" GPU_H100 "]}"),
	    "nodes[1]: id is missing" },
	{ WITH_B("{\"id\": 5, \"address\": \"10.0.0.3\", \"gpus\": ["
	    GPU_H100 "]}"), "nodes[1]: id must be a string" },
	{ WITH_B("{\"id\": \"bad id\", \"address\": \"10.0.0.3\", "
	    "\"gpus\": [" GPU_H100 "]}"), "nodes[1]: invalid node id" },
	{ WITH_B("{\"id\": \"gpu\\nc\", \"address\": \"10.0.0.3\", "
	    "\"gpus\": [" GPU_H100 "]}"), "nodes[1]: invalid node id" },
	{ WITH_B("{\"id\": \"gpu\\u0000c\", \"address\": \"10.0.0.3\", "
	    "\"gpus\": [" GPU_H100 "]}"), "\\u0000 is not allowed" },
	{ WITH_B("{\"id\": \"gpu-c\", \"gpus\": [" GPU_H100 "]}"),
	    "nodes[1] (gpu-c): address is missing" },
	{ WITH_B("{\"id\": \"gpu-c\", \"address\": \"10.0.0.3 x\", "
	    "\"gpus\": [" GPU_H100 "]}"), "nodes[1] (gpu-c): invalid address" },
	{ WITH_B("{\"id\": \"gpu-c\", \"address\": \"10.0.0.3\"}"),
	    "nodes[1] (gpu-c): gpus is missing" },
	{ WITH_B("{\"id\": \"gpu-c\", \"address\": \"10.0.0.3\", "
	    "\"gpus\": {}}"), "nodes[1] (gpu-c): gpus must be an array" },
	{ WITH_B("{\"id\": \"gpu-c\", \"address\": \"10.0.0.3\", "
	    "\"gpus\": []}"), "nodes[1] (gpu-c): 0 GPUs listed: expected 1 to 1024" },
	{ WITH_B("{\"id\": \"gpu-c\", \"address\": \"10.0.0.3\", "
	    "\"workers\": 0, \"gpus\": [" GPU_H100 "]}"),
	    "nodes[1] (gpu-c): workers 0 is out of range" },
	{ WITH_B("{\"id\": \"gpu-c\", \"address\": \"10.0.0.3\", "
	    "\"workers\": 2, \"gpus\": [" GPU_H100 "]}"),
	    "nodes[1] (gpu-c): workers 2 is out of range" },
	{ WITH_B("{\"id\": \"gpu-c\", \"address\": \"10.0.0.3\", "
	    "\"workers\": -1, \"gpus\": [" GPU_H100 "]}"),
	    "nodes[1] (gpu-c): workers -1 is out of range" },
	{ WITH_B("{\"id\": \"gpu-c\", \"address\": \"10.0.0.3\", "
	    "\"workers\": \"8\", \"gpus\": [" GPU_H100 "]}"),
	    "nodes[1] (gpu-c): workers must be an integer" },
	{ GPU_B("3"), "nodes[1] (gpu-c): gpus[0] must be an object" },
	{ GPU_B("{\"memory_total\": 1, \"memory\": 2}"),
	    "nodes[1] (gpu-c): gpus[0]: unknown key \"memory\"" },
	{ GPU_B("{\"name\": \"A100\"}"),
	    "nodes[1] (gpu-c): gpus[0]: memory_total is missing" },
	{ GPU_B("{\"memory_total\": 0}"),
	    "nodes[1] (gpu-c): gpus[0]: memory_total 0 is out of range" },
	{ GPU_B("{\"memory_total\": 17592186044417}"),
	    "gpus[0]: memory_total 17592186044417 is out of range" },
	{ GPU_B("{\"memory_total\": -5}"),
	    "gpus[0]: memory_total -5 is out of range" },
	{ GPU_B("{\"memory_total\": 8.5}"),
	    "gpus[0]: memory_total must be an integer" },
	{ GPU_B("{\"memory_total\": 100, \"memory_free\": 101}"),
	    "gpus[0]: memory_free 101 is larger than memory_total 100" },
	{ GPU_B("{\"memory_total\": 1, \"index\": 4294967296}"),
	    "gpus[0]: index 4294967296 is out of range" },
	{ GPU_B("{\"memory_total\": 1, \"name\": \"x\\u0007y\"}"),
	    "gpus[0]: name \"x?y\" contains a control" },
	{ GPU_B("{\"memory_total\": 1, \"uuid\": "
	    "\"0123456789012345678901234567890123456789012345678901234567"
	    "890123456789012345678901234567890123456789\"}"),
	    "gpus[0]: uuid is 100 bytes: expected at most 95 bytes" },
	{ GPU_B("{\"memory_total\": 1, \"index\": 3}, "
	    "{\"memory_total\": 1, \"index\": 3}"),
	    "gpus[0] and gpus[1] have the same index 3" },
	{ WITH_B("{\"id\": \"gpu-b\", \"address\": \"10.0.0.3\", "
	    "\"gpus\": [" GPU_H100 "]}"),
	    "inv.json: nodes[0] and nodes[1] have the same id gpu-b" },
	{ WITH_B("{\"id\": \"gpu-c\", \"address\": \"10.0.0.2\", "
	    "\"gpus\": [" GPU_H100 "]}"),
	    "nodes[0] (gpu-b) and nodes[1] (gpu-c) have the same address "
	    "10.0.0.2" },
};

static void
test_parse_errors(void **state)
{
	struct inv	inv;
	char		err[PPC_ERRLEN];
	size_t		i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		err[0] = '\0';
		if (parse(&inv, bad_cases[i].json, err) != -1)
			fail_msg("case %zu parsed: %s", i, bad_cases[i].json);
		if (strstr(err, bad_cases[i].error) == NULL)
			fail_msg("case %zu: expected \"%s\" in \"%s\"", i,
			    bad_cases[i].error, err);
		if (strncmp(err, "inv.json", 8) != 0)
			fail_msg("case %zu: error does not name the file: %s",
			    i, err);
		assert_int_equal(inv.nnodes, 0);
		assert_null(inv.nodes);
	}
}

static void
test_parse_too_many_gpus(void **state)
{
	struct inv	 inv;
	char		 err[PPC_ERRLEN] = "";
	char		*text, *p;
	size_t		 i, cap = (INV_GPUS_MAX + 1) * 32 + 256;

	text = malloc(cap);
	assert_non_null(text);
	p = text + sprintf(text, "{\"nodes\": [{\"id\": \"gpu-a\", "
	    "\"address\": \"10.0.0.1\", \"gpus\": [");
	for (i = 0; i <= INV_GPUS_MAX; i++)
		p += sprintf(p, "%s{\"memory_total\": 1}", i ? "," : "");
	strcpy(p, "]}]}");

	assert_int_equal(parse(&inv, text, err), -1);
	assert_non_null(strstr(err, "1025 GPUs listed: expected 1 to 1024"));

	/* The limit itself is accepted. */
	p = strrchr(text, ',');
	strcpy(p, "]}]}");
	assert_int_equal(parse(&inv, text, err), 0);
	assert_int_equal(inv.nodes[0].ngpus, INV_GPUS_MAX);
	assert_int_equal(inv.nodes[0].gpus[1023].index, 1023);
	inv_free(&inv);
	free(text);
}

static void
test_parse_over_size_limit(void **state)
{
	struct inv	 inv;
	char		 err[PPC_ERRLEN] = "";
	char		*text;

	text = malloc(INV_FILE_MAX + 1);
	assert_non_null(text);
	memset(text, ' ', INV_FILE_MAX + 1);
	memcpy(text, "{\"nodes\": []}", 13);
	assert_int_equal(inv_parse_json(&inv, text, INV_FILE_MAX + 1,
	    "big.json", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "big.json: 67108865 bytes is over the "
	    "limit of 67108864 bytes"));
	free(text);
}

static void
test_load_file(void **state)
{
	struct inv	inv;
	char		path[] = "/tmp/ppcoord-test-inv.XXXXXX";
	char		err[PPC_ERRLEN] = "";
	int		fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, example, strlen(example)),
	    (ssize_t)strlen(example));
	close(fd);

	assert_int_equal(inv_load_file(&inv, path, err, sizeof(err)), 0);
	assert_int_equal(inv.nnodes, 2);
	inv_free(&inv);

	unlink(path);
	assert_int_equal(inv_load_file(&inv, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_int_equal(inv.nnodes, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_example),
		cmocka_unit_test(test_parse_defaults),
		cmocka_unit_test(test_parse_empty_nodes),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_copy_and_add),
		cmocka_unit_test(test_node_check_names_node),
		cmocka_unit_test(test_node_check_strings),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_too_many_gpus),
		cmocka_unit_test(test_parse_over_size_limit),
		cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
