/*
 * Small parsers and file helpers shared by every program.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Maximum number of bytes of a rejected value that errors quote. */
#define QUOTE_MAX	64

struct unit {
	const char	*name;
	uint64_t	 factor;
};

static const struct unit size_units[] = {
	{ "B", 1 },
	{ "KB", 1000ULL },
	{ "MB", 1000ULL * 1000 },
	{ "GB", 1000ULL * 1000 * 1000 },
	{ "TB", 1000ULL * 1000 * 1000 * 1000 },
	{ "KiB", 1ULL << 10 },
	{ "MiB", 1ULL << 20 },
	{ "GiB", 1ULL << 30 },
	{ "TiB", 1ULL << 40 },
	{ NULL, 0 }
};

static const struct unit duration_units[] = {
	{ "ms", 1 },
	{ "s", 1000 },
	{ "m", 60 * 1000 },
	{ "h", 60 * 60 * 1000 },
	{ NULL, 0 }
};

/*
 * Copies `s` into buf for an error message, with control and non-ASCII
 * bytes as \xNN and the value cut at QUOTE_MAX bytes, so that a hostile
 * value cannot forge log lines.
 */
static const char *
quote(const char *s, char *buf, size_t len)
{
	size_t	 i, o = 0;

	for (i = 0; s[i] != '\0' && i < QUOTE_MAX && o + 5 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += snprintf(buf + o, len - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (s[i] != '\0' && o + 4 < len)
		o += snprintf(buf + o, len - o, "...");
	buf[o] = '\0';
	return buf;
}

/*
 * Parses "<digits>[.<digits>]" followed by optional spaces and a unit from
 * `units`. The value is computed exactly in 128-bit integers: whole part
 * times the factor plus the fraction times the factor, rounded down.
 * Returns 0, or -1 with *what set to the reason.
 */
static int
parse_scaled(const char *s, const struct unit *units, bool unit_required,
    uint64_t max, uint64_t *out, const char **what)
{
	unsigned __int128	 whole = 0, frac = 0, scale = 1, v;
	const char		*p = s, *u;
	const struct unit	*un;
	int			 digits = 0, fdigits = 0;

	while (*p >= '0' && *p <= '9') {
		whole = whole * 10 + (unsigned)(*p - '0');
		if (whole > (unsigned __int128)max) {
			*what = "is too large";
			return -1;
		}
		digits++;
		p++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			/* 10^24 times the largest factor (2^40) fits in
			 * 128 bits, so the result stays exact. */
			if (++fdigits > 24) {
				*what = "has more than 24 digits after the "
				    "decimal point";
				return -1;
			}
			frac = frac * 10 + (unsigned)(*p - '0');
			scale *= 10;
			p++;
		}
		if (fdigits == 0) {
			*what = "has no digits after the decimal point";
			return -1;
		}
	}
	if (digits == 0) {
		*what = "does not start with a number";
		return -1;
	}

	while (*p == ' ')
		p++;
	u = p;
	if (*u == '\0') {
		if (unit_required) {
			*what = "has no unit";
			return -1;
		}
		if (fdigits > 0) {
			*what = "is a fraction of a byte; give a unit";
			return -1;
		}
		*out = (uint64_t)whole;
		return 0;
	}
	for (un = units; un->name != NULL; un++)
		if (strcmp(u, un->name) == 0)
			break;
	if (un->name == NULL) {
		*what = "has an unknown unit";
		return -1;
	}

	v = whole * un->factor + frac * un->factor / scale;
	if (v > (unsigned __int128)max) {
		*what = "is too large";
		return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

int
util_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	const char	*what;
	char		 q[QUOTE_MAX * 4 + 8];

	if (parse_scaled(s, size_units, false, INT64_MAX, bytes, &what) == 0)
		return 0;
	snprintf(err, errlen, "invalid size \"%s\": it %s (examples: "
	    "\"80 GiB\", \"1.5GiB\", \"500MB\", or an integer in bytes; "
	    "units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)",
	    quote(s, q, sizeof(q)), what);
	return -1;
}

int
util_parse_duration(const char *s, uint64_t *ms, char *err, size_t errlen)
{
	const char	*what;
	char		 q[QUOTE_MAX * 4 + 8];

	/* A year in milliseconds is far below the limit; the limit only
	 * keeps later additions to a timestamp from overflowing. */
	if (parse_scaled(s, duration_units, true, UINT64_MAX / 4, ms,
	    &what) == 0)
		return 0;
	snprintf(err, errlen, "invalid duration \"%s\": it %s (examples: "
	    "\"500ms\", \"2s\", \"1.5m\", \"1h\")", quote(s, q, sizeof(q)),
	    what);
	return -1;
}

const char *
util_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char	*names[] = { "KiB", "MiB", "GiB", "TiB",
	    "PiB", "EiB" };
	double			 v;
	int			 i;

	if (bytes < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	v = (double)bytes / 1024;
	for (i = 0; i < 5 && v >= 1024; i++)
		v /= 1024;
	snprintf(buf, len, "%.1f %s", v, names[i]);
	return buf;
}

int
util_check_node_id(const char *id, char *err, size_t errlen)
{
	size_t	 i, n;
	char	 q[QUOTE_MAX * 4 + 8];

	n = strlen(id);
	if (n == 0) {
		snprintf(err, errlen, "invalid node id: it is empty");
		return -1;
	}
	if (n > PPC_NODE_ID_MAX) {
		snprintf(err, errlen, "invalid node id \"%s\": it is %zu bytes "
		    "long, the maximum is %d", quote(id, q, sizeof(q)), n,
		    PPC_NODE_ID_MAX);
		return -1;
	}
	if (id[0] == '.' || id[0] == '-') {
		snprintf(err, errlen, "invalid node id \"%s\": it must not "
		    "start with '.' or '-'", quote(id, q, sizeof(q)));
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];

		if (isascii(c) && (isalnum(c) || c == '.' || c == '_' ||
		    c == '-'))
			continue;
		snprintf(err, errlen, "invalid node id \"%s\": byte %zu is "
		    "not one of A-Z a-z 0-9 . _ -", quote(id, q, sizeof(q)),
		    i + 1);
		return -1;
	}
	return 0;
}

/* Checks a DNS host name: dot-separated labels of 1 to 63 letters, digits
 * and hyphens, not starting or ending with a hyphen, the last label not
 * all digits (so that "10.0.0" is not taken for a name). */
static bool
is_host_name(const char *s)
{
	size_t		 label = 0;
	bool		 all_digits = true;
	const char	*p;

	if (*s == '\0')
		return false;
	for (p = s; ; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '.' || c == '\0') {
			if (label == 0 || p[-1] == '-')
				return false;
			if (c == '\0')
				return !all_digits;
			label = 0;
			all_digits = true;
			continue;
		}
		if (!isascii(c) || !(isalnum(c) || c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		if (!isdigit(c))
			all_digits = false;
		if (++label > 63)
			return false;
	}
}

/* Checks a host as util_check_address does, with `max` as the limit. */
static int
check_host(const char *addr, size_t max, const char *what, char *err,
    size_t errlen)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;
	size_t		 i, n;
	char		 q[QUOTE_MAX * 4 + 8];

	n = strlen(addr);
	if (n == 0) {
		snprintf(err, errlen, "invalid %s: it is empty", what);
		return -1;
	}
	if (n > max) {
		snprintf(err, errlen, "invalid %s \"%s\": it is %zu bytes long, "
		    "the maximum is %zu", what, quote(addr, q, sizeof(q)), n,
		    max);
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c <= 0x20 || c >= 0x7f) {
			snprintf(err, errlen, "invalid %s \"%s\": it contains "
			    "whitespace, a control character or a non-ASCII "
			    "byte", what, quote(addr, q, sizeof(q)));
			return -1;
		}
	}
	if (inet_pton(AF_INET, addr, &a4) == 1 ||
	    inet_pton(AF_INET6, addr, &a6) == 1 || is_host_name(addr))
		return 0;
	snprintf(err, errlen, "invalid %s \"%s\": it is neither an IPv4 or "
	    "IPv6 address nor a DNS host name", what,
	    quote(addr, q, sizeof(q)));
	return -1;
}

