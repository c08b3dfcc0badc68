/*
 * Cluster CA: ca_init and ca_issue write the files, modes and certificate
 * extensions that the TLS layer relies on, and never overwrite a file.
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

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "util.h"

struct fixture {
	char	dir[64];
};

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ppcoord-test-ca.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
path_in(char *buf, size_t len, const struct fixture *f, const char *name)
{
	snprintf(buf, len, "%s/%s", f->dir, name);
}

static mode_t
file_mode(const char *path)
{
	struct stat	st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static int
file_exists(const char *path)
{
	struct stat	st;

	return stat(path, &st) == 0;
}

static X509 *
read_cert(const char *path)
{
	FILE	*fp;
	X509	*cert;

	fp = fopen(path, "r");
	assert_non_null(fp);
	cert = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(cert);
	return cert;
}

static void
init_ca(const struct fixture *f)
{
	char	err[PPC_ERRLEN] = "";

	if (ca_init(f->dir, err, sizeof(err)) != 0)
		fail_msg("ca_init: %s", err);
}

static void
issue(const struct fixture *f, const char *id)
{
	char	err[PPC_ERRLEN] = "";

	if (ca_issue(f->dir, id, 825, err, sizeof(err)) != 0)
		fail_msg("ca_issue %s: %s", id, err);
}

/* Verifies cert against the CA in the fixture with the given purpose. */
static int
verify_cert(const struct fixture *f, X509 *cert, int purpose)
{
	char		 path[PATH_MAX];
	X509_STORE	*store;
	X509_STORE_CTX	*ctx;
	int		 ok;

	path_in(path, sizeof(path), f, "ca.pem");
	store = X509_STORE_new();
	assert_non_null(store);
	assert_int_equal(X509_STORE_load_file(store, path), 1);
	ctx = X509_STORE_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
	X509_STORE_CTX_set_purpose(ctx, purpose);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static void
test_init_creates_files_and_modes(void **state)
{
	struct fixture	*f = *state;
	char		 path[PATH_MAX];
	X509		*cert;
	X509_NAME	*subject;
	char		 cn[64], err[PPC_ERRLEN] = "";
	int		 days, secs;

	/* A missing folder, two levels deep, is created. */
	path_in(path, sizeof(path), f, "a/b");
	if (ca_init(path, err, sizeof(err)) != 0)
		fail_msg("ca_init: %s", err);
	assert_int_equal(file_mode(path), 0700);

	path_in(path, sizeof(path), f, "a/b/ca.key");
	assert_int_equal(file_mode(path), 0600);
	path_in(path, sizeof(path), f, "a/b/ca.pem");
	assert_int_equal(file_mode(path), 0644);

	cert = read_cert(path);
	subject = X509_get_subject_name(cert);
	assert_true(X509_NAME_get_text_by_NID(subject, NID_commonName, cn,
	    sizeof(cn)) > 0);
	assert_string_equal(cn, "ppcoord cluster CA");
	assert_int_equal(X509_NAME_cmp(subject, X509_get_issuer_name(cert)),
	    0);
	assert_int_equal(X509_check_ca(cert), 1);
	assert_true(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN);
	assert_true(X509_get_key_usage(cert) & KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(cert));
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(cert)), 256);

	/* About ten years of validity. */
	assert_true(X509_cmp_time(X509_get0_notAfter(cert), NULL) > 0);
	assert_int_equal(ASN1_TIME_diff(&days, &secs,
	    X509_get0_notBefore(cert), X509_get0_notAfter(cert)), 1);
	assert_in_range(days, 3650, 3650);
	X509_free(cert);
}

