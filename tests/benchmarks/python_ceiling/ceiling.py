"""ceiling.py -- the Python allocator ceiling (issue 15): how much faster can
Python programs get from the allocator at all?  Runs the Python face's
workloads (poolalloc.workloads, the ones `python -m poolalloc bench --only
python` runs) interleaved under pymalloc (CPython's default), poolalloc
(POOLALLOC=1) and `ideal`, the cheapest MEM/OBJ allocator there could be
(ceil_pyalloc.c, installed through ideal_run.py); with --callgrind, counts
each one's instructions and the share inside the allocator, for the
workloads and a few pyperformance scripts (one loop each); with --rss,
compares the three set-ups' peak RSS on pyperformance's scripts, each run
with one fixed loop count for every set-up.

  python tests/benchmarks/python_ceiling/ceiling.py [--rounds 5] [--scale 1.0]
        [--only w1,w2] [--callgrind] [--callgrind-scale 0.2] [--no-timing]
        [--rss] [--rss-only b1,b2]

Run with the interpreter poolalloc is installed in.  Prints markdown tables."""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import sysconfig
import tempfile

from poolalloc import workloads
from poolalloc.bench.harness import RSS, Case, clean_env, geomean, median, run_cases, run_measured
from poolalloc.bench.pyperformance import BENCHMARKS, benchmark_dir

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SETUPS = ("pymalloc", "pool", "ideal")
# pyperformance scripts run once under callgrind (short, allocation-light to -heavy).
PYPERF = ("bm_nqueens", "bm_richards", "bm_float")
PYPERF_ARGS = ["--worker", "--worker-task", "0", "--loops", "1", "--values", "1", "--warmups", "0", "-p", "1"]
# The MEM and OBJ domains' public entry points: every call into the allocator
# under test passes one of them, and none calls another.
ENTRIES = ("PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc", "PyObject_Free",
           "PyMem_Malloc", "PyMem_Calloc", "PyMem_Realloc", "PyMem_Free")


def build(bdir):
    """Compiles ceil_pyalloc.c into bdir/python_ceiling/ceil_pyalloc.so."""
    out = bdir / "python_ceiling"
    out.mkdir(parents=True, exist_ok=True)
    so = out / "ceil_pyalloc.so"
    subprocess.run(["cc", "-O2", "-g", "-DNDEBUG", "-std=gnu11", "-fPIC", "-shared",
                    "-I", sysconfig.get_paths()["include"], str(HERE / "ceil_pyalloc.c"), "-o", str(so)], check=True)
    return so


def setups(so):
    """{setup: (argv prefix that runs `-m module` or a script, env)}."""
    run = [sys.executable, str(HERE / "ideal_run.py")]
    return {"pymalloc": ([*run, "-"], {}), "pool": ([*run, "-"], {"POOLALLOC": "1"}), "ideal": ([*run, str(so)], {})}


