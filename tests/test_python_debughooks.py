"""CPython's debug hooks keep working under poolalloc: with PYTHONMALLOC=debug,
pymalloc_debug, malloc_debug or -X dev, poolalloc (POOLALLOC=1 at start-up,
or install()) goes beneath the hooks, so a write past a PyMem_Malloc block
and a block freed through the wrong API still abort with CPython's report,
while the blocks come from libpool.  Without the hooks nothing sits between
the caller and the pool."""
import json
import os
import re
import signal
import sys

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "python"))
from pyproc import require_installed, run_json, run_py  # noqa: E402

MODES = {   # the ways to turn the debug hooks on: (environment, interpreter flags)
    "debug": ({"PYTHONMALLOC": "debug"}, ()),
    "pymalloc_debug": ({"PYTHONMALLOC": "pymalloc_debug"}, ()),
    "malloc_debug": ({"PYTHONMALLOC": "malloc_debug"}, ()),
    "dev": ({}, ("-X", "dev")),
}
STARTS = {  # how poolalloc is installed: (environment, code run first)
    "POOLALLOC=1": ({"POOLALLOC": "1"}, ""),
    "install()": ({}, "poolalloc.install()"),
}
# Imports, the start, then the facts the test checks before the misuse:
# HEADER is the debug hooks' header in front of each block (two size_t).
PROLOGUE = """
import ctypes, json, struct, sys, _testcapi, poolalloc
from poolalloc import _poolalloc as c
import _pooltest as pt
{start}
HEADER = 2 * struct.calcsize("N")
p = pt._alloc("mem", 16)
print(json.dumps({{"installed": poolalloc.is_installed(), "startup": "poolalloc._startup" in sys.modules,
                  "hooks": c._debug_hooks(), "pool": c._is_block(p - HEADER)}}), flush=True)
"""
# Each misuse, done on the block p above (pool) or by _testcapi's own test
# function (a PyMem_Malloc block of its own); the lines CPython reports.
BLOCK_REPORT = r"Debug memory block at address p=0x[0-9a-f]+: API 'm'\n    16 bytes originally requested\n"
MISUSES = {
    "overflow": {
        "pool": "ctypes.memset(p + 16, 0x78, 1)\npt._free('mem', p)",
        "_testcapi": "_testcapi.pymem_buffer_overflow()",
        "report": [BLOCK_REPORT, r"        at tail\+0: 0x78 \*\*\* OUCH\n",
                   r"Fatal Python error: _PyMem_DebugRawFree: bad trailing pad byte\n"],
    },
    "api_misuse": {   # PyMem_Malloc, then PyObject_Free (ours) or PyMem_RawFree (_testcapi's)
        "pool": "pt._free('obj', p)",
        "_testcapi": "_testcapi.pymem_api_misuse()",
        "report": [BLOCK_REPORT, r"Fatal Python error: _PyMem_DebugRawFree: bad ID: "
                                 r"Allocated using API 'm', verified using API '[or]'\n"],
    },
}


@pytest.fixture(autouse=True)
def _installed():
    require_installed()


def run_misuse(mode, start, misuse, source):
    env, flags = MODES[mode]
    start_env, start_code = STARTS[start]
    code = PROLOGUE.format(start=start_code) + MISUSES[misuse][source] + "\nprint('not caught', flush=True)\n"
    r = run_py(code, env={**env, **start_env}, flags=flags, check=False)
    lines = r.stdout.splitlines()
    assert r.returncode == -signal.SIGABRT and lines and "not caught" not in lines, (r.returncode, r.stdout, r.stderr)
    return r, json.loads(lines[0])


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("misuse", sorted(MISUSES))
@pytest.mark.parametrize("start", sorted(STARTS))
def test_misuse_of_a_pool_block_is_caught(mode, misuse, start):
    """A PyMem_Malloc block from libpool, written one byte past its end or
    freed with PyObject_Free: the debug hooks above the pool abort."""
    r, facts = run_misuse(mode, start, misuse, "pool")
    assert facts == {"installed": True, "startup": start == "POOLALLOC=1", "hooks": True, "pool": True}
    if misuse == "api_misuse":
        assert "verified using API 'o'" in r.stderr
    for line in MISUSES[misuse]["report"]:
        assert re.search(line, r.stderr), (line, r.stderr)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("misuse", sorted(MISUSES))