static void
test_init_rejects_existing_ca(void **state)
{
	struct fixture	*f = *state;
	char		 err[PPC_ERRLEN] = "";
	char		 path[PATH_MAX];
	X509		*before, *after;

	init_ca(f);
	path_in(path, sizeof(path), f, "ca.pem");
	before = read_cert(path);

	assert_int_equal(ca_init(f->dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already exists"));

	after = read_cert(path);
	assert_int_equal(X509_cmp(before, after), 0);
	X509_free(before);
	X509_free(after);
}

static void
test_init_rejects_lone_key(void **state)
{
	struct fixture	*f = *state;
	char		 err[PPC_ERRLEN] = "";
	char		 path[PATH_MAX];
	FILE		*fp;

	path_in(path, sizeof(path), f, "ca.key");
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);

	assert_int_equal(ca_init(f->dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ca.key already exists"));
	path_in(path, sizeof(path), f, "ca.pem");
	assert_false(file_exists(path));
}

static void
test_init_rejects_empty_folder(void **state)
{
	char	err[PPC_ERRLEN] = "";

	assert_int_equal(ca_init("", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing CA folder"));
	assert_int_equal(ca_issue("", "gpu-a", 825, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing CA folder"));
}

static void
test_issue_node_certificate(void **state)
{
	struct fixture		*f = *state;
	char			 path[PATH_MAX], cn[64];
	X509			*cert;
	GENERAL_NAMES		*names;
	const GENERAL_NAME	*gn;
	int			 days, secs;

	init_ca(f);
	issue(f, "gpu-a");

	path_in(path, sizeof(path), f, "gpu-a.key");
	assert_int_equal(file_mode(path), 0600);
	path_in(path, sizeof(path), f, "gpu-a.pem");
	assert_int_equal(file_mode(path), 0644);
	cert = read_cert(path);

	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
	    NID_commonName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, "gpu-a");

	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	assert_non_null(names);
	assert_int_equal(sk_GENERAL_NAME_num(names), 1);
	gn = sk_GENERAL_NAME_value(names, 0);
	assert_int_equal(gn->type, GEN_DNS);
	assert_string_equal(ASN1_STRING_get0_data(gn->d.dNSName), "gpu-a");
	GENERAL_NAMES_free(names);

	assert_true(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER);
	assert_true(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT);
	assert_true(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_check_ca(cert), 0);
	assert_non_null(X509_get0_authority_key_id(cert));
	assert_int_equal(X509_get_signature_nid(cert),
	    NID_ecdsa_with_SHA256);

	assert_int_equal(ASN1_TIME_diff(&days, &secs,
	    X509_get0_notBefore(cert), X509_get0_notAfter(cert)), 1);
	assert_int_equal(days, 825);
	assert_in_range(secs, 3590, 3610);

	assert_int_equal(verify_cert(f, cert, X509_PURPOSE_SSL_CLIENT), 1);
	assert_int_equal(verify_cert(f, cert, X509_PURPOSE_SSL_SERVER), 1);
	X509_free(cert);
}

static void
test_issue_ip_literal_adds_ip_san(void **state)
{
	struct fixture		*f = *state;
	char			 path[PATH_MAX];
	X509			*cert;

	init_ca(f);
	issue(f, "10.0.0.7");
	path_in(path, sizeof(path), f, "10.0.0.7.pem");
	cert = read_cert(path);
	assert_int_equal(X509_check_ip_asc(cert, "10.0.0.7", 0), 1);
	assert_int_equal(X509_check_host(cert, "10.0.0.7", 0, 0, NULL), 1);
	X509_free(cert);

	/* A name that only looks numeric gets no IP SAN. */
	issue(f, "10.0.0");
	path_in(path, sizeof(path), f, "10.0.0.pem");
	cert = read_cert(path);
	assert_int_equal(X509_check_ip_asc(cert, "10.0.0.0", 0), 0);
	X509_free(cert);
}

static void
test_issue_rejects_existing_node(void **state)
{
	struct fixture	*f = *state;
	char		 err[PPC_ERRLEN] = "";
	char		 path[PATH_MAX];
	X509		*before, *after;

	init_ca(f);
	issue(f, "gpu-b");
	path_in(path, sizeof(path), f, "gpu-b.pem");
	before = read_cert(path);

	assert_int_equal(ca_issue(f->dir, "gpu-b", 825, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "gpu-b.pem already exists"));
	after = read_cert(path);
	assert_int_equal(X509_cmp(before, after), 0);
	X509_free(before);
	X509_free(after);
}

static void
test_issue_rejects_invalid_node_id(void **state)
{
	struct fixture	*f = *state;
	static const char *bad[] = { "", "../etc", "a/b", "-x", ".hidden",
	    "gpu a", "gpu\na" };
	char		 err[PPC_ERRLEN];
	size_t		 i;

	init_ca(f);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(ca_issue(f->dir, bad[i], 825, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "node id"));
	}

	assert_int_equal(ca_issue(f->dir, "ca", 825, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "reserved"));
}

static void
test_issue_rejects_bad_days(void **state)
{
	struct fixture	*f = *state;
	char		 err[PPC_ERRLEN] = "";
	char		 path[PATH_MAX];

	init_ca(f);
	assert_int_equal(ca_issue(f->dir, "gpu-c", 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0 days"));
	path_in(path, sizeof(path), f, "gpu-c.key");
	assert_false(file_exists(path));
}

static void
test_issue_without_ca_fails(void **state)
{
	struct fixture	*f = *state;
	char		 err[PPC_ERRLEN] = "";
	char		 path[PATH_MAX];

	assert_int_equal(ca_issue(f->dir, "gpu-d", 825, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "ca.pem"));
	assert_non_null(strstr(err, "ca init"));
	path_in(path, sizeof(path), f, "gpu-d.key");
	assert_false(file_exists(path));
}

static void
test_issue_rejects_mismatched_ca_key(void **state)
{
	struct fixture	*f = *state;
	char		 err[PPC_ERRLEN] = "";
	char		 from[PATH_MAX], to[PATH_MAX];

	init_ca(f);
	issue(f, "gpu-e");

	/* Put a node key in place of the CA key. */
	path_in(from, sizeof(from), f, "gpu-e.key");
	path_in(to, sizeof(to), f, "ca.key");
	assert_int_equal(rename(from, to), 0);

	assert_int_equal(ca_issue(f->dir, "gpu-f", 825, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "does not match"));
}

static void
test_issue_mem_signed_by_ca(void **state)
{
	struct fixture	*f = *state;
	char		 err[PPC_ERRLEN] = "";
	X509		*ca_cert, *cert;
	EVP_PKEY	*ca_key, *key;

	init_ca(f);
	if (ca_load(f->dir, &ca_cert, &ca_key, err, sizeof(err)) != 0)
		fail_msg("ca_load: %s", err);
	if (ca_issue_mem(ca_cert, ca_key, "node-00001", 2, &cert, &key, err,
	    sizeof(err)) != 0)
		fail_msg("ca_issue_mem: %s", err);

	assert_int_equal(X509_check_private_key(cert, key), 1);
	assert_int_equal(X509_check_host(cert, "node-00001", 0, 0, NULL), 1);
	assert_int_equal(verify_cert(f, cert, X509_PURPOSE_SSL_CLIENT), 1);
	X509_free(cert);
	EVP_PKEY_free(key);

	assert_int_equal(ca_issue_mem(ca_cert, ca_key, "bad id", 2, &cert,
	    &key, err, sizeof(err)), -1);
	assert_null(cert);
	assert_null(key);
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_init_creates_files_and_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_init_rejects_existing_ca, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_init_rejects_lone_key, setup, teardown),
		cmocka_unit_test(test_init_rejects_empty_folder),
		cmocka_unit_test_setup_teardown(
		    test_issue_node_certificate, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_issue_ip_literal_adds_ip_san, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_issue_rejects_existing_node, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_issue_rejects_invalid_node_id, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_issue_rejects_bad_days, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_issue_without_ca_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_issue_rejects_mismatched_ca_key, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_issue_mem_signed_by_ca, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
