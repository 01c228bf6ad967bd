"""pyperformance as the yardstick (issue 15): 30 scripts of CPython's
benchmark suite under pymalloc (the default), POOLALLOC=1 and glibc with
mimalloc 2 and 3 preloaded, each in fresh interpreters, interleaved in one
run (poolalloc.bench.pyperformance.PyperformanceFace, the same runner as
`python -m poolalloc bench --only pyperformance`; about 20 minutes, 6 with
--bench-quick).  Medians, speed and peak RSS relative to pymalloc are
recorded, never asserted; every set-up must have run every script."""
import pytest

from conftest import face_text, run_face


def test_pyperformance(benchmark, bench_ctx, bench_record):
    from poolalloc.bench.pyperformance import BENCHMARKS, PyperformanceFace, benchmark_dir
    if benchmark_dir() is None:
        pytest.skip("pyperformance is not installed (pip install 'poolalloc[pyperformance]')")
    face = PyperformanceFace()
    result = benchmark.pedantic(lambda: run_face(face, bench_ctx), rounds=1, iterations=1)
    assert [b["name"] for b in result["benchmarks"]] == list(BENCHMARKS)
    for b in result["benchmarks"]:
        assert b["errors"] == [], b["errors"]
        assert {"pymalloc", "pool"} <= set(b["results"]), b["results"].keys()
        for v in b["results"].values():
            assert len(v["samples"]) == face.rounds and v["median"] > 0 and v["peak_rss_kb"] > 5000
    bench_record("pyperformance", face_text(bench_ctx, "pyperformance", result))
    benchmark.extra_info["pyperformance"] = {
        "geomean_vs_pymalloc": result["geomean_vs_default"],
        "benchmarks": {b["name"]: {"speedup_default": b["speedup_default"],
                                   "rss_kb": {k: v["peak_rss_kb"] for k, v in b["results"].items()}}
                       for b in result["benchmarks"]}}
