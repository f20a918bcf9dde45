#include "moeplan/doc.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Documents here are small configuration files; a cap keeps a runaway input
 * (or /dev/zero) from eating memory. */
#define MP_DOC_MAX_BYTES (16u << 20)
#define MP_DOC_MAX_DEPTH 64
#define MP_DOC_MAX_NODES 1000000 /* a HF config.json has a few hundred */

static void node_free(mp_node *n)
{
    if (!n)
        return;
    free(n->text);
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            free(n->keys[i]);
        node_free(n->vals[i]);
    }
    free(n->keys);
    free(n->key_line);
    free(n->key_col);
    free(n->vals);
    free(n);
}

void mp_doc_free(mp_doc *doc)
{
    if (doc) {
        node_free(doc->root);
        doc->root = NULL;
    }
}

mp_status mp_doc_error(const mp_doc *doc, const mp_node *v, mp_error *err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mp_error_set(err, MP_ERR_INPUT, doc->path, v ? v->line : 1, v ? v->col : 1, "%s", msg);
}

typedef struct {
    yaml_parser_t parser;
    const char *path;
    mp_error *err;
    const char *text;
    size_t len;
    long nodes;
} parse_ctx;

static mp_status parser_fail(parse_ctx *c)
{
    yaml_parser_t *p = &c->parser;
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    if (p->error == YAML_READER_ERROR) {
        /* libyaml's reader (bad UTF-8, control characters) gives a byte
         * offset, not a mark: count lines and characters up to it. */
        line = 1;
        col = 1;
        for (size_t i = 0; i < p->problem_offset && i < c->len; i++) {
            unsigned char ch = (unsigned char)c->text[i];
            if (ch == '\n') {
                line++;
                col = 1;
            } else if ((ch & 0xC0) != 0x80) {
                col++;
            }
        }
        return mp_error_set(c->err, MP_ERR_INPUT, c->path, line, col, "%s (byte 0x%02X)",
                            p->problem ? p->problem : "invalid character", (unsigned)(p->problem_value & 0xFF));
    }
    const char *what = p->problem ? p->problem : "malformed document";
    if (p->context)
        return mp_error_set(c->err, MP_ERR_INPUT, c->path, line, col, "%s %s", what, p->context);
    return mp_error_set(c->err, MP_ERR_INPUT, c->path, line, col, "%s", what);
}

static mp_status next_event(parse_ctx *c, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&c->parser, ev))
        return parser_fail(c);
    return MP_OK;
}

static mp_node *new_node(mp_node_kind k, const yaml_event_t *ev)
{
    mp_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = k;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    return n;
}

/* Append a child; arrays grow by doubling (a list of n items costs O(n)). */
static int push(mp_node *m, size_t *cap, char *key, int kl, int kc, mp_node *v)
{
    if (m->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        mp_node **vals = realloc(m->vals, nc * sizeof *vals);
        if (!vals)
            return -1;
        m->vals = vals;
        if (m->kind == MP_NODE_MAP) {
            char **keys = realloc(m->keys, nc * sizeof *keys);
            if (keys)
                m->keys = keys;
            int *kls = realloc(m->key_line, nc * sizeof *kls);
            if (kls)
                m->key_line = kls;
            int *kcs = realloc(m->key_col, nc * sizeof *kcs);
            if (kcs)
                m->key_col = kcs;
            if (!keys || !kls || !kcs)
                return -1;
        }
        *cap = nc;
    }
    if (m->kind == MP_NODE_MAP) {
        m->keys[m->n] = key;
        m->key_line[m->n] = kl;
        m->key_col[m->n] = kc;
    }
    m->vals[m->n] = v;
    m->n++;
    return 0;
}

static mp_status parse_node(parse_ctx *c, yaml_event_t *ev, int depth, mp_node **out);

/* The tag of a scalar, mapping or sequence event, or NULL. */
static const char *event_tag(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT: return (const char *)ev->data.scalar.tag;
    case YAML_MAPPING_START_EVENT: return (const char *)ev->data.mapping_start.tag;
    case YAML_SEQUENCE_START_EVENT: return (const char *)ev->data.sequence_start.tag;
    default: return NULL;
    }
}

