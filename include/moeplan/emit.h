/* moeplan: a layout written as the configuration of the framework that runs
 * it -- Megatron-LM's arguments (Megatron-FSDP for ZeRO-2/3), a TorchTitan
 * job config (TOML) or a DeepSpeed config (JSON). */
#ifndef MOEPLAN_EMIT_H
#define MOEPLAN_EMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "moeplan/layout.h"
#include "moeplan/model.h"
#include "moeplan/workload.h"

typedef enum { MP_EMIT_MEGATRON, MP_EMIT_TORCHTITAN, MP_EMIT_DEEPSPEED } mp_emit_kind;

/* "megatron", "torchtitan", "deepspeed" -> kind; false for another word. */
bool mp_emit_parse(const char *name, mp_emit_kind *out);
const char *mp_emit_name(mp_emit_kind k);
/* What the emitted text is, for a report's heading ("Megatron-LM
 * arguments", "TorchTitan job config (TOML)", ...). */
const char *mp_emit_title(mp_emit_kind k);

/* Room for any configuration: a TorchTitan config lists every layer by
 * stage, about 20 KB at the 1024 layers a model file allows. */
#define MP_EMIT_MAX_BYTES 65536

/* The layout (checked by mp_layout_check) as kind's configuration in buf.
 * False, with the reason in why, when that framework cannot run the layout
 * as moeplan priced it; buf then holds "". */
bool mp_emit(mp_emit_kind k, const mp_model *m, const mp_workload *w, const mp_layout *l, char *buf, size_t len,
             char *why, size_t why_len);

/* The load-balancing loss coefficient --emit megatron writes (and the cost
 * model prices: none at 0): mp_model_aux_loss_coeff. */
#define mp_emit_aux_loss_coeff mp_model_aux_loss_coeff
/* Megatron-LM arguments for a layout, one per line (what mp_emit writes for
 * MP_EMIT_MEGATRON when the layout is one Megatron-LM runs). */
void mp_emit_megatron_args(const mp_model *m, const mp_workload *w, const mp_layout *l, char *buf, size_t len);

#endif
