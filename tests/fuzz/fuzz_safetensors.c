/* Fuzzes the safetensors header reader: the input is the JSON header of a
 * file whose data section is 1 GiB long. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "model.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model_sizes	 m;
	char			 err[PPC_ERRLEN];

	model_sizes_init(&m);
	m.layers = 4;
	if ((m.layer_bytes = calloc(m.layers, sizeof(*m.layer_bytes))) == NULL)
		return 0;
	(void)model_add_safetensors_header(&m, (const char *)data, size,
	    1ULL << 30, "fuzz.safetensors", err, sizeof(err));
	model_sizes_free(&m);
	return 0;
}
