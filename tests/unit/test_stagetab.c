/*
 * The form checks of a stage table change: its base, its stage count, no
 * layer partition, and changed stages in increasing order. And the checks
 * of a compressed table: valid zlib, a bound on its size, and a table
 * that sets nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <zlib.h>

#include "stagetab.h"

/* A held table of four stages of 10 layers each, of generation 3. */
static void
held_init(struct stagetab *t)
{
	uint32_t s;

	memset(t, 0, sizeof(*t));
	t->entries = calloc(4, sizeof(*t->entries));
	assert_non_null(t->entries);
	for (s = 0; s < 4; s++) {
		snprintf(t->entries[s].node_id, sizeof(t->entries[s].node_id),
		    "n%u", s);
		snprintf(t->entries[s].address, sizeof(t->entries[s].address),
		    "10.0.0.%u", s + 1);
		t->entries[s].layers = 10;
	}
	t->num_stages = 4;
	t->generation = 3;
}

struct change {
	Ppcoord__Assignment	 msg;
	Ppcoord__StageInfo	 info[3];
	Ppcoord__StageInfo	*infop[3];
};

/* A change against generation 3 that lists the given stages. */
static void
change_init(struct change *c, const uint32_t *stages, size_t n)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	ppcoord__assignment__init(&c->msg);
	c->msg.has_generation = 1;
	c->msg.generation = 4;
	c->msg.has_num_stages = 1;
	c->msg.num_stages = 4;
	c->msg.has_stages_base = 1;
	c->msg.stages_base = 3;
	for (i = 0; i < n; i++) {
		ppcoord__stage_info__init(&c->info[i]);
		c->info[i].has_stage = 1;
		c->info[i].stage = stages[i];
		c->info[i].node_id = "spare";
		c->info[i].address = "10.0.9.9";
		c->infop[i] = &c->info[i];
	}
	c->msg.n_stages = n;
	c->msg.stages = c->infop;
}

/* Expands c against a fresh held table; returns the code and the text. */
static int
expand(struct change *c, char *err, size_t errlen)
{
	struct stagetab		t;
	struct stagetab_view	v;
	int			rc;

	held_init(&t);
	err[0] = '\0';
	rc = stagetab_expand(&t, &c->msg, &v, err, errlen);
	stagetab_view_free(&v);
	stagetab_clear(&t);
	return rc;
}

static void
stagetab_expand_fills_table(void **state)
{
	static const uint32_t	 stages[] = { 1, 3 };
	struct change		 c;
	struct stagetab		 t;
	struct stagetab_view	 v;
	char			 err[PPC_ERRLEN];

	held_init(&t);
	change_init(&c, stages, 2);
	assert_int_equal(stagetab_expand(&t, &c.msg, &v, err, sizeof(err)), 0);
	assert_false(v.msg.has_stages_base);
	assert_int_equal(v.msg.n_stages, 4);
	assert_int_equal(v.msg.n_layer_partition, 4);
	assert_string_equal(v.msg.stages[0]->node_id, "n0");
	assert_string_equal(v.msg.stages[1]->node_id, "spare");
	assert_string_equal(v.msg.stages[2]->address, "10.0.0.3");
	assert_int_equal(v.msg.stages[2]->first_layer, 20);
	assert_int_equal(v.msg.stages[2]->end_layer, 30);
	assert_string_equal(v.msg.stages[3]->node_id, "spare");
	stagetab_view_free(&v);
	stagetab_clear(&t);
}

static void
stagetab_whole_table_is_copied(void **state)
{
	struct change		 c;
	struct stagetab		 t;
	struct stagetab_view	 v;
	char			 err[PPC_ERRLEN];

	memset(&t, 0, sizeof(t));
	change_init(&c, NULL, 0);
	c.msg.has_stages_base = 0;
	assert_int_equal(stagetab_expand(&t, &c.msg, &v, err, sizeof(err)), 0);
	assert_ptr_equal(v.msg.stages, c.msg.stages);
	assert_null(v.partition);
	stagetab_view_free(&v);
}

