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
 * figure is checked as well.  Families added for issue 6: totals within
 * 1% (0.5% where the figure has three or more significant digits), except
 * Kimi-K2's 1.04T, 1.3% above the count of its published config, held to
 * 1.5% and flagged in SOURCES.md; active counts within the rounding of the
 * stated figure (1.3B, 36B, 17B: +-4%, +-1.4%, +-3%, held tighter).
 * gpt-oss, GLM-4.5 and Grok-1 state active counts under other conventions,
 * checked in their own tests below.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moeplan/model.h"

#include "check_main.h"

#ifndef TEST_DATA
#error "TEST_DATA must point at tests/data"
#endif

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
 *
 * OLMoE-1B-7B-0924 (h=2048, L=16, a=kv=16, d=128, E=64, k=8, fe=1024,
 * V=50304, untied; q_norm RMSNorm(2048) and k_norm RMSNorm(2048) over the
 * whole q/k width, modeling_olmoe.py):
 *   attention 4*2048^2 = 16,777,216 + q/k norm 2*2048 + input norm 2048
 *   = 16,783,360; expert 3*2048*1024 = 6,291,456, x64 = 402,653,184;
 *   router 2048*64 = 131,072; norm 2048
 *   layer 419,569,664 x16 = 6,713,114,624 + 2*50304*2048 = 206,045,184
 *   + 2048 -> total 6,919,161,856  (stated 6.9B)
 *   active layer 16,783,360 + 8*6,291,456 + 131,072 + 2048 = 67,248,128
 *   x16 = 1,075,970,048 + 206,047,232 = 1,282,017,280  (stated 1.3B: 1.4%)
 *
 * Phi-3.5-MoE (h=4096, L=32, a=32, kv=8, d=128, E=16, k=2, fe=6400,
 * V=32064, untied, LayerNorm with bias, bias on q/k/v/o, lm_head bias):
 *   attention 2*4096^2 + 2*4096*1024 = 41,943,040 + biases 4096 + 2*1024
 *   + 4096 = 10,240 + LN 8192 = 41,961,472
 *   expert 3*4096*6400 = 78,643,200, x16 = 1,258,291,200; router 65,536;
 *   LN 8192; layer 1,300,326,400 x32 = 41,610,444,800
 *   embedding 32064*4096 = 131,334,144; head 131,334,144 + bias 32,064;
 *   final LN 8192 -> total 41,873,153,344  (stated 41.9B)
 *   active layer 41,961,472 + 2*78,643,200 + 65,536 + 8192 = 199,321,600
 *   x32 = 6,378,291,200 + 262,708,544 = 6,640,999,744  (stated 6.6B)
 *
 * DBRX (d=6144, L=40, a=48, kv=8, d_h=128, E=16, k=4, fe=10752, V=100352,
 * untied, LayerNorm without bias, no linear biases):
 *   attention 2*6144^2 + 2*6144*1024 = 88,080,384 + norm_1 6144
 *   = 88,086,528; expert 3*6144*10752 = 198,180,864, x16 = 3,170,893,824;
 *   router 6144*16 = 98,304; norm_2 6144
 *   layer 3,259,084,800 x40 = 130,363,392,000 + 2*100352*6144
 *   = 1,233,125,376 + norm_f 6144 -> total 131,596,523,520  (stated 132B)
 *   active layer 88,086,528 + 4*198,180,864 + 98,304 + 6144 = 880,914,432
 *   x40 = 35,236,577,280 + 1,233,131,520 = 36,469,708,800  (stated 36B)
 *
 * gpt-oss-120b (h=2880, L=36, a=64, kv=8, d=64, E=128, k=4, fe=2880,
 * V=201088, untied, RMSNorm; biases on q/k/v/o, experts and router; one
 * sink per head):
 *   attention q 2880*4096 = 11,796,480 + 4096; k, v 2*(2880*512 + 512)
 *   = 2,950,144; o 4096*2880 + 2880 = 11,799,360; sinks 64; norm 2880
 *   = 26,553,024
 *   expert gate_up 2880*5760 + 5760, down 2880*2880 + 2880 = 24,891,840,
 *   x128 = 3,186,155,520; router 2880*128 + 128 = 368,768; norm 2880
 *   layer 3,213,080,192 x36 = 115,670,886,912 + 2*201088*2880
 *   = 1,158,266,880 + 2880 -> total 116,829,156,672  (Table 1: 116.83B)
 *   active layer 26,553,024 + 4*24,891,840 + 368,768 + 2880 = 126,492,032
 *   x36 = 4,553,713,152 + 1,158,269,760 = 5,711,982,912
 *   (Table 1's 5.13B leaves out the input embedding: see below)
 *
 * Grok-1 (h=6144, L=64, a=48, kv=8, d=128, E=8, k=2, fe=32768, V=131072,
 * tied, RMSNorm before and after attention and the MoE block):
 *   attention 88,080,384 + 2 norms 12,288 = 88,092,672
 *   expert 3*6144*32768 = 603,979,776, x8 = 4,831,838,208; router 49,152;
 *   2 norms 12,288; layer 4,919,992,320 x64 = 314,879,508,480
 *   + embedding 131072*6144 = 805,306,368 + 6144 -> 315,684,820,992
 *   (stated 314B: 0.5%)
 *   active layer 88,092,672 + 2*603,979,776 + 49,152 + 12,288
 *   = 1,296,113,664 x64 = 82,951,274,496 + 805,312,512 = 83,756,587,008
 *   (26.5% of the total; stated "25% of the weights active")
 *
 * Llama 4 Maverick, text model (h=5120, L=48, a=40, kv=8, d=128, E=128,
 * k=1, fe=8192, one shared expert of 8192, dense layers of 16384, MoE on
 * odd layers (interleave step 2), V=202048, untied, weightless L2 qk norm):
 *   attention 2*5120^2 + 2*5120*1024 = 62,914,560 + norm 5120 = 62,919,680
 *   expert 3*5120*8192 = 125,829,120; x128 = 16,106,127,360; shared
 *   125,829,120; router 5120*128 = 655,360; norm 5120
 *   MoE layer 16,295,536,640 x24 = 391,092,879,360
 *   dense layer 62,919,680 + 3*5120*16384 + 5120 = 314,583,040 x24
 *   = 7,549,992,960; + 2*202048*5120 = 2,068,971,520 + 5120
 *   -> total 400,711,848,960  (stated 400B; the vision encoder is not
 *   counted, SOURCES.md)
 *   active MoE layer 62,919,680 + 2*125,829,120 + 655,360 + 5120
 *   = 315,238,400 x24 = 7,565,721,600 + 7,549,992,960 + 2,068,976,640
 *   = 17,184,691,200  (stated 17B)
 *
 * GLM-4.5 (h=5120, L=92, a=96, kv=8, d=128, first 3 dense of 12288,
 * E=160, k=8, fe=1536, 1 shared, bias on q/k/v, qk norm of head_dim,
 * V=151552, untied):
 *   attention 5120*12288 + 2*5120*1024 + 12288*5120 = 136,314,880 + bias
 *   12288 + 2048 + q/k norm 256 + norm 5120 = 136,334,592
 *   dense layer + 3*5120*12288 + 5120 = 325,083,392 x3 = 975,250,176
 *   expert 3*5120*1536 = 23,592,960; x160 = 3,774,873,600; shared
 *   23,592,960; router 819,200; norm 5120 -> MoE layer 3,935,625,472
 *   x89 = 350,270,667,008; + 2*151552*5120 = 1,551,892,480 + 5120
 *   -> total 352,797,814,784  (stated 355B with its MTP layer: 0.6%)
 *   active MoE layer 136,334,592 + 9*23,592,960 + 819,200 + 5120
 *   = 349,495,552 x89 = 31,105,104,128 + 975,250,176 + 1,551,897,600
 *   = 33,632,251,904 (the stated 32B fits without embeddings: below)
 *
 * Kimi-K2 (DeepSeek-V3 shapes with a=64, E=384, first 1 dense, V=163840):
 *   q 11,010,048 + 1536 + 1536*64*192 = 18,874,368; kv down 4,128,768
 *   + 512; kv up 512*64*256 = 8,388,608; o 64*128*7168 = 58,720,256
 *   attention 101,124,096 + norm 7168 = 101,131,264
 *   dense layer 101,131,264 + 396,368,896 = 497,500,160
 *   MoE layer 101,131,264 + 384*44,040,192 + 44,040,192 + 7168*384
 *   + 7168 = 17,059,364,864 x60 = 1,023,561,891,840
 *   + 2*163840*7168 = 2,348,810,240 + 7168 -> total 1,026,408,209,408
 *   (stated 1.04T: 1.3% short; the gap is not explained by the published
 *   config, see SOURCES.md)
 *   active MoE layer 101,131,264 + 9*44,040,192 + 2,752,512 + 7168
 *   = 500,252,672 x60 = 30,015,160,320 + 497,500,160 + 2,348,817,408
 *   = 32,861,477,888  (stated 32.6B: 0.8%)
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
    {"hf/olmoe-1b-7b-0924.json", 6.9e9, 0.005, 1.3e9, 0.02, 6919161856.0, 1282017280.0},
    {"hf/phi-3.5-moe.json", 41.9e9, 0.005, 6.6e9, 0.01, 41873153344.0, 6640999744.0},
    {"hf/dbrx-base.json", 132e9, 0.005, 36e9, 0.015, 131596523520.0, 36469708800.0},
    {"hf/gpt-oss-120b.json", 116.83e9, 0.0005, 0, 0, 116829156672.0, 0},
    {"hf/grok-1.json", 314e9, 0.01, 0, 0, 315684820992.0, 0},
    {"hf/llama-4-maverick.json", 400e9, 0.005, 17e9, 0.015, 400711848960.0, 17184691200.0},
    {"hf/glm-4.5.json", 355e9, 0.01, 0, 0, 352797814784.0, 0},
    {"hf/kimi-k2.json", 1.04e12, 0.015, 32.6e9, 0.01, 1026408209408.0, 32861477888.0},
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

/* gpt-oss model card (arXiv:2508.10925) Table 1: 116.83B total, 5.13B
 * active per forward pass for 120b, counting the unembedding but not the
 * embedding (a table lookup, not a matmul): 5,711,982,912 - 579,133,440
 * = 5,132,849,472.  Window and sinks: layer_types alternate sliding (even
 * layers) and full, sliding_window 128; 64 sinks per layer. */
START_TEST(test_gpt_oss)
{
    mp_model m;
    mp_params p;
    load_ok(&m, "hf/gpt-oss-120b.json");
    mp_model_params(&m, &p);
    double active_no_emb = p.active_per_token - p.embedding;
    ck_assert_count(active_no_emb, 5132849472.0);
    ck_assert_rel(active_no_emb, 5.13e9, 0.001);
    ck_assert(m.attn_sinks && m.router_bias && m.mlp_bias && m.qkv_bias && m.out_bias);
    ck_assert_count(p.moe_router, 2880.0 * 128 + 128);
    ck_assert_int_eq(m.window_kind, MP_WINDOW_SLIDING);
    ck_assert_int_eq(m.window, 128);
    for (int i = 0; i < 36; i++)
        ck_assert_msg(m.attn_local[i] == (i % 2 == 0), "layer %d", i);
    ck_assert_int_eq(m.top_k, 4);
    ck_assert_int_eq(m.head_dim, 64);
}
END_TEST

/* GLM-4.5 (zai-org model card, arXiv:2508.06471 Table 1): 32B activated.
 * Without the embedding and output layers: 33,632,251,904 - 2*775,946,240
 * = 32,080,359,424 (0.25% from 32B); with them it is 5% more, so the
 * stated figure leaves them out.  3 dense layers, then 89 MoE. */
START_TEST(test_glm45)
{
    mp_model m;
    mp_params p;
    load_ok(&m, "hf/glm-4.5.json");
    mp_model_params(&m, &p);
    double active_non_emb = p.active_per_token - p.embedding - p.lm_head;
    ck_assert_count(active_non_emb, 32080359424.0);
    ck_assert_rel(active_non_emb, 32e9, 0.01);
    ck_assert_int_eq(p.dense_layers, 3);
    ck_assert_int_eq(p.moe_layers, 89);
    ck_assert(m.qk_norm && !m.qk_norm_full && m.qkv_bias && !m.out_bias);
    ck_assert_int_eq(m.num_shared_experts, 1);
}
END_TEST

/* Grok-1 (xAI, "Open Release of Grok-1", 2024-03-17): "314B parameter
 * Mixture-of-Experts model with 25% of the weights active on a given
 * token".  83,756,587,008 / 315,684,820,992 = 26.5%: within 2 points of
 * the rounded 25% (2 of 8 experts; attention and embedding add the rest). */
START_TEST(test_grok1)
{
    mp_model m;
    mp_params p;
    load_ok(&m, "hf/grok-1.json");
    mp_model_params(&m, &p);
    ck_assert_count(p.active_per_token, 83756587008.0);
    double frac = p.active_per_token / p.total;
    ck_assert_msg(fabs(frac - 0.25) <= 0.02, "active fraction %.4f", frac);
    ck_assert(m.post_norms && m.tied_embeddings);
    ck_assert_count(p.attention, 88092672);
}
END_TEST

/* Llama 4 Maverick: MoE on layers 1, 3, ..., 47 (moe_layers =
 * range(step - 1, 48, step), step 2); no_rope_layers empty -> interval 4:
 * layers 3, 7, ..., 47 are NoPE with full attention, the other 36 chunked
 * (8192).  The vision encoder is not counted: the note says so. */
START_TEST(test_llama4)
{
    mp_model m;
    mp_params p;
    load_ok(&m, "hf/llama-4-maverick.json");
    mp_model_params(&m, &p);
    int chunked = 0;
    for (int i = 0; i < 48; i++) {
        ck_assert_msg(m.is_moe[i] == (i % 2 == 1), "layer %d moe", i);
        ck_assert_msg(m.attn_local[i] == ((i + 1) % 4 != 0), "layer %d local", i);
        chunked += m.attn_local[i];
    }
    ck_assert_int_eq(chunked, 36);
    ck_assert_int_eq(m.window_kind, MP_WINDOW_CHUNKED);
    ck_assert_int_eq(m.window, 8192);
    ck_assert_int_eq(m.ffn_hidden, 16384);
    ck_assert_int_eq(m.num_shared_experts, 1);
    ck_assert_count(p.moe_shared, 125829120);
    bool noted = false;
    for (int i = 0; i < m.num_notes; i++)
        noted |= strstr(m.notes[i], "vision encoder is not counted") != NULL;
    ck_assert(noted);
}
END_TEST

/* Sliding windows as the HF modeling files apply them: Mistral-7B-v0.1
 * 4096 on every layer; Phi-3.5-MoE 131072 on every layer; Qwen3-30B-A3B
 * has sliding_window but use_sliding_window false: none.  OLMoE's q/k norm
 * is over the whole width (2048 + 2048), DBRX's LayerNorm has no bias. */
START_TEST(test_windows_and_norms)
{
    mp_model m;
    load_ok(&m, "hf/mistral-7b.json");
    ck_assert_int_eq(m.window_kind, MP_WINDOW_SLIDING);
    ck_assert_int_eq(m.window, 4096);
    for (int i = 0; i < 32; i++)
        ck_assert(m.attn_local[i]);
    load_ok(&m, "hf/phi-3.5-moe.json");
    ck_assert_int_eq(m.window_kind, MP_WINDOW_SLIDING);
    ck_assert_int_eq(m.window, 131072);
    ck_assert(m.lm_head_bias && m.norm == MP_NORM_LAYER && !m.norm_no_bias);
    load_ok(&m, "hf/qwen3-30b-a3b.json");
    ck_assert_int_eq(m.window_kind, MP_WINDOW_NONE);
    load_ok(&m, "hf/mixtral-8x7b.json");
    ck_assert_int_eq(m.window_kind, MP_WINDOW_NONE); /* sliding_window null */
    load_ok(&m, "hf/olmoe-1b-7b-0924.json");
    ck_assert(m.qk_norm && m.qk_norm_full);
    load_ok(&m, "hf/dbrx-base.json");
    ck_assert(m.norm == MP_NORM_LAYER && m.norm_no_bias);
    ck_assert_int_eq(m.num_kv_heads, 8); /* attn_config.kv_n_heads */
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
    /* The router as config.json states it (aux_loss_alpha 0.001, seq_aux
     * true, scoring_func sigmoid, topk_method noaux_tc, n_group 8,
     * topk_group 4, routed_scaling_factor 2.5, rope_theta 10000). */
    ck_assert(m.router_aux_given);
    ck_assert(m.router_aux_coef == 0.001);
    ck_assert(m.router_seq_aux && m.router_sigmoid && m.router_expert_bias && !m.router_pre_softmax);
    ck_assert_int_eq(m.router_groups, 8);
    ck_assert_int_eq(m.router_group_topk, 4);
    ck_assert(m.router_topk_scale == 2.5);
    ck_assert(m.rope_theta == 10000);
}
END_TEST

/* A router key moeplan reads is checked like any other: a scoring
 * function it does not know is refused at its value. */
START_TEST(test_router_bad_scoring)
{
    mp_model m;
    mp_error e;
    char path[] = "/tmp/moeplan-router-XXXXXX.json";
    int fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    const char *text = "{\"model_type\": \"deepseek_v3\", \"hidden_size\": 64, \"num_hidden_layers\": 2,\n"
                       " \"num_attention_heads\": 4, \"intermediate_size\": 128, \"vocab_size\": 100,\n"
                       " \"n_routed_experts\": 4, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 32,\n"
                       " \"scoring_func\": \"tanh\"}\n";
    ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    mp_status st = mp_model_load(&m, path, &e);
    unlink(path);
    ck_assert_int_eq(st, MP_ERR_INPUT);
    ck_assert_int_eq(e.line, 4);
    ck_assert_msg(strstr(e.msg, "scoring_func") && strstr(e.msg, "sigmoid"), "%s", e.msg);
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

/* model-local-small.yaml: 4 layers, h=32, 4 heads of 8, 2 KV heads,
 * SwiGLU, 4 experts of 16, top-2, vocab 100, untied, LayerNorm without
 * bias (h each), biases on q/k/v/o and the MLP, qk norm over the full
 * width, one sink per head, router bias, lm_head bias, norms after
 * attention and the MLP too, sliding window 64 on layers 0 and 2.
 *   attention: q 32*32 + k, v 2*32*16 + o 32*32 = 3,072; qkv bias 32 + 16
 *              + 16 = 64; o bias 32; q/k norm 32 + 16 = 48; sinks 4;
 *              2 norms 64  -> 3,284
 *   expert:    3*32*16 = 1,536 + biases 16 + 16 + 32 = 1,600; x4 = 6,400
 *   router:    32*4 + bias 4 = 132; 2 MLP norms 64
 *   layer 3,284 + 6,400 + 132 + 64 = 9,880; x4 = 39,520
 *   embedding 3,200; head 3,200 + bias 100 = 3,300; final norm 32
 *   total 46,052; active layer 3,284 + 2*1,600 + 132 + 64 = 6,680, x4
 *   = 26,720 + 6,532 = 33,252
 */
START_TEST(test_native_local_small)
{
    mp_model m;
    mp_params p;
    load_ok(&m, "model-local-small.yaml");
    mp_model_params(&m, &p);
    ck_assert_count(p.attention, 3284);
    ck_assert_count(p.moe_expert_one, 1600);
    ck_assert_count(p.moe_router, 132);
    ck_assert_count(p.moe_norm, 64);
    ck_assert_count(p.lm_head, 3300);
    ck_assert_count(p.final_norm, 32);
    ck_assert_count(p.total, 46052);
    ck_assert_count(p.active_per_token, 33252);
    ck_assert_int_eq(m.window_kind, MP_WINDOW_SLIDING);
    ck_assert_int_eq(m.window, 64);
    static const bool local[4] = {true, false, true, false};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(m.attn_local[i] == local[i], "layer %d", i);
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
    {"bad/hf-hidden-string.json", 5, 18,
     "'hidden_size' must be a whole number, got '4096' in quotes: a string, not a number (remove the quotes)",
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

/* Hugging Face configs written here to a temporary file. */
static mp_status load_text(mp_model *m, const char *text, mp_error *e, char *path, size_t len)
{
    snprintf(path, len, "/tmp/moeplan-test-model-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    memset(e, 0, sizeof *e);
    mp_status st = mp_model_load(m, path, e);
    remove(path);
    return st;
}

typedef struct {
    const char *text;
    int line, col;
    const char *needle; /* must appear in the message */
} hf_refusal;

/* Unknown, absent, null or empty model_type, and a head size that does not
 * come out whole, are refused at the value (or 1:1 when the key is absent);
 * so are malformed native window keys.  Columns: count from 1, e.g.
 * `  "model_type": "mixtrall"`: 2 blanks + 12-char key + ': ' = 16, the
 * value's quote at 17; `window: {kind: slidng` puts the value at 16. */
static const hf_refusal hf_refusals[] = {
    {"{\n  \"model_type\": \"mixtrall\",\n  \"hidden_size\": 8\n}\n", 2, 17,
     "unknown model_type 'mixtrall' (did you mean 'mixtral'?); moeplan reads: gpt2, llama,"},
    {"{\n  \"model_type\": \"falcon\"\n}\n", 2, 17, "unknown model_type 'falcon'; moeplan reads: "},
    {"{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"hidden_size\": 8\n}\n", 1, 1,
     "no 'model_type': moeplan reads only the model types it knows (gpt2,"},
    {"{\n  \"model_type\": null\n}\n", 2, 17, "'model_type' is null; expected one of: gpt2,"},
    {"{\n  \"model_type\": \"\"\n}\n", 2, 17, "'model_type' is empty; expected one of: gpt2,"},
    {"{\"model_type\": \"llama4\", \"text_config\": {\"model_type\": \"llama4_txt\"}}\n", 1, 56,
     "unknown text_config.model_type 'llama4_txt' (did you mean 'llama4_text'?)"},
    {"{\"model_type\": \"llama4\"}\n", 1, 1, "a 'llama4' config must have a 'text_config' mapping"},
    /* 4096 / 3 heads: no head_dim, not whole. */
    {"{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 4096,\n  \"num_hidden_layers\": 2,\n"
     "  \"num_attention_heads\": 3,\n  \"vocab_size\": 10,\n  \"intermediate_size\": 5\n}\n",
     5, 26, "'num_attention_heads' (3) does not divide 'hidden_size' (4096); give 'head_dim' explicitly"},
    /* Native window keys, malformed. */
    {"layers: 2\nhidden: 8\nheads: 2\nffn: gelu\nffn_hidden: 8\nvocab: 4\nwindow: {kind: slidng, size: 4}\n", 7, 16,
     "did you mean 'sliding'"},
    {"layers: 2\nhidden: 8\nheads: 2\nffn: gelu\nffn_hidden: 8\nvocab: 4\nwindow: {kind: chunked, size: 0}\n", 7,
     31, "'size'"},
    {"layers: 2\nhidden: 8\nheads: 2\nffn: gelu\nffn_hidden: 8\nvocab: 4\nwindow: {kind: sliding, size: 4, layers: [2]}\n",
     7, 43, "'layers' entries must be layer indices from 0 to 1"},
    /* Qwen3-MoE's mlp_only_layers with a repeat (`  "mlp_only_layers": [0, `
     * puts the second 0 at column 26). */
    {"{\n  \"model_type\": \"qwen3_moe\",\n  \"hidden_size\": 64,\n  \"num_hidden_layers\": 2,\n"
     "  \"num_attention_heads\": 4,\n  \"vocab_size\": 10,\n  \"intermediate_size\": 8,\n"
     "  \"num_experts\": 4,\n  \"num_experts_per_tok\": 2,\n  \"moe_intermediate_size\": 8,\n"
     "  \"mlp_only_layers\": [0, 0]\n}\n",
     11, 26, "'mlp_only_layers' lists layer 0 twice"},
    /* A layer listed twice is refused at the repeat, not merged. */
    {"layers: 2\nhidden: 8\nheads: 2\nffn: gelu\nffn_hidden: 8\nvocab: 4\nwindow: {kind: sliding, size: 4, layers: [1, 1]}\n",
     7, 46, "'layers' lists layer 1 twice"},
    {"layers: 2\nhidden: 8\nheads: 2\nffn: gelu\nffn_hidden: 8\nvocab: 4\nwindow: {kind: sliding, sise: 4}\n", 7, 25,
     "did you mean 'size'"},
    {"layers: 2\nhidden: 8\nheads: 2\nffn: gelu\nffn_hidden: 8\nvocab: 4\nrouter_bias: true\n", 7, 14,
     "'router_bias' is given but 'experts' is 0 or absent"},
    /* shared_expert_gate was ignored on a dense model and without shared
     * experts: refused like its siblings. */
    {"layers: 2\nhidden: 8\nheads: 2\nffn: gelu\nffn_hidden: 8\nvocab: 4\nshared_expert_gate: true\n", 7, 21,
     "'shared_expert_gate' is given but 'experts' is 0 or absent"},
    {"layers: 2\nhidden: 8\nheads: 2\nffn: swiglu\nexperts: 4\ntop_k: 2\nexpert_hidden: 8\nvocab: 4\n"
     "shared_expert_gate: true\n", 9, 21,
     "'shared_expert_gate' is true but 'shared_experts' is 0 or absent: there is no shared expert to gate"},
    {"layers: 2\nhidden: 8\nheads: 2\nffn: gelu\nffn_hidden: 8\nvocab: 4\nqk_norm: half\n", 7, 10,
     "'qk_norm' must be true, false or full"},
    /* An activation name transformers does not define is refused at it,
     * not read by its prefix. */
    {"{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 64,\n  \"num_hidden_layers\": 2,\n"
     "  \"num_attention_heads\": 4,\n  \"vocab_size\": 10,\n  \"intermediate_size\": 8,\n"
     "  \"hidden_act\": \"gelu_typo\"\n}\n",
     8, 17, "'hidden_act' is 'gelu_typo'; expected one of gelu, gelu_new, gelu_fast"},
    /* DeepSeek's attention is always MLA: a null latent rank is refused
     * at its value (`{"model_type": "deepseek_v3", ` is 30 characters,
     * `"kv_lora_rank": ` 16 more: null at column 47), not read as
     * grouped-query attention. */
    {"{\"model_type\": \"deepseek_v3\", \"kv_lora_rank\": null, \"hidden_size\": 64, \"num_hidden_layers\": 2, "
     "\"num_attention_heads\": 4, \"vocab_size\": 10, \"intermediate_size\": 8, \"n_routed_experts\": 4, "
     "\"num_experts_per_tok\": 2, \"moe_intermediate_size\": 8}\n",
     1, 47, "is always multi-head latent attention"},
    /* DeepSeek without experts is not read as dense. */
    {"{\"model_type\": \"deepseek_v3\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
     "\"num_attention_heads\": 4, \"vocab_size\": 10, \"intermediate_size\": 8}\n",
     1, 1, "missing required key 'n_routed_experts'"},
};

START_TEST(test_hf_refusals)
{
    const hf_refusal *c = &hf_refusals[_i];
    mp_model m;
    mp_error e;
    char path[64];
    ck_assert_int_eq(load_text(&m, c->text, &e, path, sizeof path), MP_ERR_INPUT);
    ck_assert_str_eq(e.file, path);
    ck_assert_msg(e.line == c->line && e.col == c->col, "error at %d:%d, expected %d:%d: %s", e.line, e.col,
                  c->line, c->col, e.msg);
    ck_assert_msg(strstr(e.msg, c->needle) != NULL, "message '%s' lacks '%s'", e.msg, c->needle);
}
END_TEST

/* Keys left out take the config class's default, noted.  GPT2Config:
 * resid_pdrop 0.1 (dropout on), n_inner None (4 * n_embd = 64), tie True.
 * MistralConfig: num_key_value_heads 8, sliding_window 4096. */
START_TEST(test_hf_defaults)
{
    mp_model m;
    mp_error e;
    char path[64];
    ck_assert_int_eq(load_text(&m,
                               "{\"model_type\": \"gpt2\", \"n_embd\": 16, \"n_layer\": 2, \"n_head\": 4, "
                               "\"n_positions\": 32, \"vocab_size\": 50, \"attn_pdrop\": 0.0}\n",
                               &e, path, sizeof path),
                     MP_OK);
    ck_assert(m.dropout);
    ck_assert(m.tied_embeddings);
    ck_assert_int_eq(m.ffn_hidden, 64);
    bool resid = false;
    for (int i = 0; i < m.num_notes; i++)
        resid |= strcmp(m.notes[i], "resid_pdrop absent: GPT2Config default 0.1 (dropout on)") == 0;
    ck_assert(resid);
    ck_assert_int_eq(load_text(&m,
                               "{\"model_type\": \"mistral\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
                               "\"num_attention_heads\": 16, \"vocab_size\": 50, \"intermediate_size\": 8}\n",
                               &e, path, sizeof path),
                     MP_OK);
    ck_assert_int_eq(m.num_kv_heads, 8);
    ck_assert_int_eq(m.window_kind, MP_WINDOW_SLIDING);
    ck_assert_int_eq(m.window, 4096);
    ck_assert_int_le(m.num_notes, 16);
    for (int i = 0; i < m.num_notes; i++)
        ck_assert_int_lt(strlen(m.notes[i]), 160);
    /* DeepSeek without any MLA key: MLA with the class's sizes
     * (DeepseekV3Config: q_lora_rank 1536, kv_lora_rank 512, qk_nope 128,
     * qk_rope 64, v 128), each noted; an explicit null q_lora_rank (as
     * DeepSeek-V2-Lite has it) projects Q directly, without a note. */
#define DS_CONFIG "{\"model_type\": \"deepseek_v3\", \"hidden_size\": 64, \"num_hidden_layers\": 2, " \
                  "\"num_attention_heads\": 4, \"vocab_size\": 10, \"intermediate_size\": 8, " \
                  "\"n_routed_experts\": 4, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 8%s}\n"
    char text[512];
    snprintf(text, sizeof text, DS_CONFIG, "");
    ck_assert_int_eq(load_text(&m, text, &e, path, sizeof path), MP_OK);
    ck_assert_int_eq(m.attn, MP_ATTN_MLA);
    ck_assert_int_eq(m.q_lora_rank, 1536);
    ck_assert_int_eq(m.kv_lora_rank, 512);
    ck_assert_int_eq(m.qk_nope_head_dim, 128);
    ck_assert_int_eq(m.qk_rope_head_dim, 64);
    ck_assert_int_eq(m.v_head_dim, 128);
    int noted = 0;
    for (int i = 0; i < m.num_notes; i++)
        noted += strcmp(m.notes[i], "kv_lora_rank absent: DeepseekV3Config default 512") == 0 ||
                 strcmp(m.notes[i], "q_lora_rank absent: DeepseekV3Config default 1536") == 0;
    ck_assert_int_eq(noted, 2);
    snprintf(text, sizeof text, DS_CONFIG, ", \"q_lora_rank\": null");
#undef DS_CONFIG
    ck_assert_int_eq(load_text(&m, text, &e, path, sizeof path), MP_OK);
    ck_assert_int_eq(m.q_lora_rank, 0);
    for (int i = 0; i < m.num_notes; i++)
        ck_assert_ptr_null(strstr(m.notes[i], "q_lora_rank"));
}
END_TEST

/* Qwen2/Qwen3 windows (configuration_qwen2.py): with use_sliding_window
 * an explicit layer_types list decides which layers slide (here layers 0
 * and 2 of 4), not max_window_layers; without it the list has no effect
 * (sliding_window is set to None) and a note says so. */
START_TEST(test_qwen_layer_types)
{
    mp_model m;
    mp_error e;
    char path[64];
    const char *head = "{\"model_type\": \"qwen3\", \"hidden_size\": 64, \"num_hidden_layers\": 4, "
                       "\"num_attention_heads\": 4, \"head_dim\": 16, \"vocab_size\": 50, \"intermediate_size\": 8, "
                       "\"sliding_window\": 32, \"max_window_layers\": 3, \"layer_types\": [\"sliding_attention\", "
                       "\"full_attention\", \"sliding_attention\", \"full_attention\"], ";
    char text[1024];
    snprintf(text, sizeof text, "%s\"use_sliding_window\": true}\n", head);
    ck_assert_int_eq(load_text(&m, text, &e, path, sizeof path), MP_OK);
    ck_assert_int_eq(m.window_kind, MP_WINDOW_SLIDING);
    ck_assert_int_eq(m.window, 32);
    ck_assert(m.attn_local[0] && !m.attn_local[1] && m.attn_local[2] && !m.attn_local[3]);
    snprintf(text, sizeof text, "%s\"use_sliding_window\": false}\n", head);
    ck_assert_int_eq(load_text(&m, text, &e, path, sizeof path), MP_OK);
    ck_assert_int_eq(m.window_kind, MP_WINDOW_NONE);
    bool noted = false;
    for (int i = 0; i < m.num_notes; i++)
        noted |= strstr(m.notes[i], "layer_types given but use_sliding_window is false") != NULL &&
                 strlen(m.notes[i]) < 159;
    ck_assert(noted);
}
END_TEST

/* An activation other than the class's is noted for explain's assumptions
 * (a Mixtral config with hidden_act relu said nothing); the class's own,
 * given or absent, adds no note. */
START_TEST(test_hf_activation_note)
{
    mp_model m;
    mp_error e;
    char path[64];
    const char *head = "{\"model_type\": \"mixtral\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
                       "\"num_attention_heads\": 4, \"num_key_value_heads\": 4, \"head_dim\": 16, "
                       "\"vocab_size\": 50, \"intermediate_size\": 8, \"num_local_experts\": 4, "
                       "\"num_experts_per_tok\": 2, \"attention_bias\": false";
    static const char *const acts[] = {"", ", \"hidden_act\": \"silu\"", ", \"hidden_act\": \"relu\""};
    for (int k = 0; k < 3; k++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s}\n", head, acts[k]);
        ck_assert_int_eq(load_text(&m, text, &e, path, sizeof path), MP_OK);
        int noted = 0;
        for (int i = 0; i < m.num_notes; i++) {
            noted += strcmp(m.notes[i], "hidden_act relu: the MLP's activation, not MixtralConfig's default silu "
                                        "(the same matrices and FLOPs)") == 0;
            if (k < 2)
                ck_assert_msg(!strstr(m.notes[i], "hidden_act"), "note '%s'", m.notes[i]);
        }
        ck_assert_int_eq(noted, k == 2);
        ck_assert_int_eq(m.ffn_act, k == 2 ? MP_ACT_OTHER : MP_ACT_SWIGLU);
    }
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
    tcase_add_test(th, test_gpt_oss);
    tcase_add_test(th, test_glm45);
    tcase_add_test(th, test_grok1);
    tcase_add_test(th, test_llama4);
    tcase_add_test(th, test_windows_and_norms);
    suite_add_tcase(s, th);
    TCase *tn = tcase_create("native");
    tcase_add_test(tn, test_native_moe_small);
    tcase_add_test(tn, test_native_gelu_small);
    tcase_add_test(tn, test_native_mla_small);
    tcase_add_test(tn, test_native_local_small);
    suite_add_tcase(s, tn);
    TCase *te = tcase_create("errors");
    tcase_add_loop_test(te, test_load_errors, 0, (int)(sizeof err_cases / sizeof err_cases[0]));
    tcase_add_loop_test(te, test_hf_refusals, 0, (int)(sizeof hf_refusals / sizeof hf_refusals[0]));
    tcase_add_test(te, test_hf_defaults);
    tcase_add_test(te, test_qwen_layer_types);
    tcase_add_test(te, test_router_bad_scoring);
    tcase_add_test(te, test_hf_activation_note);
    tcase_add_test(te, test_load_missing_file);
    tcase_add_test(te, test_validate);
    suite_add_tcase(s, te);
    return s;
}

MP_CHECK_MAIN(model_suite)
