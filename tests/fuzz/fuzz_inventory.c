/* Fuzzes the inventory JSON reader, and plans every inventory it accepts
 * so the engine sees hostile node sets too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "inv.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inv		 inv;
	struct plan_config	 cfg;
	struct plan		 plan;
	char			 err[PPC_ERRLEN];
	char			*json;

	inv_init(&inv);
	if (inv_parse_json(&inv, (const char *)data, size, "fuzz.json", err,
	    sizeof(err)) != 0) {
		inv_free(&inv);
		return 0;
	}

	json = inv_to_json(&inv);
	free(json);

	plan_config_init(&cfg);
	cfg.layers = 61;
	cfg.tp_size = 1;
	plan_init(&plan);
	(void)plan_compute(&cfg, &inv, NULL, 0, &plan, err, sizeof(err));
	plan_free(&plan);
	inv_free(&inv);
	return 0;
}
