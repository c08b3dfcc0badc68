/*
 * The head config: head, tls, etcd, cluster, model and plan groups, their
 * defaults and the checks that span several keys.
 */
#include <sys/un.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_priv.h"
#include "inv.h"
#include "util.h"

#define HEAD_MAX_CONNECTIONS	(1u << 20)
#define HEAD_FRAME_MIN		(4u << 10)
#define HEAD_FRAME_MAX		(16u << 20)
#define ETCD_ENDPOINTS_MAX	16

#define OFF(f)	offsetof(struct head_conf, f)

static void
read_control_socket(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base)
{
	struct head_conf	*c = base;
	struct sockaddr_un	 sun;
	char			*v = NULL;

	if (conf_get_string(ctx, s, path, &v) == -1)
		return;
	if (strlen(v) >= sizeof(sun.sun_path)) {
		conf_error(ctx, conf_line(s), "%s is %zu bytes long, the "
		    "maximum for a Unix socket path is %zu", path, strlen(v),
		    sizeof(sun.sun_path) - 1);
		free(v);
		return;
	}
	free(c->control_socket);
	c->control_socket = v;
}

static void
read_store(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
    void *base)
{
	struct head_conf	*c = base;
	char			*v = NULL;

	if (conf_get_string(ctx, s, path, &v) == -1)
		return;
	if (strcmp(v, "file") == 0)
		c->store = CONF_STORE_FILE;
	else if (strcmp(v, "etcd") == 0)
		c->store = CONF_STORE_ETCD;
	else
		conf_error(ctx, conf_line(s), "%s must be \"file\" or "
		    "\"etcd\", found \"%s\"", path, v);
	free(v);
}

static void
read_etcd_prefix(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base)
{
	struct head_conf	*c = base;
	char			*v = NULL;

	if (conf_get_string(ctx, s, path, &v) == -1)
		return;
	if (v[0] != '/') {
		conf_error(ctx, conf_line(s), "%s must start with '/', found "
		    "\"%s\"", path, v);
		free(v);
		return;
	}
	free(c->etcd.prefix);
	c->etcd.prefix = v;
}

/* cluster.name appears in logs, metrics and store keys, so it follows the
 * node id rules. */
static void
read_cluster_name(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base)
{
	struct head_conf	*c = base;
	char			 err[PPC_ERRLEN];
	char			*v = NULL;

	if (conf_get_string(ctx, s, path, &v) == -1)
		return;
	if (util_check_node_id(v, err, sizeof(err)) == -1) {
		conf_error(ctx, conf_line(s), "%s must be 1 to %d bytes of "
		    "A-Z a-z 0-9 . _ -, not starting with '.' or '-'; found "
		    "\"%s\"", path, PPC_NODE_ID_MAX, v);
		free(v);
		return;
	}
	free(c->cluster_name);
	c->cluster_name = v;
}

static void
read_order(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
    void *base)
{
	struct head_conf	*c = base;
	char			*v = NULL;

	if (conf_get_string(ctx, s, path, &v) == -1)
		return;
	if (plan_order_parse(v, &c->plan.order) == -1)
		conf_error(ctx, conf_line(s), "%s must be \"vllm\", \"listed\" "
		    "or \"memory\", found \"%s\"", path, v);
	free(v);
}

static void
read_partition(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base)
{
	struct head_conf	*c = base;
	char			*v = NULL;

	if (conf_get_string(ctx, s, path, &v) == -1)
		return;
	if (plan_partition_parse(v, &c->plan.partition) == -1)
		conf_error(ctx, conf_line(s), "%s must be \"even\", \"manual\" "
		    "or \"memory\", found \"%s\"", path, v);
	free(v);
}

