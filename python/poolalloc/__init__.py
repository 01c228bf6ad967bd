"""poolalloc -- libpool as CPython's memory allocator.

    import poolalloc
    poolalloc.install()            # PyMem_* and PyObject_* memory now comes from libpool
    ...
    print(poolalloc.report())      # per-size-class table, like sys._debugmallocstats()
    poolalloc.stats()["peak_bytes"]

From start-up instead:

    POOLALLOC=1 python app.py                # the .pth hook; subprocesses inherit it
    python -m poolalloc run app.py args...   # sets POOLALLOC=1 for children too
    python -m poolalloc run -m module args...

(POOLALLOC_DOMAINS="raw,mem" and POOLALLOC_LIMIT=bytes configure the hook.)

Domains
-------
CPython has three allocator domains: "raw" (PyMem_RawMalloc, called without
the GIL from any thread), "mem" (PyMem_Malloc) and "obj" (PyObject_Malloc:
objects).  install() wraps all three at once, whatever it is asked for; the
`domains` argument chooses the ones whose *new* blocks come from libpool.
The others keep allocating from the previous allocator but still hand pool
blocks to libpool when they free them.

The default is all three, ("raw", "mem", "obj"), because it is:
  - the fastest: "obj" and "mem" are where Python allocates; with pymalloc
    below, every block above 512 bytes would take a second trip through
    the raw domain, and with "raw" served too that trip is short.  Leaving
    "raw" out measured no faster (tests/benchmarks/test_bench_python.py);
  - the safest: every block libpool hands out can be freed and reallocated
    through any domain, so the cross-domain frees that CPython and
    extensions do (a PyObject_Malloc block given to PyMem_Free, a PyMem
    block given to PyMem_RawFree) always reach the allocator that made it.
On free-threaded builds (Py_GIL_DISABLED) CPython needs its own mimalloc for
objects: "obj" is refused there and the default is ("raw", "mem").

How it wraps
------------
Following CPython's rule for installing after start-up, the new allocator
wraps the one it finds.  Each pointer's owner is decided by libpool's O(1)
ownership test (never by reading foreign memory): blocks made before
install() are freed and reallocated through the previous allocator, with
its own ctx -- pymalloc, tracemalloc's hooks, the debug hooks or anything
else.  uninstall() sends new allocations back to the previous allocator but
leaves a forwarding shim in place, so pool blocks still alive are freed by
the pool (and moved out of it when reallocated).  install() twice is a no-op;
install -> uninstall -> install is safe.

Other tools
-----------
tracemalloc started after install() wraps poolalloc and sees every block.
If tracemalloc is already tracing when install() first wraps, install()
stops it, wraps, and starts it again with the same frame limit (otherwise
tracemalloc.stop() would later unhook poolalloc); traces taken before that
moment are dropped.
Under CPython's debug hooks (PYTHONMALLOC=debug, pymalloc_debug,
malloc_debug, -X dev) poolalloc goes beneath them: they stay on top and
check every block, those from libpool too (the pad bytes, the API of each
free, the GIL); blocks they made before install() still go back to the
allocator below them.  If the hooks were asked for but another hook sits
on top of them, install() wraps that one and warns (RuntimeWarning) that
the debug hooks will not check blocks from libpool.
CPython's sys._debugmallocstats() prints nothing for a custom allocator:
report() fills that gap, and install() makes sys._debugmallocstats() print
it (then CPython's free lists, as before).

Limit
-----
install(limit=nbytes) caps the bytes libpool has in use from the OS (its
pages and large blocks).  Past it allocations fail: Python raises
MemoryError and the interpreter keeps working.
"""
import os as _os
import struct as _struct
import sys as _sys

from . import _poolalloc as _c

__all__ = ["install", "uninstall", "is_installed", "installed_domains", "stats", "reset_peak", "watch_peak", "peak_stats", "report",
           "leaks", "page_map", "page_map_stats", "map", "set_limit", "DOMAINS", "DEFAULT_DOMAINS"]
__version__ = _c.POOL_VERSION

DOMAINS = ("raw", "mem", "obj")
GIL_DISABLED = bool(_c.GIL_DISABLED)
DEFAULT_DOMAINS = ("raw", "mem") if GIL_DISABLED else DOMAINS
_NAMES = "'raw', 'mem', 'obj'"


def _domain_mask(domains):
    """Bit mask of `domains` (None, "obj", "raw,mem" or an iterable of names)."""
    if domains is None:
        domains = DEFAULT_DOMAINS
    if isinstance(domains, str):
        names = [d.strip() for d in domains.split(",") if d.strip()]
    else:
        try:
            names = list(domains)
        except TypeError:
            raise ValueError(f"domains must be a str or an iterable of str, not {type(domains).__name__}") from None
    if not names:
        raise ValueError(f"no domain given: expected some of {_NAMES}")
    mask = 0
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"a domain must be a str, not {type(name).__name__}: {name!r}")
        if name not in DOMAINS:
            raise ValueError(f"unknown domain {name!r}: expected some of {_NAMES}")
        if name == "obj" and GIL_DISABLED:
            raise ValueError("poolalloc cannot serve the 'obj' domain on a free-threaded build (Py_GIL_DISABLED): "
                             "CPython needs its own mimalloc for objects; use domains=('raw', 'mem')")
        mask |= 1 << DOMAINS.index(name)
    return mask


_SIZE_MAX = (1 << (8 * _struct.calcsize("N"))) - 1


