"""The C pair benchmark (issue 2): bench_pairs compares pool_malloc/pool_free
with glibc, mimalloc 2 and 3 and jemalloc on eight patterns in one process,
interleaved; callgrind counts the instructions of a malloc+free pair.

Throughput is recorded (medians, ratios to mimalloc and glibc, peak RSS),
never asserted: the machine is noisy.  Instruction counts are repeatable;
they are checked for soundness, and the issue's fast-path goal (<= 20
instructions per pair) is recorded against them, met or not, not asserted.
"""
import json
import os
import re
import shutil
import subprocess

import pytest

PATTERNS = ["fixed", "batch64", "batchrand", "random", "interleaved", "churn", "churn100k", "prodcons"]
TARGET_INSTRUCTIONS = 20


def run_pairs(exe, *args, env=None):
    r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=900,
                       env={**os.environ, **(env or {})})
    return r


def test_pair_patterns(benchmark, bench_pairs_exe, bench_quick, peer_libs, bench_record, tmp_path):
    """Every allocator on every pattern, interleaved: medians, ratios, RSS."""
    out = tmp_path / "pairs.json"
    rounds = 5 if bench_quick else 11
    args = ["--rounds", str(rounds), "--json", str(out)] + (["--quick"] if bench_quick else [])
    r = benchmark.pedantic(run_pairs, args=(bench_pairs_exe, *args), rounds=1, iterations=1)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    avail = {a["name"]: a for a in data["allocators"]}
    assert avail["pool"]["available"] and avail["glibc"]["available"], data["allocators"]
    assert "libpool" in avail["pool"]["origin"] and "libc" in avail["glibc"]["origin"]
    for peer in ("mimalloc", "mimalloc3", "jemalloc"):
        assert avail[peer]["available"] == (peer in peer_libs), avail[peer]
        if peer in peer_libs:   # the functions really come from the peer's library
            assert os.path.realpath(avail[peer]["origin"]) == os.path.realpath(peer_libs[peer])
    assert [p["name"] for p in data["patterns"]] == PATTERNS
    running = sorted(n for n, a in avail.items() if a["available"])
    for p in data["patterns"]:
        assert sorted(p["results"]) == running
        assert p["pairs"] > 0
        for name, res in p["results"].items():
            assert len(res["samples"]) == rounds and all(s > 0 for s in res["samples"]), (p["name"], name)
            assert min(res["samples"]) <= res["median"] <= max(res["samples"])
            assert res["peak_rss_kb"] >= 0
    from poolalloc.bench.c import convert
    face = convert(data)
    assert face["geomean"]["speedup_default"] == pytest.approx(data["geomean"]["pool"]["ratio_glibc"], rel=1e-3)
    bench_record("C pairs", r.stdout[r.stdout.index("Mpairs/s"):].strip())
    benchmark.extra_info.update({"geomean_Mpairs": {k: v["median"] for k, v in data["geomean"].items()},
                                 "geomean_ratio_mimalloc": {k: v.get("ratio_mimalloc")
                                                            for k, v in data["geomean"].items()}})
    assert "Mpairs/s" in r.stdout and "geomean" in r.stdout


def test_missing_peer_is_skipped_with_a_note(bench_pairs_exe, tmp_path):
    out = tmp_path / "pairs.json"
    r = run_pairs(bench_pairs_exe, "--rounds", "1", "--scale", "0.02", "--no-rss", "--json", str(out),
                  env={"POOL_BENCH_MIMALLOC": str(tmp_path / "no-such-libmimalloc.so")})
    assert r.returncode == 0, r.stderr
    assert "note: mimalloc skipped: not loaded" in r.stdout
    data = json.loads(out.read_text())
    mi = next(a for a in data["allocators"] if a["name"] == "mimalloc")
    assert not mi["available"] and "no-such-libmimalloc.so" in mi["note"]
    assert all("mimalloc" not in p["results"] and "pool" in p["results"] for p in data["patterns"])
    assert "ratio_mimalloc" not in data["geomean"]["pool"]


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--rounds", "0"], "--rounds takes a count"),
    (["--peers", "tcmalloc"], "--peers takes names"),
    (["--pairs-only", "10", "--api", "nope"], "unknown --api 'nope'"),
])
def test_bad_options(bench_pairs_exe, args, message):
    r = run_pairs(bench_pairs_exe, *args)
    assert r.returncode == 2
    assert message in r.stderr and "usage: bench_pairs" in r.stderr