int
util_check_address(const char *addr, char *err, size_t errlen)
{
	return check_host(addr, PPC_ADDRESS_MAX, "address", err, errlen);
}

int
util_write_all(int fd, const void *data, size_t len)
{
	const char	*p = data;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
util_fsync_parent(const char *path, char *err, size_t errlen)
{
	char	 dir[PATH_MAX];
	char	*slash;
	int	 fd, saved;

	if (strlen(path) >= sizeof(dir)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s: open folder: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (fsync(fd) == -1) {
		saved = errno;
		close(fd);
		snprintf(err, errlen, "%s: fsync folder: %s", dir,
		    strerror(saved));
		return -1;
	}
	close(fd);
	return 0;
}

int
util_write_file_atomic(const char *path, const void *data, size_t len,
    unsigned mode, char *err, size_t errlen)
{
	char		 tmp[PATH_MAX];
	const char	*step;
	int		 fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s: create temporary file: %s", tmp,
		    strerror(errno));
		return -1;
	}

	step = "set mode";
	if (fchmod(fd, (mode_t)(mode & 07777)) == -1)
		goto fail;
	step = "write";
	if (util_write_all(fd, data, len) == -1)
		goto fail;
	step = "fsync";
	if (fsync(fd) == -1)
		goto fail;
	step = "close";
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	step = "rename";
	if (rename(tmp, path) == -1)
		goto fail;

	return util_fsync_parent(path, err, errlen);

fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	snprintf(err, errlen, "%s: %s %s: %s", path, step,
	    strcmp(step, "rename") == 0 ? tmp : "temporary file",
	    strerror(saved));
	return -1;
}

