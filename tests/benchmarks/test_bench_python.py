"""The Python workloads (issue 3): libpool (POOLALLOC=1) against the
default pymalloc, PYTHONMALLOC=malloc (glibc) and glibc with each installed
peer preloaded, every workload in fresh interpreters, interleaved in one
run (poolalloc.bench.python.PythonFace, the same runner as `python -m
poolalloc bench --only python`).  Medians, speed-ups and peak RSS (the
child's VmHWM) are recorded, never asserted; the checksums must agree."""
from conftest import face_text, run_face


def test_python_workloads(benchmark, bench_ctx, bench_record):
    from poolalloc.bench.python import PythonFace
    face = PythonFace()
    result = benchmark.pedantic(lambda: run_face(face, bench_ctx), rounds=1, iterations=1)
    assert result["benchmarks"], result
    for b in result["benchmarks"]:
        assert b["errors"] == [], b["errors"]
        assert {"pymalloc", "pool", "glibc"} <= set(b["results"]), b["results"].keys()
        for v in b["results"].values():
            assert len(v["samples"]) == face.rounds and v["median"] > 0 and v["peak_rss_kb"] > 1000
    for c in face.cases:  # every allocator computed the same thing
        assert len(set(map(str, c.checks.values()))) == 1, (c.name, c.checks)
    bench_record("Python workloads", face_text(bench_ctx, "python", result))
    benchmark.extra_info["python"] = {b["name"]: {"speedup_default": b["speedup_default"],
                                                  "speedup_mimalloc": b["speedup_mimalloc"],
                                                  "rss_kb": {k: v["peak_rss_kb"] for k, v in b["results"].items()}}
                                      for b in result["benchmarks"]}
