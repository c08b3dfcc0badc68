/*
 * GPU inventory: NVML through the fake libnvidia-ml built beside this test
 * (build/tests/libnvidia-ml-fake.so), amdgpu through a sysfs tree made in a
 * temporary folder, and the static source.
 */
#include <sys/stat.h>

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "gpu.h"
#include "inv.h"
#include "util.h"

#define H100_BYTES	85520809984ULL

static char	fake_lib[PATH_MAX];

static void
clear_fake_env(void)
{
	unsetenv("FAKE_NVML_COUNT");
	unsetenv("FAKE_NVML_MEMORY");
	unsetenv("FAKE_NVML_USED");
	unsetenv("FAKE_NVML_NAME");
	unsetenv("FAKE_NVML_FAIL");
}

/* Finds the fake NVML library next to this test's binary. */
static int
group_setup(void **state)
{
	char		 self[PATH_MAX];
	char		*slash;
	ssize_t		 n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	n = snprintf(fake_lib, sizeof(fake_lib), "%s/libnvidia-ml-fake.so",
	    self);
	if (n < 0 || (size_t)n >= sizeof(fake_lib) ||
	    access(fake_lib, R_OK) != 0) {
		fprintf(stderr, "%s is missing: build it with `make unit`\n",
		    fake_lib);
		return -1;
	}
	return 0;
}

static int
setup(void **state)
{
	clear_fake_env();
	return 0;
}

static int
teardown(void **state)
{
	clear_fake_env();
	return 0;
}

static void
probe_nvml_ok(struct inv_node *node)
{
	char	err[PPC_ERRLEN] = "";

	memset(node, 0, sizeof(*node));
	if (gpu_probe_nvml(fake_lib, node, err, sizeof(err)) != 0)
		fail_msg("gpu_probe_nvml: %s", err);
}

/* Expects gpu_probe_nvml to fail with a message containing `want`. */
static void
probe_nvml_fails(const char *library, const char *want)
{
	struct inv_node	node;
	char		err[PPC_ERRLEN] = "";

	memset(&node, 0, sizeof(node));
	assert_int_equal(gpu_probe_nvml(library, &node, err, sizeof(err)), -1);
	if (strstr(err, want) == NULL)
		fail_msg("expected \"%s\" in: %s", want, err);
	assert_null(node.gpus);
	assert_int_equal(node.ngpus, 0);
}

static void
test_nvml_default_devices(void **state)
{
	struct inv_node	node;

	probe_nvml_ok(&node);
	assert_int_equal(node.ngpus, 2);
	assert_int_equal(node.workers, 0);
	assert_int_equal(node.gpus[0].index, 0);
	assert_int_equal(node.gpus[1].index, 1);
	assert_string_equal(node.gpus[0].name, "NVIDIA H100 80GB HBM3");
	assert_string_equal(node.gpus[1].uuid,
	    "GPU-00000000-fake-0000-0000-000000000001");
	assert_int_equal(node.gpus[0].memory_total, H100_BYTES);
	assert_int_equal(node.gpus[0].memory_free, H100_BYTES);
	free(node.gpus);
}

static void
test_nvml_count_and_memory_from_env(void **state)
{
	struct inv_node	node;

	setenv("FAKE_NVML_COUNT", "8", 1);
	setenv("FAKE_NVML_MEMORY", "1000,2000", 1);
	setenv("FAKE_NVML_USED", "100", 1);
	setenv("FAKE_NVML_NAME", "NVIDIA A100-SXM4-40GB", 1);
	probe_nvml_ok(&node);

	assert_int_equal(node.ngpus, 8);
	assert_int_equal(node.gpus[0].memory_total, 1000);
	assert_int_equal(node.gpus[0].memory_free, 900);
	assert_int_equal(node.gpus[1].memory_total, 2000);
	assert_int_equal(node.gpus[7].memory_total, 2000);
	assert_int_equal(node.gpus[7].memory_free, 1900);
	assert_int_equal(node.gpus[7].index, 7);
	assert_string_equal(node.gpus[3].name, "NVIDIA A100-SXM4-40GB");
	free(node.gpus);
}

static void
test_nvml_name_sanitized(void **state)
{
	struct inv_node	node;

	setenv("FAKE_NVML_NAME", "bad\x01name\n", 1);
	probe_nvml_ok(&node);
	assert_string_equal(node.gpus[0].name, "bad?name?");
	free(node.gpus);
}

