/*
 * TLS contexts: handshakes over a socket pair between the head's server
 * context and the agent's client context, with certificates made by the
 * cluster CA in a temporary folder.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <fcntl.h>
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

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "tls.h"
#include "util.h"

/* Handshake steps before a test gives up, far more than the few that a
 * TLS 1.3 handshake over a socket pair takes. */
#define HANDSHAKE_STEPS_MAX	1000

struct fixture {
	char	 dir[64];	/* CA, "head", "node-a", "127.0.0.1" */
	char	 other[80];	/* another CA and its "node-a" */
};

struct handshake {
	int	 server_rc;	/* 1 done, -1 failed */
	int	 client_rc;
	long	 server_verify;	/* SSL_get_verify_result */
	long	 client_verify;
	char	 server_id[PPC_NODE_ID_MAX + 1];
	char	 client_id[PPC_NODE_ID_MAX + 1];
};

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

static void
make_ca(const char *dir, const char **ids, size_t nids)
{
	char	err[PPC_ERRLEN] = "";
	size_t	i;

	if (ca_init(dir, err, sizeof(err)) != 0)
		fail_msg("ca_init %s: %s", dir, err);
	for (i = 0; i < nids; i++)
		if (ca_issue(dir, ids[i], 825, err, sizeof(err)) != 0)
			fail_msg("ca_issue %s: %s", ids[i], err);
}

static int
setup(void **state)
{
	static const char *ids[] = { "head", "node-a", "127.0.0.1" };
	static const char *other_ids[] = { "node-a" };
	struct fixture	*f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ppcoord-test-tls.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->other, sizeof(f->other), "%s/other", f->dir);
	make_ca(f->dir, ids, 3);
	make_ca(f->other, other_ids, 1);
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

