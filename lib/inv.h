/*
 * GPU inventory of the cluster: what each agent reports and what
 * `ppcoordctl plan -i` reads. The JSON form is
 *   {"nodes": [{"id", "address", "workers", "gpus": [{"index", "name",
 *     "uuid", "memory_total", "memory_free"}]}]}
 * with "workers" defaulting to the number of GPUs listed.
 */
#ifndef PPCOORD_INV_H
#define PPCOORD_INV_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define INV_GPUS_MAX		1024		/* per node */
#define INV_MEMORY_MAX		(16ULL << 40)	/* 16 TiB per GPU */
#define INV_NODES_MAX		65536
#define INV_FILE_MAX		(64u << 20)	/* inventory JSON file size */

struct inv_gpu {
	uint32_t	 index;
	char		 name[96];
	char		 uuid[96];
	uint64_t	 memory_total;	/* bytes */
	uint64_t	 memory_free;	/* bytes */
};

struct inv_node {
	char		 id[PPC_NODE_ID_MAX + 1];
	char		 address[PPC_ADDRESS_MAX + 1];
	uint32_t	 workers;
	uint32_t	 ngpus;
	struct inv_gpu	*gpus;		/* ngpus entries, owned */
};

struct inv {
	size_t		 nnodes;
	struct inv_node	*nodes;		/* owned */
};

void	inv_init(struct inv *inv);
void	inv_free(struct inv *inv);

/* Deep-copies src into dst (dst is overwritten, not freed). */
int	inv_copy(struct inv *dst, const struct inv *src);

/* Appends a deep copy of node. Returns 0 or -1 (out of memory). */
int	inv_add(struct inv *inv, const struct inv_node *node);
void	inv_node_free(struct inv_node *node);
int	inv_node_copy(struct inv_node *dst, const struct inv_node *src);

/*
 * Validates one node as the head and the planner need it: id and address
 * syntax, 1..INV_GPUS_MAX GPUs, every memory_total in 1..INV_MEMORY_MAX,
 * memory_free <= memory_total, workers in 1..ngpus. Returns 0, or -1 with a
 * message that names the node and the value.
 */
int	inv_node_check(const struct inv_node *node, char *err, size_t errlen);

/* Smallest memory_total over the node's GPUs (0 when it has none). */
uint64_t inv_node_min_memory(const struct inv_node *node);

/*
 * Parses inventory JSON text (every node checked with inv_node_check, and
 * duplicate ids or addresses rejected). `name` labels errors, for example
 * the file name. Returns 0, or -1 with a message in err.
 *
 * An unknown key is an error, as in the config files, so that a misspelt
 * key never silently takes a default. Defaults: "workers" the number of
 * GPUs listed, a GPU's "index" its position in the list, "name" and "uuid"
 * empty, "memory_free" equal to "memory_total" (which is required).
 */
int	inv_parse_json(struct inv *inv, const char *text, size_t len,
	    const char *name, char *err, size_t errlen);
int	inv_load_file(struct inv *inv, const char *path, char *err,
	    size_t errlen);

/* Serializes to JSON text (malloc'd, NUL-terminated); NULL on no memory.
 * The output parses back with inv_parse_json. */
char	*inv_to_json(const struct inv *inv);

/* The same as a jansson object, for embedding in larger documents. The
 * return type is json_t *, declared void * to keep jansson out of users. */
void	*inv_to_jansson(const struct inv *inv);
void	*inv_node_to_jansson(const struct inv_node *node);
int	 inv_from_jansson(struct inv *inv, const void *json, const char *name,
	    char *err, size_t errlen);

#endif
