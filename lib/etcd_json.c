/*
 * Request bodies for the etcd v3 JSON gateway and checks of its replies.
 * The gateway encodes protobuf as JSON: keys and values are base64, int64
 * fields are decimal strings, and fields with their zero value are left
 * out (so a failed transaction has no "succeeded" and an expired lease no
 * "TTL").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "etcd_impl.h"

static void etcd_json_fail(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
etcd_json_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Dumps and frees `doc`. */
static char *
etcd_json_dump(json_t *doc)
{
	char	*s = NULL;

	if (doc != NULL)
		s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

/* A decimal string, the proto3 JSON form of int64. */
static json_t *
etcd_json_i64(int64_t v)
{
	char	buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return json_string(buf);
}

static json_t *
etcd_json_b64(const void *data, size_t len)
{
	json_t	*s;
	char	*b;

	if ((b = etcd_b64_encode(data, len)) == NULL)
		return NULL;
	s = json_string(b);
	free(b);
	return s;
}

char *
etcd_json_grant(int64_t ttl_s)
{
	return etcd_json_dump(json_pack("{s:o}", "TTL", etcd_json_i64(ttl_s)));
}

char *
etcd_json_lease_id(int64_t lease)
{
	return etcd_json_dump(json_pack("{s:o}", "ID", etcd_json_i64(lease)));
}

char *
etcd_json_range(const char *key)
{
	return etcd_json_dump(json_pack("{s:o}", "key",
	    etcd_json_b64(key, strlen(key))));
}

/* A transaction that puts key = value with the lease only if the key does
 * not exist (create revision 0), and otherwise reads the key. */
char *
etcd_json_create(const char *key, const char *value, int64_t lease)
{
	return etcd_json_dump(json_pack(
	    "{s:[{s:o,s:s,s:s,s:o}],s:[{s:{s:o,s:o,s:o}}],s:[{s:{s:o}}]}",
	    "compare",
	    "key", etcd_json_b64(key, strlen(key)), "target", "CREATE",
	    "result", "EQUAL", "create_revision", etcd_json_i64(0),
	    "success", "request_put",
	    "key", etcd_json_b64(key, strlen(key)),
	    "value", etcd_json_b64(value, strlen(value)),
	    "lease", etcd_json_i64(lease),
	    "failure", "request_range",
	    "key", etcd_json_b64(key, strlen(key))));
}

/* A transaction that puts key = value only while fence_key has the create
 * revision create_rev, and otherwise reads fence_key. */
char *
etcd_json_fenced_put(const char *fence_key, int64_t create_rev,
    const char *key, const char *value, size_t len)
{
	return etcd_json_dump(json_pack(
	    "{s:[{s:o,s:s,s:s,s:o}],s:[{s:{s:o,s:o}}],s:[{s:{s:o}}]}",
	    "compare",
	    "key", etcd_json_b64(fence_key, strlen(fence_key)),
	    "target", "CREATE", "result", "EQUAL",
	    "create_revision", etcd_json_i64(create_rev),
	    "success", "request_put",
	    "key", etcd_json_b64(key, strlen(key)),
	    "value", etcd_json_b64(value, len),
	    "failure", "request_range",
	    "key", etcd_json_b64(fence_key, strlen(fence_key))));
}

char *
etcd_b64_encode(const void *data, size_t len)
{
	char	*out;

	if (len > (size_t)ETCD_REPLY_MAX)
		return NULL;
	if ((out = malloc(4 * ((len + 2) / 3) + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/*
 * Decodes standard base64 with padding into a NUL-terminated buffer of at
 * most `max` bytes. Returns NULL on invalid input or a larger result.
 */
char *
etcd_b64_decode(const char *s, size_t max, size_t *len)
{
	size_t		 n = strlen(s), pad = 0, i;
	unsigned char	*out;
	int		 got;

	if (n % 4 != 0 || n / 4 * 3 > max + 2)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '=' && i >= n - 2)
			continue;
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789+/", s[i]) == NULL ||
		    (i > 0 && s[i - 1] == '='))
			return NULL;
	}
	if (n > 0 && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	if (n / 4 * 3 - pad > max)
		return NULL;

	if ((out = malloc(n / 4 * 3 + 1)) == NULL)
		return NULL;
	/* EVP_DecodeBlock counts the padding as decoded zero bytes. */
	got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (got < 0 || (size_t)got < pad) {
		free(out);
		return NULL;
	}
	*len = (size_t)got - pad;
	out[*len] = '\0';
	return (char *)out;
}

/* Checks a leader value: 1 to ETCD_LEADER_MAX printable ASCII bytes
 * without spaces, so that it is safe in a log line and a NotLeader reply. */
int
etcd_check_value(const char *v, size_t len, char *err, size_t errlen)
{
	size_t	i;

	if (len == 0 || len > ETCD_LEADER_MAX) {
		etcd_json_fail(err, errlen, "leader value must be 1 to %d "
		    "bytes, found %zu", ETCD_LEADER_MAX, len);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (v[i] <= ' ' || v[i] > '~') {
			etcd_json_fail(err, errlen, "leader value has byte "
			    "0x%02x at offset %zu; only printable ASCII "
			    "without spaces is allowed",
			    (unsigned char)v[i], i);
			return -1;
		}
	}
	return 0;
}

void
etcd_sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if (*s < ' ' || *s > '~')
			*s = '?';
}

/* Copies the printable start of a non-JSON reply body for a message. */
static void
etcd_json_snippet(const char *body, size_t len, char *buf, size_t buflen)
{
	size_t	i, n = 0;

	for (i = 0; i < len && n + 1 < buflen && n < 80; i++) {
		if (body[i] == '\n' || body[i] == '\r')
			break;
		buf[n++] = (body[i] >= ' ' && body[i] <= '~') ? body[i] : '?';
	}
	buf[n] = '\0';
}

/* Reads an "error" member: a string (unary replies and LeaseGrant's own
 * field) or an object with "message" (errors inside a stream). */
static const char *
etcd_json_error_text(const json_t *doc, int *grpc_code)
{
	const json_t	*e, *m, *c;

	if ((e = json_object_get(doc, "error")) == NULL)
		return NULL;
	c = json_object_get(doc, "code");
	if (json_is_object(e)) {
		if ((m = json_object_get(e, "message")) == NULL ||
		    !json_is_string(m))
			return "error object without a message";
		c = json_object_get(e, "grpc_code");
		if (json_is_integer(c))
			*grpc_code = (int)json_integer_value(c);
		return json_string_value(m);
	}
	if (!json_is_string(e))
		return "error member that is not a string";
	if (json_string_length(e) == 0)
		return NULL;
	if (json_is_integer(c))
		*grpc_code = (int)json_integer_value(c);
	return json_string_value(e);
}

/*
 * Checks a reply: HTTP 200, a JSON object of at most ETCD_REPLY_MAX bytes
 * and no "error" member. On an etcd error, err contains etcd's message and
 * grpc_code its code (0 when the reply has none).
 */
int
etcd_json_reply(const char *body, size_t len, long http_status,
    json_t **reply, int *grpc_code, char *err, size_t errlen)
{
	json_error_t	 jerr;
	json_t		*doc;
	const char	*text;
	char		 snippet[96];

	*reply = NULL;
	*grpc_code = 0;
	if (len > ETCD_REPLY_MAX) {
		etcd_json_fail(err, errlen, "reply of %zu bytes is over the "
		    "limit of %u", len, ETCD_REPLY_MAX);
		return -1;
	}
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL || !json_is_object(doc)) {
		etcd_json_snippet(body, len, snippet, sizeof(snippet));
		if (http_status != 200)
			etcd_json_fail(err, errlen, "HTTP status %ld: \"%s\"",
			    http_status, snippet);
		else
			etcd_json_fail(err, errlen, "reply is not a JSON "
			    "object: %s: \"%s\"", doc == NULL ? jerr.text :
			    "another JSON type", snippet);
		json_decref(doc);
		return -1;
	}
	if ((text = etcd_json_error_text(doc, grpc_code)) != NULL) {
		etcd_json_fail(err, errlen, "etcd error: %.200s (code %d)",
		    text, *grpc_code);
		etcd_sanitize(err);
		json_decref(doc);
		return -1;
	}
	if (http_status != 200) {
		etcd_json_fail(err, errlen, "HTTP status %ld without an etcd "
		    "error", http_status);
		json_decref(doc);
		return -1;
	}
	*reply = doc;
	return 0;
}

/* Reads an int64 member, a decimal string or a JSON integer; an absent
 * member is 0, as proto3 JSON leaves zero values out. */
int
etcd_json_int64(const json_t *obj, const char *name, int64_t *v, char *err,
    size_t errlen)
{
	const json_t	*m;
	const char	*s;
	char		*end;
	long long	 n;

	*v = 0;
	if ((m = json_object_get(obj, name)) == NULL)
		return 0;
	if (json_is_integer(m)) {
		*v = json_integer_value(m);
		return 0;
	}
	if (!json_is_string(m)) {
		etcd_json_fail(err, errlen, "\"%s\" must be an integer or a "
		    "decimal string", name);
		return -1;
	}
	s = json_string_value(m);
	errno = 0;
	n = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno == ERANGE ||
	    json_string_length(m) > 20) {
		etcd_json_fail(err, errlen, "\"%s\" is not a 64-bit decimal "
		    "integer: \"%.24s\"", name, s);
		return -1;
	}
	*v = n;
	return 0;
}

