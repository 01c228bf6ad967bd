"""pyproc -- helpers for the poolalloc Python tests: run code in a fresh
interpreter (sys.executable) with a clean allocator environment, and check
that the installed poolalloc is built from the current sources."""
import functools
import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Variables that change which allocator a child interpreter uses.
ALLOC_VARS = ("POOLALLOC", "POOLALLOC_DOMAINS", "POOLALLOC_LIMIT", "PYTHONMALLOC", "PYTHONTRACEMALLOC",
              "PYTHONDEVMODE", "POOL_DEBUG", "POOL_STATS", "LD_PRELOAD")


@functools.lru_cache(maxsize=None)
def pooltest_dir():
    """The directory holding _pooltest, the test-only extension
    (tests/python/_pooltest.c: raw block helpers and the GIL-free stress),
    built here on first use and again when its source changes; it is never
    part of the installed package."""
    src = ROOT / "tests" / "python" / "_pooltest.c"
    out = pathlib.Path(os.environ.get("POOL_BUILD_DIR", ROOT / "build")) / "pooltest"
    ext = out / ("_pooltest" + sysconfig.get_config_var("EXT_SUFFIX"))
    if not ext.exists() or ext.stat().st_mtime < src.stat().st_mtime:
        out.mkdir(parents=True, exist_ok=True)
        cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
        cmd = [cc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread",
               "-I", sysconfig.get_paths()["include"], str(src), "-o", str(ext)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"building _pooltest failed: {' '.join(cmd)}\n{r.stderr[-4000:]}")
    return str(out)


def clean_env(extra=None):
    """os.environ without allocator settings, plus `extra` (None values
    dropped); _pooltest is importable in it."""
    env = {k: v for k, v in os.environ.items() if k not in ALLOC_VARS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (pooltest_dir(), env.get("PYTHONPATH"))))
    env.update({k: v for k, v in (extra or {}).items() if v is not None})
    return env


def run_py(code, *args, env=None, flags=(), timeout=180, check=True, cwd=None):
    """Run dedented `code` in a fresh interpreter; the CompletedProcess (text).
    With check, a non-zero exit fails the test showing both streams."""
    cmd = [sys.executable, *flags, "-c", textwrap.dedent(code), *args]
    r = subprocess.run(cmd, env=clean_env(env), capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if check and r.returncode != 0:
        raise AssertionError(f"child exited {r.returncode}\n--- stdout\n{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}")
    return r


def run_json(code, **kw):
    """run_py, then the JSON object the child printed on its last stdout line."""
    r = run_py(code, **kw)
    return json.loads(r.stdout.strip().splitlines()[-1])


def site_pth():
    return pathlib.Path(sysconfig.get_paths()["purelib"]) / "poolalloc-startup.pth"


@functools.lru_cache(maxsize=None)
def installed_problem():
    """Why the installed poolalloc cannot be tested ('' if it can)."""
    r = run_py("import poolalloc._poolalloc as m; print(m.__file__)", check=False)
    if r.returncode != 0:
        return f"poolalloc is not installed ({r.stderr.strip().splitlines()[-1:]}): run `pip install .` in {ROOT}"
    built = pathlib.Path(r.stdout.strip()).stat().st_mtime
    sources = [*ROOT.glob("libpool/src/*.[ch]"), *ROOT.glob("libpool/include/*.h"), *ROOT.glob("bindings/python/*.c"),
               *ROOT.glob("python/poolalloc/*.py")]
    stale = [str(s.relative_to(ROOT)) for s in sources if s.stat().st_mtime > built]
    if stale:
        return f"the installed poolalloc is older than {', '.join(stale[:4])}: run `pip install .` in {ROOT}"
    if not site_pth().exists():
        return f"{site_pth()} is missing: run `pip install .` in {ROOT}"
    return ""


def require_installed():
    """Fail (not skip) when the installed poolalloc is missing or stale."""
    problem = installed_problem()
    if problem:
        import pytest
        pytest.fail(problem, pytrace=False)
