"""poolalloc.bench.instr -- the instruction-count face: callgrind counts the
instructions of one malloc+free pair, for libpool's entry points and for
each peer in the same loop.

Each pair is a loop of N pairs of one size (one block of that size kept
live, so the page never empties) run twice under `valgrind --tool=callgrind`,
with N and 2N pairs: (Ir(2N) - Ir(N)) / N is the cost of one pair, loop
included, with the program's start-up and exit cancelled out.  The counts
are deterministic (libpool's to the instruction; a peer with periodic work,
mimalloc's, moves in the first decimal).

  C pairs     bench_pairs --pairs-only of the CMake build: pool_malloc +
              pool_free called directly, the peers (glibc, mimalloc 2 and 3,
              jemalloc) through function pointers
  Lua pair    the same program's --api lua: pool_heap_lua_alloc called
              through a lua_Alloc pointer, with a type tag and a limit
  Python pair PyObject_Malloc + PyObject_Free from a C loop in a small
              extension compiled here (cc and Python.h), under POOLALLOC=1
              (the plug-in) and under pymalloc

Without valgrind the face is skipped with a note; a pair whose program,
compiler or peer is missing is skipped alone, with a note."""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from .harness import POOL, clean_env
from .peers import peer_env

# The environment a peer needs when bench_pairs dlopens it under valgrind:
# jemalloc's initial-exec TLS wants spare static TLS, which bench_pairs
# otherwise gets by re-executing itself.
STATIC_TLS = {"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=16384", "POOL_BENCH_STATIC_TLS": "1"}