def _check_limit(limit):
    """`limit` as a non-negative int; ValueError otherwise."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ValueError(f"limit must be an int number of bytes or None, not {type(limit).__name__}")
    if limit < 0:
        raise ValueError(f"limit must be >= 0 bytes (0: no limit), not {limit}")
    if limit > _SIZE_MAX:
        raise ValueError(f"limit must be at most {_SIZE_MAX} bytes (the C size_t range), not {limit}")
    return limit


def install(domains=None, limit=None):
    """Serve `domains` (default DEFAULT_DOMAINS) from libpool from now on.

    `limit` (bytes, optional; 0 removes it) caps what libpool takes from the
    OS; past it allocations raise MemoryError.  Returns True if it installed,
    False if poolalloc was already installed (then only `limit` is applied)."""
    mask = _domain_mask(domains)
    if limit is not None:
        _c._set_limit(_check_limit(limit))
    _hook_debugmallocstats()
    if _c._wrapped():
        return _c._install(mask)
    installed = _wrap_and_install(mask)
    _warn_if_above_debug_hooks()
    return installed


def _wrap_and_install(mask):
    """The first install(): it wraps the allocators on top."""
    import _tracemalloc
    if not _tracemalloc.is_tracing():
        return _c._install(mask)
    # Wrapping below a tracing tracemalloc: tracemalloc.stop() would restore
    # what it saved and unhook us, so restart it on top of us.
    frames = _tracemalloc.get_traceback_limit()
    _tracemalloc.stop()
    try:
        return _c._install(mask)
    finally:
        _tracemalloc.start(frames)


def _debug_hooks_asked():
    """Whether PYTHONMALLOC, -X dev or a debug build turned CPython's debug
    hooks on at start-up."""
    name = "" if _sys.flags.ignore_environment else _os.environ.get("PYTHONMALLOC", "")
    if name.endswith("debug"):
        return True
    return name in ("", "default") and (_sys.flags.dev_mode or hasattr(_sys, "gettotalrefcount"))


def _warn_if_above_debug_hooks():
    """Say so when the debug hooks were asked for but not found on top."""
    if not _c._debug_hooks() and _debug_hooks_asked():
        import warnings
        warnings.warn("poolalloc: CPython's debug hooks are on (PYTHONMALLOC or -X dev) but another allocator hook "
                      "sits on top of them; poolalloc wraps that one, so the debug hooks do not check blocks "
                      "from libpool", RuntimeWarning, stacklevel=3)


def _hook_debugmallocstats():
    """Make sys._debugmallocstats() show the pool too (CPython shows only
    pymalloc's pools, and nothing once another allocator is installed)."""
    original = getattr(_sys, "_debugmallocstats", None)
    if original is None or getattr(original, "_poolalloc", False):
        return

    def _debugmallocstats():
        _c._print_report()
        original()

    _debugmallocstats._poolalloc = True
    _debugmallocstats.__doc__ = original.__doc__
    _sys._debugmallocstats = _debugmallocstats


def uninstall():
    """New allocations go back to the previous allocators; pool blocks still
    alive keep being freed by the pool.  Returns whether it was installed."""
    return _c._uninstall()


def is_installed():
    """Whether some domain serves new blocks from libpool."""
    return _c._domains() != 0


def installed_domains():
    """The domains serving new blocks from libpool, e.g. ('raw', 'mem', 'obj')."""
    mask = _c._domains()
    return tuple(d for i, d in enumerate(DOMAINS) if mask & (1 << i))


def set_limit(nbytes):
    """Cap the bytes libpool has in use from the OS (0 or None: no cap); returns the old cap."""
    return _c._set_limit(0 if nbytes is None else _check_limit(nbytes))


def stats():
    """A dict: live_bytes, peak_bytes, reserved_bytes, committed_bytes, allocs,
    frees, reallocs, foreign_frees (frees handed back to the previous
    allocator), large_blocks, large_bytes, limit, domains, ... and classes:
    one dict per size class (size, live_blocks, free_blocks, pages, allocs,
    frees)."""
    st = _c.stats()
    st["domains"] = installed_domains()
    return st


reset_peak = _c.reset_peak
watch_peak = _c.watch_peak
peak_stats = _c.peak_stats
report = _c.report
page_map = _c.page_map


def page_map_stats():
    """(page_map(), stats()) taken at one moment, before either result
    allocates: in a single-threaded program they agree exactly."""
    pm, st = _c.page_map_stats()
    st["domains"] = installed_domains()
    return pm, st


def leaks():
    """The blocks libpool holds live now, by size class: a list of dicts
    {cls, size, count, bytes}; large blocks come last as cls -1, size None."""
    st = _c.stats()
    out = [{"cls": i, "size": c["size"], "count": c["live_blocks"], "bytes": c["size"] * c["live_blocks"]}
           for i, c in enumerate(st["classes"]) if c["live_blocks"]]
    if st["large_blocks"]:
        out.append({"cls": -1, "size": None, "count": st["large_blocks"], "bytes": st["large_bytes"]})
    return out


def map(*args, **kwargs):
    """The page map of this interpreter's pool, drawn (see poolalloc._map).
    Needs the `bench` extra (matplotlib, numpy)."""
    from . import _map
    try:
        return _map.map(*args, **kwargs)
    except ModuleNotFoundError as exc:
        if exc.name not in ("matplotlib", "numpy"):
            raise
        raise ModuleNotFoundError(f"poolalloc.map() needs {exc.name}: pip install 'poolalloc[bench]'",
                                  name=exc.name) from None


def _env_install(environ=_os.environ):
    """install() configured by POOLALLOC_DOMAINS and POOLALLOC_LIMIT."""
    limit = environ.get("POOLALLOC_LIMIT") or None
    if limit is not None:
        try:
            limit = int(limit)
        except ValueError:
            raise ValueError(f"POOLALLOC_LIMIT must be a number of bytes, not {limit!r}") from None
    return install(environ.get("POOLALLOC_DOMAINS") or None, limit)
