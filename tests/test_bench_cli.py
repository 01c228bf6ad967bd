"""python -m poolalloc bench / map: the files they write, missing peers,
usage errors, and the page map's data against stats()."""
import json
import os
import shutil
import statistics
import subprocess
import sys

import pytest

from conftest import ROOT

PNG = b"\x89PNG\r\n\x1a\n"


def poolalloc_cmd(*args, env=None, timeout=600):
    e = dict(os.environ, **(env or {}))
    for var in ("POOLALLOC", "PYTHONMALLOC", "LD_PRELOAD"):
        e.pop(var, None)
    return subprocess.run([sys.executable, "-m", "poolalloc", *args], cwd=ROOT, env=e, capture_output=True,
                          text=True, timeout=timeout)


def test_bench_writes_json_and_png(native_build, tmp_path):
    """One tiny round of the C and Python faces: results.json holds every
    benchmark's medians and peak RSS for the pool and its peers, and the
    chart is a PNG."""
    r = poolalloc_cmd("bench", "--smoke", "--only", "c,python", "--out", str(tmp_path),
                      env={"POOL_BUILD_DIR": str(native_build)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "bench.png").read_bytes()[:8] == PNG
    data = json.loads((tmp_path / "results.json").read_text())
    faces = data["faces"]
    assert set(faces) == {"c", "python"}, faces.keys()
    assert data["date"] and data["machine"]
    c_names = {b["name"] for b in faces["c"]["benchmarks"]}
    assert c_names == {"fixed", "batch64", "batchrand", "random", "interleaved", "churn", "churn100k", "prodcons"}
    for face in faces.values():
        for b in face["benchmarks"]:
            assert b["results"], b
            pool = b["results"][face["pool"]]
            assert pool["median"] > 0 and pool["samples"], b
    py = faces["python"]["benchmarks"][0]["results"]
    assert {"pool", "pymalloc"} <= set(py)
    assert all(v["peak_rss_kb"] and v["peak_rss_kb"] > 1000 for v in py.values()), py
    assert "geomean" in r.stdout and "wrote" in r.stdout
    md = (tmp_path / "results.md").read_text()
    assert md.startswith(f"Measured {data['date'][:10]} on {data['machine']['cpu']}")
    for face in faces.values():
        head = f"| benchmark | {' | '.join(face['allocators'])} |"
        assert head in md, md
        for b in face["benchmarks"]:
            med = b["results"][face["pool"]]["median"]
            assert f"| {b['name']} | {med:.1f} |" in md or f"| {b['name']} | {med:.3f} |" in md, (b["name"], md)


def test_bench_missing_peer_is_a_note(native_build, tmp_path):
    """A peer library that is not there is skipped with a note, not a crash."""
    r = poolalloc_cmd("bench", "--smoke", "--only", "c", "--peers", "mimalloc", "--out", str(tmp_path),
                      env={"POOL_BUILD_DIR": str(native_build), "POOL_BENCH_MIMALLOC": "/nonexistent/libmimalloc.so"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mimalloc" in r.stdout + r.stderr and "skipped" in r.stdout + r.stderr
    data = json.loads((tmp_path / "results.json").read_text())
    c = data["faces"]["c"]
    assert all("mimalloc" not in b["results"] for b in c["benchmarks"])


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (.ci/bootstrap installs it)")
def test_bench_instr_face(native_build, tmp_path):
    """--only instr: callgrind's instructions per malloc+free pair for
    libpool, the peers, the Lua path and the Python plug-in against
    pymalloc, in results.json and in results.md, and the goals that read
    them judged (the others not measured).  The counts are checked for
    plausibility only; no count target is asserted."""
    r = poolalloc_cmd("bench", "--smoke", "--only", "instr", "--out", str(tmp_path),
                      env={"POOL_BUILD_DIR": str(native_build)})
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads((tmp_path / "results.json").read_text())
    face = data["faces"]["instr"]
    assert face["status"] == "ok" and face["pairs"] > 0, face
    counts = {row["key"]: row["instructions"] for row in face["rows"]}
    assert {"c:pool", "c:glibc", "lua:pool", "python:pool", "python:pymalloc"} <= set(counts), face
    for key, n in counts.items():
        assert 10 < n < 1000, (key, n)
    md = (tmp_path / "results.md").read_text()
    for row in face["rows"]:
        assert f"| {row['what']} | {row['allocator']} | {row['instructions']:.1f} |" in md
    goals = {g["goal"]: g for g in data["goals"]}
    pyg = goals["instructions per PyObject_Malloc + PyObject_Free pair, POOLALLOC=1 vs pymalloc"]
    assert pyg["measured"] == f"{counts['python:pool']:.0f} vs {counts['python:pymalloc']:.0f}"
    assert pyg["status"] in ("met", "not met")
    assert goals["Lua workloads: geomean speed vs stock lua5.4"]["status"] == "not measured"
    assert "| goal (issue) | target | measured | status |" in md




def pyperformance_script(name):
    """The path of one of pyperformance's benchmark scripts (skips the test
    without pyperformance: .ci/bootstrap installs it)."""
    from poolalloc.bench.pyperformance import BENCHMARKS, benchmark_dir
    where = benchmark_dir()
    if where is None:
        pytest.skip("pyperformance is not installed (pip install 'poolalloc[pyperformance]')")
    return os.path.join(where, BENCHMARKS[name][0], "run_benchmark.py")


def test_bench_pyperformance_smoke(tmp_path):
    """One tiny round of the pyperformance face (two scripts, one value):
    every set-up ran both, with a median per loop and its own peak RSS, the
    ratio table relative to pymalloc is in results.json and results.md, and
    pyperformance is not in the default set of faces."""
    pyperformance_script("nqueens")
    r = poolalloc_cmd("bench", "--smoke", "--only", "pyperformance", "--peers", "mimalloc", "--out", str(tmp_path),
                      timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    face = json.loads((tmp_path / "results.json").read_text())["faces"]["pyperformance"]
    assert face["status"] == "ok" and face["unit"] == "µs", face
    assert [b["name"] for b in face["benchmarks"]] == ["nqueens", "unpack_sequence"]
    setups = {"pymalloc", "pool", "mimalloc"} if os.path.isfile("/usr/lib/x86_64-linux-gnu/libmimalloc.so.2") \
        else {"pymalloc", "pool"}
    for b in face["benchmarks"]:
        assert b["errors"] == [] and set(b["results"]) == setups, b
        for v in b["results"].values():
            assert len(v["samples"]) == 1 and v["median"] > 0 and v["peak_rss_kb"] > 5000, b
        assert b["speedup_default"] == pytest.approx(b["results"]["pymalloc"]["median"] / b["results"]["pool"]["median"])
    (table,) = face["tables"]
    assert table["head"][:3] == ["benchmark", "pymalloc µs", "pymalloc RSS MiB"] and "RSS pool" in table["head"]
    assert [row[0] for row in table["rows"]] == ["nqueens", "unpack_sequence", "geomean"]
    pool = face["geomean_vs_default"]["pool"]
    # One sample each on a shared machine: the speed ratio only has to be a ratio of the two medians.
    assert pool["speed"] == pytest.approx(face["benchmarks"][0]["speedup_default"] ** 0.5
                                          * face["benchmarks"][1]["speedup_default"] ** 0.5), pool
    assert 0.5 < pool["rss"] < 3, pool
    md = (tmp_path / "results.md").read_text()
    assert "**pyperformance**: speed and peak RSS relative to pymalloc" in md
    assert "| benchmark | pymalloc µs | pymalloc RSS MiB | speed pool |" in md
    from poolalloc.bench.cli import parse_args
    assert parse_args([]).only == ["c", "python", "lua", "preload", "instr"]


def test_bench_pyperformance_missing_is_one_line(tmp_path):
    """Without pyperformance the face is skipped with one line naming the
    pip command, and no traceback."""
    code = BLOCK.format(mods=["pyperformance"], argv=["bench", "--only", "pyperformance", "--out", str(tmp_path)])
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    hint = "pyperformance skipped: pyperformance is not installed here: pip install 'poolalloc[pyperformance]'"
    lines = [ln for ln in r.stderr.splitlines() if "pyperformance" in ln and "bench:" in ln and "%" not in ln]
    assert lines == [f"bench: {hint}"], r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert json.loads((tmp_path / "results.json").read_text())["faces"]["pyperformance"]["status"] == "skipped"


@pytest.mark.parametrize("env, allocator, problem", [
    ({"POOLALLOC": "1"}, "pool", None),
    ({}, "pymalloc", None),
    ({"POOLALLOC": "1", "POOLALLOC_DOMAINS": "bogus"}, None,
     "pyperf_run: POOLALLOC=1 but poolalloc is not installed in this interpreter"),
    ({"PYTHONMALLOC": "malloc", "LD_PRELOAD": "/nonexistent/libmimalloc.so"}, None,
     "pyperf_run: LD_PRELOAD=/nonexistent/libmimalloc.so is not mapped in this process"),
])
def test_pyperf_run_checks_the_allocator(env, allocator, problem):
    """pyperf_run, one run of the face, measures only under the allocator
    the environment asks for: under POOLALLOC=1 poolalloc served the
    benchmark's allocations; where the set-up did not take, it exits 3
    with one line and measures nothing."""
    script = pyperformance_script("deepcopy")
    e = {k: v for k, v in os.environ.items() if k not in ("POOLALLOC", "PYTHONMALLOC", "LD_PRELOAD")}
    r = subprocess.run([sys.executable, "-m", "poolalloc.bench.pyperf_run", script, "1", "0.001"],
                       env=dict(e, **env), capture_output=True, text=True, timeout=60)
    if problem:
        assert r.returncode == 3 and r.stdout == "" and problem in r.stderr, r.stdout + r.stderr
        return
    assert r.returncode == 0, r.stderr
    line = json.loads(r.stdout)
    assert line["allocator"] == allocator and set(line["benchmarks"]) == {"deepcopy", "deepcopy_reduce", "deepcopy_memo"}
    assert line["us"] == pytest.approx(statistics.geometric_mean(line["benchmarks"].values()))
    assert line["us"] > 0 and line["peak_rss_kb"] > 5000
    assert (line.get("pool_allocs", 0) > 100_000) == (allocator == "pool"), line


@pytest.mark.parametrize("args, message", [
    (["--only", "fortran"], "--only: unknown name 'fortran' (choose from c, python, lua, preload, instr, pyperformance)"),
    (["--peers", "tcmalloc"], "--peers: unknown name 'tcmalloc'"),
    (["--rounds", "0"], "--rounds must be between 1 and 101, not 0"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bench_usage_errors(args, message):
    r = poolalloc_cmd("bench", *args)
    assert r.returncode == 2
    assert message in r.stderr and "usage: python -m poolalloc bench" in r.stderr


def test_bench_readme_without_markers_is_refused_before_the_run(tmp_path):
    """--readme names a file without the results.md marker lines: exit 2
    at once, the file untouched, nothing run."""
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    r = poolalloc_cmd("bench", "--smoke", "--only", "python", "--out", str(tmp_path / "out"), "--readme", str(readme))
    assert r.returncode == 2
    assert r.stderr.endswith(f"--readme {readme}: needs one <!-- results.md --> line and, after it, one "
                             "<!-- /results.md --> line\n"), r.stderr
    assert readme.read_text() == "# no markers\n" and not (tmp_path / "out" / "results.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--out", "map.txt"], "--out must name a .png file, not 'map.txt'"),
    (["--scale", "0"], "--scale must be > 0, not 0.0"),
    (["--workload", "nope"], "invalid choice: 'nope'"),
])
def test_map_usage_errors(args, message):
    r = poolalloc_cmd("map", *args)
    assert r.returncode == 2
    assert message in r.stderr


def test_map_png_matches_stats(tmp_path):
    """The map's per-class pages and used blocks are the pool's own counts."""
    png, js = tmp_path / "m.png", tmp_path / "m.json"
    r = poolalloc_cmd("map", "--out", str(png), "--json", str(js), "--scale", "0.3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert png.read_bytes()[:8] == PNG
    data = json.loads(js.read_text())
    assert data["classes"] and data["totals"]["pages"] == len(data["pages"])
    for c in data["classes"]:
        st = c["stats"]
        assert c["block_size"] == st["size"]
        assert c["pages"] == st["pages"], c
        assert c["used"] == st["live_blocks"], c
        assert c["capacity"] == st["live_blocks"] + st["free_blocks"], c
    assert data["totals"]["cached"] == sum(c["cached"] for c in data["classes"]) == sum(p["cached"] for p in data["pages"])
    assert f"{data['totals']['pages']} pages in {len(data['classes'])} size classes" in r.stdout
    assert f"{data['totals']['cached']} of the pages empty, cached for reuse" in r.stdout


def test_map_in_process_returns_the_data(tmp_path):
    """poolalloc.map() attaches to this interpreter's pool: objects kept
    alive show up as used blocks of their class."""
    code = f"""
import json, poolalloc
poolalloc.install()
keep = [bytearray(200) for _ in range(5000)]
d = poolalloc.map(out={str(tmp_path / 'p.png')!r})
st = poolalloc.stats()
cls = [c for c in d['classes'] if c['block_size'] >= 201][0]  # the 201-byte buffers
print(json.dumps({{'png': d['png'], 'used': cls['used'], 'pages': cls['pages'], 'n': len(d['pages'])}}))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["used"] >= 5000 and out["pages"] >= 1 and out["n"] >= out["pages"]
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG


BLOCK = "import sys\nfor m in {mods!r}:\n    sys.modules[m] = None\n" \
        "from poolalloc.__main__ import main\nsys.exit(main({argv!r}))\n"


@pytest.mark.parametrize("argv, mods, names", [
    (["bench", "--quick"], ["tqdm"], "tqdm"),
    (["bench", "--smoke", "--only", "python"], ["tqdm", "matplotlib"], "tqdm and matplotlib"),
    (["map", "--out", "x.png"], ["numpy"], "numpy"),
])
def test_missing_extra_is_one_line(argv, mods, names, tmp_path):
    """Without the `bench` extra, bench and map print one line naming the
    pip command, no traceback, and exit 1 before doing any work."""
    r = subprocess.run([sys.executable, "-c", BLOCK.format(mods=mods, argv=argv)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr == f"python -m poolalloc {argv[0]}: needs {names}, not installed here: " \
                       "pip install 'poolalloc[bench]'\n"
    assert r.stdout == "" and list(tmp_path.iterdir()) == []


def test_preload_path_is_a_working_ld_preload(tmp_path):
    """`python -m poolalloc preload-path` prints the libpoolmalloc.so shipped
    in the package; preloading it serves a real program's malloc from libpool
    (its POOL_STATS report at exit), with the same output as without it."""
    import poolalloc
    r = poolalloc_cmd("preload-path")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    path = r.stdout.strip()
    assert r.stdout == path + "\n" and os.path.basename(path) == "libpoolmalloc.so"
    assert os.path.dirname(path) == os.path.dirname(os.path.abspath(poolalloc.__file__))
    (tmp_path / "in.txt").write_text("".join(f"{i * 7919 % 1000}\n" for i in range(2000)))
    plain = subprocess.run(["sort", "-n", str(tmp_path / "in.txt")], capture_output=True, text=True, timeout=60)
    pre = subprocess.run(["sort", "-n", str(tmp_path / "in.txt")], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, LD_PRELOAD=path, POOL_STATS="1"))
    assert pre.returncode == 0 and pre.stdout == plain.stdout and len(pre.stdout.splitlines()) == 2000
    assert pre.stderr.startswith("poolalloc: POOL_STATS report at exit (live blocks are leaks)\n"), pre.stderr
    assert poolalloc_cmd("preload-path", "extra").returncode == 2


def test_map_in_process_without_the_extra(tmp_path):
    """poolalloc.map() without numpy raises ModuleNotFoundError naming the
    pip command, and writes nothing."""
    code = f"""
import sys
sys.modules["numpy"] = None
import poolalloc
try:
    poolalloc.map({str(tmp_path / 'p.png')!r})
except ModuleNotFoundError as e:
    print(type(e).__name__, e.name, str(e))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ModuleNotFoundError numpy poolalloc.map() needs numpy: pip install 'poolalloc[bench]'\n"
    assert list(tmp_path.iterdir()) == []