static void
test_nvml_count_limits(void **state)
{
	struct inv_node	node;

	setenv("FAKE_NVML_COUNT", "0", 1);
	probe_nvml_fails(fake_lib, "no GPU");

	setenv("FAKE_NVML_COUNT", "1025", 1);
	probe_nvml_fails(fake_lib, "1025 GPUs");

	setenv("FAKE_NVML_COUNT", "1024", 1);
	probe_nvml_ok(&node);
	assert_int_equal(node.ngpus, 1024);
	free(node.gpus);
}

static void
test_nvml_memory_limits(void **state)
{
	setenv("FAKE_NVML_MEMORY", "0", 1);
	probe_nvml_fails(fake_lib, "0 bytes of memory for GPU 0");

	/* 16 TiB + 1 byte on the second GPU. */
	setenv("FAKE_NVML_MEMORY", "1000,17592186044417", 1);
	probe_nvml_fails(fake_lib, "for GPU 1");

	setenv("FAKE_NVML_MEMORY", "1000", 1);
	setenv("FAKE_NVML_USED", "2000", 1);
	probe_nvml_fails(fake_lib, "free memory exceeds total memory");
}

static void
test_nvml_call_failures(void **state)
{
	static const struct {
		const char	*call;
		const char	*want;
	} cases[] = {
		{ "init", "Driver Not Loaded" },
		{ "count", "failed to count GPUs" },
		{ "handle", "failed to open GPU 0" },
		{ "memory", "failed to read the memory of GPU 0" },
		{ "name", "failed to read the name of GPU 0" },
		{ "uuid", "failed to read the UUID of GPU 0" },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setenv("FAKE_NVML_FAIL", cases[i].call, 1);
		probe_nvml_fails(fake_lib, cases[i].want);
	}

	setenv("FAKE_NVML_FAIL", "init", 1);
	probe_nvml_fails(fake_lib, "gpus.source = \"static\"");
}

static void
test_nvml_missing_library(void **state)
{
	probe_nvml_fails("/nonexistent/libnvidia-ml.so.1",
	    "NVML library /nonexistent/libnvidia-ml.so.1 not found");
	probe_nvml_fails("/nonexistent/libnvidia-ml.so.1",
	    "is the NVIDIA driver installed?");
	probe_nvml_fails("/nonexistent/libnvidia-ml.so.1",
	    "Set gpus.source = \"static\" to report GPUs by hand");
}

static void
test_nvml_library_without_symbols(void **state)
{
	probe_nvml_fails("libm.so.6", "has no symbol nvmlInit_v2");
}

static void
conf_static(struct agent_conf *c, uint32_t count, uint64_t memory,
    uint32_t workers)
{
	memset(c, 0, sizeof(*c));
	c->gpu_source = CONF_GPU_STATIC;
	c->static_count = count;
	c->static_memory = memory;
	c->workers = workers;
}

static void
test_probe_static(void **state)
{
	struct agent_conf	c;
	struct inv_node		node;
	char			err[PPC_ERRLEN] = "";

	conf_static(&c, 4, H100_BYTES, 0);
	memset(&node, 0, sizeof(node));
	if (gpu_probe(&c, &node, err, sizeof(err)) != 0)
		fail_msg("gpu_probe: %s", err);
	assert_int_equal(node.ngpus, 4);
	assert_int_equal(node.workers, 4);
	assert_string_equal(node.gpus[0].name, "static");
	assert_string_equal(node.gpus[3].uuid, "static-3");
	assert_int_equal(node.gpus[3].index, 3);
	assert_int_equal(node.gpus[2].memory_total, H100_BYTES);
	assert_int_equal(node.gpus[2].memory_free, H100_BYTES);
	free(node.gpus);

	conf_static(&c, 4, H100_BYTES, 2);
	assert_int_equal(gpu_probe(&c, &node, err, sizeof(err)), 0);
	assert_int_equal(node.workers, 2);
	free(node.gpus);
}

