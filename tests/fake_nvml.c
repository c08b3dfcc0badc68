/*
 * A stand-in for libnvidia-ml.so.1 with the NVML functions that ppcoord
 * calls, for tests on hosts without an NVIDIA GPU. The devices come from
 * environment variables read at nvmlInit_v2:
 *
 *   FAKE_NVML_COUNT   number of GPUs (default 2; any value, to test limits)
 *   FAKE_NVML_MEMORY  total bytes per GPU (default 85520809984, an H100
 *                     80GB); a comma-separated list gives GPU i the i-th
 *                     value, and the last value repeats
 *   FAKE_NVML_USED    used bytes per GPU (default 0), same list syntax
 *   FAKE_NVML_NAME    device name (default "NVIDIA H100 80GB HBM3")
 *   FAKE_NVML_FAIL    one of init, count, handle, memory, name, uuid: that
 *                     call returns an error
 *
 * UUIDs are "GPU-00000000-fake-0000-0000-00000000000N".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
	unsigned long long	total;
	unsigned long long	free;
	unsigned long long	used;
} nvmlMemory_t;

/* Return codes with the values of nvml.h. */
#define NVML_SUCCESS			0
#define NVML_ERROR_UNINITIALIZED	1
#define NVML_ERROR_INVALID_ARGUMENT	2
#define NVML_ERROR_INSUFFICIENT_SIZE	7
#define NVML_ERROR_DRIVER_NOT_LOADED	9
#define NVML_ERROR_UNKNOWN		999

#define FAKE_DEFAULT_MEMORY	85520809984ULL
#define FAKE_DEFAULT_NAME	"NVIDIA H100 80GB HBM3"

nvmlReturn_t	nvmlInit_v2(void);
nvmlReturn_t	nvmlShutdown(void);
nvmlReturn_t	nvmlDeviceGetCount_v2(unsigned int *);
nvmlReturn_t	nvmlDeviceGetHandleByIndex_v2(unsigned int, nvmlDevice_t *);
nvmlReturn_t	nvmlDeviceGetMemoryInfo(nvmlDevice_t, nvmlMemory_t *);
nvmlReturn_t	nvmlDeviceGetName(nvmlDevice_t, char *, unsigned int);
nvmlReturn_t	nvmlDeviceGetUUID(nvmlDevice_t, char *, unsigned int);
const char	*nvmlErrorString(nvmlReturn_t);

static int		 fake_initialized;
static unsigned int	 fake_count;

static int
fake_fails(const char *call)
{
	const char	*f = getenv("FAKE_NVML_FAIL");

	return f != NULL && strcmp(f, call) == 0;
}

/* The i-th value of a comma-separated list in an environment variable,
 * the last one past its end, or def when the variable is unset. */
static unsigned long long
fake_list_value(const char *name, unsigned int i, unsigned long long def)
{
	const char		*s = getenv(name);
	unsigned long long	 v = def;
	char			*end;

	if (s == NULL || *s == '\0')
		return def;
	for (;;) {
		v = strtoull(s, &end, 10);
		if (i == 0 || *end != ',')
			return v;
		s = end + 1;
		i--;
	}
}

/* Devices are handles 1..count, so a NULL handle is never valid. */
static int
fake_index(nvmlDevice_t dev, unsigned int *index)
{
	uintptr_t	v = (uintptr_t)dev;

	if (!fake_initialized || v == 0 || v > fake_count)
		return -1;
	*index = (unsigned int)(v - 1);
	return 0;
}

nvmlReturn_t
nvmlInit_v2(void)
{
	const char	*s;

	if (fake_fails("init"))
		return NVML_ERROR_DRIVER_NOT_LOADED;
	s = getenv("FAKE_NVML_COUNT");
	fake_count = s != NULL ? (unsigned int)strtoul(s, NULL, 10) : 2;
	fake_initialized = 1;
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlShutdown(void)
{
	if (!fake_initialized)
		return NVML_ERROR_UNINITIALIZED;
	fake_initialized = 0;
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetCount_v2(unsigned int *count)
{
	if (!fake_initialized)
		return NVML_ERROR_UNINITIALIZED;
	if (count == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (fake_fails("count"))
		return NVML_ERROR_UNKNOWN;
	*count = fake_count;
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *dev)
{
	if (!fake_initialized)
		return NVML_ERROR_UNINITIALIZED;
	if (dev == NULL || index >= fake_count)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (fake_fails("handle"))
		return NVML_ERROR_UNKNOWN;
	*dev = (nvmlDevice_t)(uintptr_t)(index + 1);
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetMemoryInfo(nvmlDevice_t dev, nvmlMemory_t *mem)
{
	unsigned int	i;

	if (fake_index(dev, &i) == -1 || mem == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (fake_fails("memory"))
		return NVML_ERROR_UNKNOWN;
	mem->total = fake_list_value("FAKE_NVML_MEMORY", i,
	    FAKE_DEFAULT_MEMORY);
	mem->used = fake_list_value("FAKE_NVML_USED", i, 0);
	/* used may exceed total, as from a faulty driver. free then wraps
	 * around, and the caller must reject it. */
	mem->free = mem->total - mem->used;
	return NVML_SUCCESS;
}

static nvmlReturn_t
fake_copy(const char *s, char *buf, unsigned int len)
{
	if (buf == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (strlen(s) >= len)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	strcpy(buf, s);
	return NVML_SUCCESS;
}

nvmlReturn_t
nvmlDeviceGetName(nvmlDevice_t dev, char *buf, unsigned int len)
{
	const char	*name = getenv("FAKE_NVML_NAME");
	unsigned int	 i;

	if (fake_index(dev, &i) == -1)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (fake_fails("name"))
		return NVML_ERROR_UNKNOWN;
	return fake_copy(name != NULL ? name : FAKE_DEFAULT_NAME, buf, len);
}

nvmlReturn_t
nvmlDeviceGetUUID(nvmlDevice_t dev, char *buf, unsigned int len)
{
	char		uuid[64];
	unsigned int	i;

	if (fake_index(dev, &i) == -1)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (fake_fails("uuid"))
		return NVML_ERROR_UNKNOWN;
	snprintf(uuid, sizeof(uuid), "GPU-00000000-fake-0000-0000-%012u", i);
	return fake_copy(uuid, buf, len);
}

const char *
nvmlErrorString(nvmlReturn_t rc)
{
	switch (rc) {
	case NVML_SUCCESS:
		return "Success";
	case NVML_ERROR_UNINITIALIZED:
		return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT:
		return "Invalid Argument";
	case NVML_ERROR_INSUFFICIENT_SIZE:
		return "Insufficient Size";
	case NVML_ERROR_DRIVER_NOT_LOADED:
		return "Driver Not Loaded";
	default:
		return "Unknown Error";
	}
}
