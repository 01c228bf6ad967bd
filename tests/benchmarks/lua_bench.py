"""lua_bench -- the Lua benchmark runner that `python -m poolalloc bench`
(poolalloc._bench.RunnerFace) loads from tests/benchmarks/: bench_cases()
comes from poolalloc._bench_lua, which also runs the same workloads for
tests/benchmarks/test_bench_lua.py (run_lua)."""
import pathlib
import sys

try:
    from poolalloc._bench_lua import bench_cases, run_lua, table, workloads_dir  # noqa: F401
except ImportError:     # a checkout without the package installed
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python" / "poolalloc"))
    from _bench_lua import bench_cases, run_lua, table, workloads_dir  # noqa: F401
