/*
 * Shared helpers of the config parsers (conf.c, conf_head.c,
 * conf_agent.c, conf_model.c). Not part of the public API.
 */
#ifndef PPCOORD_CONF_PRIV_H
#define PPCOORD_CONF_PRIV_H

#include <libconfig.h>

#include "conf.h"

/* Caps the error list so that a huge broken file cannot exhaust memory. */
#define CONF_ERRORS_MAX		200

struct conf_ctx {
	const char		*name;		/* file name in messages */
	config_t		*cfg;
	struct conf_errors	*errs;
	int			 failed;	/* errors added so far */
	size_t			 first;		/* errs->count before this file */
};

enum conf_ktype {
	CK_STR,		/* non-empty string without control characters */
	CK_HOSTPORT,	/* string "host:port" */
	CK_NODEID,	/* string, a valid node id */
	CK_U16,		/* integer in min..max */
	CK_U32,
	CK_U64,
	CK_SIZE,	/* size string or integer bytes, into uint64_t */
	CK_SIZE32,	/* the same into uint32_t */
	CK_DURATION,	/* duration string, into uint64_t milliseconds */
	CK_STRLIST,	/* array or list of strings: char ** and size_t */
	CK_FUNC,	/* parsed by fn */
	CK_IGNORE,	/* read elsewhere, for example after the walk */
};

struct conf_key;
typedef void (*conf_key_fn)(struct conf_ctx *ctx, const config_setting_t *s,
    const char *path, void *base);

struct conf_key {
	const char	*name;
	enum conf_ktype	 type;
	size_t		 off;		/* offset of the field in base */
	size_t		 off2;		/* CK_STRLIST: offset of the count */
	uint64_t	 min;
	uint64_t	 max;
	conf_key_fn	 fn;
};

struct conf_group {
	const char		*name;
	const struct conf_key	*keys;	/* NULL: group ignored */
};

void		 conf_error(struct conf_ctx *ctx, unsigned line,
		    const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
unsigned	 conf_line(const config_setting_t *s);
unsigned	 conf_path_line(struct conf_ctx *ctx, const char *path);
bool		 conf_has(struct conf_ctx *ctx, const char *path);
int		 conf_open(struct conf_ctx *ctx, config_t *cfg, const char *text,
		    const char *name, struct conf_errors *errs);
void		 conf_sort_errors(struct conf_ctx *ctx);

void		 conf_walk(struct conf_ctx *ctx, const struct conf_group *groups,
		    void *base);
void		 conf_walk_group(struct conf_ctx *ctx,
		    const config_setting_t *group, const struct conf_key *keys,
		    void *base);

int		 conf_get_string(struct conf_ctx *ctx, const config_setting_t *s,
		    const char *path, char **out);
int		 conf_get_uint(struct conf_ctx *ctx, const config_setting_t *s,
		    const char *path, uint64_t min, uint64_t max, uint64_t *out);
int		 conf_get_size(struct conf_ctx *ctx, const config_setting_t *s,
		    const char *path, uint64_t max, uint64_t *out);
int		 conf_get_strlist(struct conf_ctx *ctx, const config_setting_t *s,
		    const char *path, size_t maxn, char ***out, size_t *n);
void		 conf_strlist_free(char **list, size_t n);
void		 conf_argv_free(char **argv);
char		*conf_strdup(struct conf_ctx *ctx, const char *s);
int		 conf_default(struct conf_ctx *ctx, char **field,
		    const char *value);

/* conf_model.c */
void		 conf_model_load(struct conf_ctx *ctx, struct head_conf *c);

#endif
