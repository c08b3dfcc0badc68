/* Fuzzes the reader of the plan JSON that the head's state file holds. */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t		*root;
	json_error_t	 jerr;
	struct plan	 plan;
	char		 err[PPC_ERRLEN];

	root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (root == NULL)
		return 0;
	plan_init(&plan);
	(void)plan_from_jansson(&plan, root, err, sizeof(err));
	plan_free(&plan);
	json_decref(root);
	return 0;
}
