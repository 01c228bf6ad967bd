"""poolalloc.bench.python -- the Python face: poolalloc.workloads in fresh
interpreters under pymalloc (the default), libpool (POOLALLOC=1), glibc
(PYTHONMALLOC=malloc) and each peer preloaded under PYTHONMALLOC=malloc."""
import sys

from .harness import POOL, Case, CasesFace


class PythonFace(CasesFace):
    name, default = "python", "pymalloc"
    smoke_cases = None

    def make_cases(self, ctx):
        from .. import workloads
        scale = 0.05 if ctx.smoke else 0.4 if ctx.quick else 1.0
        variants = {"pymalloc": {}, POOL: {"POOLALLOC": "1"}}
        variants.update(ctx.peer_variants(lambda lib: {"PYTHONMALLOC": "malloc", **({"LD_PRELOAD": lib} if lib else {})}))
        return [Case(n, {v: {"argv": [sys.executable, "-m", "poolalloc.workloads", n, "--scale", str(scale)],
                             "env": env} for v, env in variants.items()},
                     seconds_key="seconds", check_key="checksum", what=f"scale {scale}")
                for n in sorted(workloads.WORKLOADS)]
