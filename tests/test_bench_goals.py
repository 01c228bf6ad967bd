"""poolalloc.bench.goals on synthetic runs: each goal is judged met, not met
or not measured from a run's results, and results.md shows the verdicts.
The faces are built by the harness's own face_result, so they have the
shape real runs have; no benchmark runs here."""
import pytest

from poolalloc.bench.goals import GOALS, evaluate
from poolalloc.bench.harness import Case, face_result
from poolalloc.bench.report import BEGIN, END, render, splice

MACHINE = {"cpu": "test cpu", "cpus": 2, "memory": "1 GiB", "system": "Linux", "python": "3.11"}


def face(medians, unit="s", default="glibc", rss=None, groups=None):
    """A face from {benchmark: {allocator: median}} (one sample each),
    peak RSS {benchmark: {allocator: kB}} (default 1000 kB) and
    {benchmark: group}."""
    cases = []
    for name, by_alloc in medians.items():
        c = Case(name, {a: {} for a in by_alloc}, group=(groups or {}).get(name))
        for a, m in by_alloc.items():
            c.samples[a] = [m]
            c.rss[a] = (rss or {}).get(name, {}).get(a, 1000)
        cases.append(c)
    return face_result(cases, unit, unit == "Mpairs/s", default, [])


def instr(**counts):
    """An instr face from key=count, keys like c_pool for "c:pool"."""
    rows = []
    for k, v in counts.items():
        group, alloc = k.split("_", 1)
        rows.append({"key": f"{group}:{alloc}", "group": group, "allocator": alloc, "what": f"{group} pair",
                     "instructions": v})
    return {"status": "ok", "kind": "instructions", "unit": "instructions per pair", "pairs": 1000, "rows": rows,
            "notes": []}


def run(**faces):
    return {"date": "2026-12-05T12:00:00+00:00", "machine": MACHINE, "quick": False, "faces": faces}


def verdicts(results):
    """{(goal, issues): (status, measured)}."""
    return {(g["goal"], g["issues"]): (g["status"], g["measured"]) for g in evaluate(results)}


def find(results, start, issues):
    v = verdicts(results)
    hits = [k for k in v if k[0].startswith(start) and k[1] == issues]
    assert len(hits) == 1, (start, issues, list(v))
    return v[hits[0]]


PATTERNS = ("fixed", "batchrand", "churn")


def c_face(pool, mimalloc=100.0, jemalloc=100.0, mimalloc3=100.0):
    """C face, Mpairs/s: every pattern at the same rates but `pool`, a
    {pattern: rate} or one rate."""
    pool = pool if isinstance(pool, dict) else dict.fromkeys(PATTERNS, pool)
    return face({p: {"pool": pool[p], "glibc": 50.0, "mimalloc": mimalloc, "mimalloc3": mimalloc3,
                     "jemalloc": jemalloc} for p in PATTERNS}, unit="Mpairs/s")


def test_c_goals_met():
    r = run(c=c_face(130.0))
    assert find(r, "C pair patterns: geomean speed vs mimalloc 2", "2") == ("met", "1.30x")
    assert find(r, "C pair patterns: geomean speed vs mimalloc 2", "14") == ("met", "1.30x")
    assert find(r, "C pair patterns: geomean speed vs mimalloc 3", "14") == ("met", "1.30x")
    assert find(r, "C pair patterns: each pattern", "14")[0] == "met"


def test_c_goals_not_met_names_the_pattern():
    """1.1x mimalloc meets issue 2's bar, not issue 14's; churn at 0.8x of
    jemalloc (the best peer there) fails the per-pattern goal."""
    r = run(c=face({"fixed": {"pool": 110.0, "mimalloc": 100.0, "jemalloc": 90.0},
                    "churn": {"pool": 40.0, "mimalloc": 36.4, "jemalloc": 50.0}}, unit="Mpairs/s"))
    assert find(r, "C pair patterns: geomean speed vs mimalloc 2", "2")[0] == "met"
    assert find(r, "C pair patterns: geomean speed vs mimalloc 2", "14")[0] == "not met"
    assert find(r, "C pair patterns: geomean speed vs mimalloc 3", "14") == \
        ("not measured", "mimalloc3 did not run on every benchmark")
    status, measured = find(r, "C pair patterns: each pattern", "14")
    assert status == "not met"
    assert measured == "lowest churn 0.80x (jemalloc); below 0.9x: churn 0.80x"


