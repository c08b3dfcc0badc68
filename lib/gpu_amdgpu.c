/*
 * GPU inventory of AMD GPUs from the amdgpu driver's sysfs files under
 * /sys/class/drm/cardN/device. Cards of other vendors, and AMD cards
 * without mem_info_vram_total (driven by the older radeon driver), are
 * skipped.
 */
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu.h"

#define AMDGPU_VENDOR_ID	0x1002
#define AMDGPU_ATTR_MAX		256	/* largest sysfs value read */

/* Joins dir and name into buf. Returns 0, or -1 with a message when the
 * path does not fit. */
static int
amdgpu_path(char *buf, size_t len, const char *dir, const char *name,
    char *err, size_t errlen)
{
	int	n = snprintf(buf, len, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "path %.64s.../%s is too long", dir, name);
		return -1;
	}
	return 0;
}

/* Accepts "cardN" and not the connectors ("card0-DP-1") or render nodes. */
static int
amdgpu_card_filter(const struct dirent *d)
{
	const char	*p;

	if (strncmp(d->d_name, "card", 4) != 0 || d->d_name[4] == '\0')
		return 0;
	for (p = d->d_name + 4; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return 0;
	return 1;
}

/* Orders card2 before card10. */
static int
amdgpu_card_compare(const struct dirent **a, const struct dirent **b)
{
	unsigned long	na = strtoul((*a)->d_name + 4, NULL, 10);
	unsigned long	nb = strtoul((*b)->d_name + 4, NULL, 10);

	return (na > nb) - (na < nb);
}

/*
 * Reads a sysfs attribute into buf without trailing whitespace. Returns 0,
 * or -1 with errno set (ENOENT for a missing attribute, EFBIG for a value
 * too long for buf).
 */
static int
amdgpu_read_attr(const char *path, char *buf, size_t len)
{
	ssize_t	n;
	int	fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, len);
	saved = errno;
	close(fd);
	if (n == -1) {
		errno = saved;
		return -1;
	}
	if ((size_t)n >= len) {
		errno = EFBIG;
		return -1;
	}
	buf[n] = '\0';
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	return 0;
}

/* Reads a decimal byte count such as mem_info_vram_total. */
static int
amdgpu_read_bytes(const char *path, uint64_t *value, char *err,
    size_t errlen)
{
	char			 buf[AMDGPU_ATTR_MAX];
	char			*end;
	unsigned long long	 v;

	if (amdgpu_read_attr(path, buf, sizeof(buf)) == -1) {
		snprintf(err, errlen, "failed to read %s: %s", path,
		    strerror(errno));
		return -1;
	}
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (buf[0] < '0' || buf[0] > '9' || *end != '\0' || errno != 0) {
		snprintf(err, errlen, "invalid byte count \"%.32s\" in %s",
		    buf, path);
		return -1;
	}
	*value = v;
	return 0;
}

/* Checks the vendor of DEVICE/vendor. Returns 1 for AMD, 0 for another
 * vendor or no vendor file, -1 on error. */
static int
amdgpu_is_amd(const char *device, char *err, size_t errlen)
{
	char		 path[PATH_MAX], buf[AMDGPU_ATTR_MAX];
	char		*end;
	unsigned long	 id;

	if (amdgpu_path(path, sizeof(path), device, "vendor", err,
	    errlen) == -1)
		return -1;
	if (amdgpu_read_attr(path, buf, sizeof(buf)) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "failed to read %s: %s", path,
		    strerror(errno));
		return -1;
	}
	errno = 0;
	id = strtoul(buf, &end, 16);
	if (end == buf || *end != '\0' || errno != 0) {
		snprintf(err, errlen, "invalid vendor id \"%.32s\" in %s", buf,
		    path);
		return -1;
	}
	return id == AMDGPU_VENDOR_ID;
}

/* Sets the UUID: unique_id when the card has one, else its PCI address
 * (the target of the device link), else the card name. */
static void
amdgpu_read_uuid(const char *device, const char *card, struct inv_gpu *gpu)
{
	char		 path[PATH_MAX], buf[AMDGPU_ATTR_MAX], why[PPC_ERRLEN];
	const char	*base;
	ssize_t		 n;

	if (amdgpu_path(path, sizeof(path), device, "unique_id", why,
	    sizeof(why)) == 0 &&
	    amdgpu_read_attr(path, buf, sizeof(buf)) == 0 && buf[0] != '\0') {
		gpu_copy_label(gpu->uuid, sizeof(gpu->uuid), buf);
		return;
	}

	n = readlink(device, path, sizeof(path) - 1);
	if (n > 0) {
		path[n] = '\0';
		base = strrchr(path, '/');
		base = base != NULL ? base + 1 : path;
		gpu_copy_label(buf, sizeof(buf), "pci-");
		gpu_copy_label(buf + 4, sizeof(buf) - 4, base);
	} else {
		gpu_copy_label(buf, sizeof(buf), "amdgpu-");
		gpu_copy_label(buf + 7, sizeof(buf) - 7, card);
	}
	gpu_copy_label(gpu->uuid, sizeof(gpu->uuid), buf);
}

