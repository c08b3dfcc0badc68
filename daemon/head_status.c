/*
 * The status document that the control socket and GET /status serve:
 *   {"cluster", "version", "state", "expected_nodes", "generation",
 *    "role": "leader" | "follower" | "standalone", "leader": <the
 *    leader's address or null>, "store": "file" | "etcd",
 *    "plan": <plan JSON or null>,
 *    "nodes": [{"id", "address", "state", "connected", "workers", "gpus",
 *               "first_stage", "stage_count", "first_layer", "end_layer",
 *               "acked_generation", "last_heartbeat_ms", "connected_s"}]}
 * Placement fields appear only for assigned nodes; last_heartbeat_ms is
 * the age of the last frame received.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"

#include "head.h"

static json_t *
status_plan_object(void)
{
	if (!hd->h_have_plan || hd->h_state == HEAD_WAITING)
		return json_null();
	return plan_to_jansson(&hd->h_plan, &hd->h_conf->plan);
}

static int
status_add_placement(json_t *o, const struct head_node *n)
{
	const struct plan_node	*pn = &hd->h_plan.nodes[n->n_plan];
	const struct plan_stage	*first, *last;

	first = &hd->h_plan.stages[pn->first_stage];
	last = &hd->h_plan.stages[pn->first_stage + pn->stage_count - 1];
	return json_object_set_new(o, "node_rank",
	    json_integer(pn->node_rank)) |
	    json_object_set_new(o, "first_stage",
	    json_integer(pn->first_stage)) |
	    json_object_set_new(o, "stage_count",
	    json_integer(pn->stage_count)) |
	    json_object_set_new(o, "first_layer",
	    json_integer(first->first_layer)) |
	    json_object_set_new(o, "end_layer",
	    json_integer(last->end_layer));
}

/* A generation as a JSON number. json_int_t is signed, so a value past
 * its range is written as a real instead of wrapping to a negative. */
static json_t *
status_generation(uint64_t gen)
{
	if (gen > (uint64_t)LLONG_MAX)
		return json_real((double)gen);
	return json_integer((json_int_t)gen);
}

static json_t *
status_node(const struct head_node *n, uint64_t now)
{
	json_t		*o, *inv;
	const char	*state = members_node_state(n);
	int		 rc;

	if ((inv = inv_node_to_jansson(&n->n_inv)) == NULL)
		return NULL;
	o = json_pack("{s:s, s:s, s:s, s:b, s:i, s:O, s:o}",
	    "id", n->n_inv.id, "address", n->n_inv.address, "state", state,
	    "connected", n->n_conn != NULL, "workers", (int)n->n_inv.workers,
	    "gpus", json_object_get(inv, "gpus"),
	    "acked_generation", status_generation(n->n_acked_gen));
	json_decref(inv);
	if (o == NULL)
		return NULL;

	rc = 0;
	if (strcmp(state, "assigned") == 0)
		rc |= status_add_placement(o, n);
	if (n->n_conn != NULL) {
		rc |= json_object_set_new(o, "last_heartbeat_ms",
		    json_integer((json_int_t)(now - n->n_conn->c_rx_ms)));
		rc |= json_object_set_new(o, "connected_s",
		    json_integer((json_int_t)((now - n->n_joined_ms) / 1000)));
	} else {
		rc |= json_object_set_new(o, "last_heartbeat_ms", json_null());
		rc |= json_object_set_new(o, "connected_s", json_integer(0));
	}
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The status document as text with a trailing newline; NULL on no
 * memory. */
char *
status_json(void)
{
	struct head_node	*n;
	json_t			*o, *nodes, *jn;
	uint64_t		 now = util_now_ms();
	char			*text;

	o = json_pack("{s:s, s:s, s:s, s:i, s:o, s:s, s:s?, s:s, s:o}",
	    "cluster", hd->h_conf->cluster_name, "version", PPCOORD_VERSION,
	    "state", members_state_name(hd->h_state),
	    "expected_nodes", (int)hd->h_conf->expected_nodes,
	    "generation", status_generation(hd->h_generation),
	    "role", ha_role_name(), "leader", ha_leader(),
	    "store", hd->h_conf->store == CONF_STORE_ETCD ? "etcd" : "file",
	    "plan", status_plan_object());
	if (o == NULL)
		return NULL;
	if (hd->h_plan_error[0] != '\0')
		json_object_set_new(o, "plan_error",
		    json_string(hd->h_plan_error));

	if ((nodes = json_array()) == NULL ||
	    json_object_set_new(o, "nodes", nodes) == -1) {
		json_decref(o);
		return NULL;
	}
	TAILQ_FOREACH(n, &hd->h_nodes, n_entry) {
		if ((jn = status_node(n, now)) == NULL ||
		    json_array_append_new(nodes, jn) == -1) {
			json_decref(o);
			return NULL;
		}
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* The plan JSON, or NULL when there is no plan in force. */
char *
status_plan_json(void)
{
	json_t	*o;
	char	*text;

	if (!hd->h_have_plan || hd->h_state != HEAD_ACTIVE)
		return NULL;
	if ((o = plan_to_jansson(&hd->h_plan, &hd->h_conf->plan)) == NULL)
		return NULL;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* The live inventory of connected nodes, in the form `plan -i` reads. */
char *
status_inventory_json(void)
{
	struct inv	 inv;
	json_t		*o;
	char		*text = NULL;

	if (members_inventory(&inv) == -1)
		return NULL;
	if ((o = inv_to_jansson(&inv)) != NULL) {
		text = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
	inv_free(&inv);
	return text;
}
