"""poolalloc._bench_lua -- the Lua face of the benchmarks: the workloads of
tests/benchmarks/lua/ under poollua (Lua on a libpool heap), stock lua5.4
(glibc malloc), and lua5.4 with each peer allocator preloaded (mimalloc,
jemalloc), in one run, interleaved: round r runs the runtimes in an order
rotated by r.  Each run is a fresh process; its wall time and peak RSS
(wait4) are recorded, and its checksum line must agree across runtimes.

    run_lua(build_dir, quick, progress=None) -> list of rows
    bench_cases(build_dir, quick, peers) -> the spec _bench.RunnerFace runs
    table(rows) -> text
"""
import json
import math
import os
import pathlib
import shutil
import subprocess
import time

# Each workload's first line names its group: "-- group: program" (code
# that looks like a real program), "compute" (the control group: the
# allocator idle) or "micro" (one allocation pattern).
GROUPS = ("program", "compute", "micro")
POOL, STOCK = "poollua", "lua5.4"
PEER_LIBS = {"mimalloc": ("POOL_BENCH_MIMALLOC", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"),
             "jemalloc": ("POOL_BENCH_JEMALLOC", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")}
# Environment that would change a child's allocator or Lua's start-up.
_DROP = ("LD_PRELOAD", "POOL_DEBUG", "POOL_STATS", "POOLLUA_LIMIT", "LUA_INIT", "LUA_INIT_5_4")


def workloads_dir(build_dir=None):
    """tests/benchmarks/lua of the source tree: this checkout, else
    $POOL_SOURCE_DIR, else next to the build directory."""
    here = pathlib.Path(__file__).resolve().parents[2]
    candidates = [here, pathlib.Path(os.environ.get("POOL_SOURCE_DIR", here))]
    if build_dir:
        candidates.append(pathlib.Path(build_dir).resolve().parent)
    for root in candidates:
        d = root / "tests" / "benchmarks" / "lua"
        if (d / "compute.lua").is_file():
            return d
    raise FileNotFoundError("tests/benchmarks/lua not found (set POOL_SOURCE_DIR to the poolalloc checkout)")


def workloads(wdir):
    """{name: group} of the workloads in wdir (every *.lua but run.lua),
    ordered by group then name.  A file without a known group line is an
    error, so a new workload cannot silently join the wrong geomean."""
    out = {}
    for f in sorted(pathlib.Path(wdir).glob("*.lua")):
        if f.name == "run.lua":
            continue
        with open(f, encoding="utf-8") as fh:
            first = fh.readline().strip()
        group = first[len("-- group:"):].strip() if first.startswith("-- group:") else None
        if group not in GROUPS:
            raise ValueError(f"{f}: the first line must be '-- group: {'|'.join(GROUPS)}', not {first!r}")
        out[f.stem] = group
    return dict(sorted(out.items(), key=lambda kv: (GROUPS.index(kv[1]), kv[0])))


def peers():
    """({peer: library}, [notes on the peers that are missing])."""
    libs, notes = {}, []
    for name, (var, default) in PEER_LIBS.items():
        path = os.environ.get(var, default)
        if path and os.path.isfile(path):
            libs[name] = path
        else:
            notes.append(f"{name} skipped: {path or '(empty)'} not found")
    return libs, notes


def runtimes(build_dir, peer_libs):
    """{runtime: (argv prefix, extra env)}: poollua, lua5.4, and lua5.4 with
    each peer preloaded, named after the peer as in the other faces."""
    poollua = pathlib.Path(build_dir) / "bindings" / "lua" / "poollua"
    stock = shutil.which(STOCK)
    out = {}
    if poollua.is_file():
        out[POOL] = ([str(poollua)], {})
    if stock:
        out[STOCK] = ([stock], {})
        for name, lib in peer_libs.items():
            out[name] = ([stock], {"LD_PRELOAD": lib})
    return out


def scale_of(quick):
    return 0.3 if quick else 1.0


def bench_cases(build_dir, quick, peers=None):
    """The Lua workloads in the shape _bench.RunnerFace runs: {"cases",
    "default", "pool", "notes"}; `peers` maps the peer names to run to their
    libraries (None: the installed ones)."""
    libs, notes = globals()["peers"]() if peers is None else ({k: v for k, v in peers.items() if v}, [])
    rts = runtimes(build_dir, libs)
    if POOL not in rts or STOCK not in rts:
        return f"poollua ({build_dir}/bindings/lua/poollua) or lua5.4 is missing"
    wdir = workloads_dir(build_dir)
    scale = str(scale_of(quick))
    cases = [{"name": w, "group": g, "what": f"{g}, scale {scale}", "check_key": "checksum",
              "variants": {rt: {"argv": [*pre, str(wdir / "run.lua"), str(wdir / f"{w}.lua"), scale], "env": env}
                           for rt, (pre, env) in rts.items()}}
             for w, g in workloads(wdir).items()]
    return {"cases": cases, "default": STOCK, "pool": POOL, "notes": notes}


def run_once(argv, env, timeout=600):
    """(wall seconds, returncode, stdout, stderr) of one run.  Peak RSS
    comes from run.lua's VmHWM line: a parent's wait4 would also count the
    pages this Python process had before exec."""
    full_env = {k: v for k, v in os.environ.items() if k not in _DROP}
    full_env.update(env)
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=full_env, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout)
    return time.perf_counter() - t0, r.returncode, r.stdout.decode(errors="replace"), \
        r.stderr.decode(errors="replace")


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return None if not n else xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def _geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def run_lua(build_dir, quick: bool, progress=None, rounds=None, only=None) -> list:
    """Run every workload under every runtime, interleaved, and return one
    row per (workload, runtime):

      workload, runtime, median_s, samples (seconds), peak_rss_kb (max over
      the runs), checksum, speedup_vs_stock (lua5.4's median / this one's),
      speedup_vs_mimalloc (None without that peer), group, compute_only, scale,
      rounds, errors (list of texts; a failed run leaves no sample), notes
      (missing peers; only on the first row).

    `only` restricts the run to some workloads (default: every one).
    `progress(done, total, text)` is called after each run.  Raises
    FileNotFoundError when poollua or lua5.4 is missing."""
    spec = bench_cases(build_dir, quick)
    if isinstance(spec, str):
        raise FileNotFoundError(spec)
    rounds = rounds or (3 if quick else 5)
    cases = [c for c in spec["cases"] if only is None or c["name"] in only]
    samples = {(c["name"], rt): [] for c in cases for rt in c["variants"]}
    rss = dict.fromkeys(samples, 0)
    checks, errors = {}, {k: [] for k in samples}
    total = rounds * len(samples)
    done = 0
    for r in range(rounds):
        for c in cases:
            names = list(c["variants"])
            for k in range(len(names)):
                rt = names[(r + k) % len(names)]
                v = c["variants"][rt]
                wall, rc, out, err = run_once(v["argv"], v["env"])
                key = (c["name"], rt)
                if rc != 0:
                    errors[key].append(f"exit {rc}: {(err or out).strip()[-300:]}")
                else:
                    try:
                        line = json.loads(out.strip().splitlines()[-1])
                        checks.setdefault(key, line["checksum"])
                        samples[key].append(wall)
                        rss[key] = max(rss[key], line.get("peak_rss_kb") or 0)
                    except (ValueError, IndexError, KeyError):
                        errors[key].append(f"no checksum line: {out.strip()[-200:]!r}")
                done += 1
                if progress:
                    progress(done, total, f"{c['name']} {rt}")
    rows = []
    for c in cases:
        values = {checks[(c["name"], rt)] for rt in c["variants"] if (c["name"], rt) in checks}
        medians = {rt: _median(samples[(c["name"], rt)]) for rt in c["variants"]}
        for rt in c["variants"]:
            key = (c["name"], rt)
            med = medians[rt]
            ratio = lambda ref: medians[ref] / med if med and medians.get(ref) else None
            errs = list(errors[key])
            if len(values) > 1:
                errs.append(f"checksums differ between runtimes: {sorted(values)}")
            rows.append({"workload": c["name"], "runtime": rt, "median_s": med, "samples": samples[key],
                         "peak_rss_kb": rss[key] or None, "checksum": checks.get(key),
                         "speedup_vs_stock": ratio(STOCK), "speedup_vs_mimalloc": ratio("mimalloc"),
                         "group": c["group"], "compute_only": c["group"] == "compute", "scale": scale_of(quick), "rounds": rounds,
                         "errors": errs, "notes": []})
    if rows:
        rows[0]["notes"] = list(spec["notes"])
    return rows


def table(rows):
    """The rows as a text table: medians, speed-ups and peak RSS, one line
    per workload and runtime, then the geometric means of the speed-ups."""
    lines = [f"{'workload':13} {'runtime':17} {'median s':>9} {'x stock':>8} {'x mimalloc':>10} {'peak RSS':>10}"]
    for r in rows:
        fmt = lambda x: f"{x:.2f}" if x else "-"
        lines.append(f"{r['workload']:13} {r['runtime']:17} {fmt(r['median_s']):>9} {fmt(r['speedup_vs_stock']):>8} "
                     f"{fmt(r['speedup_vs_mimalloc']):>10} {(r['peak_rss_kb'] or 0) / 1024:>8.1f}MB")
    for rt in dict.fromkeys(r["runtime"] for r in rows):
        picks = [(g, lambda r, g=g: r["group"] == g) for g in GROUPS]
        picks += [("alloc-heavy", lambda r: not r["compute_only"]), ("all", lambda r: True)]
        for label, pick in picks:
            xs = [r["speedup_vs_stock"] for r in rows if r["runtime"] == rt and pick(r) and r["speedup_vs_stock"]]
            ms = [r["speedup_vs_mimalloc"] for r in rows if r["runtime"] == rt and pick(r) and r["speedup_vs_mimalloc"]]
            if xs:
                gm = _geomean(ms)
                lines.append(f"geomean {label:11} {rt:17} {'':>9} {_geomean(xs):>8.2f} "
                             f"{f'{gm:.2f}' if gm else '-':>10}")
    for r in rows[:1]:
        lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)
