"""Tests of the poolalloc Python API: install/uninstall, stats, report, leaks,
page_map, the limit and bad arguments -- each in a fresh interpreter."""
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "python"))
from pyproc import ROOT, require_installed, run_json, run_py, site_pth  # noqa: E402


@pytest.fixture(autouse=True)
def _installed():
    require_installed()


def test_build_layout_and_version():
    """pip install . put the extension (libpool compiled in) and the .pth hook
    in site-packages; the version is libpool's."""
    out = run_json("""
        import json, poolalloc, poolalloc._poolalloc as c
        print(json.dumps({"version": poolalloc.__version__, "so": c.__file__, "gil": c.GIL_DISABLED,
                          "nclasses": c.NCLASSES}))
    """)
    header = (ROOT / "libpool/include/pool.h").read_text()
    assert out["version"] == re.search(r'#define POOL_VERSION "([^"]+)"', header).group(1)
    assert out["nclasses"] == int(re.search(r"#define POOL_NCLASSES (\d+)", header).group(1))
    assert out["gil"] == 0
    assert os.path.basename(out["so"]).startswith("_poolalloc.")
    pth = site_pth().read_text().strip().splitlines()
    assert pth == ['import os; os.environ.get("POOLALLOC") == "1" and __import__("poolalloc._startup")']


def test_install_twice_is_a_noop_and_default_domains():
    out = run_json("""
        import json, poolalloc
        from poolalloc import _poolalloc as c
        r = {"before": poolalloc.is_installed(), "first": poolalloc.install(),
             "domains": poolalloc.installed_domains()}
        r["second"] = poolalloc.install(domains="obj")
        r["domains2"] = poolalloc.installed_domains()
        r["block"] = c._is_block(id(bytes(range(50))))
        print(json.dumps(r))
    """)
    assert out == {"before": False, "first": True, "domains": ["raw", "mem", "obj"], "second": False,
                   "domains2": ["raw", "mem", "obj"], "block": True}


@pytest.mark.parametrize("call, message", [
    ("install(domains='heap')", "unknown domain 'heap': expected some of 'raw', 'mem', 'obj'"),
    ("install(domains=['obj', 'OBJ'])", "unknown domain 'OBJ'"),
    ("install(domains=[])", "no domain given"),
    ("install(domains=',')", "no domain given"),
    ("install(domains=[2])", "a domain must be a str, not int: 2"),
    ("install(domains=5)", "domains must be a str or an iterable of str, not int"),
    ("install(limit=-1)", "limit must be >= 0 bytes (0: no limit), not -1"),
    ("install(limit='10')", "limit must be an int number of bytes or None, not str"),
    ("install(limit=1.5)", "limit must be an int number of bytes or None, not float"),
    ("install(limit=True)", "limit must be an int number of bytes or None, not bool"),
    ("set_limit(-5)", "limit must be >= 0 bytes (0: no limit), not -5"),
    ("_poolalloc._install(0)", "domain mask must be in 1..7, not 0"),
    ("_poolalloc._install(8)", "domain mask must be in 1..7, not 8"),
    ("_poolalloc._set_limit(-1)", "limit must be >= 0, not -1"),
    ("_poolalloc._set_limit(2.0)", "limit must be an int, not float"),
    ("_pooltest._alloc('heap', 8)", "unknown domain 'heap' (expected 'raw', 'mem' or 'obj')"),
    ("_pooltest._raw_stress(0, 10)", "need 1 <= nthreads <= 256 and iters >= 0"),
])
def test_bad_arguments_raise_valueerror(call, message):
    """Bad arguments raise ValueError with a clear message and install nothing."""
    expr = call if call.startswith("_pooltest.") else f"poolalloc.{call}"   # the test-only helpers
    out = run_json(f"""
        import json, poolalloc
        from poolalloc import _poolalloc
        import _pooltest
        try:
            {expr}
            r = {{"raised": None}}
        except ValueError as e:
            r = {{"raised": "ValueError", "message": str(e)}}
        r["installed"] = poolalloc.is_installed()
        r["limit"] = poolalloc.stats()["limit"]
        print(json.dumps(r))
    """)
    assert out["raised"] == "ValueError"
    assert message in out["message"]
    assert out["installed"] is False and out["limit"] == 0


