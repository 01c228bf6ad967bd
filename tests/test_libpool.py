"""libpool's C test suite (ctest), in the normal build and under the sanitizers."""
import os
import subprocess

import pytest

from conftest import ROOT, cmake_build

C_TESTS = ["test_api", "test_heap", "test_model", "test_threads", "test_trim", "test_fork", "test_faults", "test_badinput", "test_leaks"]


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
    code, out = run(["ctest", "--test-dir", str(bdir), "--output-on-failure", "-j2",
                     "-R", "^test_(api|heap|model|threads|trim|fork|faults|badinput|leaks)$"], env=env, timeout=1800)
    assert code == 0, out[-6000:]
    assert "100% tests passed" in out, out[-3000:]


def test_tsan_threads():
    """The multi-thread stress and the fork test under ThreadSanitizer."""
    bdir = sanitizer_build("thread")
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1")
    for name in ("test_threads", "test_heap", "test_api"):
        # test_threads does a quarter of its normal work: TSan costs ~20x.
        args = ["15000"] if name == "test_threads" else []
        code, out = run([str(bdir / "tests" / "c" / name), *args], env=env, timeout=1800)
        assert code == 0, out[-6000:]
        assert "WARNING: ThreadSanitizer" not in out, out[-6000:]
