/* Fuzzes the frame decoder and the validation of every message type that
 * a peer can send: Hello on the head, Assignment on the agent. The frames
 * of one input are one connection, so an Assignment that lists only the
 * changed stages is expanded against the table of the one before. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stagetab.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The lines of an assigned stage's environment file, in order. */
static const char *const env_keys[] = {
	"PPCOORD_STATE=", "PPCOORD_GENERATION=", "PPCOORD_NODE_ID=",
	"PPCOORD_NODE_RANK=", "PPCOORD_NNODES=", "PPCOORD_FIRST_STAGE=",
	"PPCOORD_STAGE_COUNT=", "PPCOORD_NUM_STAGES=", "PPCOORD_TP_SIZE=",
	"PPCOORD_FIRST_LAYER=", "PPCOORD_END_LAYER=", "PPCOORD_MASTER_ADDR=",
	"PPCOORD_MASTER_PORT=", "VLLM_PP_LAYER_PARTITION=",
	"SGLANG_PP_LAYER_PARTITION=",
};

/*
 * An Assignment that passes validation must format into exactly the
 * known lines, each value free of bytes that systemd's EnvironmentFile=
 * or a shell treats specially, so no Assignment can add a variable.
 */
static void
check_env_text(const struct stage_env *stage)
{
	char		*text, *line, *next;
	const char	*v;
	size_t		 i = 0, n = sizeof(env_keys) / sizeof(env_keys[0]);

	if ((text = envfile_format(stage)) == NULL)
		__builtin_trap();
	for (line = text; *line != '\0'; line = next + 1, i++) {
		if ((next = strchr(line, '\n')) == NULL || i >= n ||
		    strncmp(line, env_keys[i], strlen(env_keys[i])) != 0)
			__builtin_trap();
		for (v = line + strlen(env_keys[i]); v < next; v++)
			if (*v <= ' ' || *v >= 0x7f || strchr("\"'\\$`;=",
			    *v) != NULL)
				__builtin_trap();
	}
	if (i != n)
		__builtin_trap();
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Ppcoord__Envelope	*env;
	struct inv_node		 node;
	struct stage_env	 stage;
	struct stagetab		 table;
	struct stagetab_view	 view;
	char			 err[PPC_ERRLEN];
	size_t			 consumed;

	memset(&table, 0, sizeof(table));
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
		if (env->msg_case == PPCOORD__ENVELOPE__MSG_ASSIGNMENT &&
		    stagetab_expand(&table, env->assignment, &view, err,
		    sizeof(err)) == 0) {
			if (wire_assignment_to_env(&view.msg, &stage, err,
			    sizeof(err)) == 0) {
				check_env_text(&stage);
				(void)stagetab_store(&table, &view.msg);
			}
			stagetab_view_free(&view);
		}
		(void)wire_msg_name(env);
		wire_free(env);

		data += consumed;
		size -= consumed;
	}
	stagetab_clear(&table);
	return 0;
}
