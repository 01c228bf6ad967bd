"""The Lua workloads (issue 4): poollua against stock lua5.4 and lua5.4
with mimalloc / jemalloc preloaded, interleaved in one run
(poolalloc._bench_lua.run_lua); medians, speed-ups and peak RSS are
recorded, never asserted.  Callgrind's instruction counts are repeatable:
poollua must execute fewer instructions than lua5.4 on the
allocation-heavy workloads.
"""
import os
import re
import shutil
import subprocess

import pytest

from lua_bench import run_lua, table, workloads_dir

STOCK = shutil.which("lua5.4")
pytestmark = pytest.mark.skipif(not STOCK, reason="lua5.4 is not installed")


@pytest.fixture(scope="module")
def lua_rows(native_build, bench_quick):
    return run_lua(native_build, bench_quick)


def test_lua_workloads(benchmark, lua_rows, peer_libs, bench_record):
    rows = benchmark.pedantic(lambda: lua_rows, rounds=1, iterations=1)
    runtimes = sorted({r["runtime"] for r in rows})
    assert runtimes == sorted(["poollua", "lua5.4", *peer_libs])
    for r in rows:
        assert r["errors"] == [], (r["workload"], r["runtime"], r["errors"])
        assert len(r["samples"]) == r["rounds"] and all(s > 0 for s in r["samples"])
        assert min(r["samples"]) <= r["median_s"] <= max(r["samples"])
        assert r["peak_rss_kb"] > 0
    by_workload = {}
    for r in rows:
        by_workload.setdefault(r["workload"], set()).add(r["checksum"])
    assert all(len(v) == 1 for v in by_workload.values()), by_workload
    bench_record("Lua workloads (wall seconds, median of interleaved rounds; x = speed-up; RSS = VmHWM)",
                 table(rows))
    benchmark.extra_info["lua"] = {f"{r['workload']}/{r['runtime']}": {
        "median_s": r["median_s"], "speedup_vs_stock": r["speedup_vs_stock"],
        "speedup_vs_mimalloc": r["speedup_vs_mimalloc"], "peak_rss_kb": r["peak_rss_kb"]} for r in rows}


def test_missing_peer_is_skipped_with_a_note(native_build, tmp_path, monkeypatch):
    monkeypatch.setenv("POOL_BENCH_MIMALLOC", str(tmp_path / "no-such-libmimalloc.so"))
    rows = run_lua(native_build, True, rounds=1, only=("compute",))
    assert "mimalloc" not in {r["runtime"] for r in rows}
    assert any("mimalloc skipped" in n and "no-such-libmimalloc.so" in n for n in rows[0]["notes"])
    assert all(r["speedup_vs_mimalloc"] is None for r in rows)
    assert {r["runtime"] for r in rows} >= {"poollua", "lua5.4"}


def instructions(argv, out):
    r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    return int(re.search(r"Collected : (\d+)", r.stderr).group(1))


@pytest.mark.parametrize("workload", ["binary_trees", "table_churn", "string_build", "compute"])
def test_instruction_counts(native_build, bench_record, workload, tmp_path):
    """Whole-program instructions of one small run, poollua against lua5.4
    (glibc malloc): fewer for the allocation-heavy workloads."""
    if not shutil.which("valgrind"):
        pytest.skip("valgrind is not installed")
    wdir = workloads_dir(native_build)
    args = [str(wdir / "run.lua"), str(wdir / f"{workload}.lua"), "0.05"]
    pool = instructions([native_build / "bindings" / "lua" / "poollua", *args], tmp_path / "pool.out")
    stock = instructions([STOCK, *args], tmp_path / "stock.out")
    bench_record(f"instructions, {workload} at scale 0.05 (callgrind)",
                 f"poollua {pool:,}  lua5.4 {stock:,}  ratio {pool / stock:.3f}")
    if workload == "compute":
        assert pool < stock * 1.02
    else:
        assert pool < stock
