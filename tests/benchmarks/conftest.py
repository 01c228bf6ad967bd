"""Shared fixtures of the benchmark suite (tests/benchmarks, run with
`python -m pytest tests/benchmarks`; left out of the default run by
pytest.ini's norecursedirs).

Benchmarks here never assert a timed speed target: the machine is shared
and noisy.  Each one runs the allocators it compares in one run,
interleaved, and records medians, ratios and peak RSS with `bench_record`;
they are printed at the end of the session (and kept in pytest-benchmark's
extra_info when a test uses the `benchmark` fixture).  Instruction counts
(callgrind) are repeatable, so those may be asserted.

Options: --bench-quick (fewer rounds, smaller workloads).
Environment: POOL_BENCH_MIMALLOC / POOL_BENCH_MIMALLOC3 / POOL_BENCH_JEMALLOC
override the peers' library paths (a missing one is skipped with a note).
"""
import os
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# The runner modules of this directory (stress_suite.py, ...) import as
# top-level modules.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

_RECORDS = []


def pytest_addoption(parser):
    parser.addoption("--bench-quick", action="store_true", default=False,
                     help="benchmarks: fewer rounds and smaller workloads")


@pytest.fixture(scope="session")
def bench_quick(request):
    """Whether --bench-quick was given."""
    return request.config.getoption("--bench-quick")


@pytest.fixture(scope="session")
def bench():
    """poolalloc._bench: the runner behind `python -m poolalloc bench`
    (Case, run_cases, face_result, table, peer_libs)."""
    from poolalloc import _bench
    return _bench


@pytest.fixture(scope="session")
def peer_libs(bench):
    """{peer: library path} of the installed peers (mimalloc, jemalloc),
    for LD_PRELOAD or dlopen; missing ones are noted in the summary."""
    libs, notes = bench.peer_libs(bench.PEERS)
    for n in notes:
        _RECORDS.append(("note", n))
    return libs


@pytest.fixture(scope="session", autouse=True)
def peer_paths_for_native_programs():
    """bench_pairs dlopens its peers itself: tell it where the harness found
    them (mimalloc 3 has no system path), unless the caller already did."""
    from poolalloc._peers import peer_env, peer_libs
    for var, path in peer_env(peer_libs()[0]).items():
        os.environ.setdefault(var, path)


@pytest.fixture(scope="session")
def bench_pairs_exe(native_build):
    """The C pair benchmark program of the CMake build."""
    exe = native_build / "tests" / "benchmarks" / "c" / "bench_pairs"
    assert exe.is_file(), f"{exe} was not built"
    return exe


@pytest.fixture(scope="session")
def bench_record():
    """record(title, text): a table to print in the session summary."""
    def record(title, text):
        _RECORDS.append((title, text))
    return record


def pytest_terminal_summary(terminalreporter):
    if not _RECORDS:
        return
    terminalreporter.section("poolalloc benchmarks")
    for title, text in _RECORDS:
        terminalreporter.write_line(f"{title}: {text}" if title == "note" else f"\n{title}\n{text}")


def pytest_report_header(config):
    return f"poolalloc benchmarks: cpus={os.cpu_count()}, quick={config.getoption('--bench-quick')}"
