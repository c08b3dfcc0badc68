/*
 * Small parsers and file helpers shared by every program: sizes and
 * durations in config syntax, node id and address validation, and atomic
 * file replacement.
 */
#ifndef PPCOORD_UTIL_H
#define PPCOORD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PPC_ERRLEN	512	/* size of every error message buffer */

/* Largest node id, in bytes, and largest address string. */
#define PPC_NODE_ID_MAX		63
#define PPC_ADDRESS_MAX		63

/*
 * Parses a size: a plain integer in bytes, or a decimal number with a unit
 * ("80 GiB", "1.5GiB", "500MB", "512 KiB", "100 B"). Units: B, KB, MB, GB,
 * TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024), case-
 * sensitive as written here, optional space before the unit. Fractions are
 * rounded down to whole bytes. Returns 0, or -1 with a message in err.
 */
int util_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen);

/*
 * Parses a duration: a decimal number with a unit "ms", "s", "m" or "h"
 * ("500ms", "2s", "1.5m"). Returns 0, or -1 with a message in err.
 */
int util_parse_duration(const char *s, uint64_t *ms, char *err,
    size_t errlen);

/* Formats bytes as "80.0 GiB" (or "512 B") into buf. Returns buf. */
const char *util_format_size(uint64_t bytes, char *buf, size_t len);

/*
 * Checks a node id: 1 to PPC_NODE_ID_MAX bytes of [A-Za-z0-9._-], not
 * starting with '.' or '-'. Such an id is safe in a file name, an
 * environment file and a log line. Returns 0, or -1 with a message in err.
 */
int util_check_node_id(const char *id, char *err, size_t errlen);

/* Checks an advertised address: an IPv4 or IPv6 literal or a DNS host name,
 * at most PPC_ADDRESS_MAX bytes, no whitespace or control characters. */
int util_check_address(const char *addr, char *err, size_t errlen);

/*
 * Replaces `path` with `len` bytes of `data`: writes a temporary file in the
 * same folder, fsyncs it, renames it over `path` and fsyncs the folder, so a
 * crash leaves either the old or the new file. `mode` is the new file's
 * permission bits. Returns 0, or -1 with a message in err.
 */
int util_write_file_atomic(const char *path, const void *data, size_t len,
    unsigned mode, char *err, size_t errlen);

/* Writes all len bytes of data to fd, retrying short writes and EINTR.
 * Returns 0, or -1 with errno set. */
int util_write_all(int fd, const void *data, size_t len);

/*
 * Fsyncs the folder that contains path, so that a rename or link in it
 * survives a crash. Returns 0, or -1 with a message in err.
 */
int util_fsync_parent(const char *path, char *err, size_t errlen);

/*
 * Reads a whole file of at most `max` bytes into a NUL-terminated malloc'd
 * buffer. Returns the buffer and its length, or NULL with a message in err
 * (a larger file is an error that names the limit).
 */
char *util_read_file(const char *path, size_t max, size_t *len, char *err,
    size_t errlen);

/*
 * Formats a message into err, as snprintf does, for the library functions
 * that return -1 with a reason. Does nothing when err is NULL or errlen is 0.
 */
void util_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic clock in milliseconds. */
uint64_t util_now_ms(void);

/* Splits "host:port" or "[v6]:port" into host and port. Returns 0 or -1. */
int util_split_host_port(const char *s, char *host, size_t hostlen,
    uint16_t *port, char *err, size_t errlen);

#endif
