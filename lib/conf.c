/*
 * Config file helpers shared by the head and agent parsers: the error
 * list, the walk over every group and key (so that an unknown one is an
 * error), and typed readers that report "FILE:LINE: message".
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_priv.h"
#include "util.h"

void
conf_errors_free(struct conf_errors *e)
{
	size_t	 i;

	for (i = 0; i < e->count; i++)
		free(e->lines[i]);
	free(e->lines);
	e->lines = NULL;
	e->count = 0;
}

void
conf_errors_join(const struct conf_errors *e, char *buf, size_t len)
{
	size_t	 i, used = 0;
	int	 n;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < e->count && used < len; i++) {
		n = snprintf(buf + used, len - used, "%s%s", i > 0 ? "\n" : "",
		    e->lines[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Appends one line to the list; out of memory drops the line but the
 * parse still fails because ctx->failed counts it. */
static void
errors_add(struct conf_errors *e, char *line)
{
	char	**nlines;

	nlines = realloc(e->lines, (e->count + 1) * sizeof(*nlines));
	if (nlines == NULL) {
		free(line);
		return;
	}
	e->lines = nlines;
	e->lines[e->count++] = line;
}

void
conf_error(struct conf_ctx *ctx, unsigned line, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[PPC_ERRLEN];
	char	*text;

	ctx->failed++;
	if (ctx->errs->count > CONF_ERRORS_MAX)
		return;
	if (ctx->errs->count == CONF_ERRORS_MAX) {
		snprintf(msg, sizeof(msg), "too many errors; stopped "
		    "reporting after %d", CONF_ERRORS_MAX);
	} else {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	/* Line 0: the message already names the file, as for a file that
	 * cannot be read. */
	if (line == 0)
		text = strdup(msg);
	else if (asprintf(&text, "%s:%u: %s", ctx->name, line, msg) == -1)
		text = NULL;
	if (text == NULL)
		return;
	errors_add(ctx->errs, text);
}

/* The line of a setting. libconfig stores it as an unsigned short, so
 * lines past 65535 wrap; the 1 MiB file limit makes that unlikely. */
unsigned
conf_line(const config_setting_t *s)
{
	unsigned	 line;

	while (s != NULL) {
		line = config_setting_source_line(s);
		if (line > 0)
			return line;
		s = config_setting_parent(s);
	}
	return 1;
}

/* The line of the setting at `path`, else of its nearest parent group,
 * else 1. Used for errors about a missing or conflicting key. */
unsigned
conf_path_line(struct conf_ctx *ctx, const char *path)
{
	config_setting_t	*s;
	char			 buf[128];
	char			*dot;

	s = config_lookup(ctx->cfg, path);
	if (s != NULL)
		return conf_line(s);
	snprintf(buf, sizeof(buf), "%s", path);
	while ((dot = strrchr(buf, '.')) != NULL) {
		*dot = '\0';
		if ((s = config_lookup(ctx->cfg, buf)) != NULL)
			return conf_line(s);
	}
	return 1;
}

bool
conf_has(struct conf_ctx *ctx, const char *path)
{
	return config_lookup(ctx->cfg, path) != NULL;
}

/* Skips a string literal, a comment or an identifier that starts at p,
 * counting newlines. Returns the end, or p when none starts there. Sets
 * *open when a string or comment runs to the end of the text. */
static const char *
skip_non_number(const char *p, unsigned *line, bool *open)
{
	const char	*q = p;

	if (*q == '"') {
		for (q++; *q != '\0' && *q != '"'; q++) {
			if (*q == '\\' && q[1] != '\0')
				q++;
			if (*q == '\n')
				(*line)++;
		}
		*open = *q == '\0';
		return *q == '"' ? q + 1 : q;
	}
	if (*q == '#' || (q[0] == '/' && q[1] == '/')) {
		while (*q != '\0' && *q != '\n')
			q++;
		return q;
	}
	if (q[0] == '/' && q[1] == '*') {
		for (q += 2; *q != '\0' && !(q[0] == '*' && q[1] == '/'); q++)
			if (*q == '\n')
				(*line)++;
		*open = *q == '\0';
		return *q != '\0' ? q + 2 : q;
	}
	if (isalpha((unsigned char)*q) || *q == '_' || *q == '*') {
		while (isalnum((unsigned char)*q) || *q == '_' || *q == '-' ||
		    *q == '*')
			q++;
		return q;
	}
	return p;
}

/*
 * Copies text, appending libconfig's 64-bit suffix "L" to every integer
 * literal outside the 32-bit range. libconfig 1.5 silently truncates such
 * a literal to 32 bits, so "activation_reserve = 3000000000;" would read
 * as a negative number. A literal past the 64-bit range is an error.
 * Returns a malloc'd copy, or NULL after an unterminated string or
 * comment.
 */
static char *
widen_integers(struct conf_ctx *ctx, const char *text)
{
	const char		*p = text, *q, *start;
	char			*out, *o;
	unsigned		 line = 1, first;
	unsigned long long	 v;
	bool			 hex, big, open = false;

	/* Each literal widened is at least 10 bytes long, so adding one
	 * byte per 10 is enough. */
	if ((out = malloc(strlen(text) + strlen(text) / 10 + 2)) == NULL) {
		conf_error(ctx, 1, "out of memory");
		return NULL;
	}
	o = out;
	while (*p != '\0') {
		first = line;
		q = skip_non_number(p, &line, &open);
		if (open) {
			/* This message is clearer than libconfig's, and
			 * libconfig 1.5 would leak the string's buffer. */
			conf_error(ctx, first, "%s runs to the end of the "
			    "file; close it", *p == '"' ? "a string" :
			    "a comment");
			free(out);
			return NULL;
		}
		if (q != p) {
			memcpy(o, p, (size_t)(q - p));
			o += q - p;
			p = q;
			continue;
		}
		if (!isdigit((unsigned char)*p)) {
			if (*p == '\n')
				line++;
			*o++ = *p++;
			continue;
		}

		start = p;
		hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
		errno = 0;
		v = strtoull(p, (char **)&q, hex ? 16 : 10);
		big = errno == ERANGE || v > INT64_MAX;
		if (*q == '.' || *q == 'e' || *q == 'E') {
			/* A float: copy it through its exponent. */
			while (isalnum((unsigned char)*q) || *q == '.' ||
			    ((*q == '+' || *q == '-') &&
			    (q[-1] == 'e' || q[-1] == 'E')))
				q++;
		} else if (big) {
			conf_error(ctx, line, "integer %.*s is too large",
			    (int)(q - start), start);
		}
		memcpy(o, start, (size_t)(q - start));
		o += q - start;
		if (!big && v > INT32_MAX && *q != 'L' && *q != '.' &&
		    *q != 'e' && *q != 'E')
			*o++ = 'L';
		p = q;
	}
	*o = '\0';
	return out;
}

/*
 * Parses text with libconfig. A syntax error stops libconfig at the first
 * one, so it is the only error reported. Returns 0 or -1.
 * NOTE: libconfig 1.5 leaks a string token's buffer (tens of bytes) on
 * some syntax errors; LeakSanitizer reports it under strbuf_append.
 */
int
conf_open(struct conf_ctx *ctx, config_t *cfg, const char *text,
    const char *name, struct conf_errors *errs)
{
	char	*wide;
	int	 ok;

	ctx->name = name;
	ctx->cfg = cfg;
	ctx->errs = errs;
	ctx->failed = 0;
	ctx->first = errs->count;

	config_init(cfg);
	if ((wide = widen_integers(ctx, text)) == NULL)
		return -1;
	ok = config_read_string(cfg, wide) == CONFIG_TRUE;
	free(wide);
	if (!ok) {
		conf_error(ctx, (unsigned)config_error_line(cfg), "%s",
		    config_error_text(cfg) != NULL ? config_error_text(cfg) :
		    "syntax error");
		return -1;
	}
	/* Errors from widen_integers stay in ctx->failed so that the rest
	 * of the file is still checked. */
	return 0;
}

/* The line number in an error "NAME:LINE: message" of this file. */
static unsigned long
error_line(const struct conf_ctx *ctx, const char *text)
{
	size_t	 n = strlen(ctx->name);

	if (strncmp(text, ctx->name, n) != 0 || text[n] != ':')
		return 0;
	return strtoul(text + n + 1, NULL, 10);
}

/*
 * Orders this file's errors by line. The checks run group by group and
 * then across groups, so the list would otherwise jump back and forth.
 * Insertion sort keeps errors of one line in the order they were found.
 */
void
conf_sort_errors(struct conf_ctx *ctx)
{
	struct conf_errors	*e = ctx->errs;
	char			*t;
	size_t			 i, j;

	for (i = ctx->first + 1; i < e->count; i++) {
		t = e->lines[i];
		for (j = i; j > ctx->first &&
		    error_line(ctx, e->lines[j - 1]) > error_line(ctx, t); j--)
			e->lines[j] = e->lines[j - 1];
		e->lines[j] = t;
	}
}

char *
conf_strdup(struct conf_ctx *ctx, const char *s)
{
	char	*d;

	if ((d = strdup(s)) == NULL)
		conf_error(ctx, 1, "out of memory");
	return d;
}

/* Sets *field to a copy of value unless the file already set it. */
int
conf_default(struct conf_ctx *ctx, char **field, const char *value)
{
	if (*field != NULL)
		return 0;
	*field = conf_strdup(ctx, value);
	return *field == NULL ? -1 : 0;
}

static const char *
type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a floating point number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "an unknown type";
	}
}

