/* Reading a Megatron-LM training log (megatron_log.h). */
#include "moeplan/megatron_log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "moeplan/runs.h" /* mp_median */

/* The number after `key` within [p, end); -1 when the key is absent or no
 * number follows, -2 when the number is not finite (1e999, or the nan and
 * inf that Python prints), negative, or not followed by a blank, '|', ','
 * or the line's end ("31O.0", a letter in it); *at, where given, the text
 * that follows the key. */
static double after_at(const char *p, const char *end, const char *key, const char **at)
{
    size_t kl = strlen(key);
    for (const char *q = p; q + kl <= end; q++) {
        if (memcmp(q, key, kl))
            continue;
        q += kl;
        while (q < end && *q == ' ')
            q++;
        if (at)
            *at = q;
        const char *w = q < end && (*q == '-' || *q == '+') ? q + 1 : q;
        if (end - w >= 3 && (!strncasecmp(w, "nan", 3) || !strncasecmp(w, "inf", 3)))
            return -2;
        char buf[64];
        size_t n = 0;
        while (q < end && n + 1 < sizeof buf && *q && strchr("0123456789.eE+-", *q))
            buf[n++] = *q++;
        buf[n] = 0;
        char *e;
        double v = strtod(buf, &e);
        if (!n || e == buf)
            return -1;
        if (*e || (q < end && !strchr(" \t|,\r", *q)) || !isfinite(v) || v < 0)
            return -2;
        return v;
    }
    return -1;
}

/* The number after `key` on the line [p, end) (line number `line`), as
 * after_at; a malformed one, or one above `max` (no run logs it: 1e9 ms is
 * 11.6 days an iteration, 1e8 MB 100 TB a GPU), is -2, counted, the first
 * one kept with its key, bound, position and text. */
static double value(mp_megatron_log *out, const char *p, const char *end, int line, const char *key, double max)
{
    const char *at = NULL;
    double v = after_at(p, end, key, &at);
    if (v > max)
        v = -2;
    if (v == -2 && !out->n_bad_values++) {
        out->first_bad_max = max;
        snprintf(out->first_bad_key, sizeof out->first_bad_key, "%s", key);
        out->first_bad_line = line;
        out->first_bad_col = (int)(at - p) + 1;
        size_t k = 0;
        while (at + k < end && k + 1 < sizeof out->first_bad_text && at[k] != ' ' && at[k] != '|' && at[k] != ',')
            k++;
        memcpy(out->first_bad_text, at, k);
        out->first_bad_text[k] = 0;
    }
    return v;
}

int mp_megatron_log_parse(const char *text, size_t len, mp_megatron_log *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 64;
    int n = 0, nt = 0;
    double *t = malloc(cap * sizeof *t), *f = malloc(cap * sizeof *f);
    if (!t || !f) {
        free(t);
        free(f);
        return 0;
    }
    const char *p = text, *end = text + len;
    int line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        double ms = value(out, p, le, line, "elapsed time per iteration (ms):", 1e9);
        if (ms == 0)
            out->n_zero_times++;
        double ws = value(out, p, le, line, "using world size:", 1e8);
        if (ws >= 1 && ws < 1e9) {
            out->world_size = (long)ws;
            static const char *keys[4] = {"data-parallel size:", "context-parallel size:",
                                          "tensor-model-parallel size:", "pipeline-model-parallel size:"};
            long *dst[4] = {&out->dp, &out->cp, &out->tp, &out->pp};
            for (int i = 0; i < 4; i++) {
                double x = value(out, p, le, line, keys[i], 1e8);
                *dst[i] = x >= 1 && x < 1e9 ? (long)x : 0;
            }
        }
        if (ms > 0) {
            double gb = value(out, p, le, line, "global batch size:", 1e12);
            if (gb >= 1 && gb < 1e12) {
                if (out->global_batch && (long)gb != out->global_batch)
                    out->global_batch_varies = 1;
                out->global_batch = (long)gb;
            }
            if ((size_t)n == cap) {
                cap *= 2;
                double *t2 = realloc(t, cap * sizeof *t), *f2 = t2 ? realloc(f, cap * sizeof *f) : NULL;
                if (!t2 || !f2) {
                    free(t2 ? t2 : t);
                    free(f);
                    return 0;
                }
                t = t2;
                f = f2;
            }
            t[n] = ms / 1000.0;
            double tf = value(out, p, le, line, "throughput per GPU (TFLOP/s/GPU):", 1e6);
            if (tf > 0)
                f[nt++] = tf;
            n++;
        }
        double mib = value(out, p, le, line, "max allocated:", 1e8);
        if (mib > 0) {
            out->n_memory_lines++;
            if (mib * 1048576.0 > out->max_allocated_bytes)
                out->max_allocated_bytes = mib * 1048576.0;
        }
        p = nl ? nl + 1 : end;
    }
    out->n_iterations = n;
    if (n > 0) {
        out->first_step_s = t[0];
        /* The first logged interval holds start-up and compilation. */
        out->step_s = n > 1 ? mp_median(t + 1, n - 1) : t[0];
    }
    if (nt > 0)
        out->tflops_per_gpu = nt > 1 ? mp_median(f + 1, nt - 1) : f[0];
    free(t);
    free(f);
    return n;
}
