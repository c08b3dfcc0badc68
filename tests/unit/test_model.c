/*
 * Unit tests for lib/model.c and lib/model_st.c: sizes from config.json
 * (real configs under tests/models and small hand-checked ones) and from
 * generated safetensors files. Run from the repository root, as `make
 * unit` does, so that tests/models is found.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model.h"
#include "st_gen.h"
#include "util.h"

#define MODELS	"tests/models/"

static uint64_t
total_bytes(const struct model_sizes *m)
{
	uint64_t	 t = m->embedding_bytes + m->head_bytes;
	uint32_t	 i;

	for (i = 0; i < m->layers; i++)
		t += m->layer_bytes[i];
	return t;
}

static void
load_model(const char *file, unsigned kv, struct model_sizes *m)
{
	char	 err[PPC_ERRLEN];

	if (model_from_hf_config(m, file, kv, err, sizeof(err)) != 0)
		fail_msg("%s: %s", file, err);
}

static void
test_llama70b_exact(void **state)
{
	struct model_sizes	 m;
	uint32_t		 i;

	load_model(MODELS "llama-3.1-70b.json", 0, &m);
	assert_int_equal(m.parameters, 70553706496ULL);
	assert_int_equal(m.layers, 80);
	/* Per layer: attention 150,994,944 + MLP 704,643,072 + norms
	 * 16,384 parameters, in bfloat16. */
	for (i = 0; i < m.layers; i++)
		assert_int_equal(m.layer_bytes[i], 855654400ULL * 2);
	assert_int_equal(m.embedding_bytes, 128256ULL * 8192 * 2);
	assert_int_equal(m.head_bytes, (128256ULL * 8192 + 8192) * 2);
	assert_int_equal(total_bytes(&m), 70553706496ULL * 2);
	/* 2 (K and V) * 8 KV heads * head_dim 128 * 2 bytes. */
	assert_int_equal(m.kv_bytes_per_token, 4096);
	assert_string_equal(m.source, "hf_config");
	model_sizes_free(&m);
}

static void
test_kv_fp8_halves(void **state)
{
	struct model_sizes	 m;

	load_model(MODELS "llama-3.1-70b.json", 1, &m);
	assert_int_equal(m.kv_bytes_per_token, 2048);
	/* The KV cache dtype does not change the weights. */
	assert_int_equal(m.layer_bytes[0], 855654400ULL * 2);
	model_sizes_free(&m);
}

/*
 * Published totals are rounded to three significant digits, so the
 * derived count must lie within half a unit of the last digit.
 */
static void
test_published_totals(void **state)
{
	static const struct {
		const char	*file;
		double		 billions;
		double		 half_unit;
	} cases[] = {
		{ MODELS "llama-3.1-8b.json", 8.03, 0.005 },
		{ MODELS "qwen2.5-72b.json", 72.7, 0.05 },
		{ MODELS "mixtral-8x7b.json", 46.7, 0.05 },
		/* 671 B without the 14 B multi-token-prediction module. */
		{ MODELS "deepseek-v3.json", 671, 0.5 },
	};
	struct model_sizes	 m;
	double			 b;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_model(cases[i].file, 0, &m);
		b = (double)m.parameters / 1e9;
		if (b < cases[i].billions - cases[i].half_unit ||
		    b >= cases[i].billions + cases[i].half_unit)
			fail_msg("%s: %.4f B parameters, published %.3g B",
			    cases[i].file, b, cases[i].billions);
		model_sizes_free(&m);
	}
}

static void
test_deepseek_v3_layout(void **state)
{
	struct model_sizes	 m;
	uint64_t		 weights;

	load_model(MODELS "deepseek-v3.json", 0, &m);
	assert_int_equal(m.layers, 61);
	/* MLA caches kv_lora_rank + qk_rope_head_dim per token, in the
	 * bfloat16 of torch_dtype. */
	assert_int_equal(m.kv_bytes_per_token, (512 + 64) * 2);
	/* The first three layers are dense, the rest MoE and much larger. */
	assert_int_equal(m.layer_bytes[0], m.layer_bytes[2]);
	assert_true(m.layer_bytes[3] > 10 * m.layer_bytes[2]);
	assert_int_equal(m.layer_bytes[3], m.layer_bytes[60]);
	/* Embedding and LM head stay bfloat16 in the fp8 checkpoint. */
	assert_int_equal(m.embedding_bytes, 129280ULL * 7168 * 2);
	assert_int_equal(m.head_bytes, (129280ULL * 7168 + 7168) * 2);
	/* Decoder weights are fp8: about one byte per parameter plus
	 * scales and the bfloat16 norms and routers. */
	weights = total_bytes(&m) - m.embedding_bytes - m.head_bytes;
	assert_true(weights > m.parameters - 2 * 129280ULL * 7168 - 7168);
	assert_true(weights < (m.parameters - 2 * 129280ULL * 7168) / 100 *
	    101);
	model_sizes_free(&m);
}

