#!/bin/sh
# Writes big-list.yaml: one flow list of 8.4 M one-letter items, just under
# the 16 MiB cap.  `moeplan explain --model big-list.yaml` needs ~1 GB of
# memory and ~9 s (release build) to build the node tree (src/doc.c: one
# calloc'd mp_node + strdup per scalar, vals grown by one with realloc per
# item in push()) before it reports the first missing key.  Under ASan the
# per-item realloc copies, so the time is quadratic.
cd "$(dirname "$0")"
python3 -c "import sys; n = (16 * 1024 * 1024 - 16) // 2; sys.stdout.write('notes: [' + ','.join(['x'] * n) + ']\n')" > big-list.yaml
