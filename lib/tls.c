/*
 * TLS contexts for the head and the agent, and peer identity.
 *
 * Both ends speak TLS 1.3 only and present certificates signed by the
 * cluster CA. The head keeps one SSL per agent connection, so the server
 * context trims per-connection memory: no session tickets, no session
 * cache, and read/write buffers released while a connection is idle.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "util.h"

/* A chain of leaf, intermediate and root is the deepest a cluster needs. */
#define TLS_VERIFY_DEPTH	4

static const unsigned char tls_session_id_context[] = "ppcoord";

/* Returns the text of one queued error, or NULL when it adds nothing. */
static const char *
tls_reason(unsigned long e, char *buf, size_t len)
{
	const char	*reason;
	int		 code;

	if (ERR_SYSTEM_ERROR(e))
		return strerror(ERR_GET_REASON(e));

	/* Codes such as ERR_R_PEM_LIB ("PEM lib") only name the layer that
	 * passed the error up. */
	code = ERR_GET_REASON(e) & ~(ERR_RFLAG_COMMON | ERR_RFLAG_FATAL);
	if (ERR_COMMON_ERROR(e) && code < 256)
		return NULL;

	if ((reason = ERR_reason_error_string(e)) == NULL) {
		ERR_error_string_n(e, buf, len);
		reason = buf;
	}
	return reason;
}

void
tls_error_string(char *buf, size_t len)
{
	unsigned long	 e;
	const char	*reason, *data;
	char		 code[256];
	size_t		 used;
	int		 flags;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data,
	    &flags)) != 0) {
		reason = tls_reason(e, code, sizeof(code));

		/* OpenSSL often queues the same reason at several layers. */
		if (reason == NULL || strcasestr(buf, reason) != NULL)
			continue;

		used = strlen(buf);
		if (used + 1 >= len)
			continue;
		snprintf(buf + used, len - used, ": %s", reason);

		/* The details of a system error repeat the file name. */
		if ((flags & ERR_TXT_STRING) && data != NULL &&
		    *data != '\0' && !ERR_SYSTEM_ERROR(e)) {
			used = strlen(buf);
			if (used + 1 < len)
				snprintf(buf + used, len - used, " (%s)", data);
		}
	}
}

void
tls_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errlen == 0) {
		ERR_clear_error();
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	tls_error_string(err, errlen);
}

/* Loads the CA, the certificate chain and the key, and pins TLS 1.3. */
static int
tls_ctx_setup(SSL_CTX *ctx, const char *ca_file, const char *cert_file,
    const char *key_file, char *err, size_t errlen)
{
	if (ca_file == NULL || *ca_file == '\0' || cert_file == NULL ||
	    *cert_file == '\0' || key_file == NULL || *key_file == '\0') {
		snprintf(err, errlen, "missing TLS file name: set tls.ca_file, "
		    "tls.cert_file and tls.key_file");
		return -1;
	}

	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		tls_fail(err, errlen, "failed to restrict TLS to version 1.3");
		return -1;
	}

	/* Only the cluster CA is trusted: the system store is never loaded. */
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		tls_fail(err, errlen, "failed to load CA certificates from %s",
		    ca_file);
		return -1;
	}

	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_fail(err, errlen, "failed to load certificate %s",
		    cert_file);
		return -1;
	}

	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		tls_fail(err, errlen, "failed to load private key %s for "
		    "certificate %s", key_file, cert_file);
		return -1;
	}

	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_fail(err, errlen, "private key %s does not match "
		    "certificate %s", key_file, cert_file);
		return -1;
	}

	SSL_CTX_set_verify_depth(ctx, TLS_VERIFY_DEPTH);
	return 0;
}