/* Checks that a string setting has no control characters. */
static int
check_text(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
    const char *v)
{
	const unsigned char	*p;

	if (*v == '\0') {
		conf_error(ctx, conf_line(s), "%s must not be empty", path);
		return -1;
	}
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			conf_error(ctx, conf_line(s), "%s contains a control "
			    "character (byte %zu); remove it", path,
			    (size_t)(p - (const unsigned char *)v) + 1);
			return -1;
		}
	}
	return 0;
}

int
conf_get_string(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, char **out)
{
	const char	*v;
	char		*d;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_error(ctx, conf_line(s), "%s must be a string, found %s",
		    path, type_name(config_setting_type(s)));
		return -1;
	}
	v = config_setting_get_string(s);
	if (check_text(ctx, s, path, v) == -1)
		return -1;
	if ((d = conf_strdup(ctx, v)) == NULL)
		return -1;
	free(*out);
	*out = d;
	return 0;
}

int
conf_get_uint(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, uint64_t min, uint64_t max, uint64_t *out)
{
	long long	 v;

	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		conf_error(ctx, conf_line(s), "%s must be an integer from "
		    "%llu to %llu, found %s", path, (unsigned long long)min,
		    (unsigned long long)max,
		    type_name(config_setting_type(s)));
		return -1;
	}
	v = config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max) {
		conf_error(ctx, conf_line(s), "%s must be an integer from "
		    "%llu to %llu, found %lld", path, (unsigned long long)min,
		    (unsigned long long)max, v);
		return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

int
conf_get_size(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, uint64_t max, uint64_t *out)
{
	char		 err[PPC_ERRLEN], buf[32];
	long long	 iv;
	uint64_t	 v;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		iv = config_setting_get_int64(s);
		if (iv < 0) {
			conf_error(ctx, conf_line(s), "%s must not be "
			    "negative, found %lld", path, iv);
			return -1;
		}
		v = (uint64_t)iv;
		break;
	case CONFIG_TYPE_STRING:
		if (util_parse_size(config_setting_get_string(s), &v, err,
		    sizeof(err)) == -1) {
			conf_error(ctx, conf_line(s), "%s: %s", path, err);
			return -1;
		}
		break;
	default:
		conf_error(ctx, conf_line(s), "%s must be a size such as "
		    "\"80 GiB\" or an integer in bytes, found %s", path,
		    type_name(config_setting_type(s)));
		return -1;
	}
	if (v > max) {
		conf_error(ctx, conf_line(s), "%s is larger than the maximum "
		    "of %s", path, util_format_size(max, buf, sizeof(buf)));
		return -1;
	}
	*out = v;
	return 0;
}

