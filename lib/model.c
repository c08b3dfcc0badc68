/*
 * Model sizes derived from a Hugging Face config.json: parameter counts
 * per layer, embedding and LM head, times the bytes of the weights' dtype,
 * and the KV cache bytes per token per layer.
 *
 * Decisions that the counts rest on:
 * - Tied embeddings (tie_word_embeddings = true) still count the LM head
 *   as vocab_size * hidden_size on the last stage: vLLM's LlamaModel
 *   (model_executor/models/llama.py, v0.8) creates embed_tokens on the
 *   last pipeline rank too when the embeddings are tied, so the last stage
 *   contains that table whatever the checkpoint stores. With a single
 *   stage this counts the table twice.
 * - fp8 checkpoints (quantization_config.quant_method = "fp8", as
 *   DeepSeek-V3) store the linear layers of the decoder in 1 byte plus one
 *   float32 scale per weight block (weight_block_size, else per tensor).
 *   Embeddings, the LM head, norms, biases and MoE routers keep
 *   torch_dtype. The KV cache keeps torch_dtype unless kv_dtype_bytes
 *   is set, as with vLLM's kv_cache_dtype "auto".
 * - Multi-token-prediction layers (num_nextn_predict_layers) are not
 *   counted: vLLM loads them only for speculative decoding.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model.h"
#include "util.h"

typedef unsigned __int128 u128;

enum family {
	FAM_LLAMA,		/* llama, mistral */
	FAM_QWEN2,
	FAM_QWEN3,
	FAM_MIXTRAL,
	FAM_QWEN2_MOE,
	FAM_QWEN3_MOE,
	FAM_DEEPSEEK_V2,
	FAM_DEEPSEEK_V3,
};

static const struct {
	const char	*model_type;
	const char	*architecture;
	enum family	 family;
} families[] = {
	{ "llama", "LlamaForCausalLM", FAM_LLAMA },
	{ "mistral", "MistralForCausalLM", FAM_LLAMA },
	{ "qwen2", "Qwen2ForCausalLM", FAM_QWEN2 },
	{ "qwen3", "Qwen3ForCausalLM", FAM_QWEN3 },
	{ "mixtral", "MixtralForCausalLM", FAM_MIXTRAL },
	{ "qwen2_moe", "Qwen2MoeForCausalLM", FAM_QWEN2_MOE },
	{ "qwen3_moe", "Qwen3MoeForCausalLM", FAM_QWEN3_MOE },
	{ "deepseek_v2", "DeepseekV2ForCausalLM", FAM_DEEPSEEK_V2 },
	{ "deepseek_v3", "DeepseekV3ForCausalLM", FAM_DEEPSEEK_V3 },
};

/* Field limits, far above any published model, that keep every product
 * of a few of them inside 128 bits. */
#define DIM_MAX		(1ULL << 24)
#define COUNT_MAX	(1ULL << 20)

/* The config.json fields that sizing uses. */
struct hf {
	const char	*name;		/* file name in messages */
	json_t		*root;
	enum family	 family;
	uint64_t	 hidden;
	uint64_t	 inter;		/* dense MLP width */
	uint64_t	 layers;
	uint64_t	 heads;
	uint64_t	 kv_heads;
	uint64_t	 head_dim;
	uint64_t	 vocab;
	unsigned	 dtype_bytes;
	bool		 attn_bias;	/* q, k, v and o biases (Llama, Qwen3) */
	bool		 mlp_bias;

	bool		 fp8;		/* decoder linear layers in 1 byte */
	uint64_t	 block_out;	/* fp8 scale block; 0: one per tensor */
	uint64_t	 block_in;

	/* Mixture of experts. */
	uint64_t	 experts;
	uint64_t	 moe_inter;
	uint64_t	 shared_inter;	/* qwen2_moe shared expert width */
	uint64_t	 sparse_step;	/* qwen MoE decoder_sparse_step */
	json_t		*mlp_only;	/* qwen MoE mlp_only_layers, or NULL */

	/* DeepSeek multi-head latent attention and MoE layout. */
	uint64_t	 q_lora;	/* 0: q_lora_rank null, direct q_proj */
	uint64_t	 kv_lora;
	uint64_t	 nope;
	uint64_t	 rope;
	uint64_t	 v_dim;
	uint64_t	 n_shared;
	uint64_t	 first_dense;
	uint64_t	 moe_freq;
	bool		 score_bias;	/* router e_score_correction_bias */
};

