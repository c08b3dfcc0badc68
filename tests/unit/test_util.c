/*
 * Unit tests for lib/util.c: sizes, durations, node ids, addresses,
 * host:port splitting and file helpers.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static void
test_size_units(void **state)
{
	static const struct {
		const char	*text;
		uint64_t	 bytes;
	} cases[] = {
		{ "0", 0 },
		{ "1234", 1234 },
		{ "100 B", 100 },
		{ "80 GiB", 80ULL << 30 },
		{ "80GiB", 80ULL << 30 },
		{ "1.5GiB", 3ULL << 29 },
		{ "500MB", 500000000ULL },
		{ "512 KiB", 512ULL << 10 },
		{ "2KB", 2000 },
		{ "3 GB", 3000000000ULL },
		{ "1 TB", 1000000000000ULL },
		{ "2 TiB", 2ULL << 40 },
		{ "1 MiB", 1ULL << 20 },
		{ "0.5 KiB", 512 },
		{ "1.0001 KB", 1000 },		/* 1000.1 rounded down */
		/* 2^-19 TiB is exactly 2 MiB; 19 fraction digits. */
		{ "0.0000019073486328125 TiB", 1ULL << 21 },
		{ "9223372036854775807", INT64_MAX },
	};
	uint64_t	 v;
	char		 err[PPC_ERRLEN];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 1;
		if (util_parse_size(cases[i].text, &v, err, sizeof(err)) != 0)
			fail_msg("\"%s\": %s", cases[i].text, err);
		if (v != cases[i].bytes)
			fail_msg("\"%s\": got %llu, expected %llu",
			    cases[i].text, (unsigned long long)v,
			    (unsigned long long)cases[i].bytes);
	}
}

static void
test_size_errors(void **state)
{
	static const char *bad[] = {
		"", " ", "GiB", "-1", "1.5", "1.", ".5 GiB", "80 gib",
		"80 Gb", "80 GiB ", "80  XB", "1e9", "0x10",
		"9223372036854775808", "99999999999999999999999",
		"9000000 TiB", "1,5 GiB", "80 GiB\n",
		"1.0000000000000000000000001 GiB",
	};
	uint64_t	 v;
	char		 err[PPC_ERRLEN];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (util_parse_size(bad[i], &v, err, sizeof(err)) != -1)
			fail_msg("\"%s\" was accepted as %llu", bad[i],
			    (unsigned long long)v);
		assert_non_null(strstr(err, "invalid size"));
	}
	/* The message quotes control bytes instead of printing them. */
	assert_int_equal(util_parse_size("80 GiB\n", &v, err, sizeof(err)),
	    -1);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "\\x0a"));
}

static void
test_duration_units(void **state)
{
	static const struct {
		const char	*text;
		uint64_t	 ms;
	} cases[] = {
		{ "500ms", 500 },
		{ "2s", 2000 },
		{ "2 s", 2000 },
		{ "1m", 60000 },
		{ "1.5m", 90000 },
		{ "1h", 3600000 },
		{ "0s", 0 },
		{ "0.0015s", 1 },
		{ "10s", 10000 },
		{ "5m", 300000 },
	};
	uint64_t	 v;
	char		 err[PPC_ERRLEN];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (util_parse_duration(cases[i].text, &v, err,
		    sizeof(err)) != 0)
			fail_msg("\"%s\": %s", cases[i].text, err);
		if (v != cases[i].ms)
			fail_msg("\"%s\": got %llu, expected %llu",
			    cases[i].text, (unsigned long long)v,
			    (unsigned long long)cases[i].ms);
	}
}

static void
test_duration_errors(void **state)
{
	static const char *bad[] = {
		"", "10", "s", "-1s", "1 sec", "1S", "1d", "1.s",
		"99999999999999999999h", "5000000000000000h",
	};
	uint64_t	 v;
	char		 err[PPC_ERRLEN];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (util_parse_duration(bad[i], &v, err, sizeof(err)) != -1)
			fail_msg("\"%s\" was accepted as %llu", bad[i],
			    (unsigned long long)v);
		assert_non_null(strstr(err, "invalid duration"));
	}
}