# The Python pair: a C loop, so that nothing but the pair runs per iteration.
PAIRLOOP_C = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* pairs(n, size): one block of `size` kept live, then n PyObject_Malloc +
** PyObject_Free pairs of `size` bytes. */
static PyObject *pairs(PyObject *self, PyObject *args) {
    Py_ssize_t n, size;
    if (!PyArg_ParseTuple(args, "nn:pairs", &n, &size)) return NULL;
    void *keep = PyObject_Malloc((size_t)size);
    for (Py_ssize_t i = 0; i < n; i++) {
        void *p = PyObject_Malloc((size_t)size);
        __asm__ volatile("" : : "r"(p) : "memory");   /* keep the pair */
        PyObject_Free(p);
    }
    PyObject_Free(keep);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"pairs", pairs, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pairloop", NULL, -1, methods};
PyMODINIT_FUNC PyInit__pairloop(void) { return PyModule_Create(&module); }
"""

C_SIZE, LUA_SIZE, PY_SIZE = 32, 48, 32


class Pair:
    """One row: a pair through one allocator.  `argv(n)` is the program
    that runs n pairs, `env` its extra environment."""

    def __init__(self, key, group, allocator, what, argv, env=None):
        self.key, self.group, self.allocator, self.what = key, group, allocator, what
        self.argv, self.env = argv, env or {}


def callgrind_ir(argv, env, out):
    """Instructions callgrind collects running `argv`, or an error string."""
    r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(env), timeout=900)
    m = re.search(r"Collected : (\d+)", r.stderr)
    if r.returncode or not m:
        return f"exit {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}"
    if "skipped" in r.stdout:       # bench_pairs: a peer it could not load
        return r.stdout.strip().splitlines()[-1]
    return int(m.group(1))


def per_pair(pair, n, tmp):
    """(instructions per pair, None) from runs of n and 2n pairs, or
    (None, why not)."""
    irs = []
    for k in (n, 2 * n):
        ir = callgrind_ir(pair.argv(k), pair.env, pathlib.Path(tmp) / f"callgrind.{pair.key}.{k}")
        if isinstance(ir, str):
            return None, ir
        irs.append(ir)
    return (irs[1] - irs[0]) / n, None


def build_pairloop(tmp):
    """Compile the Python pair's extension into `tmp` for this interpreter;
    '' on success, else why not."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    cc = cc if shutil.which(cc) else "cc"
    include = sysconfig.get_paths()["include"]
    if not shutil.which(cc):
        return "no C compiler (cc) to build the PyObject_Malloc loop"
    if not os.path.isfile(os.path.join(include, "Python.h")):
        return f"no Python.h in {include} (the Python headers: apt-get install python3-dev)"
    src = pathlib.Path(tmp) / "_pairloop.c"
    src.write_text(PAIRLOOP_C)
    so = pathlib.Path(tmp) / ("_pairloop" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    r = subprocess.run([cc, "-O2", "-shared", "-fPIC", f"-I{include}", "-o", str(so), str(src)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return "" if r.returncode == 0 else f"building the PyObject_Malloc loop failed: {r.stdout[-500:]}"


def pairs_n(ctx):
    """Pairs in the shorter of the two runs."""
    return 100_000 if ctx.smoke else 200_000 if ctx.quick else 1_000_000


def plan(ctx, exe, pyloop_dir):
    """The pairs to count: [Pair], [notes]."""
    rows, notes = [], []
    if exe:
        def pairs_argv(api, size):
            return lambda n: [str(exe), "--pairs-only", str(n), "--size", str(size), "--api", api]
        rows.append(Pair("c:pool", "c", POOL, f"pool_malloc + pool_free, {C_SIZE} B", pairs_argv("pool", C_SIZE)))
        peers = (["glibc"] if "glibc" in ctx.peers else []) + list(ctx.libs)
        env = {**STATIC_TLS, **peer_env(ctx.libs)}
        rows += [Pair(f"c:{p}", "c", p, f"malloc + free through function pointers, {C_SIZE} B",
                      pairs_argv(p, C_SIZE), env) for p in peers]
        rows.append(Pair("lua:pool", "lua", POOL, f"pool_heap_lua_alloc through a lua_Alloc pointer, {LUA_SIZE} B",
                         pairs_argv("lua", LUA_SIZE)))
    else:
        notes.append("C and Lua pairs skipped: " + ctx.missing("bench_pairs"))
    if pyloop_dir:
        code = f"import sys; sys.path.insert(0, {str(pyloop_dir)!r}); import _pairloop; _pairloop.pairs({{n}}, {PY_SIZE})"
        argv = lambda n: [sys.executable, "-c", code.format(n=n)]   # noqa: E731
        fixed = {"PYTHONHASHSEED": "0"}
        rows.append(Pair("python:pool", "python", POOL, f"PyObject_Malloc + PyObject_Free, {PY_SIZE} B, POOLALLOC=1",
                         argv, {**fixed, "POOLALLOC": "1"}))
        rows.append(Pair("python:pymalloc", "python", "pymalloc", f"PyObject_Malloc + PyObject_Free, {PY_SIZE} B",
                         argv, fixed))
    return rows, notes


class InstrFace:
    name = "instr"

    def prepare(self, ctx):
        if not shutil.which("valgrind"):
            return "valgrind is not installed (apt-get install valgrind)"
        self.tmp = tempfile.TemporaryDirectory(prefix="poolalloc-instr-")
        why = build_pairloop(self.tmp.name)
        self.rows, self.notes = plan(ctx, ctx.artifact("bench_pairs"), None if why else self.tmp.name)
        if why:
            self.notes.append(f"Python pair skipped: {why}")
        if not self.rows:
            self.tmp.cleanup()
            return "; ".join(self.notes)
        self.n = pairs_n(ctx)
        return ""

    def steps(self):
        return len(self.rows)

    def run(self, ctx, tick):
        out = []
        try:
            for row in self.rows:
                count, why = per_pair(row, self.n, self.tmp.name)
                if why:
                    self.notes.append(f"{row.key} skipped: {why}")
                else:
                    out.append({"key": row.key, "group": row.group, "allocator": row.allocator, "what": row.what,
                                "instructions": round(count, 1)})
                tick()
        finally:
            self.tmp.cleanup()
        return {"status": "ok", "kind": "instructions", "unit": "instructions per pair", "pairs": self.n,
                "rows": out, "notes": self.notes}


def count_of(results, key):
    """Instructions per pair of row `key` (e.g. "c:pool") in a run's
    results, or None when it was not counted."""
    face = results.get("faces", {}).get("instr", {})
    if face.get("status") != "ok":
        return None
    return next((r["instructions"] for r in face["rows"] if r["key"] == key), None)