/* Every value's type is the key's (moeplan(5)), so a YAML tag could only
 * be ignored -- "!!str 16" read as the number 16 -- or contradict it;
 * either way the file would not mean what it says.  Refuse any explicit
 * tag, shown as written: libyaml expands "!!" to "tag:yaml.org,2002:". */
static mp_status refuse_tag(parse_ctx *c, const yaml_event_t *ev)
{
    const char *tag = event_tag(ev);
    if (!tag)
        return MP_OK;
    static const char core[] = "tag:yaml.org,2002:";
    bool is_core = strncmp(tag, core, sizeof core - 1) == 0;
    return mp_error_set(c->err, MP_ERR_INPUT, c->path, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                        "YAML tag '%s%s' is not accepted: each key has its own type (see moeplan(5)); remove the tag",
                        is_core ? "!!" : "", is_core ? tag + sizeof core - 1 : tag);
}

static const mp_node *sort_map; /* qsort has no context argument in C17 */
static int cmp_key_index(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int r = strcmp(sort_map->keys[i], sort_map->keys[j]);
    return r ? r : (i < j ? -1 : i > j);
}

/* A key given twice is an error at its second place.  Sorting the key
 * indices makes this O(n log n), so a file with many keys stays fast. */
static mp_status check_duplicates(parse_ctx *c, const mp_node *m)
{
    if (m->n < 2)
        return MP_OK;
    size_t *idx = malloc(m->n * sizeof *idx);
    if (!idx)
        return mp_error_set(c->err, MP_ERR_NOMEM, c->path, 0, 0, "out of memory");
    for (size_t i = 0; i < m->n; i++)
        idx[i] = i;
    sort_map = m;
    qsort(idx, m->n, sizeof *idx, cmp_key_index);
    size_t first = 0, second = 0;
    bool dup = false;
    for (size_t i = 1; i < m->n; i++) {
        if (strcmp(m->keys[idx[i - 1]], m->keys[idx[i]]) == 0 && (!dup || idx[i] < second)) {
            first = idx[i - 1];
            second = idx[i];
            dup = true;
        }
    }
    free(idx);
    if (dup)
        return mp_error_set(c->err, MP_ERR_INPUT, c->path, m->key_line[second], m->key_col[second],
                            "key '%s' appears twice (first at line %d)", m->keys[second], m->key_line[first]);
    return MP_OK;
}

static mp_status parse_children(parse_ctx *c, mp_node *n, int depth)
{
    size_t cap = 0;
    for (;;) {
        yaml_event_t ev;
        mp_status st = next_event(c, &ev);
        if (st)
            return st;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return n->kind == MP_NODE_MAP ? check_duplicates(c, n) : MP_OK;
        }
        char *key = NULL;
        int kl = 0, kc = 0;
        if (n->kind == MP_NODE_MAP) {
            if (ev.type != YAML_SCALAR_EVENT) {
                st = mp_error_set(c->err, MP_ERR_INPUT, c->path, (int)ev.start_mark.line + 1,
                                  (int)ev.start_mark.column + 1, "keys must be plain words");
                yaml_event_delete(&ev);
                return st;
            }
            if ((st = refuse_tag(c, &ev))) {
                yaml_event_delete(&ev);
                return st;
            }
            key = strdup((const char *)ev.data.scalar.value);
            kl = (int)ev.start_mark.line + 1;
            kc = (int)ev.start_mark.column + 1;
            yaml_event_delete(&ev);
            if (!key)
                return mp_error_set(c->err, MP_ERR_NOMEM, c->path, 0, 0, "out of memory");
            st = next_event(c, &ev);
            if (st) {
                free(key);
                return st;
            }
        }
        mp_node *child = NULL;
        st = parse_node(c, &ev, depth + 1, &child);
        yaml_event_delete(&ev);
        if (st) {
            free(key);
            return st;
        }
        if (push(n, &cap, key, kl, kc, child)) {
            free(key);
            node_free(child);
            return mp_error_set(c->err, MP_ERR_NOMEM, c->path, 0, 0, "out of memory");
        }
    }
}

