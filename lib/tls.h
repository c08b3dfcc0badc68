/*
 * TLS 1.3 with client certificates on both ends, signed by the cluster CA.
 * A node's identity is its certificate's first DNS SAN, else its CN.
 */
#ifndef PPCOORD_TLS_H
#define PPCOORD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>	/* X509_PURPOSE_SSL_CLIENT, _SERVER */

/* Server context for the head: TLS 1.3 only, client certificate required
 * and verified against ca_file with the TLS client purpose. */
SSL_CTX	*tls_server_ctx(const char *ca_file, const char *cert_file,
	    const char *key_file, char *err, size_t errlen);

/* Client context for the agent: TLS 1.3 only, presents cert_file and
 * verifies the server against ca_file with the TLS server purpose. */
SSL_CTX	*tls_client_ctx(const char *ca_file, const char *cert_file,
	    const char *key_file, char *err, size_t errlen);

/* Makes the client check the server certificate's name or IP address
 * against `host` (the host part of agent.head). */
int	 tls_client_set_host(SSL *ssl, const char *host, char *err,
	    size_t errlen);

/* The identity of the verified peer certificate. Returns 0 or -1. */
int	 tls_peer_identity(SSL *ssl, char *id, size_t idlen, char *err,
	    size_t errlen);

/* The identity of a certificate file: for the agent's default node id. */
int	 tls_cert_file_identity(const char *cert_file, char *id, size_t idlen,
	    char *err, size_t errlen);

/*
 * Verifies the certificate in cert_file (with any intermediates after it
 * in the file) against the CAs in ca_file alone, for `purpose`
 * (X509_PURPOSE_SSL_CLIENT or X509_PURPOSE_SSL_SERVER), at the current
 * time. Returns 0, or -1 with "certificate FILE is not valid for the
 * cluster CA FILE: REASON" or a file error in err.
 */
int	 tls_check_cert_file(const char *ca_file, const char *cert_file,
	    int purpose, char *err, size_t errlen);

/* Appends the OpenSSL error queue to a message, and clears the queue. */
void	 tls_error_string(char *buf, size_t len);

/*
 * Formats a message into err and appends the OpenSSL reasons, clearing the
 * error queue. With no buffer it only clears the queue.
 */
void	 tls_fail(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
