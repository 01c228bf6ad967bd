"""The Lua workloads (issue 4): poollua against stock lua5.4 and lua5.4
with the peers preloaded, interleaved in one run (poolalloc.bench.lua, the
same runner as `python -m poolalloc bench --only lua`); medians, speed-ups
and peak RSS are recorded, never asserted.  Callgrind's instruction counts
are repeatable: poollua must execute fewer instructions than lua5.4 on the
allocation-heavy workloads.
"""
import argparse
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, face_text, run_face

STOCK = shutil.which("lua5.4")
pytestmark = pytest.mark.skipif(not STOCK, reason="lua5.4 is not installed")


def test_lua_workloads(benchmark, bench_ctx, peer_libs, bench_record):
    from poolalloc.bench.lua import LuaFace, workloads
    face = LuaFace()
    result = benchmark.pedantic(lambda: run_face(face, bench_ctx), rounds=1, iterations=1)
    assert [(b["name"], b["group"]) for b in result["benchmarks"]] == list(workloads().items())
    assert set(result["group_geomean"]) == {"program", "compute", "micro"}
    for b in result["benchmarks"]:
        assert b["errors"] == [], (b["name"], b["errors"])
        assert sorted(b["results"]) == sorted(["pool", "lua5.4", *peer_libs])
        for r in b["results"].values():
            assert len(r["samples"]) == face.rounds and min(r["samples"]) <= r["median"] <= max(r["samples"])
            assert r["peak_rss_kb"] > 0
    for c in face.cases:  # every runtime computed the same checksum
        assert len(c.checks) == len(c.variants) and len(set(c.checks.values())) == 1, (c.name, c.checks)
    bench_record("Lua workloads", face_text(bench_ctx, "lua", result))
    benchmark.extra_info["lua"] = {b["name"]: {"speedup_default": b["speedup_default"],
                                               "speedup_mimalloc": b["speedup_mimalloc"]} for b in result["benchmarks"]}


def test_missing_peer_is_skipped_with_a_note(native_build, tmp_path, monkeypatch):
    from poolalloc.bench.harness import Context
    from poolalloc.bench.lua import LuaFace
    monkeypatch.setenv("POOL_BENCH_MIMALLOC", str(tmp_path / "no-such-libmimalloc.so"))
    ns = argparse.Namespace(quick=True, smoke=True, rounds=1, peers=["glibc", "mimalloc"], source=str(ROOT),
                            build_dir=str(native_build))
    result = run_face(LuaFace(), Context(ns, log=lambda *a: None))
    assert any("mimalloc skipped" in n and "no-such-libmimalloc.so" in n for n in result["notes"]), result["notes"]
    for b in result["benchmarks"]:
        assert set(b["results"]) == {"pool", "lua5.4"} and b["speedup_mimalloc"] is None, b


def instructions(argv, out):
    r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    return int(re.search(r"Collected : (\d+)", r.stderr).group(1))


@pytest.mark.parametrize("workload", ["binary_trees", "table_churn", "string_build", "compute"])
def test_instruction_counts(native_build, bench_record, workload, tmp_path):
    """Whole-program instructions of one small run, poollua against lua5.4
    (glibc malloc): fewer for the allocation-heavy workloads."""
    from poolalloc.bench.lua import argv_of
    if not shutil.which("valgrind"):
        pytest.skip("valgrind is not installed")
    args = argv_of(workload, 0.05)
    pool = instructions([native_build / "bindings" / "lua" / "poollua", *args], tmp_path / "pool.out")
    stock = instructions([STOCK, *args], tmp_path / "stock.out")
    bench_record(f"instructions, {workload} at scale 0.05 (callgrind)",
                 f"poollua {pool:,}  lua5.4 {stock:,}  ratio {pool / stock:.3f}")
    if workload == "compute":
        assert pool < stock * 1.02
    else:
        assert pool < stock
