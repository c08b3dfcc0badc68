/*
 * Unit tests for the config parsers: config text goes through the real
 * conf_head_parse and conf_agent_parse. Run from the repository root, as
 * `make unit` does, so that tests/models is found.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "st_gen.h"
#include "util.h"

#define MODELS	"tests/models/"
#define CLUSTER	"cluster = { expected_nodes = 3; };\n"
#define MINIMAL	CLUSTER "model = { layers = 80; };\n"

/* Prints every error of a failed parse into the cmocka message. */
static void
fail_with_errors(const struct conf_errors *e)
{
	char	 buf[4096];

	conf_errors_join(e, buf, sizeof(buf));
	fail_msg("unexpected errors:\n%s", buf);
}

static void
parse_head_ok(const char *text, enum conf_scope scope, struct head_conf *c)
{
	struct conf_errors	 e = { 0, NULL };

	if (conf_head_parse(c, text, "head.conf", scope, &e) != 0)
		fail_with_errors(&e);
	assert_int_equal(e.count, 0);
	conf_errors_free(&e);
}

/* Returns whether some error line contains `want`. */
static bool
has_error(const struct conf_errors *e, const char *want)
{
	size_t	 i;

	for (i = 0; i < e->count; i++)
		if (strstr(e->lines[i], want) != NULL)
			return true;
	return false;
}

static void
expect_head_error(const char *text, enum conf_scope scope, const char *want)
{
	struct conf_errors	 e = { 0, NULL };
	struct head_conf	 c;
	char			 buf[4096];

	if (conf_head_parse(&c, text, "head.conf", scope, &e) != -1)
		fail_msg("accepted:\n%s", text);
	if (!has_error(&e, want)) {
		conf_errors_join(&e, buf, sizeof(buf));
		fail_msg("no error containing \"%s\" in:\n%s", want, buf);
	}
	/* A failed parse leaves nothing to free. */
	assert_null(c.listen);
	assert_null(c.sizes.layer_bytes);
	conf_errors_free(&e);
}

static void
test_head_defaults(void **state)
{
	struct head_conf	 c;

	parse_head_ok(MINIMAL, CONF_SCOPE_HEAD, &c);
	assert_string_equal(c.listen, "0.0.0.0:7450");
	assert_string_equal(c.control_socket, "/run/ppcoord/head.sock");
	assert_string_equal(c.state_file, "/var/lib/ppcoord/plan.state");
	assert_null(c.status_listen);
	assert_int_equal(c.max_connections, 16384);
	assert_int_equal(c.max_unauthenticated, 1024);
	assert_int_equal(c.handshake_timeout_ms, 10000);
	assert_int_equal(c.hello_timeout_ms, 10000);
	assert_int_equal(c.idle_timeout_ms, 10000);	/* node_timeout */
	assert_int_equal(c.max_frame_bytes, 1 << 20);
	assert_int_equal(c.max_immediate_updates, 1000);
	assert_int_equal(c.store, CONF_STORE_FILE);
	assert_string_equal(c.advertise, "0.0.0.0:7450");
	assert_string_equal(c.tls.ca_file, "/etc/ppcoord/ca.pem");
	assert_string_equal(c.tls.cert_file, "/etc/ppcoord/head.pem");
	assert_string_equal(c.tls.key_file, "/etc/ppcoord/head.key");
	assert_string_equal(c.cluster_name, "default");
	assert_string_equal(c.etcd.prefix, "/ppcoord/default");
	assert_int_equal(c.etcd.lease_ttl_ms, 5000);
	assert_int_equal(c.expected_nodes, 3);
	assert_int_equal(c.heartbeat_interval_ms, 2000);
	assert_int_equal(c.node_timeout_ms, 10000);
	assert_int_equal(c.settle_time_ms, 2000);
	assert_int_equal(c.master_port, 29500);
	assert_false(c.have_sizes);
	assert_int_equal(c.kv_dtype_bytes, 0);

	assert_int_equal(c.plan.layers, 80);
	assert_int_equal(c.plan.tp_size, 0);
	assert_int_equal(c.plan.expected_nodes, 3);
	assert_int_equal(c.plan.master_port, 29500);
	assert_int_equal(c.plan.order, PLAN_ORDER_VLLM);
	assert_int_equal(c.plan.partition, PLAN_PARTITION_EVEN);
	assert_null(c.plan.driver);
	assert_int_equal(c.plan.nlisted, 0);
	assert_int_equal(c.plan.npins, 0);
	assert_null(c.plan.sizes);
	assert_true(c.plan.gpu_memory_utilization == 0.9);
	assert_int_equal(c.plan.activation_reserve, 1ULL << 30);
	assert_int_equal(c.plan.min_kv_tokens, 1);
	conf_head_free(&c);
}

static const char every_key[] =
	"head = {\n"
	"  listen = \"127.0.0.1:7460\";\n"
	"  control_socket = \"/tmp/h.sock\";\n"
	"  state_file = \"/tmp/plan.state\";\n"
	"  status_listen = \"[::1]:7461\";\n"
	"  max_connections = 100;\n"
	"  max_unauthenticated = 10;\n"
	"  handshake_timeout = \"1500ms\";\n"
	"  hello_timeout = \"3s\";\n"
	"  idle_timeout = \"1m\";\n"
	"  max_frame_size = \"2 MiB\";\n"
	"  max_immediate_updates = 0;\n"
	"  store = \"etcd\";\n"
	"  advertise = \"head-1.example:7460\";\n"
	"};\n"
	"tls = { ca_file = \"/c/ca.pem\"; cert_file = \"/c/h.pem\";\n"
	"  key_file = \"/c/h.key\"; };\n"
	"etcd = {\n"
	"  endpoints = [ \"https://10.0.0.5:2379\", \"http://etcd:2379\" ];\n"
	"  ca_file = \"/e/ca.pem\"; cert_file = \"/e/c.pem\";\n"
	"  key_file = \"/e/c.key\"; prefix = \"/x/y\"; lease_ttl = \"7s\";\n"
	"};\n"
	"cluster = {\n"
	"  name = \"prod-1\";\n"
	"  expected_nodes = 4;\n"
	"  heartbeat_interval = \"1s\";\n"
	"  node_timeout = \"5s\";\n"
	"  settle_time = \"0s\";\n"
	"  master_port = 1234;\n"
	"};\n"
	"model = {\n"
	"  layers = 8;\n"
	"  layer_bytes = \"1.5GiB\";\n"
	"  embedding_bytes = 1048576;\n"
	"  head_bytes = \"500MB\";\n"
	"  kv_bytes_per_token = \"4 KiB\";\n"
	"};\n"
	"plan = {\n"
	"  tp_size = 4;\n"
	"  order = \"listed\";\n"
	"  partition = \"manual\";\n"
	"  layer_partition = \"2, 2,3,1\";\n"
	"  driver = \"gpu-a\";\n"
	"  nodes = [ \"gpu-c\", \"gpu-a\" ];\n"
	"  pins = ( { node = \"gpu-b\"; stage = 2; },\n"
	"           { stage = 0; node = \"gpu-d\"; } );\n"
	"  gpu_memory_utilization = 0.85;\n"
	"  activation_reserve = \"2 GiB\";\n"
	"  min_kv_tokens = 4096;\n"
	"  kv_cache_dtype = \"fp8\";\n"
	"};\n";