static void
stagetab_change_errors(void **state)
{
	static const uint32_t	 repeated[] = { 2, 2 };
	static const uint32_t	 backwards[] = { 2, 1 };
	static const uint32_t	 over[] = { 4 };
	static const uint32_t	 one[] = { 1 };
	static uint32_t		 partition[4] = { 10, 10, 10, 10 };
	struct change		 c;
	char			 err[PPC_ERRLEN];

	change_init(&c, repeated, 2);
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EINVAL);
	assert_non_null(strstr(err, "stages[1]: stage 2"));

	change_init(&c, backwards, 2);
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EINVAL);
	assert_non_null(strstr(err, "stages[1]: stage 1"));

	change_init(&c, over, 1);
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EINVAL);
	assert_non_null(strstr(err, "not below num_stages 4"));

	change_init(&c, one, 1);
	c.info[0].has_stage = 0;
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EINVAL);
	assert_non_null(strstr(err, "stages[0]"));

	change_init(&c, one, 1);
	c.msg.num_stages = 5;
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EINVAL);
	assert_non_null(strstr(err, "num_stages 5"));

	change_init(&c, one, 1);
	c.msg.has_num_stages = 0;
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EINVAL);
	assert_string_equal(err, "num_stages is missing");

	change_init(&c, one, 1);
	c.msg.n_layer_partition = 4;
	c.msg.layer_partition = partition;
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EINVAL);
	assert_non_null(strstr(err, "layer_partition is set"));

	change_init(&c, one, 1);
	c.msg.stages_base = 2;
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EBASE);
	assert_non_null(strstr(err, "generation 2"));
}

static void
stagetab_store_rejects_short_table(void **state)
{
	struct change	c;
	struct stagetab	t;

	held_init(&t);
	change_init(&c, NULL, 0);
	c.msg.has_stages_base = 0;
	assert_int_equal(stagetab_store(&t, &c.msg), -1);
	assert_int_equal(t.generation, 0);
	assert_null(t.entries);
}

/* Sets c's stages_zlib to `data` compressed; frees with free(). */
static void
zlib_set(struct change *c, const void *data, size_t len)
{
	uLongf	 zlen = compressBound((uLong)len);
	uint8_t	*z = malloc(zlen);

	assert_non_null(z);
	assert_int_equal(compress(z, &zlen, data, (uLong)len), Z_OK);
	c->msg.has_stages_zlib = 1;
	c->msg.stages_zlib.data = z;
	c->msg.stages_zlib.len = zlen;
}

/* A compressed table of the four stages of change_init's message. */
static void
zlib_table(struct change *c, struct change *table)
{
	static const uint32_t	 stages[] = { 0, 1, 2, 3 };
	static uint32_t		 partition[] = { 10, 10, 10, 10 };
	uint8_t			 buf[512];
	size_t			 len;

	change_init(table, stages, 3);
	table->msg.has_generation = 0;
	table->msg.has_num_stages = 0;
	table->msg.has_stages_base = 0;
	table->msg.n_layer_partition = 4;
	table->msg.layer_partition = partition;
	len = ppcoord__assignment__pack(&table->msg, buf);
	change_init(c, NULL, 0);
	c->msg.has_stages_base = 0;
	zlib_set(c, buf, len);
}

static void
stagetab_zlib_table_is_inflated(void **state)
{
	struct change		 c, table;
	struct stagetab		 t;
	struct stagetab_view	 v;
	char			 err[PPC_ERRLEN];

	memset(&t, 0, sizeof(t));
	zlib_table(&c, &table);
	assert_int_equal(stagetab_expand(&t, &c.msg, &v, err, sizeof(err)), 0);
	assert_false(v.msg.has_stages_zlib);
	assert_int_equal(v.msg.n_stages, 3);
	assert_int_equal(v.msg.n_layer_partition, 4);
	assert_int_equal(v.msg.layer_partition[3], 10);
	assert_string_equal(v.msg.stages[2]->node_id, "spare");
	assert_int_equal(v.msg.stages[2]->stage, 2);
	stagetab_view_free(&v);
	free(c.msg.stages_zlib.data);
}

/* Checks that c's compressed table is rejected with `text` in the error,
 * then frees the compressed data. */
static void
expect_zlib_rejected(struct change *c, const char *text)
{
	char	 err[PPC_ERRLEN];

	assert_int_equal(expand(c, err, sizeof(err)), STAGETAB_EINVAL);
	assert_non_null(strstr(err, text));
	free(c->msg.stages_zlib.data);
}

