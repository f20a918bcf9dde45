/* moeplan: what model.c and model_hf.c share (not installed, not public). */
#ifndef MOEPLAN_MODEL_INTERNAL_H
#define MOEPLAN_MODEL_INTERNAL_H

#include "moeplan/doc.h"
#include "moeplan/model.h"

/* Append a note (at most 16, each cut at 159 characters). */
void mp_model_add_note(mp_model *m, const char *text);

/* Read a Hugging Face config.json (model_hf.c). */
mp_status mp_model_load_hf(mp_model *m, const mp_doc *d, mp_error *err);

/* The router's and RoPE's settings of a config's map (`where` prefixes
 * key names in messages, "text_config." for a wrapper), for the family
 * `type` (model_hf_router.c). */
mp_status mp_hf_read_router(mp_model *m, const mp_doc *d, const mp_node *map, const char *where, const char *type,
                            mp_error *err);

#endif