static int
get_duration(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, uint64_t min, uint64_t *out)
{
	char		 err[PPC_ERRLEN];
	uint64_t	 v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_error(ctx, conf_line(s), "%s must be a duration string "
		    "with a unit, such as \"2s\" or \"500ms\", found %s", path,
		    type_name(config_setting_type(s)));
		return -1;
	}
	if (util_parse_duration(config_setting_get_string(s), &v, err,
	    sizeof(err)) == -1) {
		conf_error(ctx, conf_line(s), "%s: %s", path, err);
		return -1;
	}
	if (v < min) {
		conf_error(ctx, conf_line(s), "%s must be at least %llu ms, "
		    "found %llu ms", path, (unsigned long long)min,
		    (unsigned long long)v);
		return -1;
	}
	*out = v;
	return 0;
}

void
conf_strlist_free(char **list, size_t n)
{
	size_t	 i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* Frees a NULL-terminated vector from conf_get_strlist. */
void
conf_argv_free(char **argv)
{
	char	**p;

	if (argv == NULL)
		return;
	for (p = argv; *p != NULL; p++)
		free(*p);
	free(argv);
}

/* Reads an array or list of strings into a malloc'd, NULL-terminated
 * vector of copies. An empty list is an error. */
int
conf_get_strlist(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, size_t maxn, char ***out, size_t *n)
{
	config_setting_t	*e;
	char			 epath[160];
	char			**v;
	int			 count, i, bad = 0;

	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST) {
		conf_error(ctx, conf_line(s), "%s must be a list of strings "
		    "such as [ \"a\", \"b\" ], found %s", path,
		    type_name(config_setting_type(s)));
		return -1;
	}
	count = config_setting_length(s);
	if (count == 0) {
		conf_error(ctx, conf_line(s), "%s must not be empty", path);
		return -1;
	}
	if ((size_t)count > maxn) {
		conf_error(ctx, conf_line(s), "%s has %d entries, the maximum "
		    "is %zu", path, count, maxn);
		return -1;
	}
	if ((v = calloc((size_t)count + 1, sizeof(*v))) == NULL) {
		conf_error(ctx, conf_line(s), "out of memory");
		return -1;
	}
	for (i = 0; i < count; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		snprintf(epath, sizeof(epath), "%s[%d]", path, i);
		if (conf_get_string(ctx, e, epath, &v[i]) == -1)
			bad = 1;
	}
	if (bad) {
		conf_strlist_free(v, (size_t)count);
		return -1;
	}
	conf_strlist_free(*out, *n);
	*out = v;
	*n = (size_t)count;
	return 0;
}

