#!/bin/sh
# Writes size-16mib-minus-1.yaml (16,777,215 bytes: under the 16 MiB cap).
# `moeplan explain --model size-16mib-minus-1.yaml` says "file is larger than
# 16 MiB" (src/doc.c mp_doc_load_file: `len + 1 >= cap` with cap at the
# maximum fires before EOF is seen), and gives no line:col.
cd "$(dirname "$0")"
python3 -c "import sys; sys.stdout.write('a: ' + 'x' * (16 * 1024 * 1024 - 1 - 4) + '\n')" > size-16mib-minus-1.yaml
