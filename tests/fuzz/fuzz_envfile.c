/* Fuzzes the stage environment file reader that the agent runs at start. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "envfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stage_env	 env;
	char			 err[PPC_ERRLEN];
	char			*text;

	if (envfile_parse((const char *)data, size, &env, "stage.env", err,
	    sizeof(err)) != 0)
		return 0;
	text = envfile_format(&env);
	free(text);
	return 0;
}
