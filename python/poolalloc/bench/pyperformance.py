"""poolalloc.bench.pyperformance -- the pyperformance face: a broad subset of
CPython's standard benchmark suite (the benchmark scripts that pip's
pyperformance ships), each script in a fresh interpreter under pymalloc
(the default), libpool (POOLALLOC=1) and glibc with mimalloc 2 and 3
preloaded (PYTHONMALLOC=malloc LD_PRELOAD=...), interleaved like every face.

One run of a script is poolalloc.bench.pyperf_run: pyperf's --in-process
mode (loops calibrated in that process, one warm-up, a few values), the
median time per loop of each of the script's benchmarks (their geometric
mean when a script has several, e.g. deepcopy), and the process's own
VmHWM as peak RSS.  pyperf_run checks that the allocator asked for is the
one serving the interpreter.  Results are in microseconds per loop; the
face adds a table of every set-up's speed and peak RSS relative to
pymalloc.

Not in the default set of faces (`--only pyperformance`): the full run
takes about 20 minutes on 2 cores.  Needs `pip install
'poolalloc[pyperformance]'`; without it the face is skipped with that
hint."""
import importlib.metadata
import importlib.util
import os
import re
import sys

from .harness import POOL, RSS, Case, CasesFace, geomean

# name -> (the benchmark's folder in pyperformance's data-files, the script's
# arguments: pyperformance's extra_opts for it).  Object-graph and GC heavy
# ones first, then the interpreters, numeric and text ones.
BENCHMARKS = {
    "async_tree": ("bm_async_tree", ["none"]),
    "gc_traversal": ("bm_gc_traversal", []),
    "gc_collect": ("bm_gc_collect", []),
    "deepcopy": ("bm_deepcopy", []),
    "xml_etree": ("bm_xml_etree", []),
    "deltablue": ("bm_deltablue", []),
    "richards": ("bm_richards", []),
    "raytrace": ("bm_raytrace", []),
    "chaos": ("bm_chaos", []),
    "go": ("bm_go", []),
    "hexiom": ("bm_hexiom", []),
    "nqueens": ("bm_nqueens", []),
    "fannkuch": ("bm_fannkuch", []),
    "generators": ("bm_generators", []),
    "coroutines": ("bm_coroutines", []),
    "comprehensions": ("bm_comprehensions", []),
    "unpack_sequence": ("bm_unpack_sequence", []),
    "float": ("bm_float", []),
    "nbody": ("bm_nbody", []),
    "spectral_norm": ("bm_spectral_norm", []),
    "json_dumps": ("bm_json_dumps", []),
    "json_loads": ("bm_json_loads", []),
    "pickle": ("bm_pickle", ["pickle"]),
    "pyflate": ("bm_pyflate", []),
    "meteor_contest": ("bm_meteor_contest", []),
    "sqlite_synth": ("bm_sqlite_synth", []),
    "regex_effbot": ("bm_regex_effbot", []),
    "pprint": ("bm_pprint", []),
    "regex_v8": ("bm_regex_v8", []),
    "logging": ("bm_logging", []),
}
# --smoke (the tests): two quick scripts, one value each.
SMOKE = ("nqueens", "unpack_sequence")
HINT = "pip install 'poolalloc[pyperformance]'"


def benchmark_dir():
    """pyperformance's folder of benchmark scripts, or None without
    pyperformance and pyperf (found without importing them)."""
    spec = importlib.util.find_spec("pyperformance")
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec("pyperf") is None:
        return None
    path = os.path.join(spec.submodule_search_locations[0], "data-files", "benchmarks")
    return path if os.path.isdir(path) else None


def pyperf_too_old():
    """The installed pyperf's version if it predates --in-process (2.11), else ''."""
    try:
        version = importlib.metadata.version("pyperf")
    except importlib.metadata.PackageNotFoundError:
        return ""
    return version if tuple(int(x) for x in re.findall(r"\d+", version)[:2]) < (2, 11) else ""


