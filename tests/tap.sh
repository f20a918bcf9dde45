# Shared by the shell test scripts (cli.sh, input_errors.sh): the
# environment they need, a scratch directory, and TAP-style results.
# Source it as  . "${BASH_SOURCE%/*}/tap.sh" NAME  (NAME names the scratch
# directory); it changes to $SRCDIR.  Each case prints "ok N - name" or
# "not ok N - name" with the reasons; tap_done prints "P passed, F failed"
# and is the script's status.
set -u
: "${MOEPLAN:?set MOEPLAN to the moeplan binary}"
: "${SRCDIR:?set SRCDIR to the source tree root}"
case "$MOEPLAN" in /*) ;; *) MOEPLAN="$PWD/$MOEPLAN" ;; esac
cd "$SRCDIR" || exit 1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/moeplan-${1:-test}.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
OUT="$TMP/out"
ERR="$TMP/err"

n=0
passed=0
failed=0
rc=0

ok() {
    n=$((n + 1))
    passed=$((passed + 1))
    echo "ok $n - $1"
}

notok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    shift
    local l
    for l in "$@"; do
        echo "#   $l"
    done
    if [ -s "$ERR" ]; then
        echo "#   stderr: $(head -c 600 "$ERR" | tr '\n' '|')"
    fi
}

# run ARGS...: moeplan ARGS, stdout in $OUT, stderr in $ERR, status in $rc.
run() {
    "$MOEPLAN" "$@" >"$OUT" 2>"$ERR"
    rc=$?
}

# refused NAME WANT ARGS...: moeplan ARGS exits 2 with nothing on stdout
# and WANT (a grep pattern) on stderr.
refused() {
    local name=$1 want=$2
    shift 2
    run "$@"
    if [ "$rc" -eq 2 ] && [ ! -s "$OUT" ] && grep -q -- "$want" "$ERR"; then ok "$name"
    else notok "$name" "exit $rc, stdout $(wc -c <"$OUT") bytes, want '$want'"; fi
}

json_check() { # json_check NAME PYTHON-EXPR-ON-d  (reads $OUT)
    local name=$1 expr=$2
    if python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if ($expr) else 1)
" "$OUT" 2>"$TMP/pyerr"; then
        ok "$name"
    else
        notok "$name" "python check failed: $expr" "$(head -c 300 "$TMP/pyerr" | tr '\n' '|')"
    fi
}

tap_done() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
