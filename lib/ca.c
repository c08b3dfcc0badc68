/*
 * Cluster certificate authority: a self-signed P-256 CA and the node
 * certificates it signs.
 *
 * Every file is written to a temporary name in the same folder, synced,
 * then linked to its final name. link(2) fails when the name exists, so an
 * existing CA or node certificate is never overwritten, and a crash never
 * leaves a half-written file under the final name.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "tls.h"
#include "util.h"

#define CA_SUBJECT_CN		"ppcoord cluster CA"
#define CA_VALID_DAYS		3650
#define CA_SERIAL_BITS		128
#define CA_BACKDATE_S		3600	/* tolerates clocks up to an hour behind */
#define CA_DAYS_MAX		36500

static int
ca_path(char *buf, size_t len, const char *dir, const char *name,
    const char *suffix, char *err, size_t errlen)
{
	int	n;

	if (dir == NULL || *dir == '\0') {
		snprintf(err, errlen, "missing CA folder name");
		return -1;
	}
	n = snprintf(buf, len, "%s/%s%s", dir, name, suffix);
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "path %s/%s%s is too long", dir, name,
		    suffix);
		return -1;
	}
	return 0;
}

/* Creates dir with mode 0700, and its missing parents with mode 0755. */
static int
ca_mkdir(const char *dir, char *err, size_t errlen)
{
	char		 path[PATH_MAX];
	struct stat	 st;
	char		*p;

	if (strlen(dir) >= sizeof(path)) {
		snprintf(err, errlen, "folder name %s is too long", dir);
		return -1;
	}
	strcpy(path, dir);

	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "failed to create folder %s: %s",
			    path, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "failed to create folder %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a folder", path);
		return -1;
	}
	return 0;
}

static int
ca_check_absent(const char *path, char *err, size_t errlen)
{
	struct stat	st;

	if (lstat(path, &st) == 0) {
		snprintf(err, errlen, "%s already exists: remove it first or "
		    "choose another folder", path);
		return -1;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "failed to check %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Writes data to a new file `path` with `mode`: a temporary file created
 * 0600, filled, synced, given its mode, then linked to path. Fails when
 * path exists.
 */
static int
ca_write_new(const char *path, const void *data, size_t len, mode_t mode,
    char *err, size_t errlen)
{
	char		 tmp[PATH_MAX];
	int		 fd, saved;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp)) {
		snprintf(err, errlen, "path %s is too long", path);
		return -1;
	}
	if ((fd = mkstemp(tmp)) == -1) {
		snprintf(err, errlen, "failed to create a temporary file "
		    "for %s: %s", path, strerror(errno));
		return -1;
	}

	if (util_write_all(fd, data, len) == -1 ||
	    fsync(fd) == -1 || fchmod(fd, mode) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;

	if (link(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		if (saved == EEXIST)
			snprintf(err, errlen, "%s already exists: remove it "
			    "first or choose another folder", path);
		else
			snprintf(err, errlen, "failed to create %s: %s", path,
			    strerror(saved));
		return -1;
	}
	unlink(tmp);
	return util_fsync_parent(path, err, errlen);

fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	snprintf(err, errlen, "failed to write %s: %s", path,
	    strerror(saved));
	return -1;
}

static int
ca_write_key(const char *path, EVP_PKEY *key, char *err, size_t errlen)
{
	BIO	*bio;
	char	*data;
	long	 len;
	int	 rc;

	if ((bio = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL,
	    NULL) != 1) {
		tls_fail(err, errlen, "failed to encode the private key for %s",
		    path);
		BIO_free(bio);
		return -1;
	}
	len = BIO_get_mem_data(bio, &data);
	rc = ca_write_new(path, data, len, 0600, err, errlen);
	BIO_free(bio);
	return rc;
}

static int
ca_write_cert(const char *path, X509 *cert, char *err, size_t errlen)
{
	BIO	*bio;
	char	*data;
	long	 len;
	int	 rc;

	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(bio, cert) != 1) {
		tls_fail(err, errlen, "failed to encode the certificate for %s",
		    path);
		BIO_free(bio);
		return -1;
	}
	len = BIO_get_mem_data(bio, &data);
	rc = ca_write_new(path, data, len, 0644, err, errlen);
	BIO_free(bio);
	return rc;
}

/* Writes the key, then the certificate. Removes the key when the
 * certificate cannot be written, so that a retry starts clean. */
static int
ca_write_pair(const char *key_path, EVP_PKEY *key, const char *cert_path,
    X509 *cert, char *err, size_t errlen)
{
	if (ca_check_absent(key_path, err, errlen) == -1 ||
	    ca_check_absent(cert_path, err, errlen) == -1)
		return -1;
	if (ca_write_key(key_path, key, err, errlen) == -1)
		return -1;
	if (ca_write_cert(cert_path, cert, err, errlen) == -1) {
		unlink(key_path);
		return -1;
	}
	return 0;
}

static EVP_PKEY *
ca_new_key(char *err, size_t errlen)
{
	EVP_PKEY	*key;

	if ((key = EVP_EC_gen("P-256")) == NULL)
		tls_fail(err, errlen, "failed to generate a P-256 key");
	return key;
}

/* Sets a random nonzero serial number of CA_SERIAL_BITS bits, so that
 * serials neither collide nor can be guessed. */
static int
ca_set_serial(X509 *cert, char *err, size_t errlen)
{
	BIGNUM	*bn;
	int	 rc = -1;

	if ((bn = BN_new()) == NULL)
		goto done;
	do {
		if (BN_rand(bn, CA_SERIAL_BITS, BN_RAND_TOP_ANY,
		    BN_RAND_BOTTOM_ANY) != 1)
			goto done;
	} while (BN_is_zero(bn));
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL)
		goto done;
	rc = 0;
done:
	if (rc == -1)
		tls_fail(err, errlen, "failed to set a random serial number");
	BN_free(bn);
	return rc;
}

