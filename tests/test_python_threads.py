"""Thread safety of poolalloc: the raw domain called without the GIL from
many threads (pthreads racing, blocks freed by other threads), mode switches
while they race, Python threads, and sub-interpreters."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "python"))
from pyproc import require_installed, run_json  # noqa: E402


@pytest.fixture(autouse=True)
def _installed():
    require_installed()


@pytest.mark.parametrize("domains", ["raw,mem,obj", "raw"])
def test_raw_domain_without_gil_racing_threads(domains):
    """8 pthreads without the GIL: PyMem_RawMalloc/Calloc/Realloc/Free with
    contents checked, blocks passed between threads and freed there."""
    out = run_json(f"""
        import json, poolalloc
        from poolalloc import _poolalloc as c
        import _pooltest as pt
        base = pt._raw_stress(2, 2000)       # before install: all foreign
        poolalloc.install({domains!r})
        s0 = poolalloc.stats()
        r = pt._raw_stress(8, 60000, 7)
        s1 = poolalloc.stats()
        print(json.dumps({{"base": base, "r": r, "d_allocs": s1["allocs"] - s0["allocs"],
                          "d_frees": s1["frees"] - s0["frees"], "live0": s0["live_bytes"],
                          "live1": s1["live_bytes"]}}))
    """)
    base, r = out["base"], out["r"]
    assert base["errors"] == 0 and base["owned"] == 0 and base["allocs"] == base["frees"]
    assert r["threads"] == 8 and r["errors"] == 0
    assert r["allocs"] == r["frees"] and r["allocs"] > 8 * 60000 // 4
    assert r["owned"] == r["allocs"]            # every raw block came from the pool
    assert r["cross_frees"] > 1000              # freed by a thread that did not make it
    assert r["reallocs"] > 8 * 60000 // 8
    # The pool counted them (realloc across classes adds an alloc and a free).
    assert out["d_allocs"] >= r["allocs"] and out["d_frees"] >= r["frees"]
    assert abs(out["live1"] - out["live0"]) < 4 << 20


def test_mode_switches_while_threads_race():
    """install()/uninstall() flipping while raw-domain threads race: blocks
    made in one mode are freed and reallocated in the other."""
    out = run_json("""
        import json, threading, poolalloc
        from poolalloc import _poolalloc as c
        import _pooltest as pt
        poolalloc.install()
        result = {}
        t = threading.Thread(target=lambda: result.update(pt._raw_stress(6, 150000, 3)))
        t.start()
        flips = 0
        while t.is_alive():
            poolalloc.uninstall(); poolalloc.install(); flips += 1
        t.join()
        print(json.dumps({"r": result, "flips": flips, "installed": poolalloc.is_installed()}))
    """)
    r = out["r"]
    assert r["errors"] == 0 and r["allocs"] == r["frees"] and r["cross_frees"] > 1000
    assert out["flips"] > 10 and out["installed"]
    assert 0 < r["owned"] <= r["allocs"]


def test_python_threads_and_raw_threads_together():
    """Python threads (mem/obj under the GIL) and GIL-free raw threads at once."""
    out = run_json("""
        import json, threading, poolalloc
        from poolalloc import _poolalloc as c
        import _pooltest as pt
        poolalloc.install()
        errors, raw = [], {}
        def py_worker(k):
            try:
                for rnd in range(20):
                    d = {i: (str(i) * (i % 9), [k] * (i % 5)) for i in range(3000)}
                    assert all(d[i][0] == str(i) * (i % 9) for i in range(3000))
            except Exception as e:
                errors.append(repr(e))
        ts = [threading.Thread(target=py_worker, args=(k,)) for k in range(4)]
        ts.append(threading.Thread(target=lambda: raw.update(pt._raw_stress(4, 40000, 11))))
        for t in ts: t.start()
        for t in ts: t.join()
        print(json.dumps({"errors": errors, "raw": raw, "heaps": poolalloc.stats()["heaps"]}))
    """)
    assert out["errors"] == []
    assert out["raw"]["errors"] == 0 and out["raw"]["owned"] == out["raw"]["allocs"] > 0


def test_subinterpreters():
    """Sub-interpreters import the module and allocate from the pool; on
    3.12+ they have their own GIL and run at the same time."""
    out = run_json("""
        import json, sys, threading, poolalloc
        try:
            import _interpreters as interp          # 3.13+
        except ImportError:
            import _xxsubinterpreters as interp     # 3.9-3.12
        poolalloc.install()
        code = '''if 1:
            import poolalloc
            from poolalloc import _poolalloc as c
            objs = [bytes([i % 256]) * 200 for i in range(20000)]
            assert all(c._is_block(id(o)) for o in objs), "sub-interpreter object not from the pool"
            assert poolalloc.is_installed()
            del objs
        '''
        def create():
            if sys.version_info >= (3, 12) and hasattr(interp, "new_config"):
                return interp.create(interp.new_config("isolated"))   # own GIL
            if sys.version_info >= (3, 12):
                return interp.create(isolated=True)                   # own GIL
            return interp.create()
        ids = [create() for _ in range(3)]
        errors = []
        def run(i):
            try:
                for _ in range(3):
                    res = interp.run_string(i, code)
                    if res is not None:
                        errors.append(repr(res))
            except Exception as e:
                errors.append(repr(e))
        ts = [threading.Thread(target=run, args=(i,)) for i in ids]
        for t in ts: t.start()
        for t in ts: t.join()
        for i in ids: interp.destroy(i)
        print(json.dumps({"errors": errors, "installed": poolalloc.is_installed(), "n": len(ids)}))
    """)
    assert out == {"errors": [], "installed": True, "n": 3}
