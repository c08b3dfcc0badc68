/*
 * The model group's sizes: layer count and the memory model's inputs from
 * explicit keys, safetensors headers under weights_dir and config.json.
 * Explicit keys override weights_dir, which overrides hf_config, each size
 * on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_priv.h"
#include "util.h"

/* Resolves model.layers against hf_config's num_hidden_layers. Returns 0,
 * or -1 when the layer count is unknown or inconsistent. */
static int
resolve_layers(struct conf_ctx *ctx, struct head_conf *c)
{
	char		 err[PPC_ERRLEN];
	uint32_t	 hf_layers;
	bool		 have_layers = conf_has(ctx, "model.layers");

	if (have_layers && c->plan.layers == 0)
		return -1;	/* invalid value, already reported */
	if (c->hf_config != NULL) {
		if (model_hf_config_layers(c->hf_config, &hf_layers, err,
		    sizeof(err)) == -1) {
			conf_error(ctx, conf_path_line(ctx, "model.hf_config"),
			    "model.hf_config: %s", err);
			return -1;
		}
		if (have_layers && hf_layers != c->plan.layers) {
			conf_error(ctx, conf_path_line(ctx, "model.layers"),
			    "model.layers is %u but num_hidden_layers in %s "
			    "is %u; remove model.layers or make them agree",
			    c->plan.layers, c->hf_config, hf_layers);
			return -1;
		}
		c->plan.layers = hf_layers;
		return 0;
	}
	if (!have_layers) {
		conf_error(ctx, conf_path_line(ctx, "model.layers"),
		    "model.layers is missing; set it to the model's "
		    "num_hidden_layers, or set model.hf_config");
		return -1;
	}
	return 0;
}

/* Appends text to the NUL-terminated string in buf, truncating. */
static void
append(char *buf, size_t len, const char *text)
{
	size_t	 used = strlen(buf);

	if (used + 1 < len)
		snprintf(buf + used, len - used, "%s", text);
}

/* Names the sizes that no source gives, into buf. Returns their count. */
static int
missing_sizes(bool layer, bool emb, bool head, bool kv, char *buf,
    size_t len)
{
	int	 n = 0;

	buf[0] = '\0';
	if (!layer) {
		append(buf, len, " layer_bytes");
		n++;
	}
	if (!emb) {
		append(buf, len, " embedding_bytes");
		n++;
	}
	if (!head) {
		append(buf, len, " head_bytes");
		n++;
	}
	if (!kv) {
		append(buf, len, " kv_bytes_per_token");
		n++;
	}
	return n;
}

static void
add_source(struct model_sizes *m, const char *name)
{
	if (strstr(m->source, name) != NULL)
		return;
	if (m->source[0] != '\0')
		append(m->source, sizeof(m->source), "+");
	append(m->source, sizeof(m->source), name);
}

/* Copies into m the sizes that the explicit keys do not override. */
static void
merge_sizes(struct model_sizes *m, const struct model_sizes *from,
    bool xl, bool xe, bool xh, bool xk, const char *name)
{
	uint32_t	 i;

	if (!xl) {
		for (i = 0; i < m->layers; i++)
			m->layer_bytes[i] = from->layer_bytes[i];
		add_source(m, name);
	}
	if (!xe) {
		m->embedding_bytes = from->embedding_bytes;
		add_source(m, name);
	}
	if (!xh) {
		m->head_bytes = from->head_bytes;
		add_source(m, name);
	}
}

void
conf_model_load(struct conf_ctx *ctx, struct head_conf *c)
{
	struct model_sizes	 m, wd, hf;
	char			 err[PPC_ERRLEN], missing[128];
	bool			 xl, xe, xh, xk, need_hf;
	uint32_t		 i;

	if (resolve_layers(ctx, c) == -1)
		return;

	xl = conf_has(ctx, "model.layer_bytes");
	xe = conf_has(ctx, "model.embedding_bytes");
	xh = conf_has(ctx, "model.head_bytes");
	xk = conf_has(ctx, "model.kv_bytes_per_token");
	if (!xl && !xe && !xh && !xk && c->hf_config == NULL &&
	    c->weights_dir == NULL)
		return;		/* no memory model: even or manual splits */

	if (missing_sizes(xl || c->weights_dir || c->hf_config,
	    xe || c->weights_dir || c->hf_config,
	    xh || c->weights_dir || c->hf_config, xk || c->hf_config,
	    missing, sizeof(missing)) > 0) {
		conf_error(ctx, conf_path_line(ctx, "model"), "the model "
		    "sizes are incomplete, nothing gives:%s; set "
		    "model.hf_config, or the explicit keys (weights_dir gives "
		    "every size but kv_bytes_per_token)", missing);
		return;
	}

	model_sizes_init(&m);
	model_sizes_init(&wd);
	model_sizes_init(&hf);
	m.layers = c->plan.layers;
	if ((m.layer_bytes = calloc(m.layers, sizeof(*m.layer_bytes))) ==
	    NULL) {
		conf_error(ctx, conf_path_line(ctx, "model"), "out of memory");
		return;
	}

	need_hf = c->hf_config != NULL && (!xk || (c->weights_dir == NULL &&
	    (!xl || !xe || !xh)));
	if (need_hf && model_from_hf_config(&hf, c->hf_config,
	    c->kv_dtype_bytes, err, sizeof(err)) == -1) {
		conf_error(ctx, conf_path_line(ctx, "model.hf_config"),
		    "model.hf_config: %s", err);
		goto fail;
	}
	if (c->weights_dir != NULL && model_from_safetensors_dir(&wd,
	    c->weights_dir, m.layers, err, sizeof(err)) == -1) {
		conf_error(ctx, conf_path_line(ctx, "model.weights_dir"),
		    "model.weights_dir: %s", err);
		goto fail;
	}

	if (c->weights_dir != NULL)
		merge_sizes(&m, &wd, xl, xe, xh, true, "safetensors");
	else if (need_hf)
		merge_sizes(&m, &hf, xl, xe, xh, true, "hf_config");
	if (!xk) {
		m.kv_bytes_per_token = hf.kv_bytes_per_token;
		add_source(&m, "hf_config");
	}
	if (need_hf)
		m.parameters = hf.parameters;

	if (xl) {
		for (i = 0; i < m.layers; i++)
			m.layer_bytes[i] = c->explicit_layer_bytes;
	}
	if (xe)
		m.embedding_bytes = c->explicit_embedding_bytes;
	if (xh)
		m.head_bytes = c->explicit_head_bytes;
	if (xk)
		m.kv_bytes_per_token = c->explicit_kv_bytes_per_token;
	if (xl || xe || xh || xk)
		add_source(&m, "explicit");

	model_sizes_free(&wd);
	model_sizes_free(&hf);
	model_sizes_free(&c->sizes);
	c->sizes = m;
	c->have_sizes = true;
	return;

fail:
	model_sizes_free(&m);
	model_sizes_free(&wd);
	model_sizes_free(&hf);
}