/* Parameters and bytes of one part of the model. */
struct tally {
	u128	 params;
	u128	 bytes;
};

void
model_sizes_init(struct model_sizes *m)
{
	memset(m, 0, sizeof(*m));
}

void
model_sizes_free(struct model_sizes *m)
{
	free(m->layer_bytes);
	memset(m, 0, sizeof(*m));
}

int
model_sizes_copy(struct model_sizes *dst, const struct model_sizes *src)
{
	uint64_t	*lb = NULL;

	if (src->layers > 0 && src->layer_bytes != NULL) {
		lb = calloc(src->layers, sizeof(*lb));
		if (lb == NULL)
			return -1;
		memcpy(lb, src->layer_bytes, src->layers * sizeof(*lb));
	}
	*dst = *src;
	dst->layer_bytes = lb;
	return 0;
}

/*
 * Reads an integer field into *out. A missing or null field takes `def`
 * unless `required`. Returns 0, or -1 with a message naming the field.
 */
static int
get_uint(const struct hf *h, const char *key, bool required, uint64_t def,
    uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	json_t		*v = json_object_get(h->root, key);
	json_int_t	 i;

	if (v == NULL || json_is_null(v)) {
		if (required) {
			snprintf(err, errlen, "%s: %s is missing", h->name, key);
			return -1;
		}
		*out = def;
		return 0;
	}
	if (!json_is_integer(v)) {
		snprintf(err, errlen, "%s: %s must be an integer", h->name,
		    key);
		return -1;
	}
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max) {
		snprintf(err, errlen, "%s: %s must be from %llu to %llu, "
		    "found %lld", h->name, key, (unsigned long long)min,
		    (unsigned long long)max, (long long)i);
		return -1;
	}
	*out = (uint64_t)i;
	return 0;
}

static int
get_bool(const struct hf *h, const char *key, bool def, bool *out, char *err,
    size_t errlen)
{
	json_t	*v = json_object_get(h->root, key);

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "%s: %s must be true or false", h->name,
		    key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* Finds the family from model_type, else from architectures[0]. */
static int
find_family(struct hf *h, char *err, size_t errlen)
{
	const char	*type = json_string_value(json_object_get(h->root,
	    "model_type"));
	const char	*arch = json_string_value(json_array_get(
	    json_object_get(h->root, "architectures"), 0));
	size_t		 i;

	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		if ((type != NULL && strcmp(type, families[i].model_type) ==
		    0) || (type == NULL && arch != NULL &&
		    strcmp(arch, families[i].architecture) == 0)) {
			h->family = families[i].family;
			return 0;
		}
	}
	snprintf(err, errlen, "%s: model_type \"%.64s\" (architecture "
	    "\"%.64s\") is not one whose sizes can be derived from "
	    "config.json; set model.weights_dir to the safetensors folder, or "
	    "the explicit model.layer_bytes, embedding_bytes, head_bytes and "
	    "kv_bytes_per_token", h->name, type != NULL ? type : "none",
	    arch != NULL ? arch : "none");
	return -1;
}

/* Reads the dtype bytes from torch_dtype (or "dtype", its newer name) and
 * the fp8 quantization settings. */
