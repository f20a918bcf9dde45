#include "moeplan/hardware.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "moeplan/doc.h"
#include "moeplan/units.h"

#define TRY(x) do { mp_status st_ = (x); if (st_) return st_; } while (0)

void mp_hardware_defaults(mp_hardware *hw)
{
    memset(hw, 0, sizeof *hw);
    snprintf(hw->name, sizeof hw->name, "seed-accelerator");
    hw->peak_flops = 400e12;
    hw->mfu = 0.60;
    hw->attention_efficiency = 0.60;
    hw->memory_bytes = 64e9;
    hw->memory_bw_bytes_per_s = 1.8e12;
    hw->bw_utilization = 0.80;
    hw->gpus_per_node = 8;
    hw->intra_bw_bytes_per_s = 400e9;
    hw->inter_bw_bytes_per_s = 50e9;
    hw->intra_latency_s = 3e-6;
    hw->inter_latency_s = 10e-6;
    hw->reserved_bytes = 2.0 * 1073741824.0;
    hw->fragmentation = 0.05;
    /* The dropless alltoall dispatcher copies the token counts to the host
     * and waits for them once per MoE layer forward (Megatron-Core
     * token_dispatcher.py, _maybe_dtoh_and_synchronize, at d98e8a64ddf3):
     * the GPU's queue drains.  26 us is a measured device-to-host round trip
     * on bare-metal Linux (jingyaogong/minimind pull request #837: 26.11 us
     * on RTX 3090, 116 us under WSL2); the 2026-12-01 review puts it at
     * 20-50 us.  Not measured on the seed's accelerator. */
    hw->moe_host_sync_s = 26e-6;
}

static const char *const hw_keys[] = {
    "name", "peak_flops", "mfu", "memory", "memory_bandwidth", "bandwidth_utilization", "gpus_per_node",
    "intra_node_bandwidth", "inter_node_bandwidth", "intra_node_latency", "inter_node_latency",
    "reserved_memory", "fragmentation", "checkpoint_bandwidth", "attention_efficiency", "sm_count",
    "gemm_efficiency", "gemm_tile_overhead", "gemm_k_overhead", "attention_fwd_efficiency",
    "attention_bwd_efficiency", "attention_head_dim_overhead", "kernel_launch", "memory_bytes_half",
    "intra_node_efficiency", "inter_node_efficiency", "collective_bytes_half", "moe_host_sync",
    "peak_flops_fp8", "gemm_efficiency_fp8", "mxfp8", "measured_gemm", "measured_memory", "measured_collectives", NULL};

/* measured_gemm: [[m, n, k, FLOP/s], ...]; measured_memory: [[bytes, B/s],
 * ...] (calibrate --measure writes them): `cols` positive numbers a row. */
static mp_status load_table(const mp_doc *d, const mp_node *root, const char *key, int cols, double (*rows)[4],
                            double (*rows2)[2], int *n, mp_error *err);
/* measured_collectives rows: [collective 1-5, tier 0|1, bytes, B/s]. */
static mp_status check_coll_rows(const mp_doc *d, const mp_node *root, const mp_hardware *hw, mp_error *err)
{
    for (int i = 0; i < hw->n_coll_measured; i++) {
        const double *r = hw->coll_measured[i];
        if (r[0] != floor(r[0]) || r[0] < 1 || r[0] > 5 || (r[1] != 0 && r[1] != 1))
            return mp_doc_error(d, mp_node_get(root, "measured_collectives", NULL)->vals[i], err,
                                "'measured_collectives' row %d: the collective is 1-5 (all-reduce, all-gather, "
                                "reduce-scatter, all-to-all, send/recv) and the tier 0 (within a node) or 1",
                                i + 1);
    }
    return MP_OK;
}