static void
test_format_size(void **state)
{
	char	 buf[32];

	assert_string_equal(util_format_size(0, buf, sizeof(buf)), "0 B");
	assert_string_equal(util_format_size(512, buf, sizeof(buf)),
	    "512 B");
	assert_string_equal(util_format_size(1536, buf, sizeof(buf)),
	    "1.5 KiB");
	assert_string_equal(util_format_size(80ULL << 30, buf, sizeof(buf)),
	    "80.0 GiB");
	assert_string_equal(util_format_size(3ULL << 40, buf, sizeof(buf)),
	    "3.0 TiB");
}

static void
test_node_id_valid(void **state)
{
	static const char *good[] = {
		"gpu-a", "a", "node_01", "host.example", "A-9.b_c", "0",
		"a..b",
	};
	char	 id[PPC_NODE_ID_MAX + 1];
	char	 err[PPC_ERRLEN];
	size_t	 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (util_check_node_id(good[i], err, sizeof(err)) != 0)
			fail_msg("\"%s\": %s", good[i], err);
	memset(id, 'x', PPC_NODE_ID_MAX);
	id[PPC_NODE_ID_MAX] = '\0';
	assert_int_equal(util_check_node_id(id, err, sizeof(err)), 0);
}

static void
test_node_id_invalid(void **state)
{
	static const char *bad[] = {
		"", ".", "..", "../etc", "-rf", ".hidden", "a/b", "a b",
		"a\nb", "a\tb", "a\x01", "a=b", "a;b", "caf\xc3\xa9", "a:b",
		"$HOME",
	};
	char	 id[PPC_NODE_ID_MAX + 2];
	char	 err[PPC_ERRLEN];
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (util_check_node_id(bad[i], err, sizeof(err)) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_non_null(strstr(err, "invalid node id"));
		assert_null(strchr(err, '\n'));
	}
	memset(id, 'x', PPC_NODE_ID_MAX + 1);
	id[PPC_NODE_ID_MAX + 1] = '\0';
	assert_int_equal(util_check_node_id(id, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "maximum is 63"));
}

static void
test_address_check(void **state)
{
	static const char *good[] = {
		"10.0.0.1", "127.0.0.1", "::1", "fe80::1", "head.example",
		"gpu-a", "a1.b2.example.com", "2001:db8::8a2e:370:7334",
	};
	static const char *bad[] = {
		"", " 10.0.0.1", "10.0.0.1 ", "a b", "a\nb", "[::1]",
		"head/x", "-head", "head-", "a..b", "10.0.0", "999.1.1.1",
		"host:80", "h\x7f", "caf\xc3\xa9.example",
	};
	char	 addr[PPC_ADDRESS_MAX + 2];
	char	 err[PPC_ERRLEN];
	size_t	 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (util_check_address(good[i], err, sizeof(err)) != 0)
			fail_msg("\"%s\": %s", good[i], err);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (util_check_address(bad[i], err, sizeof(err)) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_non_null(strstr(err, "invalid address"));
	}
	memset(addr, 'a', PPC_ADDRESS_MAX + 1);
	addr[PPC_ADDRESS_MAX + 1] = '\0';
	assert_int_equal(util_check_address(addr, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "maximum is 63"));
}

