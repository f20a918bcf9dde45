/* moeplan: status codes and the caller-owned error record.
 *
 * Library code never prints and never exits: it fills an mp_error and returns
 * a status; only main() turns that into a message on stderr and an exit code.
 * Messages follow the compiler convention `file:line:col: error: ...`; an error
 * about a command-line flag leaves `file` empty and names the flag instead.
 */
#ifndef MOEPLAN_ERROR_H
#define MOEPLAN_ERROR_H

#include <stddef.h>

typedef enum {
    MP_OK = 0,
    MP_ERR_INPUT,    /* bad input: file content, flag, layout rule (exit 2) */
    MP_ERR_IO,       /* a file could not be read or written (exit 2) */
    MP_ERR_NOMEM,    /* allocation failed (exit 3) */
    MP_ERR_INTERNAL  /* a bug in moeplan (exit 3) */
} mp_status;

typedef struct {
    mp_status status;
    char file[512];   /* "" when the error is about a flag or the layout */
    int line, col;    /* 1-based; 0 when unknown */
    char msg[1024];
} mp_error;

#if defined(__GNUC__)
#define MP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MP_PRINTF(a, b)
#endif

/* Fill *err (if non-NULL) and return `st`. */
mp_status mp_error_set(mp_error *err, mp_status st, const char *file, int line, int col,
                       const char *fmt, ...) MP_PRINTF(6, 7);

/* The closest of `n` candidates to `word` by edit distance, or NULL when none
 * is close enough to be a plausible typo (distance <= max(1, len/3), at
 * most 4).  Case is folded and '_' and '-' are one: 1F1B suggests 1f1b,
 * tokens_per_gpu tokens-per-gpu. */
const char *mp_did_you_mean(const char *word, const char *const *candidates, size_t n);

/* Format `err` the way main prints it: "file:line:col: error: msg". */
void mp_error_format(const mp_error *err, char *buf, size_t len);

#endif
