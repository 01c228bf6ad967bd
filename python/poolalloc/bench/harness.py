"""poolalloc.bench.harness -- what every face of the benchmark suite shares,
written once: where the checkout and the CMake build are, the environment
scrubbed of allocator settings, one measured run of a program, the
interleaving loop (the allocator order rotates every round), medians and
geometric means (statistics), and a face's results in one shape."""
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import tempfile
import time

from .peers import PEERS, peer_libs

# The name of the libpool variant in every face, and the key of peak RSS.
POOL = "pool"
RSS = "peak_rss_kb"
# Environment variables that change which allocator a child process uses,
# or how Lua starts.
ALLOC_VARS = ("POOLALLOC", "POOLALLOC_DOMAINS", "POOLALLOC_LIMIT", "PYTHONMALLOC", "PYTHONTRACEMALLOC",
              "PYTHONDEVMODE", "POOL_DEBUG", "POOL_STATS", "LD_PRELOAD", "POOLLUA_LIMIT", "LUA_INIT", "LUA_INIT_5_4")


class UsageError(Exception):
    pass


def clean_env(extra=None):
    """os.environ without allocator settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ALLOC_VARS}
    env.update(extra or {})
    return env


def median(xs):
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x]
    return statistics.geometric_mean(xs) if xs else None


# ---- where things are ----

def find_source(explicit=None):
    """The poolalloc source tree: explicit, $POOL_SOURCE_DIR, or the
    checkout around the current directory; None outside one."""
    here = pathlib.Path.cwd()
    for cand in (explicit, os.environ.get("POOL_SOURCE_DIR"), here, *here.parents):
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


def machine():
    """A short description of this machine, for the table and the chart,
    with its load average (1 minute) when the run starts: what else ran."""
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
            "python": platform.python_version(), "load": round(os.getloadavg()[0], 1)}


class Context:
    """What every face needs: options, where things are, the peers, progress.
    `ns` has quick, smoke, rounds, peers, source and build_dir."""

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
        """A native artifact of the CMake build; builds the tree once if it
        is missing and the source is known."""
        path = find_artifact(self.build, name)
        if path or self.built or not self.source or not self.build:
            return path
        self.built = True
        self.build.mkdir(parents=True, exist_ok=True)
        self.build_error = cmake_build(self.source, self.build, self.log)
        return find_artifact(self.build, name)

    def missing(self, what):
        """Why `what` cannot run, and how to make it."""
        if not self.build:
            return f"{what} not found: no CMake build (give --build-dir or set POOL_BUILD_DIR; in a poolalloc " \
                   f"checkout: cmake -S . -B build && cmake --build build)"
        how = f"cmake -S <poolalloc checkout> -B {self.build} && cmake --build {self.build}"
        return f"{what} not found in {self.build}" + (f": {self.build_error}" if self.build_error else
                                                      f" (build it: {how})")

    def peer_variants(self, make):
        """{peer: make(library or None)} of the wanted peers: glibc (None)
        and each peer library found."""
        out = {"glibc": make(None)} if "glibc" in self.peers else {}
        out.update({peer: make(lib) for peer, lib in self.libs.items()})
        return out


# ---- running interleaved benchmarks ----

class Case:
    """One benchmark: the same program under each allocator (a variant:
    {"argv", "env"}).  `seconds_key` names the field of the JSON line the
    program prints with its own timing (else wall time); `check_key` one
    that must agree across allocators; `group` the workload group whose
    geomean it joins (the Lua face's program, compute and micro)."""

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
                run_variant(case, names[(r + k) % len(names)])
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
            rss = int(line.get(RSS) or rss)
        except (ValueError, IndexError, KeyError, TypeError):
            case.errors.append(f"{name}: no JSON result line in its output: {out.strip()[-200:]!r}")
            return
    case.samples[name].append(seconds)
    case.rss[name] = max(case.rss[name], rss)


def speedup(res, pool, ref, higher_better):
    """How many times faster the pool is than `ref` (None if either is missing)."""
    if pool not in res or ref not in res or not res[pool]["median"] or not res[ref]["median"]:
        return None
    a, b = res[pool]["median"], res[ref]["median"]
    return a / b if higher_better else b / a


def order_key(default):
    """Sort key: the pool, the default, then the peers in PEERS order."""
    rank = {POOL: 0, default: 1, **{p: 2 + i for i, p in enumerate(PEERS)}}
    return lambda v: (rank.get(v, 9), v)


def face_result(cases, unit, higher_better, default, notes):
    """The results of one face: per benchmark and variant the median, the
    samples and peak RSS; the pool's speed-up over the default and over
    mimalloc; geomeans."""
    benches = []
    for c in cases:
        res = {v: {"median": median(s), "samples": s, RSS: c.rss.get(v) or None}
               for v, s in c.samples.items() if s}
        if c.checks and len(set(map(json.dumps, c.checks.values()))) > 1:
            c.errors.append(f"results differ between allocators: {c.checks}")
        b = {"name": c.name, "what": c.what, "group": c.group, "results": res, "errors": c.errors}
        for ref, key in ((default, "speedup_default"), ("mimalloc", "speedup_mimalloc")):
            b[key] = speedup(res, POOL, ref, higher_better)
        benches.append(b)
    return {"status": "ok", "unit": unit, "higher_is_better": higher_better, "default": default, "pool": POOL,
            "allocators": sorted({v for c in cases for v in c.variants}, key=order_key(default)),
            "benchmarks": benches, "notes": notes,
            "geomean": speedup_geomeans(benches), "group_geomean": group_geomeans(benches)}


def speedup_geomeans(benches):
    return {k: geomean([b[k] for b in benches]) for k in ("speedup_default", "speedup_mimalloc")}


def group_geomeans(benches):
    """{group: geomeans of its benchmarks' speed-ups} when the benchmarks
    are tagged with more than one group (the Lua workloads), else {}."""
    groups = list(dict.fromkeys(b["group"] for b in benches if b.get("group")))
    if len(groups) < 2:
        return {}
    return {g: speedup_geomeans([b for b in benches if b.get("group") == g]) for g in groups}


def skipped(note):
    return {"status": "skipped", "note": note}


class CasesFace:
    """A face made of Cases run by run_cases (seconds, lower is better):
    subclasses set name and default and make the cases in make_cases(ctx),
    or return a str saying why they cannot run."""
    name = default = ""
    rounds_full, rounds_quick = 5, 3
    smoke_cases = 2         # --smoke (the tests): the first cases only

    def prepare(self, ctx):
        cases = self.make_cases(ctx)
        if isinstance(cases, str):
            return cases
        self.cases = cases[:self.smoke_cases] if ctx.smoke else cases
        self.rounds = ctx.rounds(self.rounds_full, self.rounds_quick)
        return ""

    def steps(self):
        return self.rounds * sum(len(c.variants) for c in self.cases)

    def run(self, ctx, tick):
        run_cases(self.cases, self.rounds, tick)
        return face_result(self.cases, "s", False, self.default, self.notes(ctx))

    def notes(self, ctx):
        return list(ctx.peer_notes)
