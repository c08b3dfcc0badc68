/*
 * The stage environment file: formatting with every value checked first,
 * atomic replacement, and a reader that tolerates comments and blank lines
 * but checks the value of every known key.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envfile.h"
#include "util.h"

/* Room for every fixed variable plus two copies of the partition. */
#define ENVFILE_TEXT_MAX	(2 * ENVFILE_PARTITION_MAX + 1024)

/* Keys in file order. The assigned state writes all of them, the standby
 * and revoked states the first three. */
enum envfile_key {
	KEY_STATE,
	KEY_GENERATION,
	KEY_NODE_ID,
	KEY_NODE_RANK,
	KEY_NNODES,
	KEY_FIRST_STAGE,
	KEY_STAGE_COUNT,
	KEY_NUM_STAGES,
	KEY_TP_SIZE,
	KEY_FIRST_LAYER,
	KEY_END_LAYER,
	KEY_MASTER_ADDR,
	KEY_MASTER_PORT,
	KEY_VLLM_PARTITION,
	KEY_SGLANG_PARTITION,
	KEY_COUNT
};

static const char *envfile_keys[KEY_COUNT] = {
	"PPCOORD_STATE",
	"PPCOORD_GENERATION",
	"PPCOORD_NODE_ID",
	"PPCOORD_NODE_RANK",
	"PPCOORD_NNODES",
	"PPCOORD_FIRST_STAGE",
	"PPCOORD_STAGE_COUNT",
	"PPCOORD_NUM_STAGES",
	"PPCOORD_TP_SIZE",
	"PPCOORD_FIRST_LAYER",
	"PPCOORD_END_LAYER",
	"PPCOORD_MASTER_ADDR",
	"PPCOORD_MASTER_PORT",
	"VLLM_PP_LAYER_PARTITION",
	"SGLANG_PP_LAYER_PARTITION",
};

const char *
envfile_state_name(enum stage_state s)
{
	switch (s) {
	case STAGE_ASSIGNED:
		return "assigned";
	case STAGE_STANDBY:
		return "standby";
	case STAGE_REVOKED:
		return "revoked";
	default:
		return "none";
	}
}

int
envfile_format_partition(const uint32_t *parts, size_t n, char *buf,
    size_t len)
{
	size_t	used = 0;
	size_t	i;
	int	w;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		w = snprintf(buf + used, len - used, "%s%" PRIu32,
		    i == 0 ? "" : ",", parts[i]);
		if (w < 0 || (size_t)w >= len - used) {
			buf[used] = '\0';
			return -1;
		}
		used += (size_t)w;
	}
	return 0;
}

/*
 * Checks a "27,27,26" split: num_stages positive entries. Sets *first and
 * *end to the layer range of stages first_stage .. first_stage+count-1.
 */
static int
envfile_check_partition(const char *s, uint32_t num_stages,
    uint32_t first_stage, uint32_t count, uint64_t *first, uint64_t *end,
    char *err, size_t errlen)
{
	uint64_t	sum = 0, v;
	uint32_t	n = 0;
	const char	*p = s;

	*first = *end = 0;
	for (;;) {
		if (!isdigit((unsigned char)*p)) {
			util_err(err, errlen, "layer partition \"%.64s\": "
			    "entry %" PRIu32 " is not a positive integer", s,
			    n + 1);
			return -1;
		}
		v = 0;
		while (isdigit((unsigned char)*p) && v <= UINT32_MAX)
			v = v * 10 + (uint64_t)(*p++ - '0');
		if (v == 0 || v > UINT32_MAX) {
			util_err(err, errlen, "layer partition \"%.64s\": "
			    "entry %" PRIu32 " is out of range: expected 1 to %"
			    PRIu32, s, n + 1, UINT32_MAX);
			return -1;
		}
		if (n == first_stage)
			*first = sum;
		sum += v;
		n++;
		if (n == (uint64_t)first_stage + count)
			*end = sum;
		if (*p == '\0')
			break;
		if (*p != ',' || n >= num_stages) {
			util_err(err, errlen, "layer partition \"%.64s\": "
			    "expected %" PRIu32 " comma-separated entries",
			    s, num_stages);
			return -1;
		}
		p++;
	}
	if (n != num_stages) {
		util_err(err, errlen, "layer partition \"%.64s\" has %" PRIu32
		    " entries: expected num_stages %" PRIu32, s, n, num_stages);
		return -1;
	}
	return 0;
}