SSL_CTX *
tls_server_ctx(const char *ca_file, const char *cert_file,
    const char *key_file, char *err, size_t errlen)
{
	SSL_CTX			*ctx;
	STACK_OF(X509_NAME)	*names;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_fail(err, errlen, "failed to create TLS server context");
		return NULL;
	}

	if (tls_ctx_setup(ctx, ca_file, cert_file, key_file, err,
	    errlen) == -1)
		goto fail;

	SSL_CTX_set_verify(ctx,
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);

	/* Rejects a client certificate whose extendedKeyUsage lacks
	 * clientAuth. A certificate with no extendedKeyUsage at all passes,
	 * because OpenSSL's purpose check then allows any purpose. */
	if (SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1) {
		tls_fail(err, errlen, "failed to require the TLS client "
		    "purpose on client certificates");
		goto fail;
	}

	/* The CertificateRequest names the cluster CA, so a client with
	 * several certificates picks the right one. */
	if ((names = SSL_load_client_CA_file(ca_file)) == NULL) {
		tls_fail(err, errlen, "failed to read CA names from %s",
		    ca_file);
		goto fail;
	}
	SSL_CTX_set_client_CA_list(ctx, names);

	/* Each agent keeps one long-lived connection, so resumption gains
	 * nothing. Tickets and the session cache would only cost memory. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, tls_session_id_context,
	    sizeof(tls_session_id_context) - 1);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_client_ctx(const char *ca_file, const char *cert_file,
    const char *key_file, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_fail(err, errlen, "failed to create TLS client context");
		return NULL;
	}

	if (tls_ctx_setup(ctx, ca_file, cert_file, key_file, err,
	    errlen) == -1)
		goto fail;

	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1) {
		tls_fail(err, errlen, "failed to require the TLS server "
		    "purpose on server certificates");
		goto fail;
	}

	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_client_set_host(SSL *ssl, const char *host, char *err, size_t errlen)
{
	X509_VERIFY_PARAM	*param;
	unsigned char		 addr[sizeof(struct in6_addr)];
	char			 bare[64];
	size_t			 len;

	if (host == NULL || *host == '\0') {
		snprintf(err, errlen, "missing host name for the server "
		    "certificate check");
		return -1;
	}

	/* Accepts "[::1]" as well as "::1". */
	len = strlen(host);
	if (host[0] == '[' && len > 2 && host[len - 1] == ']' &&
	    len - 2 < sizeof(bare)) {
		memcpy(bare, host + 1, len - 2);
		bare[len - 2] = '\0';
		host = bare;
	}

	param = SSL_get0_param(ssl);
	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1) {
			tls_fail(err, errlen, "failed to set IP address %s "
			    "for the server certificate check", host);
			return -1;
		}
		return 0;
	}

	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, host) != 1) {
		tls_fail(err, errlen, "failed to set host name %s for the "
		    "server certificate check", host);
		return -1;
	}
	if (SSL_set_tlsext_host_name(ssl, host) != 1) {
		tls_fail(err, errlen, "failed to set server name indication "
		    "%s", host);
		return -1;
	}
	return 0;
}

/*
 * Copies an ASN.1 string into id. An embedded NUL or a value that does not
 * fit is an error, so a crafted name cannot pass as a shorter one.
 */
static int
tls_copy_name(const ASN1_STRING *s, const char *what, char *id,
    size_t idlen, char *err, size_t errlen)
{
	const unsigned char	*p = ASN1_STRING_get0_data(s);
	int			 n = ASN1_STRING_length(s);

	if (n <= 0 || memchr(p, '\0', n) != NULL) {
		snprintf(err, errlen, "certificate %s is empty or contains "
		    "a NUL byte", what);
		return -1;
	}
	if ((size_t)n >= idlen) {
		snprintf(err, errlen, "certificate %s is %d bytes long, more "
		    "than the %zu bytes a node id may have", what, n,
		    idlen - 1);
		return -1;
	}
	memcpy(id, p, n);
	id[n] = '\0';
	return 0;
}

/* Reads the first DNS subjectAltName. Returns 1 when found, 0 when the
 * certificate has none, -1 on error. */
static int
tls_cert_dns_san(X509 *cert, char *id, size_t idlen, char *err,
    size_t errlen)
{
	GENERAL_NAMES		*names;
	const GENERAL_NAME	*gn;
	int			 i, rc = 0;

	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (names == NULL)
		return 0;

	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		gn = sk_GENERAL_NAME_value(names, i);
		if (gn->type != GEN_DNS)
			continue;
		rc = tls_copy_name(gn->d.dNSName, "DNS subjectAltName", id,
		    idlen, err, errlen) == 0 ? 1 : -1;
		break;
	}
	GENERAL_NAMES_free(names);
	return rc;
}

/* Reads the subject's commonName (the last one when there are several). */
static int
tls_cert_cn(X509 *cert, char *id, size_t idlen, char *err, size_t errlen)
{
	const X509_NAME	*subject = X509_get_subject_name(cert);
	X509_NAME_ENTRY	*entry;
	int		 i, last = -1;

	while ((i = X509_NAME_get_index_by_NID(subject, NID_commonName,
	    last)) >= 0)
		last = i;
	if (last < 0) {
		snprintf(err, errlen, "certificate has neither a DNS "
		    "subjectAltName nor a commonName");
		return -1;
	}
	entry = X509_NAME_get_entry(subject, last);
	return tls_copy_name(X509_NAME_ENTRY_get_data(entry), "commonName",
	    id, idlen, err, errlen);
}

