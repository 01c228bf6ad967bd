"""poolalloc.bench.lua -- the Lua face: the workloads shipped beside this
file (lua/*.lua, driven by lua/run.lua) under poollua (Lua on a libpool
heap, from the CMake build), stock lua5.4 (glibc malloc) and lua5.4 with
each peer preloaded.  Each run is a fresh process; run.lua prints the
checksum, which must agree, and the process's own VmHWM."""
import pathlib
import shutil

from .harness import POOL, Case, CasesFace

WORKLOADS = ("binary_trees", "string_build", "table_churn", "closures", "coroutines", "compute")
COMPUTE_ONLY = ("compute",)
STOCK = "lua5.4"


def workloads_dir():
    """The Lua workloads, shipped in the package."""
    return pathlib.Path(__file__).resolve().parent / "lua"


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
                     check_key="checksum", what="compute only" if w in COMPUTE_ONLY else f"scale {scale}")
                for w in WORKLOADS]