static int
read_dtype(struct hf *h, char *err, size_t errlen)
{
	static const struct {
		const char	*name;
		unsigned	 bytes;
	} dtypes[] = {
		{ "bfloat16", 2 }, { "float16", 2 }, { "float32", 4 },
		{ "float8_e4m3fn", 1 }, { "float8_e5m2", 1 },
	};
	json_t		*q, *block;
	const char	*d, *method;
	size_t		 i;

	d = json_string_value(json_object_get(h->root, "torch_dtype"));
	if (d == NULL)
		d = json_string_value(json_object_get(h->root, "dtype"));
	if (d == NULL) {
		snprintf(err, errlen, "%s: torch_dtype is missing or not a "
		    "string", h->name);
		return -1;
	}
	for (i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
		if (strcmp(d, dtypes[i].name) == 0)
			break;
	if (i == sizeof(dtypes) / sizeof(dtypes[0])) {
		snprintf(err, errlen, "%s: torch_dtype \"%.32s\" is not one of "
		    "bfloat16, float16, float32, float8_e4m3fn, float8_e5m2",
		    h->name, d);
		return -1;
	}
	h->dtype_bytes = dtypes[i].bytes;

	q = json_object_get(h->root, "quantization_config");
	if (q == NULL || json_is_null(q))
		return 0;
	method = json_string_value(json_object_get(q, "quant_method"));
	if (method == NULL || strcmp(method, "fp8") != 0) {
		snprintf(err, errlen, "%s: quantization method \"%.32s\" is not "
		    "supported (only fp8); set model.weights_dir to the "
		    "safetensors folder for exact sizes", h->name,
		    method != NULL ? method : "none");
		return -1;
	}
	h->fp8 = true;
	block = json_object_get(q, "weight_block_size");
	if (block == NULL || json_is_null(block))
		return 0;
	if (!json_is_array(block) || json_array_size(block) != 2 ||
	    !json_is_integer(json_array_get(block, 0)) ||
	    !json_is_integer(json_array_get(block, 1)) ||
	    json_integer_value(json_array_get(block, 0)) < 1 ||
	    json_integer_value(json_array_get(block, 1)) < 1 ||
	    json_integer_value(json_array_get(block, 0)) > (1 << 20) ||
	    json_integer_value(json_array_get(block, 1)) > (1 << 20)) {
		snprintf(err, errlen, "%s: quantization_config."
		    "weight_block_size must be two positive integers",
		    h->name);
		return -1;
	}
	h->block_out = (uint64_t)json_integer_value(json_array_get(block, 0));
	h->block_in = (uint64_t)json_integer_value(json_array_get(block, 1));
	return 0;
}

/* Reads the fields common to every family. */
static int
read_common(struct hf *h, char *err, size_t errlen)
{
	json_t		*v;
	uint64_t	 hd;

	if (get_uint(h, "hidden_size", true, 0, 1, DIM_MAX, &h->hidden, err,
	    errlen) == -1 ||
	    get_uint(h, "num_hidden_layers", true, 0, 1, MODEL_LAYERS_MAX,
	    &h->layers, err, errlen) == -1 ||
	    get_uint(h, "num_attention_heads", true, 0, 1, COUNT_MAX,
	    &h->heads, err, errlen) == -1 ||
	    get_uint(h, "num_key_value_heads", false, h->heads, 1, h->heads,
	    &h->kv_heads, err, errlen) == -1 ||
	    get_uint(h, "vocab_size", true, 0, 1, DIM_MAX, &h->vocab, err,
	    errlen) == -1 ||
	    get_bool(h, "attention_bias", false, &h->attn_bias, err,
	    errlen) == -1 ||
	    get_bool(h, "mlp_bias", false, &h->mlp_bias, err, errlen) == -1)
		return -1;

	/* Qwen2 always has q, k and v biases and never an o bias. */
	if (h->family == FAM_QWEN2 || h->family == FAM_QWEN2_MOE)
		h->attn_bias = false;

	hd = h->hidden / h->heads;
	if (get_uint(h, "head_dim", false, hd, 1, DIM_MAX, &h->head_dim, err,
	    errlen) == -1)
		return -1;
	v = json_object_get(h->root, "head_dim");
	if ((v == NULL || json_is_null(v)) && h->hidden % h->heads != 0) {
		snprintf(err, errlen, "%s: hidden_size %llu is not a multiple "
		    "of num_attention_heads %llu and head_dim is missing",
		    h->name, (unsigned long long)h->hidden,
		    (unsigned long long)h->heads);
		return -1;
	}
	return 0;
}

/* Reads mlp_only_layers: the Qwen MoE layers that keep a dense MLP. */
static int
read_mlp_only(struct hf *h, char *err, size_t errlen)
{
	json_t	*v;
	size_t	 i;

	h->mlp_only = json_object_get(h->root, "mlp_only_layers");
	if (h->mlp_only == NULL || json_is_null(h->mlp_only)) {
		h->mlp_only = NULL;
		return 0;
	}
	if (!json_is_array(h->mlp_only)) {
		snprintf(err, errlen, "%s: mlp_only_layers must be a list of "
		    "layer numbers", h->name);
		return -1;
	}
	json_array_foreach(h->mlp_only, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			snprintf(err, errlen, "%s: mlp_only_layers entry %zu "
			    "is not a layer number", h->name, i);
			return -1;
		}
	}
	return 0;
}

