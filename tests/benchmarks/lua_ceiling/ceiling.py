"""ceiling.py -- the Lua allocator ceiling (issue 16): how much faster can
Lua's workloads get from the allocator at all?  Runs the Lua face's
workloads (poolalloc/bench/lua) interleaved under stock lua5.4, lua5.4 with
mimalloc 2 and 3 preloaded, poollua, and two more interpreters of the very
poollua build (same poollua.c, same lua_vm.o at stock offsets): `ideal`,
the cheapest lua_Alloc there could be (ceil_alloc.c), `ideal-seg`, the same
with each size bumping through runs of its own (the locality of a
size-class allocator), and `poollua-glibc`, stock Lua's realloc/free (a
control for the build itself).

  python tests/benchmarks/lua_ceiling/ceiling.py [--rounds 5] [--scale 1.0]
        [--only w1,w2] [--counts] [--callgrind w1,w2] [--build-dir build]

Needs the CMake build (poollua and bindings/lua/lua_vm.o).  Prints a
markdown table: medians, each runtime's speed against lua5.4 (x), the
group geomeans, and with --counts each workload's lua_Alloc calls; with
--callgrind, the share of instructions spent inside the allocator."""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from poolalloc.bench.harness import Case, clean_env, geomean, median, run_cases
from poolalloc.bench.lua import argv_of, workloads
from poolalloc.bench.peers import peer_libs

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CFLAGS = ["-O2", "-g", "-DNDEBUG", "-std=gnu11"]   # CMake's RelWithDebInfo, as poollua's
ORDER = ("lua5.4", "mimalloc", "mimalloc3", "poollua-glibc", "pool", "ideal", "ideal-seg")


def build(bdir):
    """{name: path} of poollua and the two ceiling interpreters, linked like
    poollua (bindings/lua/CMakeFiles/poollua.dir/link.txt) with ceil_alloc.c
    in place of libpool's state."""
    lua = bdir / "bindings" / "lua"
    objs = lua / "CMakeFiles" / "pool_lua_objects.dir"
    need = [lua / "poollua", lua / "lua_vm.o", objs / "pool_lua.c.o", objs / "lpoolalloc.c.o",
            bdir / "libpool" / "libpool.a"]
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        sys.exit(f"ceiling: not built: {', '.join(missing)} (cmake -S . -B build && cmake --build build)")
    out = bdir / "lua_ceiling"
    out.mkdir(exist_ok=True)
    inc = ["-I", str(ROOT / "bindings" / "lua"), "-I", "/usr/include/lua5.4", "-I", str(ROOT / "libpool" / "include")]
    main = out / "poollua_ceil.o"
    subprocess.run(["cc", *CFLAGS, *inc, "-Dpool_lua_newstate=ceil_lua_newstate", "-Dpool_lua_close=ceil_lua_close",
                    "-c", str(ROOT / "bindings" / "lua" / "poollua.c"), "-o", str(main)], check=True)
    exes = {"pool": lua / "poollua"}
    for name, defs in (("ideal", ["-DCEIL_IDEAL"]), ("ideal-seg", ["-DCEIL_IDEAL", "-DCEIL_SEGREGATED"]),
                       ("poollua-glibc", [])):
        obj, exe = out / f"{name}.o", out / f"{name}-lua"
        subprocess.run(["cc", *CFLAGS, *defs, *inc, "-c", str(HERE / "ceil_alloc.c"), "-o", str(obj)], check=True)
        subprocess.run(["cc", *CFLAGS, "-Wl,-E", str(main), str(lua / "lua_vm.o"), str(objs / "pool_lua.c.o"),
                        str(objs / "lpoolalloc.c.o"), str(obj), "-o", str(exe), str(bdir / "libpool" / "libpool.a"),
                        "-lm", "-ldl"], check=True)
        exes[name] = exe
    return exes


def runtimes(exes):
    """{runtime: (argv prefix, env)} of every runtime found."""
    stock = shutil.which("lua5.4") or sys.exit("ceiling: lua5.4 is not installed")
    libs, notes = peer_libs(("mimalloc", "mimalloc3"))
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    rts = {"lua5.4": ([stock], {}), **{p: ([stock], {"LD_PRELOAD": lib}) for p, lib in libs.items()}}
    rts.update({name: ([str(exe)], {}) for name, exe in exes.items()})
    return {k: rts[k] for k in ORDER if k in rts}


