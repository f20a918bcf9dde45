/* Unit tests: YAML/JSON documents with positions (doc.h).
 *
 * Every expected line:col below is counted by hand from the document text
 * shown beside it, 1-based, a tab counting as one column.  Scalars and keys
 * are located at their first character (the opening quote for a quoted
 * one); a block mapping starts at its first key; a flow collection at its
 * bracket.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moeplan/doc.h"

#include "check_main.h"

static mp_status load(mp_doc *d, const char *text, mp_error *e)
{
    memset(e, 0, sizeof *e);
    return mp_doc_load_string(d, "t.yaml", text, strlen(text), e);
}

#define ck_assert_err_at(E, LINE, COL, FRAGMENT)                                                          \
    do {                                                                                                  \
        ck_assert_msg((E).line == (LINE) && (E).col == (COL), "error at %d:%d, expected %d:%d (msg: %s)", \
                      (E).line, (E).col, (LINE), (COL), (E).msg);                                         \
        ck_assert_msg(strstr((E).msg, (FRAGMENT)) != NULL, "message '%s' lacks '%s'", (E).msg, (FRAGMENT)); \
    } while (0)

/* Write `len` bytes to dir/name; the path goes to out. */
static void write_file(char *out, size_t outlen, const char *dir, const char *name, const char *text, size_t len)
{
    snprintf(out, outlen, "%s/%s", dir, name);
    FILE *f = fopen(out, "wb");
    ck_assert_msg(f != NULL, "cannot create %s: %s", out, strerror(errno));
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static char tmpdir[256];

static void make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/moeplan-test-doc-XXXXXX", base && base[0] ? base : "/tmp");
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void remove_tmpdir(const char *const *names, size_t n)
{
    char p[512];
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

/* ------------------------------------------------------------- positions */

/*           1234567890
 * line 1:   name: seed
 * line 2:   layers: 16
 * line 3:   nested:
 * line 4:     a: 1
 * line 5:     b: [1, 'two']
 */
static const char *const POS_DOC = "name: seed\nlayers: 16\nnested:\n  a: 1\n  b: [1, 'two']\n";

START_TEST(test_positions)
{
    mp_doc d;
    mp_error e;
    ck_assert_int_eq(load(&d, POS_DOC, &e), MP_OK);
    const mp_node *r = d.root;
    ck_assert_int_eq(r->kind, MP_NODE_MAP);
    ck_assert_uint_eq(r->n, 3);
    ck_assert_int_eq(r->line, 1);
    ck_assert_int_eq(r->col, 1);
    /* keys at column 1 of lines 1-3 */
    ck_assert_str_eq(r->keys[0], "name");
    ck_assert_int_eq(r->key_line[0], 1);
    ck_assert_int_eq(r->key_col[0], 1);
    ck_assert_str_eq(r->keys[1], "layers");
    ck_assert_int_eq(r->key_line[1], 2);
    ck_assert_int_eq(r->key_col[1], 1);
    ck_assert_int_eq(r->key_line[2], 3);
    /* "name: " is 6 characters: the value starts at column 7 */
    size_t idx = 99;
    const mp_node *v = mp_node_get(r, "name", &idx);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(idx, 0);
    ck_assert_str_eq(v->text, "seed");
    ck_assert_int_eq(v->line, 1);
    ck_assert_int_eq(v->col, 7);
    ck_assert(!v->quoted);
    /* "layers: " is 8 characters: column 9 */
    v = mp_node_get(r, "layers", &idx);
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(v->line, 2);
    ck_assert_int_eq(v->col, 9);
    /* the nested block mapping starts at its first key, "a" at 4:3 */
    const mp_node *n = mp_node_get(r, "nested", NULL);
    ck_assert_int_eq(n->kind, MP_NODE_MAP);
    ck_assert_int_eq(n->line, 4);
    ck_assert_int_eq(n->col, 3);
    ck_assert_int_eq(n->key_line[0], 4);
    ck_assert_int_eq(n->key_col[0], 3);
    /* "  a: " is 5 characters: value at 4:6 */
    ck_assert_int_eq(n->vals[0]->line, 4);
    ck_assert_int_eq(n->vals[0]->col, 6);
    /* "  b: " is 5 characters: the flow list '[' at 5:6, items at 5:7 and
     * 5:10 ("[1, " is 4 characters, so 'two' begins at 6 + 4 = 10) */
    const mp_node *b = mp_node_get(n, "b", NULL);
    ck_assert_int_eq(b->kind, MP_NODE_SEQ);
    ck_assert_int_eq(b->line, 5);
    ck_assert_int_eq(b->col, 6);
    ck_assert_uint_eq(b->n, 2);
    ck_assert_int_eq(b->vals[0]->col, 7);
    ck_assert_int_eq(b->vals[1]->col, 10);
    ck_assert_str_eq(b->vals[1]->text, "two");
    ck_assert(b->vals[1]->quoted);
    ck_assert_ptr_null(mp_node_get(r, "absent", NULL));
    mp_doc_free(&d);
}
END_TEST

/* JSON read as YAML flow style (doc.h).
 *            1234567890123
 * line 1:    {"a": 1,
 * line 2:     "b": {"c": true}}
 */
START_TEST(test_json_string_positions)
{
    mp_doc d;
    mp_error e;
    ck_assert_int_eq(load(&d, "{\"a\": 1,\n \"b\": {\"c\": true}}\n", &e), MP_OK);
    const mp_node *r = d.root;
    ck_assert_int_eq(r->key_line[0], 1);
    ck_assert_int_eq(r->key_col[0], 2);     /* the quote after '{' */
    ck_assert_int_eq(r->vals[0]->col, 7);   /* '{"a": ' is 6 characters */
    ck_assert_int_eq(r->key_line[1], 2);
    ck_assert_int_eq(r->key_col[1], 2);     /* one blank, then the quote */
    const mp_node *b = r->vals[1];
    ck_assert_int_eq(b->kind, MP_NODE_MAP);
    ck_assert_int_eq(b->col, 7);            /* ' "b": ' is 6 characters */
    ck_assert_int_eq(b->key_col[0], 8);
    ck_assert_int_eq(b->vals[0]->col, 13);  /* ' "b": {"c": ' is 12 characters */
    ck_assert_str_eq(b->vals[0]->text, "true");
    mp_doc_free(&d);
}
END_TEST

START_TEST(test_null_values)
{
    /* "~", "null" and an empty value are null; a quoted "null" is a string. */
    mp_doc d;
    mp_error e;
    ck_assert_int_eq(load(&d, "a: ~\nb: null\nc:\nd: 'null'\ne: 0\n", &e), MP_OK);
    ck_assert(mp_node_is_null(mp_node_get(d.root, "a", NULL)));
    ck_assert(mp_node_is_null(mp_node_get(d.root, "b", NULL)));
    ck_assert(mp_node_is_null(mp_node_get(d.root, "c", NULL)));
    ck_assert(!mp_node_is_null(mp_node_get(d.root, "d", NULL)));
    ck_assert(!mp_node_is_null(mp_node_get(d.root, "e", NULL)));
    ck_assert(!mp_node_is_null(NULL));
    mp_doc_free(&d);
}
END_TEST

/* ------------------------------------------------- document-level errors */

typedef struct {
    const char *text;
    int line, col;
    const char *msg;
    const char *why;
} doc_err_case;

static const doc_err_case doc_err_cases[] = {
    {"a: 1\nb: 2\na: 3\n", 3, 1, "key 'a' appears twice (first at line 1)", "second 'a' starts line 3"},
    {"top:\n  x: 1\n  x: 2\n", 3, 3, "key 'x' appears twice (first at line 2)", "nested duplicate, indented 2"},
    {"a: &anchor 1\nb: *anchor\n", 2, 4, "YAML aliases (*name) are not supported here", "'b: ' is 3 chars"},
    {"", 1, 1, "the file is empty; expected a mapping of keys to values", "nothing at all"},
    {"# only a comment\n\n", 1, 1, "the file is empty", "comments are not content"},
    {"- a\n- b\n", 1, 1, "expected a mapping of keys to values at the top level", "a list at 1:1"},
    {"hello\n", 1, 1, "expected a mapping of keys to values at the top level", "a scalar at 1:1"},
    {"\n\n[1, 2]\n", 3, 1, "expected a mapping of keys to values at the top level", "a flow list on line 3"},
    {"a: 1\n---\nb: 2\n", 2, 1, "only one document per file is allowed", "the '---' on line 2"},
    {"a:\n\tb: 1\n", 2, 1, "", "YAML forbids a tab as indentation: the tab at 2:1"},
    {"? [1, 2]\n: x\n", 1, 3, "keys must be plain words", "'? ' is 2 chars: the flow key at 1:3"},
    /* Tags are refused where they are written, named as written (libyaml
     * expands !! to tag:yaml.org,2002:), never ignored. */
    {"a: 1\nlayers: !!str 16\n", 2, 9,
     "YAML tag '!!str' is not accepted: each key has its own type (see moeplan(5)); remove the tag",
     "'layers: ' is 8 chars: the tag at 2:9"},
    {"name: !custom x\n", 1, 7, "YAML tag '!custom' is not accepted", "'name: ' is 6 chars"},
    {"a: !!map\n  b: 1\n", 1, 4, "YAML tag '!!map' is not accepted", "a tagged mapping, at its tag"},
    {"a: [1, !!int 2]\n", 1, 8, "YAML tag '!!int' is not accepted", "'a: [1, ' is 7 chars"},
    {"!!str k: 1\n", 1, 1, "YAML tag '!!str' is not accepted", "a tagged key"},
    {"a: ! 1\n", 1, 4, "YAML tag '!' is not accepted", "the non-specific tag"},
};

START_TEST(test_doc_errors)
{
    const doc_err_case *c = &doc_err_cases[_i];
    mp_doc d;
    mp_error e;
    mp_status st = load(&d, c->text, &e);
    ck_assert_msg(st == MP_ERR_INPUT, "case %d (%s): status %d", _i, c->why, st);
    ck_assert_str_eq(e.file, "t.yaml");
    ck_assert_err_at(e, c->line, c->col, c->msg);
    ck_assert_ptr_null(d.root);
}
END_TEST

/* Nesting is capped at 64 levels (doc.c).  "a: " then 70 '[': the root
 * map is depth 0 and the k-th '[' is depth k, at column 3 + k; depth 65 is
 * the first one refused, at column 68. */
START_TEST(test_nesting_cap)
{
    char text[200];
    size_t p = 0;
    p += (size_t)snprintf(text, sizeof text, "a: ");
    for (int i = 0; i < 70; i++)
        text[p++] = '[';
    for (int i = 0; i < 70; i++)
        text[p++] = ']';
    text[p++] = '\n';
    text[p] = 0;
    mp_doc d;
    mp_error e;
    ck_assert_int_eq(load(&d, text, &e), MP_ERR_INPUT);
    ck_assert_err_at(e, 1, 68, "nesting deeper than 64 levels");
}
END_TEST

/* ------------------------------------------------------------- getters */

/*            1234567890123456
 * line 1:    layers: 16
 * line 2:    word: sixteen
 * line 3:    quoted: "16"
 * line 4:    sci: 1e5
 * line 5:    half: 1.5
 * line 6:    zero: 0
 * line 7:    map: {x: 1}
 * line 8:    list: [1]
 * line 9:    nul: ~
 * line 10:   mfu: abc
 * line 11:   inf: inf
 * line 12:   flag: maybe
 * line 13:   yes: yes
 * line 14:   qtrue: "true"
 * line 15:   memory: 64
 * line 16:   mem2: 64 GBs
 * line 17:   mem3: 1 B
 * line 18:   norm: rmsnorn
 * line 19:   norm2: batchnorm
 * line 20:   frac: 60%
 * line 21:   name: a-long-name
 */
static const char *const GET_DOC = "layers: 16\n"
                                   "word: sixteen\n"
                                   "quoted: \"16\"\n"
                                   "sci: 1e5\n"
                                   "half: 1.5\n"
                                   "zero: 0\n"
                                   "map: {x: 1}\n"
                                   "list: [1]\n"
                                   "nul: ~\n"
                                   "mfu: abc\n"
                                   "inf: inf\n"
                                   "flag: maybe\n"
                                   "yes: yes\n"
                                   "qtrue: \"true\"\n"
                                   "memory: 64\n"
                                   "mem2: 64 GBs\n"
                                   "mem3: 1 B\n"
                                   "norm: rmsnorn\n"
                                   "norm2: batchnorm\n"
                                   "frac: 60%\n"
                                   "name: a-long-name\n";

static mp_doc gdoc;
static mp_error gerr;
static mp_getter gg;

static void getters_setup(void)
{
    memset(&gerr, 0, sizeof gerr);
    ck_assert_int_eq(mp_doc_load_string(&gdoc, "g.yaml", GET_DOC, strlen(GET_DOC), &gerr), MP_OK);
    gg = (mp_getter){&gdoc, gdoc.root, &gerr};
}

static void getters_teardown(void)
{
    mp_doc_free(&gdoc);
}

START_TEST(test_get_int_ok)
{
    long v = -1;
    bool found = false;
    ck_assert_int_eq(mp_get_int(&gg, "layers", true, 1, 1024, &v, &found), MP_OK);
    ck_assert_int_eq(v, 16);
    ck_assert(found);
    /* An integral float written in exponent form: 1e5 = 100000. */
    ck_assert_int_eq(mp_get_int(&gg, "sci", true, 1, 1000000, &v, &found), MP_OK);
    ck_assert_int_eq(v, 100000);
    /* Absent and optional: OK, *out untouched, found false. */
    v = 42;
    found = true;
    ck_assert_int_eq(mp_get_int(&gg, "absent", false, 1, 10, &v, &found), MP_OK);
    ck_assert_int_eq(v, 42);
    ck_assert(!found);
    /* Null counts as absent. */
    ck_assert_int_eq(mp_get_int(&gg, "nul", false, 1, 10, &v, &found), MP_OK);
    ck_assert(!found);
}
END_TEST

typedef struct {
    const char *key;
    int line, col;
    const char *msg;
} get_err_case;

/* mp_get_int(key, required=true, min 1, max 1024).  The column of each
 * value is strlen(key) + 3 (key, ':', blank, then the value). */
static const get_err_case int_err_cases[] = {
    {"word", 2, 7, "'word' must be a whole number, got 'sixteen'"},
    /* "16" in quotes is a string, and the message says so (issue 6). */
    {"quoted", 3, 9, "'quoted' must be a whole number, got '16' in quotes: a string, not a number (remove the quotes)"},
    {"half", 5, 7, "'half' must be a whole number, got '1.5'"},
    {"zero", 6, 7, "'zero' is 0; expected a whole number from 1 to 1024"},
    {"map", 7, 6, "'map' must be a whole number, not a mapping"},
    {"list", 8, 7, "'list' must be a whole number, not a list"},
    {"nul", 9, 6, "'nul' is null, and a value is required here"}, /* at the null value */
    {"absent", 1, 1, "missing required key 'absent'"},    /* at the map: its first key, 1:1 */
};

START_TEST(test_get_int_errors)
{
    const get_err_case *c = &int_err_cases[_i];
    long v = 7;
    bool found = true;
    ck_assert_int_eq(mp_get_int(&gg, c->key, true, 1, 1024, &v, &found), MP_ERR_INPUT);
    ck_assert_str_eq(gerr.file, "g.yaml");
    ck_assert_err_at(gerr, c->line, c->col, c->msg);
    ck_assert_int_eq(v, 7);
    ck_assert(!found);
}
END_TEST

START_TEST(test_get_double)
{
    double x = 0;
    ck_assert_int_eq(mp_get_double(&gg, "half", true, 0, 10, &x, NULL), MP_OK);
    ck_assert_double_eq(x, 1.5);
    ck_assert_int_eq(mp_get_double(&gg, "mfu", true, 0, 1, &x, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 10, 6, "'mfu' must be a number, got 'abc'");
    ck_assert_int_eq(mp_get_double(&gg, "inf", true, 0, 1, &x, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 11, 6, "'inf' must be a decimal number, got 'inf', which is not a finite number");
    ck_assert_int_eq(mp_get_double(&gg, "layers", true, 0, 1, &x, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 1, 9, "'layers' is 16; expected a number from 0 to 1");
    ck_assert_int_eq(mp_get_double(&gg, "quoted", true, 0, 100, &x, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 3, 9, "'quoted' must be a number, got '16' in quotes: a string, not a number (remove the quotes)");
}
END_TEST

/* Numbers are plain decimal (moeplan(5), Values): strtod would also take
 * 0x10 (16), and YAML 1.1 reads 010 as octal 8, so both are refused, with
 * the reason.  Decimal forms strtod shares stay: .5, 5., +2, 1e-3. */
START_TEST(test_get_double_decimal_only)
{
    static const char text[] = "hex: 0x10\n"      /* line 1, value at col 6 */
                               "oct: 010\n"       /* line 2 */
                               "nan: nan\n"       /* line 3 */
                               "dot: .5\n"        /* line 4 */
                               "trail: 5.\n"      /* line 5 */
                               "plus: +2\n"       /* line 6 */
                               "exp: 1e-3\n"      /* line 7 */
                               "zero: 0.25\n";    /* line 8: one leading 0 before the point is decimal */
    mp_doc d;
    mp_error e;
    ck_assert_int_eq(mp_doc_load_string(&d, "n.yaml", text, strlen(text), &e), MP_OK);
    mp_getter g = {&d, d.root, &e};
    double x = 0;
    ck_assert_int_eq(mp_get_double(&g, "hex", true, -100, 100, &x, NULL), MP_ERR_INPUT);
    ck_assert_err_at(e, 1, 6, "'hex' must be a decimal number, got '0x10', which is hexadecimal");
    ck_assert_int_eq(mp_get_double(&g, "oct", true, -100, 100, &x, NULL), MP_ERR_INPUT);
    ck_assert_err_at(e, 2, 6, "'oct' must be a decimal number, got '010', which has a leading zero (octal in some readers)");
    ck_assert_int_eq(mp_get_double(&g, "nan", true, -100, 100, &x, NULL), MP_ERR_INPUT);
    ck_assert_err_at(e, 3, 6, "'nan' must be a decimal number, got 'nan', which is not a finite number");
    ck_assert_int_eq(mp_get_double(&g, "dot", true, -100, 100, &x, NULL), MP_OK);
    ck_assert_double_eq(x, 0.5);
    ck_assert_int_eq(mp_get_double(&g, "trail", true, -100, 100, &x, NULL), MP_OK);
    ck_assert_double_eq(x, 5.0);
    ck_assert_int_eq(mp_get_double(&g, "plus", true, -100, 100, &x, NULL), MP_OK);
    ck_assert_double_eq(x, 2.0);
    ck_assert_int_eq(mp_get_double(&g, "exp", true, -100, 100, &x, NULL), MP_OK);
    ck_assert_double_eq(x, 1e-3);
    ck_assert_int_eq(mp_get_double(&g, "zero", true, -100, 100, &x, NULL), MP_OK);
    ck_assert_double_eq(x, 0.25);
    mp_doc_free(&d);
}
END_TEST

START_TEST(test_get_bool)
{
    bool b = false, found = false;
    ck_assert_int_eq(mp_get_bool(&gg, "yes", true, &b, &found), MP_OK);
    ck_assert(b);
    ck_assert(found);
    ck_assert_int_eq(mp_get_bool(&gg, "flag", true, &b, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 12, 7, "'flag' must be true or false, got 'maybe'");
    /* "true" in quotes is a string, not a boolean. */
    ck_assert_int_eq(mp_get_bool(&gg, "qtrue", true, &b, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 14, 8, "'qtrue' must be true or false, got 'true' in quotes: a string, not a boolean (remove the quotes)");
    ck_assert_int_eq(mp_get_bool(&gg, "list", true, &b, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 8, 7, "'list' must be true or false, not a list");
}
END_TEST

START_TEST(test_get_string)
{
    char s[8];
    ck_assert_int_eq(mp_get_string(&gg, "word", true, s, sizeof s, NULL), MP_OK);
    ck_assert_str_eq(s, "sixteen");
    /* "a-long-name" is 11 characters; the buffer holds 7 plus the NUL. */
    ck_assert_int_eq(mp_get_string(&gg, "name", true, s, sizeof s, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 21, 7, "'name' is longer than 7 characters");
    ck_assert_int_eq(mp_get_string(&gg, "map", true, s, sizeof s, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 7, 6, "'map' must be a string, not a mapping");
}
END_TEST

START_TEST(test_get_quantity)
{
    double x = 0;
    ck_assert_int_eq(mp_get_quantity(&gg, "frac", true, MP_UNIT_FRACTION, 0, 1, &x, NULL), MP_OK);
    ck_assert_double_eq_tol(x, 0.6, 1e-15); /* 60/100, one rounding */
    ck_assert_int_eq(mp_get_quantity(&gg, "memory", true, MP_UNIT_BYTES, 1e6, 1e15, &x, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 15, 9, "'memory': '64' has no unit");
    ck_assert_int_eq(mp_get_quantity(&gg, "mem2", true, MP_UNIT_BYTES, 1e6, 1e15, &x, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 16, 7, "unknown unit 'GBs'");
    /* 1 B is below the 1e6 minimum. */
    ck_assert_int_eq(mp_get_quantity(&gg, "mem3", true, MP_UNIT_BYTES, 1e6, 1e15, &x, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 17, 7, "'mem3' is '1 B'; expected a value from 1e+06 to 1e+15");
    /* A fraction out of range states the key's range once, as a number and
     * as a percentage: 60% = 0.6 is above 0.5 = 50%.  (It used to add the
     * generic "(0, 1]" too, contradicting min_headroom's 0-0.99.) */
    ck_assert_int_eq(mp_get_quantity(&gg, "frac", true, MP_UNIT_FRACTION, 0, 0.5, &x, NULL), MP_ERR_INPUT);
    ck_assert_str_eq(gerr.msg, "'frac' is '60%'; expected a fraction from 0 to 0.5 (0% to 50%)");
    ck_assert_int_eq(mp_get_quantity(&gg, "frac", true, MP_UNIT_FRACTION, 0, 0.99, &x, NULL), MP_OK);
}
END_TEST

START_TEST(test_get_enum)
{
    static const char *const norms[] = {"rmsnorm", "layernorm", NULL};
    int k = -1;
    ck_assert_int_eq(mp_get_enum(&gg, "norm", true, norms, &k, NULL), MP_ERR_INPUT);
    /* "rmsnorn" is one substitution from "rmsnorm" */
    ck_assert_err_at(gerr, 18, 7, "'norm' is 'rmsnorn'; expected one of rmsnorm, layernorm (did you mean 'rmsnorm'?)");
    ck_assert_int_eq(mp_get_enum(&gg, "norm2", true, norms, &k, NULL), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 19, 8, "'norm2' is 'batchnorm'; expected one of rmsnorm, layernorm");
    ck_assert_ptr_null(strstr(gerr.msg, "did you mean"));
    ck_assert_int_eq(k, -1);
}
END_TEST

START_TEST(test_get_map)
{
    const mp_node *m = NULL;
    ck_assert_int_eq(mp_get_map(&gg, "map", true, &m), MP_OK);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->kind, MP_NODE_MAP);
    ck_assert_int_eq(mp_get_map(&gg, "absent", false, &m), MP_OK);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(mp_get_map(&gg, "layers", true, &m), MP_ERR_INPUT);
    ck_assert_err_at(gerr, 1, 9, "'layers' must be a mapping of keys to values, not a scalar");
}
END_TEST

/* ------------------------------------------------------------ unknown keys */

/*            12345678901234
 * line 1:    name: x
 * line 2:    hiden: 4
 * line 3:    layout:
 * line 4:      tp: 2
 * line 5:      micro_bach: 1
 * line 6:    zzz: 1
 */
START_TEST(test_unknown_keys)
{
    static const char *const top[] = {"name", "hidden", "layers", "layout", "zzz", NULL};
    static const char *const top2[] = {"name", "hidden", "layers", "layout", NULL};
    static const char *const lay[] = {"tp", "pp", "micro_batch", NULL};
    const char *text = "name: x\nhiden: 4\nlayout:\n  tp: 2\n  micro_bach: 1\nzzz: 1\n";
    mp_doc d;
    mp_error e;
    ck_assert_int_eq(load(&d, text, &e), MP_OK);
    ck_assert_int_eq(mp_doc_check_keys(&d, d.root, top, "a model file", &e), MP_ERR_INPUT);
    ck_assert_str_eq(e.msg, "unknown key 'hiden' in a model file (did you mean 'hidden'?)");
    ck_assert_str_eq(e.file, "t.yaml");
    ck_assert_int_eq(e.line, 2);
    ck_assert_int_eq(e.col, 1);
    const mp_node *l = mp_node_get(d.root, "layout", NULL);
    ck_assert_int_eq(mp_doc_check_keys(&d, l, lay, "'layout'", &e), MP_ERR_INPUT);
    ck_assert_str_eq(e.msg, "unknown key 'micro_bach' in 'layout' (did you mean 'micro_batch'?)");
    ck_assert_int_eq(e.line, 5);
    ck_assert_int_eq(e.col, 3);
    mp_doc_free(&d);

    /* Without "hiden", the first unknown is "zzz": nothing is within one
     * edit of it, so no suggestion. */
    ck_assert_int_eq(load(&d, "name: x\nzzz: 1\n", &e), MP_OK);
    ck_assert_int_eq(mp_doc_check_keys(&d, d.root, top2, "a model file", &e), MP_ERR_INPUT);
    ck_assert_err_at(e, 2, 1, "unknown key 'zzz' in a model file");
    ck_assert_ptr_null(strstr(e.msg, "did you mean"));
    mp_doc_free(&d);

    ck_assert_int_eq(load(&d, text, &e), MP_OK);
    ck_assert_int_eq(mp_doc_check_keys(&d, mp_node_get(d.root, "layout", NULL), (const char *const[]){"tp",
                     "micro_bach", NULL}, "'layout'", &e), MP_OK);
    mp_doc_free(&d);
}
END_TEST

START_TEST(test_doc_error_located)
{
    mp_doc d;
    mp_error e;
    ck_assert_int_eq(load(&d, POS_DOC, &e), MP_OK);
    const mp_node *v = mp_node_get(d.root, "layers", NULL);
    ck_assert_int_eq(mp_doc_error(&d, v, &e, "custom %d", 7), MP_ERR_INPUT);
    ck_assert_str_eq(e.msg, "custom 7");
    ck_assert_int_eq(e.line, 2);
    ck_assert_int_eq(e.col, 9);
    char buf[256];
    mp_error_format(&e, buf, sizeof buf);
    ck_assert_str_eq(buf, "t.yaml:2:9: error: custom 7");
    mp_doc_free(&d);
}
END_TEST

/* ------------------------------------------------------------------ files */

/* A config.json indented with tabs, the first line indented too.
 *            1234567890123456789
 * line 1:    <tab>{
 * line 2:    <tab><tab>"model_type": "llama",
 * line 3:    <tab><tab>"hidden_size": 4096,
 * line 4:    <tab><tab>"rope_scaling": {
 * line 5:    <tab><tab><tab>"factor": 8.0
 * line 6:    <tab><tab>},
 * line 7:    <tab><tab>"vocab_size": "32000"
 * line 8:    <tab>}
 * Tabs outside JSON strings are whitespace (RFC 8259 section 2); YAML
 * forbids them as indentation, so doc.c turns each into one blank for a
 * .json file: columns are unchanged.
 */
static const char TAB_JSON[] = "\t{\n"
                               "\t\t\"model_type\": \"llama\",\n"
                               "\t\t\"hidden_size\": 4096,\n"
                               "\t\t\"rope_scaling\": {\n"
                               "\t\t\t\"factor\": 8.0\n"
                               "\t\t},\n"
                               "\t\t\"vocab_size\": \"32000\"\n"
                               "\t}\n";

START_TEST(test_json_file_with_tabs)
{
    make_tmpdir();
    char jp[512], yp[512];
    write_file(jp, sizeof jp, tmpdir, "config.json", TAB_JSON, sizeof TAB_JSON - 1);
    write_file(yp, sizeof yp, tmpdir, "config.yaml", TAB_JSON, sizeof TAB_JSON - 1);
    mp_doc d;
    mp_error e;
    memset(&e, 0, sizeof e);
    mp_status st = mp_doc_load_file(&d, jp, &e);
    ck_assert_msg(st == MP_OK, "%s:%d:%d: %s", e.file, e.line, e.col, e.msg);
    ck_assert_str_eq(d.path, jp);
    const mp_node *r = d.root;
    ck_assert_uint_eq(r->n, 4);
    /* two tabs, then the quote: 2:3; '"model_type": ' is 14 chars: 2:17 */
    ck_assert_int_eq(r->key_line[0], 2);
    ck_assert_int_eq(r->key_col[0], 3);
    ck_assert_str_eq(r->vals[0]->text, "llama");
    ck_assert_int_eq(r->vals[0]->col, 17);
    /* '"hidden_size": ' is 15 chars: 3:18 */
    const mp_node *h = mp_node_get(r, "hidden_size", NULL);
    ck_assert_str_eq(h->text, "4096");
    ck_assert_int_eq(h->line, 3);
    ck_assert_int_eq(h->col, 18);
    /* three tabs then '"factor": ' (10 chars): 5:14 */
    const mp_node *f = mp_node_get(mp_node_get(r, "rope_scaling", NULL), "factor", NULL);
    ck_assert_int_eq(f->line, 5);
    ck_assert_int_eq(f->col, 14);
    /* A wrong type is reported at the value with the file's path:
     * '"vocab_size": ' is 14 chars after two tabs: 7:17. */
    mp_getter g = {&d, r, &e};
    long v;
    ck_assert_int_eq(mp_get_int(&g, "vocab_size", true, 1, 100000000L, &v, NULL), MP_ERR_INPUT);
    ck_assert_str_eq(e.file, jp);
    ck_assert_err_at(e, 7, 17, "'vocab_size' must be a whole number, got '32000'");
    char buf[1024], want[1024];
    mp_error_format(&e, buf, sizeof buf);
    snprintf(want, sizeof want,
             "%s:7:17: error: 'vocab_size' must be a whole number, got '32000' in quotes: a string, not a number "
             "(remove the quotes)", jp);
    ck_assert_str_eq(buf, want);
    mp_doc_free(&d);

    /* The same bytes in a .yaml file keep their tabs: the tab at 1:1 cannot
     * start a YAML token. */
    ck_assert_int_eq(mp_doc_load_file(&d, yp, &e), MP_ERR_INPUT);
    ck_assert_str_eq(e.file, yp);
    ck_assert_int_eq(e.line, 1);
    ck_assert_int_eq(e.col, 1);
    ck_assert_ptr_null(d.root);

    remove_tmpdir((const char *const[]){"config.json", "config.yaml"}, 2);
}
END_TEST

START_TEST(test_file_errors)
{
    make_tmpdir();
    char p[512], missing[512];
    mp_doc d;
    mp_error e;
    /* Missing file: an I/O error naming the path, no position. */
    snprintf(missing, sizeof missing, "%s/missing.yaml", tmpdir);
    ck_assert_int_eq(mp_doc_load_file(&d, missing, &e), MP_ERR_IO);
    ck_assert_str_eq(e.file, missing);
    ck_assert_int_eq(e.line, 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "cannot open"));
    /* Empty file. */
    write_file(p, sizeof p, tmpdir, "empty.yaml", "", 0);
    ck_assert_int_eq(mp_doc_load_file(&d, p, &e), MP_ERR_INPUT);
    ck_assert_str_eq(e.file, p);
    ck_assert_err_at(e, 1, 1, "the file is empty");
    /* NUL bytes: not a text file. */
    static const char nul[] = "a: 1\n\0b: 2\n"; /* 11 bytes, one of them NUL */
    write_file(p, sizeof p, tmpdir, "nul.yaml", nul, sizeof nul - 1);
    ck_assert_int_eq(mp_doc_load_file(&d, p, &e), MP_ERR_INPUT);
    ck_assert_err_at(e, 1, 1, "NUL bytes");
    /* A list at the top level of a .json file. */
    write_file(p, sizeof p, tmpdir, "list.json", "[1, 2]\n", strlen("[1, 2]\n"));
    ck_assert_int_eq(mp_doc_load_file(&d, p, &e), MP_ERR_INPUT);
    ck_assert_err_at(e, 1, 1, "expected a mapping of keys to values at the top level");
    /* A duplicate key in JSON: line 3, after two blanks.
     * line 1: {
     * line 2:   "a": 1,
     * line 3:   "a": 2
     * line 4: } */
    static const char dup[] = "{\n  \"a\": 1,\n  \"a\": 2\n}\n";
    write_file(p, sizeof p, tmpdir, "dup.json", dup, sizeof dup - 1);
    ck_assert_int_eq(mp_doc_load_file(&d, p, &e), MP_ERR_INPUT);
    ck_assert_err_at(e, 3, 3, "key 'a' appears twice (first at line 2)");
    remove_tmpdir((const char *const[]){"empty.yaml", "nul.yaml", "list.json", "dup.json"}, 4);
}
END_TEST

static Suite *doc_suite(void)
{
    Suite *s = suite_create("doc");
    TCase *tp = tcase_create("parse");
    tcase_add_test(tp, test_positions);
    tcase_add_test(tp, test_json_string_positions);
    tcase_add_test(tp, test_null_values);
    tcase_add_loop_test(tp, test_doc_errors, 0, (int)(sizeof doc_err_cases / sizeof doc_err_cases[0]));
    tcase_add_test(tp, test_nesting_cap);
    tcase_add_test(tp, test_unknown_keys);
    tcase_add_test(tp, test_doc_error_located);
    suite_add_tcase(s, tp);
    TCase *tg = tcase_create("getters");
    tcase_add_checked_fixture(tg, getters_setup, getters_teardown);
    tcase_add_test(tg, test_get_int_ok);
    tcase_add_loop_test(tg, test_get_int_errors, 0, (int)(sizeof int_err_cases / sizeof int_err_cases[0]));
    tcase_add_test(tg, test_get_double);
    tcase_add_test(tg, test_get_double_decimal_only);
    tcase_add_test(tg, test_get_bool);
    tcase_add_test(tg, test_get_string);
    tcase_add_test(tg, test_get_quantity);
    tcase_add_test(tg, test_get_enum);
    tcase_add_test(tg, test_get_map);
    suite_add_tcase(s, tg);
    TCase *tf = tcase_create("files");
    tcase_add_test(tf, test_json_file_with_tabs);
    tcase_add_test(tf, test_file_errors);
    suite_add_tcase(s, tf);
    return s;
}

MP_CHECK_MAIN(doc_suite)
