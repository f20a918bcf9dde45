#!/usr/bin/env bash
# Run every example of man/moeplan.1, so the manual cannot drift from the
# program (as jq does with its manual).
#
#   MOEPLAN=build/src/moeplan SRCDIR=. bash tests/man_examples.sh
#
# An example is a line of the page that starts with "$ moeplan ".  Roff
# escapes are undone (\- is -, \e is \, \& is nothing); a trailing
# " # exit N" gives the expected exit status (default 0).  Each example runs
# from SRCDIR with $MOEPLAN in place of "moeplan".  It passes when the exit
# status is the expected one and, for status 0, stdout is not empty; for a
# non-zero status other than 1 (a failed check, which prints its report),
# stdout must be empty and stderr must say "error:".
# Prints "ok N - command" / "not ok N - command", then "P passed, F failed".
set -u
: "${MOEPLAN:?set MOEPLAN to the moeplan binary}"
: "${SRCDIR:?set SRCDIR to the source tree root}"
case "$MOEPLAN" in /*) ;; *) MOEPLAN="$PWD/$MOEPLAN" ;; esac
cd "$SRCDIR" || exit 1
PAGE=man/moeplan.1
[ -r "$PAGE" ] || { echo "not ok 1 - $PAGE is missing"; echo "0 passed, 1 failed"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/moeplan-man.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

n=0
passed=0
failed=0
while IFS= read -r line; do
    cmd=${line#'$ moeplan'}
    # Undo the roff escapes used in commands.
    cmd=${cmd//'\-'/-}
    cmd=${cmd//'\&'/}
    cmd=${cmd//'\e'/\\}
    want=0
    if [[ $cmd =~ ^(.*[^[:space:]])?[[:space:]]+#[[:space:]]*exit[[:space:]]+([0-9]+)[[:space:]]*$ ]]; then
        cmd=${BASH_REMATCH[1]}
        want=${BASH_REMATCH[2]}
    fi
    n=$((n + 1))
    name="moeplan${cmd}"
    eval "\"\$MOEPLAN\" $cmd" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
    why=""
    if [ "$rc" -ne "$want" ]; then
        why="exit status $rc, expected $want"
    elif [ "$want" -eq 0 ] && [ ! -s "$TMP/out" ]; then
        why="no output on stdout"
    elif [ "$want" -ge 2 ] && { [ -s "$TMP/out" ] || ! grep -q 'error:' "$TMP/err"; }; then
        why="an error must print nothing on stdout and say 'error:' on stderr"
    fi
    if [ -z "$why" ]; then
        passed=$((passed + 1))
        echo "ok $n - $name"
    else
        failed=$((failed + 1))
        echo "not ok $n - $name"
        echo "#   $why"
        [ -s "$TMP/err" ] && echo "#   stderr: $(head -c 400 "$TMP/err" | tr '\n' '|')"
    fi
done < <(grep '^\$ moeplan\( \|$\)' "$PAGE")

if [ "$n" -eq 0 ]; then
    echo "not ok 1 - no examples found in $PAGE"
    failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
