"""What the default-mode checks cost (issue 7's goal: <= 3%): the interior
and double-free checks of the free path, the free marker and the encoded
free-list links.  A second build with -DPOOL_NO_CHECKS=ON compiles them out;
bench_pairs of both builds runs interleaved (medians of several runs, with
glibc in every run as a reference for the machine's drift), and callgrind
counts the instructions of a malloc+free pair in both.  The ratios are
recorded, not asserted against the goal (timings are noisy); what is
asserted is that the no-checks build really lacks the checks (fewer
instructions, repeatably) and that both builds ran every pattern."""
import json
import os
import re
import shutil
import statistics
import subprocess

import pytest

from conftest import ROOT

RUNS = 9
APIS = ("pool", "heap-sized")


@pytest.fixture(scope="module")
def builds(native_build):
    """{"checks": bench_pairs of the default build, "nochecks": of the
    POOL_NO_CHECKS build}."""
    bdir = ROOT / "build-nochecks"
    for cmd in (["cmake", "-S", str(ROOT), "-B", str(bdir), "-DPOOL_NO_CHECKS=ON"],
                ["cmake", "--build", str(bdir), "-j2", "--target", "bench_pairs"]):
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert r.returncode == 0, r.stdout[-4000:]
    return {"checks": native_build / "tests" / "benchmarks" / "c" / "bench_pairs",
            "nochecks": bdir / "tests" / "benchmarks" / "c" / "bench_pairs"}


def pool_and_glibc(exe, json_path, quick):
    """{pattern: (pool Mpairs/s, glibc Mpairs/s)} of one bench_pairs run."""
    args = ["--rounds", "3", "--peers", "glibc", "--no-rss", "--json", str(json_path)] + (["--quick"] if quick else [])
    r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    d = json.loads(json_path.read_text())
    out = {p["name"]: (p["results"]["pool"]["median"], p["results"]["glibc"]["median"]) for p in d["patterns"]}
    out["geomean"] = (d["geomean"]["pool"]["median"], d["geomean"]["glibc"]["median"])
    return out


def test_checks_overhead_throughput(builds, bench_quick, bench_record, tmp_path):
    """Interleaved runs of both builds; overhead = nochecks/checks - 1 of
    the median pool throughput, and the same on pool/glibc ratios."""
    runs = {k: [] for k in builds}
    for i in range(RUNS):
        order = list(builds) if i % 2 == 0 else list(reversed(builds))
        for k in order:
            runs[k].append(pool_and_glibc(builds[k], tmp_path / f"{k}.json", bench_quick))
    patterns = list(runs["checks"][0])
    lines = [f"{'pattern':12} {'checks':>8} {'no checks':>9} {'overhead':>9} {'vs glibc':>9}"]
    for pat in patterns:
        med = {k: statistics.median(r[pat][0] for r in runs[k]) for k in runs}
        norm = {k: statistics.median(r[pat][0] / r[pat][1] for r in runs[k]) for k in runs}
        assert all(v > 0 for v in med.values())
        lines.append(f"{pat:12} {med['checks']:8.1f} {med['nochecks']:9.1f} {med['nochecks'] / med['checks'] - 1:+9.1%}"
                     f" {norm['nochecks'] / norm['checks'] - 1:+9.1%}")
    bench_record(f"default-mode checks: Mpairs/s of bench_pairs, median of {RUNS} interleaved runs "
                 f"(overhead = no-checks / checks - 1; goal <= 3%)", "\n".join(lines))
    assert patterns == ["fixed", "random", "interleaved", "churn", "prodcons", "geomean"]


def loop_ir(exe, n, api, out):
    """Instructions callgrind counts for `bench_pairs --pairs-only n --api api`."""
    r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(exe), "--pairs-only",
                        str(n), "--api", api], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return int(re.search(r"Collected : (\d+)", r.stderr).group(1))


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (.ci/bootstrap installs it)")
def test_checks_overhead_instructions(builds, bench_record, tmp_path):
    """Instructions per malloc+free pair ((Ir(2M) - Ir(1M)) / 1M, whole loop)
    with and without the checks; repeatable, so the no-checks build must
    count fewer and the checks build must count the same twice."""
    lines = [f"{'api':12} {'checks':>7} {'no checks':>9} {'overhead':>9}"]
    for api in APIS:
        per = {}
        for k, exe in builds.items():
            ir = [loop_ir(exe, n, api, tmp_path / f"cg.{k}.{api}.{n}") for n in (1_000_000, 2_000_000, 3_000_000)]
            first, second = (ir[1] - ir[0]) / 1e6, (ir[2] - ir[1]) / 1e6
            assert abs(first - second) < 0.01, (k, api, ir)
            per[k] = first
        assert per["nochecks"] < per["checks"], (api, per)
        lines.append(f"{api:12} {per['checks']:7.1f} {per['nochecks']:9.1f} {per['checks'] / per['nochecks'] - 1:+9.1%}")
    bench_record("default-mode checks: instructions per malloc+free pair, whole loop (callgrind)", "\n".join(lines))
