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
# Test modules import run_face from here.
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
def peer_libs():
    """{peer: library path} of the installed peers (mimalloc 2 and 3,
    jemalloc), for LD_PRELOAD or dlopen; missing ones are noted in the
    summary."""
    from poolalloc.bench.peers import peer_libs
    libs, notes = peer_libs()
    for n in notes:
        _RECORDS.append(("note", n))
    return libs


@pytest.fixture(scope="session")
def bench_ctx(native_build, bench_quick):
    """poolalloc.bench's Context on the session's CMake build, every peer:
    the faces of `python -m poolalloc bench` run from here as from the CLI."""
    import argparse
    from poolalloc.bench.harness import Context
    from poolalloc.bench.peers import PEERS
    ns = argparse.Namespace(quick=bench_quick, smoke=False, rounds=None, peers=list(PEERS), source=str(ROOT),
                            build_dir=str(native_build))
    return Context(ns, log=lambda *a: None)


def face_text(ctx, name, result):
    """One face's results as the bench CLI prints them (for bench_record)."""
    from poolalloc.bench.harness import machine
    from poolalloc.bench.report import render
    return render({"machine": machine(), "date": "", "quick": ctx.quick, "faces": {name: result}})


def run_face(face, ctx):
    """Prepare and run one face of poolalloc.bench; its results."""
    why = face.prepare(ctx)
    assert why == "", why
    return face.run(ctx, lambda: None)


@pytest.fixture(scope="session", autouse=True)
def peer_paths_for_native_programs():
    """bench_pairs dlopens its peers itself: tell it where the harness found
    them (mimalloc 3 has no system path), unless the caller already did."""
    from poolalloc.bench.peers import peer_env, peer_libs
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