static int
etcd_json_object(const json_t *obj, const char *name, const json_t **out,
    char *err, size_t errlen)
{
	*out = json_object_get(obj, name);
	if (*out == NULL || !json_is_object(*out)) {
		etcd_json_fail(err, errlen, "reply has no \"%s\" object", name);
		return -1;
	}
	return 0;
}

int
etcd_json_grant_reply(const json_t *reply, int64_t *lease, int64_t *ttl_s,
    char *err, size_t errlen)
{
	if (etcd_json_int64(reply, "ID", lease, err, errlen) == -1 ||
	    etcd_json_int64(reply, "TTL", ttl_s, err, errlen) == -1)
		return -1;
	if (*lease <= 0 || *ttl_s <= 0) {
		etcd_json_fail(err, errlen, "lease grant reply has ID %lld "
		    "and TTL %lld; both must be positive", (long long)*lease,
		    (long long)*ttl_s);
		return -1;
	}
	return 0;
}

/* Reads the TTL that a keepalive of `lease` left; 0 means etcd no longer
 * has the lease. */
int
etcd_json_keepalive_reply(const json_t *reply, int64_t lease,
    int64_t *ttl_s, char *err, size_t errlen)
{
	const json_t	*result;
	int64_t		 id;

	if (etcd_json_object(reply, "result", &result, err, errlen) == -1)
		return -1;
	if (etcd_json_int64(result, "ID", &id, err, errlen) == -1 ||
	    etcd_json_int64(result, "TTL", ttl_s, err, errlen) == -1)
		return -1;
	if (id != lease) {
		etcd_json_fail(err, errlen, "keepalive reply is for lease "
		    "%lld, expected %lld", (long long)id, (long long)lease);
		return -1;
	}
	if (*ttl_s < 0) {
		etcd_json_fail(err, errlen, "keepalive reply has TTL %lld",
		    (long long)*ttl_s);
		return -1;
	}
	return 0;
}