static mp_status parse_node(parse_ctx *c, yaml_event_t *ev, int depth, mp_node **out)
{
    if (depth > MP_DOC_MAX_DEPTH)
        return mp_error_set(c->err, MP_ERR_INPUT, c->path, (int)ev->start_mark.line + 1,
                            (int)ev->start_mark.column + 1, "nesting deeper than %d levels", MP_DOC_MAX_DEPTH);
    mp_node *n = NULL;
    mp_status tst = refuse_tag(c, ev);
    if (tst)
        return tst;
    if (++c->nodes > MP_DOC_MAX_NODES)
        return mp_error_set(c->err, MP_ERR_INPUT, c->path, (int)ev->start_mark.line + 1,
                            (int)ev->start_mark.column + 1,
                            "more than %d values in one file; not a configuration file?", MP_DOC_MAX_NODES);
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = new_node(MP_NODE_SCALAR, ev);
        if (!n || !(n->text = strdup((const char *)ev->data.scalar.value))) {
            free(n);
            return mp_error_set(c->err, MP_ERR_NOMEM, c->path, 0, 0, "out of memory");
        }
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        *out = n;
        return MP_OK;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT: {
        n = new_node(ev->type == YAML_MAPPING_START_EVENT ? MP_NODE_MAP : MP_NODE_SEQ, ev);
        if (!n)
            return mp_error_set(c->err, MP_ERR_NOMEM, c->path, 0, 0, "out of memory");
        mp_status st = parse_children(c, n, depth);
        if (st) {
            node_free(n);
            return st;
        }
        *out = n;
        return MP_OK;
    }
    case YAML_ALIAS_EVENT:
        return mp_error_set(c->err, MP_ERR_INPUT, c->path, (int)ev->start_mark.line + 1,
                            (int)ev->start_mark.column + 1, "YAML aliases (*name) are not supported here");
    default:
        return mp_error_set(c->err, MP_ERR_INTERNAL, c->path, (int)ev->start_mark.line + 1,
                            (int)ev->start_mark.column + 1, "unexpected YAML event %d", (int)ev->type);
    }
}

/* list_ok: the top level may be a sequence (a runs file) as well as a map. */
static mp_status load_string(mp_doc *doc, const char *name, const char *text, size_t len, bool list_ok, mp_error *err)
{
    memset(doc, 0, sizeof *doc);
    snprintf(doc->path, sizeof doc->path, "%s", name);
    parse_ctx c = {.path = doc->path, .err = err, .text = text, .len = len};
    if (!yaml_parser_initialize(&c.parser))
        return mp_error_set(err, MP_ERR_NOMEM, name, 0, 0, "out of memory");
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)text, len);
    mp_status st = MP_OK;
    yaml_event_t ev;
    mp_node *root = NULL;
    bool in_doc = false;
    for (;;) {
        if ((st = next_event(&c, &ev)))
            break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_DOCUMENT_START_EVENT) {
            if (root) {
                st = mp_error_set(err, MP_ERR_INPUT, name, (int)ev.start_mark.line + 1,
                                  (int)ev.start_mark.column + 1, "only one document per file is allowed");
                yaml_event_delete(&ev);
                break;
            }
            in_doc = true;
        } else if (in_doc && t != YAML_DOCUMENT_END_EVENT && t != YAML_STREAM_START_EVENT) {
            st = parse_node(&c, &ev, 0, &root);
            if (!st && root->kind != MP_NODE_MAP && !(list_ok && root->kind == MP_NODE_SEQ))
                st = mp_error_set(err, MP_ERR_INPUT, name, root->line, root->col,
                                  "expected a mapping of keys to values at the top level");
        }
        yaml_event_delete(&ev);
        if (st)
            break;
    }
    yaml_parser_delete(&c.parser);
    if (!st && !root)
        st = mp_error_set(err, MP_ERR_INPUT, name, 1, 1, "the file is empty; expected a mapping of keys to values");
    if (st) {
        node_free(root);
        return st;
    }
    doc->root = root;
    return MP_OK;
}

mp_status mp_doc_load_string(mp_doc *doc, const char *name, const char *text, size_t len, mp_error *err)
{
    return load_string(doc, name, text, len, false, err);
}

