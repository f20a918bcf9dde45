/* Unit tests: model loading and parameter counts (model.h).
 *
 * Two kinds of reference:
 *  - the totals that publishers state for the published Hugging Face
 *    configs in tests/data/hf (sources in tests/data/hf/SOURCES.md), and the
 *    exact tensor sums where one is public (Hub safetensors counts); the
 *    exact sums are also derived by hand below, weight matrix by weight
 *    matrix, from the config values;
 *  - small native models in tests/data/model-*.yaml whose counts are
 *    derived by hand term by term and must match exactly.
 *
 * Tolerances: published totals are rounded (46.7B has 3 significant
 * figures, i.e. +-0.1%), and publishers may drop small terms (norms,
 * biases, rotary buffers), so totals are held to 0.5%.  Active counts are
 * held to 0.5% as well, except DeepSeek-V3's "37B" and Qwen3-30B-A3B's
 * "3.3B", which are given to two significant figures and whose exact
 * convention is not published (DeepSeek's README, for instance, separates
 * the 14B MTP module); those are held to 2%, and the exact hand-derived
 * figure is checked as well.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "moeplan/model.h"

#include "check_main.h"

#ifndef TEST_DATA
#error "TEST_DATA must point at tests/data"
#endif

#define ck_assert_rel(X, Y, TOL)                                                                             \
    do {                                                                                                     \
        double x_ = (X), y_ = (Y);                                                                           \
        ck_assert_msg(fabs(x_ - y_) <= (TOL) * fabs(y_), "%s = %.17g, expected %.17g (relative tol %g)", #X, \
                      x_, y_, (double)(TOL));                                                                \
    } while (0)

/* Parameter counts are sums of integer products far below 2^53, so double
 * arithmetic is exact: compare with ==. */