static void
test_head_every_key(void **state)
{
	struct head_conf	 c;
	uint32_t		 i;

	parse_head_ok(every_key, CONF_SCOPE_HEAD, &c);
	assert_string_equal(c.listen, "127.0.0.1:7460");
	assert_string_equal(c.control_socket, "/tmp/h.sock");
	assert_string_equal(c.state_file, "/tmp/plan.state");
	assert_string_equal(c.status_listen, "[::1]:7461");
	assert_int_equal(c.max_connections, 100);
	assert_int_equal(c.max_unauthenticated, 10);
	assert_int_equal(c.handshake_timeout_ms, 1500);
	assert_int_equal(c.hello_timeout_ms, 3000);
	assert_int_equal(c.idle_timeout_ms, 60000);
	assert_int_equal(c.max_immediate_updates, 0);
	assert_int_equal(c.max_frame_bytes, 2 << 20);
	assert_int_equal(c.store, CONF_STORE_ETCD);
	assert_string_equal(c.advertise, "head-1.example:7460");
	assert_string_equal(c.tls.ca_file, "/c/ca.pem");
	assert_string_equal(c.tls.cert_file, "/c/h.pem");
	assert_string_equal(c.tls.key_file, "/c/h.key");
	assert_int_equal(c.etcd.nendpoints, 2);
	assert_string_equal(c.etcd.endpoints[0], "https://10.0.0.5:2379");
	assert_string_equal(c.etcd.endpoints[1], "http://etcd:2379");
	assert_string_equal(c.etcd.ca_file, "/e/ca.pem");
	assert_string_equal(c.etcd.cert_file, "/e/c.pem");
	assert_string_equal(c.etcd.key_file, "/e/c.key");
	assert_string_equal(c.etcd.prefix, "/x/y");
	assert_int_equal(c.etcd.lease_ttl_ms, 7000);
	assert_string_equal(c.cluster_name, "prod-1");
	assert_int_equal(c.expected_nodes, 4);
	assert_int_equal(c.heartbeat_interval_ms, 1000);
	assert_int_equal(c.node_timeout_ms, 5000);
	assert_int_equal(c.settle_time_ms, 0);
	assert_int_equal(c.master_port, 1234);

	assert_true(c.have_sizes);
	assert_ptr_equal(c.plan.sizes, &c.sizes);
	assert_int_equal(c.sizes.layers, 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(c.sizes.layer_bytes[i], 3ULL << 29);
	assert_int_equal(c.sizes.embedding_bytes, 1048576);
	assert_int_equal(c.sizes.head_bytes, 500000000);
	assert_int_equal(c.sizes.kv_bytes_per_token, 4096);
	assert_string_equal(c.sizes.source, "explicit");

	assert_int_equal(c.plan.layers, 8);
	assert_int_equal(c.plan.tp_size, 4);
	assert_int_equal(c.plan.expected_nodes, 4);
	assert_int_equal(c.plan.master_port, 1234);
	assert_int_equal(c.plan.order, PLAN_ORDER_LISTED);
	assert_int_equal(c.plan.partition, PLAN_PARTITION_MANUAL);
	assert_int_equal(c.plan.nlayer_partition, 4);
	assert_int_equal(c.plan.layer_partition[0], 2);
	assert_int_equal(c.plan.layer_partition[2], 3);
	assert_int_equal(c.plan.layer_partition[3], 1);
	assert_string_equal(c.plan.driver, "gpu-a");
	assert_int_equal(c.plan.nlisted, 2);
	assert_string_equal(c.plan.listed[0], "gpu-c");
	assert_string_equal(c.plan.listed[1], "gpu-a");
	assert_int_equal(c.plan.npins, 2);
	assert_string_equal(c.plan.pins[0].node, "gpu-b");
	assert_int_equal(c.plan.pins[0].stage, 2);
	assert_string_equal(c.plan.pins[1].node, "gpu-d");
	assert_int_equal(c.plan.pins[1].stage, 0);
	assert_true(c.plan.gpu_memory_utilization == 0.85);
	assert_int_equal(c.plan.activation_reserve, 2ULL << 30);
	assert_int_equal(c.plan.min_kv_tokens, 4096);
	assert_int_equal(c.kv_dtype_bytes, 1);
	conf_head_free(&c);
}

static void
test_head_integer_sizes(void **state)
{
	struct head_conf	 c;

	/* Plain integers are bytes; 64-bit ones need no L suffix. */
	parse_head_ok(MINIMAL "head = { max_frame_size = 65536; };\n"
	    "plan = { activation_reserve = 3000000000; "
	    "gpu_memory_utilization = 1; };\n", CONF_SCOPE_HEAD, &c);
	assert_int_equal(c.max_frame_bytes, 65536);
	assert_int_equal(c.plan.activation_reserve, 3000000000ULL);
	assert_true(c.plan.gpu_memory_utilization == 1.0);
	conf_head_free(&c);

	/* Hexadecimal, the L suffix, floats and strings pass unchanged. */
	parse_head_ok(CLUSTER "# 99999999999999999999 in a comment\n"
	    "model = { layers = 0x10; layer_bytes = 0x100000000;\n"
	    "  embedding_bytes = 5000000000L; head_bytes = \"3000000000\";\n"
	    "  kv_bytes_per_token = 2147483647; /* 4294967296 */ };\n"
	    "plan = { gpu_memory_utilization = 0.5e0; };\n",
	    CONF_SCOPE_HEAD, &c);
	assert_int_equal(c.plan.layers, 16);
	assert_int_equal(c.sizes.layer_bytes[15], 1ULL << 32);
	assert_int_equal(c.sizes.embedding_bytes, 5000000000ULL);
	assert_int_equal(c.sizes.head_bytes, 3000000000ULL);
	assert_int_equal(c.sizes.kv_bytes_per_token, 2147483647);
	assert_true(c.plan.gpu_memory_utilization == 0.5);
	conf_head_free(&c);

	/* 64-bit overflow is an error, not a wrapped value. */
	expect_head_error(MINIMAL "\nplan = { min_kv_tokens = "
	    "99999999999999999999; };\n", CONF_SCOPE_HEAD,
	    "head.conf:4: integer 99999999999999999999 is too large");
	expect_head_error(MINIMAL "plan = { min_kv_tokens = "
	    "18446744073709551615L; };\n", CONF_SCOPE_HEAD,
	    "head.conf:3: integer 18446744073709551615 is too large");
}

static void
test_unknown_key_line(void **state)
{
	expect_head_error("cluster = { expected_nodes = 3; };\n"
	    "model = { layers = 80; };\n"
	    "head = { lisen = \"0.0.0.0:1\"; };\n", CONF_SCOPE_HEAD,
	    "head.conf:3: unknown key \"lisen\" in group head (known keys: "
	    "listen, control_socket");
	expect_head_error(MINIMAL "plan = {\n  pins = ( { node = \"a\";\n"
	    "    stag = 1; } );\n};\n", CONF_SCOPE_HEAD,
	    "head.conf:5: unknown key \"stag\" in plan.pins[0]");
}

static void
test_unknown_group(void **state)
{
	expect_head_error(MINIMAL "agent = { head = \"x:1\"; };\n",
	    CONF_SCOPE_HEAD, "head.conf:3: unknown group \"agent\"");
	expect_head_error(MINIMAL "layers = 80;\n", CONF_SCOPE_HEAD,
	    "head.conf:3: unknown group \"layers\"");
	expect_head_error(MINIMAL "head = 3;\n", CONF_SCOPE_HEAD,
	    "head.conf:3: head must be a group");
}

static void
test_several_errors_at_once(void **state)
{
	struct conf_errors	 e = { 0, NULL };
	struct head_conf	 c;
	const char		*text =
	    "cluster = { expected_nodes = 0;\n"
	    "  master_port = 70000; };\n"
	    "model = { layers = 80; };\n"
	    "head = { listen = \"nohost\";\n"
	    "  bogus = 1; };\n"
	    "plan = { order = \"random\"; };\n";

	assert_int_equal(conf_head_parse(&c, text, "head.conf",
	    CONF_SCOPE_HEAD, &e), -1);
	assert_int_equal(e.count, 5);
	assert_non_null(strstr(e.lines[0], "head.conf:1: "
	    "cluster.expected_nodes must be an integer from 1 to 65536, "
	    "found 0"));
	assert_non_null(strstr(e.lines[1], "head.conf:2: cluster.master_port "
	    "must be an integer from 1 to 65535, found 70000"));
	assert_non_null(strstr(e.lines[2], "head.conf:4: head.listen: "));
	assert_non_null(strstr(e.lines[3], "head.conf:5: unknown key "
	    "\"bogus\""));
	assert_non_null(strstr(e.lines[4], "head.conf:6: plan.order must be "
	    "\"vllm\", \"listed\" or \"memory\", found \"random\""));
	conf_errors_free(&e);
}

static void
test_errors_sorted_by_line(void **state)
{
	struct conf_errors	 e = { 0, NULL };
	struct head_conf	 c;
	const char		*text =
	    "cluster = { expected_nodes = 3; };\n"
	    "model = { layers = 10; };\n"
	    "plan = { partition = \"manual\";\n"
	    "  layer_partition = \"4,4\";\n"
	    "  tp_size = 0; };\n";

	/* The layer_partition sum is checked after the walk that finds the
	 * tp_size error, but is reported first because its line is first. */
	assert_int_equal(conf_head_parse(&c, text, "head.conf",
	    CONF_SCOPE_HEAD, &e), -1);
	assert_int_equal(e.count, 2);
	assert_non_null(strstr(e.lines[0], "head.conf:4: plan.layer_partition "
	    "sums to 8 layers, expected 10"));
	assert_non_null(strstr(e.lines[1], "head.conf:5: plan.tp_size"));
	conf_errors_free(&e);
}

static void
test_syntax_error_line(void **state)
{
	expect_head_error("cluster = { expected_nodes = 3; };\n"
	    "model = { layers = = 80; };\n", CONF_SCOPE_HEAD,
	    "head.conf:2: syntax error");
	expect_head_error("cluster = { expected_nodes = 3; };\n"
	    "cluster = { expected_nodes = 4; };\n", CONF_SCOPE_HEAD,
	    "head.conf:2: ");
	expect_head_error(MINIMAL "plan = { driver = \"a; };\n\n",
	    CONF_SCOPE_HEAD, "head.conf:3: a string runs to the end of the "
	    "file; close it");
	expect_head_error(MINIMAL "plan = { driver = \"a\\\"\n\"; };\n"
	    "/* x\n", CONF_SCOPE_HEAD, "head.conf:5: a comment runs to the "
	    "end of the file");
}

static void
test_head_validation_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*want;
	} cases[] = {
		{ "model = { layers = 80; };\n",
		    "head.conf:1: cluster.expected_nodes is missing" },
		{ "cluster = { expected_nodes = 3; };\n",
		    "model.layers is missing" },
		{ "cluster = { expected_nodes = 3; };\n"
		    "model = { layers = 0; };\n",
		    "head.conf:2: model.layers must be an integer from 1 to "
		    "100000, found 0" },
		{ "cluster = { expected_nodes = 3; };\n"
		    "model = { layers = \"80\"; };\n",
		    "model.layers must be an integer from 1 to 100000, found "
		    "a string" },
		{ MINIMAL "plan = { tp_size = 0; };\n",
		    "head.conf:3: plan.tp_size must be an integer from 1" },
		{ MINIMAL "plan = { partition = \"uneven\"; };\n",
		    "plan.partition must be \"even\", \"manual\" or "
		    "\"memory\", found \"uneven\"" },
		{ MINIMAL "plan = { partition = \"manual\"; };\n",
		    "head.conf:3: plan.partition is \"manual\" but "
		    "plan.layer_partition is missing" },
		{ MINIMAL "plan = { partition = \"manual\";\n"
		    "  layer_partition = \"20,20,20\"; };\n",
		    "head.conf:4: plan.layer_partition sums to 60 layers, "
		    "expected 80" },
		{ MINIMAL "plan = { partition = \"manual\";\n"
		    "  layer_partition = \"20,x,60\"; };\n",
		    "head.conf:4: plan.layer_partition: " },
		{ MINIMAL "plan = { partition = \"manual\";\n"
		    "  layer_partition = \"40,0,40\"; };\n",
		    "head.conf:4: plan.layer_partition: " },
		{ MINIMAL "plan = { layer_partition = \"40,40\"; };\n",
		    "plan.layer_partition is set but plan.partition is "
		    "\"even\"" },
		{ MINIMAL "plan = { partition = \"memory\"; };\n",
		    "head.conf:3: plan.partition = \"memory\" needs the model "
		    "sizes" },
		{ MINIMAL "plan = { order = \"memory\"; };\n",
		    "plan.order = \"memory\" needs the model sizes" },
		{ MINIMAL "plan = { order = \"listed\"; };\n",
		    "plan.order is \"listed\" but plan.nodes is missing" },
		{ MINIMAL "plan = { nodes = [ \"a\" ]; };\n",
		    "plan.nodes is set but plan.order is \"vllm\"" },
		{ MINIMAL "plan = { order = \"listed\";\n"
		    "  nodes = [ \"a\", \"b\", \"a\" ]; };\n",
		    "head.conf:4: plan.nodes lists node \"a\" twice (entries "
		    "0 and 2)" },
		{ MINIMAL "plan = { order = \"listed\";\n"
		    "  nodes = [ \"a\", \"../b\" ]; };\n",
		    "head.conf:4: plan.nodes[1]: invalid node id" },
		{ MINIMAL "plan = { order = \"listed\"; nodes = [ ]; };\n",
		    "plan.nodes must not be empty" },
		{ MINIMAL "plan = { order = \"listed\"; nodes = \"a\"; };\n",
		    "plan.nodes must be a list of strings" },
		{ MINIMAL "plan = { driver = \"a b\"; };\n",
		    "head.conf:3: plan.driver: invalid node id" },
		{ MINIMAL "plan = { driver = \"\"; };\n",
		    "plan.driver must not be empty" },
		{ MINIMAL "plan = { pins = ( { node = \"a\"; stage = 0; },\n"
		    "  { node = \"a\"; stage = 1; } ); };\n",
		    "head.conf:4: plan.pins[1] pins node \"a\" a second time" },
		{ MINIMAL "plan = { pins = ( { node = \"-a\"; stage = 0; } ); };\n",
		    "plan.pins[0].node: invalid node id" },
		{ MINIMAL "plan = { pins = ( { node = \"a\"; stage = -1; } ); };\n",
		    "plan.pins[0].stage must be an integer from 0" },
		{ MINIMAL "plan = { pins = ( { node = \"a\"; } ); };\n",
		    "plan.pins[0] has no stage" },
		{ MINIMAL "plan = { pins = ( { stage = 1; } ); };\n",
		    "plan.pins[0] has no node" },
		{ MINIMAL "plan = { pins = [ 1 ]; };\n",
		    "plan.pins must be a list of groups" },
		{ MINIMAL "plan = { pins = ( 1 ); };\n",
		    "plan.pins[0] must be a group" },
		{ MINIMAL "plan = { gpu_memory_utilization = 0.0; };\n",
		    "plan.gpu_memory_utilization must be greater than 0 and at "
		    "most 1, found 0" },
		{ MINIMAL "plan = { gpu_memory_utilization = 1.5; };\n",
		    "found 1.5" },
		{ MINIMAL "plan = { gpu_memory_utilization = \"90%\"; };\n",
		    "must be a number" },
		{ MINIMAL "plan = { activation_reserve = \"1 GB/s\"; };\n",
		    "plan.activation_reserve: invalid size \"1 GB/s\"" },
		{ MINIMAL "plan = { activation_reserve = -1; };\n",
		    "plan.activation_reserve must not be negative" },
		{ MINIMAL "plan = { activation_reserve = 1.5; };\n",
		    "must be a size such as" },
		{ MINIMAL "plan = { min_kv_tokens = 0; };\n",
		    "plan.min_kv_tokens must be an integer from 1" },
		{ MINIMAL "plan = { kv_cache_dtype = \"fp4\"; };\n",
		    "plan.kv_cache_dtype must be \"auto\"" },
		{ MINIMAL "head = { listen = \"0.0.0.0\"; };\n",
		    "head.conf:3: head.listen: invalid address \"0.0.0.0\": "
		    "expected \"host:port\"" },
		{ MINIMAL "head = { status_listen = \"127.0.0.1:0\"; };\n",
		    "head.status_listen: invalid address" },
		{ MINIMAL "head = { advertise = \"::1:7450\"; };\n",
		    "in brackets" },
		{ MINIMAL "head = { control_socket = \"/tmp/"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"; };\n",
		    "maximum for a Unix socket path is 107" },
		{ MINIMAL "head = { state_file = \"/tmp/a\nb\"; };\n",
		    "head.state_file contains a control character" },
		{ MINIMAL "head = { max_frame_size = \"17 MiB\"; };\n",
		    "head.max_frame_size is larger than the maximum of "
		    "16.0 MiB" },
		{ MINIMAL "head = { max_frame_size = 100; };\n",
		    "head.max_frame_size must be at least 4096 bytes" },
		{ MINIMAL "head = { max_connections = 0; };\n",
		    "head.max_connections must be an integer from 1" },
		{ MINIMAL "head = { hello_timeout = 10; };\n",
		    "head.hello_timeout must be a duration string with a unit" },
		{ MINIMAL "head = { hello_timeout = \"10 seconds\"; };\n",
		    "head.hello_timeout: invalid duration" },
		{ MINIMAL "head = { handshake_timeout = \"0s\"; };\n",
		    "head.handshake_timeout must be at least 1 ms" },
		{ MINIMAL "head = { idle_timeout = \"2s\"; };\n",
		    "head.conf:3: head.idle_timeout (2000 ms) must be longer "
		    "than cluster.heartbeat_interval (2000 ms)" },
		{ MINIMAL "head = { max_immediate_updates = -1; };\n",
		    "head.max_immediate_updates must be an integer from 0 to" },
		{ MINIMAL "head = { store = \"redis\"; };\n",
		    "head.store must be \"file\" or \"etcd\"" },
		{ MINIMAL "head = { store = \"etcd\"; };\n",
		    "head.conf:3: head.store is \"etcd\" but etcd.endpoints "
		    "is missing" },
		{ MINIMAL "etcd = { endpoints = [ \"https://e:2379\" ]; };\n",
		    "head.conf:3: the etcd group is set but head.store is "
		    "\"file\"" },
		{ MINIMAL "head = { store = \"etcd\"; };\n"
		    "etcd = { endpoints = [ \"e:2379\" ]; };\n",
		    "head.conf:4: etcd.endpoints[0] must start with https://" },
		{ MINIMAL "head = { store = \"etcd\"; };\n"
		    "etcd = { endpoints = [ \"https://e\" ]; };\n",
		    "etcd.endpoints[0]: invalid address" },
		{ MINIMAL "head = { store = \"etcd\"; };\n"
		    "etcd = { endpoints = [ \"https://e:1\" ]; prefix = \"x\"; };\n",
		    "etcd.prefix must start with '/'" },
		{ MINIMAL "head = { store = \"etcd\"; };\n"
		    "etcd = { endpoints = [ \"https://e:1\" ];\n"
		    "  lease_ttl = \"500ms\"; };\n",
		    "head.conf:5: etcd.lease_ttl must be at least 1000 ms" },
		{ MINIMAL "cluster = { name = \"a/b\"; };\n", "head.conf:3: " },
		{ "cluster = { expected_nodes = 3; name = \"a/b\"; };\n"
		    "model = { layers = 80; };\n",
		    "cluster.name must be 1 to 63 bytes of A-Z a-z 0-9 . _ -" },
		{ "cluster = { expected_nodes = 3;\n"
		    "  node_timeout = \"2s\"; };\n"
		    "model = { layers = 80; };\n",
		    "head.conf:2: cluster.node_timeout (2000 ms) must be longer "
		    "than cluster.heartbeat_interval (2000 ms)" },
		{ "cluster = { expected_nodes = 3; master_port = 0; };\n"
		    "model = { layers = 80; };\n",
		    "cluster.master_port must be an integer from 1 to 65535" },
		{ "cluster = { expected_nodes = 70000; };\n"
		    "model = { layers = 80; };\n",
		    "cluster.expected_nodes must be an integer from 1 to "
		    "65536, found 70000" },
		{ MINIMAL "tls = { ca_file = 1; };\n",
		    "tls.ca_file must be a string, found an integer" },
		{ CLUSTER "model = { layers = 80; layer_bytes = \"1 GiB\"; };\n",
		    "the model sizes are incomplete, nothing gives: "
		    "embedding_bytes head_bytes kv_bytes_per_token" },
		{ CLUSTER "model = { layers = 80; layer_bytes = 0;\n"
		    "  embedding_bytes = 0;"
		    "  head_bytes = 0; kv_bytes_per_token = 1; };\n",
		    "model.layer_bytes must be at least 1 bytes" },
		{ CLUSTER "model = { hf_config = \"/nonexistent/config.json\"; };\n",
		    "head.conf:2: model.hf_config: /nonexistent/config.json: "
		    "No such file" },
		{ CLUSTER "model = { layers = 80; hf_config = \"" MODELS
		    "llama-3.1-8b.json\"; };\n",
		    "model.layers is 80 but num_hidden_layers in "
		    "tests/models/llama-3.1-8b.json is 32" },
		{ CLUSTER "model = { layers = 80; weights_dir = \"/nonexistent\"; "
		    "kv_bytes_per_token = 1; };\n",
		    "head.conf:2: model.weights_dir: /nonexistent: No such" },
		{ CLUSTER "model = { layers = 80; weights_dir = \"/nonexistent\"; };\n",
		    "nothing gives: kv_bytes_per_token" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu\n", i);
		expect_head_error(cases[i].text, CONF_SCOPE_HEAD,
		    cases[i].want);
	}
}

