/*
 * The agent config: agent, tls and gpus groups.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_priv.h"
#include "inv.h"
#include "util.h"

#define OFF(f)	offsetof(struct agent_conf, f)

/* agent.head: one "host:port" string, or a list of them (several heads). */
static void
read_heads(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
    void *base)
{
	struct agent_conf	*c = base;
	char			 host[256], err[PPC_ERRLEN];
	char			**list = NULL;
	size_t			 i, n = 0;
	uint16_t		 port;
	int			 bad = 0;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if ((list = calloc(2, sizeof(*list))) == NULL) {
			conf_error(ctx, conf_line(s), "out of memory");
			return;
		}
		if (conf_get_string(ctx, s, path, &list[0]) == -1) {
			free(list);
			return;
		}
		n = 1;
	} else if (conf_get_strlist(ctx, s, path, CONF_HEADS_MAX, &list,
	    &n) == -1) {
		return;
	}

	for (i = 0; i < n; i++) {
		if (util_split_host_port(list[i], host, sizeof(host), &port,
		    err, sizeof(err)) == -1) {
			conf_error(ctx, conf_line(s), "%s: %s", path, err);
			bad = 1;
		}
	}
	if (bad) {
		conf_strlist_free(list, n);
		return;
	}
	conf_strlist_free(c->heads, c->nheads);
	c->heads = list;
	c->nheads = n;
}

static void
read_advertise(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base)
{
	struct agent_conf	*c = base;
	char			 err[PPC_ERRLEN];
	char			*v = NULL;

	if (conf_get_string(ctx, s, path, &v) == -1)
		return;
	if (util_check_address(v, err, sizeof(err)) == -1) {
		conf_error(ctx, conf_line(s), "%s: %s", path, err);
		free(v);
		return;
	}
	free(c->advertise_address);
	c->advertise_address = v;
}

/* Reads a hook: an argument vector run without a shell, so its first
 * element must be an absolute path. */
static void
read_hook(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
    char ***argv)
{
	char	**list = NULL;
	size_t	 n = 0;

	if (conf_get_strlist(ctx, s, path, CONF_HOOK_ARGS_MAX, &list,
	    &n) == -1)
		return;
	if (list[0][0] != '/') {
		conf_error(ctx, conf_line(s), "%s: the program \"%s\" must be "
		    "an absolute path, as in [ \"/bin/systemctl\", \"restart\", "
		    "\"vllm-stage.service\" ]", path, list[0]);
		conf_strlist_free(list, n);
		return;
	}
	conf_argv_free(*argv);
	*argv = list;
}

static void
read_on_assign(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base)
{
	read_hook(ctx, s, path, &((struct agent_conf *)base)->on_assign);
}

static void
read_on_revoke(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base)
{
	read_hook(ctx, s, path, &((struct agent_conf *)base)->on_revoke);
}

static void
read_gpu_source(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base)
{
	struct agent_conf	*c = base;
	char			*v = NULL;

	if (conf_get_string(ctx, s, path, &v) == -1)
		return;
	if (strcmp(v, "nvml") == 0)
		c->gpu_source = CONF_GPU_NVML;
	else if (strcmp(v, "static") == 0)
		c->gpu_source = CONF_GPU_STATIC;
	else if (strcmp(v, "amdgpu") == 0)
		c->gpu_source = CONF_GPU_AMDGPU;
	else
		conf_error(ctx, conf_line(s), "%s must be \"nvml\", \"static\" "
		    "or \"amdgpu\", found \"%s\"", path, v);
	free(v);
}

