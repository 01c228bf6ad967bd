"""Shared fixtures: one CMake build of every native artifact per test session."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
# tests/python holds pyproc (clean_env, run_py), which every test module may use.
sys.path.insert(0, str(ROOT / "tests" / "python"))


def build_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("POOL_BUILD_DIR", ROOT / "build"))


def cmake_build(bdir: pathlib.Path, *defs: str) -> pathlib.Path:
    """Configure (once) and build `bdir`; raise with the tool's output on failure."""
    bdir.mkdir(parents=True, exist_ok=True)
    steps = []
    if not (bdir / "CMakeCache.txt").exists() or defs:
        steps.append(["cmake", "-S", str(ROOT), "-B", str(bdir), *defs])
    steps.append(["cmake", "--build", str(bdir), "-j", str(os.cpu_count() or 2)])
    for cmd in steps:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout[-6000:]}")
    return bdir


def pytest_addoption(parser):
    parser.addoption("--soak-runs", type=int, default=40,
                     help="consecutive runs of the cross-thread stress patterns in test_xthread_soak "
                          "(default 40, about half a minute; 1000 for a soak of minutes)")


@pytest.fixture(scope="session")
def soak_runs(request) -> int:
    n = request.config.getoption("--soak-runs")
    if n < 1:
        raise pytest.UsageError("--soak-runs must be at least 1")
    return n


@pytest.fixture(scope="session")
def native_build() -> pathlib.Path:
    return cmake_build(build_dir())


@pytest.fixture(scope="session")
def preload(native_build) -> str:
    """libpoolmalloc.so of the native build, for LD_PRELOAD."""
    lib = native_build / "bindings" / "preload" / "libpoolmalloc.so"
    assert lib.is_file(), lib
    return str(lib)