static mp_status load_table(const mp_doc *d, const mp_node *root, const char *key, int cols, double (*rows)[4],
                            double (*rows2)[2], int *n, mp_error *err)
{
    const mp_node *t = mp_node_get(root, key, NULL);
    if (!t)
        return MP_OK;
    if (t->kind != MP_NODE_SEQ)
        return mp_doc_error(d, t, err, "'%s' must be a list of [%s] rows", key,
                            cols == 4 ? "m, n, k, FLOP/s" : "bytes, B/s");
    if (t->n > MP_HW_TABLE)
        return mp_doc_error(d, t, err, "'%s' has %zu rows; at most %d", key, t->n, MP_HW_TABLE);
    for (size_t i = 0; i < t->n; i++) {
        const mp_node *r = t->vals[i];
        if (r->kind != MP_NODE_SEQ || r->n != (size_t)cols)
            return mp_doc_error(d, r, err, "'%s' row %zu must be [%s]", key, i + 1,
                                cols == 4 ? "m, n, k, FLOP/s" : "bytes, B/s");
        for (int c = 0; c < cols; c++) {
            const mp_node *v = r->vals[c];
            double x = 0;
            const char *why = NULL;
            bool zero_ok = cols == 4 && !strcmp(key, "measured_collectives") && c == 1; /* the tier */
            if (v->kind != MP_NODE_SCALAR || mp_parse_decimal(v->text, &x, &why) != strlen(v->text) ||
                !(x > 0 || (zero_ok && x == 0)) || !isfinite(x))
                return mp_doc_error(d, v, err, "'%s' row %zu: expected a positive number, got '%s'", key, i + 1,
                                    v->kind == MP_NODE_SCALAR ? v->text : "a list or map");
            /* Every column but the rate is a count: m, n, k; bytes; the
             * collective, the tier and the bytes. */
            if (c < cols - 1 && x != floor(x))
                return mp_doc_error(d, v, err, "'%s' row %zu: column %d is a whole number (a size), got '%s'", key,
                                    i + 1, c + 1, v->text);
            if (rows)
                rows[i][c] = x;
            else
                rows2[i][c] = x;
        }
        /* The same size twice, with two rates: which one the lookup took
         * would depend on the order. */
        for (size_t j = 0; j < i; j++) {
            bool same = true;
            for (int c = 0; c < cols - 1; c++)
                same &= rows ? rows[j][c] == rows[i][c] : rows2[j][c] == rows2[i][c];
            if (same)
                return mp_doc_error(d, r, err, "'%s' row %zu measures the same size as row %zu", key, i + 1, j + 1);
        }
    }
    *n = (int)t->n;
    return MP_OK;
}

/* The efficiency model's keys (efficiency.h).  Defaults, used when a file
 * gives sm_count but not the rest, are chosen starting points, not
 * measurements: GEMMs at the file's mfu and attention at its
 * attention_efficiency; c = 32 elements (a 128 x 128 tile then runs at
 * (1 + 32 (1/256 + 1/128)) / (1 + 32 (2/128)) = 0.917 of the 256 x 128
 * rate, 64 x 64 at 0.688); k0 = 32 k-steps; d0 = 32; 4 us per kernel
 * launch; 1 MB to reach half of HBM bandwidth; collectives at 0.85 of line
 * rate with 1 MB to reach half of it.  `moeplan calibrate` fits them to
 * measured runs. */