static void
stagetab_zlib_errors(void **state)
{
	static const uint8_t	 garbage[] = "not zlib at all";
	static const uint32_t	 one[] = { 1 };
	struct change		 c, table;
	uint8_t			*big, buf[256];
	size_t			 len;
	char			 err[PPC_ERRLEN];

	/* Not zlib data. */
	change_init(&c, NULL, 0);
	c.msg.has_stages_base = 0;
	c.msg.has_stages_zlib = 1;
	c.msg.stages_zlib.data = (uint8_t *)garbage;
	c.msg.stages_zlib.len = sizeof(garbage);
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EINVAL);
	assert_non_null(strstr(err, "is not valid zlib data"));

	/* Cut short. */
	zlib_table(&c, &table);
	c.msg.stages_zlib.len -= 4;
	expect_zlib_rejected(&c, "is not valid zlib data, is cut short");

	/* Over the bound once inflated: 2 MiB of zeros. */
	big = calloc(2, 1u << 20);
	assert_non_null(big);
	change_init(&c, NULL, 0);
	c.msg.has_stages_base = 0;
	zlib_set(&c, big, 2u << 20);
	free(big);
	assert_true(c.msg.stages_zlib.len < 8192);
	expect_zlib_rejected(&c, "inflates to more than 1 MiB");

	/* Valid zlib, not a stage table: a tag of wire type 7. */
	change_init(&c, NULL, 0);
	c.msg.has_stages_base = 0;
	zlib_set(&c, "\x0f\x0f\x0f", 3);
	expect_zlib_rejected(&c, "are not a valid stage table");

	/* Beside stages_base, or beside stages of its own. */
	zlib_table(&c, &table);
	c.msg.has_stages_base = 1;
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EINVAL);
	assert_non_null(strstr(err, "carries the whole table alone"));
	c.msg.has_stages_base = 0;
	c.msg.n_stages = 1;
	c.msg.stages = table.infop;
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EINVAL);
	free(c.msg.stages_zlib.data);

	/* A table that nests stages_base. */
	change_init(&table, one, 1);
	len = ppcoord__assignment__pack(&table.msg, buf);
	change_init(&c, NULL, 0);
	c.msg.has_stages_base = 0;
	zlib_set(&c, buf, len);
	expect_zlib_rejected(&c, "sets fields besides layer_partition");

	/* A table that sets an Assignment field of its own. */
	zlib_table(&c, &table);
	free(c.msg.stages_zlib.data);
	table.msg.has_generation = 1;
	len = ppcoord__assignment__pack(&table.msg, buf);
	zlib_set(&c, buf, len);
	expect_zlib_rejected(&c, "sets fields besides layer_partition");

	/* A field this agent does not know: field 30, a varint. */
	zlib_table(&c, &table);
	free(c.msg.stages_zlib.data);
	len = ppcoord__assignment__pack(&table.msg, buf);
	buf[len++] = 0xf0;	/* the tag (30 << 3) | 0 as a varint */
	buf[len++] = 0x01;
	buf[len++] = 1;
	zlib_set(&c, buf, len);
	expect_zlib_rejected(&c, "sets fields besides layer_partition");

	/* Bytes after the end of the zlib stream. */
	zlib_table(&c, &table);
	big = malloc(c.msg.stages_zlib.len + 4);
	assert_non_null(big);
	memcpy(big, c.msg.stages_zlib.data, c.msg.stages_zlib.len);
	memcpy(big + c.msg.stages_zlib.len, "junk", 4);
	free(c.msg.stages_zlib.data);
	c.msg.stages_zlib.data = big;
	c.msg.stages_zlib.len += 4;
	assert_int_equal(expand(&c, err, sizeof(err)), STAGETAB_EINVAL);
	assert_non_null(strstr(err, "has bytes after its end"));
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stagetab_expand_fills_table),
		cmocka_unit_test(stagetab_whole_table_is_copied),
		cmocka_unit_test(stagetab_change_errors),
		cmocka_unit_test(stagetab_store_rejects_short_table),
		cmocka_unit_test(stagetab_zlib_table_is_inflated),
		cmocka_unit_test(stagetab_zlib_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
