/* The simulator's timeline as a Chrome trace-event file
 * (include/moeplan/trace.h; the format: "Trace Event Format", Google,
 * docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU:
 * complete events "X" with ts and dur in microseconds, metadata events "M"
 * process_name / thread_name / process_sort_index). */
#include "moeplan/trace.h"

#include <stdio.h>

static const char *kind_name(mp_event_kind k)
{
    switch (k) {
    case MP_EV_FWD: return "forward";
    case MP_EV_BWD: return "backward";
    case MP_EV_WGRAD: return "weight-gradient";
    case MP_EV_SEND: return "pipeline-send";
    case MP_EV_DP: return "dp-reduce";
    case MP_EV_OPT: return "optimizer";
    case MP_EV_FWD_BWD: return "forward+backward";
    case MP_EV_OP: return "op";
    }
    return "?";
}

static int add(json_t *arr, json_t *ev)
{
    return ev ? json_array_append_new(arr, ev) : -1;
}

json_t *mp_sim_trace(const mp_sim_result *r, const char *title)
{
    json_t *root = json_object(), *evs = json_array();
    if (!root || !evs)
        goto fail;
    for (int p = 0; p < r->ranks; p++) {
        char name[64];
        snprintf(name, sizeof name, "pipeline rank %d", p);
        if (add(evs, json_pack("{s:s,s:s,s:i,s:i,s:{s:s}}", "name", "process_name", "ph", "M", "pid", p, "tid", 0,
                               "args", "name", name)) ||
            add(evs, json_pack("{s:s,s:s,s:i,s:i,s:{s:i}}", "name", "process_sort_index", "ph", "M", "pid", p,
                               "tid", 0, "args", "sort_index", p)) ||
            add(evs, json_pack("{s:s,s:s,s:i,s:i,s:{s:s}}", "name", "thread_name", "ph", "M", "pid", p, "tid", 0,
                               "args", "name", "compute")) ||
            add(evs, json_pack("{s:s,s:s,s:i,s:i,s:{s:s}}", "name", "thread_name", "ph", "M", "pid", p, "tid", 1,
                               "args", "name", "communication")) ||
            add(evs, json_pack("{s:s,s:s,s:i,s:i,s:{s:s}}", "name", "thread_name", "ph", "M", "pid", p, "tid", 2,
                               "args", "name", "pipeline sends")))
            goto fail;
    }
    for (size_t i = 0; i < r->n_events; i++) {
        const mp_sim_event *e = &r->events[i];
        char name[64];
        /* Threads: 0 compute, 1 the collectives, 2 the pipeline sends
         * (interleaved, they overlap the next pass's collectives). */
        int tid = e->kind == MP_EV_SEND ? 2 : (e->kind == MP_EV_DP || (e->kind == MP_EV_OP && e->comm)) ? 1 : 0;
        if (e->kind == MP_EV_OP) {
            json_t *ev = json_pack("{s:s,s:s,s:s,s:f,s:f,s:i,s:i,s:{s:s,s:i,s:i,s:i}}", "name", e->name, "cat",
                                   mp_block_name(e->block), "ph", "X", "ts", e->start_s * 1e6, "dur",
                                   (e->end_s - e->start_s) * 1e6, "pid", e->rank, "tid", tid, "args",
                                   "block", mp_block_name(e->block), "layer", e->layer, "micro_batch", e->micro_batch,
                                   "chunk", e->chunk);
            if (add(evs, ev))
                goto fail;
            continue;
        }
        if (e->kind == MP_EV_FWD_BWD)
            snprintf(name, sizeof name, "F%d&B%d", e->micro_batch, e->micro_batch2);
        else if (e->micro_batch >= 0 && e->kind != MP_EV_SEND)
            snprintf(name, sizeof name, "%s%d", e->kind == MP_EV_FWD ? "F" : e->kind == MP_EV_BWD ? "B" : "W",
                     e->micro_batch);
        else if (e->kind == MP_EV_SEND)
            snprintf(name, sizeof name, "send mb %d", e->micro_batch);
        else
            snprintf(name, sizeof name, "%s", kind_name(e->kind));
        json_t *ev = json_pack("{s:s,s:s,s:s,s:f,s:f,s:i,s:i}", "name", name, "cat", kind_name(e->kind), "ph", "X",
                               "ts", e->start_s * 1e6, "dur", (e->end_s - e->start_s) * 1e6, "pid", e->rank, "tid",
                               tid);
        if (!ev)
            goto fail;
        if (e->micro_batch >= 0) {
            json_t *args = json_pack("{s:i,s:i,s:f}", "micro_batch", e->micro_batch, "chunk", e->chunk, "tokens",
                                     e->tokens);
            if (!args || json_object_set_new(ev, "args", args)) {
                json_decref(ev);
                goto fail;
            }
        }
        if (json_array_append_new(evs, ev))
            goto fail;
    }
    if (json_object_set_new(root, "traceEvents", evs))
        goto fail_root;
    json_t *other = json_pack("{s:s,s:s,s:f,s:b}", "title", title, "schedule", mp_schedule_name(r->schedule),
                              "step_s", r->events_span_s, "ops", r->op_events);
    if (!other || json_object_set_new(root, "otherData", other) ||
        json_object_set_new(root, "displayTimeUnit", json_string("ms")))
        goto fail_root;
    return root;
fail:
    json_decref(evs);
fail_root:
    json_decref(root);
    return NULL;
}
