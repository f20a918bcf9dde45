/* The simulator's distribution files (include/moeplan/distribution.h). */
#include "moeplan/distribution.h"

#include <stdlib.h>
#include <string.h>

#include "moeplan/doc.h"

mp_status mp_lengths_load(const char *path, long max_tokens, mp_len_bin **bins, int *n, mp_error *err)
{
    mp_doc d;
    mp_status st = mp_doc_load_file(&d, path, err);
    if (st)
        return st;
    static const char *const keys[] = {"bins", "name", "source", NULL};
    static const char *const bin_keys[] = {"lo", "hi", "weight", NULL};
    *bins = NULL;
    *n = 0;
    if ((st = mp_doc_check_keys(&d, d.root, keys, "length histogram", err)))
        goto out;
    const mp_node *list = mp_node_get(d.root, "bins", NULL);
    if (!list || list->kind != MP_NODE_SEQ || list->n == 0) {
        st = mp_doc_error(&d, list ? list : d.root, err,
                          "'bins': expected a list of {lo: TOKENS, hi: TOKENS, weight: W}");
        goto out;
    }
    *bins = calloc(list->n, sizeof **bins);
    if (!*bins) {
        st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
        goto out;
    }
    double total = 0;
    for (size_t i = 0; i < list->n; i++) {
        const mp_node *b = list->vals[i];
        if (b->kind != MP_NODE_MAP) {
            st = mp_doc_error(&d, b, err, "each bin: expected {lo: TOKENS, hi: TOKENS, weight: W}");
            goto out;
        }
        if ((st = mp_doc_check_keys(&d, b, bin_keys, "bin", err)))
            goto out;
        mp_getter g = {&d, b, err};
        mp_len_bin *x = &(*bins)[i];
        if ((st = mp_get_int(&g, "lo", true, 1, max_tokens, &x->lo, NULL)) ||
            (st = mp_get_int(&g, "hi", true, 1, max_tokens, &x->hi, NULL)) ||
            (st = mp_get_double(&g, "weight", true, 0, 1e300, &x->weight, NULL)))
            goto out;
        if (x->hi < x->lo) {
            st = mp_doc_error(&d, mp_node_get(b, "hi", NULL), err, "'hi' (%ld) is below 'lo' (%ld)", x->hi, x->lo);
            goto out;
        }
        total += x->weight;
    }
    if (total <= 0) {
        st = mp_doc_error(&d, list, err, "'bins': the weights sum to 0");
        goto out;
    }
    *n = (int)list->n;
out:
    if (st) {
        free(*bins);
        *bins = NULL;
    }
    mp_doc_free(&d);
    return st;
}

mp_status mp_expert_weights_load(const char *path, long experts, double **weights, int *n, mp_error *err)
{
    mp_doc d;
    mp_status st = mp_doc_load_file(&d, path, err);
    if (st)
        return st;
    static const char *const keys[] = {"tokens_per_expert", "name", "source", NULL};
    *weights = NULL;
    *n = 0;
    if ((st = mp_doc_check_keys(&d, d.root, keys, "routing histogram", err)))
        goto out;
    const mp_node *list = mp_node_get(d.root, "tokens_per_expert", NULL);
    if (!list || list->kind != MP_NODE_SEQ) {
        st = mp_doc_error(&d, list ? list : d.root, err, "'tokens_per_expert': expected a list of %ld number%s",
                          experts, mp_plural(experts));
        goto out;
    }
    if ((long)list->n != experts) {
        st = mp_doc_error(&d, list, err, "'tokens_per_expert': %zu value%s, the model has %ld expert%s", list->n,
                          mp_plural((long long)list->n), experts, mp_plural(experts));
        goto out;
    }
    *weights = calloc(list->n, sizeof **weights);
    if (!*weights) {
        st = mp_error_set(err, MP_ERR_NOMEM, "", 0, 0, "out of memory");
        goto out;
    }
    double total = 0;
    for (size_t i = 0; i < list->n; i++) {
        const mp_node *v = list->vals[i];
        double x;
        const char *why = NULL;
        if (v->kind != MP_NODE_SCALAR || !v->text || mp_parse_decimal(v->text, &x, &why) != strlen(v->text) ||
            x < 0) {
            st = mp_doc_error(&d, v, err, "'tokens_per_expert': item %zu: expected a number >= 0", i + 1);
            goto out;
        }
        (*weights)[i] = x;
        total += x;
    }
    if (total <= 0) {
        st = mp_doc_error(&d, list, err, "'tokens_per_expert': all zero");
        goto out;
    }
    *n = (int)list->n;
out:
    if (st) {
        free(*weights);
        *weights = NULL;
    }
    mp_doc_free(&d);
    return st;
}