def test_goals_of_faces_that_did_not_run_are_not_measured():
    r = run(c=c_face(130.0), lua={"status": "skipped", "note": "poollua not found"})
    rows = evaluate(r)
    assert len(rows) == len(GOALS)
    for g in rows:
        if g["goal"].startswith("C pair"):
            assert g["status"] == "met"
        else:
            assert g["status"] == "not measured", g
    assert find(r, "Lua workloads: geomean speed vs stock", "4") == ("not measured", "the lua face did not run")
    assert find(r, "threads:", "14") == ("not measured", "the preload face did not run")


def test_a_missing_peer_is_not_measured():
    """Without mimalloc in the run, the goals against it are not measured;
    the best-peer goal uses the peers that ran."""
    c = face({p: {"pool": 95.0, "glibc": 50.0, "jemalloc": 100.0} for p in PATTERNS}, unit="Mpairs/s")
    r = run(c=c)
    assert find(r, "C pair patterns: geomean speed vs mimalloc 2", "14") == \
        ("not measured", "mimalloc did not run on every benchmark")
    assert find(r, "C pair patterns: each pattern", "14") == ("met", "lowest fixed 0.95x (jemalloc)")


def test_instruction_goals():
    r = run(instr=instr(c_pool=45.0, c_mimalloc=50.1, c_mimalloc3=45.8, lua_pool=24.0, python_pool=104.0,
                        python_pymalloc=79.0))
    assert find(r, "instructions per pool_malloc + pool_free pair (callgrind)", "2") == ("not met", "45")
    assert find(r, "instructions per pool_malloc + pool_free pair vs", "14") == \
        ("met", "45 vs 50 (mimalloc 3: 46)")
    assert find(r, "instructions per PyObject_Malloc", "15") == ("not met", "104 vs 79")
    assert find(r, "instructions per malloc + free pair through lua_Alloc", "16") == ("met", "24")
    # the Python pair not counted (no compiler): only its goal is not measured
    r = run(instr=instr(c_pool=74.0, c_mimalloc=50.0, lua_pool=74.0))
    assert find(r, "instructions per PyObject_Malloc", "15") == ("not measured", "python:pool was not counted")
    assert find(r, "instructions per pool_malloc + pool_free pair vs", "14") == ("not met", "74 vs 50")


def test_lua_groups_and_compute_band():
    """The allocation-heavy goals take the program and micro workloads
    only; the compute-only goal wants each within 2% of stock."""
    medians = {"json": {"pool": 0.5, "lua5.4": 0.75, "mimalloc": 0.6, "mimalloc3": 0.6},       # 1.5x, 1.2x, 1.2x
               "trees": {"pool": 0.5, "lua5.4": 0.75, "mimalloc": 0.6, "mimalloc3": 0.575},    # 1.5x, 1.15x
               "float": {"pool": 1.0, "lua5.4": 0.97, "mimalloc": 1.0, "mimalloc3": 1.0},      # 0.97x
               "nbody": {"pool": 1.0, "lua5.4": 1.01, "mimalloc": 1.0, "mimalloc3": 1.0}}
    groups = {"json": "program", "trees": "micro", "float": "compute", "nbody": "compute"}
    rss = {"trees": {"pool": 1100, "lua5.4": 1000}}
    r = run(lua=face(medians, default="lua5.4", groups=groups, rss=rss))
    assert find(r, "Lua allocation-heavy workloads (program + micro)", "16") == ("met", "1.50x")
    assert find(r, "Lua allocation-heavy workloads: geomean speed vs lua5.4 + mimalloc 2", "16") == ("met", "1.20x")
    assert find(r, "Lua allocation-heavy workloads: geomean speed vs lua5.4 + mimalloc 3", "16") == ("met", "1.17x")
    assert find(r, "Lua compute-only", "16") == ("not met", "float 0.97x, nbody 1.01x")
    assert find(r, "Lua workloads: peak RSS", "4, 16") == ("not met", "above: trees 1.10x")
    assert find(r, "Lua workloads: geomean speed vs stock", "4")[0] == "not met"   # 1.22x < 1.5x
    r["faces"]["lua"] = face({**medians, "trees": {**medians["trees"], "mimalloc3": 0.55}}, default="lua5.4",
                             groups=groups)
    # 1.2x and 1.1x: 1.149x, which two decimals would show as the bar
    assert find(r, "Lua allocation-heavy workloads: geomean speed vs lua5.4 + mimalloc 3", "16") == \
        ("not met", "1.149x")