/* Loads config text or fails the test with the error. */
static void
load_text(const char *text, unsigned kv, struct model_sizes *m)
{
	char	 err[PPC_ERRLEN];

	if (model_from_hf_config_text(m, text, strlen(text), "test.json", kv,
	    err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

#define TINY_COMMON \
	"\"hidden_size\": 8, \"num_attention_heads\": 2, " \
	"\"vocab_size\": 10, \"intermediate_size\": 16, "

static void
test_qwen2_qkv_bias(void **state)
{
	struct model_sizes	 m;

	load_text("{\"model_type\": \"qwen2\", " TINY_COMMON
	    "\"num_key_value_heads\": 1, \"num_hidden_layers\": 2, "
	    "\"torch_dtype\": \"bfloat16\"}", 0, &m);
	/* q 64+8, k 32+4, v 32+4, o 64, MLP 384, norms 16 = 608. */
	assert_int_equal(m.layer_bytes[0], 608 * 2);
	assert_int_equal(m.layer_bytes[1], 608 * 2);
	assert_int_equal(m.embedding_bytes, 80 * 2);
	assert_int_equal(m.head_bytes, 88 * 2);
	assert_int_equal(m.parameters, 2 * 608 + 80 + 88);
	assert_int_equal(m.kv_bytes_per_token, 2 * 1 * 4 * 2);
	model_sizes_free(&m);
}

static void
test_qwen3_head_dim_norms(void **state)
{
	struct model_sizes	 m;

	load_text("{\"model_type\": \"qwen3\", " TINY_COMMON
	    "\"num_key_value_heads\": 1, \"head_dim\": 6, "
	    "\"num_hidden_layers\": 1, \"torch_dtype\": \"float32\"}", 0, &m);
	/* q 96, k 48, v 48, o 96, q_norm and k_norm 12, MLP 384,
	 * norms 16 = 700. */
	assert_int_equal(m.layer_bytes[0], 700 * 4);
	assert_int_equal(m.kv_bytes_per_token, 2 * 1 * 6 * 4);
	model_sizes_free(&m);
}

static void
test_llama_biases(void **state)
{
	struct model_sizes	 m;

	load_text("{\"model_type\": \"llama\", " TINY_COMMON
	    "\"num_key_value_heads\": 1, \"num_hidden_layers\": 1, "
	    "\"attention_bias\": true, \"mlp_bias\": true, "
	    "\"torch_dtype\": \"float16\"}", 0, &m);
	/* Attention 192 + biases 24, MLP 384 + biases 40, norms 16. */
	assert_int_equal(m.layer_bytes[0], (192 + 24 + 384 + 40 + 16) * 2);
	model_sizes_free(&m);

	/* The same through the architecture name, without model_type. */
	load_text("{\"architectures\": [\"MistralForCausalLM\"], "
	    TINY_COMMON "\"num_hidden_layers\": 1, "
	    "\"torch_dtype\": \"bfloat16\"}", 0, &m);
	/* num_key_value_heads defaults to num_attention_heads. */
	assert_int_equal(m.layer_bytes[0], (256 + 384 + 16) * 2);
	assert_int_equal(m.kv_bytes_per_token, 2 * 2 * 4 * 2);
	model_sizes_free(&m);
}

static void
test_mixtral_experts(void **state)
{
	struct model_sizes	 m;

	load_text("{\"model_type\": \"mixtral\", \"hidden_size\": 8, "
	    "\"num_attention_heads\": 2, \"vocab_size\": 10, "
	    "\"intermediate_size\": 4, \"num_local_experts\": 3, "
	    "\"num_hidden_layers\": 1, \"torch_dtype\": \"bfloat16\"}", 0,
	    &m);
	/* Attention 256, router 24, experts 3 * 96, norms 16. */
	assert_int_equal(m.layer_bytes[0], (256 + 24 + 288 + 16) * 2);
	model_sizes_free(&m);
}

static void
test_qwen2_moe_sparse_layers(void **state)
{
	struct model_sizes	 m;

	load_text("{\"model_type\": \"qwen2_moe\", " TINY_COMMON
	    "\"num_key_value_heads\": 1, \"num_hidden_layers\": 4, "
	    "\"num_experts\": 2, \"moe_intermediate_size\": 4, "
	    "\"shared_expert_intermediate_size\": 6, "
	    "\"decoder_sparse_step\": 2, \"mlp_only_layers\": [3], "
	    "\"torch_dtype\": \"bfloat16\"}", 0, &m);
	/* Layers 0 and 2 are not on the sparse step, layer 3 is in
	 * mlp_only_layers: dense 208 + 384 + 16. Layer 1: router 16,
	 * experts 192, shared expert 144, shared_expert_gate 8. */
	assert_int_equal(m.layer_bytes[0], 608 * 2);
	assert_int_equal(m.layer_bytes[1], (208 + 16 + 192 + 144 + 8 + 16) *
	    2);
	assert_int_equal(m.layer_bytes[2], 608 * 2);
	assert_int_equal(m.layer_bytes[3], 608 * 2);
	model_sizes_free(&m);
}

static void
test_qwen3_moe_layers(void **state)
{
	struct model_sizes	 m;

	load_text("{\"model_type\": \"qwen3_moe\", " TINY_COMMON
	    "\"num_key_value_heads\": 1, \"num_hidden_layers\": 2, "
	    "\"num_experts\": 2, \"moe_intermediate_size\": 4, "
	    "\"mlp_only_layers\": [0], \"torch_dtype\": \"bfloat16\"}", 0,
	    &m);
	/* Attention 192 + q_norm, k_norm 8. Layer 0 dense MLP 384; layer 1
	 * router 16 and experts 192. */
	assert_int_equal(m.layer_bytes[0], (200 + 384 + 16) * 2);
	assert_int_equal(m.layer_bytes[1], (200 + 16 + 192 + 16) * 2);
	model_sizes_free(&m);
}

#define TINY_MLA \
	"\"hidden_size\": 8, \"num_attention_heads\": 2, " \
	"\"vocab_size\": 10, \"intermediate_size\": 16, " \
	"\"kv_lora_rank\": 4, \"qk_nope_head_dim\": 2, " \
	"\"qk_rope_head_dim\": 1, \"v_head_dim\": 3, " \
	"\"n_routed_experts\": 2, \"n_shared_experts\": 1, " \
	"\"moe_intermediate_size\": 2, \"first_k_dense_replace\": 1, " \
	"\"num_hidden_layers\": 2, \"num_nextn_predict_layers\": 1, " \
	"\"torch_dtype\": \"bfloat16\", "

static void
test_deepseek_v2_no_q_lora(void **state)
{
	struct model_sizes	 m;

	load_text("{\"model_type\": \"deepseek_v2\", " TINY_MLA
	    "\"q_lora_rank\": null}", 0, &m);
	/* MLA: q_proj 48, kv_a_proj 40, kv_a_layernorm 4, kv_b_proj 40,
	 * o_proj 48 = 180. Layer 0 dense MLP 384; layer 1 router 16,
	 * experts 96, shared expert 48. Norms 16 each. */
	assert_int_equal(m.layers, 2);
	assert_int_equal(m.layer_bytes[0], (180 + 384 + 16) * 2);
	assert_int_equal(m.layer_bytes[1], (180 + 16 + 96 + 48 + 16) * 2);
	assert_int_equal(m.kv_bytes_per_token, (4 + 1) * 2);
	model_sizes_free(&m);
}

static void
test_deepseek_v3_q_lora_bias(void **state)
{
	struct model_sizes	 m;

	load_text("{\"model_type\": \"deepseek_v3\", " TINY_MLA
	    "\"q_lora_rank\": 3}", 1, &m);
	/* q_a_proj 24, q_a_layernorm 3, q_b_proj 18 replace q_proj 48;
	 * e_score_correction_bias adds 2 float32 values. */
	assert_int_equal(m.layer_bytes[0], (177 + 384 + 16) * 2);
	assert_int_equal(m.layer_bytes[1], (177 + 16 + 96 + 48 + 16) * 2 +
	    2 * 4);
	assert_int_equal(m.kv_bytes_per_token, 4 + 1);
	model_sizes_free(&m);
}

static void
test_fp8_block_scales(void **state)
{
	struct model_sizes	 m;

	load_text("{\"model_type\": \"llama\", " TINY_COMMON
	    "\"num_key_value_heads\": 1, \"num_hidden_layers\": 1, "
	    "\"torch_dtype\": \"bfloat16\", \"quantization_config\": "
	    "{\"quant_method\": \"fp8\", \"weight_block_size\": [4, 4]}}", 0,
	    &m);
	/* Linear weights take 1 byte plus a float32 per 4x4 block. So q
	 * is 64 + 4 * 4, k and v 32 + 2 * 4, o 64 + 4 * 4, and gate, up and
	 * down 128 + 8 * 4 each. The norms keep bfloat16. */
	assert_int_equal(m.layer_bytes[0], 80 + 40 + 40 + 80 + 3 * 160 +
	    16 * 2);
	/* Embedding and LM head keep bfloat16; KV cache too. */
	assert_int_equal(m.embedding_bytes, 80 * 2);
	assert_int_equal(m.kv_bytes_per_token, 2 * 1 * 4 * 2);
	model_sizes_free(&m);
}

static void
test_hf_config_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*message;
	} cases[] = {
		{ "{\"model_type\": \"gpt2\", \"torch_dtype\": \"float32\"}",
		    "set model.weights_dir" },
		{ "{}", "is not one whose sizes" },
		{ "[1]", "expected a JSON object" },
		{ "{\"model_type\": ", "invalid JSON" },
		{ "{\"model_type\": \"llama\", \"model_type\": \"llama\"}",
		    "invalid JSON" },
		{ "{\"model_type\": \"llama\", " TINY_COMMON
		    "\"num_hidden_layers\": 1}", "torch_dtype is missing" },
		{ "{\"model_type\": \"llama\", " TINY_COMMON
		    "\"num_hidden_layers\": 1, \"torch_dtype\": \"int4\"}",
		    "torch_dtype \"int4\"" },
		{ "{\"model_type\": \"llama\", " TINY_COMMON
		    "\"torch_dtype\": \"bfloat16\"}",
		    "num_hidden_layers is missing" },
		{ "{\"model_type\": \"llama\", \"hidden_size\": \"8\", "
		    "\"num_attention_heads\": 2, \"vocab_size\": 10, "
		    "\"intermediate_size\": 16, \"num_hidden_layers\": 1, "
		    "\"torch_dtype\": \"bfloat16\"}",
		    "hidden_size must be an integer" },
		{ "{\"model_type\": \"llama\", \"hidden_size\": -8, "
		    "\"num_attention_heads\": 2, \"vocab_size\": 10, "
		    "\"intermediate_size\": 16, \"num_hidden_layers\": 1, "
		    "\"torch_dtype\": \"bfloat16\"}",
		    "hidden_size must be from 1" },
		{ "{\"model_type\": \"llama\", \"hidden_size\": 1e30, "
		    "\"num_attention_heads\": 2, \"vocab_size\": 10, "
		    "\"intermediate_size\": 16, \"num_hidden_layers\": 1, "
		    "\"torch_dtype\": \"bfloat16\"}",
		    "hidden_size must be an integer" },
		{ "{\"model_type\": \"llama\", \"hidden_size\": "
		    "99999999999999, \"num_attention_heads\": 2, "
		    "\"vocab_size\": 10, \"intermediate_size\": 16, "
		    "\"num_hidden_layers\": 1, \"torch_dtype\": \"bfloat16\"}",
		    "hidden_size must be from 1 to 16777216" },
		{ "{\"model_type\": \"llama\", " TINY_COMMON
		    "\"num_key_value_heads\": 3, \"num_hidden_layers\": 1, "
		    "\"torch_dtype\": \"bfloat16\"}",
		    "num_key_value_heads must be from 1 to 2" },
		{ "{\"model_type\": \"llama\", \"hidden_size\": 9, "
		    "\"num_attention_heads\": 2, \"vocab_size\": 10, "
		    "\"intermediate_size\": 16, \"num_hidden_layers\": 1, "
		    "\"torch_dtype\": \"bfloat16\"}",
		    "not a multiple of num_attention_heads" },
		{ "{\"model_type\": \"llama\", " TINY_COMMON
		    "\"num_hidden_layers\": 1, \"torch_dtype\": \"bfloat16\", "
		    "\"attention_bias\": 1}", "attention_bias must be true" },
		{ "{\"model_type\": \"llama\", " TINY_COMMON
		    "\"num_hidden_layers\": 1, \"torch_dtype\": \"bfloat16\", "
		    "\"quantization_config\": {\"quant_method\": \"awq\"}}",
		    "quantization method \"awq\" is not supported" },
		{ "{\"model_type\": \"llama\", " TINY_COMMON
		    "\"num_hidden_layers\": 1, \"torch_dtype\": \"bfloat16\", "
		    "\"quantization_config\": {\"quant_method\": \"fp8\", "
		    "\"weight_block_size\": [0, 4]}}", "weight_block_size" },
		{ "{\"model_type\": \"mixtral\", " TINY_COMMON
		    "\"num_hidden_layers\": 1, \"torch_dtype\": \"bfloat16\"}",
		    "num_local_experts is missing" },
		{ "{\"model_type\": \"qwen3_moe\", " TINY_COMMON
		    "\"num_hidden_layers\": 1, \"torch_dtype\": \"bfloat16\", "
		    "\"num_experts\": 2, \"moe_intermediate_size\": 4, "
		    "\"mlp_only_layers\": 3}", "mlp_only_layers must be" },
		{ "{\"model_type\": \"qwen2_moe\", " TINY_COMMON
		    "\"num_hidden_layers\": 1, \"torch_dtype\": \"bfloat16\", "
		    "\"num_experts\": 2, \"moe_intermediate_size\": 4, "
		    "\"shared_expert_intermediate_size\": 0, "
		    "\"mlp_only_layers\": [0, \"1\"]}",
		    "mlp_only_layers entry 1 is not a layer number" },
		{ "{\"model_type\": \"deepseek_v3\", " TINY_COMMON
		    "\"num_hidden_layers\": 1, \"torch_dtype\": \"bfloat16\"}",
		    "kv_lora_rank is missing" },
		{ "{\"model_type\": \"llama\", " TINY_COMMON
		    "\"num_hidden_layers\": 0, \"torch_dtype\": \"bfloat16\"}",
		    "num_hidden_layers must be from 1" },
	};
	struct model_sizes	 m;
	char			 err[PPC_ERRLEN];
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (model_from_hf_config_text(&m, cases[i].text,
		    strlen(cases[i].text), "bad.json", 0, err,
		    sizeof(err)) != -1)
			fail_msg("case %zu was accepted", i);
		if (strstr(err, cases[i].message) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
			    cases[i].message);
		assert_non_null(strstr(err, "bad.json"));
		assert_null(m.layer_bytes);
	}
}

