/* moeplan: the model description.
 *
 * One struct covers dense and MoE decoders: GPT-2, Llama/Mistral (GQA,
 * SwiGLU), Mixtral, Qwen-MoE (shared experts, sparse step), DeepSeek-V2/V3
 * (MLA, first dense layers), OLMoE, Phi-3.5-MoE, DBRX, gpt-oss, Grok-1,
 * Llama 4, GLM-4.5, Kimi-K2.  Which layers are MoE is stored per layer, so a
 * pipeline stage's cost depends on the layers it really holds.
 *
 * Parameter counts (mp_model_params) are exact sums of the weight shapes; see
 * the comments in model.c for each term.
 */
#ifndef MOEPLAN_MODEL_H
#define MOEPLAN_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "moeplan/error.h"

#define MP_MAX_LAYERS 1024

typedef enum { MP_NORM_RMS, MP_NORM_LAYER } mp_norm;
typedef enum { MP_ATTN_GQA, MP_ATTN_MLA } mp_attn_kind; /* GQA covers MHA (kv_heads == heads) and MQA */
/* Local attention on some layers: a sliding window of the last W keys
 * (Mistral, gpt-oss's alternating layers) or causal attention inside
 * consecutive chunks of W tokens (Llama 4's chunked layers). */
typedef enum { MP_WINDOW_NONE, MP_WINDOW_SLIDING, MP_WINDOW_CHUNKED } mp_window_kind;
/* The MLP's activation.  UNSTATED (0, a model built in memory): SwiGLU when
 * gated_mlp, else GELU (mp_model_activation).  OTHER: a gated MLP with an
 * activation moeplan prices like SwiGLU's but no framework flag names. */
typedef enum { MP_ACT_UNSTATED, MP_ACT_GELU, MP_ACT_SWIGLU, MP_ACT_RELU, MP_ACT_GEGLU, MP_ACT_OTHER } mp_ffn_act;

typedef struct {
    char name[128];
    char source[512];           /* file it came from */
    int num_layers;
    int64_t hidden;
    int64_t num_heads, num_kv_heads, head_dim;
    mp_attn_kind attn;
    /* MLA (DeepSeek-V2/V3): q_lora_rank 0 means Q is projected directly. */
    int64_t q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    bool qkv_bias, out_bias, mlp_bias;
    bool qk_norm;               /* Qwen3: RMSNorm on each Q and K head (2 * head_dim params) */
    bool qk_norm_full;          /* with qk_norm: OLMoE's norm over the whole q and k width
                                 * (heads * head_dim + kv_heads * head_dim params) */
    mp_norm norm;
    bool norm_no_bias;          /* DBRX: LayerNorm without a bias (h params, not 2h) */
    bool post_norms;            /* Grok-1: extra norms after attention and after the MLP */
    bool lm_head_bias;          /* Phi-3.5-MoE: the output projection has a bias (vocab params) */
    bool gated_mlp;             /* SwiGLU/GeGLU: 3 matrices; GELU MLP: 2 */
    mp_ffn_act ffn_act;         /* which activation (the cost is the same; emit needs it) */
    int64_t ffn_hidden;         /* dense layers' MLP width */
    int64_t num_experts, top_k, expert_hidden;
    int64_t num_shared_experts, shared_expert_hidden; /* width of one shared expert */
    bool shared_expert_gate;    /* Qwen-MoE: sigmoid gate Linear(h, 1) on the shared expert */
    int64_t vocab;
    bool tied_embeddings;
    int64_t learned_positions;  /* rows of a learned position table (GPT-2); 0 = RoPE/none */
    bool no_positions;          /* position_embedding: none (NoPE), not RoPE */
    bool dropout;               /* dropout layers present (they store 1-byte masks) */
    bool is_moe[MP_MAX_LAYERS]; /* layer i uses experts */
    /* Local attention: layer i attends within `window` tokens when
     * attn_local[i] (kind window_kind); the other layers attend to the whole
     * causal prefix.  window_kind NONE means no layer is local. */
    mp_window_kind window_kind;
    int64_t window;
    bool attn_local[MP_MAX_LAYERS];
    bool attn_sinks;            /* gpt-oss: one learned sink logit per head and layer */
    bool router_bias;           /* gpt-oss: the router Linear(h, E) has a bias */
    /* The router as a Hugging Face config states it, for --emit only (the
     * cost model prices every router alike); each is unset unless its key
     * was in the config (model_hf_router.c). */
    bool router_aux_given;      /* router_aux_loss_coef (or DeepSeek's aux_loss_alpha) given */
    double router_aux_coef;     /* the load-balancing loss coefficient */
    bool router_seq_aux;        /* DeepSeek seq_aux: the loss per sequence */
    bool router_pre_softmax;    /* norm_topk_prob false: top-k of all experts' softmax, not renormalised */
    bool router_sigmoid;        /* sigmoid scores (DeepSeek-V3 scoring_func, GLM-4.5) */
    bool router_expert_bias;    /* aux-loss-free balancing bias (DeepSeek-V3 noaux_tc, GLM-4.5) */
    int64_t router_groups, router_group_topk; /* group-limited routing (n_group, topk_group); 0: none */
    double router_topk_scale;   /* routed_scaling_factor; 0: not given */
    double rope_theta;          /* the RoPE base (rope_theta); 0: not given */
    /* Notes on choices made where the source was silent (defaults of the
     * Hugging Face config class, families' conventions), printed by explain. */
    char notes[16][160];
    int num_notes;
} mp_model;

