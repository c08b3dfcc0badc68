/*
 * Head and agent configuration files (libconfig syntax). Parsing reports
 * every error at once as "FILE:LINE: message", and an unknown group or key
 * is an error so that a misspelt key is never silently ignored.
 */
#ifndef PPCOORD_CONF_H
#define PPCOORD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "plan.h"

#define CONF_FILE_MAX		(1u << 20)
#define CONF_HEADS_MAX		16
#define CONF_HOOK_ARGS_MAX	64

/* Error list filled by the parsers: one "FILE:LINE: message" per entry. */
struct conf_errors {
	size_t		 count;
	char		**lines;
};
void	conf_errors_free(struct conf_errors *e);
/* Joins the lines with '\n' into buf (truncated to len). */
void	conf_errors_join(const struct conf_errors *e, char *buf, size_t len);

struct conf_tls {
	char		*ca_file;
	char		*cert_file;
	char		*key_file;
};

struct conf_etcd {
	char		**endpoints;		/* "https://host:port" */
	size_t		 nendpoints;
	char		*ca_file;
	char		*cert_file;
	char		*key_file;
	char		*prefix;		/* default "/ppcoord/" + cluster.name */
	uint64_t	 lease_ttl_ms;		/* default 5 s */
};

enum conf_store { CONF_STORE_FILE, CONF_STORE_ETCD };

struct head_conf {
	char		*path;			/* the file this came from */

	/* head */
	char		*listen;		/* "0.0.0.0:7450" */
	char		*control_socket;	/* "/run/ppcoord/head.sock" */
	char		*state_file;		/* "/var/lib/ppcoord/plan.state" */
	char		*status_listen;		/* NULL: off */
	uint32_t	 max_connections;	/* 16384 */
	uint32_t	 max_unauthenticated;	/* 1024: connections before Hello */
	uint64_t	 handshake_timeout_ms;	/* 10 s */
	uint64_t	 hello_timeout_ms;	/* 10 s after the handshake */
	uint64_t	 idle_timeout_ms;	/* 0: node_timeout */
	uint32_t	 max_frame_bytes;	/* 1 MiB */
	uint32_t	 max_immediate_updates;	/* 1000: see head_members.c */
	enum conf_store	 store;		/* file */
	char		*advertise;		/* this head's address for NotLeader */

	struct conf_tls	 tls;
	struct conf_etcd etcd;			/* when store is etcd */

	/* cluster */
	char		*cluster_name;		/* "default" */
	uint32_t	 expected_nodes;	/* required */
	uint64_t	 heartbeat_interval_ms;	/* 2 s */
	uint64_t	 node_timeout_ms;	/* 10 s */
	uint64_t	 settle_time_ms;	/* 2 s */
	uint16_t	 master_port;		/* 29500 */

	/* model; relative paths are relative to the working directory */
	char		*hf_config;
	char		*weights_dir;
	/* Explicit model.* sizes as written; valid when the key is present.
	 * They override weights_dir and hf_config, each on its own. */
	uint64_t	 explicit_layer_bytes;	/* every layer the same */
	uint64_t	 explicit_embedding_bytes;
	uint64_t	 explicit_head_bytes;
	uint64_t	 explicit_kv_bytes_per_token;
	bool		 have_sizes;		/* sizes below are loaded */
	struct model_sizes sizes;

	/* plan: the engine's view, pointing into the fields below */
	struct plan_config plan;
	uint32_t	*layer_partition;
	size_t		 nlayer_partition;
	char		*driver;
	char		**listed;
	size_t		 nlisted;
	struct plan_pin	*pins;
	size_t		 npins;
	unsigned	 kv_dtype_bytes;	/* 0: the model's dtype; 1: fp8 */
};

/* The groups a parser reads. `ppcoordctl plan` reads only model, plan
 * and cluster, and accepts a config whose head and tls groups are absent. */
enum conf_scope { CONF_SCOPE_HEAD, CONF_SCOPE_PLAN };

/*
 * Parses and validates a head config, including loading model sizes from
 * hf_config or weights_dir (their errors are reported against the key's
 * line). Returns 0, or -1 with every error appended to errs; on -1, c is
 * already freed and zeroed, so conf_head_free(c) is safe but not needed.
 * head.advertise defaults to head.listen, and head.idle_timeout to
 * cluster.node_timeout.
 */
int	conf_head_load(struct head_conf *c, const char *path,
	    enum conf_scope scope, struct conf_errors *errs);
/* The same on text already in memory; `name` labels errors. */
int	conf_head_parse(struct head_conf *c, const char *text,
	    const char *name, enum conf_scope scope, struct conf_errors *errs);
void	conf_head_free(struct head_conf *c);

enum conf_gpu_source { CONF_GPU_NVML, CONF_GPU_STATIC, CONF_GPU_AMDGPU };

struct agent_conf {
	char		*path;
	char		**heads;		/* "host:port", at least one */
	size_t		 nheads;
	char		*node_id;		/* NULL: from the certificate */
	char		*advertise_address;	/* NULL: local address of the connection */
	char		*env_file;		/* "/run/ppcoord/stage.env" */
	char		**on_assign;		/* argv, NULL-terminated; NULL: none */
	char		**on_revoke;
	uint64_t	 hook_timeout_ms;	/* 5 min */
	uint64_t	 reconnect_max_ms;	/* 30 s */

	struct conf_tls	 tls;

	enum conf_gpu_source gpu_source;
	uint32_t	 static_count;
	uint64_t	 static_memory;
	uint32_t	 workers;		/* 0: number of GPUs */
	char		*nvml_library;		/* "libnvidia-ml.so.1" */
};

/* The same for the agent config. TLS files default to /etc/ppcoord/ca.pem,
 * node.pem and node.key. */
int	conf_agent_load(struct agent_conf *c, const char *path,
	    struct conf_errors *errs);
int	conf_agent_parse(struct agent_conf *c, const char *text,
	    const char *name, struct conf_errors *errs);
void	conf_agent_free(struct agent_conf *c);

#endif