static void
test_hf_config_layers_only(void **state)
{
	char		 err[PPC_ERRLEN];
	uint32_t	 layers = 0;

	assert_int_equal(model_hf_config_layers(MODELS "deepseek-v3.json",
	    &layers, err, sizeof(err)), 0);
	assert_int_equal(layers, 61);
	assert_int_equal(model_hf_config_layers(MODELS "no-such.json",
	    &layers, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no-such.json"));
}

static void
test_sizes_copy(void **state)
{
	struct model_sizes	 a, b;

	load_model(MODELS "llama-3.1-8b.json", 0, &a);
	assert_int_equal(model_sizes_copy(&b, &a), 0);
	assert_ptr_not_equal(a.layer_bytes, b.layer_bytes);
	assert_memory_equal(a.layer_bytes, b.layer_bytes,
	    a.layers * sizeof(uint64_t));
	assert_int_equal(a.kv_bytes_per_token, b.kv_bytes_per_token);
	assert_string_equal(b.source, "hf_config");
	model_sizes_free(&a);
	assert_int_equal(b.layers, 32);
	model_sizes_free(&b);
}

/* Safetensors tests: each gets a fresh folder. */

static char	 tmpdir[64];

static int
setup_dir(void **state)
{
	strcpy(tmpdir, "/tmp/ppcoord-test-model.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char		 path[512];
	struct dirent	*de;
	DIR		*d;

	if ((d = opendir(tmpdir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", tmpdir,
			    de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(tmpdir);
	return 0;
}

static void
write_st(const char *file, const struct st_tensor *t, size_t n)
{
	char	 path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, file);
	assert_int_equal(st_write(path, t, n), 0);
}

static void
write_raw(const char *file, uint64_t hlen, const char *json, uint64_t data)
{
	char	 path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, file);
	assert_int_equal(st_write_raw(path, hlen, json, data), 0);
}

static void
test_st_two_shards(void **state)
{
	/* Layer 1 is larger than layer 0 (an MoE layer), and layer 3 is a
	 * multi-token-prediction layer of a 3-layer model. */
	static const struct st_tensor a[] = {
		{ "model.embed_tokens.weight", "BF16", 100, 16 },
		{ "model.layers.0.self_attn.q_proj.weight", "BF16", 16, 16 },
		{ "model.layers.0.input_layernorm.weight", "BF16", 16, 0 },
		{ "model.layers.1.mlp.experts.0.up_proj.weight", "F8_E4M3",
		    64, 16 },
		{ "model.layers.1.mlp.experts.0.up_proj.weight_scale_inv",
		    "F32", 1, 1 },
	};
	static const struct st_tensor b[] = {
		{ "model.layers.1.self_attn.q_proj.weight", "BF16", 16, 16 },
		{ "model.layers.2.self_attn.q_proj.weight", "F32", 16, 16 },
		{ "model.layers.3.self_attn.q_proj.weight", "BF16", 16, 16 },
		{ "model.layers.3.eh_proj.weight", "BF16", 16, 32 },
		{ "model.norm.weight", "BF16", 16, 0 },
		{ "lm_head.weight", "BF16", 100, 16 },
		{ "model.rotary_emb.inv_freq", "F32", 8, 0 },
	};
	struct model_sizes	 m;
	char			 err[PPC_ERRLEN];

	write_st("model-00001-of-00002.safetensors", a, 5);
	write_st("model-00002-of-00002.safetensors", b, 7);
	write_raw("README.md", 0, "not a safetensors file", 0);

	if (model_from_safetensors_dir(&m, tmpdir, 3, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(m.layers, 3);
	assert_int_equal(m.layer_bytes[0], 512 + 32);
	assert_int_equal(m.layer_bytes[1], 1024 + 4 + 512);
	assert_int_equal(m.layer_bytes[2], 1024);
	assert_int_equal(m.embedding_bytes, 3200);
	assert_int_equal(m.head_bytes, 32 + 3200);
	assert_true(m.have_lm_head);
	assert_int_equal(m.dropped_tensors, 2);
	assert_int_equal(m.other_tensors, 1);
	assert_int_equal(m.kv_bytes_per_token, 0);
	assert_string_equal(m.source, "safetensors");
	model_sizes_free(&m);
}

static void
test_st_tied_embeddings(void **state)
{
	static const struct st_tensor t[] = {
		{ "model.embed_tokens.weight", "BF16", 100, 16 },
		{ "model.layers.0.mlp.down_proj.weight", "BF16", 16, 16 },
		{ "model.norm.weight", "BF16", 16, 0 },
	};
	struct model_sizes	 m;
	char			 err[PPC_ERRLEN];

	write_st("model.safetensors", t, 3);
	if (model_from_safetensors_dir(&m, tmpdir, 1, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_false(m.have_lm_head);
	/* H is model.norm.* alone: the tied embedding is not counted again. */
	assert_int_equal(m.head_bytes, 32);
	assert_int_equal(m.embedding_bytes, 3200);
	model_sizes_free(&m);
}

/* Runs model_add_safetensors_header on a header text and returns the
 * result, with the message in err. */
static int
add_header(const char *json, uint64_t data_size, char *err, size_t errlen)
{
	struct model_sizes	 m;
	int			 rc;

	model_sizes_init(&m);
	m.layers = 2;
	m.layer_bytes = calloc(2, sizeof(uint64_t));
	assert_non_null(m.layer_bytes);
	err[0] = '\0';
	rc = model_add_safetensors_header(&m, json, strlen(json), data_size,
	    "x.safetensors", err, errlen);
	model_sizes_free(&m);
	return rc;
}

static void
test_st_header_dtypes(void **state)
{
	struct model_sizes	 m;
	char			 err[PPC_ERRLEN];
	const char		*json =
	    "{\"model.layers.0.a\":{\"dtype\":\"F64\",\"shape\":[3],"
	    "\"data_offsets\":[0,24]},"
	    "\"model.layers.0.b\":{\"dtype\":\"U16\",\"shape\":[3],"
	    "\"data_offsets\":[24,30]},"
	    "\"model.layers.0.c\":{\"dtype\":\"U32\",\"shape\":[3],"
	    "\"data_offsets\":[30,42]},"
	    "\"model.layers.0.d\":{\"dtype\":\"U64\",\"shape\":[3],"
	    "\"data_offsets\":[42,66]},"
	    "\"model.layers.0.e\":{\"dtype\":\"BOOL\",\"shape\":[],"
	    "\"data_offsets\":[66,67]},"
	    "\"model.layers.1.f\":{\"dtype\":\"I8\",\"shape\":[0,5],"
	    "\"data_offsets\":[67,67]},"
	    "\"model.layers.1.g\":{\"dtype\":\"F8_E5M2\",\"shape\":[2,2],"
	    "\"data_offsets\":[67,71]}}   ";

	model_sizes_init(&m);
	m.layers = 2;
	m.layer_bytes = calloc(2, sizeof(uint64_t));
	assert_non_null(m.layer_bytes);
	if (model_add_safetensors_header(&m, json, strlen(json), 71,
	    "x.safetensors", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(m.layer_bytes[0], 67);
	assert_int_equal(m.layer_bytes[1], 4);
	model_sizes_free(&m);
}

static void
test_st_header_errors(void **state)
{
	static const struct {
		const char	*json;
		uint64_t	 data_size;
		const char	*message;
	} cases[] = {
		{ "{\"a\":", 0, "invalid JSON header" },
		{ "[]", 0, "not a JSON object" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
		    "\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\","
		    "\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
		    "invalid JSON header" },
		{ "{\"model.layers.0.w\":{\"shape\":[1],"
		    "\"data_offsets\":[0,4]}}", 4,
		    "tensor \"model.layers.0.w\": missing or invalid dtype" },
		{ "{\"model.layers.0.w\":{\"dtype\":\"F32\","
		    "\"data_offsets\":[0,4]}}", 4, "missing or invalid" },
		{ "{\"model.layers.0.w\":{\"dtype\":\"F32\",\"shape\":[1]}}",
		    4, "missing or invalid" },
		{ "{\"model.layers.0.w\":3}", 4, "expected an object" },
		{ "{\"model.layers.0.w\":{\"dtype\":\"F4\",\"shape\":[1],"
		    "\"data_offsets\":[0,1]}}", 1, "unknown dtype \"F4\"" },
		{ "{\"model.layers.0.w\":{\"dtype\":\"F32\",\"shape\":[-1],"
		    "\"data_offsets\":[0,4]}}", 4, "shape entry 0" },
		{ "{\"model.layers.0.w\":{\"dtype\":\"F32\",\"shape\":[2],"
		    "\"data_offsets\":[0,4]}}", 8,
		    "span 4 bytes but dtype and shape give 8" },
		{ "{\"model.layers.0.w\":{\"dtype\":\"F32\",\"shape\":"
		    "[4294967296,4294967296,4294967296],"
		    "\"data_offsets\":[0,4]}}", 8, "dtype and shape give" },
		{ "{\"model.layers.0.w\":{\"dtype\":\"F32\",\"shape\":[1],"
		    "\"data_offsets\":[4,0]}}", 8, "0 <= begin <= end" },
		{ "{\"model.layers.0.w\":{\"dtype\":\"F32\",\"shape\":[1],"
		    "\"data_offsets\":[0]}}", 8, "data_offsets must be" },
		{ "{\"model.layers.0.w\":{\"dtype\":\"F32\",\"shape\":[1],"
		    "\"data_offsets\":[-4,0]}}", 8, "data_offsets must be" },
		{ "{\"model.layers.0.w\":{\"dtype\":\"F32\",\"shape\":[1],"
		    "\"data_offsets\":[4,8]}}", 6, "past the end of the data" },
		{ "{\"model.layers.0.a\":{\"dtype\":\"F32\",\"shape\":[2],"
		    "\"data_offsets\":[0,8]},\"model.layers.0.b\":"
		    "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
		    8, "overlap" },
		{ "{\"model.layers.x.w\":{\"dtype\":\"F32\",\"shape\":[1],"
		    "\"data_offsets\":[0,4]}}", 4,
		    "tensor \"model.layers.x.w\": the layer number" },
		{ "{\"model.layers.1\":{\"dtype\":\"F32\",\"shape\":[1],"
		    "\"data_offsets\":[0,4]}}", 4, "not a decimal number" },
		{ "{\"model.layers.1x.w\":{\"dtype\":\"F32\",\"shape\":[1],"
		    "\"data_offsets\":[0,4]}}", 4, "not a decimal number" },
		{ "{\"model.layers.-1.w\":{\"dtype\":\"F32\",\"shape\":[1],"
		    "\"data_offsets\":[0,4]}}", 4, "not a decimal number" },
	};
	char	 err[PPC_ERRLEN];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (add_header(cases[i].json, cases[i].data_size, err,
		    sizeof(err)) != -1)
			fail_msg("case %zu was accepted", i);
		if (strstr(err, cases[i].message) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
			    cases[i].message);
		assert_non_null(strstr(err, "x.safetensors"));
	}
}

static void
test_st_huge_layer_number_dropped(void **state)
{
	char	 err[PPC_ERRLEN];

	assert_int_equal(add_header("{\"model.layers.99999999999999999999.w\":"
	    "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
	    err, sizeof(err)), 0);
}

static void
test_st_file_errors(void **state)
{
	static const struct st_tensor ok[] = {
		{ "model.embed_tokens.weight", "BF16", 4, 4 },
		{ "model.layers.0.w", "BF16", 4, 4 },
	};
	struct model_sizes	 m;
	char			 err[PPC_ERRLEN], path[512];
	int			 fd;

	/* No files at all. */
	assert_int_equal(model_from_safetensors_dir(&m, tmpdir, 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "no *.safetensors files"));

	/* A file shorter than the 8-byte length. */
	snprintf(path, sizeof(path), "%s/a.safetensors", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	assert_int_equal(model_from_safetensors_dir(&m, tmpdir, 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "a.safetensors: truncated"));

	/* A header length past the end of the file. */
	write_raw("a.safetensors", 1000, "{}", 0);
	assert_int_equal(model_from_safetensors_dir(&m, tmpdir, 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "past the end of the file"));

	/* A header length over the 100 MiB limit. */
	write_raw("a.safetensors", (100ULL << 20) + 1, "{}", 0);
	assert_int_equal(model_from_safetensors_dir(&m, tmpdir, 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "over the limit"));

	/* Data shorter than the offsets: a truncated download. */
	write_raw("a.safetensors", 0, "{\"model.layers.0.w\":{\"dtype\":"
	    "\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
	assert_int_equal(model_from_safetensors_dir(&m, tmpdir, 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "a.safetensors: tensor "
	    "\"model.layers.0.w\""));

	/* A layer with no tensors: a shard is missing. */
	write_st("a.safetensors", ok, 2);
	assert_int_equal(model_from_safetensors_dir(&m, tmpdir, 2, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "no tensors for layer 1"));

	/* No embedding. */
	write_st("a.safetensors", ok + 1, 1);
	assert_int_equal(model_from_safetensors_dir(&m, tmpdir, 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "no model.embed_tokens"));

	/* A folder named like a shard. */
	snprintf(path, sizeof(path), "%s/a.safetensors", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/d.safetensors", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(model_from_safetensors_dir(&m, tmpdir, 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "d.safetensors: not a regular file"));
	rmdir(path);

	/* A missing folder. */
	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	assert_int_equal(model_from_safetensors_dir(&m, path, 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "missing"));
	assert_null(m.layer_bytes);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_llama70b_exact),
		cmocka_unit_test(test_kv_fp8_halves),
		cmocka_unit_test(test_published_totals),
		cmocka_unit_test(test_deepseek_v3_layout),
		cmocka_unit_test(test_qwen2_qkv_bias),
		cmocka_unit_test(test_qwen3_head_dim_norms),
		cmocka_unit_test(test_llama_biases),
		cmocka_unit_test(test_mixtral_experts),
		cmocka_unit_test(test_qwen2_moe_sparse_layers),
		cmocka_unit_test(test_qwen3_moe_layers),
		cmocka_unit_test(test_deepseek_v2_no_q_lora),
		cmocka_unit_test(test_deepseek_v3_q_lora_bias),
		cmocka_unit_test(test_fp8_block_scales),
		cmocka_unit_test(test_hf_config_errors),
		cmocka_unit_test(test_hf_config_layers_only),
		cmocka_unit_test(test_sizes_copy),
		cmocka_unit_test_setup_teardown(test_st_two_shards, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_st_tied_embeddings,
		    setup_dir, teardown_dir),
		cmocka_unit_test(test_st_header_dtypes),
		cmocka_unit_test(test_st_header_errors),
		cmocka_unit_test(test_st_huge_layer_number_dropped),
		cmocka_unit_test_setup_teardown(test_st_file_errors,
		    setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
