/*
 * Local GPU inventory of an agent: from NVML (libnvidia-ml.so.1 loaded at
 * run time, so the build needs no CUDA), from the amdgpu sysfs files, or
 * static values from the config.
 */
#ifndef PPCOORD_GPU_H
#define PPCOORD_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "inv.h"

/* Fills node->gpus, node->ngpus and node->workers (id and address are left
 * to the caller). node->gpus is overwritten, not freed, and on error is
 * NULL. Returns 0, or -1 with a message such as "NVML library
 * libnvidia-ml.so.1 not found (...): is the NVIDIA driver installed? Set
 * gpus.source = \"static\" to report GPUs by hand". At least one GPU is
 * found on success. */
int	gpu_probe(const struct agent_conf *c, struct inv_node *node,
	    char *err, size_t errlen);

/* Loads the NVML library at `library` (a soname or a path) with dlopen and
 * fills node->gpus and node->ngpus from it. It leaves workers alone, and
 * the node untouched on error. */
int	gpu_probe_nvml(const char *library, struct inv_node *node, char *err,
	    size_t errlen);

/* Reads sysfs_root/class/drm/cardN/device for every AMD GPU (vendor
 * 0x1002): mem_info_vram_total and mem_info_vram_used, and product_name
 * and unique_id when present. sysfs_root is normally "/sys". Fills
 * node->gpus and node->ngpus. It leaves workers alone, and the node
 * untouched on error. */
int	gpu_probe_amdgpu(const char *sysfs_root, struct inv_node *node,
	    char *err, size_t errlen);

/* Helpers shared by the sources. */

/* Copies a vendor string into a fixed field, truncating it and replacing
 * bytes outside printable ASCII with '?'. */
void	gpu_copy_label(char *dst, size_t len, const char *src);

/* Checks one GPU's memory figures: total in 1..INV_MEMORY_MAX and free at
 * most total. `source` names the reporter in the message. */
int	gpu_check_memory(const char *source, uint32_t index, uint64_t total,
	    uint64_t free_bytes, char *err, size_t errlen);

#endif