static int
ca_add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value,
    char *err, size_t errlen)
{
	X509_EXTENSION	*ext;
	int		 rc;

	if ((ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value)) == NULL) {
		tls_fail(err, errlen, "failed to build extension %s = %s",
		    OBJ_nid2sn(nid), value);
		return -1;
	}
	rc = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	if (rc != 1) {
		tls_fail(err, errlen, "failed to add extension %s",
		    OBJ_nid2sn(nid));
		return -1;
	}
	return 0;
}

/* Creates a version 3 certificate with subject CN=cn, the key, a random
 * serial and validity from an hour ago to `days` from now. */
static X509 *
ca_new_cert(const char *cn, EVP_PKEY *key, unsigned days, char *err,
    size_t errlen)
{
	X509		*cert;
	X509_NAME	*name;

	if ((cert = X509_new()) == NULL ||
	    X509_set_version(cert, X509_VERSION_3) != 1)
		goto fail;
	if (ca_set_serial(cert, err, errlen) == -1) {
		X509_free(cert);
		return NULL;
	}

	name = X509_get_subject_name(cert);
	if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1)
		goto fail;
	if (X509_gmtime_adj(X509_getm_notBefore(cert), -CA_BACKDATE_S) ==
	    NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0,
	    NULL) == NULL)
		goto fail;
	if (X509_set_pubkey(cert, key) != 1)
		goto fail;
	return cert;

fail:
	tls_fail(err, errlen, "failed to build the certificate for %s", cn);
	X509_free(cert);
	return NULL;
}

static int
ca_sign(X509 *cert, EVP_PKEY *ca_key, char *err, size_t errlen)
{
	if (X509_sign(cert, ca_key, EVP_sha256()) == 0) {
		tls_fail(err, errlen, "failed to sign the certificate");
		return -1;
	}
	return 0;
}

int
ca_init(const char *dir, char *err, size_t errlen)
{
	char		 cert_path[PATH_MAX], key_path[PATH_MAX];
	EVP_PKEY	*key = NULL;
	X509		*cert = NULL;
	X509V3_CTX	 ctx;
	int		 rc = -1;

	if (ca_path(cert_path, sizeof(cert_path), dir, "ca", ".pem", err,
	    errlen) == -1 ||
	    ca_path(key_path, sizeof(key_path), dir, "ca", ".key", err,
	    errlen) == -1)
		return -1;
	if (ca_mkdir(dir, err, errlen) == -1 ||
	    ca_check_absent(cert_path, err, errlen) == -1 ||
	    ca_check_absent(key_path, err, errlen) == -1)
		return -1;

	if ((key = ca_new_key(err, errlen)) == NULL)
		goto done;
	if ((cert = ca_new_cert(CA_SUBJECT_CN, key, CA_VALID_DAYS, err,
	    errlen)) == NULL)
		goto done;
	if (X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1) {
		tls_fail(err, errlen, "failed to set the CA issuer name");
		goto done;
	}

	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	if (ca_add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE",
	    err, errlen) == -1 ||
	    ca_add_ext(cert, &ctx, NID_key_usage,
	    "critical,keyCertSign,cRLSign", err, errlen) == -1 ||
	    ca_add_ext(cert, &ctx, NID_subject_key_identifier, "hash", err,
	    errlen) == -1)
		goto done;

	if (ca_sign(cert, key, err, errlen) == -1)
		goto done;
	rc = ca_write_pair(key_path, key, cert_path, cert, err, errlen);
done:
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int
ca_load(const char *dir, X509 **cert, EVP_PKEY **key, char *err,
    size_t errlen)
{
	char	 path[PATH_MAX];
	BIO	*bio;

	*cert = NULL;
	*key = NULL;

	if (ca_path(path, sizeof(path), dir, "ca", ".pem", err, errlen) == -1)
		return -1;
	if ((bio = BIO_new_file(path, "r")) == NULL) {
		tls_fail(err, errlen, "failed to open CA certificate %s (run "
		    "`ppcoordctl ca init %s` first)", path, dir);
		return -1;
	}
	*cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (*cert == NULL) {
		tls_fail(err, errlen, "failed to read a PEM certificate "
		    "from %s", path);
		return -1;
	}

	if (ca_path(path, sizeof(path), dir, "ca", ".key", err, errlen) == -1)
		goto fail;
	if ((bio = BIO_new_file(path, "r")) == NULL) {
		tls_fail(err, errlen, "failed to open CA key %s", path);
		goto fail;
	}
	*key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (*key == NULL) {
		tls_fail(err, errlen, "failed to read a PEM private key "
		    "from %s", path);
		goto fail;
	}
	if (X509_check_private_key(*cert, *key) != 1) {
		tls_fail(err, errlen, "CA key %s does not match CA certificate "
		    "%s/ca.pem", path, dir);
		goto fail;
	}
	return 0;

fail:
	X509_free(*cert);
	EVP_PKEY_free(*key);
	*cert = NULL;
	*key = NULL;
	return -1;
}