def test_free_threaded_refusal_message():
    """On free-threaded builds (Py_GIL_DISABLED) "obj" is refused and the
    default leaves it out.  This build has the GIL, so the Python-side rule
    is exercised by pretending; the C side refuses the same way (compiled
    only under Py_GIL_DISABLED)."""
    out = run_json("""
        import json, poolalloc
        poolalloc.GIL_DISABLED = True
        try:
            poolalloc.install(domains=("raw", "obj"))
            msg = None
        except ValueError as e:
            msg = str(e)
        print(json.dumps({"msg": msg, "installed": poolalloc.is_installed(),
                          "ok": poolalloc.install(domains=("raw", "mem")), "domains": poolalloc.installed_domains()}))
    """)
    assert "cannot serve the 'obj' domain on a free-threaded build (Py_GIL_DISABLED)" in out["msg"]
    assert out["installed"] is False and out["ok"] is True and out["domains"] == ["raw", "mem"]


def test_live_bytes_rise_and_fall():
    """N bytes objects of 100 bytes (133-byte blocks: class 160) raise
    live_bytes by at least N*133 and the 160-byte class by N blocks; del
    brings both back."""
    out = run_json("""
        import json, poolalloc, gc
        poolalloc.install()
        N = 20000
        gc.disable()
        from itertools import repeat
        def cls160(st):
            return next(c for c in st["classes"] if c["size"] == 160)
        s0 = poolalloc.stats()
        objs = [bytes(100) for _ in repeat(None, N)]
        s1 = poolalloc.stats()
        del objs
        s2 = poolalloc.stats()
        print(json.dumps({"s0": s0["live_bytes"], "s1": s1["live_bytes"], "s2": s2["live_bytes"],
                          "peak1": s1["peak_bytes"], "a0": s0["allocs"], "a1": s1["allocs"],
                          "f1": s1["frees"], "f2": s2["frees"],
                          "c0": cls160(s0)["live_blocks"], "c1": cls160(s1)["live_blocks"],
                          "c2": cls160(s2)["live_blocks"], "ca0": cls160(s0)["allocs"],
                          "ca1": cls160(s1)["allocs"], "cf2": cls160(s2)["frees"], "cf1": cls160(s1)["frees"]}))
    """)
    N = 20000
    assert out["s1"] - out["s0"] >= N * 133
    assert out["s1"] - out["s0"] <= N * 160 + 2 * 1024 * 1024
    assert out["s0"] - (64 << 10) <= out["s2"] <= out["s0"] + (64 << 10)
    assert out["peak1"] >= out["s1"] - (1 << 20)  # thread peaks are sampled per page
    # Besides the N objects: the list growing (realloc across classes) and stats() itself.
    assert N <= out["a1"] - out["a0"] <= N + 1000
    assert N <= out["f2"] - out["f1"] <= N + 1000
    assert out["c1"] - out["c0"] >= N and out["ca1"] - out["ca0"] >= N
    assert out["cf2"] - out["cf1"] >= N and abs(out["c2"] - out["c0"]) <= 50


