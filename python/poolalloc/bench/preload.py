"""poolalloc.bench.preload -- the LD_PRELOAD face: the stress programs of
tests/benchmarks/stress (built by CMake) under glibc, each peer
(LD_PRELOAD=its library) and libpool (LD_PRELOAD=libpoolmalloc.so of the
build).  Each prints one JSON line with its own timed seconds, a checksum
of the contents it verified (equal under every allocator) and its VmHWM."""
from .harness import POOL, Case, CasesFace

# name -> what it stresses
PROGRAMS = {
    "larson": "server simulation: 4 threads replace blocks and hand their slot arrays on (cross-thread frees)",
    "prodcons": "2 producers pass messages to 2 consumers through a locked queue; every free is cross-thread",
    "threads_churn": "waves of 8 short-lived threads, each churning 512 small blocks",
    "small_objects": "200,000 blocks of 8-64 B: fill, free every other and refill, free all in reverse",
    "random_sizes": "8192 slots replaced at random: 70% <= 128 B, 25% <= 4 KiB, 5% <= 128 KiB",
    "realloc_growth": "128 buffers grown side by side by small appends (exact realloc or doubling)",
    "live_set_churn": "200,000 live blocks, random replacement in 4 phases of shifting sizes",
}
QUICK_SCALE = 0.4


class PreloadFace(CasesFace):
    name, default = "preload", "glibc"

    def make_cases(self, ctx, scale=None):
        lib = ctx.artifact("libpoolmalloc.so")
        if not lib:
            return ctx.missing("libpoolmalloc.so")
        exes = {n: ctx.artifact(n) for n in PROGRAMS}
        missing = [n for n, exe in exes.items() if not exe]
        if missing:
            return ctx.missing(f"the stress programs {', '.join(missing)}")
        scale = scale or (QUICK_SCALE if ctx.quick else 1.0)
        self.scale = scale
        cases = []
        for name, what in PROGRAMS.items():
            argv = [str(exes[name]), "--scale", str(scale)]
            variants = {POOL: {"argv": argv, "env": {"LD_PRELOAD": str(lib)}}}
            variants.update(ctx.peer_variants(lambda lib: {"argv": argv, "env": {"LD_PRELOAD": lib} if lib else {}}))
            cases.append(Case(name, variants, "seconds", "checksum", f"{what} (scale {scale})"))
        return cases

    def notes(self, ctx):
        return [f"preload: each program times its own work; peak RSS is its own VmHWM; scale {self.scale}",
                *ctx.peer_notes]
