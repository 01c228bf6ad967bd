"""Bad input to the Python face, beyond test_python_api's ValueError table:
limits out of the C size_t range, wrong argument counts and types, and
absurd allocations under an installed poolalloc.  Each gets a clear
exception (ValueError / TypeError / MemoryError / OverflowError where
CPython itself raises it) and the interpreter keeps working on the pool."""
import json
import subprocess
import sys
import textwrap

import pytest


def run_json(code):
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


ATTEMPT = """
import json, sys, poolalloc
def attempt(call):
    try:
        value = eval(call)
        return {"raised": None, "value": value if isinstance(value, (int, bool, type(None))) else repr(value)}
    except Exception as e:
        return {"raised": type(e).__name__, "message": str(e)}
"""


@pytest.mark.parametrize("call, exc, message", [
    ("poolalloc.set_limit(2**64)", "ValueError",
     "limit must be at most 18446744073709551615 bytes (the C size_t range), not 18446744073709551616"),
    ("poolalloc.install(limit=2**70)", "ValueError", "limit must be at most 18446744073709551615 bytes"),
    ("poolalloc.set_limit('1M')", "ValueError", "limit must be an int number of bytes or None, not str"),
    ("poolalloc.set_limit(1e9)", "ValueError", "limit must be an int number of bytes or None, not float"),
    ("poolalloc.install(domains=b'raw')", "ValueError", "a domain must be a str, not int: 114"),
    ("poolalloc.install(domains=None, limit=[1])", "ValueError", "not list"),
    ("poolalloc.stats(1)", "TypeError", "stats() takes 0 positional arguments but 1 was given"),
    ("poolalloc.leaks(1)", "TypeError", "leaks() takes 0 positional arguments but 1 was given"),
    ("poolalloc.page_map(3)", "TypeError", "page_map() takes no arguments (1 given)"),
    ("poolalloc.report('x')", "TypeError", "report() takes no arguments (1 given)"),
    ("poolalloc.reset_peak(0)", "TypeError", "reset_peak() takes no arguments (1 given)"),
    ("poolalloc.uninstall(True)", "TypeError", "uninstall() takes 0 positional arguments but 1 was given"),
    ("poolalloc.install('raw', 0, 1)", "TypeError", "install() takes from 0 to 2 positional arguments but 3 were given"),
    ("poolalloc.install(domain='raw')", "TypeError", "install() got an unexpected keyword argument 'domain'"),
    ("poolalloc._poolalloc._owns('0x10')", "TypeError", ""),
])
def test_bad_calls_raise_clear_errors(call, exc, message):
    """The call raises `exc` naming the problem, and nothing got installed
    or limited on the way."""
    out = run_json(ATTEMPT + f"""
r = attempt({call!r})
r["installed"] = poolalloc.is_installed()
r["limit"] = poolalloc.stats()["limit"]
print(json.dumps(r))
""")
    assert out["raised"] == exc, out
    assert message in out["message"], out
    assert out["installed"] is False and out["limit"] == 0, out


def test_set_limit_none_means_no_cap():
    out = run_json(ATTEMPT + """
old = poolalloc.set_limit(1 << 30)
print(json.dumps({"old": old, "none": poolalloc.set_limit(None), "after": poolalloc.stats()["limit"],
                  "max": poolalloc.set_limit(2**64 - 1), "after_max": poolalloc.set_limit(0)}))
""")
    # SIZE_MAX is no limit in libpool, so reading it back gives 0
    assert out == {"old": 0, "none": 1 << 30, "after": 0, "max": 0, "after_max": 0}


def test_absurd_allocations_fail_cleanly_and_the_pool_keeps_working():
    """With every domain on libpool, allocations no allocator can meet raise
    MemoryError (OverflowError where CPython checks the size itself); then
    ordinary objects still live on the pool."""
    out = run_json(ATTEMPT + """
import ctypes
assert poolalloc.install()
calls = ["bytearray(2**62)", "b'x' * (2**62)", "[None] * (2**61)", "'ab' * (2**61)", "bytearray(2**40)",
         "bytes(sys.maxsize)", "list(range(2**62))"]
r = {c: attempt(c)["raised"] for c in calls}
api = ctypes.pythonapi
for name in ("PyMem_RawMalloc", "PyMem_Malloc", "PyObject_Malloc"):
    fn = getattr(api, name)
    fn.restype, fn.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    r[name] = [fn(n) for n in (2**64 - 1, 2**64 - 16, 2**63)]
before = poolalloc.stats()["live_bytes"]
keep = [bytes(range(i % 200)) for i in range(20000)]
r["grew"] = poolalloc.stats()["live_bytes"] - before
r["intact"] = all(k == bytes(range(i % 200)) for i, k in enumerate(keep))
print(json.dumps(r))
""")
    for call in ("bytearray(2**62)", "b'x' * (2**62)", "[None] * (2**61)", "'ab' * (2**61)", "bytearray(2**40)",
                 "list(range(2**62))"):
        assert out[call] in ("MemoryError", "OverflowError"), (call, out)
    assert out["bytearray(2**62)"] == "MemoryError" and out["bytearray(2**40)"] == "MemoryError"
    assert out["bytes(sys.maxsize)"] == "OverflowError"
    for name in ("PyMem_RawMalloc", "PyMem_Malloc", "PyObject_Malloc"):
        assert out[name] == [None, None, None], out   # NULL, not a wrapped size
    assert out["grew"] > 20000 * 100 and out["intact"] is True
