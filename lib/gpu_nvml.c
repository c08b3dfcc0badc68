/*
 * GPU inventory from NVIDIA's NVML. libnvidia-ml.so.1 ships with the
 * driver, not with CUDA, and is loaded at run time, so the build needs
 * neither and an agent on a host without the driver still starts with
 * gpus.source = "static". The few NVML types used are declared here with
 * the layout of nvml.h.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"

typedef int nvmlReturn_t;			/* NVML_SUCCESS is 0 */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
	unsigned long long	total;		/* bytes */
	unsigned long long	free;
	unsigned long long	used;
} nvmlMemory_t;

#define NVML_SUCCESS		0
/* NVML_DEVICE_NAME_V2_BUFFER_SIZE and NVML_DEVICE_UUID_V2_BUFFER_SIZE. */
#define NVML_STRING_MAX		96

struct nvml {
	const char	 *library;
	void		 *handle;
	nvmlReturn_t	(*init)(void);
	nvmlReturn_t	(*shutdown)(void);
	nvmlReturn_t	(*get_count)(unsigned int *);
	nvmlReturn_t	(*get_handle)(unsigned int, nvmlDevice_t *);
	nvmlReturn_t	(*get_memory)(nvmlDevice_t, nvmlMemory_t *);
	nvmlReturn_t	(*get_name)(nvmlDevice_t, char *, unsigned int);
	nvmlReturn_t	(*get_uuid)(nvmlDevice_t, char *, unsigned int);
	const char	*(*error_string)(nvmlReturn_t);
};

static void *
nvml_symbol(struct nvml *n, const char *name, char *err, size_t errlen)
{
	void	*p;

	if ((p = dlsym(n->handle, name)) == NULL)
		snprintf(err, errlen, "NVML library %s has no symbol %s: the "
		    "NVIDIA driver is too old or the file is not NVML",
		    n->library, name);
	return p;
}

