"""poolalloc.pytest_plugin -- memory limits, leak checks and allocation counts
per test, from libpool's own counters (registered as the `poolalloc` pytest11
plugin; `-p no:poolalloc` turns it off).

It does nothing until asked:

    pytest --poolalloc                 # the run is served by poolalloc; markers are enforced
    pytest --poolalloc-report[=N]      # the same, plus the top N tests (default 5) by peak and by bytes left

    @pytest.mark.limit_memory("24 MB")  # fails if the test's peak above its start passes 24 MiB
    @pytest.mark.limit_leaks("1 MB")    # fails if it leaves more than 1 MiB live, after gc.collect()
    def test_x(poolalloc_stats): ...    # poolalloc_stats.start, .snapshot(), .delta()

Each test call (the test function, not its fixtures' set-up) is measured: the
peak is restarted from the bytes live at its start (reset_peak) and read at
its end, so the limit is checked after the test has run, never enforced by
the allocator: an allocator limit would raise MemoryError inside the code
under test (which may catch it, or fail somewhere unrelated), and it would
count pytest's own bytes as the test's.  Sizes are binary, like
pytest-memray's: "10 MB" is 10 MiB.  With pytest-xdist every worker installs
poolalloc in its own process; its figures travel to the controller in the
reports' user_properties.
"""
import argparse
import gc
import os
import re

import pytest

_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40,
          "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}
_SIZE_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*")
_MARKERS = ("limit_memory", "limit_leaks")
_PROP = "poolalloc"           # the user_properties key of a test's figures
_DEFAULT_TOP = 5


def parse_size(marker, value):
    """Bytes for a marker's size ("24 MB", "1.5GB", "512 KiB", "100 B" or an
    int of bytes); ValueError naming the marker and the value otherwise."""
    usage = (f'bad {marker}({value!r}): expected a size like "24 MB": a number >= 0 and a unit, '
             f"one of B, KB, MB, GB, TB (binary: 1 KB = 1024 B; KiB, MiB, GiB, TiB also accepted), "
             f"or an int of bytes")
    if isinstance(value, bool):
        raise ValueError(usage)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(usage)
        return value
    if not isinstance(value, str):
        raise ValueError(usage)
    m = _SIZE_RE.fullmatch(value)
    if not m or m.group(2).upper() not in _UNITS:
        raise ValueError(usage)
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def fmt_size(n):
    """n bytes for people: "512 B", "1.5 KiB", "50.0 MiB" (signed)."""
    sign, n = ("-" if n < 0 else ""), abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{sign}{n} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _limit(item, name):
    """The marker's limit in bytes, or None when the test has no such
    marker; ValueError for bad input."""
    mark = item.get_closest_marker(name)
    if mark is None:
        return None
    args, kwargs = list(mark.args), dict(mark.kwargs)
    if "limit" in kwargs:
        args.append(kwargs.pop("limit"))
    if len(args) != 1 or kwargs:
        shown = ", ".join([repr(a) for a in mark.args] + [f"{k}={v!r}" for k, v in mark.kwargs.items()])
        raise ValueError(f'bad {name}({shown}): expected one size, like {name}("24 MB")')
    return parse_size(name, args[0])


def grew_most(start, end):
    """(label, bytes) of the size class with the most bytes allocated between
    two stats() snapshots; blocks above the largest class count as one
    class, "large blocks"."""
    best = ("large blocks (mmap'd, > %s)" % fmt_size(start["classes"][-1]["size"]),
            end["large_alloc_bytes"] - start["large_alloc_bytes"])
    for c0, c1 in zip(start["classes"], end["classes"]):
        grown = (c1["allocs"] - c0["allocs"]) * c1["size"]
        if grown > best[1]:
            best = (f"{c1['size']}-byte blocks ({c1['allocs'] - c0['allocs']} allocated)", grown)
    return best


class PoolStats:
    """The `poolalloc_stats` fixture: `start`, the stats() snapshot taken
    when the fixture was set up; `snapshot()`, a new one; `delta()`, the
    change since `start` of every counter (classes by size)."""

    def __init__(self, poolalloc):
        self._pa = poolalloc
        self.start = poolalloc.stats()

    def snapshot(self):
        return self._pa.stats()

    def delta(self, since=None):
        """Counters now minus counters in `since` (default: start):
        numbers as differences, "classes" as {size: {field: difference}}."""
        a, b = since or self.start, self._pa.stats()
        out = {k: b[k] - a[k] for k, v in b.items() if isinstance(v, int) and k in a}
        out["classes"] = {c1["size"]: {k: c1[k] - c0[k] for k in c1 if k != "size"}
                          for c0, c1 in zip(a["classes"], b["classes"])}
        return out


