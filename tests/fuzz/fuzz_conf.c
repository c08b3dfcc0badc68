/* Fuzzes the head and agent config parsers through their full validation.
 * The first byte selects the parser so one corpus covers both. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct head_conf	 head;
	struct agent_conf	 agent;
	struct conf_errors	 errs;
	char			*text;

	if (size < 1 || size > CONF_FILE_MAX)
		return 0;
	if ((text = malloc(size)) == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';

	memset(&errs, 0, sizeof(errs));
	switch (data[0] % 3) {
	case 0:
		memset(&head, 0, sizeof(head));
		(void)conf_head_parse(&head, text, "fuzz.conf",
		    CONF_SCOPE_HEAD, &errs);
		conf_head_free(&head);
		break;
	case 1:
		memset(&head, 0, sizeof(head));
		(void)conf_head_parse(&head, text, "fuzz.conf",
		    CONF_SCOPE_PLAN, &errs);
		conf_head_free(&head);
		break;
	default:
		memset(&agent, 0, sizeof(agent));
		(void)conf_agent_parse(&agent, text, "fuzz.conf", &errs);
		conf_agent_free(&agent);
		break;
	}
	conf_errors_free(&errs);
	free(text);
	return 0;
}