#define ck_assert_count(X, Y) \
    ck_assert_msg((X) == (double)(Y), "%s = %.0f, expected %.0f", #X, (double)(X), (double)(Y))

static void load_ok(mp_model *m, const char *rel)
{
    char path[1024];
    mp_error e;
    memset(&e, 0, sizeof e);
    snprintf(path, sizeof path, "%s/%s", TEST_DATA, rel);
    mp_status st = mp_model_load(m, path, &e);
    ck_assert_msg(st == MP_OK, "%s:%d:%d: %s", e.file, e.line, e.col, e.msg);
}

/* ------------------------------------------- published Hugging Face configs */

typedef struct {
    const char *file;
    double stated_total, total_tol;       /* publisher's figure (SOURCES.md) */
    double stated_active, active_tol;     /* 0 = not checked */
    double exact_total, exact_active;     /* derived by hand below */
} hf_case;

/*
 * Mixtral-8x7B (h=4096, L=32, a=32, kv=8, d=128, f=14336, E=8, k=2,
 * V=32000, untied, RMSNorm):
 *   attention: q 4096*4096 + k,v 2*4096*1024 + o 4096*4096 = 41,943,040;
 *              + input norm 4096 = 41,947,136
 *   expert:    3 * 4096 * 14336 = 176,160,768; 8 of them = 1,409,286,144
 *   router 4096*8 = 32,768; pre-MLP norm 4096
 *   layer:     41,947,136 + 1,409,286,144 + 32,768 + 4,096 = 1,451,270,144
 *   x32 = 46,440,644,608; embedding + head 2*32000*4096 = 262,144,000;
 *   final norm 4096  ->  total 46,702,792,704  (stated 46.7B)
 *   active layer: 41,947,136 + 2*176,160,768 + 32,768 + 4,096 = 394,305,536
 *   x32 = 12,617,777,152 + 262,148,096 = 12,879,925,248  (stated 12.9B)
 *
 * Qwen1.5-MoE-A2.7B (h=2048, L=24, a=kv=16, d=128, E=60, k=4, fe=1408,
 * one shared expert of 5632 with a sigmoid gate, qkv bias, V=151936,
 * untied):
 *   attention: 4*2048^2 = 16,777,216 + qkv bias 3*2048 = 6,144 + norm 2,048
 *              = 16,785,408
 *   expert 3*2048*1408 = 8,650,752; x60 = 519,045,120
 *   shared 3*2048*5632 = 34,603,008 + gate 2048 = 34,605,056
 *   router 2048*60 = 122,880; norm 2048
 *   layer 16,785,408 + 519,045,120 + 34,605,056 + 122,880 + 2,048
 *       = 570,560,512; x24 = 13,693,452,288
 *   embedding + head 2*151936*2048 = 622,329,856; final norm 2048
 *   total 14,315,784,192  (stated 14.3B; Open LLM Leaderboard 14.316)
 *   active layer 16,785,408 + 4*8,650,752 + 34,605,056 + 122,880 + 2,048
 *       = 86,118,400; x24 = 2,066,841,600 + 622,331,904 = 2,689,173,504
 *       (stated 2.7B: 0.4% away)
 *
 * Llama-2-7B (h=4096, L=32, a=kv=32, f=11008, V=32000, untied):
 *   attention 4*4096^2 + 4096 = 67,112,960; MLP 3*4096*11008 + 4096
 *   = 135,270,400; layer 202,383,360; x32 = 6,476,267,520;
 *   + 2*32000*4096 = 262,144,000 + final norm 4096
 *   = 6,738,415,616  (= the Hub's safetensors count, SOURCES.md)
 *
 * DeepSeek-V3 (h=7168, L=61, a=128, q_lora 1536, kv_lora 512, nope 128,
 * rope 64, v 128, f=18432, E=256, k=8, fe=2048, 1 shared, first 3 dense,
 * V=129280, untied; MLA per arXiv:2405.04434 section 2.1.2):
 *   q down 7168*1536 = 11,010,048 + q norm 1536 + q up 1536*128*192
 *   = 37,748,736  -> 48,760,320
 *   kv down (+ rope key) 7168*576 = 4,128,768 + kv norm 512 -> 4,129,280
 *   kv up 512*128*(128+128) = 16,777,216; o 128*128*7168 = 117,440,512
 *   attention 187,107,328 + norm 7168 = 187,114,496
 *   dense MLP 3*7168*18432 + 7168 = 396,368,896
 *   expert 3*7168*2048 = 44,040,192; x256 = 11,274,289,152; shared
 *   44,040,192; router 7168*256 = 1,835,008; norm 7168
 *   dense layer 583,483,392 x3 = 1,750,450,176
 *   MoE layer 187,114,496 + 11,274,289,152 + 44,040,192 + 1,835,008 + 7,168
 *   = 11,507,286,016 x58 = 667,422,588,928
 *   embedding + head 2*129280*7168 = 1,853,358,080; final norm 7168
 *   total 671,026,404,352  (stated 671B, MTP module excluded)
 *   active MoE layer 187,114,496 + 8*44,040,192 + 44,040,192 + 1,835,008
 *   + 7,168 = 585,318,400 x58 = 33,948,467,200; + 1,750,450,176
 *   + 1,853,365,248 = 37,552,282,624  (stated 37B: 1.5% away)
 *
 * DeepSeek-V2-Lite (h=2048, L=27, a=16, q_lora none, kv_lora 512, nope 128,
 * rope 64, v 128, f=10944, E=64, k=6, fe=1408, 2 shared, first 1 dense,
 * V=102400, untied):
 *   q 2048*16*192 = 6,291,456; kv down 2048*576 + 512 = 1,180,160;
 *   kv up 512*16*256 = 2,097,152; o 16*128*2048 = 4,194,304;
 *   attention 13,763,072 + 2048 = 13,765,120
 *   dense layer 13,765,120 + 3*2048*10944 + 2048 = 81,007,104
 *   expert 3*2048*1408 = 8,650,752; MoE layer 13,765,120 + 64*8,650,752
 *   + 2*8,650,752 + 2048*64 + 2048 = 584,847,872; x26 = 15,206,044,672
 *   + 2*102400*2048 = 419,430,400 + 2048 -> total 15,706,484,224
 *   (stated 15.7B.  Its "2.4B active" excludes the embeddings, a
 *   convention moeplan does not follow: not checked.)
 *
 * Qwen3-30B-A3B (h=2048, L=48, a=32, kv=4, d=128, E=128, k=8, fe=768,
 * QK-norm, V=151936, untied):
 *   attention 2048*4096 + 2*2048*512 + 4096*2048 = 18,874,368 + q/k norm
 *   2*128 + norm 2048 = 18,876,672
 *   expert 3*2048*768 = 4,718,592; x128 = 603,979,776; router 262,144;
 *   norm 2048; layer 623,120,640 x48 = 29,909,790,720
 *   + 2*151936*2048 = 622,329,856 + 2048 -> total 30,532,122,624
 *   (stated 30.5B; non-embedding 29,909,792,768, stated 29.9B)
 *   active layer 18,876,672 + 8*4,718,592 + 262,144 + 2,048 = 56,889,600
 *   x48 = 2,730,700,800 + 622,331,904 = 3,353,032,704 (stated 3.3B: 1.6%)
 *
 * GPT-2 small (n_embd 768, n_layer 12, n_head 12, n_positions 1024,
 * vocab 50257, LayerNorm with bias, biases on every linear, tied):
 *   per layer: ln_1 2*768 = 1,536; c_attn 768*2304 + 2304 = 1,771,776;
 *   attn c_proj 768*768 + 768 = 590,592; ln_2 1,536;
 *   c_fc 768*3072 + 3072 = 2,362,368; mlp c_proj 3072*768 + 768 = 2,360,064
 *   layer 7,087,872 x12 = 85,054,464; wte 50257*768 = 38,597,376;
 *   wpe 1024*768 = 786,432; ln_f 1,536  ->  124,439,808
 *
 * Mistral-7B (h=4096, L=32, a=32, kv=8, f=14336, V=32000, untied):
 *   attention 41,943,040 + 4096 = 41,947,136; MLP 3*4096*14336 + 4096
 *   = 176,164,864; layer 218,112,000 x32 = 6,979,584,000 + 262,144,000
 *   + 4096 = 7,241,732,096  (= the Hub's safetensors count, SOURCES.md)
 */
static const hf_case hf_cases[] = {
    {"hf/mixtral-8x7b.json", 46.7e9, 0.005, 12.9e9, 0.005, 46702792704.0, 12879925248.0},
    {"hf/qwen1.5-moe-a2.7b.json", 14.3e9, 0.005, 2.7e9, 0.005, 14315784192.0, 2689173504.0},
    {"hf/llama-2-7b.json", 6.74e9, 0.005, 6.74e9, 0.005, 6738415616.0, 6738415616.0},
    {"hf/deepseek-v3.json", 671e9, 0.005, 37e9, 0.02, 671026404352.0, 37552282624.0},
    {"hf/deepseek-v2-lite.json", 15.7e9, 0.005, 0, 0, 15706484224.0, 0},
    {"hf/qwen3-30b-a3b.json", 30.5e9, 0.005, 3.3e9, 0.02, 30532122624.0, 3353032704.0},
    {"hf/gpt2.json", 124e6, 0.005, 124e6, 0.005, 124439808.0, 124439808.0},
    {"hf/mistral-7b.json", 7.24e9, 0.005, 7.24e9, 0.005, 7241732096.0, 7241732096.0},
};

START_TEST(test_hf_counts)
{
    const hf_case *c = &hf_cases[_i];
    mp_model m;
    mp_params p;
    load_ok(&m, c->file);
    mp_model_params(&m, &p);
    ck_assert_msg(fabs(p.total - c->stated_total) <= c->total_tol * c->stated_total,
                  "%s: total %.0f vs stated %.4g (tol %.1f%%)", c->file, p.total, c->stated_total, 100 * c->total_tol);
    ck_assert_msg(p.total == c->exact_total, "%s: total %.0f, hand-derived %.0f", c->file, p.total, c->exact_total);
    if (c->stated_active > 0) {
        ck_assert_msg(fabs(p.active_per_token - c->stated_active) <= c->active_tol * c->stated_active,
                      "%s: active %.0f vs stated %.4g (tol %.1f%%)", c->file, p.active_per_token, c->stated_active,
                      100 * c->active_tol);
        ck_assert_msg(p.active_per_token == c->exact_active, "%s: active %.0f, hand-derived %.0f", c->file,
                      p.active_per_token, c->exact_active);
    }
}
END_TEST

/* Qwen3-30B-A3B's card also states 29.9B non-embedding parameters:
 * 30,532,122,624 - 2*311,164,928 = 29,909,792,768. */
START_TEST(test_qwen3_non_embedding)
{
    mp_model m;
    mp_params p;
    load_ok(&m, "hf/qwen3-30b-a3b.json");
    mp_model_params(&m, &p);
    double non_emb = p.total - p.embedding - p.lm_head;
    ck_assert_count(non_emb, 29909792768.0);
    ck_assert_rel(non_emb, 29.9e9, 0.005);
    ck_assert(m.qk_norm);
    ck_assert_int_eq(m.num_kv_heads, 4);
    ck_assert_int_eq(m.head_dim, 128); /* explicit head_dim, != 2048/32 = 64 */
}
END_TEST

/* The exact per-block terms behind the Mixtral figure above. */
START_TEST(test_mixtral_blocks)
{
    mp_model m;
    mp_params p;
    load_ok(&m, "hf/mixtral-8x7b.json");
    mp_model_params(&m, &p);
    ck_assert_count(p.attention, 41947136);
    ck_assert_count(p.moe_expert_one, 176160768);
    ck_assert_count(p.moe_experts, 1409286144);
    ck_assert_count(p.moe_router, 32768);
    ck_assert_count(p.moe_norm, 4096);
    ck_assert_count(p.moe_shared, 0);
    ck_assert_count(p.embedding, 131072000);
    ck_assert_count(p.lm_head, 131072000);
    ck_assert_int_eq(p.moe_layers, 32);
    ck_assert_int_eq(p.dense_layers, 0);
}
END_TEST

/* DeepSeek-V3: first_k_dense_replace 3, moe_layer_freq 1 -> layers 0-2
 * dense, 3-60 MoE (58 layers). */
START_TEST(test_deepseek_pattern)
{
    mp_model m;
    mp_params p;
    load_ok(&m, "hf/deepseek-v3.json");
    mp_model_params(&m, &p);
    ck_assert_int_eq(m.attn, MP_ATTN_MLA);
    ck_assert_int_eq(m.num_layers, 61);
    for (int i = 0; i < 61; i++)
        ck_assert_msg(m.is_moe[i] == (i >= 3), "layer %d", i);
    ck_assert_int_eq(p.dense_layers, 3);
    ck_assert_int_eq(p.moe_layers, 58);
    ck_assert_count(p.attention, 187114496);
    /* MLA widths: q and k are heads * (nope + rope) = 128 * 192 = 24,576;
     * v is heads * v_head_dim = 128 * 128 = 16,384. */
    ck_assert_int_eq(mp_model_qk_head_dim(&m), 192);
    ck_assert_int_eq(mp_model_q_width(&m), 24576);
    ck_assert_int_eq(mp_model_k_width(&m), 24576);
    ck_assert_int_eq(mp_model_v_width(&m), 16384);
}
END_TEST

START_TEST(test_gpt2_shape)
{
    mp_model m;
    load_ok(&m, "hf/gpt2.json");
    ck_assert_int_eq(m.norm, MP_NORM_LAYER);
    ck_assert(!m.gated_mlp);
    ck_assert(m.tied_embeddings);          /* transformers default; no key in the file */
    ck_assert_int_eq(m.ffn_hidden, 3072);  /* n_inner absent: 4 * 768 */
    ck_assert_int_eq(m.learned_positions, 1024);
    ck_assert(m.dropout);                  /* resid_pdrop 0.1 */
}
END_TEST

/* ------------------------------------------------------ small native models */

/* model-moe-small.yaml: 6 layers, h=64, 8 heads of 16, 2 KV heads, SwiGLU,
 * dense width 256, 4 experts of 32, top-2, 1 shared expert of 48,
 * first_dense_layers 1, moe_every 2, vocab 1000, tied, RMSNorm.
 *   MoE layers: i >= 1 and (i+1) % 2 == 0 -> i = 1, 3, 5; dense 0, 2, 4
 *   attention: q 64*(8*16) = 8,192; k, v 2 * 64*(2*16) = 4,096;
 *              o (8*16)*64 = 8,192; norm 64  -> 20,544
 *   dense MLP: 3*64*256 = 49,152 + norm 64 -> 49,216
 *   expert:    3*64*32 = 6,144; x4 = 24,576
 *   shared:    3*64*48 = 9,216 (no gate)
 *   router:    64*4 = 256; pre-MLP norm 64
 *   dense layer 20,544 + 49,216 = 69,760; x3 = 209,280
 *   MoE layer   20,544 + 24,576 + 9,216 + 256 + 64 = 54,656; x3 = 163,968
 *   embedding 1000*64 = 64,000; head 0 (tied); final norm 64
 *   total 209,280 + 163,968 + 64,000 + 64 = 437,312
 *   active MoE layer 20,544 + 2*6,144 + 9,216 + 256 + 64 = 42,368; x3
 *   = 127,104; active = 209,280 + 127,104 + 64,064 = 400,448
 */
START_TEST(test_native_moe_small)
{
    mp_model m;
    mp_params p;
    load_ok(&m, "model-moe-small.yaml");
    mp_model_params(&m, &p);
    static const bool pattern[6] = {false, true, false, true, false, true};
    for (int i = 0; i < 6; i++)
        ck_assert_msg(m.is_moe[i] == pattern[i], "layer %d: is_moe %d", i, m.is_moe[i]);
    ck_assert_int_eq(p.dense_layers, 3);
    ck_assert_int_eq(p.moe_layers, 3);
    ck_assert_count(p.attention, 20544);
    ck_assert_count(p.dense_mlp, 49216);
    ck_assert_count(p.moe_expert_one, 6144);
    ck_assert_count(p.moe_experts, 24576);
    ck_assert_count(p.moe_shared, 9216);
    ck_assert_count(p.moe_router, 256);
    ck_assert_count(p.moe_norm, 64);
    ck_assert_count(p.embedding, 64000);
    ck_assert_count(p.lm_head, 0);
    ck_assert_count(p.final_norm, 64);
    ck_assert_count(p.total, 437312);
    ck_assert_count(p.active_per_token, 400448);
    /* Widths per token: q 8*16 = 128, k = v = 2*16 = 32. */
    ck_assert_int_eq(mp_model_q_width(&m), 128);
    ck_assert_int_eq(mp_model_k_width(&m), 32);
    ck_assert_int_eq(mp_model_v_width(&m), 32);
}
END_TEST

/* model-gelu-small.yaml: 2 layers, h=32, 4 heads, GELU width 128, vocab
 * 100, learned positions 16, untied, LayerNorm (2h), all biases.
 *   attention: 4*32*32 = 4,096 + qkv bias 3*32 = 96 + out bias 32 + LN 64
 *              = 4,288
 *   MLP: 2*32*128 = 8,192 + biases 128 + 32 + LN 64 = 8,416
 *   layer 12,704; x2 = 25,408
 *   embedding 100*32 + 16*32 = 3,712; head 100*32 = 3,200; final LN 64
 *   total 25,408 + 3,712 + 3,200 + 64 = 32,384 (dense: active = total)
 */
START_TEST(test_native_gelu_small)
{
    mp_model m;
    mp_params p;
    load_ok(&m, "model-gelu-small.yaml");
    mp_model_params(&m, &p);
    ck_assert(!m.gated_mlp);
    ck_assert_count(p.attention, 4288);
    ck_assert_count(p.dense_mlp, 8416);
    ck_assert_count(p.embedding, 3712);
    ck_assert_count(p.lm_head, 3200);
    ck_assert_count(p.final_norm, 64);
    ck_assert_count(p.total, 32384);
    ck_assert_count(p.active_per_token, 32384);
    ck_assert_int_eq(p.moe_layers, 0);
}
END_TEST

/* model-mla-small.yaml: 2 layers, h=64, 4 heads, MLA q_lora 32, kv_lora 16,
 * nope 8, rope 4, v 8, SwiGLU 128, vocab 50, untied.  Matrices of
 * DeepSeek-V2 section 2.1 (d = 64, n_h = 4, d_c = 16, d_c' = 32):
 *   W^DQ 32*64 = 2,048; q norm 32; W^UQ + W^QR 32 * 4*(8+4) = 1,536
 *   W^DKV 16*64 = 1,024; W^KR 4*64 = 256; kv norm 16
 *   W^UK 4*8*16 = 512; W^UV 4*8*16 = 512; W^O 64 * 4*8 = 2,048
 *   sum 7,984 + input norm 64 = 8,048
 *   MLP 3*64*128 + 64 = 24,640; layer 32,688; x2 = 65,376
 *   embedding 50*64 = 3,200; head 3,200; final norm 64 -> 71,840
 */
START_TEST(test_native_mla_small)
{
    mp_model m;
    mp_params p;
    load_ok(&m, "model-mla-small.yaml");
    mp_model_params(&m, &p);
    ck_assert_int_eq(m.attn, MP_ATTN_MLA);
    ck_assert_count(p.attention, 8048);
    ck_assert_count(p.dense_mlp, 24640);
    ck_assert_count(p.total, 71840);
    ck_assert_int_eq(mp_model_qk_head_dim(&m), 12);
    ck_assert_int_eq(mp_model_q_width(&m), 48);  /* 4 * (8 + 4) */
    ck_assert_int_eq(mp_model_k_width(&m), 48);
    ck_assert_int_eq(mp_model_v_width(&m), 32);  /* 4 * 8 */
}
END_TEST

/* ----------------------------------------------------------- loader errors */

typedef struct {
    const char *file;
    int line, col;
    const char *msg;
    const char *why;
} err_case;

static const err_case err_cases[] = {
    {"bad/hf-hidden-string.json", 5, 18, "'hidden_size' must be a whole number, got '4096'",
     "line 5 '  \"hidden_size\": \"4096\",': 2 blanks + 13-char key + ': ' = 17, the quote at 18"},
    {"bad/hf-topk.json", 9, 26, "'num_experts_per_tok' is 9; expected a whole number from 1 to 8",
     "line 9: 2 blanks + 21-char key + ': ' = 25, the value at 26"},
    {"bad/model-typo.yaml", 10, 1, "unknown key 'expert_hiden' in a model file (did you mean 'expert_hidden'?)",
     "the key starts line 10"},
    {"bad/model-mla-typo.yaml", 9, 3, "unknown key 'kv_lora_rnk' in 'mla' (did you mean 'kv_lora_rank'?)",
     "indented 2 on line 9"},
    {"bad/model-topk.yaml", 9, 8, "'top_k' is 8; expected a whole number from 1 to 4",
     "'top_k: ' is 7 chars on line 9"},
    {"bad/model-heads.yaml", 4, 8, "'heads' (3) does not divide 'hidden' (64); give 'head_dim' explicitly",
     "'heads: ' is 7 chars on line 4"},
    {"bad/model-moe-keys.yaml", 7, 8, "'top_k' is given but 'experts' is 0 or absent", "'top_k: ' on line 7"},
};

START_TEST(test_load_errors)
{
    const err_case *c = &err_cases[_i];
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", TEST_DATA, c->file);
    mp_model m;
    mp_error e;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(mp_model_load(&m, path, &e), MP_ERR_INPUT);
    ck_assert_str_eq(e.file, path);
    ck_assert_msg(e.line == c->line && e.col == c->col, "%s: error at %d:%d, expected %d:%d (%s); msg: %s", c->file,
                  e.line, e.col, c->line, c->col, c->why, e.msg);
    ck_assert_msg(strcmp(e.msg, c->msg) == 0, "%s: message '%s', expected '%s'", c->file, e.msg, c->msg);
}
END_TEST

START_TEST(test_load_missing_file)
{
    mp_model m;
    mp_error e;
    ck_assert_int_eq(mp_model_load(&m, TEST_DATA "/no-such-model.yaml", &e), MP_ERR_IO);
    ck_assert_str_eq(e.file, TEST_DATA "/no-such-model.yaml");
}
END_TEST

/* mp_model_validate on structures built in memory. */
START_TEST(test_validate)
{
    mp_model m;
    mp_error e;
    memset(&m, 0, sizeof m);
    snprintf(m.source, sizeof m.source, "mem.yaml");
    m.num_layers = 2;
    m.hidden = 64;
    m.num_heads = 4;
    m.num_kv_heads = 4;
    m.head_dim = 16;
    m.num_experts = 2;
    m.top_k = 3;
    m.expert_hidden = 32;
    m.is_moe[0] = m.is_moe[1] = true;
    ck_assert_int_eq(mp_model_validate(&m, &e), MP_ERR_INPUT);
    ck_assert_str_eq(e.file, "mem.yaml");
    ck_assert_str_eq(e.msg, "top_k (3) is larger than the number of experts (2)");
    m.top_k = 2;
    ck_assert_int_eq(mp_model_validate(&m, &e), MP_OK);
    /* 4 heads cannot share 3 KV heads evenly. */
    m.num_kv_heads = 3;
    ck_assert_int_eq(mp_model_validate(&m, &e), MP_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(e.msg, "multiple of kv_heads"));
    m.num_kv_heads = 2;
    /* A dense layer needs a dense width. */
    m.is_moe[1] = false;
    ck_assert_int_eq(mp_model_validate(&m, &e), MP_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(e.msg, "no dense MLP width"));
    m.ffn_hidden = 128;
    ck_assert_int_eq(mp_model_validate(&m, &e), MP_OK);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *th = tcase_create("hf");
    tcase_add_loop_test(th, test_hf_counts, 0, (int)(sizeof hf_cases / sizeof hf_cases[0]));
    tcase_add_test(th, test_qwen3_non_embedding);
    tcase_add_test(th, test_mixtral_blocks);
    tcase_add_test(th, test_deepseek_pattern);
    tcase_add_test(th, test_gpt2_shape);
    suite_add_tcase(s, th);
    TCase *tn = tcase_create("native");
    tcase_add_test(tn, test_native_moe_small);
    tcase_add_test(tn, test_native_gelu_small);
    tcase_add_test(tn, test_native_mla_small);
    suite_add_tcase(s, tn);
    TCase *te = tcase_create("errors");
    tcase_add_loop_test(te, test_load_errors, 0, (int)(sizeof err_cases / sizeof err_cases[0]));
    tcase_add_test(te, test_load_missing_file);
    tcase_add_test(te, test_validate);
    suite_add_tcase(s, te);
    return s;
}

MP_CHECK_MAIN(model_suite)