def counts(exe, work, scale):
    """lua_Alloc calls of one run of `work`: {mallocs, frees, reallocs, bytes}."""
    r = subprocess.run([str(exe), *argv_of(work, scale)], env=clean_env({"CEIL_COUNT": "1"}),
                       capture_output=True, text=True, check=True)
    m = re.search(r"mallocs (\d+) frees (\d+) reallocs (\d+) bytes (\d+)", r.stderr)
    return dict(zip(("mallocs", "frees", "reallocs", "bytes"), map(int, m.groups())))


# Speed-ups between two runtimes besides "x lua5.4": (key, (faster?, than)).
PAIRS = tuple((f"{a}/{b}", (a, b)) for a, b in (("ideal", "mimalloc"), ("ideal", "mimalloc3"), ("ideal-seg", "mimalloc"),
                                                ("ideal-seg", "mimalloc3"), ("pool", "ideal"), ("pool", "ideal-seg")))


def fmt_x(x):
    return f"{x:.2f}x" if x else "-"


def timing_table(cases, rts, groups, calls):
    """The markdown table of one interleaved run."""
    cols = list(rts)
    head = ["group", "workload", *[f"{c} s" for c in cols], *[f"{c} x lua5.4" for c in cols if c != "lua5.4"],
            *[f"{a} x {b}" for _, (a, b) in PAIRS]]
    if calls:
        head.append("lua_Alloc calls (M)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ratios = {}     # (workload, key) -> ratio

    def ratio(c, a, b):   # how many times faster a is than b
        ma, mb = median(c.samples.get(a, [])), median(c.samples.get(b, []))
        return mb / ma if ma and mb else None

    for c in cases:
        med = {v: median(c.samples.get(v, [])) for v in cols}
        row = [groups[c.name], c.name, *[f"{med[v]:.3f}" if med[v] else "-" for v in cols]]
        for v in cols:
            if v != "lua5.4":
                ratios[c.name, v] = ratio(c, v, "lua5.4")
                row.append(fmt_x(ratios[c.name, v]))
        for key, (a, b) in PAIRS:
            ratios[c.name, key] = ratio(c, a, b)
            row.append(fmt_x(ratios[c.name, key]))
        if calls:
            k = calls[c.name]
            row.append(f"{(k['mallocs'] + k['frees'] + k['reallocs']) / 1e6:.2f}")
        lines.append("| " + " | ".join(row) + " |")
    keys = [v for v in cols if v != "lua5.4"] + [k for k, _ in PAIRS]
    sets = {g: [c.name for c in cases if groups[c.name] == g] for g in ("program", "micro", "compute")}
    sets["alloc-heavy (program + micro)"] = sets["program"] + sets["micro"]
    for g, names in sets.items():
        if not names:
            continue
        row = [f"**geomean {g}**", "", *[""] * len(cols)]
        row += [f"**{fmt_x(geomean([ratios[n, k] for n in names]))}**" for k in keys]
        if calls:
            row.append("")
        lines.append("| " + " | ".join(row) + " |")
    for c in cases:
        if c.errors:
            lines.append(f"\nerrors in {c.name}: {c.errors}")
    return "\n".join(lines)


def callgrind(exes, work, scale):
    """Instructions of one run of `work` under callgrind, per runtime:
    {runtime: (total, inclusive in the lua_Alloc or None)}; the lua_Alloc is
    ceil_alloc or pool_heap_lua_alloc (lua5.4 is stripped: its l_alloc has
    no name, and the preloaded peers run under it)."""
    stock = shutil.which("lua5.4")
    libs, _ = peer_libs(("mimalloc", "mimalloc3"))
    runs = [("lua5.4", [stock], {}, None), *[(p, [stock], {"LD_PRELOAD": lib}, None) for p, lib in libs.items()],
            ("poollua-glibc", [str(exes["poollua-glibc"])], {}, "ceil_alloc"),
            ("pool", [str(exes["pool"])], {}, "pool_heap_lua_alloc"),
            ("ideal", [str(exes["ideal"])], {}, "ceil_alloc"), ("ideal-seg", [str(exes["ideal-seg"])], {}, "ceil_alloc")]
    out = {}
    for name, argv, env, fn in runs:
        with tempfile.TemporaryDirectory() as tmp:
            cg = pathlib.Path(tmp) / "cg.out"
            r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}", *argv,
                                *argv_of(work, scale)], capture_output=True, text=True, env=clean_env(env))
            total = int(re.search(r"Collected : (\d+)", r.stderr).group(1))
            alloc = None
            if fn:
                a = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(cg)],
                                   capture_output=True, text=True).stdout
                m = re.search(r"^\s*([\d,]+) (?:\([^)]*\)\s+)?\S*:" + fn + r"\b", a, re.M)
                alloc = int(m.group(1).replace(",", "")) if m else 0
        out[name] = (total, alloc)
    return out