def test_stats_fields_and_reset_peak():
    out = run_json("""
        import json, poolalloc
        poolalloc.install()
        big = [bytes(1000) for _ in range(5000)]
        s1 = poolalloc.stats()
        del big
        s2 = poolalloc.stats()
        poolalloc.reset_peak()
        s3 = poolalloc.stats()
        print(json.dumps({"s1": s1, "s2": s2, "s3": s3}))
    """)
    s1, s2, s3 = out["s1"], out["s2"], out["s3"]
    for key in ("live_bytes", "peak_bytes", "reserved_bytes", "allocs", "frees", "reallocs", "foreign_frees",
                "classes", "committed_bytes", "large_blocks", "large_bytes", "limit", "domains"):
        assert key in s1, key
    assert len(s1["classes"]) == 48
    for c in s1["classes"]:
        assert set(c) == {"size", "live_blocks", "free_blocks", "pages", "allocs", "frees"}
        assert c["live_blocks"] == c["allocs"] - c["frees"]
    assert [c["size"] for c in s1["classes"]][:8] == [16, 32, 48, 64, 80, 96, 112, 128]
    assert s1["allocs"] == sum(c["allocs"] for c in s1["classes"])
    assert s1["reserved_bytes"] >= s1["committed_bytes"] >= 5000 * 1024
    assert s2["peak_bytes"] >= 5000 * 1033 > s2["live_bytes"] + 4000 * 1033
    assert s3["peak_bytes"] < s2["peak_bytes"] - 4000 * 1033
    assert s3["peak_bytes"] >= s3["live_bytes"] - (64 << 10)