/* Reads the family-specific fields. */
static int
read_family(struct hf *h, char *err, size_t errlen)
{
	bool	 dense = h->family == FAM_LLAMA || h->family == FAM_QWEN2 ||
	    h->family == FAM_QWEN3;

	if (get_uint(h, "intermediate_size", true, 0, 1, DIM_MAX, &h->inter,
	    err, errlen) == -1)
		return -1;
	if (dense)
		return 0;

	switch (h->family) {
	case FAM_MIXTRAL:
		return get_uint(h, "num_local_experts", true, 0, 1, COUNT_MAX,
		    &h->experts, err, errlen);
	case FAM_QWEN2_MOE:
		if (get_uint(h, "shared_expert_intermediate_size", true, 0, 0,
		    DIM_MAX, &h->shared_inter, err, errlen) == -1)
			return -1;
		/* FALLTHROUGH */
	case FAM_QWEN3_MOE:
		if (get_uint(h, "num_experts", true, 0, 1, COUNT_MAX,
		    &h->experts, err, errlen) == -1 ||
		    get_uint(h, "moe_intermediate_size", true, 0, 1, DIM_MAX,
		    &h->moe_inter, err, errlen) == -1 ||
		    get_uint(h, "decoder_sparse_step", false, 1, 1,
		    MODEL_LAYERS_MAX, &h->sparse_step, err, errlen) == -1)
			return -1;
		return read_mlp_only(h, err, errlen);
	default:
		break;
	}

	/* DeepSeek V2 and V3: q_lora_rank null means a direct q_proj. */
	h->score_bias = h->family == FAM_DEEPSEEK_V3;
	if (get_uint(h, "q_lora_rank", false, 0, 1, DIM_MAX, &h->q_lora, err,
	    errlen) == -1 ||
	    get_uint(h, "kv_lora_rank", true, 0, 1, DIM_MAX, &h->kv_lora, err,
	    errlen) == -1 ||
	    get_uint(h, "qk_nope_head_dim", true, 0, 0, DIM_MAX, &h->nope,
	    err, errlen) == -1 ||
	    get_uint(h, "qk_rope_head_dim", true, 0, 1, DIM_MAX, &h->rope,
	    err, errlen) == -1 ||
	    get_uint(h, "v_head_dim", true, 0, 1, DIM_MAX, &h->v_dim, err,
	    errlen) == -1 ||
	    get_uint(h, "n_routed_experts", false, 0, 0, COUNT_MAX,
	    &h->experts, err, errlen) == -1 ||
	    get_uint(h, "n_shared_experts", false, 0, 0, COUNT_MAX,
	    &h->n_shared, err, errlen) == -1 ||
	    get_uint(h, "first_k_dense_replace", false, 0, 0,
	    MODEL_LAYERS_MAX, &h->first_dense, err, errlen) == -1 ||
	    get_uint(h, "moe_layer_freq", false, 1, 1, MODEL_LAYERS_MAX,
	    &h->moe_freq, err, errlen) == -1)
		return -1;
	if (h->experts > 0 && get_uint(h, "moe_intermediate_size", true, 0,
	    1, DIM_MAX, &h->moe_inter, err, errlen) == -1)
		return -1;
	return 0;
}

/* Adds a weight that keeps torch_dtype: embeddings, norms, biases,
 * routers. */
static void
add_plain(const struct hf *h, struct tally *t, u128 params)
{
	t->params += params;
	t->bytes += params * h->dtype_bytes;
}

/* Adds a linear layer of the decoder, which fp8 checkpoints quantize. */
static void
add_linear(const struct hf *h, struct tally *t, uint64_t out, uint64_t in,
    bool bias)
{
	u128	 n = (u128)out * in;
	u128	 blocks;

	t->params += n;
	if (!h->fp8) {
		t->bytes += n * h->dtype_bytes;
	} else {
		blocks = 1;
		if (h->block_out > 0)
			blocks = (u128)((out + h->block_out - 1) /
			    h->block_out) * ((in + h->block_in - 1) /
			    h->block_in);
		t->bytes += n + blocks * 4;
	}
	if (bias)
		add_plain(h, t, out);
}

/* Adds a gated MLP (gate, up and down projections) of width `inter`. */
static void
add_mlp(const struct hf *h, struct tally *t, uint64_t inter, bool bias)
{
	add_linear(h, t, inter, h->hidden, bias);
	add_linear(h, t, inter, h->hidden, bias);
	add_linear(h, t, h->hidden, inter, bias);
}