char *
util_read_file(const char *path, size_t max, size_t *len, char *err,
    size_t errlen)
{
	char	*buf = NULL, *nbuf;
	size_t	 cap = 0, used = 0;
	ssize_t	 n;
	int	 fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (used == cap) {
			/* Room for one byte past max, to detect a larger file,
			 * and for the terminating NUL. */
			if (cap > max) {
				snprintf(err, errlen, "%s: file is larger than "
				    "the limit of %zu bytes", path, max);
				goto fail_noerrno;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > max + 1)
				cap = max + 1;
			nbuf = realloc(buf, cap + 1);
			if (nbuf == NULL)
				goto fail;
			buf = nbuf;
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (used > max) {
		snprintf(err, errlen, "%s: file is larger than the limit of "
		    "%zu bytes", path, max);
		goto fail_noerrno;
	}
	close(fd);
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	buf[used] = '\0';
	if (len != NULL)
		*len = used;
	return buf;

fail:
	saved = errno;
	snprintf(err, errlen, "%s: %s", path, strerror(saved));
fail_noerrno:
	close(fd);
	free(buf);
	return NULL;
}

void
util_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

uint64_t
util_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Parses a decimal port number 1..65535. */
static int
parse_port(const char *s, uint16_t *port)
{
	unsigned long	 v = 0;
	const char	*p;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
util_split_host_port(const char *s, char *host, size_t hostlen,
    uint16_t *port, char *err, size_t errlen)
{
	const char	*colon, *hstart, *hend;
	struct in6_addr	 a6;
	char		 q[QUOTE_MAX * 4 + 8];
	char		 h[256];
	size_t		 n;

	if (s[0] == '[') {
		hstart = s + 1;
		hend = strchr(hstart, ']');
		if (hend == NULL || hend[1] != ':') {
			snprintf(err, errlen, "invalid address \"%s\": expected "
			    "\"[IPv6]:port\"", quote(s, q, sizeof(q)));
			return -1;
		}
		colon = hend + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "invalid address \"%s\": expected "
			    "\"host:port\"", quote(s, q, sizeof(q)));
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			snprintf(err, errlen, "invalid address \"%s\": write an "
			    "IPv6 address in brackets, as \"[::1]:7450\"",
			    quote(s, q, sizeof(q)));
			return -1;
		}
		hstart = s;
		hend = colon;
	}

	n = (size_t)(hend - hstart);
	if (n >= sizeof(h) || n >= hostlen) {
		snprintf(err, errlen, "invalid address \"%s\": the host is "
		    "longer than %zu bytes", quote(s, q, sizeof(q)),
		    (hostlen < sizeof(h) ? hostlen : sizeof(h)) - 1);
		return -1;
	}
	memcpy(h, hstart, n);
	h[n] = '\0';
	if (check_host(h, sizeof(h) - 1, "host", err, errlen) == -1)
		return -1;
	if (s[0] == '[' && inet_pton(AF_INET6, h, &a6) != 1) {
		snprintf(err, errlen, "invalid address \"%s\": the part in "
		    "brackets is not an IPv6 address", quote(s, q, sizeof(q)));
		return -1;
	}
	if (parse_port(colon + 1, port) == -1) {
		snprintf(err, errlen, "invalid address \"%s\": the port must be "
		    "a number from 1 to 65535", quote(s, q, sizeof(q)));
		return -1;
	}
	memcpy(host, h, n + 1);
	return 0;
}