static mp_status load_file(mp_doc *doc, const char *path, bool list_ok, mp_error *err)
{
    memset(doc, 0, sizeof *doc);
    if (!path[0]) /* "--model ''": no name to put before the message */
        return mp_error_set(err, MP_ERR_INPUT, NULL, 0, 0, "an empty file name was given for an input file");
    FILE *f = fopen(path, "rb");
    if (!f)
        return mp_error_set(err, MP_ERR_IO, path, 0, 0, "cannot open: %s", strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    mp_status st = MP_OK;
    while (buf) {
        if (len + 1 >= cap) {
            if (cap > MP_DOC_MAX_BYTES) {
                st = mp_error_set(err, MP_ERR_INPUT, path, 0, 0, "file is larger than %u MiB; not a configuration file?",
                                  MP_DOC_MAX_BYTES >> 20);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (len > MP_DOC_MAX_BYTES) {
            st = mp_error_set(err, MP_ERR_INPUT, path, 0, 0, "file is larger than %u MiB; not a configuration file?",
                              MP_DOC_MAX_BYTES >> 20);
            break;
        }
        if (got == 0) {
            if (ferror(f))
                st = mp_error_set(err, MP_ERR_IO, path, 0, 0, "read error: %s", strerror(errno));
            break;
        }
    }
    fclose(f);
    if (!buf)
        return mp_error_set(err, MP_ERR_NOMEM, path, 0, 0, "out of memory");
    if (st) {
        free(buf);
        return st;
    }
    buf[len] = 0;
    if (memchr(buf, 0, len)) {
        free(buf);
        return mp_error_set(err, MP_ERR_INPUT, path, 1, 1, "file contains NUL bytes; expected YAML or JSON text");
    }
    size_t pl = strlen(path);
    if (pl >= 5 && strcmp(path + pl - 5, ".json") == 0) {
        /* Tabs outside strings are JSON whitespace; inside strings JSON
         * requires \t, so every raw tab is whitespace and a space keeps the
         * column count. */
        for (size_t i = 0; i < len; i++)
            if (buf[i] == '\t')
                buf[i] = ' ';
    }
    st = load_string(doc, path, buf, len, list_ok, err);
    free(buf);
    return st;
}

mp_status mp_doc_load_file(mp_doc *doc, const char *path, mp_error *err)
{
    return load_file(doc, path, false, err);
}

mp_status mp_doc_load_list_file(mp_doc *doc, const char *path, mp_error *err)
{
    return load_file(doc, path, true, err);
}

const mp_node *mp_node_get(const mp_node *m, const char *key, size_t *idx)
{
    if (!m || m->kind != MP_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->keys[i], key) == 0) {
            if (idx)
                *idx = i;
            return m->vals[i];
        }
    }
    return NULL;
}

bool mp_node_is_null(const mp_node *v)
{
    return v && v->kind == MP_NODE_SCALAR && !v->quoted &&
           (strcmp(v->text, "null") == 0 || strcmp(v->text, "~") == 0 || v->text[0] == 0);
}

const mp_node *mp_node_given(const mp_node *m, const char *key)
{
    const mp_node *v = mp_node_get(m, key, NULL);
    return v && !mp_node_is_null(v) ? v : NULL;
}

static const char *kind_name(const mp_node *v)
{
    switch (v->kind) {
    case MP_NODE_MAP: return "a mapping";
    case MP_NODE_SEQ: return "a list";
    case MP_NODE_SCALAR: return "a scalar";
    }
    return "?";
}

/* Locate the value; handle absent / required / null uniformly. Returns 1 when
 * a value is present and must be converted. */
static int locate(mp_getter *g, const char *key, bool required, const mp_node **v, bool *found, mp_status *st)
{
    *st = MP_OK;
    if (found)
        *found = false;
    *v = mp_node_get(g->map, key, NULL);
    if (!*v || mp_node_is_null(*v)) {
        if (required && *v) /* there, but null: "missing" would read as wrong */
            *st = mp_doc_error(g->doc, *v, g->err, "'%s' is null, and a value is required here", key);
        else if (required)
            *st = mp_doc_error(g->doc, g->map, g->err, "missing required key '%s'", key);
        return 0;
    }
    return 1;
}

static mp_status need_scalar(mp_getter *g, const char *key, const mp_node *v, const char *expected)
{
    if (v->kind != MP_NODE_SCALAR)
        return mp_doc_error(g->doc, v, g->err, "'%s' must be %s, not %s", key, expected, kind_name(v));
    return MP_OK;
}

/* A quoted scalar is a string in YAML and JSON, whatever it spells: say
 * that, since "must be a whole number, got '1024'" alone reads as nonsense. */
static mp_status quoted_number(mp_getter *g, const char *key, const mp_node *v, const char *expected,
                               const char *what)
{
    return mp_doc_error(g->doc, v, g->err, "'%s' must be %s, got '%s' in quotes: a string, not a %s (remove the quotes)",
                        key, expected, v->text, what);
}

/* Whether t spells a number as 0x..., with a leading zero (0400) or with _
 * (1_000): YAML 1.1 and C read those otherwise, so they are refused. */
static bool loose_whole(const char *t)
{
    if (t[0] == '-' || t[0] == '+')
        t++;
    return t[0] >= '0' && t[0] <= '9' &&
           (strchr(t, '_') || (t[0] == '0' && (t[1] == 'x' || t[1] == 'X' || (t[1] >= '0' && t[1] <= '9'))));
}

mp_status mp_node_int(const mp_doc *doc, const mp_node *v, const char *what, long min, long max, long *out,
                      mp_error *err)
{
    if (v->kind != MP_NODE_SCALAR)
        return mp_doc_error(doc, v, err, "%s must be a whole number, not %s", what, kind_name(v));
    errno = 0;
    char *end;
    if (loose_whole(v->text))
        return mp_doc_error(doc, v, err, "%s must be a plain decimal whole number (no 0x, leading zeros or _), got '%s'",
                            what, v->text);
    if (v->quoted)
        return mp_doc_error(doc, v, err,
                            "%s must be a whole number, got '%s' in quotes: a string, not a number (remove the quotes)",
                            what, v->text);
    long x = strtol(v->text, &end, 10);
    if (end == v->text || *end || errno == ERANGE) {
        /* Accept integral floats such as 1e5 written by some config writers. */
        double d = strtod(v->text, &end);
        if (end == v->text || *end || d != floor(d) || fabs(d) > 9e15)
            return mp_doc_error(doc, v, err, "%s must be a whole number, got '%s'", what, v->text);
        x = (long)d;
    }
    if (x < min || x > max)
        return mp_doc_error(doc, v, err, "%s is %ld; expected a whole number from %ld to %ld", what, x, min, max);
    *out = x;
    return MP_OK;
}

mp_status mp_node_whole_spelling(const mp_doc *doc, const mp_node *v, const char *what, const char *expected,
                                 mp_error *err)
{
    if (v->kind != MP_NODE_SCALAR)
        return MP_OK;
    if (v->quoted)
        return mp_doc_error(doc, v, err, "%s must be %s, got '%s' in quotes: a string, not a number (remove the quotes)",
                            what, expected, v->text);
    /* Each number in the text: a run of digits not preceded by one. */
    for (const char *t = v->text; *t; t++) {
        if (*t >= '0' && *t <= '9' && (t == v->text || !(t[-1] >= '0' && t[-1] <= '9')) && loose_whole(t))
            return mp_doc_error(doc, v, err, "%s must be %s in plain decimal (no 0x, leading zeros or _), got '%s'",
                                what, expected, v->text);
    }
    return MP_OK;
}

mp_status mp_get_int(mp_getter *g, const char *key, bool required, long min, long max, long *out, bool *found)
{
    const mp_node *v;
    mp_status st;
    if (!locate(g, key, required, &v, found, &st))
        return st;
    char what[160];
    snprintf(what, sizeof what, "'%s'", key);
    long x;
    if ((st = mp_node_int(g->doc, v, what, min, max, &x, g->err)))
        return st;
    *out = x;
    if (found)
        *found = true;
    return MP_OK;
}

mp_status mp_get_double(mp_getter *g, const char *key, bool required, double min, double max, double *out, bool *found)
{
    const mp_node *v;
    mp_status st;
    if (!locate(g, key, required, &v, found, &st))
        return st;
    if ((st = need_scalar(g, key, v, "a number")))
        return st;
    if (v->quoted)
        return quoted_number(g, key, v, "a number", "number");
    double x;
    const char *why_not;
    size_t nl = mp_parse_decimal(v->text, &x, &why_not);
    if (!nl && strcmp(why_not, "is not a number"))
        return mp_doc_error(g->doc, v, g->err, "'%s' must be a decimal number, got '%s', which %s", key, v->text, why_not);
    if (!nl || v->text[nl])
        return mp_doc_error(g->doc, v, g->err, "'%s' must be a number, got '%s'", key, v->text);
    if (x < min || x > max)
        return mp_doc_error(g->doc, v, g->err, "'%s' is %g; expected a number from %g to %g", key, x, min, max);
    *out = x;
    if (found)
        *found = true;
    return MP_OK;
}

mp_status mp_get_quantity(mp_getter *g, const char *key, bool required, mp_unit_kind kind, double min, double max,
                          double *out, bool *found)
{
    const mp_node *v;
    mp_status st;
    if (!locate(g, key, required, &v, found, &st))
        return st;
    if ((st = need_scalar(g, key, v, "a quantity with a unit")))
        return st;
    double x;
    char why[256];
    if (!mp_parse_quantity(v->text, kind, &x, why, sizeof why))
        return mp_doc_error(g->doc, v, g->err, "'%s': %s", key, why);
    if (!(x >= min && x <= max)) {
        /* The key's own range, once: the generic "(0, 1]" of
         * mp_unit_examples would contradict it (min_headroom is 0-0.99). */
        if (kind == MP_UNIT_FRACTION)
            return mp_doc_error(g->doc, v, g->err,
                                "'%s' is '%s'; expected a fraction from %g to %g (%g%% to %g%%)", key, v->text, min,
                                max, min * 100, max * 100);
        return mp_doc_error(g->doc, v, g->err, "'%s' is '%s'; expected a value from %g to %g in base units (%s)", key,
                            v->text, min, max, mp_unit_examples(kind));
    }
    *out = x;
    if (found)
        *found = true;
    return MP_OK;
}

mp_status mp_get_bool(mp_getter *g, const char *key, bool required, bool *out, bool *found)
{
    const mp_node *v;
    mp_status st;
    if (!locate(g, key, required, &v, found, &st))
        return st;
    if ((st = need_scalar(g, key, v, "true or false")))
        return st;
    const char *t = v->text;
    if (!v->quoted && (!strcmp(t, "true") || !strcmp(t, "True") || !strcmp(t, "yes") || !strcmp(t, "on")))
        *out = true;
    else if (!v->quoted && (!strcmp(t, "false") || !strcmp(t, "False") || !strcmp(t, "no") || !strcmp(t, "off")))
        *out = false;
    else if (v->quoted && (!strcmp(t, "true") || !strcmp(t, "false")))
        return mp_doc_error(g->doc, v, g->err,
                            "'%s' must be true or false, got '%s' in quotes: a string, not a boolean (remove the quotes)",
                            key, t);
    else
        return mp_doc_error(g->doc, v, g->err, "'%s' must be true or false, got '%s'", key, t);
    if (found)
        *found = true;
    return MP_OK;
}

mp_status mp_get_string(mp_getter *g, const char *key, bool required, char *out, size_t len, bool *found)
{
    const mp_node *v;
    mp_status st;
    if (!locate(g, key, required, &v, found, &st))
        return st;
    if ((st = need_scalar(g, key, v, "a string")))
        return st;
    if (strlen(v->text) >= len)
        return mp_doc_error(g->doc, v, g->err, "'%s' is longer than %zu characters", key, len - 1);
    snprintf(out, len, "%s", v->text);
    if (found)
        *found = true;
    return MP_OK;
}

mp_status mp_get_enum(mp_getter *g, const char *key, bool required, const char *const *choices, int *out, bool *found)
{
    const mp_node *v;
    mp_status st;
    if (!locate(g, key, required, &v, found, &st))
        return st;
    size_t n = 0;
    char list[512] = "";
    for (; choices[n]; n++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", n ? ", " : "", choices[n]);
    }
    if ((st = need_scalar(g, key, v, "one of the listed words")))
        return st;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v->text, choices[i]) == 0) {
            *out = (int)i;
            if (found)
                *found = true;
            return MP_OK;
        }
    }
    const char *dym = mp_did_you_mean(v->text, choices, n);
    if (dym)
        return mp_doc_error(g->doc, v, g->err, "'%s' is '%s'; expected one of %s (did you mean '%s'?)", key, v->text,
                            list, dym);
    return mp_doc_error(g->doc, v, g->err, "'%s' is '%s'; expected one of %s", key, v->text, list);
}