static const char *
in_dir(const char *dir, const char *name)
{
	static char	buf[4][PATH_MAX];
	static int	next;
	char		*p = buf[next++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

static SSL_CTX *
server_ctx(const struct fixture *f, const char *id)
{
	char		 cert[PATH_MAX], key[PATH_MAX], err[PPC_ERRLEN] = "";
	SSL_CTX		*ctx;

	snprintf(cert, sizeof(cert), "%s/%s.pem", f->dir, id);
	snprintf(key, sizeof(key), "%s/%s.key", f->dir, id);
	ctx = tls_server_ctx(in_dir(f->dir, "ca.pem"), cert, key, err,
	    sizeof(err));
	if (ctx == NULL)
		fail_msg("tls_server_ctx: %s", err);
	return ctx;
}

/* A client context for certificate `id` issued by the CA in cert_dir,
 * trusting the CA in f->dir. */
static SSL_CTX *
client_ctx(const struct fixture *f, const char *cert_dir, const char *id)
{
	char		 cert[PATH_MAX], key[PATH_MAX], err[PPC_ERRLEN] = "";
	SSL_CTX		*ctx;

	snprintf(cert, sizeof(cert), "%s/%s.pem", cert_dir, id);
	snprintf(key, sizeof(key), "%s/%s.key", cert_dir, id);
	ctx = tls_client_ctx(in_dir(f->dir, "ca.pem"), cert, key, err,
	    sizeof(err));
	if (ctx == NULL)
		fail_msg("tls_client_ctx: %s", err);
	return ctx;
}

/* Advances one side of the handshake. Returns 1 done, 0 in progress, -1
 * failed. */
static int
step(SSL *ssl)
{
	int	rc, e;

	ERR_clear_error();
	if ((rc = SSL_do_handshake(ssl)) == 1)
		return 1;
	e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	return -1;
}

/*
 * Runs a handshake between the two contexts over a socket pair. `host` is
 * the name the client checks, or NULL for none. After the handshake each
 * side reads once, because in TLS 1.3 the client finishes before the
 * server has checked the client certificate and learns of a rejection
 * only from the alert that follows.
 */
static void
run_handshake(SSL_CTX *sctx, SSL_CTX *cctx, const char *host,
    struct handshake *h)
{
	SSL	*server, *client;
	int	 sv[2], i;
	char	 err[PPC_ERRLEN] = "", byte;

	memset(h, 0, sizeof(*h));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);

	server = SSL_new(sctx);
	client = SSL_new(cctx);
	assert_non_null(server);
	assert_non_null(client);
	SSL_set_fd(server, sv[0]);
	SSL_set_fd(client, sv[1]);
	SSL_set_accept_state(server);
	SSL_set_connect_state(client);
	if (host != NULL && tls_client_set_host(client, host, err,
	    sizeof(err)) != 0)
		fail_msg("tls_client_set_host: %s", err);

	for (i = 0; i < HANDSHAKE_STEPS_MAX; i++) {
		if (h->client_rc == 0)
			h->client_rc = step(client);
		if (h->server_rc == 0)
			h->server_rc = step(server);
		if (h->client_rc != 0 && h->server_rc != 0)
			break;
		if (h->client_rc == -1 || h->server_rc == -1) {
			/* Let the other side read the alert, then stop. */
			if (h->client_rc == 0)
				h->client_rc = step(client) == 1 ? 1 : -1;
			if (h->server_rc == 0)
				h->server_rc = step(server) == 1 ? 1 : -1;
			break;
		}
	}
	assert_true(i < HANDSHAKE_STEPS_MAX);

	/* Surfaces a rejection of the client that came after its Finished. */
	if (h->client_rc == 1 && h->server_rc == -1 &&
	    SSL_read(client, &byte, 1) <= 0 &&
	    SSL_get_error(client, 0) != SSL_ERROR_WANT_READ)
		h->client_rc = -1;

	h->server_verify = SSL_get_verify_result(server);
	h->client_verify = SSL_get_verify_result(client);
	if (h->server_rc == 1)
		tls_peer_identity(server, h->server_id, sizeof(h->server_id),
		    err, sizeof(err));
	if (h->client_rc == 1)
		tls_peer_identity(client, h->client_id, sizeof(h->client_id),
		    err, sizeof(err));

	SSL_free(server);
	SSL_free(client);
	close(sv[0]);
	close(sv[1]);
}

static void
test_handshake_gives_identities(void **state)
{
	struct fixture		*f = *state;
	struct handshake	 h;
	SSL_CTX			*sctx = server_ctx(f, "head");
	SSL_CTX			*cctx = client_ctx(f, f->dir, "node-a");

	run_handshake(sctx, cctx, "head", &h);
	assert_int_equal(h.server_rc, 1);
	assert_int_equal(h.client_rc, 1);
	assert_int_equal(h.server_verify, X509_V_OK);
	assert_int_equal(h.client_verify, X509_V_OK);
	assert_string_equal(h.server_id, "node-a");
	assert_string_equal(h.client_id, "head");

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void
test_handshake_is_tls13(void **state)
{
	struct fixture	*f = *state;
	SSL_CTX		*sctx = server_ctx(f, "head");
	SSL_CTX		*cctx = client_ctx(f, f->dir, "node-a");
	SSL		*ssl;

	assert_int_equal(SSL_CTX_get_min_proto_version(sctx), TLS1_3_VERSION);
	assert_int_equal(SSL_CTX_get_max_proto_version(sctx), TLS1_3_VERSION);
	assert_int_equal(SSL_CTX_get_min_proto_version(cctx), TLS1_3_VERSION);
	assert_true(SSL_CTX_get_options(sctx) & SSL_OP_NO_TICKET);
	assert_true(SSL_CTX_get_mode(sctx) & SSL_MODE_RELEASE_BUFFERS);
	assert_int_equal(SSL_CTX_get_num_tickets(sctx), 0);

	ssl = SSL_new(sctx);
	assert_non_null(ssl);
	assert_int_equal(SSL_get_verify_mode(ssl),
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	SSL_free(ssl);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void
test_tls12_client_rejected(void **state)
{
	struct fixture		*f = *state;
	struct handshake	 h;
	SSL_CTX			*sctx = server_ctx(f, "head");
	SSL_CTX			*cctx = client_ctx(f, f->dir, "node-a");

	assert_int_equal(SSL_CTX_set_min_proto_version(cctx, TLS1_2_VERSION),
	    1);
	assert_int_equal(SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION),
	    1);
	run_handshake(sctx, cctx, "head", &h);
	assert_int_equal(h.server_rc, -1);
	assert_int_equal(h.client_rc, -1);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void
test_ip_address_host_checked(void **state)
{
	struct fixture		*f = *state;
	struct handshake	 h;
	SSL_CTX			*sctx = server_ctx(f, "127.0.0.1");
	SSL_CTX			*cctx = client_ctx(f, f->dir, "node-a");

	run_handshake(sctx, cctx, "127.0.0.1", &h);
	assert_int_equal(h.client_rc, 1);
	assert_int_equal(h.server_rc, 1);
	assert_string_equal(h.client_id, "127.0.0.1");

	/* The head's certificate names no IP address. */
	SSL_CTX_free(sctx);
	sctx = server_ctx(f, "head");
	run_handshake(sctx, cctx, "127.0.0.1", &h);
	assert_int_equal(h.client_rc, -1);
	assert_int_equal(h.client_verify, X509_V_ERR_IP_ADDRESS_MISMATCH);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void
test_host_name_mismatch_rejected(void **state)
{
	struct fixture		*f = *state;
	struct handshake	 h;
	SSL_CTX			*sctx = server_ctx(f, "head");
	SSL_CTX			*cctx = client_ctx(f, f->dir, "node-a");

	run_handshake(sctx, cctx, "head.example", &h);
	assert_int_equal(h.client_rc, -1);
	assert_int_equal(h.server_rc, -1);
	assert_int_equal(h.client_verify, X509_V_ERR_HOSTNAME_MISMATCH);

	/* A node certificate from the same CA is not the head. */
	run_handshake(sctx, cctx, "node-a", &h);
	assert_int_equal(h.client_rc, -1);
	assert_int_equal(h.client_verify, X509_V_ERR_HOSTNAME_MISMATCH);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void
test_client_from_other_ca_rejected(void **state)
{
	struct fixture		*f = *state;
	struct handshake	 h;
	SSL_CTX			*sctx = server_ctx(f, "head");
	SSL_CTX			*cctx = client_ctx(f, f->other, "node-a");

	run_handshake(sctx, cctx, "head", &h);
	assert_int_equal(h.server_rc, -1);
	assert_int_equal(h.client_rc, -1);
	assert_int_equal(h.server_verify,
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void
test_client_without_cert_rejected(void **state)
{
	struct fixture		*f = *state;
	struct handshake	 h;
	SSL_CTX			*sctx = server_ctx(f, "head");
	SSL_CTX			*cctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(cctx);
	assert_int_equal(SSL_CTX_load_verify_locations(cctx,
	    in_dir(f->dir, "ca.pem"), NULL), 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);

	run_handshake(sctx, cctx, "head", &h);
	assert_int_equal(h.server_rc, -1);
	assert_int_equal(h.client_rc, -1);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

/*
 * Writes DIR/NAME.pem and DIR/NAME.key: a P-256 certificate signed by the
 * CA in dir with the given extendedKeyUsage and a validity that starts
 * `from_days` from now, for the cases ca_issue never produces.
 */
static void
issue_custom(const char *dir, const char *name, const char *eku,
    int from_days, int to_days)
{
	FILE		*fp;
	X509		*ca_cert, *cert;
	EVP_PKEY	*ca_key, *key;
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	char		 san[128], path[PATH_MAX];

	fp = fopen(in_dir(dir, "ca.pem"), "r");
	assert_non_null(fp);
	ca_cert = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	fp = fopen(in_dir(dir, "ca.key"), "r");
	assert_non_null(fp);
	ca_key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(ca_cert);
	assert_non_null(ca_key);

	key = EVP_EC_gen("P-256");
	cert = X509_new();
	assert_non_null(key);
	assert_non_null(cert);
	X509_set_version(cert, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
	X509_NAME_add_entry_by_NID(X509_get_subject_name(cert),
	    NID_commonName, MBSTRING_UTF8, (const unsigned char *)name, -1,
	    -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(ca_cert));
	X509_time_adj_ex(X509_getm_notBefore(cert), from_days, 0, NULL);
	X509_time_adj_ex(X509_getm_notAfter(cert), to_days, 0, NULL);
	X509_set_pubkey(cert, key);

	X509V3_set_ctx(&ctx, ca_cert, cert, NULL, NULL, 0);
	snprintf(san, sizeof(san), "DNS:%s", name);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
	assert_non_null(ext);
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, eku);
	assert_non_null(ext);
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(cert, ca_key, EVP_sha256()) > 0);

	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, cert), 1);
	fclose(fp);

	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL,
	    NULL), 1);
	fclose(fp);

	X509_free(cert);
	X509_free(ca_cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
}

static void
test_client_without_clientauth_rejected(void **state)
{
	struct fixture		*f = *state;
	struct handshake	 h;
	SSL_CTX			*sctx, *cctx;

	issue_custom(f->dir, "node-noclient", "serverAuth", 0, 30);
	sctx = server_ctx(f, "head");
	cctx = client_ctx(f, f->dir, "node-noclient");

	run_handshake(sctx, cctx, "head", &h);
	assert_int_equal(h.server_rc, -1);
	assert_int_equal(h.server_verify, X509_V_ERR_INVALID_PURPOSE);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void
test_server_without_serverauth_rejected(void **state)
{
	struct fixture		*f = *state;
	struct handshake	 h;
	SSL_CTX			*sctx, *cctx;

	issue_custom(f->dir, "head-noserver", "clientAuth", 0, 30);
	sctx = server_ctx(f, "head-noserver");
	cctx = client_ctx(f, f->dir, "node-a");

	run_handshake(sctx, cctx, "head-noserver", &h);
	assert_int_equal(h.client_rc, -1);
	assert_int_equal(h.client_verify, X509_V_ERR_INVALID_PURPOSE);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void
test_expired_client_rejected(void **state)
{
	struct fixture		*f = *state;
	struct handshake	 h;
	SSL_CTX			*sctx, *cctx;

	issue_custom(f->dir, "node-expired", "clientAuth", -30, -1);
	sctx = server_ctx(f, "head");
	cctx = client_ctx(f, f->dir, "node-expired");

	run_handshake(sctx, cctx, "head", &h);
	assert_int_equal(h.server_rc, -1);
	assert_int_equal(h.server_verify, X509_V_ERR_CERT_HAS_EXPIRED);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void
test_future_client_rejected(void **state)
{
	struct fixture		*f = *state;
	struct handshake	 h;
	SSL_CTX			*sctx, *cctx;

	issue_custom(f->dir, "node-future", "clientAuth", 30, 60);
	sctx = server_ctx(f, "head");
	cctx = client_ctx(f, f->dir, "node-future");

	run_handshake(sctx, cctx, "head", &h);
	assert_int_equal(h.server_rc, -1);
	assert_int_equal(h.server_verify, X509_V_ERR_CERT_NOT_YET_VALID);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void
test_missing_file_names_rejected(void **state)
{
	char	err[PPC_ERRLEN] = "";

	assert_null(tls_server_ctx(NULL, "", "", err, sizeof(err)));
	assert_non_null(strstr(err, "tls.ca_file"));
}

static void
test_cert_file_identity(void **state)
{
	struct fixture	*f = *state;
	char		 id[PPC_NODE_ID_MAX + 1], err[PPC_ERRLEN] = "";

	assert_int_equal(tls_cert_file_identity(in_dir(f->dir, "node-a.pem"),
	    id, sizeof(id), err, sizeof(err)), 0);
	assert_string_equal(id, "node-a");

	/* The CA's CN is no valid node id. */
	assert_int_equal(tls_cert_file_identity(in_dir(f->dir, "ca.pem"),
	    id, sizeof(id), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ca.pem"));
	assert_non_null(strstr(err, "invalid node id"));

	/* An id that does not fit the caller's buffer is an error. */
	assert_int_equal(tls_cert_file_identity(in_dir(f->dir, "node-a.pem"),
	    id, 4, err, sizeof(err)), -1);

	assert_int_equal(tls_cert_file_identity(in_dir(f->dir, "node-a.key"),
	    id, sizeof(id), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "node-a.key"));
	assert_non_null(strstr(err, "no start line"));

	assert_int_equal(tls_cert_file_identity(in_dir(f->dir, "missing.pem"),
	    id, sizeof(id), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing.pem"));
	assert_non_null(strstr(err, "No such file"));
}

static int
check_cert(const char *ca, const char *cert, int purpose, char *err,
    size_t errlen)
{
	err[0] = '\0';
	return tls_check_cert_file(ca, cert, purpose, err, errlen);
}

static void
test_check_cert_file(void **state)
{
	struct fixture	*f = *state;
	char		 ca[PATH_MAX], err[PPC_ERRLEN];

	/* in_dir reuses its buffers, so the CA path gets its own copy. */
	snprintf(ca, sizeof(ca), "%s", in_dir(f->dir, "ca.pem"));

	assert_int_equal(check_cert(ca, in_dir(f->dir, "node-a.pem"),
	    X509_PURPOSE_SSL_CLIENT, err, sizeof(err)), 0);
	assert_int_equal(check_cert(ca, in_dir(f->dir, "head.pem"),
	    X509_PURPOSE_SSL_SERVER, err, sizeof(err)), 0);

	/* A certificate from another CA. */
	assert_int_equal(check_cert(ca, in_dir(f->other, "node-a.pem"),
	    X509_PURPOSE_SSL_CLIENT, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not valid for the cluster CA"));
	assert_non_null(strstr(err, in_dir(f->other, "node-a.pem")));
	assert_non_null(strstr(err, "unable to get local issuer"));

	issue_custom(f->dir, "node-check-expired", "clientAuth", -30, -1);
	assert_int_equal(check_cert(ca, in_dir(f->dir,
	    "node-check-expired.pem"), X509_PURPOSE_SSL_CLIENT, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, ": certificate has expired"));

	issue_custom(f->dir, "node-check-future", "clientAuth", 30, 60);
	assert_int_equal(check_cert(ca, in_dir(f->dir,
	    "node-check-future.pem"), X509_PURPOSE_SSL_CLIENT, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not yet valid"));

	/* Server authentication only: no good as a client certificate. */
	issue_custom(f->dir, "node-check-server", "serverAuth", 0, 30);
	assert_int_equal(check_cert(ca, in_dir(f->dir,
	    "node-check-server.pem"), X509_PURPOSE_SSL_CLIENT, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "unsuitable certificate purpose"));

	assert_int_equal(check_cert(ca, in_dir(f->dir, "missing.pem"),
	    X509_PURPOSE_SSL_CLIENT, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing.pem"));
	assert_int_equal(check_cert(in_dir(f->dir, "missing-ca.pem"),
	    in_dir(f->dir, "node-a.pem"), X509_PURPOSE_SSL_CLIENT, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "missing-ca.pem"));
	assert_int_equal(check_cert(ca, in_dir(f->dir, "node-a.key"),
	    X509_PURPOSE_SSL_CLIENT, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "node-a.key"));
}

static void
test_context_errors_name_file(void **state)
{
	struct fixture	*f = *state;
	char		 err[PPC_ERRLEN] = "";

	assert_null(tls_server_ctx(in_dir(f->dir, "missing-ca.pem"),
	    in_dir(f->dir, "head.pem"), in_dir(f->dir, "head.key"), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "missing-ca.pem"));
	assert_non_null(strstr(err, "No such file"));

	assert_null(tls_client_ctx(in_dir(f->dir, "ca.pem"),
	    in_dir(f->dir, "head.key"), in_dir(f->dir, "head.key"), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "certificate"));
	assert_non_null(strstr(err, "head.key"));

	/* A key that belongs to another certificate. */
	assert_null(tls_server_ctx(in_dir(f->dir, "ca.pem"),
	    in_dir(f->dir, "head.pem"), in_dir(f->dir, "node-a.key"), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "node-a.key"));
	assert_non_null(strstr(err, "mismatch"));
	assert_null(strstr(err, "PRIVATE KEY"));
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_set_host_accepts_forms(void **state)
{
	struct fixture	*f = *state;
	SSL_CTX		*cctx = client_ctx(f, f->dir, "node-a");
	SSL		*ssl = SSL_new(cctx);
	char		 err[PPC_ERRLEN] = "";

	assert_non_null(ssl);
	assert_int_equal(tls_client_set_host(ssl, "", err, sizeof(err)), -1);
	assert_int_equal(tls_client_set_host(ssl, "[::1]", err, sizeof(err)),
	    0);
	assert_int_equal(tls_client_set_host(ssl, "head.example", err,
	    sizeof(err)), 0);
	assert_string_equal(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name),
	    "head.example");
	SSL_free(ssl);
	SSL_CTX_free(cctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_gives_identities),
		cmocka_unit_test(test_handshake_is_tls13),
		cmocka_unit_test(test_tls12_client_rejected),
		cmocka_unit_test(test_ip_address_host_checked),
		cmocka_unit_test(test_host_name_mismatch_rejected),
		cmocka_unit_test(test_client_from_other_ca_rejected),
		cmocka_unit_test(test_client_without_cert_rejected),
		cmocka_unit_test(test_client_without_clientauth_rejected),
		cmocka_unit_test(test_server_without_serverauth_rejected),
		cmocka_unit_test(test_expired_client_rejected),
		cmocka_unit_test(test_future_client_rejected),
		cmocka_unit_test(test_missing_file_names_rejected),
		cmocka_unit_test(test_cert_file_identity),
		cmocka_unit_test(test_check_cert_file),
		cmocka_unit_test(test_context_errors_name_file),
		cmocka_unit_test(test_set_host_accepts_forms),
	};

	/* One CA for the whole group: key generation is the slow part. */
	return cmocka_run_group_tests(tests, setup, teardown);
}
