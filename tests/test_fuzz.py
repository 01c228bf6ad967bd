"""Bounded fuzzing: the libFuzzer harness tests/fuzz/fuzz_ops.c (operation
sequences against a shadow model) built with clang's fuzzer, ASan and UBSan
runtimes and run from the committed seed corpus, in the default mode and
under POOL_DEBUG=1; and a seeded random object-churn workload in CPython
with poolalloc installed, checking contents and the stats identities."""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

FUZZ_DIR = ROOT / "tests" / "fuzz"
CLANG = shutil.which("clang") or shutil.which("clang-14")


@pytest.fixture(scope="module")
def fuzz_ops(tmp_path_factory):
    if CLANG is None:
        pytest.skip("clang is not installed (.ci/bootstrap installs clang and libclang-rt-14-dev)")
    exe = tmp_path_factory.mktemp("fuzz") / "fuzz_ops"
    sources = sorted(str(p) for p in (ROOT / "libpool" / "src").glob("*.c"))
    cmd = [CLANG, "-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
           "-I", str(ROOT / "libpool" / "include"), "-I", str(ROOT / "libpool" / "src"),
           "-DPOOL_BUILDING_LIBPOOL", "-pthread",
           *sources, str(FUZZ_DIR / "fuzz_ops.c"), "-o", str(exe)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert r.returncode == 0, r.stdout
    return exe


@pytest.mark.parametrize("debug, seconds, min_runs", [(False, 45, 1000), (True, 15, 300)],
                         ids=["default", "POOL_DEBUG"])
def test_fuzz_ops_bounded(fuzz_ops, tmp_path, debug, seconds, min_runs):
    """The fuzzer finds no model violation, crash or sanitizer report in its
    time box, and really executes inputs (beyond the seeds)."""
    seeds = sorted((FUZZ_DIR / "corpus").iterdir())
    assert len(seeds) >= 5
    work = tmp_path / "corpus"   # new inputs go here, not into the repository
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "POOL_DEBUG"}
    if debug:
        env["POOL_DEBUG"] = "1"
    env["ASAN_OPTIONS"] = "detect_leaks=0"
    cmd = [str(fuzz_ops), f"-max_total_time={seconds}", "-runs=2000000", "-rss_limit_mb=4096", "-timeout=60",
           "-max_len=4096", "-print_final_stats=1", str(work), str(FUZZ_DIR / "corpus")]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                       timeout=seconds + 300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-6000:]
    m = re.search(r"^Done (\d+) runs in \d+ second", r.stdout, re.M)
    assert m, r.stdout[-3000:]
    assert int(m.group(1)) > min_runs, r.stdout[-3000:]
    assert "ERROR" not in r.stdout and "check failed" not in r.stdout, r.stdout[-6000:]


CHURN = r"""
import json, random, sys, poolalloc
assert poolalloc.install()
rng = random.Random(int(sys.argv[1]))
live = {}          # key -> (kind, object, expected)

def make(i):
    kind = rng.choice(("bytes", "str", "list", "dict", "bytearray", "tuple"))
    n = rng.choice((rng.randrange(64), rng.randrange(600), rng.randrange(5000), rng.randrange(300000)))
    if kind == "bytes":
        obj = bytes((i + j) % 256 for j in range(n % 4096)); exp = ("sum", sum(obj), len(obj))
    elif kind == "bytearray":
        obj = bytearray(n); obj[::97] = b"x" * len(obj[::97]); exp = ("len", len(obj))
    elif kind == "str":
        obj = str(i) * (n % 2000); exp = ("len", len(obj))
    elif kind == "list":
        obj = list(range(n % 3000)); exp = ("sum", sum(obj), len(obj))
    elif kind == "dict":
        obj = {str(k): k for k in range(n % 500)}; exp = ("sum", sum(obj.values()), len(obj))
    else:
        obj = tuple(range(n % 200)); exp = ("sum", sum(obj), len(obj))
    return kind, obj, exp

def check(kind, obj, exp):
    if exp[0] == "len":
        assert len(obj) == exp[1]
    else:
        assert sum(obj.values() if kind == "dict" else obj) == exp[1] and len(obj) == exp[2]

def check_stats():
    st = poolalloc.stats()
    classes = st["classes"]
    assert st["live_bytes"] == sum(c["size"] * c["live_blocks"] for c in classes) + st["large_bytes"], st
    assert st["peak_bytes"] >= st["live_bytes"]
    assert all(c["allocs"] - c["frees"] == c["live_blocks"] for c in classes), classes
    leaks = poolalloc.leaks()
    # leaks() reads the stats again, a moment (a few objects) later
    assert all(l["count"] > 0 and l["bytes"] == l["size"] * l["count"] for l in leaks if l["cls"] >= 0), leaks
    return st["live_bytes"]

peaks = []
for step in range(30000):
    r = rng.random()
    if r < 0.55 or not live:
        live[step] = make(step)
    elif r < 0.95:
        k = rng.choice(list(live)); check(*live.pop(k))
    else:
        k = rng.choice(list(live)); kind, obj, exp = live[k]
        if kind == "list":
            obj.extend(range(rng.randrange(1000))); live[k] = (kind, obj, ("sum", sum(obj), len(obj)))
        elif kind == "bytearray":
            obj.extend(b"y" * rng.randrange(100000)); live[k] = (kind, obj, ("len", len(obj)))
    if step % 1000 == 0:
        peaks.append(check_stats())
for v in live.values():
    check(*v)
n_live = len(live)
live.clear()
print(json.dumps({"checks": len(peaks), "final": check_stats(), "max": max(peaks), "n_live": n_live}))
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_python_random_churn(tmp_path, seed):
    """Random object churn under poolalloc: contents intact, and the stats
    identities hold at every checkpoint (live_bytes is the sum of the class
    blocks plus large bytes; per class allocs - frees = live_blocks)."""
    script = tmp_path / "churn.py"
    script.write_text(textwrap.dedent(CHURN))
    env = {k: v for k, v in os.environ.items() if k not in ("POOL_DEBUG", "POOLALLOC")}
    r = subprocess.run([sys.executable, str(script), str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    out = json.loads(r.stdout)
    assert out["checks"] == 30 and out["n_live"] > 100
    assert out["final"] < out["max"]