mp_status mp_get_map(mp_getter *g, const char *key, bool required, const mp_node **out)
{
    const mp_node *v;
    mp_status st;
    *out = NULL;
    if (!locate(g, key, required, &v, NULL, &st))
        return st;
    if (v->kind != MP_NODE_MAP)
        return mp_doc_error(g->doc, v, g->err, "'%s' must be a mapping of keys to values, not %s", key, kind_name(v));
    *out = v;
    return MP_OK;
}

/* Whether key has `word` as one of its '_'-separated parts. */
static bool has_part(const char *key, const char *word, size_t wl)
{
    for (const char *p = key; *p;) {
        const char *e = strchr(p, '_');
        size_t pl = e ? (size_t)(e - p) : strlen(p);
        if (pl == wl && strncmp(p, word, wl) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

/* An unknown key no spelling is near ("biases") may still name a part of
 * known ones ("qkv_bias", "mlp_bias"): the known keys that have one of its
 * '_'-separated words (4 letters or more, a plural -s or -es dropped) as a
 * part, up to six, comma-separated into buf; false when none. */
static bool keys_sharing_a_word(const char *unknown, const char *const *known, size_t n, char *word_out,
                                size_t word_len, char *buf, size_t len)
{
    buf[0] = 0;
    for (const char *p = unknown; *p;) {
        const char *e = strchr(p, '_');
        size_t wl = e ? (size_t)(e - p) : strlen(p);
        char w[64];
        if (wl >= 4 && wl < sizeof w) {
            memcpy(w, p, wl);
            w[wl] = 0;
            size_t tries[3] = {wl, 0, 0};
            int nt = 1;
            if (wl > 4 && w[wl - 1] == 's')
                tries[nt++] = wl - 1;
            if (wl > 5 && w[wl - 1] == 's' && w[wl - 2] == 'e')
                tries[nt++] = wl - 2;
            for (int t = 0; t < nt; t++) {
                size_t used = 0, shown = 0;
                for (size_t j = 0; j < n && shown < 6; j++) {
                    if (!has_part(known[j], w, tries[t]))
                        continue;
                    int k = snprintf(buf + used, len - used, "%s'%s'", shown ? ", " : "", known[j]);
                    if (k < 0 || (size_t)k >= len - used)
                        break;
                    used += (size_t)k;
                    shown++;
                }
                if (shown) {
                    snprintf(word_out, word_len, "%.*s", (int)tries[t], w);
                    return true;
                }
            }
        }
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

mp_status mp_doc_check_keys(const mp_doc *doc, const mp_node *map, const char *const *known, const char *what,
                            mp_error *err)
{
    size_t n = 0;
    while (known[n])
        n++;
    for (size_t i = 0; i < map->n; i++) {
        bool ok = false;
        for (size_t j = 0; j < n && !ok; j++)
            ok = strcmp(map->keys[i], known[j]) == 0;
        if (ok)
            continue;
        const char *dym = mp_did_you_mean(map->keys[i], known, n);
        if (dym)
            return mp_error_set(err, MP_ERR_INPUT, doc->path, map->key_line[i], map->key_col[i],
                                "unknown key '%s' in %s (did you mean '%s'?)", map->keys[i], what, dym);
        char word[64], list[400];
        if (keys_sharing_a_word(map->keys[i], known, n, word, sizeof word, list, sizeof list))
            return mp_error_set(err, MP_ERR_INPUT, doc->path, map->key_line[i], map->key_col[i],
                                "unknown key '%s' in %s; the keys with '%s' in them: %s (moeplan(5))",
                                map->keys[i], what, word, list);
        return mp_error_set(err, MP_ERR_INPUT, doc->path, map->key_line[i], map->key_col[i],
                            "unknown key '%s' in %s; see moeplan(5) for the keys it takes", map->keys[i], what);
    }
    return MP_OK;
}
