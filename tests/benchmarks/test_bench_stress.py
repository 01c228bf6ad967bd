"""The LD_PRELOAD stress programs (issue 5): each program runs under glibc,
mimalloc, jemalloc and libpoolmalloc.so, interleaved (poolalloc._bench's
run_cases rotates the order every round).  Asserted: every run succeeds,
verifies its contents and prints the same checksum under every allocator,
and the pool variant really runs on libpool.  Recorded, never asserted
(the machine is noisy): medians, the pool's ratios, peak RSS.
"""
import json
import os
import re
import subprocess

import pytest

import stress_suite


@pytest.fixture(scope="module")
def stress_spec(native_build, bench_quick, peer_libs):
    spec = stress_suite.bench_cases(native_build, bench_quick, peers={"glibc": None, **peer_libs})
    assert not isinstance(spec, str), spec
    return spec


def ratio_table(face, geomean):
    """Per program: medians, how many times faster the pool is than each
    other allocator and than the best one, peak RSS; then geomeans."""
    allocs = face["allocators"]
    others = [a for a in allocs if a != face["pool"]]
    head = f"{'program':15} " + " ".join(f"{a:>9}" for a in allocs) + " " + \
        " ".join(f"{'x ' + a:>10}" for a in others) + f" {'x best':>7}  peak RSS MiB " + "/".join(allocs)
    lines, ratios = [head, "-" * len(head)], {a: [] for a in others + ["best"]}
    for b in face["benchmarks"]:
        med = {a: b["results"][a]["median"] for a in allocs}
        pool = med[face["pool"]]
        row = {a: med[a] / pool for a in others}
        row["best"] = min(med.values()) / pool
        for a, x in row.items():
            ratios[a].append(x)
        lines.append(f"{b['name']:15} " + " ".join(f"{med[a]:>9.3f}" for a in allocs) + " "
                     + " ".join(f"{row[a]:>9.2f}x" for a in others) + f" {row['best']:>6.2f}x  "
                     + "/".join(f"{b['results'][a]['peak_rss_kb'] / 1024:.1f}" for a in allocs))
    geo = {a: geomean(x) for a, x in ratios.items()}
    lines.append(f"{'geomean':15} " + " " * (10 * len(allocs)) + " ".join(f"{geo[a]:>9.2f}x" for a in others)
                 + f" {geo['best']:>6.2f}x")
    lines.append("(seconds, median of interleaved rounds; x = times faster than, > 1 means the pool is faster)")
    return "\n".join(lines), geo


def test_stress_programs(stress_spec, bench, bench_quick, bench_record):
    """Every program under every allocator, interleaved: no errors, equal
    checksums, one sample per round; medians, ratios and RSS recorded."""
    rounds = 3 if bench_quick else 5
    cases = [bench.Case(c["name"], c["variants"], c["seconds_key"], c["check_key"], c["what"])
             for c in stress_spec["cases"]]
    assert [c.name for c in cases] == list(stress_suite.PROGRAMS)
    bench.run_cases(cases, rounds, lambda: None)
    face = bench.face_result(cases, "s", False, stress_spec["default"], stress_spec["pool"], stress_spec["notes"])
    for c, b in zip(cases, face["benchmarks"]):
        assert b["errors"] == [], (c.name, b["errors"])
        assert set(c.checks) == set(c.variants), (c.name, c.checks)
        assert len(set(c.checks.values())) == 1, (c.name, c.checks)
        for v, samples in c.samples.items():
            assert len(samples) == rounds and all(s > 0 for s in samples), (c.name, v, samples)
            assert c.rss[v] > 1000, (c.name, v, c.rss[v])    # its own VmHWM, in kB
    text, _ = ratio_table(face, bench.geomean)
    bench_record("LD_PRELOAD stress programs", text)


def test_pool_variant_runs_on_libpool(stress_spec):
    """The pool variant's LD_PRELOAD really replaces malloc: POOL_STATS=1
    reports every allocation of small_objects (3 per slot and round)."""
    case = next(c for c in stress_spec["cases"] if c["name"] == "small_objects")
    pool = case["variants"]["pool"]
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
def test_bad_arguments(stress_spec, args):
    for c in stress_spec["cases"]:
        r = subprocess.run([c["variants"]["glibc"]["argv"][0], *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "usage: " + c["name"] in r.stderr, (c["name"], r.stderr)


def test_not_built_is_a_reason(tmp_path):
    why = stress_suite.bench_cases(tmp_path, quick=True, peers={"glibc": None})
    assert isinstance(why, str) and "not built" in why and "larson" in why
