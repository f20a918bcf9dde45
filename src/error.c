#include "moeplan/error.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

mp_status mp_error_set(mp_error *err, mp_status st, const char *file, int line, int col,
                       const char *fmt, ...)
{
    if (!err)
        return st;
    err->status = st;
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->line = line;
    err->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return st;
}

/* Levenshtein distance, two rows; words here are short keys and flag names. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return (size_t)-1;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

/* w with case folded and '_' read as '-': 1F1B is 1f1b, tokens_per_gpu is
 * tokens-per-gpu (up to 63 characters, as edit_distance takes). */
static void fold(const char *w, char *out)
{
    size_t i = 0;
    for (; w[i] && i < 64; i++)
        out[i] = w[i] == '_' ? '-' : (char)tolower((unsigned char)w[i]);
    out[i < 64 ? i : 64] = 0;
}

const char *mp_did_you_mean(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t limit = strlen(word) / 3;
    if (limit < 1)
        limit = 1;
    if (limit > 4)
        limit = 4;
    char fw[65], fc[65];
    fold(word, fw);
    for (size_t i = 0; i < n; i++) {
        fold(candidates[i], fc);
        size_t d = edit_distance(fw, fc);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best_d <= limit ? best : NULL;
}

void mp_error_format(const mp_error *err, char *buf, size_t len)
{
    if (err->file[0] && err->line > 0)
        snprintf(buf, len, "%s:%d:%d: error: %s", err->file, err->line, err->col, err->msg);
    else if (err->file[0])
        snprintf(buf, len, "%s: error: %s", err->file, err->msg);
    else
        snprintf(buf, len, "error: %s", err->msg);
}
