"""The pytest plugin (poolalloc.pytest_plugin, `pytest --poolalloc`): limit
markers, the report, the fixture, bad input, xdist workers, -p no:poolalloc
and the one-line skip.  Each run is a pytester subprocess, since installing
the allocator is for the life of the process.  pytest-memray, when present,
is blocked: it claims the same marker names."""
import re

import pytest

from poolalloc.pytest_plugin import fmt_size, parse_size

pytest_plugins = ["pytester"]
ISOLATE = ("-p", "no:memray", "-p", "no:cacheprovider")


def run(pytester, *args):
    return pytester.runpytest_subprocess(*ISOLATE, *args)


def test_limit_memory_fails_past_the_limit_with_the_peak_and_the_class(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.limit_memory("10 MB")
        def test_fifty():
            b = bytearray(50 << 20)
            del b

        @pytest.mark.limit_memory("10 MB")
        def test_one():
            b = bytearray(1 << 20)
            del b

        @pytest.mark.limit_memory("512 KB")
        def test_small_blocks():
            keep = [bytes(200) for _ in range(20000)]   # 233 bytes: 256-byte blocks, 4.9 MiB at once
            del keep
    """)
    r = run(pytester, "--poolalloc")
    r.assert_outcomes(failed=2, passed=1)
    out = r.stdout.str()
    m = re.search(r"limit_memory: the test's peak, ([\d.]+) MiB above its start, passed the limit of 10\.0 MiB; "
                  r"the size class that grew most: large blocks \(mmap'd, > 128\.0 KiB\), ([\d.]+) MiB", out)
    assert m, out
    assert 50.0 <= float(m.group(1)) < 52.0 and 50.0 <= float(m.group(2)) < 51.0, m.groups()
    m = re.search(r"limit_memory: the test's peak, ([\d.]+) MiB above its start, passed the limit of 512\.0 KiB; "
                  r"the size class that grew most: 256-byte blocks \((\d+) allocated\), ([\d.]+) MiB", out)
    assert m, out
    assert 4.8 <= float(m.group(1)) < 5.5 and int(m.group(2)) >= 20000, m.groups()
    assert "FAILED test_limit_memory_fails_past_the_limit_with_the_peak_and_the_class.py::test_fifty" in out
    assert "test_one" not in out.split("short test summary info")[1]


def test_limit_leaks_fails_when_a_module_global_keeps_objects(pytester):
    pytester.makepyfile("""
        import pytest
        KEEP = []

        @pytest.mark.limit_leaks("1 MB")
        def test_keeps():
            KEEP.extend(bytes(1000) for _ in range(5000))

        @pytest.mark.limit_leaks("1 MB")
        def test_cycles_are_collected():
            for _ in range(2000):
                a = {"pad": bytes(1000)}
                a["self"] = a          # a cycle: only gc.collect() frees it

        @pytest.mark.limit_leaks("1 MB")
        def test_clean():
            tmp = [bytes(1000) for _ in range(5000)]
            del tmp
    """)
    r = run(pytester, "--poolalloc")
    r.assert_outcomes(failed=1, passed=2)
    m = re.search(r"limit_leaks: the test left ([\d.]+) MiB live after gc\.collect\(\), more than the limit of "
                  r"1\.0 MiB", r.stdout.str())
    assert m, r.stdout.str()
    assert 6.1 <= float(m.group(1)) < 6.6, m.group(1)     # 5000 blocks of 1280 bytes, the list
    r.stdout.fnmatch_lines(["FAILED *::test_keeps*"])


# Passes where the plugin is off: poolalloc is not installed, the limit not checked.
UNENFORCED = """
    import pytest, poolalloc

    @pytest.mark.limit_memory("1 MB")
    def test_big():
        assert not poolalloc.is_installed()
        b = bytearray(8 << 20)
"""


def test_markers_are_not_enforced_without_the_option(pytester):
    pytester.makepyfile(UNENFORCED)
    r = run(pytester, "-v")
    r.assert_outcomes(passed=1)
    assert "poolalloc:" not in r.stdout.str()


REPORT_SUITE = """
    KEEP = []

    def test_a_small():
        b = bytearray(2 << 20)
        KEEP.append(bytes(100 << 10))

    def test_b_big():
        b = bytearray(30 << 20)
        KEEP.append(bytes(10 << 10))

    def test_c_keeper():
        b = bytearray(6 << 20)
        KEEP.append(bytes(3 << 20))

    def test_d_nothing():
        pass
"""


def report_rows(out, title):
    """The test names of the report section `title`, in order."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"=+ poolalloc: top \d+ tests {title} =+$", line))
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("="):
            break
        rows += re.findall(r"::(test_\w+)$", line)
    return rows


def test_report_lists_the_right_tests_first(pytester):
    pytester.makepyfile(REPORT_SUITE)
    r = run(pytester, "--poolalloc-report=3", "-v")
    r.assert_outcomes(passed=4)
    out = r.stdout.str()
    assert re.search(r"^poolalloc: \S+ serving raw, mem, obj; per-test peak, leaks and allocations recorded$",
                     out, re.M), out
    assert report_rows(out, "by peak above start") == ["test_b_big", "test_c_keeper", "test_a_small"]
    assert report_rows(out, "by bytes left live") == ["test_c_keeper", "test_a_small", "test_b_big"]
    m = re.search(r"^\s+([\d.]+) MiB peak\s+([\d.]+) KiB left\s+(\d+) allocs\s+(\d+) frees  \S+::test_b_big$", out, re.M)
    assert m, out
    assert 30.0 <= float(m.group(1)) < 31.0 and 10.0 <= float(m.group(2)) < 200, m.groups()
    assert int(m.group(3)) >= 2 and int(m.group(4)) >= 1, m.groups()


@pytest.mark.parametrize("n", ["0", "-3", "many"])
def test_report_count_must_be_a_positive_int(pytester, n):
    pytester.makepyfile("def test_a(): pass")
    r = run(pytester, f"--poolalloc-report={n}")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines([f"*argument --poolalloc-report: expected a number of tests >= 1, not '{n}'*"])


def test_fixture_gives_snapshot_and_delta(pytester):
    pytester.makepyfile("""
        def test_counts(poolalloc_stats):
            s0 = poolalloc_stats.start
            keep = [bytes(100) for _ in range(10000)]      # 133 bytes: the 160-byte class
            d = poolalloc_stats.delta()
            assert d["classes"][160]["allocs"] >= 10000
            assert d["classes"][160]["live_blocks"] >= 10000
            assert 10000 * 160 <= d["live_bytes"] < 10000 * 160 + (1 << 20)
            s1 = poolalloc_stats.snapshot()
            assert s1["allocs"] - s0["allocs"] >= 10000
            del keep
            assert poolalloc_stats.delta(since=s1)["classes"][160]["frees"] >= 10000
    """)
    run(pytester, "--poolalloc").assert_outcomes(passed=1)
    r = run(pytester)
    r.assert_outcomes(errors=1)
    r.stdout.fnmatch_lines(["*poolalloc_stats: poolalloc is not installed in this process; run pytest with --poolalloc"])


@pytest.mark.parametrize("option", [(), ("--poolalloc",)])
def test_bad_marker_input_errors_that_test_and_the_run_goes_on(pytester, option):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.limit_memory("ten")
        def test_word():
            pass

        @pytest.mark.limit_memory("-5 MB")
        def test_negative():
            pass

        @pytest.mark.limit_leaks("5 parsecs")
        def test_unit():
            pass

        @pytest.mark.limit_leaks("1 MB", "2 MB")
        def test_two():
            pass

        @pytest.mark.limit_memory(limit="1.5 GiB")
        def test_good():
            pass
    """)
    r = run(pytester, *option)
    r.assert_outcomes(errors=4, passed=1)
    usage = 'expected a size like "24 MB": a number >= 0 and a unit, one of B, KB, MB, GB, TB*'
    r.stdout.fnmatch_lines_random([
        f"poolalloc: bad limit_memory('ten'): {usage}",
        f"poolalloc: bad limit_memory('-5 MB'): {usage}",
        f"poolalloc: bad limit_leaks('5 parsecs'): {usage}",
        "poolalloc: bad limit_leaks('1 MB', '2 MB'): expected one size, like limit_leaks(\"24 MB\")",
    ])


def test_xdist_workers_each_measure_their_own_tests(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(REPORT_SUITE + """
    import os, pytest

    @pytest.mark.limit_memory("10 MB")
    def test_e_limited():
        b = bytearray(20 << 20)

    def test_f_pid():
        print("pid", os.getpid())
    """)
    r = run(pytester, "-n", "2", "--poolalloc-report=6")
    r.assert_outcomes(failed=1, passed=5)
    out = r.stdout.str()
    r.stdout.fnmatch_lines(["*limit_memory: the test's peak, 2*.* MiB above its start, passed the limit of 10.0 MiB*"])
    peak = report_rows(out, "by peak above start")
    assert peak[:3] == ["test_b_big", "test_e_limited", "test_c_keeper"], out
    assert sorted(peak) == ["test_a_small", "test_b_big", "test_c_keeper", "test_d_nothing", "test_e_limited",
                            "test_f_pid"]
    workers = set(re.findall(r"\[(gw\d)\] \S+::test_", out))
    assert workers == {"gw0", "gw1"}, out


def test_disabled_with_p_no_poolalloc(pytester):
    pytester.makepyfile(UNENFORCED)
    r = run(pytester, "-p", "no:poolalloc", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    r.assert_outcomes(passed=1)
    r = run(pytester, "-p", "no:poolalloc", "--poolalloc")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*unrecognized arguments: --poolalloc*"])


def test_skipped_with_one_line_where_poolalloc_cannot_be_installed(pytester):
    # What a free-threaded build or a refusing install looks like to the plugin.
    pytester.makeconftest("""
        import poolalloc

        def refuse(*args, **kwargs):
            raise ValueError("cannot serve here")

        poolalloc.install = refuse
    """)
    pytester.makepyfile(UNENFORCED)
    r = run(pytester, "--poolalloc-report")
    r.assert_outcomes(passed=1)
    out = r.stdout.str()
    assert [line for line in out.splitlines() if "poolalloc:" in line] == [
        "poolalloc: plugin skipped, poolalloc not installed (ValueError: cannot serve here)"], out
    r = run(pytester, "--poolalloc", "-q")
    r.assert_outcomes(passed=1)
    assert [line for line in r.stdout.lines if "poolalloc:" in line] == [
        "poolalloc: plugin skipped, poolalloc not installed (ValueError: cannot serve here)"], r.stdout.str()


def test_parse_size_and_fmt_size():
    assert parse_size("m", "24 MB") == 24 << 20
    assert parse_size("m", "1.5GB") == 3 << 29
    assert parse_size("m", "512 kib") == 512 << 10
    assert parse_size("m", "100 B") == 100
    assert parse_size("m", ".5 KB") == 512
    assert parse_size("m", 4096) == 4096
    assert parse_size("m", "0 B") == 0
    for bad in ("ten", "-5 MB", "5 parsecs", "", "MB", "5", "1e3 MB", -1, True, 2.5, None, "5 M B"):
        with pytest.raises(ValueError, match=re.escape(f"bad m({bad!r}): expected a size like")):
            parse_size("m", bad)
    assert [fmt_size(n) for n in (0, 1023, 1024, 1536, 50 << 20, -(3 << 30))] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "50.0 MiB", "-3.0 GiB"]
