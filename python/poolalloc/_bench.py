"""poolalloc._bench -- `python -m poolalloc bench`: the benchmark suite's
user-facing front.  It runs the C pair patterns, the Python workloads, the
Lua workloads and the LD_PRELOAD stress programs, each under libpool, the
runtime's default allocator and the installed peers (glibc, mimalloc,
jemalloc), interleaved, and reports medians, speed-ups and peak RSS, with
results.json and a PNG chart.  The same workloads run under pytest in
tests/benchmarks/.
"""
import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

FACES = ("c", "python", "lua", "preload")
PEERS = ("glibc", "mimalloc", "jemalloc")
# Peer libraries (Debian's libmimalloc-dev / libjemalloc-dev); the env
# variable overrides the path, and a path that does not exist skips the peer.
PEER_LIBS = {"mimalloc": ("POOL_BENCH_MIMALLOC", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"),
             "jemalloc": ("POOL_BENCH_JEMALLOC", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")}
# Environment variables that change which allocator a child process uses.
ALLOC_VARS = ("POOLALLOC", "POOLALLOC_DOMAINS", "POOLALLOC_LIMIT", "PYTHONMALLOC", "PYTHONTRACEMALLOC",
              "PYTHONDEVMODE", "POOL_DEBUG", "POOL_STATS", "LD_PRELOAD")
# Runner modules of the other faces, in <source>/tests/benchmarks/.
RUNNERS = {"lua": ("lua_suite.py", "lua_runner.py", "luabench.py", "lua_bench.py"),
           "preload": ("stress_suite.py",)}

USAGE = """\
python -m poolalloc bench [--quick] [--out DIR] [--only FACES] [--rounds N]
                          [--peers LIST] [--build-dir DIR] [--source DIR]

Runs the benchmark suite: libpool against the runtime's default allocator
and against the installed peers (glibc, mimalloc, jemalloc), in one run,
interleaved (the allocator order rotates every round), and prints medians,
the speed-up over the default and over mimalloc, and peak RSS.  Writes
DIR/results.json, DIR/results.md (the tables in Markdown) and DIR/bench.png.

faces (--only, comma-separated; default all):
  c        the C pair patterns (tests/benchmarks/c/bench_pairs), in Mpairs/s
  python   poolalloc.workloads under pymalloc (the default), POOLALLOC=1,
           PYTHONMALLOC=malloc (glibc) and glibc+LD_PRELOAD of each peer
  lua      the Lua workloads: poollua against lua5.4 (and LD_PRELOAD peers)
  preload  the stress programs under LD_PRELOAD=libpoolmalloc.so and peers

Native artifacts (bench_pairs, poollua, libpoolmalloc.so) come from the CMake
build directory: --build-dir, else $POOL_BUILD_DIR, else <source>/build, where
<source> is --source, else $POOL_SOURCE_DIR, else the poolalloc checkout
containing the current directory.  If an artifact is missing, bench builds
it with `cmake -S <source> -B <build> && cmake --build <build>`.
Peers: $POOL_BENCH_MIMALLOC and $POOL_BENCH_JEMALLOC override the library
paths; a peer that is not installed is skipped with a note.
"""


class UsageError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m poolalloc bench", usage=USAGE.split("\n\n")[0],
                                description=USAGE.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer rounds, smaller workloads (under 2 minutes)")
    p.add_argument("--out", default="bench-results", metavar="DIR",
                   help="directory for results.json and bench.png (default: ./bench-results)")
    p.add_argument("--only", default=",".join(FACES), metavar="FACES",
                   help="comma-separated faces to run: c, python, lua, preload (default: all)")
    p.add_argument("--rounds", type=int, metavar="N", help="interleaved rounds per benchmark")
    p.add_argument("--peers", default=",".join(PEERS), metavar="LIST",
                   help="peers to compare with, from glibc, mimalloc, jemalloc (default: all)")
    p.add_argument("--build-dir", metavar="DIR", help="CMake build directory (default: $POOL_BUILD_DIR or <source>/build)")
    p.add_argument("--source", metavar="DIR", help="poolalloc source tree (default: $POOL_SOURCE_DIR or the checkout here)")
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tests: one tiny round
    ns = p.parse_args(argv)
    ns.only = _names(p, "--only", ns.only, FACES)
    ns.peers = _names(p, "--peers", ns.peers, PEERS, allow_empty=True)
    if ns.rounds is not None and not 1 <= ns.rounds <= 101:
        p.error(f"--rounds must be between 1 and 101, not {ns.rounds}")
    return ns


def _names(p, option, text, allowed, allow_empty=False):
    """The comma-separated names of `text`, checked against `allowed`."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        p.error(f"{option}: unknown name {bad[0]!r} (choose from {', '.join(allowed)})")
    if not names and not allow_empty:
        p.error(f"{option}: give at least one of {', '.join(allowed)}")
    return [n for n in allowed if n in names]


# ---- where things are ----

def find_source(explicit=None):
    """The poolalloc source tree: explicit, $POOL_SOURCE_DIR, the checkout
    around the current directory, or the one this file lives in."""
    here = pathlib.Path.cwd()
    for cand in (explicit, os.environ.get("POOL_SOURCE_DIR"), here, *here.parents,
                 pathlib.Path(__file__).resolve().parents[2]):
        if cand and (pathlib.Path(cand) / "libpool" / "include" / "pool.h").is_file() \
                and (pathlib.Path(cand) / "CMakeLists.txt").is_file():
            return pathlib.Path(cand).resolve()
    if explicit:
        raise UsageError(f"--source {explicit}: not a poolalloc source tree (no libpool/include/pool.h)")
    return None


def find_artifact(build, name):
    """Path of built file `name` under build dir `build`, or None."""
    if not build or not build.is_dir():
        return None
    for path in sorted(build.rglob(name)):
        if "CMakeFiles" not in path.parts and path.is_file() and os.access(path, os.X_OK | os.R_OK):
            return path
    return None


def cmake_build(source, build, log):
    """Configure (if needed) and build every native artifact; '' on
    success, else the reason."""
    if not shutil.which("cmake"):
        return "cmake is not installed"
    steps = []
    if not (build / "CMakeCache.txt").exists():
        steps.append(["cmake", "-S", str(source), "-B", str(build)])
    steps.append(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2)])
    for cmd in steps:
        log(f"bench: {' '.join(cmd)}")
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode:
            return f"`{' '.join(cmd)}` failed:\n{r.stdout[-3000:]}"
    return ""


def peer_libs(peers):
    """({peer: library path} for LD_PRELOAD / dlopen, [notes on the
    missing ones])."""
    libs, notes = {}, []
    for name in peers:
        if name not in PEER_LIBS:
            continue
        var, default = PEER_LIBS[name]
        path = os.environ.get(var, default)
        if path and os.path.isfile(path):
            libs[name] = path
        else:
            notes.append(f"{name} skipped: {path or '(empty)'} not found" + (f" (${var})" if var in os.environ else ""))
    return libs, notes


def clean_env(extra=None):
    """os.environ without allocator settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ALLOC_VARS}
    env.update(extra or {})
    return env


def machine():
    """A short description of this machine, for the table and the chart."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem = ""
    try:
        mem = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "memory": mem, "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version()}


# ---- running interleaved benchmarks ----

class Case:
    """One benchmark: the same program under each allocator (a variant:
    argv and extra environment).  `seconds_key` names the field of the
    JSON line the program prints with its own timing (else wall time)."""

    def __init__(self, name, variants, seconds_key=None, check_key=None, what="", group=None):
        self.name, self.variants, self.what, self.group = name, dict(variants), what, group
        self.seconds_key, self.check_key = seconds_key, check_key
        self.samples = {v: [] for v in self.variants}
        self.rss = {v: 0 for v in self.variants}
        self.checks = {}
        self.errors = []


def run_measured(argv, env, timeout=600):
    """Run a program; (wall seconds, peak RSS kB, returncode, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_maxrss, proc.returncode, out.read().decode(errors="replace"), \
            err.read().decode(errors="replace")


def run_cases(cases, rounds, tick):
    """Run every case's variants `rounds` times, interleaved: in round r the
    variant order is rotated by r.  Fills samples, rss, checks, errors."""
    for r in range(rounds):
        for case in cases:
            names = list(case.variants)
            for k in range(len(names)):
                name = names[(r + k) % len(names)]
                run_variant(case, name)
                tick()


def run_variant(case, name):
    """One measured run of one variant of `case`."""
    v = case.variants[name]
    wall, rss, rc, out, err = run_measured(v["argv"], clean_env(v.get("env")))
    if rc != 0:
        case.errors.append(f"{name}: exit {rc}: {(err or out).strip()[-300:]}")
        return
    seconds = wall
    if case.seconds_key or case.check_key:
        try:
            line = json.loads(out.strip().splitlines()[-1])
            seconds = float(line[case.seconds_key]) if case.seconds_key else wall
            if case.check_key:
                case.checks.setdefault(name, line[case.check_key])
            # The child's own VmHWM: wait4's figure includes our pages (vfork).
            rss = int(line.get("maxrss_kb") or line.get("peak_rss_kb") or rss)
        except (ValueError, IndexError, KeyError, TypeError):
            case.errors.append(f"{name}: no JSON result line in its output: {out.strip()[-200:]!r}")
            return
    case.samples[name].append(seconds)
    case.rss[name] = max(case.rss[name], rss)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if not n:
        return None
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def face_result(cases, unit, higher_better, default, pool, notes):
    """The results of one face: per benchmark and variant the median, the
    samples and peak RSS; the pool's speed-up over the default and over
    mimalloc; geomeans."""
    benches = []
    for c in cases:
        res = {v: {"median": median(s), "samples": s, "peak_rss_kb": c.rss.get(v) or None}
               for v, s in c.samples.items() if s}
        if c.checks and len(set(map(json.dumps, c.checks.values()))) > 1:
            c.errors.append(f"results differ between allocators: {c.checks}")
        b = {"name": c.name, "what": c.what, "group": c.group, "results": res, "errors": c.errors}
        for ref, key in ((default, "speedup_default"), ("mimalloc", "speedup_mimalloc")):
            b[key] = speedup(res, pool, ref, higher_better)
        benches.append(b)
    return {"status": "ok", "unit": unit, "higher_is_better": higher_better, "default": default, "pool": pool,
            "allocators": sorted({v for c in cases for v in c.variants}, key=order_key(pool, default)),
            "benchmarks": benches, "notes": notes,
            "geomean": {k: geomean([b[k] for b in benches]) for k in ("speedup_default", "speedup_mimalloc")},
            "group_geomean": group_geomeans(benches)}


def group_geomeans(benches):
    """{group: geomeans of its benchmarks' speed-ups} when the benchmarks are
    tagged with more than one group (the Lua workloads), else {}."""
    groups = list(dict.fromkeys(b["group"] for b in benches if b.get("group")))
    if len(groups) < 2:
        return {}
    return {g: {k: geomean([b[k] for b in benches if b.get("group") == g])
                for k in ("speedup_default", "speedup_mimalloc")} for g in groups}


def speedup(res, pool, ref, higher_better):
    """How many times faster the pool is than `ref` (None if either is missing)."""
    if pool not in res or ref not in res or not res[pool]["median"] or not res[ref]["median"]:
        return None
    a, b = res[pool]["median"], res[ref]["median"]
    return a / b if higher_better else b / a


def order_key(pool, default):
    """Sort key: the pool, the default, then the peers in PEERS order."""
    rank = {pool: 0, default: 1, **{p: 2 + i for i, p in enumerate(PEERS)}}
    return lambda v: (rank.get(v, 9), v)


def skipped(note):
    return {"status": "skipped", "note": note}


# ---- the faces ----

class Context:
    """What every face needs: options, where things are, progress."""

    def __init__(self, ns, log):
        self.quick, self.smoke = ns.quick or ns.smoke, ns.smoke
        self.rounds_opt = ns.rounds
        self.peers = ns.peers
        self.libs, self.peer_notes = peer_libs(ns.peers)
        self.log = log
        self.source = find_source(ns.source)
        build = ns.build_dir or os.environ.get("POOL_BUILD_DIR") or (self.source / "build" if self.source else None)
        self.build = pathlib.Path(build).resolve() if build else None
        self.built = False
        self.build_error = ""

    def rounds(self, full, quick):
        if self.rounds_opt:
            return self.rounds_opt
        return 1 if self.smoke else quick if self.quick else full

    def artifact(self, name):
        """A native artifact; builds the tree once if it is missing."""
        path = find_artifact(self.build, name)
        if path or self.built:
            return path
        self.built = True
        if not self.source:
            self.build_error = "no poolalloc source tree found (run from the checkout, or set POOL_SOURCE_DIR " \
                               "or POOL_BUILD_DIR)"
            return None
        if not self.build:
            return None
        self.build.mkdir(parents=True, exist_ok=True)
        self.build_error = cmake_build(self.source, self.build, self.log)
        return find_artifact(self.build, name)

    def missing(self, what):
        return f"{what} not found in {self.build}" + (f": {self.build_error}" if self.build_error else "")

    def runner(self, face):
        """The runner module of `face` in <source>/tests/benchmarks, or None."""
        if not self.source:
            return None
        for fname in RUNNERS.get(face, ()):
            path = self.source / "tests" / "benchmarks" / fname
            if path.is_file():
                import importlib.util
                spec = importlib.util.spec_from_file_location(f"_poolalloc_bench_{face}", path)
                mod = importlib.util.module_from_spec(spec)
                sys.path.insert(0, str(path.parent))
                try:
                    spec.loader.exec_module(mod)
                finally:
                    sys.path.remove(str(path.parent))
                return mod
        return None


class CFace:
    """The C pair patterns: one bench_pairs process that interleaves the
    allocators itself (Mpairs/s, higher is better)."""
    name = "c"

    def prepare(self, ctx):
        self.exe = ctx.artifact("bench_pairs")
        if not self.exe:
            return ctx.missing("bench_pairs")
        self.rounds = ctx.rounds(11, 5)
        return ""

    def steps(self):
        return 5

    def run(self, ctx, tick):
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "pairs.json"
            argv = [str(self.exe), "--rounds", str(self.rounds), "--json", str(out),
                    "--peers", ",".join(ctx.peers)]
            if ctx.quick:
                argv.append("--quick")
            if ctx.smoke:
                argv += ["--scale", "0.1", "--no-rss"]
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if line.strip().endswith(" done"):
                    tick()
            err = proc.stderr.read()
            if proc.wait() != 0 or not out.exists():
                return skipped(f"bench_pairs failed (exit {proc.returncode}): {(err or ''.join(lines))[-500:]}")
            data = json.loads(out.read_text())
        return self.convert(data)

    @staticmethod
    def convert(data):
        """bench_pairs' JSON in the shape of the other faces."""
        cases, notes = [], []
        for a in data["allocators"]:
            if not a["available"]:
                notes.append(f"{a['name']} skipped: {a['note']}")
        for p in data["patterns"]:
            c = Case(p["name"], {k: {} for k in p["results"]}, what=p["what"])
            for k, r in p["results"].items():
                c.samples[k] = r["samples"]
                c.rss[k] = r["peak_rss_kb"] if r["peak_rss_kb"] >= 0 else 0
            cases.append(c)
        face = face_result(cases, "Mpairs/s", True, "glibc", "pool", notes)
        for b, p in zip(face["benchmarks"], data["patterns"]):
            for k, r in p["results"].items():   # bench_pairs' RSS is growth during one run
                b["results"][k]["peak_rss_kb"] = r["peak_rss_kb"] if r["peak_rss_kb"] >= 0 else None
        face["rss_note"] = "peak RSS growth during one run of the pattern, in a fresh child"
        return face


class PythonFace:
    """poolalloc.workloads in fresh interpreters: pymalloc (the default),
    poolalloc (POOLALLOC=1), glibc (PYTHONMALLOC=malloc) and each peer
    preloaded under PYTHONMALLOC=malloc.  Seconds, lower is better."""
    name = "python"

    def prepare(self, ctx):
        from . import workloads
        self.names = sorted(workloads.WORKLOADS)
        self.scale = 0.05 if ctx.smoke else 0.4 if ctx.quick else 1.0
        self.rounds = ctx.rounds(5, 3)
        variants = {"pymalloc": {}, "poolalloc": {"POOLALLOC": "1"}}
        if "glibc" in ctx.peers:
            variants["glibc"] = {"PYTHONMALLOC": "malloc"}
        for peer, lib in ctx.libs.items():
            variants[peer] = {"PYTHONMALLOC": "malloc", "LD_PRELOAD": lib}
        self.cases = [Case(n, {v: {"argv": [sys.executable, "-m", "poolalloc.workloads", n, "--scale", str(self.scale)],
                                   "env": env} for v, env in variants.items()},
                           seconds_key="seconds", check_key="checksum", what=f"scale {self.scale}")
                      for n in self.names]
        return ""

    def steps(self):
        return self.rounds * sum(len(c.variants) for c in self.cases)

    def run(self, ctx, tick):
        run_cases(self.cases, self.rounds, tick)
        return face_result(self.cases, "s", False, "pymalloc", "poolalloc", list(ctx.peer_notes))


class RunnerFace:
    """A face whose workloads come from another engineer's runner module in
    tests/benchmarks/: it provides bench_cases(build_dir, quick, peers)
    returning {"cases": [...], "default": ..., "pool": ..., "notes": [...]},
    each case a dict name, variants {allocator: {"argv", "env"}}, optional
    seconds_key/check_key/what; this side runs them interleaved."""

    def __init__(self, name, what):
        self.name, self.what = name, what

    def prepare(self, ctx):
        mod = ctx.runner(self.name)
        if mod is None:
            return f"the {self.what} runner ({' or '.join(RUNNERS[self.name])} in tests/benchmarks/) is not in " \
                   f"{ctx.source or 'this installation (no source tree)'}"
        if not hasattr(mod, "bench_cases"):
            return f"{mod.__file__} has no bench_cases() for `python -m poolalloc bench`"
        if ctx.build and not ctx.artifact("libpool.so"):
            return ctx.missing("libpool.so")
        spec = mod.bench_cases(build_dir=ctx.build, quick=ctx.quick, peers=dict(ctx.libs, **(
            {"glibc": None} if "glibc" in ctx.peers else {})))
        if isinstance(spec, str):
            return spec
        self.default, self.pool = spec["default"], spec["pool"]
        self.notes = list(spec.get("notes", ())) + list(ctx.peer_notes)
        self.cases = [Case(c["name"], c["variants"], c.get("seconds_key"), c.get("check_key"), c.get("what", ""),
                           c.get("group"))
                      for c in spec["cases"]]
        if ctx.smoke:
            self.cases = self.cases[:2]
        self.rounds = ctx.rounds(5, 3)
        return ""

    def steps(self):
        return self.rounds * sum(len(c.variants) for c in self.cases)

    def run(self, ctx, tick):
        run_cases(self.cases, self.rounds, tick)
        return face_result(self.cases, "s", False, self.default, self.pool, self.notes)


def make_faces(only):
    table = {"c": CFace(), "python": PythonFace(), "lua": RunnerFace("lua", "Lua benchmark"),
             "preload": RunnerFace("preload", "LD_PRELOAD stress")}
    return [table[f] for f in only]


# ---- the report ----

def fmt_value(v, unit):
    if v is None:
        return "-"
    return f"{v:.1f}" if unit == "Mpairs/s" else f"{v:.3f}"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def fmt_rss(kb):
    return "-" if not kb else f"{kb / 1024:.1f}"


def table(results):
    """The comparison table, as text."""
    lines = []
    head = f"{'face':8} {'benchmark':18} {'pool':>9} {'default':>18} {'mimalloc':>9} {'x default':>9} " \
           f"{'x mimalloc':>10} {'RSS MiB pool/default/mimalloc':>30}"
    lines += [head, "-" * len(head)]
    for fname, face in results["faces"].items():
        if face["status"] != "ok":
            lines.append(f"{fname:8} skipped: {face['note'].splitlines()[0]}")
            continue
        unit, pool, dflt = face["unit"], face["pool"], face["default"]
        for b in face["benchmarks"]:
            r = b["results"]
            get = lambda k, f: r[k][f] if k in r else None   # noqa: E731
            lines.append(f"{fname:8} {b['name'][:18]:18} {fmt_value(get(pool, 'median'), unit):>9} "
                         f"{dflt[:8] + ' ' + fmt_value(get(dflt, 'median'), unit):>18} "
                         f"{fmt_value(get('mimalloc', 'median'), unit):>9} {fmt_ratio(b['speedup_default']):>9} "
                         f"{fmt_ratio(b['speedup_mimalloc']):>10} "
                         f"{fmt_rss(get(pool, 'peak_rss_kb')) + ' / ' + fmt_rss(get(dflt, 'peak_rss_kb')) + ' / ' + fmt_rss(get('mimalloc', 'peak_rss_kb')):>30}")
            for e in b["errors"]:
                lines.append(f"{'':8} error: {e}")
        g = face["geomean"]
        for label, g in (("geomean", g), *((f"geomean {k}", v) for k, v in face.get("group_geomean", {}).items())):
            lines.append(f"{fname:8} {label[:18]:18} {'':9} {'':18} {'':9} {fmt_ratio(g['speedup_default']):>9} "
                         f"{fmt_ratio(g['speedup_mimalloc']):>10}")
        lines.append(f"{'':8} ({unit}, median of {max(len(x['samples']) for b in face['benchmarks'] for x in b['results'].values()) if face['benchmarks'] else 0}"
                     f" rounds; x = times faster than; pool = {pool}, default = {dflt})")
    notes = [n for f in results["faces"].values() for n in f.get("notes", ())]
    for n in dict.fromkeys(notes):
        lines.append(f"note: {n}")
    return "\n".join(lines)


def markdown(results):
    """The results as Markdown, for README.md: per face, every allocator's
    median, the pool's speed-ups, and peak RSS, under the date and machine."""
    m = results["machine"]
    lines = [f"Measured {results['date'][:10]} on {m['cpu']}, {m['cpus']} CPUs, {m['memory']}, {m['system']}, "
             f"Python {m['python']}{' (--quick)' if results['quick'] else ''}."]
    for fname, face in results["faces"].items():
        if face["status"] != "ok":
            lines += ["", f"**{fname}**: skipped: {face['note'].splitlines()[0]}"]
            continue
        unit, pool, dflt, allocs = face["unit"], face["pool"], face["default"], face["allocators"]
        rounds = max((len(x["samples"]) for b in face["benchmarks"] for x in b["results"].values()), default=0)
        better = "higher" if face["higher_is_better"] else "lower"
        lines += ["", f"**{fname}** ({unit}, {better} is better; median of {rounds} interleaved rounds; "
                      f"x = times faster than)", "",
                  "| benchmark | " + " | ".join(allocs) + f" | x {dflt} | x mimalloc | peak RSS MiB "
                  + "/".join(allocs) + " |",
                  "|---" * (len(allocs) + 4) + "|"]
        for b in face["benchmarks"]:
            r = b["results"]
            cell = lambda a, f: r[a][f] if a in r else None   # noqa: E731
            lines.append(f"| {b['name']} | " + " | ".join(fmt_value(cell(a, "median"), unit) for a in allocs)
                         + f" | {fmt_ratio(b['speedup_default'])} | {fmt_ratio(b['speedup_mimalloc'])} | "
                         + " / ".join(fmt_rss(cell(a, "peak_rss_kb")) for a in allocs) + " |")
        g = face["geomean"]
        for label, g in (("geomean", g), *((f"geomean {k}", v) for k, v in face.get("group_geomean", {}).items())):
            lines.append(f"| **{label}** |" + " |" * len(allocs) + f" **{fmt_ratio(g['speedup_default'])}** | "
                         f"**{fmt_ratio(g['speedup_mimalloc'])}** | |")
        for n in face.get("notes", ()):
            lines.append(f"\nnote: {n}")
    return "\n".join(lines) + "\n"


def chart(results, path):
    """A PNG: per face, each allocator's speed relative to the default
    (the default = 1, right is faster), one group of bars per benchmark."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    faces = [(n, f) for n, f in results["faces"].items() if f["status"] == "ok" and f["benchmarks"]]
    heights = [max(1.5, 0.45 * len(f["benchmarks"]) * (len(f["allocators"]) + 1) / 3 + 1) for _, f in faces] or [2]
    fig, axes = plt.subplots(len(faces) or 1, 1, figsize=(9, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    colors = {"pool": "#d62728", "poolalloc": "#d62728", "glibc": "#7f7f7f", "pymalloc": "#8c564b",
              "mimalloc": "#1f77b4", "jemalloc": "#2ca02c"}
    for ax, (fname, face) in zip(axes[:, 0], faces):
        allocs = face["allocators"]
        width = 0.8 / len(allocs)
        for j, a in enumerate(allocs):
            ys, xs = [], []
            for i, b in enumerate(face["benchmarks"]):
                rel = speedup(b["results"], a, face["default"], face["higher_is_better"])
                if rel is not None:
                    ys.append(i + j * width - 0.4 + width / 2)
                    xs.append(rel)
            label = f"{a} (default)" if a == face["default"] else a
            ax.barh(ys, xs, height=width, label=label, color=colors.get(a, f"C{j + 4}"))
            if a == face["pool"]:
                for y, x in zip(ys, xs):
                    ax.text(x, y, f" {x:.2f}x", va="center", fontsize=7)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(face["benchmarks"])))
        ax.set_yticklabels([b["name"] for b in face["benchmarks"]])
        ax.invert_yaxis()
        ax.set_title(f"{fname}: speed relative to {face['default']} (higher is faster)", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    if not faces:
        axes[0, 0].text(0.5, 0.5, "no face ran", ha="center", va="center")
        axes[0, 0].set_axis_off()
    m = results["machine"]
    fig.suptitle(f"poolalloc bench {results['date'][:10]} - {m['cpu']}, {m['cpus']} cpus", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---- main ----

def main(argv=None):
    ns = parse_args(sys.argv[1:] if argv is None else argv)
    from tqdm import tqdm

    out = pathlib.Path(ns.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        sys.stderr.write(f"python -m poolalloc bench: cannot create --out {out}: {exc.strerror}\n")
        return 2
    t0 = time.time()
    log = lambda msg: tqdm.write(msg, file=sys.stderr)   # noqa: E731
    try:
        ctx = Context(ns, log)
    except UsageError as exc:
        sys.stderr.write(f"python -m poolalloc bench: {exc}\n")
        return 2
    from . import __version__
    results = {"poolalloc": __version__, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine(), "quick": ctx.quick, "peers": ns.peers,
               "peer_libraries": ctx.libs, "faces": {}}
    faces, planned = [], 0
    for face in make_faces(ns.only):
        why = face.prepare(ctx)
        if why:
            results["faces"][face.name] = skipped(why)
            log(f"bench: {face.name} skipped: {why.splitlines()[0]}")
        else:
            faces.append(face)
            planned += face.steps()
    with tqdm(total=planned, unit="run", desc="bench", file=sys.stderr, dynamic_ncols=True) as bar:
        for face in faces:
            bar.set_postfix_str(face.name)
            results["faces"][face.name] = face.run(ctx, lambda: bar.update(1))
    results["faces"] = {f: results["faces"][f] for f in ns.only}
    results["seconds"] = round(time.time() - t0, 1)
    text = table(results)
    print(text)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(markdown(results))
    chart(results, out / "bench.png")
    print(f"\nwrote {out / 'results.json'}, results.md and bench.png ({results['seconds']} s)")
    return 0
