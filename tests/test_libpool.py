"""libpool's C test suite (ctest), in the normal build and under the sanitizers."""
import os
import subprocess

import pytest

from conftest import ROOT, cmake_build

C_TESTS = ["test_api", "test_heap", "test_model", "test_threads", "test_xthread", "test_steady", "test_trim", "test_fork",
           "test_faults", "test_badinput", "test_leaks", "test_posix", "test_sized"]


def run(cmd, env=None, timeout=900):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=timeout)
    return r.returncode, r.stdout


@pytest.mark.parametrize("name", C_TESTS)
def test_c(native_build, name):
    code, out = run([str(native_build / "tests" / "c" / name)])
    assert code == 0, out
    assert ": ok" in out or out.count(" ok:") >= 10, out


def test_ctest_runs_everything(native_build):
    """ctest knows every C test, so `ctest --test-dir build` is the whole C suite."""
    code, out = run(["ctest", "--test-dir", str(native_build), "-N"])
    assert code == 0, out
    for name in C_TESTS:
        assert f" {name}\n" in out, out


def sanitizer_build(kind):
    bdir = ROOT / f"build-{kind.replace(',', '-')}"
    return cmake_build(bdir, f"-DPOOL_SANITIZE={kind}", "-DCMAKE_BUILD_TYPE=Debug", "-DPOOL_BUILD_BENCH=OFF")


def test_asan_ubsan():
    """The whole C suite under AddressSanitizer + UndefinedBehaviorSanitizer."""
    bdir = sanitizer_build("address,undefined")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="halt_on_error=1")
    # test_fork is left out: ASan's own allocator is not fork-safe under
    # threads (a forked child hung in its SizeClassAllocator64 mutex, taken by
    # a thread's exit in the child, in 1 of 9 runs; libpool's frames were not
    # on the stack).  The normal build runs test_fork.
    code, out = run(["ctest", "--test-dir", str(bdir), "--output-on-failure", "-j2",
                     "-R", "^test_(api|heap|model|threads|xthread|steady|trim|faults|badinput|leaks|posix|sized)$"],
                    env=env, timeout=1800)
    assert code == 0, out[-6000:]
    assert "100% tests passed" in out, out[-3000:]


def test_tsan_threads():
    """The thread stresses, heaps and the API under ThreadSanitizer."""
    bdir = sanitizer_build("thread")
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1")
    for name in ("test_threads", "test_xthread", "test_heap", "test_api"):
        # The thread stresses do a fraction of their normal work: TSan costs ~20x.
        args = {"test_threads": ["15000"], "test_xthread": ["--scale", "0.04"]}.get(name, [])
        code, out = run([str(bdir / "tests" / "c" / name), *args], env=env, timeout=1800)
        assert code == 0, out[-6000:]
        assert "WARNING: ThreadSanitizer" not in out, out[-6000:]


def test_xthread_soak(native_build, soak_runs):
    """Consecutive runs of the two-thread cross-free pattern that livelocked
    (issue 13) and of the 8-thread mixed one with thread turnover.  The
    program's watchdog fails a run stuck for 10 s and names where; pytest
    --soak-runs N sets the runs (CI: the default; minutes: 1000)."""
    prog = str(native_build / "tests" / "c" / "test_xthread")
    pair = [prog, "--threads", "2", "--loops", "500", "--set", "1000", "--runs", str(soak_runs), "--check", "50"]
    mixed = [prog, "--threads", "8", "--loops", "120", "--set", "300", "--turnover", "20", "--sizes", "mixed",
             "--runs", str(max(1, soak_runs // 10)), "--check", "20"]
    for cmd in (pair, mixed):
        code, out = run(cmd, timeout=3600)
        assert code == 0, out[-6000:]
        assert "STUCK" not in out and out.rstrip().endswith("test_xthread: ok"), out[-3000:]