def callgrind_table(exes, names, groups, scale):
    """Markdown: per workload, each runtime's instructions against lua5.4's
    (lower is better) and the share inside the lua_Alloc; group geomeans."""
    res = {w: callgrind(exes, w, scale) for w in names}
    rts = list(next(iter(res.values())))
    head = ["group", "workload", "lua5.4 Ir (M)", *[f"{r} / lua5.4" for r in rts if r != "lua5.4"],
            *[f"{r}: in lua_Alloc" for r in rts if res[names[0]][r][1] is not None]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in names:
        base = res[w]["lua5.4"][0]
        row = [groups[w], w, f"{base / 1e6:.1f}", *[f"{res[w][r][0] / base:.3f}" for r in rts if r != "lua5.4"],
               *[f"{100 * res[w][r][1] / res[w][r][0]:.1f}%" for r in rts if res[w][r][1] is not None]]
        lines.append("| " + " | ".join(row) + " |")
    heavy = [w for w in names if groups[w] != "compute"]
    if heavy:
        row = ["**geomean alloc-heavy**", "", "",
               *[f"**{geomean([res[w][r][0] / res[w]['lua5.4'][0] for w in heavy]):.3f}**" for r in rts if r != "lua5.4"]]
        lines.append("| " + " | ".join(row + [""] * (len(head) - len(row))) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all)")
    ap.add_argument("--counts", action="store_true", help="count each workload's lua_Alloc calls")
    ap.add_argument("--callgrind", default="", help="comma-separated workloads to run under callgrind, or all")
    ap.add_argument("--callgrind-scale", type=float, default=0.05)
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--build-dir", default=os.environ.get("POOL_BUILD_DIR", str(ROOT / "build")))
    ns = ap.parse_args()
    exes = build(pathlib.Path(ns.build_dir).resolve())
    groups = workloads()
    names = [w for w in groups if not ns.only or w in ns.only.split(",")]
    calls = {w: counts(exes["poollua-glibc"], w, ns.scale) for w in names} if ns.counts else {}
    if not ns.no_timing:
        rts = runtimes(exes)
        cases = [Case(w, {rt: {"argv": [*pre, *argv_of(w, ns.scale)], "env": env} for rt, (pre, env) in rts.items()},
                      check_key="checksum", group=groups[w]) for w in names]
        run_cases(cases, ns.rounds, lambda: None)
        print(f"Wall seconds, median of {ns.rounds} interleaved rounds, scale {ns.scale}; x = times faster than "
              f"lua5.4 (or than the named peer); load average at the end {os.getloadavg()[0]:.1f}.\n")
        print(timing_table(cases, rts, groups, calls))
    elif calls:
        for w in names:
            print(w, calls[w])
    cg = [w for w in groups if w in ns.callgrind.split(",")] if ns.callgrind != "all" else list(groups)
    if cg:
        print(f"\nInstructions (callgrind), scale {ns.callgrind_scale}, each runtime / lua5.4 (lower is better):\n")
        print(callgrind_table(exes, cg, groups, ns.callgrind_scale))


if __name__ == "__main__":
    main()
