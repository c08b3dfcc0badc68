/*
 * The state file: the current plan, the inventory it was made from, its
 * generation and a digest of the planning inputs, so that a restarted head
 * gives every returning agent the assignment it already holds.
 *
 *   {"version": 1, "cluster": "default", "generation": 4,
 *    "state": "active" | "revoked", "plan": {...}, "inventory": {...},
 *    "config_digest": "<sha256 hex of the planning inputs>"}
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "log.h"

#include "head.h"

#define STATE_VERSION		1
#define STATE_FILE_MAX		(256u << 20)
#define STATE_ASIDE_MAX		1000	/* set-aside names tried per second */

static void
digest_printf(EVP_MD_CTX *md, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
digest_printf(EVP_MD_CTX *md, const char *fmt, ...)
{
	char	 buf[256];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	/* The NUL separates fields so "ab","c" differs from "a","bc". */
	EVP_DigestUpdate(md, buf, (size_t)n + 1);
}

/* SHA-256 of every planning input of cfg, as lowercase hex. */
void
state_config_digest(const struct plan_config *cfg, char *hex, size_t len)
{
	EVP_MD_CTX	*md;
	unsigned char	 sum[EVP_MAX_MD_SIZE];
	unsigned int	 sumlen = 0, i;
	size_t		 k;

	hex[0] = '\0';
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return;
	}
	digest_printf(md, "layers=%u tp=%u expected=%u port=%u order=%s "
	    "partition=%s", cfg->layers, cfg->tp_size, cfg->expected_nodes,
	    cfg->master_port, plan_order_name(cfg->order),
	    plan_partition_name(cfg->partition));
	for (k = 0; k < cfg->nlayer_partition; k++)
		digest_printf(md, "lp=%u", cfg->layer_partition[k]);
	digest_printf(md, "driver=%s", cfg->driver != NULL ? cfg->driver : "");
	for (k = 0; k < cfg->nlisted; k++)
		digest_printf(md, "listed=%s", cfg->listed[k]);
	for (k = 0; k < cfg->npins; k++)
		digest_printf(md, "pin=%s:%u", cfg->pins[k].node,
		    cfg->pins[k].stage);
	digest_printf(md, "u=%.9g reserve=%llu min_kv=%llu",
	    cfg->gpu_memory_utilization,
	    (unsigned long long)cfg->activation_reserve,
	    (unsigned long long)cfg->min_kv_tokens);
	if (cfg->sizes != NULL) {
		digest_printf(md, "E=%llu H=%llu k=%llu",
		    (unsigned long long)cfg->sizes->embedding_bytes,
		    (unsigned long long)cfg->sizes->head_bytes,
		    (unsigned long long)cfg->sizes->kv_bytes_per_token);
		for (k = 0; k < cfg->sizes->layers &&
		    cfg->sizes->layer_bytes != NULL; k++)
			digest_printf(md, "w=%llu",
			    (unsigned long long)cfg->sizes->layer_bytes[k]);
	}
	EVP_DigestFinal_ex(md, sum, &sumlen);
	EVP_MD_CTX_free(md);

	for (i = 0; i < sumlen && 2 * (size_t)i + 2 < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
}

/* The state file text built with jansson: for what state_text leaves
 * out (strings that are not UTF-8, numbers over INT64_MAX). */
static char *
state_text_jansson(const char *digest, const char *state, size_t *len,
    char *err, size_t errlen)
{
	struct head_conf	*conf = hd->h_conf;
	json_t			*o, *plan, *inv;
	char			*text;

	plan = plan_to_jansson(&hd->h_plan, &conf->plan);
	inv = inv_to_jansson(&hd->h_plan_inv);
	o = json_pack("{s:i, s:s, s:I, s:s, s:o*, s:o*, s:s}",
	    "version", STATE_VERSION, "cluster", conf->cluster_name,
	    "generation", (json_int_t)hd->h_generation,
	    "state", state, "plan", plan, "inventory", inv,
	    "config_digest", digest);
	if (o == NULL || plan == NULL || inv == NULL) {
		json_decref(o);
		snprintf(err, errlen, "out of memory for the state of "
		    "generation %llu", (unsigned long long)hd->h_generation);
		return NULL;
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL) {
		snprintf(err, errlen, "out of memory for the state file text");
		return NULL;
	}
	*len = strlen(text);
	return text;
}

/* The state document of the current plan, to free(); NULL with a
 * message in err. */
char *
state_build(size_t *len, char *err, size_t errlen)
{
	struct head_conf	*conf = hd->h_conf;
	const char		*state;
	char			 digest[2 * EVP_MAX_MD_SIZE + 1], *text;

	state_config_digest(&conf->plan, digest, sizeof(digest));
	state = hd->h_state == HEAD_REVOKED ? "revoked" : "active";
	text = state_text(&hd->h_plan, &hd->h_plan_inv, conf->plan.sizes,
	    STATE_VERSION, conf->cluster_name, hd->h_generation, state, digest,
	    len);
	if (text == NULL)
		text = state_text_jansson(digest, state, len, err, errlen);
	return text;
}

/* Writes the current plan to head.state_file atomically, or with
 * head.store = "etcd" starts its put to etcd. */
int
state_save(char *err, size_t errlen)
{
	struct head_conf	*conf = hd->h_conf;
	char			*text;
	struct timespec		 t0, t1;
	size_t			 len = 0;
	int			 rc;

	if (conf->store == CONF_STORE_ETCD) {
		ha_save(false);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((text = state_build(&len, err, errlen)) == NULL)
		return -1;
	rc = util_write_file_atomic(conf->state_file, text, len, 0600, err,
	    errlen);
	free(text);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* The time covers the JSON encoding and the write with its fsync. */
	if (rc == 0)
		log_info("state file %s: generation %llu written in %.1f ms "
		    "(%zu bytes)", conf->state_file,
		    (unsigned long long)hd->h_generation,
		    (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6, len);
	return rc;
}

/* Moves a state file that cannot be used out of the way, keeping it for
 * inspection, and completes the message in err. */
static void
state_set_aside(const char *path, char *err, size_t errlen)
{
	struct stat	 st;
	char		 aside[4096];
	size_t		 off = strlen(err);
	long long	 now = (long long)time(NULL);
	int		 i;

	/* A second bad file within the same second must not replace the
	 * first one set aside, so the name takes a counter then. */
	snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path, now);
	for (i = 1; i < STATE_ASIDE_MAX && lstat(aside, &st) == 0; i++)
		snprintf(aside, sizeof(aside), "%s.corrupt-%lld.%d", path,
		    now, i);
	if (rename(path, aside) == -1)
		snprintf(err + off, errlen - off, "; cannot rename it to %s: "
		    "%s; planning afresh", aside, strerror(errno));
	else
		snprintf(err + off, errlen - off, "; renamed to %s; planning "
		    "afresh", aside);
}

static int
state_parse(json_t *o, struct plan *p, struct inv *inv, bool *revoked,
    bool *digest_differs, char *err, size_t errlen)
{
	const char	*cluster, *state, *digest;
	json_int_t	 version, generation;
	json_t		*jplan, *jinv;
	json_error_t	 jerr;
	char		 mine[2 * EVP_MAX_MD_SIZE + 1];

	if (json_unpack_ex(o, &jerr, JSON_STRICT, "{s:I, s:s, s:I, s:s, s:o, "
	    "s:o, s:s}", "version", &version, "cluster", &cluster,
	    "generation", &generation, "state", &state, "plan", &jplan,
	    "inventory", &jinv, "config_digest", &digest) != 0) {
		snprintf(err, errlen, "%s", jerr.text);
		return -1;
	}
	if (version != STATE_VERSION) {
		snprintf(err, errlen, "version %lld is not supported (this head "
		    "reads version %d)", (long long)version, STATE_VERSION);
		return -1;
	}
	if (strcmp(cluster, hd->h_conf->cluster_name) != 0) {
		snprintf(err, errlen, "it belongs to cluster \"%.64s\", not "
		    "\"%s\"", cluster, hd->h_conf->cluster_name);
		return -1;
	}
	if (generation < 1) {
		snprintf(err, errlen, "generation %lld is not positive",
		    (long long)generation);
		return -1;
	}
	if (strcmp(state, "active") != 0 && strcmp(state, "revoked") != 0) {
		snprintf(err, errlen, "state \"%.32s\" is neither active nor "
		    "revoked", state);
		return -1;
	}
	if (plan_from_jansson(p, jplan, err, errlen) != 0)
		return -1;
	if (p->generation != (uint64_t)generation) {
		snprintf(err, errlen, "the plan's generation %llu differs from "
		    "the file's %lld", (unsigned long long)p->generation,
		    (long long)generation);
		return -1;
	}
	if (inv_from_jansson(inv, jinv, "inventory", err, errlen) != 0)
		return -1;

	state_config_digest(&hd->h_conf->plan, mine, sizeof(mine));
	*digest_differs = strcmp(mine, digest) != 0;
	*revoked = strcmp(state, "revoked") == 0;
	return 0;
}

/*
 * Parses a state document (from etcd) into the head's plan, with the
 * same checks as the state file. Returns 1 when restored, 2 when
 * restored from a config with other planning inputs, or -1 with the
 * reason in err.
 */
int
state_load_text(const char *text, size_t len, char *err, size_t errlen)
{
	struct plan	 p;
	struct inv	 inv;
	json_t		*o;
	json_error_t	 jerr;
	bool		 revoked = false, differs = false;

	plan_init(&p);
	inv_init(&inv);
	if ((o = json_loadb(text, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		snprintf(err, errlen, "not valid JSON: line %d: %s", jerr.line,
		    jerr.text);
		return -1;
	}
	if (!json_is_object(o) || state_parse(o, &p, &inv, &revoked,
	    &differs, err, errlen) == -1) {
		if (!json_is_object(o))
			snprintf(err, errlen, "not a JSON object");
		json_decref(o);
		plan_free(&p);
		inv_free(&inv);
		return -1;
	}
	json_decref(o);

	hd->h_plan = p;
	hd->h_plan_inv = inv;
	hd->h_generation = p.generation;
	hd->h_have_plan = true;
	hd->h_state = revoked ? HEAD_REVOKED : HEAD_ACTIVE;
	return differs ? 2 : 1;
}

/*
 * Reads head.state_file into the head's plan. Returns 0 when there is no
 * file, 1 when restored, 2 when restored from a config with other
 * planning inputs, or -1 when the file was unusable: then it is renamed
 * to STATE_FILE.corrupt-<unix time> (with ".N" added when that name is
 * taken) and err says why.
 */
int
state_load(char *err, size_t errlen)
{
	const char	*path = hd->h_conf->state_file;
	struct stat	 st;
	struct plan	 p;
	struct inv	 inv;
	json_t		*o;
	json_error_t	 jerr;
	char		*text, why[PPC_ERRLEN];
	size_t		 len;
	bool		 revoked = false, differs = false;

	if (stat(path, &st) == -1 && errno == ENOENT)
		return 0;

	plan_init(&p);
	inv_init(&inv);
	if ((text = util_read_file(path, STATE_FILE_MAX, &len, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "state file %s unreadable: %s", path,
		    why);
		state_set_aside(path, err, errlen);
		return -1;
	}
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (o == NULL) {
		snprintf(err, errlen, "state file %s is not valid JSON: line "
		    "%d: %s", path, jerr.line, jerr.text);
		state_set_aside(path, err, errlen);
		return -1;
	}
	if (!json_is_object(o) || state_parse(o, &p, &inv, &revoked,
	    &differs, why, sizeof(why)) == -1) {
		if (!json_is_object(o))
			snprintf(why, sizeof(why), "not a JSON object");
		json_decref(o);
		plan_free(&p);
		inv_free(&inv);
		snprintf(err, errlen, "state file %s is invalid: %s", path,
		    why);
		state_set_aside(path, err, errlen);
		return -1;
	}
	json_decref(o);

	hd->h_plan = p;
	hd->h_plan_inv = inv;
	hd->h_generation = p.generation;
	hd->h_have_plan = true;
	hd->h_state = revoked ? HEAD_REVOKED : HEAD_ACTIVE;
	return differs ? 2 : 1;
}