static void
test_probe_static_invalid(void **state)
{
	struct agent_conf	c;
	struct inv_node		node;
	char			err[PPC_ERRLEN] = "";

	memset(&node, 0, sizeof(node));
	conf_static(&c, 0, H100_BYTES, 0);
	assert_int_equal(gpu_probe(&c, &node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gpus.count = 0"));

	conf_static(&c, 1025, H100_BYTES, 0);
	assert_int_equal(gpu_probe(&c, &node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gpus.count = 1025"));

	conf_static(&c, 2, 0, 0);
	assert_int_equal(gpu_probe(&c, &node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gpus.memory"));

	conf_static(&c, 2, H100_BYTES, 3);
	assert_int_equal(gpu_probe(&c, &node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gpus.workers = 3"));
	assert_null(node.gpus);
	assert_int_equal(node.ngpus, 0);
}

static void
test_probe_nvml_source(void **state)
{
	struct agent_conf	c;
	struct inv_node		node;
	char			err[PPC_ERRLEN] = "";

	memset(&c, 0, sizeof(c));
	c.gpu_source = CONF_GPU_NVML;
	c.nvml_library = fake_lib;
	c.workers = 4;
	setenv("FAKE_NVML_COUNT", "8", 1);

	memset(&node, 0, sizeof(node));
	if (gpu_probe(&c, &node, err, sizeof(err)) != 0)
		fail_msg("gpu_probe: %s", err);
	assert_int_equal(node.ngpus, 8);
	assert_int_equal(node.workers, 4);
	free(node.gpus);
}

/* A fake sysfs tree under a temporary folder. */
struct sysfs {
	char	root[64];
};

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

static int
sysfs_setup(void **state)
{
	struct sysfs	*s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -1;
	snprintf(s->root, sizeof(s->root), "/tmp/ppcoord-test-gpu.XXXXXX");
	if (mkdtemp(s->root) == NULL)
		return -1;
	*state = s;
	return 0;
}

static int
sysfs_teardown(void **state)
{
	struct sysfs	*s = *state;

	nftw(s->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(s);
	return 0;
}

/* Creates every folder of ROOT/REL. */
static void
sysfs_mkdirs(const struct sysfs *s, const char *rel)
{
	char	 path[PATH_MAX];
	char	*p;

	snprintf(path, sizeof(path), "%s/%s", s->root, rel);
	for (p = path + strlen(s->root) + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static void
sysfs_write(const struct sysfs *s, const char *rel, const char *value)
{
	char	 path[PATH_MAX];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", s->root, rel);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(value, fp);
	fclose(fp);
}

/* Adds class/drm/CARD/device with vendor and, when total is not NULL, the
 * amdgpu memory files. */
static void
sysfs_card(const struct sysfs *s, const char *card, const char *vendor,
    const char *total, const char *used)
{
	char	rel[128];

	snprintf(rel, sizeof(rel), "class/drm/%s/device", card);
	sysfs_mkdirs(s, rel);
	snprintf(rel, sizeof(rel), "class/drm/%s/device/vendor", card);
	sysfs_write(s, rel, vendor);
	if (total == NULL)
		return;
	snprintf(rel, sizeof(rel), "class/drm/%s/device/mem_info_vram_total",
	    card);
	sysfs_write(s, rel, total);
	snprintf(rel, sizeof(rel), "class/drm/%s/device/mem_info_vram_used",
	    card);
	sysfs_write(s, rel, used);
}

static void
test_amdgpu_cards(void **state)
{
	struct sysfs	*s = *state;
	struct inv_node	 node;
	char		 err[PPC_ERRLEN] = "", link[PATH_MAX], target[PATH_MAX];

	sysfs_card(s, "card0", "0x1002\n", "68702699520\n", "1048576\n");
	sysfs_write(s, "class/drm/card0/device/product_name",
	    "AMD Instinct MI210\n");
	sysfs_write(s, "class/drm/card0/device/unique_id",
	    "e3a0b3f1c2d4e5f6\n");
	sysfs_card(s, "card1", "0x10de\n", "999\n", "0\n");
	sysfs_card(s, "card3", "0x1002\n", NULL, NULL);	/* radeon */
	sysfs_card(s, "card10", "0x1002\n", "4096\n", "0\n");
	sysfs_mkdirs(s, "class/drm/card0-DP-1");
	sysfs_mkdirs(s, "class/drm/renderD128");

	/* card2's device is a link to its PCI folder, as in real sysfs. */
	sysfs_mkdirs(s, "devices/0000:03:00.0");
	snprintf(target, sizeof(target), "%s/devices/0000:03:00.0", s->root);
	sysfs_write(s, "devices/0000:03:00.0/vendor", "0x1002\n");
	sysfs_write(s, "devices/0000:03:00.0/mem_info_vram_total", "2048\n");
	sysfs_write(s, "devices/0000:03:00.0/mem_info_vram_used", "48\n");
	sysfs_mkdirs(s, "class/drm/card2");
	snprintf(link, sizeof(link), "%s/class/drm/card2/device", s->root);
	assert_int_equal(symlink(target, link), 0);

	memset(&node, 0, sizeof(node));
	if (gpu_probe_amdgpu(s->root, &node, err, sizeof(err)) != 0)
		fail_msg("gpu_probe_amdgpu: %s", err);
	assert_int_equal(node.ngpus, 3);

	assert_int_equal(node.gpus[0].index, 0);
	assert_string_equal(node.gpus[0].name, "AMD Instinct MI210");
	assert_string_equal(node.gpus[0].uuid, "e3a0b3f1c2d4e5f6");
	assert_int_equal(node.gpus[0].memory_total, 68702699520ULL);
	assert_int_equal(node.gpus[0].memory_free, 68702699520ULL - 1048576);

	assert_int_equal(node.gpus[1].index, 1);
	assert_string_equal(node.gpus[1].name, "AMD GPU");
	assert_string_equal(node.gpus[1].uuid, "pci-0000:03:00.0");
	assert_int_equal(node.gpus[1].memory_total, 2048);
	assert_int_equal(node.gpus[1].memory_free, 2000);

	/* card10 sorts after card2. */
	assert_int_equal(node.gpus[2].memory_total, 4096);
	assert_string_equal(node.gpus[2].uuid, "amdgpu-card10");
	free(node.gpus);
}

static void
test_amdgpu_no_amd_card(void **state)
{
	struct sysfs	*s = *state;
	struct inv_node	 node;
	char		 err[PPC_ERRLEN] = "";

	sysfs_card(s, "card0", "0x8086\n", NULL, NULL);
	memset(&node, 0, sizeof(node));
	assert_int_equal(gpu_probe_amdgpu(s->root, &node, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "no AMD GPU"));
	assert_non_null(strstr(err, "gpus.source = \"static\""));
	assert_null(node.gpus);
}

static void
test_amdgpu_missing_root(void **state)
{
	struct sysfs	*s = *state;
	struct inv_node	 node;
	char		 err[PPC_ERRLEN] = "", root[PATH_MAX];

	snprintf(root, sizeof(root), "%s/absent", s->root);
	memset(&node, 0, sizeof(node));
	assert_int_equal(gpu_probe_amdgpu(root, &node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "absent/class/drm"));
	assert_non_null(strstr(err, "No such file"));
}

static void
test_amdgpu_invalid_values(void **state)
{
	struct sysfs	*s = *state;
	struct inv_node	 node;
	char		 err[PPC_ERRLEN] = "";

	memset(&node, 0, sizeof(node));
	sysfs_card(s, "card0", "0x1002\n", "lots\n", "0\n");
	assert_int_equal(gpu_probe_amdgpu(s->root, &node, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "invalid byte count \"lots\""));
	assert_non_null(strstr(err, "card0/device/mem_info_vram_total"));

	sysfs_card(s, "card0", "0x1002\n", "100\n", "200\n");
	assert_int_equal(gpu_probe_amdgpu(s->root, &node, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "200 bytes of VRAM used"));

	sysfs_card(s, "card0", "0x1002\n", "0\n", "0\n");
	assert_int_equal(gpu_probe_amdgpu(s->root, &node, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "0 bytes of memory"));

	sysfs_card(s, "card0", "AMD\n", "100\n", "0\n");
	assert_int_equal(gpu_probe_amdgpu(s->root, &node, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "invalid vendor id"));
	assert_null(node.gpus);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nvml_default_devices,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_nvml_count_and_memory_from_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvml_name_sanitized,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvml_count_limits,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvml_memory_limits,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvml_call_failures,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvml_missing_library,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_nvml_library_without_symbols, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_static, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_probe_static_invalid,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_nvml_source, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_amdgpu_cards,
		    sysfs_setup, sysfs_teardown),
		cmocka_unit_test_setup_teardown(test_amdgpu_no_amd_card,
		    sysfs_setup, sysfs_teardown),
		cmocka_unit_test_setup_teardown(test_amdgpu_missing_root,
		    sysfs_setup, sysfs_teardown),
		cmocka_unit_test_setup_teardown(test_amdgpu_invalid_values,
		    sysfs_setup, sysfs_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
