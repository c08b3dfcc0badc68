/*
 * Model sizes for the memory model: per-layer weight bytes, embedding,
 * LM head and KV cache bytes per token. They come from explicit config
 * values, from safetensors headers, or from a Hugging Face config.json.
 */
#ifndef PPCOORD_MODEL_H
#define PPCOORD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_LAYERS_MAX	100000
#define MODEL_CONFIG_MAX	(4u << 20)	/* config.json file size */
#define MODEL_ST_HEADER_MAX	(100u << 20)	/* safetensors JSON header */

struct model_sizes {
	uint32_t	 layers;
	uint64_t	*layer_bytes;		/* layers entries, owned */
	uint64_t	 embedding_bytes;	/* E: on stage 0 */
	uint64_t	 head_bytes;		/* H: LM head and final norm, last stage */
	uint64_t	 kv_bytes_per_token;	/* k: per layer, K and V, all KV heads */
	uint64_t	 parameters;		/* total, when derived from config.json */
	/* Safetensors bookkeeping: whether an lm_head tensor was seen, and
	 * how many tensors were left out (layers at or past `layers`) or
	 * matched no part (not model.layers, embed_tokens, norm, lm_head). */
	bool		 have_lm_head;
	uint64_t	 dropped_tensors;
	uint64_t	 other_tensors;
	char		 source[64];		/* "explicit", "safetensors", "hf_config" */
};

void	model_sizes_init(struct model_sizes *m);
void	model_sizes_free(struct model_sizes *m);
int	model_sizes_copy(struct model_sizes *dst, const struct model_sizes *src);

/*
 * Derives sizes from a Hugging Face config.json: the dense Llama, Mistral,
 * Qwen2 and Qwen3 families and the MoE Mixtral, Qwen2-MoE, Qwen3-MoE and
 * DeepSeek V2/V3 families. Weights are parameters times the bytes of
 * torch_dtype; `kv_dtype_bytes` of 0 means the dtype of the weights, 1 is
 * fp8. Other architectures are an error whose message asks for weights_dir
 * or explicit sizes. Returns 0, or -1 with a message in err.
 */
int	model_from_hf_config(struct model_sizes *m, const char *path,
	    unsigned kv_dtype_bytes, char *err, size_t errlen);
/*
 * Reads only num_hidden_layers from a config.json, for any architecture,
 * so that model.layers can be left out. Returns 0, or -1 with a message.
 */
int	model_hf_config_layers(const char *path, uint32_t *layers, char *err,
	    size_t errlen);
int	model_from_hf_config_text(struct model_sizes *m, const char *text,
	    size_t len, const char *name, unsigned kv_dtype_bytes, char *err,
	    size_t errlen);

/*
 * Reads exact weight sizes from the headers of every *.safetensors file in
 * `dir`, in name order (tensor data is never read). `layers` is
 * num_hidden_layers: tensors of layers at or past it, such as
 * multi-token-prediction layers, are left out. A layer without tensors or
 * a missing embedding is an error (a shard is missing). The head is the
 * sum of the lm_head.* and model.norm.* tensors, so without an lm_head
 * tensor (tied embeddings) it leaves out the embedding table that vLLM
 * also allocates on the last stage. KV bytes per token are not in the
 * weights; the caller sets them.
 */
int	model_from_safetensors_dir(struct model_sizes *m, const char *dir,
	    uint32_t layers, char *err, size_t errlen);

/*
 * Parses one safetensors header and adds each tensor's byte size to the
 * per-layer, embedding and head totals of m (m->layers must be set and
 * m->layer_bytes allocated). `data_size` is the size of the data after
 * the header (file size - 8 - json_len), used to check offsets. Each
 * tensor's dtype, shape and data_offsets are checked against each other,
 * and no two tensors may overlap. `name` labels errors, which also name
 * the tensor. On error m may hold part of the file's sizes.
 */
int	model_add_safetensors_header(struct model_sizes *m, const char *json,
	    size_t json_len, uint64_t data_size, const char *name, char *err,
	    size_t errlen);

#endif
