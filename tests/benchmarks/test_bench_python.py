"""The Python workloads (issue 3): poolalloc (POOLALLOC=1) against the
default pymalloc, PYTHONMALLOC=malloc (glibc) and glibc with each installed
peer preloaded, every workload in fresh interpreters, interleaved in one
run (poolalloc._bench.PythonFace, the same runner as `python -m poolalloc
bench --only python`).  Medians, speed-ups and peak RSS (the child's
VmHWM) are recorded, never asserted; the workloads' checksums must agree."""
import argparse


def test_python_workloads(benchmark, bench, bench_quick, bench_record):
    ns = argparse.Namespace(quick=bench_quick, smoke=False, rounds=None, peers=list(bench.PEERS), source=None,
                            build_dir=None)
    ctx = bench.Context(ns, log=lambda *a: None)
    face = bench.PythonFace()
    assert face.prepare(ctx) == ""
    result = benchmark.pedantic(lambda: face.run(ctx, lambda: None), rounds=1, iterations=1)
    assert result["benchmarks"], result
    for b in result["benchmarks"]:
        assert b["errors"] == [], b["errors"]
        assert {"pymalloc", "poolalloc", "glibc"} <= set(b["results"]), b["results"].keys()
        for v in b["results"].values():
            assert len(v["samples"]) == face.rounds and v["median"] > 0 and v["peak_rss_kb"] > 1000
    for c in face.cases:  # every allocator computed the same thing
        assert len(set(map(str, c.checks.values()))) == 1, (c.name, c.checks)
    bench_record("Python workloads (seconds, median of interleaved rounds; x = speed-up of poolalloc)",
                 bench.table({"faces": {"python": result}}))
    benchmark.extra_info["python"] = {b["name"]: {"speedup_default": b["speedup_default"],
                                                  "speedup_mimalloc": b["speedup_mimalloc"],
                                                  "rss_kb": {k: v["peak_rss_kb"] for k, v in b["results"].items()}}
                                      for b in result["benchmarks"]}