void
etcd_kv_clear(struct etcd_kv *kv)
{
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

static int
etcd_json_kv(const json_t *obj, size_t value_max, struct etcd_kv *kv,
    char *err, size_t errlen)
{
	const json_t	*v;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(obj)) {
		etcd_json_fail(err, errlen, "key-value entry is not an object");
		return -1;
	}
	if (etcd_json_int64(obj, "create_revision", &kv->create_revision,
	    err, errlen) == -1 ||
	    etcd_json_int64(obj, "mod_revision", &kv->mod_revision, err,
	    errlen) == -1 ||
	    etcd_json_int64(obj, "lease", &kv->lease, err, errlen) == -1)
		return -1;
	if (kv->create_revision <= 0) {
		etcd_json_fail(err, errlen, "key-value entry has create "
		    "revision %lld", (long long)kv->create_revision);
		return -1;
	}

	/* An empty value is left out like any zero value. */
	v = json_object_get(obj, "value");
	if (v != NULL && !json_is_string(v)) {
		etcd_json_fail(err, errlen, "\"value\" is not a string");
		return -1;
	}
	kv->value = etcd_b64_decode(v != NULL ? json_string_value(v) : "",
	    value_max, &kv->value_len);
	if (kv->value == NULL) {
		etcd_json_fail(err, errlen, "\"value\" is not base64 or "
		    "decodes to more than %zu bytes", value_max);
		return -1;
	}
	return 0;
}

