#!/usr/bin/env python3
"""The options of moeplan, three ways, held together (issue 6).

    MOEPLAN=build/src/moeplan SRCDIR=. python3 tests/docs_options.py

1. `moeplan COMMAND --help` (printed from the program's option table) lists
   the same options as moeplan(1)'s "Options by command" entry for COMMAND.
2. Every option of the OPTIONS section of moeplan(1) (its .TP headers), every
   option in `moeplan --help` and the union of the commands' lists are the
   same set.
3. The program behaves as its table says: an option in `COMMAND --help` is
   taken by COMMAND (the next, unknown option is the one refused), any other
   is refused with "--X is not an option of 'COMMAND'".
4. Abbreviations: every prefix that fits two or more options of a command
   (and is not itself an option's full name) is refused as ambiguous, naming
   exactly those options in the help's order; `plan --pl` names --plan and
   --plot.
Prints "ok N - ..." / "not ok N - ..." and "P passed, F failed".
"""
import concurrent.futures
import os
import re
import subprocess
import sys

MOEPLAN = os.path.abspath(os.environ["MOEPLAN"]) if "MOEPLAN" in os.environ else sys.exit("set MOEPLAN")
SRCDIR = os.environ.get("SRCDIR") or sys.exit("set SRCDIR")
os.chdir(SRCDIR)
UNKNOWN = "--zz-not-an-option"

n = passed = failed = 0


def report(ok, name, *why):
    global n, passed, failed
    n += 1
    if ok:
        passed += 1
        print(f"ok {n} - {name}")
    else:
        failed += 1
        print(f"not ok {n} - {name}")
        for w in why:
            print(f"#   {w}")


def run(*args):
    p = subprocess.run([MOEPLAN, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


# The checks below start moeplan about a thousand times, each a sanitizer
# build's start-up: run them a few at a time (the order of the results is
# the order of the calls, so the report is the same).
def run_all(calls):
    workers = min(8, max(2, os.cpu_count() or 2))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(lambda a: run(*a), calls))


# The commands, from `moeplan --help` (its "commands:" block), so that a new
# command is held to the same rules without editing this file.
_usage = subprocess.run([MOEPLAN, "--help"], capture_output=True, text=True).stdout
COMMANDS = re.findall(r"^  ([a-z]+) {2,}", _usage.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0], re.M)
if len(COMMANDS) < 5:
    sys.exit(f"could not read the commands from moeplan --help: {COMMANDS}")


def deroff(text):
    return text.replace("\\-", "-").replace("\\&", "").replace("\\fB", "").replace("\\fR", "").replace("\\fP", "")


# ---------------------------------------------------------------- the help
help_opts = {}   # command -> list of option names, in order
takes_value = {}  # option -> True when written "--name ARG"
for cmd in COMMANDS:
    rc, out, err = run(cmd, "--help")
    lines = [l for l in out.splitlines() if re.match(r"^  --[a-z]", l)]
    names = [re.match(r"^  --([a-z][a-z-]*)", l).group(1) for l in lines]
    for l, nm in zip(lines, names):
        takes_value[nm] = bool(re.match(r"^  --[a-z-]+ \S", l))
    help_opts[cmd] = names
    report(rc == 0 and not err and out.startswith(f"usage: moeplan {cmd}") and len(names) >= 2,
           f"moeplan {cmd} --help lists its options ({len(names)})", f"exit {rc}", err[:200])

rc, out, err = run("--help")
g = re.sub(r"--\[no-\]([a-z-]+)", r"--\1 --no-\1", out)
global_opts = set(re.findall(r"(?<![\w-])--([a-z][a-z-]*)", g))
report(rc == 0 and out.startswith("usage: moeplan"), "moeplan --help")