static void
test_plan_scope(void **state)
{
	struct head_conf	 c;

	/* head, tls and etcd are skipped, even with keys unknown to them,
	 * and expected_nodes may be left out. */
	parse_head_ok("head = { listen = 5; whatever = 1; };\n"
	    "tls = { nothing = 1; };\n"
	    "etcd = { endpoints = 3; };\n"
	    "model = { layers = 32; };\n"
	    "plan = { tp_size = 8; };\n", CONF_SCOPE_PLAN, &c);
	assert_int_equal(c.plan.layers, 32);
	assert_int_equal(c.plan.tp_size, 8);
	assert_int_equal(c.plan.expected_nodes, 0);
	conf_head_free(&c);

	expect_head_error("model = { layers = 32; };\nagent = { };\n",
	    CONF_SCOPE_PLAN, "head.conf:2: unknown group \"agent\"");
	expect_head_error("model = { layers = 32; };\nplan = { x = 1; };\n",
	    CONF_SCOPE_PLAN, "head.conf:2: unknown key \"x\" in group plan");
	/* The head scope does check the head group. */
	expect_head_error(MINIMAL "head = { whatever = 1; };\n",
	    CONF_SCOPE_HEAD, "unknown key \"whatever\"");
}

static void
test_hf_config_sizes(void **state)
{
	struct head_conf	 c;

	/* layers comes from num_hidden_layers. */
	parse_head_ok("cluster = { expected_nodes = 2; };\n"
	    "model = { hf_config = \"" MODELS "llama-3.1-70b.json\"; };\n"
	    "plan = { partition = \"memory\"; order = \"memory\"; };\n",
	    CONF_SCOPE_HEAD, &c);
	assert_int_equal(c.plan.layers, 80);
	assert_true(c.have_sizes);
	assert_ptr_equal(c.plan.sizes, &c.sizes);
	assert_int_equal(c.sizes.layers, 80);
	assert_int_equal(c.sizes.layer_bytes[79], 855654400ULL * 2);
	assert_int_equal(c.sizes.kv_bytes_per_token, 4096);
	assert_int_equal(c.sizes.parameters, 70553706496ULL);
	assert_string_equal(c.sizes.source, "hf_config");
	conf_head_free(&c);

	/* fp8 KV cache; explicit head_bytes overrides the derived one. */
	parse_head_ok("cluster = { expected_nodes = 2; };\n"
	    "model = { layers = 80; hf_config = \"" MODELS
	    "llama-3.1-70b.json\";\n  head_bytes = \"1 GiB\"; };\n"
	    "plan = { kv_cache_dtype = \"fp8\"; };\n", CONF_SCOPE_HEAD, &c);
	assert_int_equal(c.sizes.kv_bytes_per_token, 2048);
	assert_int_equal(c.sizes.head_bytes, 1ULL << 30);
	assert_int_equal(c.sizes.embedding_bytes, 128256ULL * 8192 * 2);
	assert_string_equal(c.sizes.source, "hf_config+explicit");
	conf_head_free(&c);

	/* An explicit kv_bytes_per_token wins over fp8 and hf_config. */
	parse_head_ok("cluster = { expected_nodes = 2; };\n"
	    "model = { hf_config = \"" MODELS "deepseek-v3.json\";\n"
	    "  kv_bytes_per_token = 1000; };\n"
	    "plan = { kv_cache_dtype = \"fp8\"; };\n", CONF_SCOPE_HEAD, &c);
	assert_int_equal(c.plan.layers, 61);
	assert_int_equal(c.sizes.kv_bytes_per_token, 1000);
	conf_head_free(&c);
}

