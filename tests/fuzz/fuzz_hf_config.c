/* Fuzzes the Hugging Face config.json reader. */
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model_sizes	 m;
	char			 err[PPC_ERRLEN];

	model_sizes_init(&m);
	(void)model_from_hf_config_text(&m, (const char *)data, size,
	    "config.json", 0, err, sizeof(err));
	model_sizes_free(&m);
	return 0;
}