static void
read_key(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
    const struct conf_key *k, void *base)
{
	char		*field = (char *)base + k->off;
	char		 err[PPC_ERRLEN], host[256];
	char		*str = NULL;
	uint64_t	 v;
	uint16_t	 port;

	switch (k->type) {
	case CK_STR:
		conf_get_string(ctx, s, path, (char **)(void *)field);
		break;
	case CK_HOSTPORT:
	case CK_NODEID:
		if (conf_get_string(ctx, s, path, &str) == -1)
			break;
		if (k->type == CK_HOSTPORT && util_split_host_port(str, host,
		    sizeof(host), &port, err, sizeof(err)) == -1) {
			conf_error(ctx, conf_line(s), "%s: %s", path, err);
			free(str);
			break;
		}
		if (k->type == CK_NODEID &&
		    util_check_node_id(str, err, sizeof(err)) == -1) {
			conf_error(ctx, conf_line(s), "%s: %s", path, err);
			free(str);
			break;
		}
		free(*(char **)(void *)field);
		*(char **)(void *)field = str;
		break;
	case CK_U16:
		if (conf_get_uint(ctx, s, path, k->min, k->max, &v) == 0)
			*(uint16_t *)(void *)field = (uint16_t)v;
		break;
	case CK_U32:
		if (conf_get_uint(ctx, s, path, k->min, k->max, &v) == 0)
			*(uint32_t *)(void *)field = (uint32_t)v;
		break;
	case CK_U64:
		if (conf_get_uint(ctx, s, path, k->min, k->max, &v) == 0)
			*(uint64_t *)(void *)field = v;
		break;
	case CK_SIZE:
	case CK_SIZE32:
		if (conf_get_size(ctx, s, path, k->max, &v) == -1)
			break;
		if (v < k->min) {
			conf_error(ctx, conf_line(s), "%s must be at least "
			    "%llu bytes, found %llu", path,
			    (unsigned long long)k->min,
			    (unsigned long long)v);
			break;
		}
		if (k->type == CK_SIZE)
			*(uint64_t *)(void *)field = v;
		else
			*(uint32_t *)(void *)field = (uint32_t)v;
		break;
	case CK_DURATION:
		if (get_duration(ctx, s, path, k->min, &v) == 0)
			*(uint64_t *)(void *)field = v;
		break;
	case CK_STRLIST:
		conf_get_strlist(ctx, s, path, k->max, (char ***)(void *)field,
		    (size_t *)(void *)((char *)base + k->off2));
		break;
	case CK_FUNC:
		k->fn(ctx, s, path, base);
		break;
	case CK_IGNORE:
		break;
	}
}

