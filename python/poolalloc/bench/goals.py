"""poolalloc.bench.goals -- the project's goals, judged against one run's
results: for each goal the figure measured, the target, and "met", "not
met" or "not measured" (its face or its peer did not run).

A goal is a function of the run's faces, registered with @goal: it returns
(measured text, met) or raises NotMeasured(why).  The goals are the targets
of the issues that set them (the number in brackets); where a later issue
raised a target, both rows stay."""
from .harness import POOL, RSS, geomean, speedup
from .instr import count_of

# The peers the "best peer" goals compare with (issue 14: not glibc).
STRONG_PEERS = ("mimalloc", "mimalloc3", "jemalloc")
GOALS = []
# The faces issue 6's two minutes covered.
QUICK_FACES = ("c", "python", "lua", "preload")


class NotMeasured(Exception):
    pass


def goal(issues, text, target, faces):
    """Register a goal of `issues` (e.g. "14"): `text` says what is
    measured, `target` the bar, `faces` the faces it reads."""
    def register(fn):
        GOALS.append({"issues": issues, "goal": text, "target": target, "faces": faces, "judge": fn})
        return fn
    return register


def evaluate(results):
    """[{issues, goal, target, measured, status}] for every goal."""
    rows = []
    for g in GOALS:
        faces = [results.get("faces", {}).get(f) or {} for f in g["faces"]]
        try:
            missing = [f for f, face in zip(g["faces"], faces) if face.get("status") != "ok"]
            if missing:
                raise NotMeasured(f"the {' and '.join(missing)} face{'s' if len(missing) > 1 else ''} did not run")
            measured, met = g["judge"](results, *faces)
            status = "met" if met else "not met"
        except NotMeasured as why:
            measured, status = str(why), "not measured"
        rows.append({"issues": g["issues"], "goal": g["goal"], "target": g["target"], "measured": measured,
                     "status": status})
    return rows


# ---- reading a face ----

def bench(face, name):
    b = next((b for b in face["benchmarks"] if b["name"] == name), None)
    if b is None:
        raise NotMeasured(f"{name} did not run")
    return b


def ratio(face, b, ref):
    """How many times faster the pool is than `ref` on benchmark `b`."""
    x = speedup(b["results"], POOL, ref, face["higher_is_better"])
    if x is None:
        raise NotMeasured(f"{ref} did not run")
    return x


def geo(face, ref, benches=None):
    """Geomean of the pool's speed-ups over `ref` across `benches` (all)."""
    xs = [speedup(b["results"], POOL, ref, face["higher_is_better"]) for b in benches or face["benchmarks"]]
    if not xs or None in xs:
        raise NotMeasured(f"{ref} did not run on every benchmark")
    return geomean(xs)


def best_peer(face, b, peers):
    """(name, speed-up of the pool over it) of the fastest of `peers` that
    ran on benchmark `b`."""
    got = {p: speedup(b["results"], POOL, p, face["higher_is_better"]) for p in peers if p in b["results"]}
    got = {p: x for p, x in got.items() if x is not None}
    if not got:
        raise NotMeasured(f"none of {', '.join(peers)} ran")
    return min(got.items(), key=lambda kv: kv[1])


def rss_ratios(face, ref):
    """{benchmark: the pool's peak RSS / ref's}."""
    out = {}
    for b in face["benchmarks"]:
        pool, other = (b["results"].get(a, {}).get(RSS) for a in (POOL, ref))
        if not pool or not other:
            raise NotMeasured(f"peak RSS of pool or {ref} missing on {b['name']}")
        out[b["name"]] = pool / other
    return out


def group(face, *groups):
    benches = [b for b in face["benchmarks"] if b.get("group") in groups]
    if not benches:
        raise NotMeasured(f"no {'/'.join(groups)} workload ran")
    return benches


def times(x, *bars):
    """x as a ratio, "1.23x"; with a third decimal when two would show one
    of the `bars` that x is not (1.149 against 1.15 is not met)."""
    return f"{x:.3f}x" if any(round(x, 2) == b != x for b in bars) else f"{x:.2f}x"


def listing(pairs, *bars):
    return ", ".join(f"{k} {times(v, *bars)}" for k, v in pairs)


