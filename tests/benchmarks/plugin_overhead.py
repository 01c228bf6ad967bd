"""plugin_overhead.py -- what `pytest --poolalloc` costs on a suite without
markers, next to a plain run, POOLALLOC=1 (the allocator alone) and
pytest-memray (`--memray`, when installed).

    python3 tests/benchmarks/plugin_overhead.py [--rounds N] [--tests N]

It writes a suite of N small tests (JSON, dicts, sorting, objects, strings)
into a temporary directory and runs it under every mode, interleaved (the
order rotates each round); it prints the median wall time of each mode and
its ratio to the plain run."""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

SUITE = '''
import json, re
import pytest

class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

def work(kind, n):
    if kind == "json":
        return len(json.loads(json.dumps([{"id": i, "name": str(i) * 3} for i in range(n)])))
    if kind == "dict":
        return len({str(i): [i] * 3 for i in range(n)})
    if kind == "sort":
        return sorted(str(i * 7919 % n) for i in range(n))[0]
    if kind == "objects":
        return sum(p.x for p in [Point(i, i) for i in range(n)])
    return len(re.findall(r"\\d+", " ".join(str(i) for i in range(n))))

@pytest.mark.parametrize("i", range({count}))
@pytest.mark.parametrize("kind", ["json", "dict", "sort", "objects", "text"])
def test_work(kind, i):
    assert work(kind, 2000)
'''


def modes(have_memray):
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    out = {
        "plain": (base + ["-p", "no:memray"], {}),
        "POOLALLOC=1": (base + ["-p", "no:memray"], {"POOLALLOC": "1"}),
        "--poolalloc": (base + ["-p", "no:memray", "--poolalloc"], {}),
    }
    if have_memray:
        out["--memray"] = (base + ["-p", "no:poolalloc", "--memray"], {})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--tests", type=int, default=500, help="tests in the suite (a multiple of 5)")
    args = ap.parse_args()
    try:
        import pytest_memray  # noqa: F401
        have_memray = True
    except ImportError:
        have_memray = False
        print("pytest-memray is not installed: its column is left out")
    runs = modes(have_memray)
    times = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "test_suite.py"), "w") as f:
            f.write(SUITE.replace("{count}", str(max(args.tests // 5, 1))))
        names = list(runs)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                cmd, extra = runs[name]
                env = dict(os.environ, **extra)
                if not extra:
                    env.pop("POOLALLOC", None)
                t = time.perf_counter()
                p = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True)
                times[name].append(time.perf_counter() - t)
                if p.returncode != 0:
                    sys.exit(f"{name}: pytest failed:\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    plain = statistics.median(times["plain"])
    print(f"{args.tests} tests, median of {args.rounds} interleaved rounds (wall s, whole pytest run)")
    print("| mode | median s | x plain | min–max s |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.2f} | {med / plain:.2f}x | {min(ts):.2f}–{max(ts):.2f} |")


if __name__ == "__main__":
    main()
