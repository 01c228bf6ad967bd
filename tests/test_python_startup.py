"""Tests of installing poolalloc from start-up: POOLALLOC=1 (the .pth hook,
inherited by subprocesses) and `python -m poolalloc run`, with its usage
errors and the bench/map dispatch."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "python"))
from pyproc import clean_env, require_installed, run_json, run_py  # noqa: E402

REPORT = """
import json, os, sys
import poolalloc
from poolalloc import _poolalloc as c
print(json.dumps({"installed": poolalloc.is_installed(), "domains": poolalloc.installed_domains(),
                  "pool_object": c._is_block(id(bytes(range(99)))), "argv": sys.argv,
                  "name": __name__, "env": os.environ.get("POOLALLOC"), "path0": sys.path[0],
                  "limit": poolalloc.stats()["limit"]}))
"""


@pytest.fixture(autouse=True)
def _installed():
    require_installed()


def test_hook_costs_nothing_when_unset():
    out = run_json("import json, sys; print(json.dumps(sorted(m for m in sys.modules if 'poolalloc' in m)))")
    assert out == []
    out = run_json("import json, sys; print(json.dumps(sorted(m for m in sys.modules if 'poolalloc' in m)))",
                   env={"POOLALLOC": "0"})
    assert out == []


def test_poolalloc_1_installs_at_startup_and_reaches_subprocesses():
    """POOLALLOC=1: installed before the main module runs; a child and a
    grandchild started with subprocess inherit it through the environment."""
    out = run_json("""
        import json, subprocess, sys
        import poolalloc
        from poolalloc import _poolalloc as c
        grand = "; ".join([
            "import json, subprocess, sys, poolalloc",
            "from poolalloc import _poolalloc as c",
            "inner = subprocess.run([sys.executable, '-c', 'import poolalloc; print(poolalloc.is_installed())'],"
            " capture_output=True, text=True).stdout.strip()",
            "print(json.dumps({'installed': poolalloc.is_installed(), 'pool': c._is_block(id(bytes(range(80)))),"
            " 'grandchild': inner}))"])
        child = json.loads(subprocess.run([sys.executable, "-c", grand], capture_output=True, text=True).stdout)
        print(json.dumps({"installed": poolalloc.is_installed(), "domains": poolalloc.installed_domains(),
                          "startup_module": "poolalloc._startup" in sys.modules,
                          "pool": c._is_block(id(bytes(range(80)))), "child": child}))
    """, env={"POOLALLOC": "1"})
    assert out == {"installed": True, "domains": ["raw", "mem", "obj"], "startup_module": True, "pool": True,
                   "child": {"installed": True, "pool": True, "grandchild": "True"}}


def test_poolalloc_env_configuration():
    out = run_json(REPORT, env={"POOLALLOC": "1", "POOLALLOC_DOMAINS": "mem,obj", "POOLALLOC_LIMIT": "1073741824"})
    assert out["installed"] and out["domains"] == ["mem", "obj"] and out["limit"] == 1 << 30
    out = run_json(REPORT, env={"POOLALLOC": "0", "POOLALLOC_DOMAINS": "mem"})
    assert not out["installed"] and not out["pool_object"]


@pytest.mark.parametrize("env, message", [
    ({"POOLALLOC_DOMAINS": "heap"}, "poolalloc: not installed at start-up: unknown domain 'heap'"),
    ({"POOLALLOC_LIMIT": "lots"}, "poolalloc: not installed at start-up: POOLALLOC_LIMIT must be a number of bytes, not 'lots'"),
    ({"POOLALLOC_LIMIT": "-4"}, "poolalloc: not installed at start-up: limit must be >= 0 bytes"),
])
def test_bad_startup_configuration_is_reported_and_python_still_runs(env, message):
    r = run_py(REPORT, env={"POOLALLOC": "1", **env})
    assert message in r.stderr
    assert json.loads(r.stdout)["installed"] is False


def poolalloc_cmd(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "poolalloc", *args], capture_output=True, text=True,
                          cwd=cwd, env=clean_env(env), timeout=120)


def test_run_script_with_arguments(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(REPORT) + textwrap.dedent("""
        import subprocess
        child = subprocess.run([sys.executable, "-c", "import poolalloc; print(poolalloc.is_installed())"],
                               capture_output=True, text=True).stdout.strip()
        print(json.dumps({"child": child}))
        sys.exit(3)
    """))
    r = poolalloc_cmd("run", str(script), "a", "--flag", "-m", "x")
    assert r.returncode == 3, r.stderr
    first, second = (json.loads(line) for line in r.stdout.splitlines())
    assert first["installed"] and first["pool_object"] and first["name"] == "__main__"
    assert first["argv"] == [str(script), "a", "--flag", "-m", "x"]
    assert first["env"] == "1" and first["path0"] == str(tmp_path)
    assert second == {"child": "True"}


def test_run_module_with_options(tmp_path):
    (tmp_path / "mymod.py").write_text(textwrap.dedent(REPORT))
    r = poolalloc_cmd("run", "--domains", "obj", "--limit", "2000000000", "-m", "mymod", "x", "--y", cwd=tmp_path,
                      env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["installed"] and out["domains"] == ["obj"] and out["limit"] == 2000000000
    assert out["name"] == "__main__" and out["argv"] == [str(tmp_path / "mymod.py"), "x", "--y"]


def test_run_stdlib_module():
    r = subprocess.run([sys.executable, "-m", "poolalloc", "run", "-m", "json.tool", "--sort-keys"],
                       input='{"b": 1, "a": [1, 2]}', capture_output=True, text=True, env=clean_env(), timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout) == {"a": [1, 2], "b": 1}
    assert r.stdout.index('"a"') < r.stdout.index('"b"')


@pytest.mark.parametrize("args, message", [
    ((), "the following arguments are required: {run,bench,map,preload-path}"),
    (("frobnicate",), "invalid choice: 'frobnicate'"),
    (("run",), "expected a script or -m module to run"),
    (("run", "-m"), "argument -m: expected a module name"),
    (("run", "--bogus", "x.py"), "unrecognized arguments: --bogus"),
    (("run", "--limit", "abc", "x.py"), "argument --limit: invalid int value: 'abc'"),
    (("run", "--domains", "heap", "x.py"), "unknown domain 'heap'"),
    (("run", "--limit", "-1", "x.py"), "limit must be >= 0 bytes"),
])
def test_usage_errors(args, message):
    r = poolalloc_cmd(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "usage: python -m poolalloc" in r.stderr and message in r.stderr


def test_run_help():
    r = poolalloc_cmd("run", "--help")
    assert r.returncode == 0 and "usage: python -m poolalloc run" in r.stdout and "--domains" in r.stdout


@pytest.mark.parametrize("command, module", [("bench", "poolalloc.bench.cli"), ("map", "poolalloc._map")])
def test_bench_and_map_dispatch(command, module):
    """bench and map go to poolalloc.bench.cli.main / poolalloc._map.main with
    the rest of the arguments; a missing module gives a clear error."""
    out = run_json(f"""
        import io, json, sys, types, contextlib
        from poolalloc import __main__ as cli
        fake = types.ModuleType({module!r})
        seen = []
        fake.main = lambda argv: seen.append(argv) or 5
        sys.modules[{module!r}] = fake
        rc = cli.main([{command!r}, "--quick", "--out", "d"])
        sys.modules[{module!r}] = None          # now it cannot be imported
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc_missing = cli.main([{command!r}])
        print(json.dumps({{"rc": rc, "seen": seen, "rc_missing": rc_missing, "err": err.getvalue()}}))
    """)
    assert out["rc"] == 5 and out["seen"] == [["--quick", "--out", "d"]]
    assert out["rc_missing"] == 1
    assert out["err"] == f"python -m poolalloc: the '{command}' command is not available in this installation ({module} is missing)\n"
