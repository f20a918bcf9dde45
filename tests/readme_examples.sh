#!/usr/bin/env bash
# README.md's ```console blocks are run: the first line "$ CMD" is executed
# from the source root with `moeplan` meaning the built binary, and its
# stdout+stderr must equal the rest of the block.  The README cannot drift.
# README_UPDATE=1 rewrites the blocks from the current binary instead.
#
# `moeplan bench` blocks hold figures measured on one machine on one date
# (the README says which): their layout counts must match exactly, but the
# times and rates, and the number of repetitions, vary with the machine and
# the build, so they are masked on both sides, and the command is run with
# --reps 1 (counts do not depend on it; this binary may be a sanitizer
# build).  README_UPDATE=1 never rewrites a bench block: its times must come
# from a release build (see the README).
set -u
cd "${SRCDIR:?}" || exit 1
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
ln -s "${MOEPLAN:?}" "$bindir/moeplan"
export PATH="$bindir:$PATH"
python3 - README.md "$bindir" <<'PY' || exit 1
import os, re, subprocess, sys
text = open(sys.argv[1], encoding="utf-8").read().split("\n")
out, i = [], 0
while i < len(text):
    if text[i].strip() == "```console":
        j = i + 1
        block = []
        while text[j].strip() != "```":
            block.append(text[j]); j += 1
        out.append(block); i = j
    i += 1
failed = 0
update = os.environ.get("README_UPDATE") == "1"
blocks_at = [i for i, l in enumerate(text) if l.strip() == "```console"]
for k, block in enumerate(out, 1):
    cmd = block[0][2:]
    want = "\n".join(block[1:])
    bench = cmd.startswith("moeplan bench ")
    run_cmd = re.sub(r"--reps [0-9]+", "--reps 1", cmd) if bench else cmd
    got = subprocess.run(["bash", "-c", run_cmd + " 2>&1"], capture_output=True, text=True).stdout.rstrip("\n")
    # Trailing blanks are not significant in a README.
    def norm(s):
        lines = [l.rstrip() for l in s.split("\n")]
        if bench:
            lines = [re.sub(r"[0-9][0-9.]*", "#", l) if re.search(r"wall time|per sec", l)
                     else re.sub(r", [0-9]+ repetitions?$", ", # repetitions", l) for l in lines]
        return "\n".join(lines)
    if bench and update:
        update_this = False
    else:
        update_this = update
    if update_this and norm(got) != norm(want):
        start = blocks_at[k - 1] + 2
        text[start:start + len(block) - 1] = got.split("\n")
        blocks_at = [i for i, l in enumerate(text) if l.strip() == "```console"]
        print(f"updated {k} - README: {cmd}")
        continue
    if norm(got) == norm(want):
        print(f"ok {k} - README: {cmd}")
    else:
        failed += 1
        print(f"not ok {k} - README: {cmd}")
        import difflib
        for l in difflib.unified_diff(want.split("\n"), got.split("\n"), "README", "actual", lineterm="", n=1):
            print("#   " + l)
if update:
    open(sys.argv[1], "w", encoding="utf-8").write("\n".join(text))
print(f"{len(out) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