def test_testcapi_misuse_is_caught_with_poolalloc_at_startup(mode, misuse):
    """_testcapi.pymem_buffer_overflow() and pymem_api_misuse(), the checks of
    test_capi's PyMem*DebugTests, with POOLALLOC=1."""
    r, facts = run_misuse(mode, "POOLALLOC=1", misuse, "_testcapi")
    assert facts == {"installed": True, "startup": True, "hooks": True, "pool": True}
    for line in MISUSES[misuse]["report"]:
        assert re.search(line, r.stderr), (line, r.stderr)


# Blocks and objects of every domain, made and freed with the pool's stats
# read around them; HEADER and EXTRA are what the hooks add to each block.
STATS_CODE = """
import json, struct, sys, poolalloc
from poolalloc import _poolalloc as c
import _pooltest as pt
hooks = c._debug_hooks()
N = struct.calcsize("N")
HEADER, EXTRA = (2 * N, 3 * N) if hooks else (0, 0)
want = 100 + EXTRA
cls = min(i for i, k in enumerate(poolalloc.stats()["classes"]) if k["size"] >= want)
s0 = poolalloc.stats()
blocks = {d: [pt._alloc(d, 100) for _ in range(1000)] for d in ("raw", "mem", "obj")}   # no tuples: they are kept
objs = [bytearray(b"x" * 2000) for _ in range(1000)]   # the object, and its buffer from the mem domain
s1 = poolalloc.stats()
pool = all(c._is_block(a - HEADER) for d in blocks for a in blocks[d])
pool = pool and all(c._is_block(id(o) - HEADER) for o in objs)
for d in blocks:
    for a in blocks[d]:
        pt._free(d, a)
del objs, blocks
s2 = poolalloc.stats()
print(json.dumps({"hooks": hooks, "pool": pool, "want": want, "cls_size": s0["classes"][cls]["size"],
                  "d_allocs": s1["allocs"] - s0["allocs"], "d_live": s1["live_bytes"] - s0["live_bytes"],
                  "d_cls_live": s1["classes"][cls]["live_blocks"] - s0["classes"][cls]["live_blocks"],
                  "d_frees": s2["frees"] - s1["frees"], "left": s2["live_bytes"] - s0["live_bytes"],
                  "dev_mode": sys.flags.dev_mode}))
"""


@pytest.mark.parametrize("mode", ["plain", *sorted(MODES)])
def test_blocks_come_from_libpool_and_stats_count_them(mode):
    """With the hooks on, every block still comes from libpool, with the
    hooks' pad bytes in it, and stats() counts each one; with plain
    POOLALLOC=1 the caller gets the pool block itself (no hook between)."""
    env, flags = MODES.get(mode, ({}, ()))
    out = run_json(STATS_CODE, env={**env, "POOLALLOC": "1"}, flags=flags)
    assert out["hooks"] is (mode != "plain") and out["pool"] is True
    assert out["dev_mode"] is (mode == "dev")
    assert out["want"] == (124 if mode != "plain" else 100)     # 3 size_t of pad bytes on 64-bit
    assert out["d_allocs"] >= 4000
    assert out["d_cls_live"] >= 3000                             # the 100-byte blocks, in the class that fits them
    assert out["d_live"] >= 3000 * out["cls_size"] + 1000 * 2000
    assert out["d_frees"] >= 4000 and abs(out["left"]) < 64 << 10


def test_plain_poolalloc_lets_cross_domain_frees_through():
    """Without the hooks nothing checks the API: a PyMem_Malloc block freed
    with PyObject_Free goes back to the pool, as it always did."""
    out = run_json("""
        import json, poolalloc
        from poolalloc import _poolalloc as c
        import _pooltest as pt
        p = pt._alloc("mem", 100000)       # a size class nothing else here uses
        live = lambda: sum(k["live_blocks"] for k in poolalloc.stats()["classes"] if k["size"] >= 100000)
        before = live()
        pt._free("obj", p)
        print(json.dumps({"hooks": c._debug_hooks(), "pool": c._is_block(p), "freed": before - live()}))
    """, env={"POOLALLOC": "1"})
    assert out == {"hooks": False, "pool": True, "freed": 1}


