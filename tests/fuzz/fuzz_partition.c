/* Fuzzes the VLLM_PP_LAYER_PARTITION parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t	*parts = NULL;
	size_t		 nparts = 0;
	char		 err[PPC_ERRLEN];
	char		*text;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (plan_parse_partition(text, &parts, &nparts, err, sizeof(err)) == 0)
		free(parts);
	free(text);
	return 0;
}