static int
ca_add_node_exts(X509 *cert, X509 *ca_cert, const char *node_id,
    char *err, size_t errlen)
{
	X509V3_CTX	 ctx;
	unsigned char	 addr[sizeof(struct in_addr)];
	char		 san[2 * PPC_NODE_ID_MAX + 16];

	if (inet_pton(AF_INET, node_id, addr) == 1)
		snprintf(san, sizeof(san), "DNS:%s,IP:%s", node_id, node_id);
	else
		snprintf(san, sizeof(san), "DNS:%s", node_id);

	X509V3_set_ctx(&ctx, ca_cert, cert, NULL, NULL, 0);
	if (ca_add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE",
	    err, errlen) == -1 ||
	    ca_add_ext(cert, &ctx, NID_key_usage,
	    "critical,digitalSignature", err, errlen) == -1 ||
	    ca_add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth,clientAuth",
	    err, errlen) == -1 ||
	    ca_add_ext(cert, &ctx, NID_subject_alt_name, san, err,
	    errlen) == -1 ||
	    ca_add_ext(cert, &ctx, NID_subject_key_identifier, "hash", err,
	    errlen) == -1 ||
	    ca_add_ext(cert, &ctx, NID_authority_key_identifier,
	    "keyid:always", err, errlen) == -1)
		return -1;
	return 0;
}

/* Checks the arguments shared by ca_issue and ca_issue_mem. */
static int
ca_check_request(const char *node_id, unsigned days, char *err,
    size_t errlen)
{
	if (util_check_node_id(node_id, err, errlen) == -1)
		return -1;
	if (strcmp(node_id, "ca") == 0) {
		snprintf(err, errlen, "node id \"ca\" is reserved for the CA "
		    "files ca.pem and ca.key: choose another node id");
		return -1;
	}
	if (days == 0 || days > CA_DAYS_MAX) {
		snprintf(err, errlen, "invalid validity of %u days: expected "
		    "1 to %u", days, CA_DAYS_MAX);
		return -1;
	}
	return 0;
}

int
ca_issue_mem(X509 *ca_cert, EVP_PKEY *ca_key, const char *node_id,
    unsigned days, X509 **cert_out, EVP_PKEY **key_out, char *err,
    size_t errlen)
{
	EVP_PKEY	*key = NULL;
	X509		*cert = NULL;

	*cert_out = NULL;
	*key_out = NULL;
	if (ca_check_request(node_id, days, err, errlen) == -1)
		return -1;

	if ((key = ca_new_key(err, errlen)) == NULL)
		return -1;
	if ((cert = ca_new_cert(node_id, key, days, err, errlen)) == NULL)
		goto fail;
	if (X509_set_issuer_name(cert, X509_get_subject_name(ca_cert)) != 1) {
		tls_fail(err, errlen, "failed to set the issuer of %s",
		    node_id);
		goto fail;
	}
	if (ca_add_node_exts(cert, ca_cert, node_id, err, errlen) == -1 ||
	    ca_sign(cert, ca_key, err, errlen) == -1)
		goto fail;

	*cert_out = cert;
	*key_out = key;
	return 0;

fail:
	X509_free(cert);
	EVP_PKEY_free(key);
	return -1;
}

int
ca_issue(const char *dir, const char *node_id, unsigned days, char *err,
    size_t errlen)
{
	char		 cert_path[PATH_MAX], key_path[PATH_MAX];
	EVP_PKEY	*ca_key = NULL, *key = NULL;
	X509		*ca_cert = NULL, *cert = NULL;
	int		 rc = -1;

	if (ca_check_request(node_id, days, err, errlen) == -1)
		return -1;
	if (ca_path(cert_path, sizeof(cert_path), dir, node_id, ".pem", err,
	    errlen) == -1 ||
	    ca_path(key_path, sizeof(key_path), dir, node_id, ".key", err,
	    errlen) == -1)
		return -1;
	if (ca_check_absent(cert_path, err, errlen) == -1 ||
	    ca_check_absent(key_path, err, errlen) == -1)
		return -1;

	if (ca_load(dir, &ca_cert, &ca_key, err, errlen) == -1)
		return -1;
	if (ca_issue_mem(ca_cert, ca_key, node_id, days, &cert, &key, err,
	    errlen) == -1)
		goto done;
	rc = ca_write_pair(key_path, key, cert_path, cert, err, errlen);
done:
	X509_free(cert);
	EVP_PKEY_free(key);
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	return rc;
}