static void
add_attention(const struct hf *h, struct tally *t)
{
	uint64_t	 q = h->heads * h->head_dim;
	uint64_t	 kv = h->kv_heads * h->head_dim;
	bool		 qkv_bias = h->attn_bias || h->family == FAM_QWEN2 ||
	    h->family == FAM_QWEN2_MOE;

	add_linear(h, t, q, h->hidden, qkv_bias);
	add_linear(h, t, kv, h->hidden, qkv_bias);
	add_linear(h, t, kv, h->hidden, qkv_bias);
	add_linear(h, t, h->hidden, q, h->attn_bias);
	if (h->family == FAM_QWEN3 || h->family == FAM_QWEN3_MOE)
		add_plain(h, t, 2 * (u128)h->head_dim);	/* q_norm, k_norm */
}

/* Multi-head latent attention of DeepSeek V2 and V3. */
static void
add_mla(const struct hf *h, struct tally *t)
{
	uint64_t	 qk = h->nope + h->rope;

	if (h->q_lora > 0) {
		add_linear(h, t, h->q_lora, h->hidden, false);
		add_plain(h, t, h->q_lora);		/* q_a_layernorm */
		add_linear(h, t, h->heads * qk, h->q_lora, false);
	} else {
		add_linear(h, t, h->heads * qk, h->hidden, false);
	}
	add_linear(h, t, h->kv_lora + h->rope, h->hidden, false);
	add_plain(h, t, h->kv_lora);			/* kv_a_layernorm */
	add_linear(h, t, h->heads * (h->nope + h->v_dim), h->kv_lora, false);
	add_linear(h, t, h->hidden, h->heads * h->v_dim, false);
}

/* Returns whether Qwen MoE layer i is sparse: every decoder_sparse_step-th layer,
 * except those in mlp_only_layers. */
static bool
qwen_layer_sparse(const struct hf *h, uint64_t i)
{
	size_t	 k;
	json_t	*v;

	if ((i + 1) % h->sparse_step != 0)
		return false;
	if (h->mlp_only != NULL) {
		json_array_foreach(h->mlp_only, k, v) {
			if (json_integer_value(v) == (json_int_t)i)
				return false;
		}
	}
	return true;
}

/* The feed-forward part of layer i. */
static void
add_ffn(const struct hf *h, struct tally *t, uint64_t i)
{
	switch (h->family) {
	case FAM_LLAMA:
	case FAM_QWEN2:
	case FAM_QWEN3:
		add_mlp(h, t, h->inter, h->mlp_bias);
		break;
	case FAM_MIXTRAL:
		add_plain(h, t, (u128)h->hidden * h->experts);	/* router */
		add_mlp(h, t, h->inter * h->experts, false);
		break;
	case FAM_QWEN2_MOE:
	case FAM_QWEN3_MOE:
		if (!qwen_layer_sparse(h, i)) {
			add_mlp(h, t, h->inter, false);
			break;
		}
		add_plain(h, t, (u128)h->hidden * h->experts);
		add_mlp(h, t, h->moe_inter * h->experts, false);
		if (h->family == FAM_QWEN2_MOE && h->shared_inter > 0) {
			add_mlp(h, t, h->shared_inter, false);
			add_plain(h, t, h->hidden);	/* shared_expert_gate */
		}
		break;
	case FAM_DEEPSEEK_V2:
	case FAM_DEEPSEEK_V3:
		if (h->experts == 0 || i < h->first_dense ||
		    i % h->moe_freq != 0) {
			add_mlp(h, t, h->inter, false);
			break;
		}
		add_plain(h, t, (u128)h->hidden * h->experts);
		if (h->score_bias) {
			/* e_score_correction_bias is float32 in the
			 * checkpoint and in vLLM. */
			t->params += h->experts;
			t->bytes += (u128)h->experts * 4;
		}
		add_mlp(h, t, h->moe_inter * h->experts, false);
		if (h->n_shared > 0)
			add_mlp(h, t, h->moe_inter * h->n_shared, false);
		break;
	}
}