def callgrind_ir(exe, n, api, out, env=None):
    """Instructions callgrind counts for `bench_pairs --pairs-only n`:
    {object file: Ir of its functions}, the total under "*"."""
    r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(exe), "--pairs-only",
                        str(n), "--api", api], capture_output=True, text=True, timeout=600,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr
    total = int(re.search(r"Collected : (\d+)", r.stderr).group(1))
    ann = subprocess.run(["callgrind_annotate", "--threshold=100", str(out)], capture_output=True, text=True,
                         check=True).stdout
    by_object, current = {"*": total}, "?"
    for line in ann[ann.index("file:function"):].splitlines()[2:]:
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*?)(?: \[(.*)\])?$", line)
        if not m:
            break
        current = m.group(3) or current   # the object is shown when it changes
        by_object[current] = by_object.get(current, 0) + int(m.group(1).replace(",", ""))
    return by_object


def per_pair(exe, api, lib, tmp, env=None, tolerance=0.01):
    """Instructions per pair, (Ir(2M) - Ir(1M)) / 1M, for the whole loop and
    inside the allocator's library `lib`; checked against Ir(3M) - Ir(2M)
    (libpool's pair costs the same every time; mimalloc has periodic work)."""
    runs = [callgrind_ir(exe, n * 1_000_000, api, tmp / f"cg.{api}.{n}", env) for n in (1, 2, 3)]
    inside = [sum(v for k, v in r.items() if lib in os.path.basename(k)) for r in runs]
    result = {}
    for key, ir in (("loop", [r["*"] for r in runs]), ("allocator", inside)):
        first, second = (ir[1] - ir[0]) / 1e6, (ir[2] - ir[1]) / 1e6
        assert abs(first - second) < tolerance, (api, key, ir)   # linear: a fixed cost per pair
        result[key] = first
    return result


@pytest.fixture(scope="module")
def instructions(bench_pairs_exe, peer_libs, bench_record, tmp_path_factory):
    """Instructions per malloc+free pair, in the allocator's library and for
    the whole loop, for each pool API and each peer (called through a
    pointer; the pool APIs are called directly)."""
    if not shutil.which("valgrind"):
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    tmp = tmp_path_factory.mktemp("callgrind")
    tls = {"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=16384", "POOL_BENCH_STATIC_TLS": "1"}
    libs = {"glibc": "libc.so", "mimalloc": "libmimalloc.so.2", "mimalloc3": "libmimalloc.so.3", "jemalloc": "libjemalloc"}
    counts = {api: per_pair(bench_pairs_exe, api, "libpool", tmp) for api in ("pool", "heap", "heap-sized")}
    for peer in ["glibc", *peer_libs]:
        counts[peer] = per_pair(bench_pairs_exe, peer, libs[peer], tmp, env=tls, tolerance=2.0)
    lines = [f"{'api':12} {'in allocator':>12} {'whole loop':>11}"]
    for api, c in counts.items():
        lines.append(f"{api:12} {c['allocator']:>12.1f} {c['loop']:>11.1f}")
    # Issue 2's goal, reported against the figure and not asserted: no timing
    # or count target is a pass/fail condition of the suite.
    for api in ("pool", "heap-sized"):
        got = counts[api]["allocator"]
        lines.append(f"goal (issue 2): {api} <= {TARGET_INSTRUCTIONS} instructions per pair inside libpool: "
                     f"{got:.0f}, {'met' if got <= TARGET_INSTRUCTIONS else 'not met'}")
    bench_record(f"instructions per malloc+free pair (callgrind; 32 B, one block kept live; "
                 f"goal <= {TARGET_INSTRUCTIONS})", "\n".join(lines))
    return counts


def test_instruction_counts_are_sound(instructions):
    """The counts are per pair and the pool's loop is cheaper than glibc's."""
    for api in ("pool", "heap", "heap-sized"):
        c = instructions[api]
        assert 0 < c["allocator"] < c["loop"], (api, c)
    assert instructions["pool"]["loop"] < instructions["glibc"]["loop"]