def test_report_is_the_class_table():
    """report() is the per-class table that sys._debugmallocstats() prints
    for pymalloc (and prints nothing for a custom allocator); after install()
    sys._debugmallocstats() prints it too."""
    r = run_py("""
        import sys, poolalloc
        poolalloc.install()
        keep = [bytes(100) for _ in range(3000)]
        sys.stdout.write(poolalloc.report())
        sys.stdout.write("====\\n")
        sys.stdout.flush()
        sys._debugmallocstats()
    """)
    report, _, debugstats = r.stdout.partition("====\n")
    assert report.startswith("poolalloc ")
    for word in ("live_bytes", "peak_bytes", "reserved_bytes", "allocs", "frees", "reallocs", "foreign_frees",
                 "class", "size", "live_blocks", "free_blocks", "pages"):
        assert word in report, word
    rows = {int(m.group(2)): int(m.group(3)) for m in re.finditer(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+", report, re.M)}
    assert rows[160] >= 3000
    assert r.stderr.startswith("Small block threshold = 131072, in 48 size classes (poolalloc).\npoolalloc ")
    assert "live_blocks" in r.stderr and "foreign_frees" in r.stderr
    assert "free PyDictObjects" in r.stderr  # CPython's own part is still there


def test_leaks_by_size_class():
    out = run_json("""
        import json, poolalloc
        poolalloc.install()
        base = {l["size"]: l["count"] for l in poolalloc.leaks()}
        keep = [bytes(100) for _ in range(4000)]
        big = bytearray(3 << 20)
        l1 = poolalloc.leaks()
        del keep, big
        l2 = poolalloc.leaks()
        print(json.dumps({"base": base, "l1": l1, "l2": l2}))
    """)
    by1 = {l["size"]: l for l in out["l1"]}
    assert by1[160]["count"] >= 4000 + out["base"].get("160", 0)
    assert all(l["bytes"] == l["size"] * l["count"] for l in out["l1"] if l["size"])
    assert all(l["count"] > 0 for l in out["l1"])
    large = [l for l in out["l1"] if l["cls"] == -1]
    assert len(large) == 1 and large[0]["size"] is None and large[0]["bytes"] >= 3 << 20
    by2 = {l["size"]: l for l in out["l2"]}
    assert by2.get(160, {"count": 0})["count"] <= by1[160]["count"] - 4000
    assert not [l for l in out["l2"] if l["cls"] == -1 and l["bytes"] >= 3 << 20]


def test_page_map_matches_stats():
    """page_map() agrees with stats() class by class, once the empty pages
    heaps keep cached for reuse are set apart: freeing 3000 of 6000 live
    objects of 256 B empties a dozen pages, which the cache keeps (the
    decay is set long so none goes back meanwhile)."""
    out = run_json("""
        import json, poolalloc, gc
        gc.disable()
        poolalloc.install()
        keep = [bytes(200) for _ in range(6000)]
        del keep[1500:4500]
        pm, st = poolalloc.page_map_stats()
        print(json.dumps({"pm": pm, "classes": st["classes"], "pm2": len(poolalloc.page_map())}))
    """, env={"POOL_DECAY_MS": "600000"})
    pm, classes = out["pm"], out["classes"]
    assert pm
    for rec in pm:
        assert set(rec) == {"address", "bytes", "cls", "block_size", "capacity", "used", "segment", "owner", "cached"}
        assert rec["block_size"] == classes[rec["cls"]]["size"]
        assert 0 <= rec["used"] <= rec["capacity"] and rec["capacity"] * rec["block_size"] <= rec["bytes"]
        assert rec["bytes"] % 65536 == 0 and rec["owner"] >= 1
        assert rec["cached"] in (True, False) and (rec["used"] == 0 or not rec["cached"])
    for cls, c in enumerate(classes):
        pages = [r for r in pm if r["cls"] == cls and not r["cached"]]
        assert len(pages) == c["pages"], cls
        assert sum(r["used"] for r in pages) == c["live_blocks"], cls
        # capacity: the blocks a span holds, its last OS page (the guard) left out
        assert sum(r["capacity"] for r in pages) == c["live_blocks"] + c["free_blocks"], cls
        assert all(r["bytes"] // r["block_size"] - r["capacity"] <= 4096 // r["block_size"] + 1 for r in pages), cls
    # 3000 blocks of 256 B free, 255 to a page: at least 11 whole pages empty
    assert len([r for r in pm if r["cached"] and r["block_size"] == 256]) >= 11
    assert sum(r["used"] for r in pm if r["block_size"] == 256) >= 3000
    assert out["pm2"] >= len(pm)


def test_uninstall_with_live_pool_blocks_and_reinstall():
    """uninstall(): new blocks from the previous allocator; pool blocks alive
    keep being freed by the pool (and realloc moves them out);
    install -> uninstall -> install is safe."""
    out = run_json("""
        import json, sys, poolalloc
        from poolalloc import _poolalloc as c
        import _pooltest as pt
        r = {}
        poolalloc.install()
        live = [bytes([i % 251]) * 300 for i in range(5000)]
        r["live_owned"] = all(c._is_block(id(b)) for b in live)
        blocks = {}
        for d in ("raw", "mem", "obj"):
            for size in (40, 3000, 300000):
                a = pt._alloc(d, size); pt._fill(a, size, size + 7); blocks[(d, size)] = a
        r["uninstall"] = poolalloc.uninstall()
        r["uninstall2"] = poolalloc.uninstall()
        r["installed"] = poolalloc.is_installed()
        r["new_owned"] = c._is_block(id(bytes(range(77))))
        frees0 = poolalloc.stats()["frees"]
        r["contents"] = all(b == bytes([i % 251]) * 300 for i, b in enumerate(live))
        del live
        r["freed_by_pool"] = poolalloc.stats()["frees"] - frees0
        moved = True
        for (d, size), a in blocks.items():
            q = pt._realloc(d, a, size * 2)
            moved &= not c._is_block(q) and pt._check(q, size, size + 7)
            pt._free(d, q)
        r["moved_out"] = moved
        # The shim stays: every cycle leaves live pool blocks behind.
        keep = []
        cycles = []
        for cycle in range(3):
            cycles.append((poolalloc.install(), poolalloc.is_installed()))
            keep.append([str(i) * 5 for i in range(2000)])
            keep[-1].append(c._is_block(id(bytes(range(90)))))
            poolalloc.uninstall()
            keep.append([str(i) * 5 for i in range(2000)])
        r["cycles"] = cycles
        r["cycle_owned"] = [k[-1] for k in keep[::2]]
        r["cycle_ok"] = all(k[5] == "55555" for k in keep)
        del keep
        r["final"] = poolalloc.install()
        print(json.dumps(r))
    """)
    assert out == {"live_owned": True, "uninstall": True, "uninstall2": False, "installed": False,
                   "new_owned": False, "contents": True, "freed_by_pool": out["freed_by_pool"], "moved_out": True,
                   "cycles": [[True, True]] * 3, "cycle_owned": [True] * 3, "cycle_ok": True, "final": True}
    assert out["freed_by_pool"] >= 5000


def test_memory_error_at_limit_and_recovery():
    """Past install(limit=...) allocations fail with MemoryError; after
    freeing, the interpreter goes on working."""
    out = run_json("""
        import json, poolalloc
        LIMIT = 64 << 20
        poolalloc.install(limit=LIMIT)
        r = {"limit": poolalloc.stats()["limit"]}
        try:
            bytearray(100 << 20)
            r["big"] = "allocated"
        except MemoryError:
            r["big"] = "MemoryError"
        chunks = []
        try:
            while True:
                chunks.append(bytes(1 << 20))
        except MemoryError:
            r["chunks"] = len(chunks)
        del chunks
        # Small objects up to the limit; the handler frees before it
        # allocates anything (at the limit, even a new int fails).
        strs = []
        try:
            for i in range(10 ** 8):
                strs.append(str(i) * 3)
        except MemoryError:
            strs.clear()
            r["strs"] = i
        r["after"] = len(json.dumps([{"k": i} for i in range(100000)]))
        r["again"] = len(bytes(10 << 20))
        r["set_limit"] = poolalloc.set_limit(0)
        r["unlimited"] = len(bytearray(100 << 20))
        print(json.dumps(r))
    """)
    assert out["limit"] == 64 << 20 and out["big"] == "MemoryError"
    assert 10 <= out["chunks"] < 64
    assert 100000 <= out["strs"] < 64 * 1024 * 1024 // 48
    assert out["after"] > 1000000 and out["again"] == 10 << 20
    assert out["set_limit"] == 64 << 20 and out["unlimited"] == 100 << 20


def test_peak_and_large_alloc_bytes_see_a_large_block_that_came_and_went():
    """A large block freed before the next page take still raises the peak
    (large allocations sample it), and large_alloc_bytes counts its bytes;
    watch_peak() and peak_stats() give the totals of a watch."""
    out = run_json("""
        import json, poolalloc
        poolalloc.install()
        poolalloc.reset_peak()
        s0 = poolalloc.stats()
        b = bytearray(50 << 20)
        del b
        s1 = poolalloc.stats()
        c = bytearray(3 << 20)
        c += bytes(5 << 20)           # one new block (the bytes); c grows by realloc
        del c
        s2 = poolalloc.stats()
        w0 = poolalloc.watch_peak()           # the same figures, without the class dicts
        keep = [bytes(1000) for _ in range(1000)]
        w1 = poolalloc.peak_stats()
        del keep
        w2 = poolalloc.peak_stats()
        print(json.dumps({"s0": s0, "s1": s1, "s2": s2, "w": [w0, w1, w2]}))
    """)
    s0, s1, s2 = out["s0"], out["s1"], out["s2"]
    w0, w1, w2 = out["w"]
    assert set(w0) == {"live_bytes", "peak_bytes", "allocs", "frees"}
    assert w0["peak_bytes"] - w0["live_bytes"] < 64 and w0["peak_bytes"] < s2["peak_bytes"]   # restarted
    assert 1000 * 1280 <= w1["live_bytes"] - w0["live_bytes"] < 1000 * 1280 + 65536
    assert 1000 <= w1["allocs"] - w0["allocs"] < 2000 and 1000 <= w2["frees"] - w1["frees"] < 2000
    assert w1["live_bytes"] - (64 << 10) <= w2["peak_bytes"] < w1["live_bytes"] + (64 << 10)
    assert w2["live_bytes"] < w1["live_bytes"] - 1000 * 1280 + 65536
    assert 50 << 20 <= s1["peak_bytes"] - s0["live_bytes"] < (50 << 20) + (1 << 20)
    assert 50 << 20 <= s1["large_alloc_bytes"] - s0["large_alloc_bytes"] < (50 << 20) + 8192
    assert s1["live_bytes"] - s0["live_bytes"] < 1 << 20
    assert 8 << 20 <= s2["large_alloc_bytes"] - s1["large_alloc_bytes"] < (8 << 20) + 16384
    assert s2["peak_bytes"] == s1["peak_bytes"]
