/*
 * Chained hash table keyed by a string that the entry itself holds. The
 * head indexes nodes by id and by address, so a join costs O(1) and
 * 10,000 joins do not add up to O(n^2).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#include "head.h"

#define HTAB_INITIAL	64

/* FNV-1a, 64 bit. Node ids are short and chosen by operators, not by
 * attackers: every id comes from a certificate signed by the cluster CA. */
static uint64_t
htab_hash(const char *key)
{
	uint64_t	 h = 14695981039346656037ULL;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ULL;
	}
	return h;
}

void
htab_init(struct head_htab *t)
{
	t->ht_nbuckets = HTAB_INITIAL;
	t->ht_count = 0;
	if ((t->ht_buckets = calloc(t->ht_nbuckets,
	    sizeof(*t->ht_buckets))) == NULL)
		fatal("htab_init");
}

void
htab_free(struct head_htab *t)
{
	free(t->ht_buckets);
	t->ht_buckets = NULL;
	t->ht_nbuckets = 0;
	t->ht_count = 0;
}

/* Doubles the bucket array once the load factor passes one. */
static void
htab_grow(struct head_htab *t)
{
	struct head_hlink	**nb, *l, *next;
	size_t			  n = t->ht_nbuckets * 2, i, b;

	if ((nb = calloc(n, sizeof(*nb))) == NULL) {
		/* Longer chains are slower but still correct. */
		log_warnx("htab_grow: out of memory for %zu buckets", n);
		return;
	}
	for (i = 0; i < t->ht_nbuckets; i++) {
		for (l = t->ht_buckets[i]; l != NULL; l = next) {
			next = l->hl_next;
			b = htab_hash(l->hl_key) & (n - 1);
			l->hl_next = nb[b];
			nb[b] = l;
		}
	}
	free(t->ht_buckets);
	t->ht_buckets = nb;
	t->ht_nbuckets = n;
}

struct head_hlink *
htab_find(const struct head_htab *t, const char *key)
{
	struct head_hlink	*l;

	l = t->ht_buckets[htab_hash(key) & (t->ht_nbuckets - 1)];
	for (; l != NULL; l = l->hl_next)
		if (strcmp(l->hl_key, key) == 0)
			return l;
	return NULL;
}

/* Returns the next entry after l with the same key, for keys that
 * several entries share. */
struct head_hlink *
htab_find_next(const struct head_hlink *l)
{
	struct head_hlink	*x;

	for (x = l->hl_next; x != NULL; x = x->hl_next)
		if (strcmp(x->hl_key, l->hl_key) == 0)
			return x;
	return NULL;
}

/* Inserts l under key; the key string must live as long as the entry. */
void
htab_insert(struct head_htab *t, struct head_hlink *l, const char *key)
{
	size_t	 b;

	if (t->ht_count >= t->ht_nbuckets)
		htab_grow(t);
	l->hl_key = key;
	b = htab_hash(key) & (t->ht_nbuckets - 1);
	l->hl_next = t->ht_buckets[b];
	t->ht_buckets[b] = l;
	t->ht_count++;
}

void
htab_remove(struct head_htab *t, struct head_hlink *l)
{
	struct head_hlink	**pp;

	pp = &t->ht_buckets[htab_hash(l->hl_key) & (t->ht_nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->hl_next) {
		if (*pp == l) {
			*pp = l->hl_next;
			l->hl_next = NULL;
			t->ht_count--;
			return;
		}
	}
}