static void
test_split_host_port(void **state)
{
	char		 host[64], err[PPC_ERRLEN];
	uint16_t	 port = 0;

	assert_int_equal(util_split_host_port("0.0.0.0:7450", host,
	    sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "0.0.0.0");
	assert_int_equal(port, 7450);

	assert_int_equal(util_split_host_port("head.example:1", host,
	    sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "head.example");
	assert_int_equal(port, 1);

	assert_int_equal(util_split_host_port("[::1]:65535", host,
	    sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 65535);
}

static void
test_split_host_port_errors(void **state)
{
	static const char *bad[] = {
		"", "host", ":7450", "host:", "host:0", "host:65536",
		"host:-1", "host:80x", "::1:7450", "[::1]7450", "[::1",
		"[head]:80", "a b:80", "host:123456", "[]:80",
	};
	char		 host[64], err[PPC_ERRLEN];
	uint16_t	 port;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (util_split_host_port(bad[i], host, sizeof(host), &port,
		    err, sizeof(err)) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_true(err[0] != '\0');
	}
	/* A host that does not fit the caller's buffer. */
	assert_int_equal(util_split_host_port("head.example:80", host, 5,
	    &port, err, sizeof(err)), -1);
}

static char tmpdir[64];

static int
setup_tmpdir(void **state)
{
	strcpy(tmpdir, "/tmp/ppcoord-test-util.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_tmpdir(void **state)
{
	char		 path[512];
	struct dirent	*de;
	DIR		*d;

	if ((d = opendir(tmpdir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", tmpdir,
			    de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(tmpdir);
	return 0;
}

/* Counts entries of tmpdir other than . and .. */
static int
count_entries(void)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	d = opendir(tmpdir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_atomic_write_replaces(void **state)
{
	char		 path[512], err[PPC_ERRLEN];
	struct stat	 st;
	size_t		 len;
	char		*data;

	snprintf(path, sizeof(path), "%s/stage.env", tmpdir);
	assert_int_equal(util_write_file_atomic(path, "A=1\n", 4, 0644, err,
	    sizeof(err)), 0);
	assert_int_equal(util_write_file_atomic(path, "B=2\nC=3\n", 8, 0600,
	    err, sizeof(err)), 0);

	data = util_read_file(path, 1024, &len, err, sizeof(err));
	assert_non_null(data);
	assert_int_equal(len, 8);
	assert_string_equal(data, "B=2\nC=3\n");
	free(data);

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* No temporary file is left behind. */
	assert_int_equal(count_entries(), 1);
}

static void
test_atomic_write_missing_dir(void **state)
{
	char	 path[512], err[PPC_ERRLEN];

	snprintf(path, sizeof(path), "%s/no-such-dir/f", tmpdir);
	assert_int_equal(util_write_file_atomic(path, "x", 1, 0644, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "no-such-dir"));
	assert_int_equal(count_entries(), 0);
}

static void
test_atomic_write_over_dir(void **state)
{
	char	 path[512], err[PPC_ERRLEN];

	/* rename() over a non-empty folder fails; the temporary file must
	 * be removed. */
	snprintf(path, sizeof(path), "%s/d", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/d/x", tmpdir);
	assert_int_equal(util_write_file_atomic(path, "x", 1, 0644, err,
	    sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/d", tmpdir);
	assert_int_equal(util_write_file_atomic(path, "x", 1, 0644, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "rename"));
	assert_int_equal(count_entries(), 1);
	snprintf(path, sizeof(path), "%s/d/x", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/d", tmpdir);
	rmdir(path);
}

static void
test_read_file_limit(void **state)
{
	char	 path[512], err[PPC_ERRLEN];
	char	 big[10000];
	size_t	 len;
	char	*data;

	memset(big, 'z', sizeof(big));
	snprintf(path, sizeof(path), "%s/big", tmpdir);
	assert_int_equal(util_write_file_atomic(path, big, sizeof(big), 0644,
	    err, sizeof(err)), 0);

	data = util_read_file(path, sizeof(big), &len, err, sizeof(err));
	assert_non_null(data);
	assert_int_equal(len, sizeof(big));
	assert_int_equal(data[len], '\0');
	free(data);

	assert_null(util_read_file(path, sizeof(big) - 1, &len, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "larger than the limit of 9999 bytes"));

	snprintf(path, sizeof(path), "%s/empty", tmpdir);
	assert_int_equal(util_write_file_atomic(path, "", 0, 0644, err,
	    sizeof(err)), 0);
	data = util_read_file(path, 10, &len, err, sizeof(err));
	assert_non_null(data);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);

	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	assert_null(util_read_file(path, 10, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

static void
test_now_ms_monotonic(void **state)
{
	uint64_t	 a, b;

	a = util_now_ms();
	usleep(20000);
	b = util_now_ms();
	assert_true(b >= a + 15);
	assert_true(b < a + 5000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_units),
		cmocka_unit_test(test_size_errors),
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_duration_errors),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_node_id_valid),
		cmocka_unit_test(test_node_id_invalid),
		cmocka_unit_test(test_address_check),
		cmocka_unit_test(test_split_host_port),
		cmocka_unit_test(test_split_host_port_errors),
		cmocka_unit_test_setup_teardown(test_atomic_write_replaces,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomic_write_missing_dir,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_atomic_write_over_dir,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_read_file_limit,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test(test_now_ms_monotonic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