def test_preload_and_python_goals():
    pre = face({"larson": {"pool": 0.8, "glibc": 2.0, "mimalloc": 1.0},
                "prodcons": {"pool": 0.9, "glibc": 0.5, "mimalloc": 1.0}},
               rss={"larson": {"pool": 1200, "glibc": 1000}})
    r = run(preload=pre, python=face({"dicts": {"pool": 0.9, "pymalloc": 1.0, "mimalloc": 1.0}}, default="pymalloc"))
    t = (0.8 * 0.9) ** 0.5
    assert find(r, "LD_PRELOAD programs: geomean time", "14") == ("met", f"{t:.2f}x")
    assert find(r, "LD_PRELOAD programs: peak RSS", "5, 14") == ("not met", "above: larson 1.20x")
    assert find(r, "LD_PRELOAD programs: each one's time vs the fastest", "5") == ("not met", "slowest prodcons 1.80x")
    assert find(r, "Python workloads: geomean speed vs pymalloc", "3, 15") == ("met", "1.11x")
    assert find(r, "Python workloads: peak RSS", "3, 15") == ("met", "highest dicts 1.00x")


@pytest.mark.parametrize("quick, smoke, seconds, expected", [
    (True, False, 100.0, ("met", "100 s")),
    (True, False, 130.0, ("not met", "130 s")),
    (False, False, 100.0, ("not measured", "timed on --quick runs only")),
    (True, True, 10.0, ("not measured", "timed on --quick runs only")),
])
def test_quick_run_time(quick, smoke, seconds, expected):
    ok = face({"x": {"pool": 1.0, "glibc": 1.0}})
    r = {**run(c=ok, python=ok, lua=ok, preload=ok), "quick": quick, "smoke": smoke, "seconds": seconds}
    assert find(r, "bench --quick", "6") == expected
    del r["faces"]["lua"]
    assert find(r, "bench --quick", "6")[0] == "not measured"


def test_results_md_shows_the_goals(tmp_path):
    """results.md opens with the command and a goals table with every
    goal's verdict; --readme puts it between the markers, once, and
    refuses a file without them."""
    r = run(c=c_face(80.0), instr=instr(c_pool=74.0, c_mimalloc=50.0, lua_pool=74.0, python_pool=104.0,
                                         python_pymalloc=79.0))
    r["command"], r["seconds"] = "python -m poolalloc bench --out x", 12.0
    r["goals"] = evaluate(r)
    md = render(r, markdown=True)
    assert md.startswith("Measured 2026-12-05 on test cpu, 2 CPUs, 1 GiB, Linux, Python 3.11, "
                         "by `python -m poolalloc bench --out x`, 12 s.")
    n_met = sum(g["status"] == "met" for g in r["goals"])
    assert f"**goals** ({n_met} of {len(GOALS)} met, " in md
    assert "| C pair patterns: geomean speed vs mimalloc 2 (14) | >= 1.2x | 0.80x | not met |" in md
    assert "| instructions per malloc + free pair through lua_Alloc (pool_heap_lua_alloc) (16) | <= 25 | 74 | " \
           "not met |" in md
    assert "| Lua workloads: geomean speed vs stock lua5.4 (4) | >= 1.5x | the lua face did not run | " \
           "not measured |" in md
    assert "| python pair | pymalloc | 79.0 |" in md
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n")
    assert splice(readme, md) == ""
    assert splice(readme, md) == ""   # twice: the same file
    assert readme.read_text() == f"# x\n\nbefore\n{BEGIN}\n{md.rstrip()}\n{END}\nafter\n"
    bad = tmp_path / "BAD.md"
    bad.write_text(f"{END}\n{BEGIN}\n")
    assert "needs one" in splice(bad, md)
    assert splice(tmp_path / "missing.md", md) == "No such file or directory"


def test_readme_shows_the_latest_results():
    """README.md's generated block is docs/results/results.md, unedited, and
    that file comes from the same run as the results.json beside it (a
    change to the renderer or the goals does not force a new run; the next
    run picks it up)."""
    import json

    from conftest import ROOT
    docs = ROOT / "docs" / "results"
    md = (docs / "results.md").read_text()
    lines = (ROOT / "README.md").read_text().split("\n")
    block = "\n".join(lines[lines.index(BEGIN) + 1:lines.index(END)])
    assert block == md.rstrip("\n")
    data = json.loads((docs / "results.json").read_text())
    assert md.startswith(f"Measured {data['date'][:10]} on {data['machine']['cpu']}")
    assert f"by `{data['command']}`" in md.split("\n")[0]
    for g in data["goals"]:
        assert f"| {g['goal']} ({g['issues']}) | {g['target']} |" in md
    assert (docs / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