/* Checks the fields that only an assignment has. */
static int
envfile_check_assigned(const struct stage_env *env, char *err,
    size_t errlen)
{
	uint64_t	first, end;
	char		msg[PPC_ERRLEN];

	if (util_check_address(env->master_addr, msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "master address: %s", msg);
		return -1;
	}
	if (env->master_port == 0) {
		util_err(err, errlen, "master port 0 is invalid: expected 1 to "
		    "65535");
		return -1;
	}
	if (env->num_stages == 0 || env->tp_size == 0 || env->nnodes == 0) {
		util_err(err, errlen, "num_stages %" PRIu32 ", tp_size %" PRIu32
		    " and nnodes %" PRIu32 " must all be at least 1",
		    env->num_stages, env->tp_size, env->nnodes);
		return -1;
	}
	if (env->node_rank >= env->nnodes) {
		util_err(err, errlen, "node rank %" PRIu32 " is not below "
		    "nnodes %" PRIu32, env->node_rank, env->nnodes);
		return -1;
	}
	if (env->stage_count == 0 || env->first_stage >= env->num_stages ||
	    env->num_stages - env->first_stage < env->stage_count) {
		util_err(err, errlen, "stages %" PRIu32 " to %" PRIu64 " are "
		    "outside num_stages %" PRIu32, env->first_stage,
		    (uint64_t)env->first_stage + env->stage_count,
		    env->num_stages);
		return -1;
	}
	if (envfile_check_partition(env->layer_partition, env->num_stages,
	    env->first_stage, env->stage_count, &first, &end, err,
	    errlen) == -1)
		return -1;
	if (env->first_layer != first || env->end_layer != end) {
		util_err(err, errlen, "layers %" PRIu32 " to %" PRIu32 " do not "
		    "match layer partition %.64s, which gives stages %" PRIu32
		    " to %" PRIu64 " layers %" PRIu64 " to %" PRIu64,
		    env->first_layer, env->end_layer, env->layer_partition,
		    env->first_stage,
		    (uint64_t)env->first_stage + env->stage_count, first, end);
		return -1;
	}
	return 0;
}

int
envfile_check(const struct stage_env *env, char *err, size_t errlen)
{
	char msg[PPC_ERRLEN];

	if (env->state != STAGE_ASSIGNED && env->state != STAGE_STANDBY &&
	    env->state != STAGE_REVOKED) {
		util_err(err, errlen, "state %d is not assigned, standby or "
		    "revoked", (int)env->state);
		return -1;
	}
	if (util_check_node_id(env->node_id, msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "%s", msg);
		return -1;
	}
	if (env->state != STAGE_ASSIGNED)
		return 0;
	return envfile_check_assigned(env, err, errlen);
}

