"""stress_suite -- the LD_PRELOAD stress runner (issue 5) that
`python -m poolalloc bench --only preload` (poolalloc._bench.RunnerFace)
loads from tests/benchmarks/, also used by test_bench_stress.py.

The programs (tests/benchmarks/stress/*.c, built by CMake under
<build>/tests/benchmarks/stress/) call plain malloc/free/realloc; each runs
under glibc (no LD_PRELOAD), every installed peer (LD_PRELOAD=its library)
and libpool (LD_PRELOAD=<build>/bindings/preload/libpoolmalloc.so), and
prints one JSON line with its own timed seconds, a checksum of the contents
it verified (equal under every allocator) and its own VmHWM.
"""
import os
import pathlib

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
DEFAULT, POOL = "glibc", "pool"
QUICK_SCALE = 0.4


def stress_dir(build_dir):
    """Where CMake puts the stress programs."""
    return pathlib.Path(build_dir) / "tests" / "benchmarks" / "stress"


def preload_lib(build_dir):
    """libpoolmalloc.so of the build."""
    return pathlib.Path(build_dir) / "bindings" / "preload" / "libpoolmalloc.so"


def variants(exe, build_dir, peers, scale):
    """{allocator: {"argv", "env"}} of one program: the pool, then glibc and
    the peers in `peers` ({"glibc": None, "mimalloc": path, ...})."""
    argv = [str(exe), "--scale", str(scale)]
    out = {POOL: {"argv": argv, "env": {"LD_PRELOAD": str(preload_lib(build_dir))}}}
    for name, lib in peers.items():
        out[name] = {"argv": argv, "env": {"LD_PRELOAD": str(lib)} if lib else {}}
    return out


def bench_cases(build_dir, quick=False, peers=None, scale=None):
    """The stress cases in RunnerFace's shape, or a str saying why they
    cannot run (not built)."""
    if not build_dir:
        return "no CMake build directory for the stress programs"
    missing = [n for n in PROGRAMS if not os.access(stress_dir(build_dir) / n, os.X_OK)]
    if missing:
        return f"stress programs not built in {stress_dir(build_dir)} (missing: {', '.join(missing)}); " \
               f"build with `cmake -S <source> -B {build_dir} && cmake --build {build_dir}`"
    if not preload_lib(build_dir).is_file():
        return f"{preload_lib(build_dir)} is not built"
    peers = {"glibc": None} if peers is None else dict(peers)
    scale = scale or (QUICK_SCALE if quick else 1.0)
    cases = [{"name": name, "what": f"{what} (scale {scale})", "seconds_key": "seconds", "check_key": "checksum",
              "variants": variants(stress_dir(build_dir) / name, build_dir, peers, scale)}
             for name, what in PROGRAMS.items()]
    return {"cases": cases, "default": DEFAULT, "pool": POOL,
            "notes": [f"preload: each program times its own work; peak RSS is its own VmHWM; scale {scale}"]}
