/*
 * The stage environment file that the agent writes for systemd's
 * EnvironmentFile= and for hooks: KEY=VALUE lines, replaced atomically.
 */
#ifndef PPCOORD_ENVFILE_H
#define PPCOORD_ENVFILE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The file contains the layer partition twice (for vLLM and for SGLang).
 * A partition of 10,000 one-layer stages is 19,999 bytes as text. */
#define ENVFILE_MAX		(128u << 10)
#define ENVFILE_PARTITION_MAX	32768	/* "27,27,26" for every stage */

enum stage_state {
	STAGE_NONE,		/* no file yet */
	STAGE_ASSIGNED,
	STAGE_STANDBY,
	STAGE_REVOKED,
};

/* One node's assignment, as written to PPCOORD_* variables. Only state,
 * generation and node_id are meaningful for standby and revoked. */
struct stage_env {
	enum stage_state state;
	uint64_t	 generation;
	char		 node_id[PPC_NODE_ID_MAX + 1];
	uint32_t	 node_rank;
	uint32_t	 nnodes;
	uint32_t	 first_stage;
	uint32_t	 stage_count;
	uint32_t	 num_stages;
	uint32_t	 tp_size;
	uint32_t	 first_layer;
	uint32_t	 end_layer;
	char		 master_addr[PPC_ADDRESS_MAX + 1];
	uint16_t	 master_port;
	char		 layer_partition[ENVFILE_PARTITION_MAX];	/* "27,27,26" */
};

const char	*envfile_state_name(enum stage_state s);

/*
 * Checks every value before it is written: node id and master address
 * syntax, counts, the node's stages within num_stages, and first_layer and
 * end_layer matching layer_partition. A value that passes cannot break a
 * line of the file. Returns 0, or -1 with a message naming the value.
 */
int	 envfile_check(const struct stage_env *env, char *err, size_t errlen);

/* Formats the file text into a malloc'd string; NULL on no memory or when
 * envfile_check rejects the environment. */
char	*envfile_format(const struct stage_env *env);

/* Formats a layer split as "27,27,26" into buf. Returns 0, or -1 when it
 * does not fit in len bytes. */
int	 envfile_format_partition(const uint32_t *parts, size_t n, char *buf,
	    size_t len);

/* Writes the file atomically with mode 0644. Returns 0 or -1 with err. */
int	 envfile_write(const char *path, const struct stage_env *env,
	    char *err, size_t errlen);

/*
 * Reads a file written by envfile_write. A missing file gives state
 * STAGE_NONE and returns 0; a malformed one returns -1 with a message
 * naming the line.
 */
int	 envfile_read(const char *path, struct stage_env *env, char *err,
	    size_t errlen);
int	 envfile_parse(const char *text, size_t len, struct stage_env *env,
	    const char *name, char *err, size_t errlen);

/*
 * Builds the "KEY=VALUE" strings for a hook's environment (malloc'd,
 * NULL-terminated array). Free with envfile_free_vars.
 */
char	**envfile_vars(const struct stage_env *env);
void	  envfile_free_vars(char **vars);

/* True when the two assignments place the node identically, ignoring the
 * generation: the agent then rewrites the file but does not rerun its hook. */
int	 envfile_same_placement(const struct stage_env *a,
	    const struct stage_env *b);

#endif