static mp_status load_efficiency(mp_getter *g, mp_hardware *hw)
{
    long sms = 0;
    bool found = false;
    mp_status st;
    if ((st = mp_get_int(g, "sm_count", false, 1, 100000, &sms, &found)))
        return st;
    hw->sm_count = (int)sms;
    hw->gemm_efficiency = hw->mfu;
    hw->gemm_tile_overhead = 32;
    hw->gemm_k_overhead = 32;
    hw->attention_fwd_efficiency = hw->attention_bwd_efficiency = hw->attention_efficiency;
    hw->attention_head_dim_overhead = 32;
    hw->kernel_launch_s = 4e-6;
    hw->memory_bytes_half = 1e6;
    hw->intra_efficiency = hw->inter_efficiency = 0.85;
    hw->collective_bytes_half = 1e6;
    if ((st = mp_get_quantity(g, "gemm_efficiency", false, MP_UNIT_FRACTION, 0.01, 1.0, &hw->gemm_efficiency, NULL)) ||
        (st = mp_get_double(g, "gemm_tile_overhead", false, 0, 4096, &hw->gemm_tile_overhead, NULL)) ||
        (st = mp_get_double(g, "gemm_k_overhead", false, 0, 65536, &hw->gemm_k_overhead, NULL)) ||
        (st = mp_get_quantity(g, "attention_fwd_efficiency", false, MP_UNIT_FRACTION, 0.01, 1.0,
                              &hw->attention_fwd_efficiency, NULL)) ||
        (st = mp_get_quantity(g, "attention_bwd_efficiency", false, MP_UNIT_FRACTION, 0.01, 1.0,
                              &hw->attention_bwd_efficiency, NULL)) ||
        (st = mp_get_double(g, "attention_head_dim_overhead", false, 0, 4096, &hw->attention_head_dim_overhead,
                            NULL)) ||
        (st = mp_get_quantity(g, "kernel_launch", false, MP_UNIT_SECONDS, 0, 0.01, &hw->kernel_launch_s, NULL)) ||
        (st = mp_get_quantity(g, "memory_bytes_half", false, MP_UNIT_BYTES, 0, 1e12, &hw->memory_bytes_half, NULL)) ||
        (st = mp_get_quantity(g, "intra_node_efficiency", false, MP_UNIT_FRACTION, 0.01, 1.0, &hw->intra_efficiency,
                              NULL)) ||
        (st = mp_get_quantity(g, "inter_node_efficiency", false, MP_UNIT_FRACTION, 0.01, 1.0, &hw->inter_efficiency,
                              NULL)) ||
        (st = mp_get_quantity(g, "collective_bytes_half", false, MP_UNIT_BYTES, 0, 1e12, &hw->collective_bytes_half,
                              NULL)))
        return st;
    if (!found) {
        /* Efficiency keys without sm_count would be silently unused. */
        static const char *const eff_keys[] = {"gemm_efficiency", "gemm_tile_overhead", "gemm_k_overhead",
                                               "attention_fwd_efficiency", "attention_bwd_efficiency",
                                               "attention_head_dim_overhead", "kernel_launch", "memory_bytes_half",
                                               "intra_node_efficiency", "inter_node_efficiency",
                                               "collective_bytes_half", NULL};
        for (int i = 0; eff_keys[i]; i++) {
            const mp_node *v = mp_node_get(g->map, eff_keys[i], NULL);
            if (v)
                return mp_doc_error(g->doc, v, g->err, "'%s' needs 'sm_count' (the efficiency model is off without it)",
                                    eff_keys[i]);
        }
    }
    return MP_OK;
}

