/*
 * Framing of the agent-head protocol: a 4-byte big-endian length followed by
 * one protobuf Envelope. A frame longer than the limit (1 MiB by default)
 * closes the connection.
 */
#ifndef PPCOORD_WIRE_H
#define PPCOORD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ppcoord.pb-c.h"

#include "envfile.h"
#include "inv.h"
#include "plan.h"

#define WIRE_FRAME_MAX		(1u << 20)
#define WIRE_HEADER_LEN		4

struct evbuffer;

enum wire_result {
	WIRE_FRAME = 1,		/* one envelope decoded */
	WIRE_MORE = 0,		/* incomplete frame: wait for more bytes */
	WIRE_ERROR = -1,	/* oversize frame or invalid protobuf: close */
};

/*
 * Decodes one frame from buf. On WIRE_FRAME, *consumed is the frame's total
 * length and *env the unpacked envelope (free with wire_free). Returns
 * WIRE_ERROR with a message for a length of 0 or over max_frame, or a body
 * that is not a valid Envelope with one message set. A max_frame of 0 or
 * over WIRE_FRAME_MAX means WIRE_FRAME_MAX.
 */
enum wire_result wire_parse(const uint8_t *buf, size_t len, uint32_t max_frame,
	    size_t *consumed, Ppcoord__Envelope **env, char *err, size_t errlen);

/* The same on an evbuffer: drains the frame when one is decoded. The
 * length is checked as soon as the 4-byte header is there, before the
 * body arrives. */
enum wire_result wire_read(struct evbuffer *in, uint32_t max_frame,
	    Ppcoord__Envelope **env, char *err, size_t errlen);

/* Appends one frame. Returns 0, or -1 if the envelope is over the limit. */
int	wire_write(struct evbuffer *out, const Ppcoord__Envelope *env);

void	wire_free(Ppcoord__Envelope *env);

/* Name of the envelope's message for logs ("hello", "assignment", ...). */
const char *wire_msg_name(const Ppcoord__Envelope *env);

/*
 * Converts a received Hello into an inventory node and validates it with
 * inv_node_check plus the protocol's own limits. Returns 0, or -1 with a
 * message naming the field and value.
 */
int	wire_hello_to_node(const Ppcoord__Hello *hello, struct inv_node *node,
	    char *err, size_t errlen);

/*
 * Builds and frames messages without exposing protobuf-c's nested
 * allocation to callers. Each returns 0, or -1 on no memory or when the
 * message would be over WIRE_FRAME_MAX; nothing is appended then.
 */
int	wire_send_hello(struct evbuffer *out, const struct inv_node *node,
	    uint64_t held_generation, const char *held_state);
int	wire_send_welcome(struct evbuffer *out, const char *node_id,
	    const char *cluster, uint32_t heartbeat_ms, uint32_t timeout_ms);
int	wire_send_heartbeat(struct evbuffer *out, uint64_t generation);
int	wire_send_ack(struct evbuffer *out, uint64_t generation, int ok,
	    const char *error);
/*
 * Sets the fields of plan node `node`'s own Assignment: generation,
 * node, stages, layers and master, but not the stage table or the layer
 * partition. Returns -1 for a node index or stage range outside the plan.
 */
int	wire_assignment_fill(Ppcoord__Assignment *a, const struct plan *p,
	    size_t node);
/* Initializes one stage table entry; the strings are referenced, not
 * copied. */
void	wire_stage_info_init(Ppcoord__StageInfo *si, uint32_t stage,
	    const char *node_id, const char *address, uint32_t first_layer,
	    uint32_t end_layer);
/*
 * Sets the stage table (every stage's node, address and layers) and the
 * layer partition of an Assignment from the plan. The partition points
 * into p. Returns -1 on no memory; free with wire_assignment_free_stages.
 */
int	wire_assignment_set_stages(Ppcoord__Assignment *a,
	    const struct plan *p);
void	wire_assignment_free_stages(Ppcoord__Assignment *a);
/* The Assignment of plan node `node`, with every stage's node and address. */
int	wire_send_assignment(struct evbuffer *out, const struct plan *p,
	    size_t node);
int	wire_send_standby(struct evbuffer *out, uint64_t generation,
	    const char *reason);
int	wire_send_revoke(struct evbuffer *out, uint64_t generation,
	    const char *reason);
int	wire_send_reject(struct evbuffer *out, Ppcoord__Reject__Reason reason,
	    const char *message);
int	wire_send_not_leader(struct evbuffer *out, const char *leader);

/* Converts a received Assignment into an environment file's contents,
 * validating every field (ids, addresses, layer ranges, and one StageInfo
 * per stage). Generation 0 is rejected because it means no assignment. */
int	wire_assignment_to_env(const Ppcoord__Assignment *a,
	    struct stage_env *env, char *err, size_t errlen);

/* The environment of plan node `node`, which must be below p->nnodes
 * (shared by ppcoordctl's env format and by the agent, so both write the
 * same file). */
void	plan_node_stage_env(const struct plan *p, size_t node,
	    struct stage_env *env);

const char *wire_reject_reason_name(Ppcoord__Reject__Reason r);

#endif