static void
read_layer_partition(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base)
{
	struct head_conf	*c = base;
	char			 err[PPC_ERRLEN];
	uint32_t		*parts = NULL;
	size_t			 n = 0;
	char			*v = NULL;

	if (conf_get_string(ctx, s, path, &v) == -1)
		return;
	if (plan_parse_partition(v, &parts, &n, err, sizeof(err)) == -1) {
		conf_error(ctx, conf_line(s), "%s: %s", path, err);
		free(v);
		return;
	}
	free(v);
	free(c->layer_partition);
	c->layer_partition = parts;
	c->nlayer_partition = n;
}

static void
read_nodes(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
    void *base)
{
	struct head_conf	*c = base;
	char			 err[PPC_ERRLEN];
	size_t			 i, j;

	if (conf_get_strlist(ctx, s, path, INV_NODES_MAX, &c->listed,
	    &c->nlisted) == -1)
		return;
	for (i = 0; i < c->nlisted; i++) {
		if (util_check_node_id(c->listed[i], err, sizeof(err)) == -1) {
			conf_error(ctx, conf_line(s), "%s[%zu]: %s", path, i,
			    err);
			continue;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(c->listed[i], c->listed[j]) == 0) {
				conf_error(ctx, conf_line(s), "%s lists node "
				    "\"%s\" twice (entries %zu and %zu)", path,
				    c->listed[i], j, i);
				break;
			}
		}
	}
}

/* Reads one pin group { node = "..."; stage = N; } into pin. */
static int
read_pin(struct conf_ctx *ctx, const config_setting_t *g, const char *path,
    struct plan_pin *pin)
{
	config_setting_t	*s;
	char			 kpath[256], err[PPC_ERRLEN];
	const char		*name;
	char			*node = NULL;
	uint64_t		 stage;
	int			 i, n, bad = 0, have_stage = 0;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		conf_error(ctx, conf_line(g), "%s must be a group such as "
		    "{ node = \"gpu-b\"; stage = 0; }", path);
		return -1;
	}
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(g, (unsigned)i);
		name = config_setting_name(s);
		snprintf(kpath, sizeof(kpath), "%s.%s", path, name);
		if (strcmp(name, "node") == 0) {
			if (conf_get_string(ctx, s, kpath, &node) == -1)
				bad = 1;
			else if (util_check_node_id(node, err,
			    sizeof(err)) == -1) {
				conf_error(ctx, conf_line(s), "%s: %s", kpath,
				    err);
				bad = 1;
			}
		} else if (strcmp(name, "stage") == 0) {
			if (conf_get_uint(ctx, s, kpath, 0, UINT32_MAX - 1,
			    &stage) == -1)
				bad = 1;
			have_stage = 1;
		} else {
			conf_error(ctx, conf_line(s), "unknown key \"%s\" in "
			    "%s (known keys: node, stage)", name, path);
			bad = 1;
		}
	}
	if (node == NULL && !bad) {
		conf_error(ctx, conf_line(g), "%s has no node", path);
		bad = 1;
	}
	if (!have_stage && !bad) {
		conf_error(ctx, conf_line(g), "%s has no stage", path);
		bad = 1;
	}
	if (!bad) {
		snprintf(pin->node, sizeof(pin->node), "%s", node);
		pin->stage = (uint32_t)stage;
	}
	free(node);
	return bad ? -1 : 0;
}

static void
read_pins(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
    void *base)
{
	struct head_conf	*c = base;
	struct plan_pin		*pins;
	char			 epath[160];
	size_t			 i, j, n, ok = 0;

	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		conf_error(ctx, conf_line(s), "%s must be a list of groups "
		    "such as ( { node = \"gpu-b\"; stage = 0; } )", path);
		return;
	}
	n = (size_t)config_setting_length(s);
	if (n > INV_NODES_MAX) {
		conf_error(ctx, conf_line(s), "%s has %zu entries, the maximum "
		    "is %d", path, n, INV_NODES_MAX);
		return;
	}
	if ((pins = calloc(n + 1, sizeof(*pins))) == NULL) {
		conf_error(ctx, conf_line(s), "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);

		snprintf(epath, sizeof(epath), "%s[%zu]", path, i);
		if (read_pin(ctx, g, epath, &pins[ok]) == -1)
			continue;
		for (j = 0; j < ok; j++) {
			if (strcmp(pins[j].node, pins[ok].node) == 0)
				break;
		}
		if (j < ok) {
			conf_error(ctx, conf_line(g), "%s pins node \"%s\" a "
			    "second time; a node can have one pin", epath,
			    pins[ok].node);
			continue;
		}
		ok++;
	}
	free(c->pins);
	c->pins = pins;
	c->npins = ok;
}

