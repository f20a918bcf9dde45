#include "cli.h"
mp_status cmd_plan(const cli_opts *o, FILE *out, mp_error *err) { return cmd_explain(o, out, err); }
mp_status cmd_check(const cli_opts *o, FILE *out, int *failed, mp_error *err) { (void)failed; return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "check: coming"); }
mp_status cmd_audit(const cli_opts *o, FILE *out, mp_error *err) { return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "audit: coming"); }
mp_status cmd_bench(const cli_opts *o, FILE *out, mp_error *err) { return mp_error_set(err, MP_ERR_INPUT, "", 0, 0, "bench: coming"); }