def counted(results, key):
    n = count_of(results, key)
    if n is None:
        raise NotMeasured(f"{key} was not counted")
    return n


# ---- the common shapes of goal ----

def speed_goal(issues, text, face, ref, bar, groups=(), as_time=False):
    """The pool's geomean speed-up over `ref` (None: the face's default)
    on `face`'s benchmarks (those of `groups`) at least `bar`; `as_time`
    states it as a time ratio, at most `bar`."""
    def judge(results, f):
        g = geo(f, ref or f["default"], group(f, *groups) if groups else None)
        if as_time:
            return times(1 / g, bar), 1 / g <= bar
        return times(g, bar), g >= bar
    goal(issues, text, f"{'<=' if as_time else '>='} {bar}x", [face])(judge)


def rss_goal(issues, text, face, ref, bar):
    """The pool's peak RSS over `ref`'s (None: the default) at most `bar`
    on every benchmark of `face`."""
    def judge(results, f):
        r = rss_ratios(f, ref or f["default"])
        above = sorted(((n, x) for n, x in r.items() if x > bar), key=lambda kv: -kv[1])
        worst = max(r, key=r.get)
        return (f"above: {listing(above, bar)}" if above else f"highest {worst} {times(r[worst], bar)}"), not above
    goal(issues, text, f"<= {bar}x", [face])(judge)


def instr_goal(issues, text, key, bar=None, ref=None, also=None):
    """Instructions per pair of instr row `key` at most `bar`, or at most
    row `ref`'s (row `also` shown beside it); rows are named "face:allocator"."""
    def judge(results, face):
        n = counted(results, key)
        if ref is None:
            return f"{n:.0f}", n <= bar
        other, extra = counted(results, ref), also and count_of(results, also)
        return f"{n:.0f} vs {other:.0f}" + (f" ({NAMES[also]}: {extra:.0f})" if extra else ""), n <= other
    goal(issues, text, f"<= {bar}" if ref is None else f"<= {NAMES[ref]}'s", ["instr"])(judge)


NAMES = {"c:mimalloc": "mimalloc 2", "c:mimalloc3": "mimalloc 3", "python:pymalloc": "pymalloc"}


# ---- C pair patterns (issues 2, 14) ----

speed_goal("2", "C pair patterns: geomean speed vs mimalloc 2", "c", "mimalloc", 1.0)
speed_goal("14", "C pair patterns: geomean speed vs mimalloc 2", "c", "mimalloc", 1.2)
speed_goal("14", "C pair patterns: geomean speed vs mimalloc 3 (the stronger peer)", "c", "mimalloc3", 1.2)


@goal("14", "C pair patterns: each pattern vs the best of mimalloc 2, mimalloc 3, jemalloc", ">= 0.9x", ["c"])
def _c_best_peer(results, c):
    worst = {b["name"]: best_peer(c, b, STRONG_PEERS) for b in c["benchmarks"]}
    below = [(n, x) for n, (p, x) in worst.items() if x < 0.9]
    low = min(worst, key=lambda n: worst[n][1])
    text = f"lowest {low} {times(worst[low][1], 0.9)} ({worst[low][0]})"
    if below:
        text += f"; below 0.9x: {listing(below, 0.9)}"
    return text, not below


@goal("14", "threads: C prodcons and the threaded LD_PRELOAD programs vs mimalloc 2", ">= 1.0x each",
      ["c", "preload"])
def _threads(results, c, preload):
    xs = [(f"c {n}", ratio(c, bench(c, n), "mimalloc")) for n in ("prodcons",)]
    xs += [(n, ratio(preload, bench(preload, n), "mimalloc")) for n in ("larson", "prodcons", "threads_churn")]
    return listing(xs, 1.0), all(x >= 1.0 for _, x in xs)


# ---- instructions per pair (issues 2, 14, 15, 16) ----

instr_goal("2", "instructions per pool_malloc + pool_free pair (callgrind)", "c:pool", bar=20)
instr_goal("14", "instructions per pool_malloc + pool_free pair vs mimalloc 2's in the same loop", "c:pool",
           ref="c:mimalloc", also="c:mimalloc3")