/* Extracts the identity of a certificate: the first DNS SAN, else the CN,
 * checked as a node id. */
static int
tls_cert_identity(X509 *cert, char *id, size_t idlen, char *err,
    size_t errlen)
{
	char	name[PPC_NODE_ID_MAX + 1];
	int	rc;

	rc = tls_cert_dns_san(cert, name, sizeof(name), err, errlen);
	if (rc == -1)
		return -1;
	if (rc == 0 && tls_cert_cn(cert, name, sizeof(name), err,
	    errlen) == -1)
		return -1;

	if (util_check_node_id(name, err, errlen) == -1)
		return -1;
	if (strlen(name) >= idlen) {
		snprintf(err, errlen, "certificate identity %s does not fit "
		    "in %zu bytes", name, idlen);
		return -1;
	}
	strcpy(id, name);
	return 0;
}

int
tls_peer_identity(SSL *ssl, char *id, size_t idlen, char *err,
    size_t errlen)
{
	X509	*cert;
	long	 result;

	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL) {
		snprintf(err, errlen, "peer sent no certificate");
		return -1;
	}
	if ((result = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(err, errlen, "peer certificate verification failed: "
		    "%s", X509_verify_cert_error_string(result));
		return -1;
	}
	return tls_cert_identity(cert, id, idlen, err, errlen);
}

int
tls_cert_file_identity(const char *cert_file, char *id, size_t idlen,
    char *err, size_t errlen)
{
	BIO	*bio;
	X509	*cert;
	char	 why[PPC_ERRLEN];
	int	 rc;

	if ((bio = BIO_new_file(cert_file, "r")) == NULL) {
		tls_fail(err, errlen, "failed to open certificate %s",
		    cert_file);
		return -1;
	}
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (cert == NULL) {
		tls_fail(err, errlen, "failed to read a PEM certificate from "
		    "%s", cert_file);
		return -1;
	}

	why[0] = '\0';
	rc = tls_cert_identity(cert, id, idlen, why, sizeof(why));
	X509_free(cert);
	if (rc == -1)
		snprintf(err, errlen, "%s: %s", cert_file, why);
	return rc;
}

/* Reads the leaf certificate and any intermediates after it. */
static X509 *
tls_read_chain(const char *cert_file, STACK_OF(X509) **chain, char *err,
    size_t errlen)
{
	BIO	*bio;
	X509	*leaf, *x;

	*chain = NULL;
	if ((bio = BIO_new_file(cert_file, "r")) == NULL) {
		tls_fail(err, errlen, "failed to open certificate %s",
		    cert_file);
		return NULL;
	}
	if ((leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		BIO_free(bio);
		tls_fail(err, errlen, "failed to read a PEM certificate from "
		    "%s", cert_file);
		return NULL;
	}
	if ((*chain = sk_X509_new_null()) == NULL) {
		BIO_free(bio);
		X509_free(leaf);
		tls_fail(err, errlen, "out of memory reading %s", cert_file);
		return NULL;
	}
	/* TLS_VERIFY_DEPTH bounds the intermediates the handshake would use. */
	while (sk_X509_num(*chain) < TLS_VERIFY_DEPTH &&
	    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(*chain, x) == 0) {
			X509_free(x);
			break;
		}
	}
	/* The end of the file leaves a "no start line" error queued. */
	ERR_clear_error();
	BIO_free(bio);
	return leaf;
}

int
tls_check_cert_file(const char *ca_file, const char *cert_file, int purpose,
    char *err, size_t errlen)
{
	STACK_OF(X509)	*chain;
	X509_STORE	*store = NULL;
	X509_STORE_CTX	*ctx = NULL;
	X509		*leaf;
	int		 rc = -1;

	if ((leaf = tls_read_chain(cert_file, &chain, err, errlen)) == NULL)
		return -1;

	/* Only the cluster CA is trusted, as in the TLS contexts. */
	if ((store = X509_STORE_new()) == NULL ||
	    X509_STORE_load_file(store, ca_file) != 1) {
		tls_fail(err, errlen, "failed to load CA certificates from %s",
		    ca_file);
		goto out;
	}
	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, store, leaf, chain) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, purpose) != 1) {
		tls_fail(err, errlen, "failed to set up the verification of "
		    "%s", cert_file);
		goto out;
	}
	X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(ctx),
	    TLS_VERIFY_DEPTH);

	if (X509_verify_cert(ctx) == 1)
		rc = 0;
	else {
		snprintf(err, errlen, "certificate %s is not valid for the "
		    "cluster CA %s: %s", cert_file, ca_file,
		    X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
	}

out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	return rc;
}