static const struct conf_key agent_keys[] = {
	{ "head", CK_FUNC, 0, 0, 0, 0, read_heads },
	{ "node_id", CK_NODEID, OFF(node_id), 0, 0, 0, NULL },
	{ "advertise_address", CK_FUNC, 0, 0, 0, 0, read_advertise },
	{ "env_file", CK_STR, OFF(env_file), 0, 0, 0, NULL },
	{ "on_assign", CK_FUNC, 0, 0, 0, 0, read_on_assign },
	{ "on_revoke", CK_FUNC, 0, 0, 0, 0, read_on_revoke },
	{ "hook_timeout", CK_DURATION, OFF(hook_timeout_ms), 0, 1, 0, NULL },
	{ "reconnect_max", CK_DURATION, OFF(reconnect_max_ms), 0, 1, 0,
	    NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_key tls_keys[] = {
	{ "ca_file", CK_STR, OFF(tls.ca_file), 0, 0, 0, NULL },
	{ "cert_file", CK_STR, OFF(tls.cert_file), 0, 0, 0, NULL },
	{ "key_file", CK_STR, OFF(tls.key_file), 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_key gpus_keys[] = {
	{ "source", CK_FUNC, 0, 0, 0, 0, read_gpu_source },
	{ "count", CK_U32, OFF(static_count), 0, 1, INV_GPUS_MAX, NULL },
	{ "memory", CK_SIZE, OFF(static_memory), 0, 1, INV_MEMORY_MAX,
	    NULL },
	{ "workers", CK_U32, OFF(workers), 0, 1, INV_GPUS_MAX, NULL },
	{ "nvml_library", CK_STR, OFF(nvml_library), 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_group agent_groups[] = {
	{ "agent", agent_keys },
	{ "tls", tls_keys },
	{ "gpus", gpus_keys },
	{ NULL, NULL }
};

static void
check_agent(struct conf_ctx *ctx, struct agent_conf *c)
{
	if (!conf_has(ctx, "agent.head"))
		conf_error(ctx, conf_path_line(ctx, "agent.head"), "agent.head "
		    "is missing; set it to the head's \"host:port\", or a list "
		    "of them");

	if (c->gpu_source == CONF_GPU_STATIC) {
		if (!conf_has(ctx, "gpus.count"))
			conf_error(ctx, conf_path_line(ctx, "gpus.source"),
			    "gpus.source is \"static\" but gpus.count is "
			    "missing; set the number of GPUs");
		if (!conf_has(ctx, "gpus.memory"))
			conf_error(ctx, conf_path_line(ctx, "gpus.source"),
			    "gpus.source is \"static\" but gpus.memory is "
			    "missing; set each GPU's memory, as \"80 GiB\"");
		if (c->static_count > 0 && c->workers > c->static_count)
			conf_error(ctx, conf_path_line(ctx, "gpus.workers"),
			    "gpus.workers (%u) is more than gpus.count (%u)",
			    c->workers, c->static_count);
	} else {
		if (conf_has(ctx, "gpus.count"))
			conf_error(ctx, conf_path_line(ctx, "gpus.count"),
			    "gpus.count is used only with gpus.source = "
			    "\"static\"");
		if (conf_has(ctx, "gpus.memory"))
			conf_error(ctx, conf_path_line(ctx, "gpus.memory"),
			    "gpus.memory is used only with gpus.source = "
			    "\"static\"");
	}
}

int
conf_agent_parse(struct agent_conf *c, const char *text, const char *name,
    struct conf_errors *errs)
{
	struct conf_ctx	 ctx;
	config_t	 cfg;

	memset(c, 0, sizeof(*c));
	c->hook_timeout_ms = 5 * 60 * 1000;
	c->reconnect_max_ms = 30 * 1000;
	c->gpu_source = CONF_GPU_NVML;
	if (conf_open(&ctx, &cfg, text, name, errs) == -1) {
		config_destroy(&cfg);
		conf_agent_free(c);
		return -1;
	}

	conf_walk(&ctx, agent_groups, c);
	conf_default(&ctx, &c->env_file, "/run/ppcoord/stage.env");
	conf_default(&ctx, &c->tls.ca_file, "/etc/ppcoord/ca.pem");
	conf_default(&ctx, &c->tls.cert_file, "/etc/ppcoord/node.pem");
	conf_default(&ctx, &c->tls.key_file, "/etc/ppcoord/node.key");
	conf_default(&ctx, &c->nvml_library, "libnvidia-ml.so.1");
	check_agent(&ctx, c);
	config_destroy(&cfg);
	conf_sort_errors(&ctx);

	if (ctx.failed > 0) {
		conf_agent_free(c);
		return -1;
	}
	return 0;
}

int
conf_agent_load(struct agent_conf *c, const char *path,
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
	rc = conf_agent_parse(c, text, path, errs);
	free(text);
	if (rc == 0 && (c->path = strdup(path)) == NULL) {
		conf_error(&ctx, 0, "%s: out of memory", path);
		conf_agent_free(c);
		return -1;
	}
	return rc;
}

void
conf_agent_free(struct agent_conf *c)
{
	free(c->path);
	conf_strlist_free(c->heads, c->nheads);
	free(c->node_id);
	free(c->advertise_address);
	free(c->env_file);
	conf_argv_free(c->on_assign);
	conf_argv_free(c->on_revoke);
	free(c->tls.ca_file);
	free(c->tls.cert_file);
	free(c->tls.key_file);
	free(c->nvml_library);
	memset(c, 0, sizeof(*c));
}
