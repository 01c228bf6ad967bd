"""The hardening probe suite (issue 17): tests/c/prog_libc_probes commits one
memory error per run (overflows and underflows of 1 byte, 32 bytes, a memcpy
and 1 MiB; writes after free; double, invalid and realloc'd frees; reads of
malloc(0) blocks) in small, medium and large blocks.  Each probe runs under
glibc, under LD_PRELOAD=libpoolmalloc.so and under it with POOL_DEBUG=1.

Asserted: libpool's default mode stops every probe glibc stops; the debug
mode stops at least 3 of 4 probes of every category; every stop by libpool
is either its one-line report (naming the fault, the address and the block
size) and SIGABRT, or SIGSEGV on one of its guard pages (no other output).
The table is printed (pytest -s, or python3 tests/test_probes.py)."""
import collections
import concurrent.futures
import os
import re
import signal
import subprocess
import sys

import pytest

if __name__ == "__main__":
    sys.path[:0] = [os.path.dirname(__file__), os.path.join(os.path.dirname(__file__), "python")]
from pyproc import clean_env  # noqa: E402

SIZES = ("small", "medium", "large")
MODES = ("glibc", "default", "debug")
REPORT = re.compile(r"poolalloc: [a-z][^\n]* 0x[0-9a-f]+( \(\d+-byte block\))?\n")


def run_probe(prog, preload, name, size, mode):
    env = {}
    if mode != "glibc":
        env["LD_PRELOAD"] = preload
    if mode == "debug":
        env["POOL_DEBUG"] = "1"
    r = subprocess.run([prog, name, size], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=clean_env(env), timeout=60)
    return (name, size, mode), r


def run_all(build):
    prog = str(build / "tests" / "c" / "prog_libc_probes")
    preload = str(build / "bindings" / "preload" / "libpoolmalloc.so")
    names = subprocess.run([prog, "list"], stdout=subprocess.PIPE, text=True, check=True).stdout.split()
    jobs = [(name, size, mode) for name in names for size in SIZES for mode in MODES]
    with concurrent.futures.ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) * 2) as ex:
        results = dict(ex.map(lambda j: run_probe(prog, preload, *j), jobs))
    return names, results


def stopped(r):
    return r.returncode < 0


def table(names, results):
    """One row per category (probe name): the sizes each mode stops."""
    rows = ["| probe | glibc | default | debug |", "|---|---|---|---|"]
    total = collections.Counter()
    for name in names:
        cells = []
        for mode in MODES:
            hit = [s for s in SIZES if stopped(results[(name, s, mode)])]
            total[mode] += len(hit)
            cells.append(", ".join(hit) if hit else "—")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    n = len(names) * len(SIZES)
    rows.append("| **all** | " + " | ".join(f"**{total[m]}/{n}**" for m in MODES) + " |")
    return "\n".join(rows)


@pytest.fixture(scope="module")
def probe_results(native_build):
    names, results = run_all(native_build)
    print("\n" + table(names, results))
    return names, results


def test_every_probe_runs(probe_results):
    """Each probe either survives to its end or dies of a signal: no probe
    is mistyped, and a survivor printed its address and "survived"."""
    names, results = probe_results
    assert len(names) >= 20
    for key, r in results.items():
        lines = r.stdout.splitlines()
        assert lines and re.fullmatch(r"0x[0-9a-f]+", lines[0]), (key, r.stdout, r.stderr)
        if not stopped(r):
            assert r.returncode == 0 and lines[-1] == "survived", (key, r.returncode, r.stdout, r.stderr)


def test_default_mode_stops_what_glibc_stops(probe_results):
    names, results = probe_results
    missed = [(n, s) for n in names for s in SIZES
              if stopped(results[(n, s, "glibc")]) and not stopped(results[(n, s, "default")])]
    assert not missed, f"glibc stops these, libpool's default mode does not: {missed}"


def test_debug_mode_stops_three_of_four_per_category(probe_results):
    names, results = probe_results
    weak = {}
    for n in names:
        hit = sum(stopped(results[(n, s, "debug")]) for s in SIZES)
        if hit * 4 < 3 * len(SIZES):
            weak[n] = hit
    assert not weak, f"debug mode stops fewer than 3 of 4 of: {weak}"


@pytest.mark.parametrize("mode", ["default", "debug"])
def test_every_stop_is_one_report_line(probe_results, mode):
    """A stop by libpool is SIGABRT after exactly one report line that names
    the fault, an address and (when known) the block size, or SIGSEGV on a
    guard page with nothing on stderr.  Where the probe's own block is the
    culprit the line names that block's address."""
    names, results = probe_results
    for n in names:
        for s in SIZES:
            r = results[(n, s, mode)]
            if not stopped(r):
                continue
            if r.returncode == -signal.SIGSEGV:
                assert r.stderr == "", (n, s, mode, r.stderr)
                continue
            assert r.returncode == -signal.SIGABRT, (n, s, mode, r.returncode, r.stderr)
            assert REPORT.fullmatch(r.stderr), (n, s, mode, r.stderr)
            if n.startswith(("double-free", "invalid-free-stack")):
                addr = r.stdout.splitlines()[-1]
                assert f" {addr}" in r.stderr, (n, s, mode, r.stdout, r.stderr)


if __name__ == "__main__":
    from conftest import build_dir
    print(table(*run_all(build_dir())))