/* Writes the variables of a checked environment into buf. */
static int
envfile_format_text(const struct stage_env *env, char *buf, size_t len)
{
	int n;

	if (env->state != STAGE_ASSIGNED)
		n = snprintf(buf, len,
		    "PPCOORD_STATE=%s\n"
		    "PPCOORD_GENERATION=%" PRIu64 "\n"
		    "PPCOORD_NODE_ID=%s\n",
		    envfile_state_name(env->state), env->generation,
		    env->node_id);
	else
		n = snprintf(buf, len,
		    "PPCOORD_STATE=%s\n"
		    "PPCOORD_GENERATION=%" PRIu64 "\n"
		    "PPCOORD_NODE_ID=%s\n"
		    "PPCOORD_NODE_RANK=%" PRIu32 "\n"
		    "PPCOORD_NNODES=%" PRIu32 "\n"
		    "PPCOORD_FIRST_STAGE=%" PRIu32 "\n"
		    "PPCOORD_STAGE_COUNT=%" PRIu32 "\n"
		    "PPCOORD_NUM_STAGES=%" PRIu32 "\n"
		    "PPCOORD_TP_SIZE=%" PRIu32 "\n"
		    "PPCOORD_FIRST_LAYER=%" PRIu32 "\n"
		    "PPCOORD_END_LAYER=%" PRIu32 "\n"
		    "PPCOORD_MASTER_ADDR=%s\n"
		    "PPCOORD_MASTER_PORT=%u\n"
		    "VLLM_PP_LAYER_PARTITION=%s\n"
		    "SGLANG_PP_LAYER_PARTITION=%s\n",
		    envfile_state_name(env->state), env->generation,
		    env->node_id, env->node_rank, env->nnodes,
		    env->first_stage, env->stage_count, env->num_stages,
		    env->tp_size, env->first_layer, env->end_layer,
		    env->master_addr, (unsigned)env->master_port,
		    env->layer_partition, env->layer_partition);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

char *
envfile_format(const struct stage_env *env)
{
	char	*buf;

	if (envfile_check(env, NULL, 0) == -1)
		return NULL;
	buf = malloc(ENVFILE_TEXT_MAX);
	if (buf == NULL)
		return NULL;
	if (envfile_format_text(env, buf, ENVFILE_TEXT_MAX) == -1) {
		free(buf);
		return NULL;
	}
	return buf;
}

int
envfile_write(const char *path, const struct stage_env *env, char *err,
    size_t errlen)
{
	char	 msg[PPC_ERRLEN];
	char	*text;
	int	 r;

	if (envfile_check(env, msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "%s: not written: %s", path, msg);
		return -1;
	}
	text = envfile_format(env);
	if (text == NULL) {
		util_err(err, errlen, "%s: out of memory", path);
		return -1;
	}
	r = util_write_file_atomic(path, text, strlen(text), 0644, err,
	    errlen);
	free(text);
	return r;
}

/* Reading. */

/* Parses a decimal number no larger than max: digits only, no sign. */
static int
envfile_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t	v = 0;
	const char	*p;

	if (*s == '\0')
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		if (v > (max - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return 0;
}

static int
envfile_parse_state(const char *s, enum stage_state *state)
{
	if (strcmp(s, "assigned") == 0)
		*state = STAGE_ASSIGNED;
	else if (strcmp(s, "standby") == 0)
		*state = STAGE_STANDBY;
	else if (strcmp(s, "revoked") == 0)
		*state = STAGE_REVOKED;
	else
		return -1;
	return 0;
}

static int
envfile_set_string(char *buf, size_t size, const char *value, char *err,
    size_t errlen)
{
	size_t len = strlen(value);

	if (len >= size) {
		util_err(err, errlen, "value is %zu bytes long: the maximum is "
		    "%zu", len, size - 1);
		return -1;
	}
	memcpy(buf, value, len + 1);
	return 0;
}

/* Stores one known key's value. Returns 0, or -1 with a message. */
static int
envfile_set(struct stage_env *env, enum envfile_key key, const char *value,
    char *err, size_t errlen)
{
	uint32_t	*u32[KEY_COUNT] = {
		[KEY_NODE_RANK] = &env->node_rank,
		[KEY_NNODES] = &env->nnodes,
		[KEY_FIRST_STAGE] = &env->first_stage,
		[KEY_STAGE_COUNT] = &env->stage_count,
		[KEY_NUM_STAGES] = &env->num_stages,
		[KEY_TP_SIZE] = &env->tp_size,
		[KEY_FIRST_LAYER] = &env->first_layer,
		[KEY_END_LAYER] = &env->end_layer,
	};
	uint64_t	 v;
	size_t		 len = strlen(value);

	switch (key) {
	case KEY_STATE:
		if (envfile_parse_state(value, &env->state) == 0)
			return 0;
		util_err(err, errlen, "expected assigned, standby or revoked");
		return -1;
	case KEY_GENERATION:
		if (envfile_parse_uint(value, UINT64_MAX, &env->generation) == 0)
			return 0;
		break;
	case KEY_MASTER_PORT:
		if (envfile_parse_uint(value, 65535, &v) == 0 && v > 0) {
			env->master_port = (uint16_t)v;
			return 0;
		}
		util_err(err, errlen, "expected a port from 1 to 65535");
		return -1;
	case KEY_NODE_ID:
		/* Both strings are checked as a whole by envfile_check. */
		return envfile_set_string(env->node_id, sizeof(env->node_id),
		    value, err, errlen);
	case KEY_MASTER_ADDR:
		return envfile_set_string(env->master_addr,
		    sizeof(env->master_addr), value, err, errlen);
	case KEY_VLLM_PARTITION:
	case KEY_SGLANG_PARTITION:
		if (len >= sizeof(env->layer_partition)) {
			util_err(err, errlen, "value is %zu bytes long: the "
			    "maximum is %zu", len,
			    sizeof(env->layer_partition) - 1);
			return -1;
		}
		if (env->layer_partition[0] != '\0' &&
		    strcmp(env->layer_partition, value) != 0) {
			util_err(err, errlen, "differs from the other layer "
			    "partition variable \"%.64s\"",
			    env->layer_partition);
			return -1;
		}
		memcpy(env->layer_partition, value, len + 1);
		return 0;
	default:
		if (envfile_parse_uint(value, UINT32_MAX, &v) == 0) {
			*u32[key] = (uint32_t)v;
			return 0;
		}
		break;
	}
	util_err(err, errlen, "expected a non-negative integer");
	return -1;
}

static int
envfile_key_lookup(const char *name, size_t len)
{
	int k;

	for (k = 0; k < KEY_COUNT; k++) {
		if (strlen(envfile_keys[k]) == len &&
		    memcmp(envfile_keys[k], name, len) == 0)
			return k;
	}
	return -1;
}

/*
 * Splits one line into key and value in place. The value ends at the first
 * space or tab, after which only a "#" comment may follow, and one pair of
 * surrounding double or single quotes is removed. Returns 1 for a
 * KEY=VALUE line, 0 for a blank or comment line, -1 for anything else.
 */
static int
envfile_split_line(char *line, char **key, size_t *keylen, char **value)
{
	char	*p = line, *eq, *v, *q;
	size_t	 vlen;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	eq = strchr(p, '=');
	if (eq == NULL || eq == p)
		return -1;
	*key = p;
	*keylen = (size_t)(eq - p);

	v = eq + 1;
	q = v + strcspn(v, " \t");
	if (*q != '\0') {
		*q++ = '\0';
		q += strspn(q, " \t");
		if (*q != '\0' && *q != '#')
			return -1;
	}
	vlen = strlen(v);
	if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
		v[vlen - 1] = '\0';
		v++;
	}
	*value = v;
	return 1;
}

/* Checks that the keys the file's state needs are all present. */
static int
envfile_check_present(const bool *seen, enum stage_state state,
    const char *name, char *err, size_t errlen)
{
	int k, last;

	last = state == STAGE_ASSIGNED ? KEY_SGLANG_PARTITION : KEY_NODE_ID;
	for (k = 0; k <= last; k++) {
		/* Either partition variable is enough. */
		if (k == KEY_VLLM_PARTITION &&
		    (seen[KEY_VLLM_PARTITION] || seen[KEY_SGLANG_PARTITION]))
			k = KEY_SGLANG_PARTITION;
		else if (!seen[k]) {
			util_err(err, errlen, "%s: %s is missing", name,
			    envfile_keys[k]);
			return -1;
		}
	}
	return 0;
}

int
envfile_parse(const char *text, size_t len, struct stage_env *env,
    const char *name, char *err, size_t errlen)
{
	bool	 seen[KEY_COUNT] = { false };
	char	 msg[PPC_ERRLEN];
	char	*copy, *line, *next, *key, *value;
	size_t	 keylen, lineno = 0;
	int	 k, r;

	memset(env, 0, sizeof(*env));
	if (name == NULL)
		name = "environment file";
	if (len > ENVFILE_MAX) {
		util_err(err, errlen, "%s: %zu bytes is over the limit of %u",
		    name, len, ENVFILE_MAX);
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		util_err(err, errlen, "%s: contains a NUL byte", name);
		return -1;
	}
	copy = strndup(text, len);
	if (copy == NULL) {
		util_err(err, errlen, "%s: out of memory", name);
		return -1;
	}

	for (line = copy; line != NULL; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		line[strcspn(line, "\r")] = '\0';

		r = envfile_split_line(line, &key, &keylen, &value);
		if (r == 0)
			continue;
		if (r == -1) {
			util_err(err, errlen, "%s:%zu: expected KEY=VALUE",
			    name, lineno);
			goto fail;
		}
		k = envfile_key_lookup(key, keylen);
		if (k == -1)
			continue;
		if (seen[k]) {
			util_err(err, errlen, "%s:%zu: %s is set twice", name,
			    lineno, envfile_keys[k]);
			goto fail;
		}
		seen[k] = true;
		if (envfile_set(env, (enum envfile_key)k, value, msg,
		    sizeof(msg)) == -1) {
			util_err(err, errlen, "%s:%zu: invalid %s \"%.64s\": "
			    "%s", name, lineno, envfile_keys[k], value, msg);
			goto fail;
		}
	}
	free(copy);
	copy = NULL;

	if (!seen[KEY_STATE]) {
		util_err(err, errlen, "%s: PPCOORD_STATE is missing", name);
		goto fail;
	}
	if (envfile_check_present(seen, env->state, name, err, errlen) == -1)
		goto fail;
	if (envfile_check(env, msg, sizeof(msg)) == -1) {
		util_err(err, errlen, "%s: %s", name, msg);
		goto fail;
	}
	return 0;

fail:
	free(copy);
	memset(env, 0, sizeof(*env));
	return -1;
}

int
envfile_read(const char *path, struct stage_env *env, char *err,
    size_t errlen)
{
	char	*text;
	size_t	 len;
	int	 r;

	memset(env, 0, sizeof(*env));
	errno = 0;
	text = util_read_file(path, ENVFILE_MAX, &len, err, errlen);
	if (text == NULL) {
		if (errno == ENOENT) {
			env->state = STAGE_NONE;
			return 0;
		}
		return -1;
	}
	r = envfile_parse(text, len, env, path, err, errlen);
	free(text);
	return r;
}

char **
envfile_vars(const struct stage_env *env)
{
	char	 *text, *line, *next, **vars;
	size_t	  n = 0;

	text = envfile_format(env);
	if (text == NULL)
		return NULL;
	vars = calloc(KEY_COUNT + 1, sizeof(*vars));
	if (vars == NULL) {
		free(text);
		return NULL;
	}

	/* The formatted text is one KEY=VALUE per line, no comments. */
	for (line = text; *line != '\0' && n < KEY_COUNT; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		vars[n] = strdup(line);
		if (vars[n] == NULL) {
			envfile_free_vars(vars);
			free(text);
			return NULL;
		}
		n++;
	}
	free(text);
	return vars;
}

void
envfile_free_vars(char **vars)
{
	size_t i;

	if (vars == NULL)
		return;
	for (i = 0; vars[i] != NULL; i++)
		free(vars[i]);
	free(vars);
}

int
envfile_same_placement(const struct stage_env *a, const struct stage_env *b)
{
	return strcmp(a->node_id, b->node_id) == 0 &&
	    a->node_rank == b->node_rank &&
	    a->nnodes == b->nnodes &&
	    a->first_stage == b->first_stage &&
	    a->stage_count == b->stage_count &&
	    a->num_stages == b->num_stages &&
	    a->tp_size == b->tp_size &&
	    a->first_layer == b->first_layer &&
	    a->end_layer == b->end_layer &&
	    strcmp(a->master_addr, b->master_addr) == 0 &&
	    a->master_port == b->master_port &&
	    strcmp(a->layer_partition, b->layer_partition) == 0;
}