instr_goal("15", "instructions per PyObject_Malloc + PyObject_Free pair, POOLALLOC=1 vs pymalloc", "python:pool",
           ref="python:pymalloc")
instr_goal("16", "instructions per malloc + free pair through lua_Alloc (pool_heap_lua_alloc)", "lua:pool", bar=25)

# ---- Python (issues 3, 15) ----

speed_goal("3, 15", "Python workloads: geomean speed vs pymalloc", "python", None, 1.1)
rss_goal("3, 15", "Python workloads: peak RSS vs pymalloc, each workload", "python", None, 1.0)
speed_goal("3", "Python workloads: geomean speed vs mimalloc 2", "python", "mimalloc", 1.0)
speed_goal("15", "pyperformance: geomean speed vs pymalloc", "pyperformance", None, 1.03)


@goal("15", "pyperformance: each benchmark's speed vs pymalloc", ">= 0.98x", ["pyperformance"])
def _pyperf_each(results, pp):
    xs = {b["name"]: ratio(pp, b, pp["default"]) for b in pp["benchmarks"]}
    low = min(xs, key=xs.get)
    return f"lowest {low} {times(xs[low], 0.98)}", xs[low] >= 0.98


rss_goal("15", "pyperformance: peak RSS vs pymalloc, each benchmark", "pyperformance", None, 1.0)

# ---- Lua (issues 4, 16) ----

speed_goal("4", "Lua workloads: geomean speed vs stock lua5.4", "lua", None, 1.5)
speed_goal("4", "Lua workloads: geomean speed vs lua5.4 + mimalloc 2", "lua", "mimalloc", 1.1)
speed_goal("16", "Lua allocation-heavy workloads (program + micro): geomean speed vs stock lua5.4", "lua", None, 1.4,
           groups=("program", "micro"))
speed_goal("16", "Lua allocation-heavy workloads: geomean speed vs lua5.4 + mimalloc 2", "lua", "mimalloc", 1.15,
           groups=("program", "micro"))
speed_goal("16", "Lua allocation-heavy workloads: geomean speed vs lua5.4 + mimalloc 3", "lua", "mimalloc3", 1.15,
           groups=("program", "micro"))


@goal("16", "Lua compute-only workloads: each one's time vs stock lua5.4", "within 2%", ["lua"])
def _lua_compute(results, lua):
    xs = [(b["name"], ratio(lua, b, lua["default"])) for b in group(lua, "compute")]
    return listing(xs, 0.98, 1.02), all(abs(x - 1) <= 0.02 for _, x in xs)


rss_goal("4, 16", "Lua workloads: peak RSS vs stock lua5.4, each workload", "lua", None, 1.0)

# ---- LD_PRELOAD (issues 5, 14) ----

speed_goal("5", "LD_PRELOAD programs: geomean time vs mimalloc 2", "preload", "mimalloc", 1.0, as_time=True)
speed_goal("14", "LD_PRELOAD programs: geomean time vs mimalloc 2", "preload", "mimalloc", 0.9, as_time=True)
rss_goal("5, 14", "LD_PRELOAD programs: peak RSS vs glibc, each program", "preload", "glibc", 1.1)


@goal("5", "LD_PRELOAD programs: each one's time vs the fastest allocator on it", "<= 1.5x", ["preload"])
def _preload_worst(results, preload):
    allocs = [a for a in preload["allocators"] if a != POOL]
    xs = {b["name"]: 1 / best_peer(preload, b, allocs)[1] for b in preload["benchmarks"]}
    worst = max(xs, key=xs.get)
    return f"slowest {worst} {times(xs[worst], 1.5)}", xs[worst] <= 1.5


# ---- the suite itself (issue 6) ----

@goal("6", "bench --quick, every face, wall time", "<= 120 s", [])
def _quick_time(results):
    if not results.get("quick") or results.get("smoke"):
        raise NotMeasured("timed on --quick runs only")
    skipped = [n for n in QUICK_FACES if results["faces"].get(n, {}).get("status") != "ok"]
    if skipped or "seconds" not in results:
        raise NotMeasured(f"faces skipped: {', '.join(skipped)}" if skipped else "the run's time is not known")
    return f"{results['seconds']:.0f} s", results["seconds"] <= 120