/* Reads the first entry of "kvs"; *found is false when there is none. */
static int
etcd_json_kvs(const json_t *range, size_t value_max, struct etcd_kv *kv,
    bool *found, char *err, size_t errlen)
{
	const json_t	*kvs;

	*found = false;
	memset(kv, 0, sizeof(*kv));
	kvs = json_object_get(range, "kvs");
	if (kvs == NULL)
		return 0;
	if (!json_is_array(kvs)) {
		etcd_json_fail(err, errlen, "\"kvs\" is not an array");
		return -1;
	}
	if (json_array_size(kvs) == 0)
		return 0;
	if (json_array_size(kvs) > 1) {
		etcd_json_fail(err, errlen, "range of one key returned %zu "
		    "entries", json_array_size(kvs));
		return -1;
	}
	if (etcd_json_kv(json_array_get(kvs, 0), value_max, kv, err,
	    errlen) == -1) {
		etcd_kv_clear(kv);
		return -1;
	}
	*found = true;
	return 0;
}

int
etcd_json_range_reply(const json_t *reply, size_t value_max,
    struct etcd_kv *kv, bool *found, char *err, size_t errlen)
{
	return etcd_json_kvs(reply, value_max, kv, found, err, errlen);
}

/*
 * Reads a transaction reply: whether the compare succeeded, the revision
 * in its header, and when it failed, the key that its failure branch read
 * (a single range request).
 */
int
etcd_json_txn_reply(const json_t *reply, size_t value_max, bool *succeeded,
    int64_t *revision, struct etcd_kv *kv, bool *found, char *err,
    size_t errlen)
{
	const json_t	*header, *ok, *responses, *range;

	*found = false;
	memset(kv, 0, sizeof(*kv));
	if (etcd_json_object(reply, "header", &header, err, errlen) == -1 ||
	    etcd_json_int64(header, "revision", revision, err, errlen) == -1)
		return -1;
	if (*revision <= 0) {
		etcd_json_fail(err, errlen, "transaction reply has revision "
		    "%lld", (long long)*revision);
		return -1;
	}
	ok = json_object_get(reply, "succeeded");
	if (ok != NULL && !json_is_boolean(ok)) {
		etcd_json_fail(err, errlen, "\"succeeded\" is not a boolean");
		return -1;
	}
	*succeeded = json_is_true(ok);
	if (*succeeded)
		return 0;

	responses = json_object_get(reply, "responses");
	if (!json_is_array(responses) || json_array_size(responses) != 1) {
		etcd_json_fail(err, errlen, "failed transaction reply must "
		    "have one response, the range of the compared key");
		return -1;
	}
	if (etcd_json_object(json_array_get(responses, 0), "response_range",
	    &range, err, errlen) == -1)
		return -1;
	return etcd_json_kvs(range, value_max, kv, found, err, errlen);
}