static void
read_utilization(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base)
{
	struct head_conf	*c = base;
	double			 u;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_FLOAT:
		u = config_setting_get_float(s);
		break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		u = (double)config_setting_get_int64(s);
		break;
	default:
		conf_error(ctx, conf_line(s), "%s must be a number such as "
		    "0.9", path);
		return;
	}
	if (!(u > 0 && u <= 1)) {
		conf_error(ctx, conf_line(s), "%s must be greater than 0 and "
		    "at most 1, found %g", path, u);
		return;
	}
	c->plan.gpu_memory_utilization = u;
}

static void
read_kv_cache_dtype(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base)
{
	struct head_conf	*c = base;
	char			*v = NULL;

	if (conf_get_string(ctx, s, path, &v) == -1)
		return;
	if (strcmp(v, "auto") == 0)
		c->kv_dtype_bytes = 0;
	else if (strcmp(v, "fp8") == 0)
		c->kv_dtype_bytes = 1;
	else
		conf_error(ctx, conf_line(s), "%s must be \"auto\" (the "
		    "model's dtype) or \"fp8\", found \"%s\"", path, v);
	free(v);
}

static const struct conf_key head_keys[] = {
	{ "listen", CK_HOSTPORT, OFF(listen), 0, 0, 0, NULL },
	{ "control_socket", CK_FUNC, 0, 0, 0, 0, read_control_socket },
	{ "state_file", CK_STR, OFF(state_file), 0, 0, 0, NULL },
	{ "status_listen", CK_HOSTPORT, OFF(status_listen), 0, 0, 0, NULL },
	{ "max_connections", CK_U32, OFF(max_connections), 0, 1,
	    HEAD_MAX_CONNECTIONS, NULL },
	{ "max_unauthenticated", CK_U32, OFF(max_unauthenticated), 0, 1,
	    HEAD_MAX_CONNECTIONS, NULL },
	{ "handshake_timeout", CK_DURATION, OFF(handshake_timeout_ms), 0, 1,
	    0, NULL },
	{ "hello_timeout", CK_DURATION, OFF(hello_timeout_ms), 0, 1, 0,
	    NULL },
	{ "idle_timeout", CK_DURATION, OFF(idle_timeout_ms), 0, 1, 0, NULL },
	{ "max_frame_size", CK_SIZE32, OFF(max_frame_bytes), 0,
	    HEAD_FRAME_MIN, HEAD_FRAME_MAX, NULL },
	{ "max_immediate_updates", CK_U32, OFF(max_immediate_updates), 0, 0,
	    HEAD_MAX_CONNECTIONS, NULL },
	{ "store", CK_FUNC, 0, 0, 0, 0, read_store },
	{ "advertise", CK_HOSTPORT, OFF(advertise), 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_key tls_keys[] = {
	{ "ca_file", CK_STR, OFF(tls.ca_file), 0, 0, 0, NULL },
	{ "cert_file", CK_STR, OFF(tls.cert_file), 0, 0, 0, NULL },
	{ "key_file", CK_STR, OFF(tls.key_file), 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_key etcd_keys[] = {
	{ "endpoints", CK_STRLIST, OFF(etcd.endpoints), OFF(etcd.nendpoints),
	    0, ETCD_ENDPOINTS_MAX, NULL },
	{ "ca_file", CK_STR, OFF(etcd.ca_file), 0, 0, 0, NULL },
	{ "cert_file", CK_STR, OFF(etcd.cert_file), 0, 0, 0, NULL },
	{ "key_file", CK_STR, OFF(etcd.key_file), 0, 0, 0, NULL },
	{ "prefix", CK_FUNC, 0, 0, 0, 0, read_etcd_prefix },
	/* etcd lease TTLs are whole seconds. */
	{ "lease_ttl", CK_DURATION, OFF(etcd.lease_ttl_ms), 0, 1000, 0,
	    NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_key cluster_keys[] = {
	{ "name", CK_FUNC, 0, 0, 0, 0, read_cluster_name },
	{ "expected_nodes", CK_U32, OFF(expected_nodes), 0, 1, INV_NODES_MAX,
	    NULL },
	{ "heartbeat_interval", CK_DURATION, OFF(heartbeat_interval_ms), 0,
	    1, 0, NULL },
	{ "node_timeout", CK_DURATION, OFF(node_timeout_ms), 0, 1, 0, NULL },
	{ "settle_time", CK_DURATION, OFF(settle_time_ms), 0, 0, 0, NULL },
	{ "master_port", CK_U16, OFF(master_port), 0, 1, 65535, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_key model_keys[] = {
	{ "layers", CK_U32, OFF(plan.layers), 0, 1, MODEL_LAYERS_MAX, NULL },
	{ "hf_config", CK_STR, OFF(hf_config), 0, 0, 0, NULL },
	{ "weights_dir", CK_STR, OFF(weights_dir), 0, 0, 0, NULL },
	{ "layer_bytes", CK_SIZE, OFF(explicit_layer_bytes), 0, 1,
	    INV_MEMORY_MAX * INV_GPUS_MAX, NULL },
	{ "embedding_bytes", CK_SIZE, OFF(explicit_embedding_bytes), 0, 0,
	    INV_MEMORY_MAX * INV_GPUS_MAX, NULL },
	{ "head_bytes", CK_SIZE, OFF(explicit_head_bytes), 0, 0,
	    INV_MEMORY_MAX * INV_GPUS_MAX, NULL },
	{ "kv_bytes_per_token", CK_SIZE, OFF(explicit_kv_bytes_per_token), 0,
	    1, INV_MEMORY_MAX, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_key plan_keys[] = {
	{ "tp_size", CK_U32, OFF(plan.tp_size), 0, 1, INV_GPUS_MAX, NULL },
	{ "order", CK_FUNC, 0, 0, 0, 0, read_order },
	{ "partition", CK_FUNC, 0, 0, 0, 0, read_partition },
	{ "layer_partition", CK_FUNC, 0, 0, 0, 0, read_layer_partition },
	{ "driver", CK_NODEID, OFF(driver), 0, 0, 0, NULL },
	{ "nodes", CK_FUNC, 0, 0, 0, 0, read_nodes },
	{ "pins", CK_FUNC, 0, 0, 0, 0, read_pins },
	{ "gpu_memory_utilization", CK_FUNC, 0, 0, 0, 0, read_utilization },
	{ "activation_reserve", CK_SIZE, OFF(plan.activation_reserve), 0, 0,
	    INV_MEMORY_MAX, NULL },
	{ "min_kv_tokens", CK_U64, OFF(plan.min_kv_tokens), 0, 1, INT64_MAX,
	    NULL },
	{ "kv_cache_dtype", CK_FUNC, 0, 0, 0, 0, read_kv_cache_dtype },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_group head_groups[] = {
	{ "head", head_keys },
	{ "tls", tls_keys },
	{ "etcd", etcd_keys },
	{ "cluster", cluster_keys },
	{ "model", model_keys },
	{ "plan", plan_keys },
	{ NULL, NULL }
};

/* `ppcoordctl plan` reads a head config but only its planning groups. */
static const struct conf_group plan_groups[] = {
	{ "head", NULL },
	{ "tls", NULL },
	{ "etcd", NULL },
	{ "cluster", cluster_keys },
	{ "model", model_keys },
	{ "plan", plan_keys },
	{ NULL, NULL }
};

static void
head_defaults(struct head_conf *c)
{
	plan_config_init(&c->plan);
	c->plan.layers = 0;
	c->plan.tp_size = 0;
	c->plan.expected_nodes = 0;
	c->plan.order = PLAN_ORDER_VLLM;
	c->plan.partition = PLAN_PARTITION_EVEN;
	c->plan.gpu_memory_utilization = 0.9;
	c->plan.activation_reserve = 1ULL << 30;
	c->plan.min_kv_tokens = 1;

	c->max_connections = 16384;
	c->max_unauthenticated = 1024;
	c->handshake_timeout_ms = 10000;
	c->hello_timeout_ms = 10000;
	c->max_frame_bytes = 1u << 20;
	c->max_immediate_updates = 1000;
	c->store = CONF_STORE_FILE;
	c->etcd.lease_ttl_ms = 5000;
	c->heartbeat_interval_ms = 2000;
	c->node_timeout_ms = 10000;
	c->settle_time_ms = 2000;
	c->master_port = 29500;
	model_sizes_init(&c->sizes);
}

static void
head_string_defaults(struct conf_ctx *ctx, struct head_conf *c)
{
	char	 prefix[128];

	conf_default(ctx, &c->listen, "0.0.0.0:7450");
	conf_default(ctx, &c->control_socket, "/run/ppcoord/head.sock");
	conf_default(ctx, &c->state_file, "/var/lib/ppcoord/plan.state");
	conf_default(ctx, &c->tls.ca_file, "/etc/ppcoord/ca.pem");
	conf_default(ctx, &c->tls.cert_file, "/etc/ppcoord/head.pem");
	conf_default(ctx, &c->tls.key_file, "/etc/ppcoord/head.key");
	conf_default(ctx, &c->cluster_name, "default");
	/* NOTE: a wildcard listen address ("0.0.0.0") is no use to an agent
	 * redirected by NotLeader; set head.advertise with several heads. */
	if (c->listen != NULL)
		conf_default(ctx, &c->advertise, c->listen);
	if (c->cluster_name != NULL) {
		snprintf(prefix, sizeof(prefix), "/ppcoord/%s",
		    c->cluster_name);
		conf_default(ctx, &c->etcd.prefix, prefix);
	}
	if (!conf_has(ctx, "head.idle_timeout"))
		c->idle_timeout_ms = c->node_timeout_ms;
}

/* Checks that every etcd endpoint is "http(s)://host:port". */
static void
check_etcd(struct conf_ctx *ctx, struct head_conf *c)
{
	char		 host[256], err[PPC_ERRLEN];
	const char	*e, *rest;
	unsigned	 line;
	uint16_t	 port;
	size_t		 i;

	if (c->store != CONF_STORE_ETCD) {
		if (conf_has(ctx, "etcd"))
			conf_error(ctx, conf_path_line(ctx, "etcd"), "the etcd "
			    "group is set but head.store is \"file\"; set "
			    "head.store = \"etcd\" or remove the group");
		return;
	}
	line = conf_path_line(ctx, "etcd.endpoints");
	if (c->etcd.nendpoints == 0) {
		if (!conf_has(ctx, "etcd.endpoints"))
			conf_error(ctx, conf_path_line(ctx, "head.store"),
			    "head.store is \"etcd\" but etcd.endpoints is "
			    "missing; add an etcd group with endpoints = "
			    "[ \"https://host:2379\" ]");
		return;
	}
	for (i = 0; i < c->etcd.nendpoints; i++) {
		e = c->etcd.endpoints[i];
		if (strncmp(e, "https://", 8) == 0)
			rest = e + 8;
		else if (strncmp(e, "http://", 7) == 0)
			rest = e + 7;
		else {
			conf_error(ctx, line, "etcd.endpoints[%zu] must start "
			    "with https:// or http://, found \"%s\"", i, e);
			continue;
		}
		if (util_split_host_port(rest, host, sizeof(host), &port, err,
		    sizeof(err)) == -1)
			conf_error(ctx, line, "etcd.endpoints[%zu]: %s", i, err);
	}
}

/* Checks the plan keys that depend on each other or on the model. */
static void
check_plan(struct conf_ctx *ctx, struct head_conf *c)
{
	uint64_t	 sum = 0;
	size_t		 i;
	unsigned	 line;

	line = conf_path_line(ctx, "plan.layer_partition");
	if (c->plan.partition == PLAN_PARTITION_MANUAL) {
		if (!conf_has(ctx, "plan.layer_partition"))
			conf_error(ctx, conf_path_line(ctx, "plan.partition"),
			    "plan.partition is \"manual\" but "
			    "plan.layer_partition is missing; set it, as "
			    "\"20,10,50\"");
	} else if (conf_has(ctx, "plan.layer_partition")) {
		conf_error(ctx, line, "plan.layer_partition is set but "
		    "plan.partition is \"%s\"; set partition = \"manual\" "
		    "or remove layer_partition",
		    plan_partition_name(c->plan.partition));
	}
	if (c->nlayer_partition > 0 && c->plan.layers > 0) {
		for (i = 0; i < c->nlayer_partition; i++)
			sum += c->layer_partition[i];
		if (sum != c->plan.layers)
			conf_error(ctx, line, "plan.layer_partition sums to "
			    "%llu layers, expected %u (model.layers)",
			    (unsigned long long)sum, c->plan.layers);
	}

	if (c->nlisted > 0 && c->plan.order != PLAN_ORDER_LISTED)
		conf_error(ctx, conf_path_line(ctx, "plan.nodes"), "plan.nodes "
		    "is set but plan.order is \"%s\"; set order = \"listed\" "
		    "or remove nodes", plan_order_name(c->plan.order));
	if (c->plan.order == PLAN_ORDER_LISTED && !conf_has(ctx, "plan.nodes"))
		conf_error(ctx, conf_path_line(ctx, "plan.order"), "plan.order "
		    "is \"listed\" but plan.nodes is missing; list the node "
		    "ids in stage order");

	/* When a size source is set but failed, its error is reported. */
	if (c->have_sizes || conf_has(ctx, "model.hf_config") ||
	    conf_has(ctx, "model.weights_dir") ||
	    conf_has(ctx, "model.layer_bytes"))
		return;
	if (c->plan.partition == PLAN_PARTITION_MEMORY)
		conf_error(ctx, conf_path_line(ctx, "plan.partition"),
		    "plan.partition = \"memory\" needs the model sizes; set "
		    "model.hf_config, model.weights_dir or the explicit "
		    "model.layer_bytes, embedding_bytes, head_bytes and "
		    "kv_bytes_per_token");
	if (c->plan.order == PLAN_ORDER_MEMORY)
		conf_error(ctx, conf_path_line(ctx, "plan.order"),
		    "plan.order = \"memory\" needs the model sizes; set "
		    "model.hf_config, model.weights_dir or the explicit "
		    "model.layer_bytes, embedding_bytes, head_bytes and "
		    "kv_bytes_per_token");
}

static void
check_head(struct conf_ctx *ctx, struct head_conf *c, enum conf_scope scope)
{
	if (scope == CONF_SCOPE_HEAD && !conf_has(ctx,
	    "cluster.expected_nodes"))
		conf_error(ctx, conf_path_line(ctx, "cluster.expected_nodes"),
		    "cluster.expected_nodes is missing; set it to the number "
		    "of nodes to plan for");
	if (c->node_timeout_ms <= c->heartbeat_interval_ms)
		conf_error(ctx, conf_path_line(ctx, "cluster.node_timeout"),
		    "cluster.node_timeout (%llu ms) must be longer than "
		    "cluster.heartbeat_interval (%llu ms)",
		    (unsigned long long)c->node_timeout_ms,
		    (unsigned long long)c->heartbeat_interval_ms);
	if (conf_has(ctx, "head.idle_timeout") &&
	    c->idle_timeout_ms <= c->heartbeat_interval_ms)
		conf_error(ctx, conf_path_line(ctx, "head.idle_timeout"),
		    "head.idle_timeout (%llu ms) must be longer than "
		    "cluster.heartbeat_interval (%llu ms), or agents that "
		    "only send heartbeats are closed",
		    (unsigned long long)c->idle_timeout_ms,
		    (unsigned long long)c->heartbeat_interval_ms);
	if (scope == CONF_SCOPE_HEAD)
		check_etcd(ctx, c);
}

/* Points the engine's view at the arrays this struct owns. */
static void
fill_plan_config(struct head_conf *c)
{
	c->plan.expected_nodes = c->expected_nodes;
	c->plan.master_port = c->master_port;
	c->plan.layer_partition = c->layer_partition;
	c->plan.nlayer_partition = c->nlayer_partition;
	c->plan.driver = c->driver;
	c->plan.listed = (const char * const *)c->listed;
	c->plan.nlisted = c->nlisted;
	c->plan.pins = c->pins;
	c->plan.npins = c->npins;
	c->plan.sizes = c->have_sizes ? &c->sizes : NULL;
}

int
conf_head_parse(struct head_conf *c, const char *text, const char *name,
    enum conf_scope scope, struct conf_errors *errs)
{
	struct conf_ctx	 ctx;
	config_t	 cfg;

	memset(c, 0, sizeof(*c));
	head_defaults(c);
	if (conf_open(&ctx, &cfg, text, name, errs) == -1) {
		config_destroy(&cfg);
		conf_head_free(c);
		return -1;
	}

	conf_walk(&ctx, scope == CONF_SCOPE_HEAD ? head_groups : plan_groups,
	    c);
	head_string_defaults(&ctx, c);
	check_head(&ctx, c, scope);
	conf_model_load(&ctx, c);
	check_plan(&ctx, c);
	config_destroy(&cfg);
	conf_sort_errors(&ctx);

	if (ctx.failed > 0) {
		conf_head_free(c);
		return -1;
	}
	fill_plan_config(c);
	return 0;
}

int
conf_head_load(struct head_conf *c, const char *path, enum conf_scope scope,
    struct conf_errors *errs)
{
	struct conf_ctx	 ctx = { path, NULL, errs, 0, 0 };
	char		 err[PPC_ERRLEN];
	char		*text;
	int		 rc;

	memset(c, 0, sizeof(*c));
	text = util_read_file(path, CONF_FILE_MAX, NULL, err, sizeof(err));
	if (text == NULL) {
		conf_error(&ctx, 0, "%s", err);
		return -1;
	}
	rc = conf_head_parse(c, text, path, scope, errs);
	free(text);
	if (rc == 0 && (c->path = strdup(path)) == NULL) {
		conf_error(&ctx, 0, "%s: out of memory", path);
		conf_head_free(c);
		return -1;
	}
	return rc;
}

void
conf_head_free(struct head_conf *c)
{
	free(c->path);
	free(c->listen);
	free(c->control_socket);
	free(c->state_file);
	free(c->status_listen);
	free(c->advertise);
	free(c->tls.ca_file);
	free(c->tls.cert_file);
	free(c->tls.key_file);
	conf_strlist_free(c->etcd.endpoints, c->etcd.nendpoints);
	free(c->etcd.ca_file);
	free(c->etcd.cert_file);
	free(c->etcd.key_file);
	free(c->etcd.prefix);
	free(c->cluster_name);
	free(c->hf_config);
	free(c->weights_dir);
	model_sizes_free(&c->sizes);
	free(c->layer_partition);
	free(c->driver);
	conf_strlist_free(c->listed, c->nlisted);
	free(c->pins);
	memset(c, 0, sizeof(*c));
}