mp_status mp_hardware_load(mp_hardware *hw, const char *path, mp_error *err)
{
    mp_hardware_defaults(hw);
    snprintf(hw->source, sizeof hw->source, "%s", path);
    mp_doc d;
    TRY(mp_doc_load_file(&d, path, err));
    mp_getter g = {&d, d.root, err};
    long gpn = 8;
    bool att_found = false;
    mp_status st;
    if ((st = mp_doc_check_keys(&d, d.root, hw_keys, "a hardware file", err)) ||
        (st = mp_get_string(&g, "name", false, hw->name, sizeof hw->name, NULL)) ||
        (st = mp_get_quantity(&g, "peak_flops", true, MP_UNIT_FLOP_RATE, 1e9, 1e19, &hw->peak_flops, NULL)) ||
        (st = mp_get_quantity(&g, "mfu", true, MP_UNIT_FRACTION, 0.01, 1.0, &hw->mfu, NULL)) ||
        (st = mp_get_quantity(&g, "attention_efficiency", false, MP_UNIT_FRACTION, 0.01, 1.0,
                              &hw->attention_efficiency, &att_found)) ||
        (st = mp_get_quantity(&g, "memory", true, MP_UNIT_BYTES, 1e6, 1e15, &hw->memory_bytes, NULL)) ||
        (st = mp_get_quantity(&g, "memory_bandwidth", true, MP_UNIT_BYTE_RATE, 1e6, 1e15,
                              &hw->memory_bw_bytes_per_s, NULL)) ||
        (st = mp_get_quantity(&g, "bandwidth_utilization", true, MP_UNIT_FRACTION, 0.01, 1.0, &hw->bw_utilization,
                              NULL)) ||
        (st = mp_get_int(&g, "gpus_per_node", false, 1, 1024, &gpn, NULL)) ||
        (st = mp_get_quantity(&g, "intra_node_bandwidth", false, MP_UNIT_BYTE_RATE, 1e6, 1e15,
                              &hw->intra_bw_bytes_per_s, NULL)) ||
        (st = mp_get_quantity(&g, "inter_node_bandwidth", false, MP_UNIT_BYTE_RATE, 1e6, 1e15,
                              &hw->inter_bw_bytes_per_s, NULL)) ||
        (st = mp_get_quantity(&g, "intra_node_latency", false, MP_UNIT_SECONDS, 0, 1, &hw->intra_latency_s, NULL)) ||
        (st = mp_get_quantity(&g, "inter_node_latency", false, MP_UNIT_SECONDS, 0, 1, &hw->inter_latency_s, NULL)) ||
        (st = mp_get_quantity(&g, "reserved_memory", false, MP_UNIT_BYTES, 0, 1e15, &hw->reserved_bytes, NULL)) ||
        (st = mp_get_quantity(&g, "fragmentation", false, MP_UNIT_FRACTION, 0, 0.9, &hw->fragmentation, NULL)) ||
        (st = mp_get_quantity(&g, "checkpoint_bandwidth", false, MP_UNIT_BYTE_RATE, 1e3, 1e15,
                              &hw->checkpoint_bw_bytes_per_s, NULL)) ||
        (st = mp_get_quantity(&g, "moe_host_sync", false, MP_UNIT_SECONDS, 0, 0.01, &hw->moe_host_sync_s, NULL))) {
        mp_doc_free(&d);
        return st;
    }
    hw->gpus_per_node = (int)gpn;
    if (!att_found)
        hw->attention_efficiency = hw->mfu;
    st = load_efficiency(&g, hw);
    if (!st)
        st = mp_get_quantity(&g, "peak_flops_fp8", false, MP_UNIT_FLOP_RATE, 1e9, 1e19, &hw->peak_flops_fp8, NULL);
    /* Like the other efficiency keys: without sm_count the flat model
     * prices FP8 products at mfu, and a figure here would be used unsaid. */
    const mp_node *ge8 = mp_node_get(d.root, "gemm_efficiency_fp8", NULL);
    if (!st && ge8 && hw->sm_count <= 0)
        st = mp_doc_error(&d, ge8, err, "'gemm_efficiency_fp8' needs 'sm_count' (the efficiency model is off without "
                                        "it; the flat model prices FP8 products at mfu)");
    hw->gemm_efficiency_fp8 = hw->sm_count > 0 ? hw->gemm_efficiency : hw->mfu;
    if (!st)
        st = mp_get_quantity(&g, "gemm_efficiency_fp8", false, MP_UNIT_FRACTION, 0.01, 1.0, &hw->gemm_efficiency_fp8,
                             NULL);
    if (!st)
        st = mp_get_bool(&g, "mxfp8", false, &hw->mxfp8, NULL);
    if (!st)
        st = load_table(&d, d.root, "measured_gemm", 4, hw->gemm_measured, NULL, &hw->n_gemm_measured, err);
    if (!st)
        st = load_table(&d, d.root, "measured_memory", 2, NULL, hw->memory_measured, &hw->n_memory_measured, err);
    if (!st)
        st = load_table(&d, d.root, "measured_collectives", 4, hw->coll_measured, NULL, &hw->n_coll_measured, err);
    if (!st)
        st = check_coll_rows(&d, d.root, hw, err);
    if (!st && hw->reserved_bytes >= hw->memory_bytes)
        st = mp_doc_error(&d, mp_node_get(d.root, "reserved_memory", NULL), err,
                          "'reserved_memory' is not smaller than 'memory'");
    mp_doc_free(&d);
    return st;
}

/* %.17g: the shortest form that reads back to the same double is not
 * needed here, only one that does. */
