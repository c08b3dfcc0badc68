/*
 * Local GPU inventory of an agent: from NVML (libnvidia-ml.so.1 loaded at
 * run time, so the build needs no CUDA), from the amdgpu sysfs files, or
 * static values from the config.
 */
#ifndef PPCOORD_GPU_H
#define PPCOORD_GPU_H

#include <stddef.h>

#include "conf.h"
#include "inv.h"

/* Fills node->gpus, node->ngpus and node->workers (id and address are left
 * to the caller). Returns 0, or -1 with a message such as "NVML library
 * libnvidia-ml.so.1 not found: is the NVIDIA driver installed? Set
 * gpus.source = \"static\" to report GPUs by hand". */
int	gpu_probe(const struct agent_conf *c, struct inv_node *node,
	    char *err, size_t errlen);

int	gpu_probe_nvml(const char *library, struct inv_node *node, char *err,
	    size_t errlen);
/* Reads /sys/class/drm/cardN/device/mem_info_vram_total and _used under
 * sysfs_root (normally "/sys"). */
int	gpu_probe_amdgpu(const char *sysfs_root, struct inv_node *node,
	    char *err, size_t errlen);

#endif