/* Lists the key names of a table into buf, for "unknown key" errors. */
static void
key_names(const struct conf_key *keys, char *buf, size_t len)
{
	size_t	 used = 0;
	int	 n;

	buf[0] = '\0';
	for (; keys->name != NULL && used < len; keys++) {
		n = snprintf(buf + used, len - used, "%s%s",
		    used > 0 ? ", " : "", keys->name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Reads every key of a group; a key not in `keys` is an error. */
void
conf_walk_group(struct conf_ctx *ctx, const config_setting_t *group,
    const struct conf_key *keys, void *base)
{
	const struct conf_key	*k;
	config_setting_t	*s;
	const char		*gname = config_setting_name(group);
	char			 path[128], names[PPC_ERRLEN / 2];
	int			 i, n;

	n = config_setting_length(group);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(group, (unsigned)i);
		snprintf(path, sizeof(path), "%s.%s", gname,
		    config_setting_name(s));
		for (k = keys; k->name != NULL; k++)
			if (strcmp(k->name, config_setting_name(s)) == 0)
				break;
		if (k->name == NULL) {
			key_names(keys, names, sizeof(names));
			conf_error(ctx, conf_line(s), "unknown key \"%s\" in "
			    "group %s (known keys: %s)",
			    config_setting_name(s), gname, names);
			continue;
		}
		read_key(ctx, s, path, k, base);
	}
}

/* Reads every top-level group; an unknown group, or a top-level setting
 * that is not a group, is an error. */
void
conf_walk(struct conf_ctx *ctx, const struct conf_group *groups, void *base)
{
	const struct conf_group	*g;
	config_setting_t	*root, *s;
	char			 names[128];
	size_t			 used;
	int			 i, n;

	root = config_root_setting(ctx->cfg);
	n = config_setting_length(root);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(root, (unsigned)i);
		for (g = groups; g->name != NULL; g++)
			if (strcmp(g->name, config_setting_name(s)) == 0)
				break;
		if (g->name == NULL) {
			used = 0;
			names[0] = '\0';
			for (g = groups; g->name != NULL; g++)
				if (g->keys != NULL && used < sizeof(names))
					used += (size_t)snprintf(names + used,
					    sizeof(names) - used, "%s%s",
					    used > 0 ? ", " : "", g->name);
			conf_error(ctx, conf_line(s), "unknown group \"%s\" "
			    "(known groups: %s)", config_setting_name(s),
			    names);
			continue;
		}
		if (g->keys == NULL)
			continue;
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			conf_error(ctx, conf_line(s), "%s must be a group "
			    "such as %s = { ... };, found %s", g->name, g->name,
			    type_name(config_setting_type(s)));
			continue;
		}
		conf_walk_group(ctx, s, g->keys, base);
	}
}