static char	 tmpdir[64];

static int
setup_dir(void **state)
{
	strcpy(tmpdir, "/tmp/ppcoord-test-conf.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char		 path[512];
	struct dirent	*de;
	DIR		*d;

	if ((d = opendir(tmpdir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", tmpdir,
			    de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(tmpdir);
	return 0;
}

static void
write_file(const char *name, const char *text)
{
	char	 path[512], err[PPC_ERRLEN];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if (util_write_file_atomic(path, text, strlen(text), 0644, err,
	    sizeof(err)) != 0)
		fail_msg("%s", err);
}

/* A 2-layer Llama config whose layers weigh 608 bfloat16 parameters. */
static const char tiny_config[] = "{\"model_type\": \"llama\", "
	"\"hidden_size\": 8, \"num_attention_heads\": 2, "
	"\"num_key_value_heads\": 1, \"vocab_size\": 10, "
	"\"intermediate_size\": 16, \"num_hidden_layers\": 2, "
	"\"torch_dtype\": \"bfloat16\"}";

static void
test_weights_dir_precedence(void **state)
{
	static const struct st_tensor t[] = {
		{ "model.embed_tokens.weight", "BF16", 10, 8 },
		{ "model.layers.0.w", "BF16", 100, 0 },
		{ "model.layers.1.w", "BF16", 300, 0 },
		{ "model.layers.2.w", "BF16", 999, 0 },	/* MTP, dropped */
		{ "model.norm.weight", "BF16", 8, 0 },
		{ "lm_head.weight", "BF16", 10, 8 },
	};
	struct head_conf	 c;
	char			 path[512], text[2048];

	write_file("config.json", tiny_config);
	snprintf(path, sizeof(path), "%s/model.safetensors", tmpdir);
	assert_int_equal(st_write(path, t, 6), 0);

	/* weights_dir gives the weights, hf_config the KV bytes. */
	snprintf(text, sizeof(text), "cluster = { expected_nodes = 1; };\n"
	    "model = { hf_config = \"%s/config.json\";\n"
	    "  weights_dir = \"%s\"; };\n", tmpdir, tmpdir);
	parse_head_ok(text, CONF_SCOPE_HEAD, &c);
	assert_int_equal(c.plan.layers, 2);
	assert_int_equal(c.sizes.layer_bytes[0], 200);
	assert_int_equal(c.sizes.layer_bytes[1], 600);
	assert_int_equal(c.sizes.embedding_bytes, 160);
	assert_int_equal(c.sizes.head_bytes, 176);
	assert_int_equal(c.sizes.kv_bytes_per_token, 2 * 1 * 4 * 2);
	assert_string_equal(c.sizes.source, "safetensors+hf_config");
	conf_head_free(&c);

	/* Explicit keys override weights_dir, each on its own. */
	snprintf(text, sizeof(text), "cluster = { expected_nodes = 1; };\n"
	    "model = { layers = 2; weights_dir = \"%s\";\n"
	    "  embedding_bytes = 7; kv_bytes_per_token = 9; };\n", tmpdir);
	parse_head_ok(text, CONF_SCOPE_HEAD, &c);
	assert_int_equal(c.sizes.layer_bytes[1], 600);
	assert_int_equal(c.sizes.embedding_bytes, 7);
	assert_int_equal(c.sizes.head_bytes, 176);
	assert_int_equal(c.sizes.kv_bytes_per_token, 9);
	assert_int_equal(c.sizes.parameters, 0);
	assert_string_equal(c.sizes.source, "safetensors+explicit");
	conf_head_free(&c);

	/* layer_bytes overrides both; hf_config still gives the count. */
	snprintf(text, sizeof(text), "cluster = { expected_nodes = 1; };\n"
	    "model = { hf_config = \"%s/config.json\"; weights_dir = \"%s\";\n"
	    "  layer_bytes = \"1 KiB\"; };\n", tmpdir, tmpdir);
	parse_head_ok(text, CONF_SCOPE_HEAD, &c);
	assert_int_equal(c.sizes.layer_bytes[0], 1024);
	assert_int_equal(c.sizes.layer_bytes[1], 1024);
	assert_int_equal(c.sizes.embedding_bytes, 160);
	conf_head_free(&c);

	/* A broken header is reported against weights_dir's line. */
	write_file("model.safetensors", "xx");
	snprintf(text, sizeof(text), "cluster = { expected_nodes = 1; };\n"
	    "model = { hf_config = \"%s/config.json\";\n"
	    "  weights_dir = \"%s\"; };\n", tmpdir, tmpdir);
	expect_head_error(text, CONF_SCOPE_HEAD, "head.conf:3: "
	    "model.weights_dir: ");
}

static void
test_hf_config_unknown_arch(void **state)
{
	struct head_conf	 c;
	char			 text[1024];

	write_file("config.json", "{\"model_type\": \"gpt2\", "
	    "\"num_hidden_layers\": 12}");
	/* Only the layer count is needed when every size is explicit. */
	snprintf(text, sizeof(text), "cluster = { expected_nodes = 1; };\n"
	    "model = { hf_config = \"%s/config.json\"; layer_bytes = 10;\n"
	    "  embedding_bytes = 1; head_bytes = 1; kv_bytes_per_token = 1; "
	    "};\n", tmpdir);
	parse_head_ok(text, CONF_SCOPE_HEAD, &c);
	assert_int_equal(c.plan.layers, 12);
	assert_int_equal(c.sizes.layer_bytes[11], 10);
	conf_head_free(&c);

	snprintf(text, sizeof(text), "cluster = { expected_nodes = 1; };\n"
	    "model = { hf_config = \"%s/config.json\"; };\n", tmpdir);
	expect_head_error(text, CONF_SCOPE_HEAD, "set model.weights_dir");
}

static void
test_head_load_file(void **state)
{
	struct conf_errors	 e = { 0, NULL };
	struct head_conf	 c;
	char			 path[512], buf[1024];

	write_file("head.conf", MINIMAL);
	snprintf(path, sizeof(path), "%s/head.conf", tmpdir);
	if (conf_head_load(&c, path, CONF_SCOPE_HEAD, &e) != 0)
		fail_with_errors(&e);
	assert_string_equal(c.path, path);
	conf_head_free(&c);

	write_file("bad.conf", MINIMAL "plan = { tp_size = 0; };\n");
	snprintf(path, sizeof(path), "%s/bad.conf", tmpdir);
	assert_int_equal(conf_head_load(&c, path, CONF_SCOPE_HEAD, &e), -1);
	assert_int_equal(e.count, 1);
	snprintf(buf, sizeof(buf), "%s:3: plan.tp_size", path);
	assert_non_null(strstr(e.lines[0], buf));
	conf_errors_free(&e);

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	assert_int_equal(conf_head_load(&c, path, CONF_SCOPE_HEAD, &e), -1);
	assert_int_equal(e.count, 1);
	snprintf(buf, sizeof(buf), "%s: No such file or directory", path);
	assert_string_equal(e.lines[0], buf);
	conf_errors_free(&e);
}

static void
test_errors_join(void **state)
{
	struct conf_errors	 e = { 0, NULL };
	struct head_conf	 c;
	char			 buf[4096], small[8];

	assert_int_equal(conf_head_parse(&c, "a = 1;\nb = 2;\n", "x.conf",
	    CONF_SCOPE_PLAN, &e), -1);
	conf_errors_join(&e, buf, sizeof(buf));
	assert_non_null(strstr(buf, "x.conf:1: unknown group \"a\""));
	assert_non_null(strstr(buf, "\nx.conf:2: unknown group \"b\""));
	conf_errors_join(&e, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	conf_errors_free(&e);
	assert_int_equal(e.count, 0);
}

static void
parse_agent_ok(const char *text, struct agent_conf *c)
{
	struct conf_errors	 e = { 0, NULL };

	if (conf_agent_parse(c, text, "agent.conf", &e) != 0)
		fail_with_errors(&e);
	conf_errors_free(&e);
}

static void
test_agent_defaults(void **state)
{
	struct agent_conf	 c;

	parse_agent_ok("agent = { head = \"head.example:7450\"; };\n", &c);
	assert_int_equal(c.nheads, 1);
	assert_string_equal(c.heads[0], "head.example:7450");
	assert_null(c.node_id);
	assert_null(c.advertise_address);
	assert_string_equal(c.env_file, "/run/ppcoord/stage.env");
	assert_null(c.on_assign);
	assert_null(c.on_revoke);
	assert_int_equal(c.hook_timeout_ms, 300000);
	assert_int_equal(c.reconnect_max_ms, 30000);
	assert_string_equal(c.tls.ca_file, "/etc/ppcoord/ca.pem");
	assert_string_equal(c.tls.cert_file, "/etc/ppcoord/node.pem");
	assert_string_equal(c.tls.key_file, "/etc/ppcoord/node.key");
	assert_int_equal(c.gpu_source, CONF_GPU_NVML);
	assert_int_equal(c.workers, 0);
	assert_string_equal(c.nvml_library, "libnvidia-ml.so.1");
	conf_agent_free(&c);
}

static void
test_agent_every_key(void **state)
{
	struct agent_conf	 c;

	parse_agent_ok("agent = {\n"
	    "  head = [ \"h1:7450\", \"[::1]:7450\", \"10.0.0.3:1\" ];\n"
	    "  node_id = \"gpu-b\";\n"
	    "  advertise_address = \"10.0.0.2\";\n"
	    "  env_file = \"/tmp/stage.env\";\n"
	    "  on_assign = [ \"/bin/systemctl\", \"restart\", \"v.service\" ];\n"
	    "  on_revoke = ( \"/bin/true\" );\n"
	    "  hook_timeout = \"90s\";\n"
	    "  reconnect_max = \"1m\";\n"
	    "};\n"
	    "tls = { ca_file = \"/a\"; cert_file = \"/b\"; key_file = \"/c\"; };\n"
	    "gpus = { source = \"static\"; count = 8; memory = \"80 GiB\";\n"
	    "  workers = 4; nvml_library = \"/opt/libnvidia-ml.so\"; };\n",
	    &c);
	assert_int_equal(c.nheads, 3);
	assert_string_equal(c.heads[1], "[::1]:7450");
	assert_string_equal(c.node_id, "gpu-b");
	assert_string_equal(c.advertise_address, "10.0.0.2");
	assert_string_equal(c.env_file, "/tmp/stage.env");
	assert_string_equal(c.on_assign[0], "/bin/systemctl");
	assert_string_equal(c.on_assign[2], "v.service");
	assert_null(c.on_assign[3]);
	assert_string_equal(c.on_revoke[0], "/bin/true");
	assert_null(c.on_revoke[1]);
	assert_int_equal(c.hook_timeout_ms, 90000);
	assert_int_equal(c.reconnect_max_ms, 60000);
	assert_string_equal(c.tls.ca_file, "/a");
	assert_string_equal(c.tls.cert_file, "/b");
	assert_string_equal(c.tls.key_file, "/c");
	assert_int_equal(c.gpu_source, CONF_GPU_STATIC);
	assert_int_equal(c.static_count, 8);
	assert_int_equal(c.static_memory, 80ULL << 30);
	assert_int_equal(c.workers, 4);
	assert_string_equal(c.nvml_library, "/opt/libnvidia-ml.so");
	conf_agent_free(&c);

	parse_agent_ok("agent = { head = \"h:1\"; };\n"
	    "gpus = { source = \"amdgpu\"; };\n", &c);
	assert_int_equal(c.gpu_source, CONF_GPU_AMDGPU);
	conf_agent_free(&c);
}

static void
test_agent_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*want;
	} cases[] = {
		{ "agent = { };\n", "agent.conf:1: agent.head is missing" },
		{ "tls = { };\n", "agent.conf:1: agent.head is missing" },
		{ "agent = { head = \"h\"; };\n",
		    "agent.conf:1: agent.head: invalid address \"h\"" },
		{ "agent = { head = [ \"h:1\", \"h\" ]; };\n",
		    "agent.head: invalid address" },
		{ "agent = { head = [ ]; };\n", "agent.head must not be empty" },
		{ "agent = { head = [ \"a:1\", \"a:2\", \"a:3\", \"a:4\", "
		    "\"a:5\", \"a:6\", \"a:7\", \"a:8\", \"a:9\", \"a:10\", "
		    "\"a:11\", \"a:12\", \"a:13\", \"a:14\", \"a:15\", "
		    "\"a:16\", \"a:17\" ]; };\n",
		    "agent.head has 17 entries, the maximum is 16" },
		{ "agent = { head = 7450; };\n",
		    "agent.head must be a list of strings" },
		{ "agent = { head = \"h:1\";\n  node_id = \"../x\"; };\n",
		    "agent.conf:2: agent.node_id: invalid node id" },
		{ "agent = { head = \"h:1\"; advertise_address = \"a b\"; };\n",
		    "agent.advertise_address: invalid address" },
		{ "agent = { head = \"h:1\";\n"
		    "  on_assign = [ \"systemctl\", \"restart\" ]; };\n",
		    "agent.conf:2: agent.on_assign: the program \"systemctl\" "
		    "must be an absolute path" },
		{ "agent = { head = \"h:1\"; on_revoke = [ ]; };\n",
		    "agent.on_revoke must not be empty" },
		{ "agent = { head = \"h:1\"; on_revoke = \"/bin/true\"; };\n",
		    "agent.on_revoke must be a list of strings" },
		{ "agent = { head = \"h:1\"; on_revoke = ( \"/bin/x\", 1 ); };\n",
		    "agent.on_revoke[1] must be a string" },
		{ "agent = { head = \"h:1\"; hook_timeout = \"5\"; };\n",
		    "agent.hook_timeout: invalid duration \"5\": it has no unit" },
		{ "agent = { head = \"h:1\"; reconnect_max = \"0ms\"; };\n",
		    "agent.reconnect_max must be at least 1 ms" },
		{ "agent = { head = \"h:1\"; headz = 1; };\n",
		    "unknown key \"headz\" in group agent" },
		{ "agent = { head = \"h:1\"; };\nhead = { };\n",
		    "agent.conf:2: unknown group \"head\" (known groups: agent, "
		    "tls, gpus)" },
		{ "agent = { head = \"h:1\"; };\ngpus = { source = \"cuda\"; };\n",
		    "gpus.source must be \"nvml\", \"static\" or \"amdgpu\"" },
		{ "agent = { head = \"h:1\"; };\ngpus = { source = \"static\";\n"
		    "  memory = \"80 GiB\"; };\n",
		    "agent.conf:2: gpus.source is \"static\" but gpus.count is "
		    "missing" },
		{ "agent = { head = \"h:1\"; };\ngpus = { source = \"static\";\n"
		    "  count = 8; };\n", "gpus.memory is missing" },
		{ "agent = { head = \"h:1\"; };\ngpus = { count = 8; };\n",
		    "gpus.count is used only with gpus.source = \"static\"" },
		{ "agent = { head = \"h:1\"; };\ngpus = { memory = 1; };\n",
		    "gpus.memory is used only with" },
		{ "agent = { head = \"h:1\"; };\ngpus = { source = \"static\";\n"
		    "  count = 2; memory = \"1 GiB\"; workers = 4; };\n",
		    "gpus.workers (4) is more than gpus.count (2)" },
		{ "agent = { head = \"h:1\"; };\ngpus = { count = 0; };\n",
		    "gpus.count must be an integer from 1 to 1024" },
		{ "agent = { head = \"h:1\"; };\ngpus = { source = \"static\";\n"
		    "  count = 1; memory = \"17 TiB\"; };\n",
		    "gpus.memory is larger than the maximum of 16.0 TiB" },
		{ "agent = { head = = \"h:1\"; };\n",
		    "agent.conf:1: syntax error" },
	};
	struct conf_errors	 e = { 0, NULL };
	struct agent_conf	 c;
	char			 buf[4096];
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (conf_agent_parse(&c, cases[i].text, "agent.conf", &e) != -1)
			fail_msg("case %zu was accepted", i);
		if (!has_error(&e, cases[i].want)) {
			conf_errors_join(&e, buf, sizeof(buf));
			fail_msg("case %zu: no error containing \"%s\" in:\n%s",
			    i, cases[i].want, buf);
		}
		assert_null(c.heads);
		conf_errors_free(&e);
	}
}

static void
test_agent_load_file(void **state)
{
	struct conf_errors	 e = { 0, NULL };
	struct agent_conf	 c;
	char			 path[512];

	write_file("agent.conf", "agent = { head = \"h:1\"; };\n");
	snprintf(path, sizeof(path), "%s/agent.conf", tmpdir);
	if (conf_agent_load(&c, path, &e) != 0)
		fail_with_errors(&e);
	assert_string_equal(c.path, path);
	conf_agent_free(&c);

	snprintf(path, sizeof(path), "%s/none.conf", tmpdir);
	assert_int_equal(conf_agent_load(&c, path, &e), -1);
	assert_non_null(strstr(e.lines[0], "none.conf: No such file"));
	conf_errors_free(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_defaults),
		cmocka_unit_test(test_head_every_key),
		cmocka_unit_test(test_head_integer_sizes),
		cmocka_unit_test(test_unknown_key_line),
		cmocka_unit_test(test_unknown_group),
		cmocka_unit_test(test_several_errors_at_once),
		cmocka_unit_test(test_errors_sorted_by_line),
		cmocka_unit_test(test_syntax_error_line),
		cmocka_unit_test(test_head_validation_errors),
		cmocka_unit_test(test_plan_scope),
		cmocka_unit_test(test_hf_config_sizes),
		cmocka_unit_test_setup_teardown(test_weights_dir_precedence,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_hf_config_unknown_arch,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_head_load_file, setup_dir,
		    teardown_dir),
		cmocka_unit_test(test_errors_join),
		cmocka_unit_test(test_agent_defaults),
		cmocka_unit_test(test_agent_every_key),
		cmocka_unit_test(test_agent_errors),
		cmocka_unit_test_setup_teardown(test_agent_load_file,
		    setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
