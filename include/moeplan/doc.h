/* moeplan: a parsed YAML or JSON document with a position on every node.
 *
 * Both formats are read with libyaml (JSON is a subset of YAML's flow style),
 * so that every value -- including one in a Hugging Face config.json -- keeps
 * its line and column for error messages.  jansson, used for JSON output, does
 * not keep positions for values.  Tabs outside strings (legal JSON whitespace,
 * illegal YAML indentation) are turned into spaces before parsing a .json file.
 *
 * The typed getters below check type, range and unit, and produce the
 * `file:line:col: error:` record; mp_doc_check_keys rejects unknown keys with a
 * "did you mean".
 */
#ifndef MOEPLAN_DOC_H
#define MOEPLAN_DOC_H

#include <stdbool.h>
#include <stddef.h>

#include "moeplan/error.h"
#include "moeplan/units.h"

typedef enum { MP_NODE_SCALAR, MP_NODE_MAP, MP_NODE_SEQ } mp_node_kind;

typedef struct mp_node {
    mp_node_kind kind;
    int line, col;          /* 1-based position of the value */
    char *text;             /* scalars: the text; NULL otherwise */
    bool quoted;            /* scalar was quoted ("..." or '...') */
    size_t n;               /* map: pairs; seq: items */
    char **keys;            /* map only */
    int *key_line, *key_col;/* map only: positions of the keys */
    struct mp_node **vals;  /* map values or seq items */
} mp_node;

typedef struct {
    char path[512];
    mp_node *root;          /* a map (a list only from mp_doc_load_list_file) */
} mp_doc;

mp_status mp_doc_load_file(mp_doc *doc, const char *path, mp_error *err);
mp_status mp_doc_load_string(mp_doc *doc, const char *name, const char *text, size_t len, mp_error *err);
/* The same, but the top level may also be a list (a file of records). */
mp_status mp_doc_load_list_file(mp_doc *doc, const char *path, mp_error *err);
void mp_doc_free(mp_doc *doc);

/* The value of `key` in map `m`, or NULL; *idx receives the pair's index. */
const mp_node *mp_node_get(const mp_node *m, const char *key, size_t *idx);
bool mp_node_is_null(const mp_node *v);
/* The value of `key` in map m when present and not null, else NULL. */
const mp_node *mp_node_given(const mp_node *m, const char *key);

/* Each getter: key absent -> returns MP_OK leaving *out untouched, and sets
 * *found=false (found may be NULL); required && absent -> error at the map. */
typedef struct {
    const mp_doc *doc;
    const mp_node *map;
    mp_error *err;
} mp_getter;

mp_status mp_get_int(mp_getter *g, const char *key, bool required, long min, long max, long *out, bool *found);
/* A scalar node as a whole number in [min, max] under mp_get_int's rules
 * (unquoted decimal, optionally signed, no 0x, leading zero or _; an
 * integral 1e5 taken); `what` names it in the messages ("'size'", "a
 * 'layers' entry of 'window'"). */
mp_status mp_node_int(const mp_doc *doc, const mp_node *v, const char *what, long min, long max, long *out,
                      mp_error *err);
/* For a value of whole numbers in a form of its own (seq_len's 128-10240):
 * refuse, as mp_get_int does, a quoted value and a number in it spelled
 * with 0x, a leading zero or _.  `what` names the value, `expected` says
 * what it must be ("a token count or range"). */
mp_status mp_node_whole_spelling(const mp_doc *doc, const mp_node *v, const char *what, const char *expected,
                                 mp_error *err);
mp_status mp_get_double(mp_getter *g, const char *key, bool required, double min, double max, double *out, bool *found);
mp_status mp_get_quantity(mp_getter *g, const char *key, bool required, mp_unit_kind kind, double min, double max,
                          double *out, bool *found);
mp_status mp_get_bool(mp_getter *g, const char *key, bool required, bool *out, bool *found);
mp_status mp_get_string(mp_getter *g, const char *key, bool required, char *out, size_t len, bool *found);
/* One of `choices` (NULL-terminated); *out is its index. */
mp_status mp_get_enum(mp_getter *g, const char *key, bool required, const char *const *choices, int *out, bool *found);
/* A nested map (or NULL when absent). */
mp_status mp_get_map(mp_getter *g, const char *key, bool required, const mp_node **out);

/* Error for every key of the map not in `known` (NULL-terminated), with a
 * suggestion when one is close. */
mp_status mp_doc_check_keys(const mp_doc *doc, const mp_node *map, const char *const *known, const char *what,
                            mp_error *err);

/* Error located at node v of doc. */
mp_status mp_doc_error(const mp_doc *doc, const mp_node *v, mp_error *err, const char *fmt, ...) MP_PRINTF(4, 5);

#endif