# ----------------------------------------------------------- the man page
page = deroff(open("man/moeplan.1", encoding="utf-8").read())
sect = page.split("\n.SH OPTIONS\n", 1)[1].split("\n.SH ", 1)[0]
by_cmd_text = sect.split("\n.SS Options by command\n", 1)[1].split("\n.SS ", 1)[0]
man_by_cmd = {}
for block in by_cmd_text.split("\n.TP\n")[1:]:
    head, _, body = block.partition("\n")
    cmd = head.replace(".B ", "").strip()
    man_by_cmd[cmd] = re.findall(r"--([a-z][a-z-]*)", body)
# The option items: the header line after each .TP outside "Options by command".
rest = sect.replace(by_cmd_text, "")
man_items = set()
for m in re.finditer(r"\n\.TP\n([^\n]*)", rest):
    man_items.update(re.findall(r"--([a-z][a-z-]*)", m.group(1)))

for cmd in COMMANDS:
    h, mlist = help_opts[cmd], man_by_cmd.get(cmd, [])
    report(sorted(h) == sorted(mlist) and len(mlist) == len(set(mlist)),
           f"{cmd}: moeplan(1) 'Options by command' == moeplan {cmd} --help",
           f"only in --help: {sorted(set(h) - set(mlist))}", f"only in moeplan(1): {sorted(set(mlist) - set(h))}")

union = set().union(*help_opts.values())
report(union == man_items, "moeplan(1) OPTIONS items == the options of all commands",
       f"only in the commands' help: {sorted(union - man_items)}",
       f"only in moeplan(1): {sorted(man_items - union)}")
report(union == global_opts, "moeplan --help == the options of all commands",
       f"only in the commands' help: {sorted(union - global_opts)}",
       f"only in moeplan --help: {sorted(global_opts - union)}")

# -------------------------------------------------- behaviour of the table
for cmd in COMMANDS:
    calls, wants = [], []
    for opt in sorted(union - {"help", "version"}):
        if opt in help_opts[cmd]:
            calls.append([cmd, f"--{opt}"] + (["1"] if takes_value.get(opt) else []) + [UNKNOWN])
            wants.append(None)
        else:
            calls.append([cmd, f"--{opt}"])
            wants.append(f"moeplan: error: --{opt} is not an option of '{cmd}'; see moeplan {cmd} --help\n")
    wrong = []
    for args, want, (rc, out, err) in zip(calls, wants, run_all(calls)):
        if want is None:
            if rc != 2 or out or f"unknown option '{UNKNOWN}'" not in err:
                wrong.append(f"{' '.join(args)}: exit {rc}: {err.strip()[:160]}")
        elif rc != 2 or out or err != want:
            wrong.append(f"{' '.join(args)}: exit {rc}: {err.strip()[:160]}")
    report(not wrong, f"{cmd}: takes exactly the options its --help lists", *wrong[:8])

# ------------------------------------------------------------ abbreviations
for cmd in COMMANDS:
    opts = help_opts[cmd]
    prefixes = sorted({o[:k] for o in opts for k in range(1, len(o))})
    calls, wants = [], []
    for p in prefixes:
        fits = [o for o in opts if o.startswith(p)]
        if len(fits) < 2 or p in opts:
            continue
        calls.append([cmd, f"--{p}"])
        wants.append(f"moeplan: error: option '--{p}' is ambiguous: " + ", ".join(f"--{o}" for o in fits) + "\n")
    wrong = []
    for args, want, (rc, out, err) in zip(calls, wants, run_all(calls)):
        if rc != 2 or out or err != want:
            wrong.append(f"{' '.join(args)}: exit {rc}: {err.strip()[:160]} (want {want.strip()})")
    report(calls and not wrong, f"{cmd}: all {len(calls)} ambiguous prefixes refused, naming the candidates",
           *wrong[:8])

rc, out, err = run("plan", "--pl", "x.svg")
report(rc == 2 and not out and err == "moeplan: error: option '--pl' is ambiguous: --plan, --plot\n",
       "plan --pl: ambiguous, --plan and --plot named", err.strip())
