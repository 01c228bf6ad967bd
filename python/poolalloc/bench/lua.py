"""poolalloc.bench.lua -- the Lua face: the workloads shipped beside this
file (lua/*.lua, driven by lua/run.lua) under poollua (Lua on a libpool
heap, from the CMake build), stock lua5.4 (glibc malloc) and lua5.4 with
each peer preloaded.  Each run is a fresh process; run.lua prints the
checksum, which must agree, and the process's own VmHWM."""
import pathlib
import shutil

from .harness import POOL, Case, CasesFace

# Each workload's first line names its group: "-- group: program" (code
# that looks like a real program), "compute" (the control group: the
# allocator idle) or "micro" (one allocation pattern).
GROUPS = ("program", "compute", "micro")
STOCK = "lua5.4"


def workloads_dir():
    """The Lua workloads, shipped in the package."""
    return pathlib.Path(__file__).resolve().parent / "lua"


def workloads(wdir=None):
    """{name: group} of the workloads (every *.lua but run.lua), ordered by
    group then name.  A file without a known group line is an error, so a
    new workload cannot silently join the wrong geomean."""
    out = {}
    for f in sorted(pathlib.Path(wdir or workloads_dir()).glob("*.lua")):
        if f.name == "run.lua":
            continue
        with open(f, encoding="utf-8") as fh:
            first = fh.readline().strip()
        group = first[len("-- group:"):].strip() if first.startswith("-- group:") else None
        if group not in GROUPS:
            raise ValueError(f"{f}: the first line must be '-- group: {'|'.join(GROUPS)}', not {first!r}")
        out[f.stem] = group
    return dict(sorted(out.items(), key=lambda kv: (GROUPS.index(kv[1]), kv[0])))


def scale_of(quick):
    return 0.3 if quick else 1.0


def argv_of(workload, scale):
    """The arguments after the interpreter that run one workload."""
    d = workloads_dir()
    return [str(d / "run.lua"), str(d / f"{workload}.lua"), str(scale)]


class LuaFace(CasesFace):
    name, default = "lua", STOCK

    def make_cases(self, ctx):
        poollua, stock = ctx.artifact("poollua"), shutil.which(STOCK)
        if not poollua:
            return ctx.missing("poollua")
        if not stock:
            return "lua5.4 is not installed (apt-get install lua5.4)"
        runtimes = {POOL: ([str(poollua)], {}), STOCK: ([stock], {})}
        runtimes.update({peer: ([stock], {"LD_PRELOAD": lib}) for peer, lib in ctx.libs.items()})
        scale = scale_of(ctx.quick)
        return [Case(w, {rt: {"argv": [*pre, *argv_of(w, scale)], "env": env} for rt, (pre, env) in runtimes.items()},
                     check_key="checksum", what=f"{g}, scale {scale}", group=g)
                for w, g in workloads().items()]