void mp_hardware_write(FILE *f, const mp_hardware *hw, const char *comment)
{
    if (comment) {
        const char *p = comment;
        while (*p) {
            size_t n = strcspn(p, "\n");
            fprintf(f, "# %.*s\n", (int)n, p);
            p += n;
            if (*p)
                p++;
        }
    }
    fprintf(f, "name: %s\n", hw->name);
    fprintf(f, "peak_flops: %.17g FLOPS\n", hw->peak_flops);
    fprintf(f, "mfu: %.17g\n", hw->mfu);
    fprintf(f, "attention_efficiency: %.17g\n", hw->attention_efficiency);
    fprintf(f, "memory: %.17g B\n", hw->memory_bytes);
    fprintf(f, "memory_bandwidth: %.17g B/s\n", hw->memory_bw_bytes_per_s);
    fprintf(f, "bandwidth_utilization: %.17g\n", hw->bw_utilization);
    fprintf(f, "gpus_per_node: %d\n", hw->gpus_per_node);
    fprintf(f, "intra_node_bandwidth: %.17g B/s\n", hw->intra_bw_bytes_per_s);
    fprintf(f, "inter_node_bandwidth: %.17g B/s\n", hw->inter_bw_bytes_per_s);
    fprintf(f, "intra_node_latency: %.17g s\n", hw->intra_latency_s);
    fprintf(f, "inter_node_latency: %.17g s\n", hw->inter_latency_s);
    fprintf(f, "reserved_memory: %.17g B\n", hw->reserved_bytes);
    fprintf(f, "fragmentation: %.17g\n", hw->fragmentation);
    if (hw->checkpoint_bw_bytes_per_s > 0)
        fprintf(f, "checkpoint_bandwidth: %.17g B/s\n", hw->checkpoint_bw_bytes_per_s);
    fprintf(f, "moe_host_sync: %.17g s\n", hw->moe_host_sync_s);
    if (hw->sm_count > 0) {
        fprintf(f, "sm_count: %d\n", hw->sm_count);
        fprintf(f, "gemm_efficiency: %.17g\n", hw->gemm_efficiency);
        fprintf(f, "gemm_tile_overhead: %.17g\n", hw->gemm_tile_overhead);
        fprintf(f, "gemm_k_overhead: %.17g\n", hw->gemm_k_overhead);
        fprintf(f, "attention_fwd_efficiency: %.17g\n", hw->attention_fwd_efficiency);
        fprintf(f, "attention_bwd_efficiency: %.17g\n", hw->attention_bwd_efficiency);
        fprintf(f, "attention_head_dim_overhead: %.17g\n", hw->attention_head_dim_overhead);
        fprintf(f, "kernel_launch: %.17g s\n", hw->kernel_launch_s);
        fprintf(f, "memory_bytes_half: %.17g B\n", hw->memory_bytes_half);
        fprintf(f, "intra_node_efficiency: %.17g\n", hw->intra_efficiency);
        fprintf(f, "inter_node_efficiency: %.17g\n", hw->inter_efficiency);
        fprintf(f, "collective_bytes_half: %.17g B\n", hw->collective_bytes_half);
    }
    if (hw->peak_flops_fp8 > 0) {
        fprintf(f, "peak_flops_fp8: %.17g FLOPS\n", hw->peak_flops_fp8);
        fprintf(f, "gemm_efficiency_fp8: %.17g\n", hw->gemm_efficiency_fp8);
        fprintf(f, "mxfp8: %s\n", hw->mxfp8 ? "true" : "false");
    }
    if (hw->n_gemm_measured) {
        fprintf(f, "measured_gemm: # [m, n, k, FLOP/s]\n");
        for (int i = 0; i < hw->n_gemm_measured; i++)
            fprintf(f, "  - [%.17g, %.17g, %.17g, %.17g]\n", hw->gemm_measured[i][0], hw->gemm_measured[i][1],
                    hw->gemm_measured[i][2], hw->gemm_measured[i][3]);
    }
    if (hw->n_coll_measured) {
        fprintf(f, "measured_collectives: # [1 all-reduce | 2 all-gather | 3 reduce-scatter | 4 all-to-all | 5 "
                   "send/recv, tier 0 node | 1 network, buffer bytes, bus B/s]\n");
        for (int i = 0; i < hw->n_coll_measured; i++)
            fprintf(f, "  - [%.17g, %.17g, %.17g, %.17g]\n", hw->coll_measured[i][0], hw->coll_measured[i][1],
                    hw->coll_measured[i][2], hw->coll_measured[i][3]);
    }
    if (hw->n_memory_measured) {
        fprintf(f, "measured_memory: # [bytes per kernel, B/s]\n");
        for (int i = 0; i < hw->n_memory_measured; i++)
            fprintf(f, "  - [%.17g, %.17g]\n", hw->memory_measured[i][0], hw->memory_measured[i][1]);
    }
}

