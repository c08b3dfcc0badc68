/* Fuzzes the frame decoder and the validation of every message type that
 * a peer can send: Hello on the head, Assignment on the agent. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Ppcoord__Envelope	*env;
	struct inv_node		 node;
	struct stage_env	 stage;
	char			 err[PPC_ERRLEN];
	size_t			 consumed;

	while (size > 0) {
		env = NULL;
		if (wire_parse(data, size, WIRE_FRAME_MAX, &consumed, &env,
		    err, sizeof(err)) != WIRE_FRAME)
			break;

		if (env->msg_case == PPCOORD__ENVELOPE__MSG_HELLO) {
			memset(&node, 0, sizeof(node));
			if (wire_hello_to_node(env->hello, &node, err,
			    sizeof(err)) == 0)
				inv_node_free(&node);
		}
		if (env->msg_case == PPCOORD__ENVELOPE__MSG_ASSIGNMENT)
			(void)wire_assignment_to_env(env->assignment, &stage,
			    err, sizeof(err));
		(void)wire_msg_name(env);
		wire_free(env);

		data += consumed;
		size -= consumed;
	}
	return 0;
}