class PoolallocPlugin:
    """Registered by pytest_configure when --poolalloc (or the report) was
    asked for; `skipped` is the reason poolalloc could not be installed."""

    def __init__(self, config):
        self.config = config
        self.top = config.getoption("poolalloc_report")
        self.results = []           # (nodeid, figures) gathered from the reports
        self.skipped = None
        self.pa = None
        try:
            import poolalloc
            if poolalloc.GIL_DISABLED:
                raise RuntimeError("free-threaded build: CPython needs its own mimalloc for objects")
            poolalloc.install()
            self.pa = poolalloc
        except Exception as e:          # noqa: BLE001 -- any reason skips the plugin, said in one line
            self.skipped = f"{type(e).__name__}: {e}" if not isinstance(e, RuntimeError) else str(e)

    def skip_line(self):
        return f"poolalloc: plugin skipped, poolalloc not installed ({self.skipped})"

    def pytest_report_header(self, config):
        if self.skipped:
            return self.skip_line()
        domains = ", ".join(self.pa.installed_domains())
        return f"poolalloc: {self.pa.__version__} serving {domains}; per-test peak, leaks and allocations recorded"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        if self.pa is None:
            return (yield)
        pa = self.pa
        leaks = _limit(item, "limit_leaks")   # checked in set-up already
        memory = _limit(item, "limit_memory")
        if leaks is not None:
            gc.collect()
        # The per-class snapshot (stats()) only where limit_memory may need
        # it: it costs about 60 us, watch_peak() and peak_stats() 1 us.
        classes = pa.stats() if memory is not None else None
        start = pa.watch_peak()
        try:
            result = yield
        finally:
            if leaks is not None:
                gc.collect()
            end = pa.peak_stats()
            peak = max(end["peak_bytes"] - start["live_bytes"], 0)
            left = end["live_bytes"] - start["live_bytes"]
            worker = getattr(self.config, "workerinput", {}).get("workerid", "")
            item.user_properties.append((_PROP, {
                "peak": peak, "left": left, "allocs": end["allocs"] - start["allocs"],
                "frees": end["frees"] - start["frees"], "worker": worker, "pid": os.getpid()}))
        # The test passed (an exception would have left above): check its limits.
        problems = []
        if memory is not None and peak > memory:
            what, grown = grew_most(classes, pa.stats())
            problems.append(f"limit_memory: the test's peak, {fmt_size(peak)} above its start, passed the "
                            f"limit of {fmt_size(memory)}; the size class that grew most: {what}, "
                            f"{fmt_size(grown)}")
        if leaks is not None and left > leaks:
            problems.append(f"limit_leaks: the test left {fmt_size(left)} live after gc.collect(), "
                            f"more than the limit of {fmt_size(leaks)}")
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)
        return result

    def pytest_runtest_logreport(self, report):
        if report.when != "call":
            return
        for key, figures in report.user_properties:
            if key == _PROP:
                self.results.append((report.nodeid, figures))

    def pytest_terminal_summary(self, terminalreporter):
        if self.skipped and self.config.get_verbosity() < 0:
            terminalreporter.write_line(self.skip_line())   # -q shows no header
        if self.top is None or self.skipped:
            return
        tr = terminalreporter
        n = self.top
        for title, key in (("peak above start", "peak"), ("bytes left live", "left")):
            tr.write_sep("=", f"poolalloc: top {n} tests by {title}")
            rows = sorted(self.results, key=lambda r: r[1][key], reverse=True)[:n]
            if not rows:
                tr.write_line("no test measured")
            for nodeid, f in rows:
                where = f"[{f['worker']}] " if f["worker"] else ""
                tr.write_line(f"{fmt_size(f[key]):>12} {key:<4}  {fmt_size(f['left' if key == 'peak' else 'peak']):>12} "
                              f"{'left' if key == 'peak' else 'peak'}  {f['allocs']:>9} allocs  "
                              f"{f['frees']:>9} frees  {where}{nodeid}")


def _report_count(text):
    """--poolalloc-report's N: an int >= 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of tests >= 1, not {text!r}")
    return n


def pytest_addoption(parser):
    group = parser.getgroup("poolalloc", "poolalloc: per-test memory limits and figures from libpool")
    group.addoption("--poolalloc", action="store_true", default=False,
                    help="run the tests with poolalloc installed; enforce limit_memory and limit_leaks")
    group.addoption("--poolalloc-report", nargs="?", type=_report_count, const=_DEFAULT_TOP, default=None, metavar="N",
                    help=f"with --poolalloc: print the top N tests (default {_DEFAULT_TOP}) by peak and by bytes "
                         "left (implies --poolalloc)")


def pytest_configure(config):
    config.addinivalue_line("markers", 'limit_memory(size): with --poolalloc, fail the test if its peak above its '
                                       'start passes size ("24 MB")')
    config.addinivalue_line("markers", 'limit_leaks(size): with --poolalloc, fail the test if it leaves more than '
                                       'size ("1 MB") live after gc.collect()')
    if config.getoption("poolalloc") or config.getoption("poolalloc_report") is not None:
        config.pluginmanager.register(PoolallocPlugin(config), "poolalloc-session")


def pytest_runtest_setup(item):
    """Bad marker input errors the one test (run or not with --poolalloc)."""
    for name in _MARKERS:
        try:
            _limit(item, name)
        except ValueError as e:
            problem = str(e)
        else:
            continue
        pytest.fail(f"poolalloc: {problem}", pytrace=False)


@pytest.fixture
def poolalloc_stats():
    """A PoolStats: the test's start snapshot of poolalloc.stats(), new
    snapshots and deltas; the run needs --poolalloc (or POOLALLOC=1)."""
    import poolalloc
    if not poolalloc.is_installed():
        pytest.fail("poolalloc_stats: poolalloc is not installed in this process; run pytest with --poolalloc",
                    pytrace=False)
    return PoolStats(poolalloc)
