#include "moeplan/hardware.h"

#include <stdio.h>
#include <string.h>

#include "moeplan/doc.h"

#define TRY(x) do { mp_status st_ = (x); if (st_) return st_; } while (0)

void mp_hardware_defaults(mp_hardware *hw)
{
    memset(hw, 0, sizeof *hw);
    snprintf(hw->name, sizeof hw->name, "seed-accelerator");
    hw->peak_flops = 400e12;
    hw->mfu = 0.60;
    hw->attention_efficiency = 0.60;
    hw->memory_bytes = 64e9;
    hw->memory_bw_bytes_per_s = 1.8e12;
    hw->bw_utilization = 0.80;
    hw->gpus_per_node = 8;
    hw->intra_bw_bytes_per_s = 400e9;
    hw->inter_bw_bytes_per_s = 50e9;
    hw->intra_latency_s = 3e-6;
    hw->inter_latency_s = 10e-6;
    hw->reserved_bytes = 2.0 * 1073741824.0;
    hw->fragmentation = 0.05;
}

static const char *const hw_keys[] = {
    "name", "peak_flops", "mfu", "memory", "memory_bandwidth", "bandwidth_utilization", "gpus_per_node",
    "intra_node_bandwidth", "inter_node_bandwidth", "intra_node_latency", "inter_node_latency",
    "reserved_memory", "fragmentation", "checkpoint_bandwidth", "attention_efficiency", NULL};

mp_status mp_hardware_load(mp_hardware *hw, const char *path, mp_error *err)
{
    mp_hardware_defaults(hw);
    snprintf(hw->source, sizeof hw->source, "%s", path);
    mp_doc d;
    TRY(mp_doc_load_file(&d, path, err));
    mp_getter g = {&d, d.root, err};
    long gpn = 8;
    bool att_found = false;
    mp_status st;
    if ((st = mp_doc_check_keys(&d, d.root, hw_keys, "a hardware file", err)) ||
        (st = mp_get_string(&g, "name", false, hw->name, sizeof hw->name, NULL)) ||
        (st = mp_get_quantity(&g, "peak_flops", true, MP_UNIT_FLOP_RATE, 1e9, 1e19, &hw->peak_flops, NULL)) ||
        (st = mp_get_quantity(&g, "mfu", true, MP_UNIT_FRACTION, 0.01, 1.0, &hw->mfu, NULL)) ||
        (st = mp_get_quantity(&g, "attention_efficiency", false, MP_UNIT_FRACTION, 0.01, 1.0,
                              &hw->attention_efficiency, &att_found)) ||
        (st = mp_get_quantity(&g, "memory", true, MP_UNIT_BYTES, 1e6, 1e15, &hw->memory_bytes, NULL)) ||
        (st = mp_get_quantity(&g, "memory_bandwidth", true, MP_UNIT_BYTE_RATE, 1e6, 1e15,
                              &hw->memory_bw_bytes_per_s, NULL)) ||
        (st = mp_get_quantity(&g, "bandwidth_utilization", true, MP_UNIT_FRACTION, 0.01, 1.0, &hw->bw_utilization,
                              NULL)) ||
        (st = mp_get_int(&g, "gpus_per_node", false, 1, 1024, &gpn, NULL)) ||
        (st = mp_get_quantity(&g, "intra_node_bandwidth", false, MP_UNIT_BYTE_RATE, 1e6, 1e15,
                              &hw->intra_bw_bytes_per_s, NULL)) ||
        (st = mp_get_quantity(&g, "inter_node_bandwidth", false, MP_UNIT_BYTE_RATE, 1e6, 1e15,
                              &hw->inter_bw_bytes_per_s, NULL)) ||
        (st = mp_get_quantity(&g, "intra_node_latency", false, MP_UNIT_SECONDS, 0, 1, &hw->intra_latency_s, NULL)) ||
        (st = mp_get_quantity(&g, "inter_node_latency", false, MP_UNIT_SECONDS, 0, 1, &hw->inter_latency_s, NULL)) ||
        (st = mp_get_quantity(&g, "reserved_memory", false, MP_UNIT_BYTES, 0, 1e15, &hw->reserved_bytes, NULL)) ||
        (st = mp_get_quantity(&g, "fragmentation", false, MP_UNIT_FRACTION, 0, 0.9, &hw->fragmentation, NULL)) ||
        (st = mp_get_quantity(&g, "checkpoint_bandwidth", false, MP_UNIT_BYTE_RATE, 1e3, 1e15,
                              &hw->checkpoint_bw_bytes_per_s, NULL))) {
        mp_doc_free(&d);
        return st;
    }
    hw->gpus_per_node = (int)gpn;
    if (!att_found)
        hw->attention_efficiency = hw->mfu;
    if (hw->reserved_bytes >= hw->memory_bytes)
        st = mp_doc_error(&d, mp_node_get(d.root, "reserved_memory", NULL), err,
                          "'reserved_memory' is not smaller than 'memory'");
    mp_doc_free(&d);
    return st;
}
