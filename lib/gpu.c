/*
 * Local GPU inventory: dispatch on gpus.source, the static source, and the
 * checks shared by every source.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"

#define GPU_DEFAULT_NVML_LIBRARY	"libnvidia-ml.so.1"
#define GPU_DEFAULT_SYSFS_ROOT		"/sys"

void
gpu_copy_label(char *dst, size_t len, const char *src)
{
	size_t	i;

	for (i = 0; i + 1 < len && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[i] = '\0';
}

int
gpu_check_memory(const char *source, uint32_t index, uint64_t total,
    uint64_t free_bytes, char *err, size_t errlen)
{
	if (total == 0 || total > INV_MEMORY_MAX) {
		snprintf(err, errlen, "%s reports %llu bytes of memory for GPU "
		    "%u: expected 1 to %llu bytes", source,
		    (unsigned long long)total, index,
		    (unsigned long long)INV_MEMORY_MAX);
		return -1;
	}
	if (free_bytes > total) {
		snprintf(err, errlen, "%s reports %llu bytes free of %llu for "
		    "GPU %u: free memory exceeds total memory", source,
		    (unsigned long long)free_bytes, (unsigned long long)total,
		    index);
		return -1;
	}
	return 0;
}

/* Applies gpus.workers: it may leave GPUs unused but not exceed them. */
static int
gpu_set_workers(const struct agent_conf *c, struct inv_node *node,
    char *err, size_t errlen)
{
	if (c->workers == 0) {
		node->workers = node->ngpus;
		return 0;
	}
	if (c->workers > node->ngpus) {
		snprintf(err, errlen, "gpus.workers = %u is more than the %u "
		    "GPUs found: lower it or leave it unset to use every GPU",
		    c->workers, node->ngpus);
		return -1;
	}
	node->workers = c->workers;
	return 0;
}

static int
gpu_probe_static(const struct agent_conf *c, struct inv_node *node,
    char *err, size_t errlen)
{
	struct inv_gpu	*gpus;
	uint32_t	 i;

	if (c->static_count == 0 || c->static_count > INV_GPUS_MAX) {
		snprintf(err, errlen, "invalid gpus.count = %u: expected 1 to "
		    "%u", c->static_count, INV_GPUS_MAX);
		return -1;
	}
	if (gpu_check_memory("gpus.memory", 0, c->static_memory,
	    c->static_memory, err, errlen) == -1)
		return -1;

	if ((gpus = calloc(c->static_count, sizeof(*gpus))) == NULL) {
		snprintf(err, errlen, "out of memory for %u GPUs",
		    c->static_count);
		return -1;
	}
	for (i = 0; i < c->static_count; i++) {
		gpus[i].index = i;
		snprintf(gpus[i].name, sizeof(gpus[i].name), "static");
		snprintf(gpus[i].uuid, sizeof(gpus[i].uuid), "static-%u", i);
		gpus[i].memory_total = c->static_memory;
		gpus[i].memory_free = c->static_memory;
	}
	node->gpus = gpus;
	node->ngpus = c->static_count;
	return 0;
}

int
gpu_probe(const struct agent_conf *c, struct inv_node *node, char *err,
    size_t errlen)
{
	const char	*library;
	int		 rc;

	node->gpus = NULL;
	node->ngpus = 0;
	node->workers = 0;

	switch (c->gpu_source) {
	case CONF_GPU_STATIC:
		rc = gpu_probe_static(c, node, err, errlen);
		break;
	case CONF_GPU_NVML:
		library = c->nvml_library != NULL ? c->nvml_library :
		    GPU_DEFAULT_NVML_LIBRARY;
		rc = gpu_probe_nvml(library, node, err, errlen);
		break;
	case CONF_GPU_AMDGPU:
		rc = gpu_probe_amdgpu(GPU_DEFAULT_SYSFS_ROOT, node, err,
		    errlen);
		break;
	default:
		snprintf(err, errlen, "unknown gpus.source %d",
		    (int)c->gpu_source);
		return -1;
	}
	if (rc == -1)
		return -1;

	if (gpu_set_workers(c, node, err, errlen) == -1) {
		free(node->gpus);
		node->gpus = NULL;
		node->ngpus = 0;
		return -1;
	}
	return 0;
}