/* Parameter counts, in parameters (not bytes). */
typedef struct {
    double attention;           /* one layer's attention block incl. its norm(s) and
                                 * attention sinks (one logit per head) */
    double dense_mlp;           /* one dense layer's MLP incl. its norm */
    double moe_experts;         /* one MoE layer's routed experts (all of them) */
    double moe_expert_one;      /* one routed expert */
    double moe_shared;          /* one MoE layer's shared experts (+ gate) */
    double moe_router;          /* one MoE layer's router, incl. its bias (router_bias) */
    double moe_norm;            /* the pre-MLP norm of a MoE layer */
    double block_norm;          /* the norm(s) before (and after) one block, attention or MLP */
    double embedding;           /* token embedding (+ learned positions) */
    double lm_head;             /* output projection (+ its bias); 0 when tied */
    double final_norm;
    double total;
    double active_per_token;    /* with top_k routed + shared experts */
    int dense_layers, moe_layers;
} mp_params;

void mp_model_params(const mp_model *m, mp_params *p);

/* The load-balancing loss coefficient trained with: the model's
 * (router_aux_loss_coef, DeepSeek's aux_loss_alpha) when its config gives
 * one, else 1e-2, Megatron-LM's suggested start (*from_model false;
 * from_model may be NULL).  0: no balancing loss (none emitted, none
 * priced). */
double mp_model_aux_loss_coeff(const mp_model *m, bool *from_model);

/* Per-token width of Q, K, V outputs (elements) for the attention kind. */
int64_t mp_model_q_width(const mp_model *m);
int64_t mp_model_k_width(const mp_model *m);
int64_t mp_model_v_width(const mp_model *m);
int64_t mp_model_qk_head_dim(const mp_model *m);
/* The MLP's activation, UNSTATED resolved (SwiGLU when gated, else GELU). */
mp_ffn_act mp_model_activation(const mp_model *m);

/* Load a native YAML model or a Hugging Face config.json (chosen by content:
 * a file with `model_type` or `architectures` is read as a HF config).  A HF
 * config whose model_type is absent, null, empty or not one moeplan reads is
 * refused (MP_ERR_INPUT, with the supported types). */
mp_status mp_model_load(mp_model *m, const char *path, mp_error *err);

/* Checks common to every loader: positive sizes, heads * head_dim sane, top_k
 * <= experts, etc.  Fills err naming `path`. */
mp_status mp_model_validate(const mp_model *m, mp_error *err);

#endif
