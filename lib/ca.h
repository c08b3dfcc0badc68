/*
 * Cluster certificate authority: `ppcoordctl ca init` and `ca issue`.
 * Keys are P-256; key files are written with mode 0600.
 */
#ifndef PPCOORD_CA_H
#define PPCOORD_CA_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Creates DIR/ca.pem and DIR/ca.key (DIR is created if missing). Refuses
 * to overwrite an existing CA. */
int	ca_init(const char *dir, char *err, size_t errlen);

/* Issues DIR/NODE_ID.pem and DIR/NODE_ID.key signed by the CA in DIR, with
 * NODE_ID as CN and DNS SAN (an IP address SAN too when NODE_ID is an IP
 * literal), usable for TLS client and server authentication. */
int	ca_issue(const char *dir, const char *node_id, unsigned days,
	    char *err, size_t errlen);

/* Loads DIR/ca.pem and DIR/ca.key and checks that the key matches the
 * certificate. The caller frees both. */
int	ca_load(const char *dir, X509 **cert, EVP_PKEY **key, char *err,
	    size_t errlen);

/* Issues a node certificate and key in memory, as ca_issue does but
 * without files: for tests and benchmarks that need many identities. */
int	ca_issue_mem(X509 *ca_cert, EVP_PKEY *ca_key, const char *node_id,
	    unsigned days, X509 **cert, EVP_PKEY **key, char *err,
	    size_t errlen);

#endif
