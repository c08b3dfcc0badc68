/*
 * The form checks of a stage table change: its base, its stage count, no
 * layer partition, and changed stages in increasing order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stagetab_expand_fills_table),
		cmocka_unit_test(stagetab_whole_table_is_copied),
		cmocka_unit_test(stagetab_change_errors),
		cmocka_unit_test(stagetab_store_rejects_short_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