def timing_table(cases, rounds):
    head = ["workload", *[f"{s} s" for s in SETUPS], "pool x pymalloc", "ideal x pymalloc", "pool x ideal",
            *[f"{s} RSS MiB" for s in SETUPS]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ratios = {}
    for c in cases:
        med = {s: median(c.samples[s]) for s in SETUPS}
        for a, b in (("pool", "pymalloc"), ("ideal", "pymalloc"), ("pool", "ideal")):
            ratios[c.name, a, b] = med[b] / med[a] if med[a] and med[b] else None
        lines.append("| " + " | ".join([c.name, *[f"{med[s]:.3f}" if med[s] else "-" for s in SETUPS],
                                        *[f"{ratios[c.name, a, b]:.3f}x" if ratios[c.name, a, b] else "-"
                                          for a, b in (("pool", "pymalloc"), ("ideal", "pymalloc"), ("pool", "ideal"))],
                                        *[f"{c.rss[s] / 1024:.1f}" for s in SETUPS]]) + " |")
    g = [geomean([ratios[c.name, a, b] for c in cases]) for a, b in (("pool", "pymalloc"), ("ideal", "pymalloc"),
                                                                    ("pool", "ideal"))]
    lines.append("| **geomean** | | | | " + " | ".join(f"**{x:.3f}x**" if x else "-" for x in g) + " | | | |")
    for c in cases:
        if c.errors:
            lines.append(f"\nerrors in {c.name}: {c.errors}")
        if len(set(map(str, c.checks.values()))) > 1:
            lines.append(f"\nchecksums differ in {c.name}: {c.checks}")
    return "\n".join(lines)


def inclusive(cg_file, names):
    """Sum of the inclusive instructions of the functions `names`."""
    a = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(cg_file)],
                       capture_output=True, text=True, check=True).stdout
    total = 0
    for m in re.finditer(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?\S*?:(\w+)(?:\s|$)", a, re.M):
        if m.group(2) in names:
            total += int(m.group(1).replace(",", ""))
    return total


def callgrind_one(argv, env):
    """(total instructions, inclusive inside the MEM/OBJ allocator) of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        cg = pathlib.Path(tmp) / "cg.out"
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}", *argv],
                           capture_output=True, text=True, env=clean_env({**env, "PYTHONHASHSEED": "0"}))
        if r.returncode != 0:
            sys.exit(f"ceiling: {' '.join(argv)} failed under callgrind: {r.stderr[-500:]}")
        return int(re.search(r"Collected : (\d+)", r.stderr).group(1)), inclusive(cg, ENTRIES)


def callgrind_table(so, names, scale):
    """Markdown: per program, each set-up's instructions against pymalloc's
    and the share inside the allocator.  A workload's figures are those of
    the run at `scale` minus those of the run at scale 1e-9 (start-up, imports
    and the workload's set-up taken out); a pyperformance script's are its
    whole process."""
    runs = [(w, ["-m", "poolalloc.workloads", w, "--scale", str(scale)],
             ["-m", "poolalloc.workloads", w, "--scale", "1e-9"]) for w in names]
    where = benchmark_dir()
    if where:
        runs += [(b[3:] + " (pyperformance)", [os.path.join(where, b, "run_benchmark.py"), *PYPERF_ARGS], None)
                 for b in PYPERF]
    head = ["program", "pymalloc Ir (M)", "pool / pymalloc", "ideal / pymalloc",
            *[f"in allocator: {s}" for s in SETUPS], "allocator-free bound"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, args, zero in runs:
        res = {}
        for s, (pre, env) in setups(so).items():
            total, inside = callgrind_one([*pre, *args], env)
            if zero:
                t0, i0 = callgrind_one([*pre, *zero], env)
                total, inside = total - t0, inside - i0
            res[s] = (total, inside)
        base, base_in = res["pymalloc"]
        lines.append("| " + " | ".join([
            name, f"{base / 1e6:.1f}", f"{res['pool'][0] / base:.3f}", f"{res['ideal'][0] / base:.3f}",
            *[f"{100 * res[s][1] / res[s][0]:.1f}%" for s in SETUPS],
            f"{base / (base - base_in):.3f}x"]) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def pair_counts(so):
    """Instructions per PyObject_Malloc + PyObject_Free pair of 32 B under
    each set-up (poolalloc.bench.instr's C loop and method): {setup: Ir}.
    pymalloc and pool run as `python -c`, as the instr face does: through
    ideal_run.py pymalloc's 32 B pool happens to be filled by the kept
    block, and every pair then empties and re-initialises a pool (94
    instructions, not its usual 79)."""
    from poolalloc.bench.instr import PY_SIZE, Pair, build_pairloop, per_pair
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        why = build_pairloop(tmp)
        if why:
            sys.exit(f"ceiling: {why}")
        code = f"import sys; sys.path.insert(0, {tmp!r}); import _pairloop; _pairloop.pairs({{n}}, {PY_SIZE})"
        for s, (pre, env) in setups(so).items():
            pre = pre if s == "ideal" else pre[:1]
            pair = Pair(s, "python", s, "", lambda n, pre=pre: [*pre, "-c", code.format(n=n)],
                        {**env, "PYTHONHASHSEED": "0"})
            ir, why = per_pair(pair, 200_000, tmp)
            out[s] = ir if why is None else why
    return out


def pyperf_line(argv, env):
    """The JSON line of one pyperf_run (a dict), or the reason there is none."""
    _, _, rc, out, err = run_measured(argv, clean_env(env))
    lines = out.strip().splitlines()
    if rc != 0 or not lines:
        return f"exit {rc}: {(err or out).strip()[-200:]}"
    return json.loads(lines[-1])


def rss_table(so, names, rounds):
    """Peak RSS (VmHWM) of pyperformance scripts under each set-up, medians
    of `rounds` interleaved rounds.  pyperf calibrates its loop count in
    each process, and scripts that keep what they make (logging keeps its
    output) then peak higher under a faster set-up; so each script first
    runs once under pymalloc to find a loop count of about 50 ms a value,
    and every set-up runs that count."""
    where = benchmark_dir()
    if where is None:
        sys.exit("ceiling: --rss needs pyperformance and pyperf (pip install 'poolalloc[pyperformance]')")
    sets = setups(so)
    runs = {}
    for name in names:
        folder, args = BENCHMARKS[name]
        cmd = ["-m", "poolalloc.bench.pyperf_run", os.path.join(where, folder, "run_benchmark.py")]
        pre, env = sets["pymalloc"]
        cal = pyperf_line([*pre, *cmd, "1", "0.05", *args], env)
        if isinstance(cal, str):
            sys.exit(f"ceiling: {name} under pymalloc: {cal}")
        loops = max(1, round(50_000 / cal["us"]))
        runs[name] = (loops, [*cmd, "3", "0.01", *args, "--loops", str(loops)])
    # A case's samples are its runs' peak RSS, one a round, in run_cases' rotated order.
    cases = [Case(name, {s: {"argv": [*pre, *runs[name][1]], "env": env} for s, (pre, env) in sets.items()},
                  seconds_key=RSS) for name in names]
    run_cases(cases, rounds, lambda: None)
    for c in cases:
        if c.errors:
            sys.exit(f"ceiling: {c.name}: {c.errors[0]}")
    head = ["benchmark", "loops", *[f"{s} MiB" for s in SETUPS], "pool / pymalloc", "ideal / pymalloc",
            "ideal - pymalloc MiB", "pool - ideal MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ratios = {"pool": [], "ideal": []}
    for c in cases:
        name = c.name
        med = {s: median(c.samples[s]) for s in SETUPS}
        for s in ratios:
            ratios[s].append(med[s] / med["pymalloc"])
        lines.append("| " + " | ".join([name, str(runs[name][0]), *[f"{med[s] / 1024:.2f}" for s in SETUPS],
                                        f"{ratios['pool'][-1]:.3f}", f"{ratios['ideal'][-1]:.3f}",
                                        f"{(med['ideal'] - med['pymalloc']) / 1024:+.2f}",
                                        f"{(med['pool'] - med['ideal']) / 1024:+.2f}"]) + " |")
    lines.append("| **geomean** | | | | | " + " | ".join(f"**{geomean(ratios[s]):.3f}**" for s in ratios) + " | | |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all)")
    ap.add_argument("--callgrind", action="store_true", help="also count instructions (callgrind)")
    ap.add_argument("--callgrind-scale", type=float, default=0.2)
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--rss", action="store_true", help="also compare peak RSS on pyperformance's scripts")
    ap.add_argument("--rss-only", default="", help="comma-separated pyperformance scripts for --rss (default: all)")
    ap.add_argument("--build-dir", default=os.environ.get("POOL_BUILD_DIR", str(ROOT / "build")))
    ns = ap.parse_args()
    so = build(pathlib.Path(ns.build_dir).resolve())
    names = [w for w in sorted(workloads.WORKLOADS) if not ns.only or w in ns.only.split(",")]
    if not ns.no_timing:
        cases = [Case(w, {s: {"argv": [*pre, "-m", "poolalloc.workloads", w, "--scale", str(ns.scale)], "env": env}
                          for s, (pre, env) in setups(so).items()}, seconds_key="seconds", check_key="checksum")
                 for w in names]
        load = os.getloadavg()[0]
        run_cases(cases, ns.rounds, lambda: None)
        print(f"Workload seconds (its own timer), median of {ns.rounds} interleaved rounds, scale {ns.scale}; "
              f"x = times faster; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.\n")
        print(timing_table(cases, ns.rounds))
    if ns.callgrind:
        print(f"\nInstructions (callgrind), workloads at scale {ns.callgrind_scale} minus scale 1e-9 (start-up "
              f"taken out), pyperformance scripts one loop (whole process); 'in allocator' = inclusive share in the MEM/OBJ "
              f"entry points; bound = pymalloc's Ir / (its Ir minus its allocator's), the speed-up of an allocator "
              f"that cost nothing:\n")
        print(callgrind_table(so, names, ns.callgrind_scale))
        pairs = pair_counts(so)
        print("\nInstructions per PyObject_Malloc + PyObject_Free pair (32 B, loop included): " +
              ", ".join(f"{s} {v:.1f}" if isinstance(v, float) else f"{s}: {v}" for s, v in pairs.items()))
    if ns.rss:
        scripts = [b for b in BENCHMARKS if not ns.rss_only or b in ns.rss_only.split(",")]
        print(f"\nPeak RSS (VmHWM) of pyperformance scripts, one loop count for every set-up (about 50 ms a value "
              f"under pymalloc, 3 values after a warm-up), median of {ns.rounds} interleaved rounds:\n")
        print(rss_table(so, scripts, ns.rounds))


if __name__ == "__main__":
    main()
