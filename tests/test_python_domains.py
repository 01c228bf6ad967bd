"""Tests of poolalloc's wrapping of CPython's allocator domains: blocks made
before install(), foreign realloc, cross-domain frees, domain selection,
under pymalloc, PYTHONMALLOC=malloc / debug / pymalloc_debug / malloc_debug
and -X dev; tracemalloc before and after install()."""
import os
import sys

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "python"))
from pyproc import require_installed, run_json, run_py  # noqa: E402

SCENARIO = os.path.join(HERE, "python", "scenario_domains.py")
MODES = {
    "pymalloc": ({}, ()),
    "malloc": ({"PYTHONMALLOC": "malloc"}, ()),
    "debug": ({"PYTHONMALLOC": "debug"}, ()),
    "pymalloc_debug": ({"PYTHONMALLOC": "pymalloc_debug"}, ()),
    "malloc_debug": ({"PYTHONMALLOC": "malloc_debug"}, ()),
    "dev": ({}, ("-X", "dev")),
}
HOOKED = {"debug", "pymalloc_debug", "malloc_debug", "dev"}   # CPython's debug hooks are on


def expected_cross(mode, alloc_domains):
    """The (alloc>free) domain pairs the scenario frees pool blocks through:
    all of them, but only the matching ones under the debug hooks, which
    stay on top of the pool and stop any cross-domain free."""
    return {f"{a}>{f}": 3 for a in alloc_domains for f in ("raw", "mem", "obj")
            if a == f or mode not in HOOKED}


@pytest.fixture(autouse=True)
def _installed():
    require_installed()


def scenario(mode, domains):
    env, flags = MODES[mode]
    code = f"import runpy, sys; sys.argv = [{SCENARIO!r}, {domains!r}]; runpy.run_path({SCENARIO!r}, run_name='__main__')"
    return run_json(code, env=env, flags=flags)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_default_domains_under_each_allocator(mode):
    out = scenario(mode, "raw,mem,obj")
    assert out["installed"] is True and out["domains"] == ["raw", "mem", "obj"]
    assert out["debug_hooks"] is (mode in HOOKED)
    assert out["object_in_pool"] is True
    # 3000 bytes objects made before install were handed back (exactly those,
    # plus what the interpreter freed meanwhile).
    assert out["foreign_frees"] >= 3000
    if mode == "pymalloc":
        assert out["pymalloc_blocks_dropped"] >= 3000  # they reached pymalloc
    # Every pool block went through every domain's free and realloc (its
    # own only under the debug hooks).
    assert out["cross"] == expected_cross(mode, ("raw", "mem", "obj"))


@pytest.mark.parametrize("mode", ["pymalloc", "debug", "malloc"])
@pytest.mark.parametrize("domains", ["raw", "mem", "obj", "raw,mem", "mem,obj"])
def test_domain_selection(mode, domains):
    """Only the chosen domains serve new blocks; the others still hand pool
    blocks to the pool (the cross-domain frees of pool blocks work)."""
    out = scenario(mode, domains)
    chosen = domains.split(",")
    assert out["domains"] == [d for d in ("raw", "mem", "obj") if d in chosen]
    assert out["object_in_pool"] is ("obj" in chosen)
    assert expected_cross(mode, chosen).items() <= out["cross"].items()
    if "obj" in chosen:
        assert out["foreign_frees"] >= 3000
    else:
        assert out["foreign_frees"] < 3000


def test_tracemalloc_started_after_install():
    """tracemalloc wraps poolalloc: it sees pool blocks, and stopping it
    leaves poolalloc installed."""
    out = run_json("""
        import json, tracemalloc, poolalloc
        from poolalloc import _poolalloc as c
        poolalloc.install()
        tracemalloc.start(3)
        keep = [bytes(1000) for _ in range(10000)]
        cur, peak = tracemalloc.get_traced_memory()
        snap = tracemalloc.take_snapshot()
        top = snap.statistics("lineno")[0]
        r = {"cur": cur, "peak": peak, "top_size": top.size, "top_count": top.count,
             "top_file": top.traceback[0].filename.endswith("<string>"),
             "pool": all(c._is_block(id(b)) for b in keep),
             "live": poolalloc.stats()["live_bytes"]}
        tracemalloc.stop()
        r["after_stop_installed"] = poolalloc.is_installed()
        r["after_stop_pool"] = c._is_block(id(bytes(range(60))))
        r["contents"] = all(b == bytes(1000) for b in keep)
        del keep
        r["after_free"] = poolalloc.stats()["live_bytes"]
        print(json.dumps(r))
    """)
    assert out["cur"] >= 10000 * 1033 and out["peak"] >= out["cur"]
    assert out["top_size"] >= 10000 * 1033 and out["top_count"] >= 10000 and out["top_file"]
    assert out["pool"] and out["live"] >= 10000 * 1033
    assert out["after_stop_installed"] and out["after_stop_pool"] and out["contents"]
    assert out["after_free"] <= out["live"] - 10000 * 1033


def test_tracemalloc_tracing_before_install():
    """PYTHONTRACEMALLOC=1: install() restarts tracemalloc above the pool,
    so tracemalloc.stop() cannot unhook poolalloc."""
    out = run_json("""
        import json, tracemalloc, poolalloc
        from poolalloc import _poolalloc as c
        before = [bytes(500) for _ in range(2000)]
        r = {"tracing_before": tracemalloc.is_tracing(), "frames": tracemalloc.get_traceback_limit()}
        poolalloc.install()
        r["tracing_after"] = tracemalloc.is_tracing()
        r["frames_after"] = tracemalloc.get_traceback_limit()
        keep = [bytes(500) for _ in range(4000)]
        r["traced"] = tracemalloc.get_traced_memory()[0]
        r["pool"] = all(c._is_block(id(b)) for b in keep)
        tracemalloc.stop()
        r["installed_after_stop"] = poolalloc.is_installed()
        r["pool_after_stop"] = c._is_block(id(bytes(range(70))))
        del before, keep
        r["foreign_frees"] = poolalloc.stats()["foreign_frees"]
        print(json.dumps(r))
    """, env={"PYTHONTRACEMALLOC": "5"})
    assert out["tracing_before"] and out["tracing_after"] and out["frames"] == out["frames_after"] == 5
    assert out["traced"] >= 4000 * 533 and out["pool"]
    assert out["installed_after_stop"] and out["pool_after_stop"] and out["foreign_frees"] >= 2000


def test_debug_hooks_still_check_blocks_made_before_install():
    """Under PYTHONMALLOC=debug the debug hooks keep guarding the blocks they
    made: a buffer overflow on one is still reported at free."""
    r = run_py("""
        import ctypes, poolalloc
        from poolalloc import _poolalloc as c
        import _pooltest as pt
        a = pt._alloc("mem", 32)
        poolalloc.install()
        ctypes.memset(a + 32, 0x41, 1)   # one byte past the end
        print("freeing", flush=True)
        pt._free("mem", a)
        print("not detected")
    """, env={"PYTHONMALLOC": "debug"}, check=False)
    assert r.returncode != 0 and "freeing" in r.stdout and "not detected" not in r.stdout
    assert "bad trailing pad byte" in r.stderr