/* Opens the library and resolves every function used. */
static int
nvml_open(struct nvml *n, const char *library, char *err, size_t errlen)
{
	const char	*why;

	memset(n, 0, sizeof(*n));
	n->library = library;
	if ((n->handle = dlopen(library, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		why = dlerror();
		snprintf(err, errlen, "NVML library %s not found (%s): is the "
		    "NVIDIA driver installed? Set gpus.source = \"static\" to "
		    "report GPUs by hand", library,
		    why != NULL ? why : "unknown error");
		return -1;
	}

	if ((n->init = (nvmlReturn_t (*)(void))nvml_symbol(n, "nvmlInit_v2",
	    err, errlen)) == NULL ||
	    (n->shutdown = (nvmlReturn_t (*)(void))nvml_symbol(n,
	    "nvmlShutdown", err, errlen)) == NULL ||
	    (n->get_count = (nvmlReturn_t (*)(unsigned int *))nvml_symbol(n,
	    "nvmlDeviceGetCount_v2", err, errlen)) == NULL ||
	    (n->get_handle = (nvmlReturn_t (*)(unsigned int,
	    nvmlDevice_t *))nvml_symbol(n, "nvmlDeviceGetHandleByIndex_v2",
	    err, errlen)) == NULL ||
	    (n->get_memory = (nvmlReturn_t (*)(nvmlDevice_t,
	    nvmlMemory_t *))nvml_symbol(n, "nvmlDeviceGetMemoryInfo", err,
	    errlen)) == NULL ||
	    (n->get_name = (nvmlReturn_t (*)(nvmlDevice_t, char *,
	    unsigned int))nvml_symbol(n, "nvmlDeviceGetName", err,
	    errlen)) == NULL ||
	    (n->get_uuid = (nvmlReturn_t (*)(nvmlDevice_t, char *,
	    unsigned int))nvml_symbol(n, "nvmlDeviceGetUUID", err,
	    errlen)) == NULL ||
	    (n->error_string = (const char *(*)(nvmlReturn_t))nvml_symbol(n,
	    "nvmlErrorString", err, errlen)) == NULL) {
		dlclose(n->handle);
		n->handle = NULL;
		return -1;
	}
	return 0;
}

static const char *
nvml_strerror(const struct nvml *n, nvmlReturn_t rc)
{
	const char	*s = n->error_string(rc);

	return s != NULL ? s : "unknown NVML error";
}

/* Reads one device into gpu. */
static int
nvml_read_gpu(const struct nvml *n, unsigned int index, struct inv_gpu *gpu,
    char *err, size_t errlen)
{
	nvmlDevice_t	 dev;
	nvmlMemory_t	 mem;
	char		 buf[NVML_STRING_MAX];
	nvmlReturn_t	 rc;

	if ((rc = n->get_handle(index, &dev)) != NVML_SUCCESS) {
		snprintf(err, errlen, "NVML failed to open GPU %u: %s", index,
		    nvml_strerror(n, rc));
		return -1;
	}

	memset(&mem, 0, sizeof(mem));
	if ((rc = n->get_memory(dev, &mem)) != NVML_SUCCESS) {
		snprintf(err, errlen, "NVML failed to read the memory of GPU "
		    "%u: %s", index, nvml_strerror(n, rc));
		return -1;
	}
	if (gpu_check_memory("NVML", index, mem.total, mem.free, err,
	    errlen) == -1)
		return -1;

	gpu->index = index;
	gpu->memory_total = mem.total;
	gpu->memory_free = mem.free;

	memset(buf, 0, sizeof(buf));
	if ((rc = n->get_name(dev, buf, sizeof(buf))) != NVML_SUCCESS) {
		snprintf(err, errlen, "NVML failed to read the name of GPU %u: "
		    "%s", index, nvml_strerror(n, rc));
		return -1;
	}
	buf[sizeof(buf) - 1] = '\0';
	gpu_copy_label(gpu->name, sizeof(gpu->name), buf);

	memset(buf, 0, sizeof(buf));
	if ((rc = n->get_uuid(dev, buf, sizeof(buf))) != NVML_SUCCESS) {
		snprintf(err, errlen, "NVML failed to read the UUID of GPU %u: "
		    "%s", index, nvml_strerror(n, rc));
		return -1;
	}
	buf[sizeof(buf) - 1] = '\0';
	gpu_copy_label(gpu->uuid, sizeof(gpu->uuid), buf);
	return 0;
}

/* Reads every device of an initialised NVML. */
static int
nvml_read_all(const struct nvml *n, struct inv_node *node, char *err,
    size_t errlen)
{
	struct inv_gpu	*gpus;
	unsigned int	 count = 0, i;
	nvmlReturn_t	 rc;

	if ((rc = n->get_count(&count)) != NVML_SUCCESS) {
		snprintf(err, errlen, "NVML failed to count GPUs: %s",
		    nvml_strerror(n, rc));
		return -1;
	}
	if (count == 0) {
		snprintf(err, errlen, "NVML found no GPU on this host: check "
		    "nvidia-smi, or set gpus.source = \"static\" to report "
		    "GPUs by hand");
		return -1;
	}
	if (count > INV_GPUS_MAX) {
		snprintf(err, errlen, "NVML reports %u GPUs, more than the "
		    "%u a node may have", count, INV_GPUS_MAX);
		return -1;
	}

	if ((gpus = calloc(count, sizeof(*gpus))) == NULL) {
		snprintf(err, errlen, "out of memory for %u GPUs", count);
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (nvml_read_gpu(n, i, &gpus[i], err, errlen) == -1) {
			free(gpus);
			return -1;
		}
	}
	node->gpus = gpus;
	node->ngpus = count;
	return 0;
}

int
gpu_probe_nvml(const char *library, struct inv_node *node, char *err,
    size_t errlen)
{
	struct nvml	n;
	nvmlReturn_t	rc;
	int		ret;

	if (nvml_open(&n, library, err, errlen) == -1)
		return -1;

	if ((rc = n.init()) != NVML_SUCCESS) {
		snprintf(err, errlen, "NVML initialisation failed in %s: %s: "
		    "is the NVIDIA driver loaded (nvidia-smi)? Set gpus.source "
		    "= \"static\" to report GPUs by hand", library,
		    nvml_strerror(&n, rc));
		dlclose(n.handle);
		return -1;
	}

	ret = nvml_read_all(&n, node, err, errlen);
	n.shutdown();
	dlclose(n.handle);
	return ret;
}