/*
 * Reads one AMD card into gpu. Returns 1 when filled, 0 when the card has
 * no amdgpu memory files, -1 on error.
 */
static int
amdgpu_read_card(const char *device, const char *card, uint32_t index,
    struct inv_gpu *gpu, char *err, size_t errlen)
{
	char		path[PATH_MAX], buf[AMDGPU_ATTR_MAX];
	uint64_t	total, used;

	if (amdgpu_path(path, sizeof(path), device, "mem_info_vram_total",
	    err, errlen) == -1)
		return -1;
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0;
	if (amdgpu_read_bytes(path, &total, err, errlen) == -1)
		return -1;
	if (amdgpu_path(path, sizeof(path), device, "mem_info_vram_used",
	    err, errlen) == -1 ||
	    amdgpu_read_bytes(path, &used, err, errlen) == -1)
		return -1;
	if (used > total) {
		snprintf(err, errlen, "%s reports %llu bytes of VRAM used, "
		    "more than the %llu total", device,
		    (unsigned long long)used, (unsigned long long)total);
		return -1;
	}
	if (gpu_check_memory("amdgpu", index, total, total - used, err,
	    errlen) == -1)
		return -1;

	gpu->index = index;
	gpu->memory_total = total;
	gpu->memory_free = total - used;

	if (amdgpu_path(path, sizeof(path), device, "product_name", err,
	    errlen) == 0 &&
	    amdgpu_read_attr(path, buf, sizeof(buf)) == 0 && buf[0] != '\0')
		gpu_copy_label(gpu->name, sizeof(gpu->name), buf);
	else
		snprintf(gpu->name, sizeof(gpu->name), "AMD GPU");
	amdgpu_read_uuid(device, card, gpu);
	return 1;
}

int
gpu_probe_amdgpu(const char *sysfs_root, struct inv_node *node, char *err,
    size_t errlen)
{
	char		  drm[PATH_MAX], card[PATH_MAX], device[PATH_MAX];
	struct dirent	**cards = NULL;
	struct inv_gpu	 *gpus = NULL;
	uint32_t	  found = 0;
	int		  ncards, i, rc = -1, r;

	if (amdgpu_path(drm, sizeof(drm), sysfs_root, "class/drm", err,
	    errlen) == -1)
		return -1;
	ncards = scandir(drm, &cards, amdgpu_card_filter,
	    amdgpu_card_compare);
	if (ncards == -1) {
		snprintf(err, errlen, "failed to list %s: %s: is the amdgpu "
		    "driver loaded? Set gpus.source = \"static\" to report GPUs "
		    "by hand", drm, strerror(errno));
		return -1;
	}
	if (ncards > INV_GPUS_MAX) {
		snprintf(err, errlen, "%s lists %d cards, more than the %u GPUs "
		    "a node may have", drm, ncards, INV_GPUS_MAX);
		goto done;
	}
	if (ncards > 0 && (gpus = calloc(ncards, sizeof(*gpus))) == NULL) {
		snprintf(err, errlen, "out of memory for %d GPUs", ncards);
		goto done;
	}

	for (i = 0; i < ncards; i++) {
		if (amdgpu_path(card, sizeof(card), drm, cards[i]->d_name,
		    err, errlen) == -1 ||
		    amdgpu_path(device, sizeof(device), card, "device", err,
		    errlen) == -1)
			goto done;
		if ((r = amdgpu_is_amd(device, err, errlen)) == -1)
			goto done;
		if (r == 0)
			continue;
		r = amdgpu_read_card(device, cards[i]->d_name, found,
		    &gpus[found], err, errlen);
		if (r == -1)
			goto done;
		found += r;
	}

	if (found == 0) {
		snprintf(err, errlen, "no AMD GPU with amdgpu memory "
		    "information under %s: is the amdgpu driver loaded? Set "
		    "gpus.source = \"static\" to report GPUs by hand", drm);
		goto done;
	}
	node->gpus = gpus;
	node->ngpus = found;
	gpus = NULL;
	rc = 0;
done:
	for (i = 0; i < ncards; i++)
		free(cards[i]);
	free(cards);
	free(gpus);
	return rc;
}