# explain has --plan and no --plot, so --pl is --plan: the value is opened as a plan file.
rc, out, err = run("explain", "--pl", "tests/data/bad/nope.yaml")
report(rc == 2 and not out and err.startswith("moeplan: tests/data/bad/nope.yaml: error: cannot open"),
       "explain --pl is --plan (explain has no --plot)", err.strip())
rc, out, err = run("audit", "--pl", "x")
report(rc == 2 and not out and err == "moeplan: error: option '--pl' could be --plan or --plot, none of them an "
       "option of 'audit'; see moeplan audit --help\n", "audit --pl: neither is an option of audit", err.strip())
# A value that looks like an option is still a value: --plot's file is "--pl".
rc, out, err = run("plan", "--plot", "--pl", UNKNOWN)
report(rc == 2 and f"unknown option '{UNKNOWN}'" in err, "plan --plot --pl: --pl is the file name", err.strip())

# 5. moeplan(1) and (5) name what the code writes and reads.
man1 = open("man/moeplan.1", encoding="utf-8").read()
man5 = open("man/moeplan.5", encoding="utf-8").read()


def unroff(t):
    return re.sub(r"\\f[BIRP]", "", t).replace("\\-", "-")


# The JSON layout object: every key explain writes (an uneven pipeline
# under ZeRO 3 with HSDP, selective recomputation: all the optional ones)
# is named in its entry (zero, shard_group and pp_first/last_layers were not).
m = re.search(r"^\.TP\n\.B layout\n(.*?)^\.TP\n", man1, re.S | re.M)
entry = unroff(m.group(1)) if m else ""
rc, out, err = run("explain", "--gpus", "24", "--pp", "3", "--pp-first-layers", "5", "--pp-last-layers", "5",
                   "--ep", "2", "--zero", "3", "--shard-group", "4", "--recompute", "selective", "--format", "json")
import json
keys = sorted(json.loads(out)["layout"]) if rc == 0 else []
missing = [k for k in keys if not re.search(rf"(^|[ (]){re.escape(k)}([ ,]|$)", entry, re.M)]
report(rc == 0 and entry and "pp_first_layers" in keys and not missing,
       f"moeplan(1) names every key of the JSON layout object ({len(keys)})", f"missing: {missing}", err.strip())

# The keys calibrate fits (src/calibrate.c's table) are those moeplan(5)
# marks (fit) (bandwidth_utilization was fitted, not marked).
table = open("src/calibrate.c", encoding="utf-8").read()
fitted = set(re.findall(r'^\s*\{"(\w+)", [-0-9.e]+, [-0-9.e]+, "', table, re.M))
marked = set()
for line in man5.splitlines():
    mm = re.match(r'^\.BR? (.*?) "\s*\((.*)\)"\s*$', line)
    if mm and re.search(r"\bfit\)?$", mm.group(2).strip().rstrip(")")):
        marked |= set(re.findall(r"[a-z_][a-z0-9_]+", mm.group(1).replace('", "', " ")))
report(fitted and fitted == marked, f"moeplan(5) marks (fit) the {len(fitted)} keys calibrate fits",
       f"fitted, not marked: {sorted(fitted - marked)}", f"marked, not fitted: {sorted(marked - fitted)}")

# --plan: every command whose help lists it is named in moeplan(1) (bench
# takes the plan's files and headroom; its entry named explain, check, plan).
plan_entries = unroff(" ".join(re.findall(r"^\.BI \\-\\-plan .*?\n(.*?)^\.(?:TP|SS)", man1, re.S | re.M)))
takers = []
for cmd in ("plan", "explain", "check", "audit", "bench", "validate", "calibrate", "run", "simulate"):
    rc, out, _ = run(cmd, "--help")
    if re.search(r"^  --plan\b", out, re.M):
        takers.append(cmd)
unnamed = [c for c in takers if not re.search(rf"\b{c}\b", plan_entries)]
report("bench" in takers and not unnamed, f"moeplan(1)'s --plan entries name every command taking it ({len(takers)})",
       f"not named: {unnamed}")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
