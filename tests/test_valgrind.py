"""Valgrind memcheck and ASan see pool blocks as heap blocks: libpool built
with -DPOOL_VALGRIND=ON issues client requests (MALLOCLIKE/FREELIKE, no
access to free blocks), so memcheck reports misuse of pool blocks with the
pool_* stacks, leaks pool blocks as "definitely lost", and a clean program
clean.  Under ASan, free pool blocks are poisoned (ASan has no public way to
mark memory as freed heap, so the report is a use-after-poison)."""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, cmake_build

VALGRIND = shutil.which("valgrind")
pytestmark = pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed (.ci/bootstrap installs it)")


@pytest.fixture(scope="module")
def vg_build():
    return cmake_build(ROOT / "build-valgrind", "-DPOOL_VALGRIND=ON", "-DPOOL_BUILD_BENCH=OFF")


def memcheck(bdir, case, *opts):
    cmd = [VALGRIND, "--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=definite", *opts,
           str(bdir / "tests" / "c" / "prog_pool_tools"), case]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    return r.returncode, r.stdout, re.sub(r"^==\d+== ?", "", r.stderr, flags=re.M)


def source_line(marker):
    """Line number of the first line of prog_pool_tools.c containing marker."""
    lines = (ROOT / "tests" / "c" / "prog_pool_tools.c").read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if marker in text)


def error_count(log):
    m = re.search(r"ERROR SUMMARY: (\d+) errors", log)
    assert m, log
    return int(m.group(1))


@pytest.mark.parametrize("case, kind, stack", [
    ("use-after-free", "Invalid read of size 1",
     r"Address 0x[0-9a-f]+ is 8 bytes inside a block of size 48 free'd\n\s+at 0x[0-9A-F]+: (?:free_fast \(free\.c:\d+\)\n\s+by 0x[0-9A-F]+: )?pool_free \(free\.c"),
    ("write-after-free", "Invalid write of size 1", r"alloc'd\n\s+at 0x[0-9A-F]+: (pa_heap_alloc|pool_malloc) "),
    ("overflow", "Invalid write of size 1",
     r"Address 0x[0-9a-f]+ is 0 bytes after a (recently re-allocated )?block of size 64 alloc'd\n"
     r"\s+at 0x[0-9A-F]+: (pa_heap_alloc|pool_malloc) "),
    ("uninit", "Conditional jump or move depends on uninitialised value(s)", r"main \(prog_pool_tools\.c"),
])
def test_memcheck_reports_misuse_of_pool_blocks(vg_build, case, kind, stack):
    code, out, log = memcheck(vg_build, case)
    assert code == 9, log
    assert kind in log, log
    assert re.search(stack, log), log
    assert error_count(log) == 1, log


def test_memcheck_clean_program_is_clean(vg_build):
    """malloc/calloc/realloc/free of pool blocks: no error, nothing in use."""
    code, out, log = memcheck(vg_build, "clean")
    assert code == 0 and out.startswith("done"), log
    assert error_count(log) == 0, log
    assert "in use at exit: 0 bytes in 0 blocks" in log, log


def test_memcheck_leaked_pool_block_is_definitely_lost(vg_build):
    code, out, log = memcheck(vg_build, "leak")
    assert code == 9, log
    assert error_count(log) == 1, log
    assert re.search(r"112 bytes in 1 blocks are definitely lost in loss record 1 of 1\n"
                     # pool_malloc, after the frame of its inlined fast path (thread_malloc)
                     r"\s+at 0x[0-9A-F]+: (?:thread_malloc \(alloc\.c:\d+\)\n\s+by 0x[0-9A-F]+: )?"
                     r"pool_malloc \(alloc\.c:\d+\)\n\s+by 0x[0-9A-F]+: leak_one", log), log
    assert "definitely lost: 112 bytes in 1 blocks" in log and "still reachable: 0 bytes" in log, log


def test_asan_reports_use_after_free_of_pool_block():
    """The ASan+UBSan build (the one test_libpool's sanitizer run uses):
    a read of a freed pool block and a write past a block into a free one
    are reported at the faulting line; a clean run stays clean."""
    from test_libpool import sanitizer_build
    bdir = pathlib.Path(os.environ["POOL_ASAN_BUILD_DIR"]) if "POOL_ASAN_BUILD_DIR" in os.environ \
        else sanitizer_build("address,undefined")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    prog = str(bdir / "tests" / "c" / "prog_pool_tools")
    for case, access, marker in (("use-after-free", "READ", "Invalid read"), ("overflow", "WRITE", "p[pool_usable_size(p)]")):
        line = source_line(marker)
        r = subprocess.run([prog, case], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
        assert r.returncode != 0 and "done" not in r.stdout, r.stderr
        assert "ERROR: AddressSanitizer: use-after-poison on address" in r.stderr, r.stderr
        assert f"{access} of size 1 at" in r.stderr, r.stderr
        assert re.search(rf"#0 0x[0-9a-f]+ in main .*prog_pool_tools\.c:{line}\b", r.stderr), r.stderr
    r = subprocess.run([prog, "clean"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "AddressSanitizer" not in r.stderr, r.stderr