class PyperformanceFace(CasesFace):
    name, default = "pyperformance", "pymalloc"
    rounds_full, rounds_quick = 3, 2
    smoke_cases = None

    def make_cases(self, ctx):
        where = benchmark_dir()
        if where is None:
            return f"pyperformance is not installed here: {HINT}"
        if pyperf_too_old():
            return f"pyperf {pyperf_too_old()} has no --in-process mode (2.11 has): {HINT}"
        # (values per run, pyperf's --min-time per value)
        self.values, self.min_time = (1, 0.01) if ctx.smoke else (2, 0.05) if ctx.quick else (3, 0.1)
        variants = {"pymalloc": {}, POOL: {"POOLALLOC": "1"}}
        variants.update({peer: {"PYTHONMALLOC": "malloc", "LD_PRELOAD": lib} for peer, lib in ctx.libs.items()
                         if peer in ("mimalloc", "mimalloc3")})
        cases = []
        for name in (SMOKE if ctx.smoke else BENCHMARKS):
            folder, args = BENCHMARKS[name]
            script = os.path.join(where, folder, "run_benchmark.py")
            if not os.path.isfile(script):
                return f"{script} not found: this face knows pyperformance 1.11 to 1.14 ({HINT})"
            argv = [sys.executable, "-m", "poolalloc.bench.pyperf_run", script, str(self.values),
                    str(self.min_time), *args]
            cases.append(Case(name, {v: {"argv": argv, "env": env} for v, env in variants.items()},
                              seconds_key="us", what=f"pyperformance {folder}" + (f" {' '.join(args)}" if args else "")))
        return cases

    def run(self, ctx, tick):
        result = super().run(ctx, tick)
        result["unit"] = "µs"
        result["tables"] = [ratio_table(result)]
        return result

    def notes(self, ctx):
        return [f"pyperformance: each run is one fresh interpreter running one pyperformance script under pyperf "
                f"--in-process ({self.values} values of at least {self.min_time} s after a warm-up); its time is "
                f"the median per loop (the geomean of the medians for a script of several benchmarks), its peak "
                f"RSS the process's own VmHWM; set-ups: pymalloc, POOLALLOC=1, and PYTHONMALLOC=malloc with "
                f"LD_PRELOAD of mimalloc and mimalloc3 (the other peers are left out)",
                *(n for n in ctx.peer_notes if n.split()[0] in ("mimalloc", "mimalloc3"))]


def ratio_table(face):
    """Every set-up against the default, per benchmark and as geomeans:
    speed (the default's median / the set-up's, above 1 is faster) and
    peak RSS (the set-up's / the default's, below 1 is smaller).  A table
    for the renderer: {"title", "head", "rows"}."""
    dflt = face["default"]
    others = [a for a in face["allocators"] if a != dflt]
    speed, rss = {a: [] for a in others}, {a: [] for a in others}
    rows = []
    for b in face["benchmarks"]:
        r = b["results"]
        base = r.get(dflt)
        cells = []
        for table, num in ((speed, lambda a: base["median"] / r[a]["median"]),
                           (rss, lambda a: r[a][RSS] / base[RSS])):
            for a in others:
                x = num(a) if base and a in r and r[a]["median"] and base["median"] and base[RSS] else None
                table[a].append(x)
                cells.append(_ratio(x))
        rows.append([b["name"], _num(base and base["median"]), _mib(base and base[RSS]), *cells])
    rows.append(["geomean", "", "", *(_ratio(geomean(t[a])) for t in (speed, rss) for a in others)])
    face["geomean_vs_default"] = {a: {"speed": geomean(speed[a]), "rss": geomean(rss[a])} for a in others}
    head = ["benchmark", f"{dflt} {face['unit']}", f"{dflt} RSS MiB", *(f"speed {a}" for a in others),
            *(f"RSS {a}" for a in others)]
    return {"title": f"speed and peak RSS relative to {dflt} (speed: above 1 is faster; RSS: below 1 is smaller)",
            "head": head, "rows": rows}


def _ratio(x):
    return "-" if x is None else f"{x:.3f}"


def _num(x):
    return "-" if not x else f"{x:.1f}" if x >= 100 else f"{x:.3f}"


def _mib(kb):
    return "-" if not kb else f"{kb / 1024:.1f}"