def test_uninstall_keeps_the_hooks_on_top():
    """After uninstall() new blocks come from the allocator beneath the hooks
    again, still checked; pool blocks made before are freed by the pool."""
    r = run_py("""
        import struct, poolalloc
        from poolalloc import _poolalloc as c
        import _pooltest as pt
        HEADER = 2 * struct.calcsize("N")
        poolalloc.install()
        a = pt._alloc("mem", 40)
        poolalloc.uninstall()
        f0 = poolalloc.stats()["frees"]
        pt._free("mem", a)
        b = pt._alloc("mem", 16)
        print(c._is_block(a - HEADER), poolalloc.stats()["frees"] - f0, c._is_block(b - HEADER), flush=True)
        pt._free("obj", b)
        print("not caught", flush=True)
    """, env={"PYTHONMALLOC": "debug"}, check=False)
    assert r.returncode == -signal.SIGABRT and r.stdout == "True 1 False\n", (r.stdout, r.stderr)
    assert ("Fatal Python error: _PyMem_DebugRawFree: bad ID: Allocated using API 'm', verified using API 'o'"
            in r.stderr), r.stderr


def test_tracemalloc_on_top_of_the_hooks():
    """PYTHONTRACEMALLOC with the hooks: install() goes beneath the hooks, and
    the hooks' report on a pool block shows where tracemalloc saw it made."""
    r = run_py("""
        import ctypes, struct, tracemalloc, poolalloc
        from poolalloc import _poolalloc as c
        import _pooltest as pt
        poolalloc.install()
        p = pt._alloc("mem", 16)
        print(c._debug_hooks(), tracemalloc.is_tracing(), c._is_block(p - 2 * struct.calcsize("N")), flush=True)
        ctypes.memset(p + 16, 0x78, 1)
        pt._free("mem", p)
        print("not caught", flush=True)
    """, env={"PYTHONMALLOC": "debug", "PYTHONTRACEMALLOC": "5"}, check=False)
    assert r.returncode == -signal.SIGABRT and r.stdout == "True True True\n", (r.stdout, r.stderr)
    assert "Memory block allocated at (most recent call first):" in r.stderr
    assert "Fatal Python error: _PyMem_DebugRawFree: bad trailing pad byte" in r.stderr


def test_another_hook_above_the_debug_hooks_is_wrapped_with_a_warning():
    """_testcapi.set_nomemory() hooks every domain above the debug hooks; its
    ctx is not theirs, so poolalloc wraps it (as it wraps any allocator) and
    warns that the debug hooks will not check pool blocks."""
    out = run_json("""
        import json, warnings, _testcapi, poolalloc
        from poolalloc import _poolalloc as c
        _testcapi.set_nomemory(10 ** 9)          # fail only from the billionth allocation
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            installed = poolalloc.install()
        keep = [bytes(100) for _ in range(1000)]
        print(json.dumps({"installed": installed, "hooks": c._debug_hooks(), "warnings": [str(x.message) for x in w],
                          "pool": all(c._is_block(id(b)) for b in keep)}))
    """, env={"PYTHONMALLOC": "debug"})
    assert out["installed"] and not out["hooks"] and out["pool"]
    assert len(out["warnings"]) == 1 and out["warnings"][0].startswith(
        "poolalloc: CPython's debug hooks are on (PYTHONMALLOC or -X dev) but another allocator hook sits on top "
        "of them; poolalloc wraps that one, so the debug hooks do not check blocks from libpool"), out


@pytest.mark.parametrize("mode", ["plain", "debug", "dev"])
def test_no_warning_when_beneath_the_hooks_or_without_them(mode):
    env, flags = MODES.get(mode, ({}, ()))
    r = run_py("import poolalloc; assert poolalloc.install()", env=env, flags=(*flags, "-W", "error"))
    assert r.stderr == ""
