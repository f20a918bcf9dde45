#!/bin/sh
# Writes many-keys.yaml: 200,000 distinct top-level keys (2.6 MB, well under
# the 16 MiB cap).  `moeplan explain --model many-keys.yaml` spends ~80 s in
# the duplicate-key scan of src/doc.c parse_children (O(n^2) strcmp) before
# reporting "unknown key 'k0'"; a 16 MiB file (~1.5 M keys) takes over an hour.
cd "$(dirname "$0")"
python3 -c "import sys; sys.stdout.write(''.join('k%d: 1\n' % i for i in range(200000)))" > many-keys.yaml