/* Fills m from the parsed fields. Returns 0, or -1 on overflow. */
static int
compute(const struct hf *h, struct model_sizes *m, unsigned kv_dtype_bytes,
    char *err, size_t errlen)
{
	struct tally	 t, total = { 0, 0 };
	unsigned	 kvb = kv_dtype_bytes != 0 ? kv_dtype_bytes :
	    h->dtype_bytes;
	u128		 kv;
	uint64_t	 i;

	m->layers = (uint32_t)h->layers;
	if ((m->layer_bytes = calloc(h->layers, sizeof(uint64_t))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", h->name);
		return -1;
	}
	for (i = 0; i < h->layers; i++) {
		memset(&t, 0, sizeof(t));
		if (h->family == FAM_DEEPSEEK_V2 ||
		    h->family == FAM_DEEPSEEK_V3)
			add_mla(h, &t);
		else
			add_attention(h, &t);
		add_ffn(h, &t, i);
		add_plain(h, &t, 2 * (u128)h->hidden);	/* two RMSNorms */
		if (t.bytes > UINT64_MAX)
			goto overflow;
		m->layer_bytes[i] = (uint64_t)t.bytes;
		total.params += t.params;
	}

	memset(&t, 0, sizeof(t));
	add_plain(h, &t, (u128)h->vocab * h->hidden);
	m->embedding_bytes = (uint64_t)t.bytes;
	total.params += t.params;

	memset(&t, 0, sizeof(t));
	add_plain(h, &t, (u128)h->vocab * h->hidden);	/* lm_head */
	add_plain(h, &t, h->hidden);			/* final norm */
	m->head_bytes = (uint64_t)t.bytes;
	total.params += t.params;
	if (total.params > UINT64_MAX)
		goto overflow;
	m->parameters = (uint64_t)total.params;

	if (h->family == FAM_DEEPSEEK_V2 || h->family == FAM_DEEPSEEK_V3)
		kv = ((u128)h->kv_lora + h->rope) * kvb;
	else
		kv = 2 * (u128)h->kv_heads * h->head_dim * kvb;
	m->kv_bytes_per_token = (uint64_t)kv;
	snprintf(m->source, sizeof(m->source), "hf_config");
	return 0;

overflow:
	snprintf(err, errlen, "%s: the model's size overflows 64 bits; check "
	    "its dimensions", h->name);
	free(m->layer_bytes);
	m->layer_bytes = NULL;
	return -1;
}

/* Parses config.json text into a JSON object. */
static json_t *
load_json(const char *text, size_t len, const char *name, char *err,
    size_t errlen)
{
	json_error_t	 jerr;
	json_t		*root;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "%s:%d: invalid JSON: %s", name,
		    jerr.line, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s: expected a JSON object", name);
		json_decref(root);
		return NULL;
	}
	return root;
}

int
model_from_hf_config_text(struct model_sizes *m, const char *text,
    size_t len, const char *name, unsigned kv_dtype_bytes, char *err,
    size_t errlen)
{
	struct hf	 h;
	int		 rc = -1;

	model_sizes_init(m);
	if (kv_dtype_bytes > 8) {
		snprintf(err, errlen, "%s: KV cache dtype of %u bytes is not "
		    "supported", name, kv_dtype_bytes);
		return -1;
	}
	memset(&h, 0, sizeof(h));
	h.name = name;
	if ((h.root = load_json(text, len, name, err, errlen)) == NULL)
		return -1;
	if (find_family(&h, err, errlen) == 0 &&
	    read_dtype(&h, err, errlen) == 0 &&
	    read_common(&h, err, errlen) == 0 &&
	    read_family(&h, err, errlen) == 0 &&
	    compute(&h, m, kv_dtype_bytes, err, errlen) == 0)
		rc = 0;
	json_decref(h.root);
	return rc;
}

int
model_from_hf_config(struct model_sizes *m, const char *path,
    unsigned kv_dtype_bytes, char *err, size_t errlen)
{
	char	*text;
	size_t	 len;
	int	 rc;

	model_sizes_init(m);
	text = util_read_file(path, MODEL_CONFIG_MAX, &len, err, errlen);
	if (text == NULL)
		return -1;
	rc = model_from_hf_config_text(m, text, len, path, kv_dtype_bytes,
	    err, errlen);
	free(text);
	return rc;
}

int
model_hf_config_layers(const char *path, uint32_t *layers, char *err,
    size_t errlen)
{
	struct hf	 h;
	uint64_t	 n;
	char		*text;
	size_t		 len;
	int		 rc;

	text = util_read_file(path, MODEL_CONFIG_MAX, &len, err, errlen);
	if (text == NULL)
		return -1;
	memset(&h, 0, sizeof(h));
	h.name = path;
	h.root = load_json(text, len, path, err, errlen);
	free(text);
	if (h.root == NULL)
		return -1;
	rc = get_uint(&h, "num_hidden_layers", true, 0, 1, MODEL_LAYERS_MAX,
	    &n, err, errlen);
	json_decref(h.root);
	if (rc == 0)
		*layers = (uint32_t)n;
	return rc;
}
