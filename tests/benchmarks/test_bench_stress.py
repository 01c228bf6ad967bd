"""The LD_PRELOAD stress programs (issue 5): each program runs under glibc,
the peers and libpoolmalloc.so, interleaved (poolalloc.bench.preload, the
same runner as `python -m poolalloc bench --only preload`).  Asserted:
every run succeeds, verifies its contents and prints the same checksum
under every allocator, and the pool variant really runs on libpool.
Recorded, never asserted (the machine is noisy): medians, the pool's
ratios, peak RSS.
"""
import argparse
import json
import os
import re
import subprocess

import pytest

from conftest import face_text


@pytest.fixture(scope="module")
def stress_face(bench_ctx):
    from poolalloc.bench.preload import PreloadFace
    face = PreloadFace()
    assert face.prepare(bench_ctx) == ""
    return face


def test_stress_programs(stress_face, bench_ctx, bench_record):
    """Every program under every allocator, interleaved: no errors, equal
    checksums, one sample per round; medians, ratios and RSS recorded."""
    from poolalloc.bench.preload import PROGRAMS
    assert [c.name for c in stress_face.cases] == list(PROGRAMS)
    face = stress_face.run(bench_ctx, lambda: None)
    for c, b in zip(stress_face.cases, face["benchmarks"]):
        assert b["errors"] == [], (c.name, b["errors"])
        assert set(c.checks) == set(c.variants), (c.name, c.checks)
        assert len(set(c.checks.values())) == 1, (c.name, c.checks)
        for v, samples in c.samples.items():
            assert len(samples) == stress_face.rounds and all(s > 0 for s in samples), (c.name, v, samples)
            assert c.rss[v] > 1000, (c.name, v, c.rss[v])    # its own VmHWM, in kB
    bench_record("LD_PRELOAD stress programs", face_text(bench_ctx, "preload", face))


def test_pool_variant_runs_on_libpool(stress_face):
    """The pool variant's LD_PRELOAD really replaces malloc: POOL_STATS=1
    reports every allocation of small_objects (3 per slot and round)."""
    case = next(c for c in stress_face.cases if c.name == "small_objects")
    pool = case.variants["pool"]
    argv = [pool["argv"][0], "--scale", "0.05"]     # one round of 200,000 slots
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                       env={**os.environ, **pool["env"], "POOL_STATS": "1"})
    assert r.returncode == 0, r.stderr
    allocs = int(re.search(r"allocs\s+(\d+)", r.stderr).group(1))
    assert 300000 <= allocs < 300100, r.stderr
    glibc = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                           env={**{k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}, "POOL_STATS": "1"})
    assert glibc.returncode == 0 and "poolalloc" not in glibc.stderr
    assert json.loads(glibc.stdout)["checksum"] == json.loads(r.stdout)["checksum"]


@pytest.mark.parametrize("args", [["--scale", "0"], ["--scale", "x"], ["--bogus"], ["--scale"]])
def test_bad_arguments(stress_face, args):
    for c in stress_face.cases:
        r = subprocess.run([c.variants["glibc"]["argv"][0], *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "usage: " + c.name in r.stderr, (c.name, r.stderr)


def test_not_built_is_a_reason(tmp_path, monkeypatch):
    """Outside a checkout, with an empty build directory, the face is
    skipped with a note that says how to build it."""
    from poolalloc.bench.harness import Context
    from poolalloc.bench.preload import PreloadFace
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POOL_SOURCE_DIR", raising=False)
    ns = argparse.Namespace(quick=True, smoke=True, rounds=1, peers=["glibc"], source=None,
                            build_dir=str(tmp_path / "build"))
    why = PreloadFace().prepare(Context(ns, log=lambda *a: None))
    assert why == f"libpoolmalloc.so not found in {tmp_path / 'build'} (build it: cmake -S <poolalloc checkout> " \
                  f"-B {tmp_path / 'build'} && cmake --build {tmp_path / 'build'})", why
