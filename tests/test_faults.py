"""Fault reports through the bindings: LD_PRELOAD=libpoolmalloc.so (default
and POOL_DEBUG=1) and CPython's PyMem API with poolalloc installed.  Each
misuse aborts (SIGABRT) with exactly one line naming the fault, the address
the program printed and the block size.  Also: the bad-input C test in debug
mode, and the POOL_STATS=1 leak report at exit."""
import re
import signal
import subprocess
import sys
import textwrap

import pytest
from pyproc import clean_env


def run(cmd, env_extra=None, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(env_extra),
                          timeout=120, **kw)


def check_abort(r, line_fmt):
    """The process printed an address, then died of SIGABRT after writing
    exactly line_fmt % address (one line) to stderr."""
    addr = r.stdout.splitlines()[0] if r.stdout else ""
    assert re.fullmatch(r"0x[0-9a-f]+", addr), (r.stdout, r.stderr)
    assert r.returncode == -signal.SIGABRT, (r.returncode, r.stdout, r.stderr)
    assert r.stderr == line_fmt % addr + "\n", r.stderr
    assert "not detected" not in r.stdout


# (case, debug, expected line with %s for the address)
PRELOAD_CASES = [
    ("double-free", False, "poolalloc: double free of %s (48-byte block)"),
    ("double-free", True, "poolalloc: double free of %s (64-byte block)"),
    ("interior", False, "poolalloc: free of an interior pointer %s (64-byte block)"),
    ("interior", True, "poolalloc: free of an interior pointer %s (80-byte block)"),
    ("overflow", True, "poolalloc: heap buffer overflow past %s (30-byte block)"),
    ("realloc-overflow", True, "poolalloc: heap buffer overflow past %s (50-byte block)"),
    ("write-after-free", True, "poolalloc: write after free to %s (128-byte block)"),
]


@pytest.mark.parametrize("case, debug, line", PRELOAD_CASES,
                         ids=[f"{c}-{'debug' if d else 'default'}" for c, d, _ in PRELOAD_CASES])
def test_preload_faults(native_build, preload, case, debug, line):
    env = {"LD_PRELOAD": preload}
    if debug:
        env["POOL_DEBUG"] = "1"
    r = run([str(native_build / "tests" / "c" / "prog_libc_faults"), case], env)
    check_abort(r, line)


def test_preload_canary_faults_need_debug_mode(native_build, preload):
    """Without POOL_DEBUG an overflow into the class slack goes unseen (no
    canary): the checks in the default mode are the free-path ones."""
    r = run([str(native_build / "tests" / "c" / "prog_libc_faults"), "overflow"], {"LD_PRELOAD": preload})
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "not detected", (r.stdout, r.stderr)


def test_preload_leak_report_at_exit(native_build, preload):
    """POOL_STATS=1: the report at exit lists the live blocks (the leaks)
    by size class with their counts and bytes; 25 leaked 200-byte blocks
    are in the 224-byte class and the 1 MiB block is a large block."""
    r = run([str(native_build / "tests" / "c" / "prog_libc_faults"), "leak"],
            {"LD_PRELOAD": preload, "POOL_STATS": "1"})
    assert r.returncode == 0 and "leaked" in r.stdout, r.stderr
    assert r.stderr.startswith("poolalloc: POOL_STATS report at exit (live blocks are leaks)\n"), r.stderr
    assert re.search(r"^\s+class\s+size\s+live_blocks\s+free_blocks\s+pages\s+allocs\s+frees\s+bytes$", r.stderr, re.M)
    rows = {int(m.group(2)): (int(m.group(3)), int(m.group(4)))
            for m in re.finditer(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\d+\s+\d+\s+\d+\s+(\d+)$", r.stderr, re.M)}
    assert rows[224][0] >= 25 and rows[224][1] == 224 * rows[224][0], r.stderr
    assert all(b == size * n for size, (n, b) in rows.items()), r.stderr
    m = re.search(r"large_blocks\s+(\d+)\s+large_bytes\s+(\d+)", r.stderr)
    assert int(m.group(1)) == 1 and int(m.group(2)) >= 1 << 20, r.stderr


def test_badinput_in_debug_mode(native_build):
    """The bad-input suite also holds with POOL_DEBUG=1 (canaries change the
    size arithmetic: SIZE_MAX - 15 + canary must not wrap)."""
    r = run([str(native_build / "tests" / "c" / "test_badinput")], {"POOL_DEBUG": "1"})
    assert r.returncode == 0 and "test_badinput: ok" in r.stdout, r.stdout + r.stderr


PY_PRELUDE = """
import ctypes, poolalloc
poolalloc.install()
api = ctypes.pythonapi
api.PyMem_Malloc.restype = ctypes.c_void_p
api.PyMem_Malloc.argtypes = [ctypes.c_size_t]
api.PyMem_Free.argtypes = [ctypes.c_void_p]
api.PyMem_Realloc.restype = ctypes.c_void_p
api.PyMem_Realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
p = api.PyMem_Malloc(40)
print(hex(p), flush=True)
"""

PY_CASES = [
    ("double-free", False, "api.PyMem_Free(p)\napi.PyMem_Free(p)", "poolalloc: double free of %s (48-byte block)"),
    ("double-free", True, "api.PyMem_Free(p)\napi.PyMem_Free(p)", "poolalloc: double free of %s (64-byte block)"),
    ("overflow", True, "ctypes.memset(p, 0x41, 41)\napi.PyMem_Free(p)",
     "poolalloc: heap buffer overflow past %s (40-byte block)"),
    ("realloc-overflow", True, "ctypes.memset(p, 0x41, 48)\napi.PyMem_Realloc(p, 4000)",
     "poolalloc: heap buffer overflow past %s (40-byte block)"),
]


@pytest.mark.parametrize("case, debug, code, line", PY_CASES,
                         ids=[f"{c}-{'debug' if d else 'default'}" for c, d, _, _ in PY_CASES])
def test_python_faults(case, debug, code, line):
    """PyMem_Free twice on a PyMem_Malloc'd block (ctypes, no C extension)."""
    script = PY_PRELUDE + textwrap.dedent(code) + "\nprint('not detected', flush=True)\n"
    r = run([sys.executable, "-c", script], {"POOL_DEBUG": "1"} if debug else {})
    check_abort(r, line)
