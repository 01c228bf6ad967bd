"""poolalloc.bench.cli -- `python -m poolalloc bench`: runs the C pair
patterns, the Python workloads, the Lua workloads and the LD_PRELOAD stress
programs, each under libpool, the runtime's default allocator and the
installed peers, interleaved, and reports medians, speed-ups and peak RSS
in results.json, results.md and bench.png."""
import argparse
import datetime
import json
import pathlib
import sys
import time

from .c import CFace
from .goals import evaluate
from .harness import Context, UsageError, machine, skipped
from .instr import InstrFace
from .lua import LuaFace
from .peers import PEERS
from .preload import PreloadFace
from .pyperformance import PyperformanceFace
from .python import PythonFace
from .report import chart, render, splice

FACES = {"c": CFace, "python": PythonFace, "lua": LuaFace, "preload": PreloadFace, "instr": InstrFace,
         "pyperformance": PyperformanceFace}
# The faces run without --only; pyperformance takes about 20 minutes.
DEFAULT_FACES = ("c", "python", "lua", "preload", "instr")

USAGE = """\
python -m poolalloc bench [--quick] [--out DIR] [--only FACES] [--rounds N]
                          [--peers LIST] [--build-dir DIR] [--source DIR]
                          [--readme FILE]

Runs the benchmark suite: libpool against the runtime's default allocator
and against the installed peers (glibc, mimalloc, mimalloc3, jemalloc), in one run,
interleaved (the allocator order rotates every round), and prints medians,
the speed-up over the default and over mimalloc, and peak RSS.  Writes
DIR/results.json, DIR/results.md (the tables in Markdown) and DIR/bench.png;
both results files open with the project's goals, judged on this run (met,
not met, or not measured when their face did not run).  --readme FILE
puts results.md into FILE between its <!-- results.md --> and
<!-- /results.md --> lines.

faces (--only, comma-separated; default c,python,lua,preload,instr):
  c        the C pair patterns (bench_pairs of the CMake build), in Mpairs/s
  python   poolalloc.workloads under pymalloc (the default), POOLALLOC=1,
           PYTHONMALLOC=malloc (glibc) and glibc+LD_PRELOAD of each peer
  lua      the Lua workloads (shipped in poolalloc/bench/lua): poollua of
           the CMake build against lua5.4 (and LD_PRELOAD peers)
  preload  the stress programs of the CMake build under
           LD_PRELOAD=libpoolmalloc.so and peers
  instr    instructions per malloc+free pair (valgrind's callgrind): libpool,
           the peers, the Lua path (bench_pairs) and PyObject_Malloc +
           PyObject_Free under POOLALLOC=1 and pymalloc
  pyperformance
           30 scripts of CPython's pyperformance suite (in-process under
           pyperf) under pymalloc, POOLALLOC=1 and glibc with mimalloc 2
           and 3 preloaded; time and peak RSS relative to pymalloc.  Not
           run by default (about 20 minutes); needs
           pip install 'poolalloc[pyperformance]'
The libpool variant is called "pool" in every face.

Native artifacts (bench_pairs, poollua, libpoolmalloc.so) come from the CMake
build directory: --build-dir, else $POOL_BUILD_DIR, else <source>/build, where
<source> is --source, else $POOL_SOURCE_DIR, else the poolalloc checkout
containing the current directory.  If an artifact is missing and the
source is known, bench builds it with `cmake -S <source> -B <build> &&
cmake --build <build>`; otherwise the face is skipped with a note saying
how to make it.  The Python face needs no build.
Peers: mimalloc 2 and jemalloc from Debian, mimalloc 3 from pip's
cmeel-mimalloc; $POOL_BENCH_MIMALLOC, $POOL_BENCH_MIMALLOC3 and
$POOL_BENCH_JEMALLOC override the library paths; a peer that is not
installed is skipped with a note.
"""


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m poolalloc bench", usage=USAGE.split("\n\n")[0],
                                description=USAGE.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer rounds, smaller workloads (under 2 minutes)")
    p.add_argument("--out", default="bench-results", metavar="DIR",
                   help="directory for results.json and bench.png (default: ./bench-results)")
    p.add_argument("--only", default=",".join(DEFAULT_FACES), metavar="FACES",
                   help="comma-separated faces to run: c, python, lua, preload, instr, pyperformance "
                        "(default: all but pyperformance)")
    p.add_argument("--rounds", type=int, metavar="N", help="interleaved rounds per benchmark")
    p.add_argument("--peers", default=",".join(PEERS), metavar="LIST",
                   help="peers to compare with, from glibc, mimalloc, mimalloc3, jemalloc (default: all)")
    p.add_argument("--build-dir", metavar="DIR", help="CMake build directory (default: $POOL_BUILD_DIR or <source>/build)")
    p.add_argument("--source", metavar="DIR", help="poolalloc source tree (default: $POOL_SOURCE_DIR or the checkout here)")
    p.add_argument("--readme", metavar="FILE", help="replace FILE's <!-- results.md --> block with results.md")
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tests: one tiny round
    ns = p.parse_args(argv)
    ns.only = _names(p, "--only", ns.only, FACES)
    ns.peers = _names(p, "--peers", ns.peers, PEERS, allow_empty=True)
    if ns.rounds is not None and not 1 <= ns.rounds <= 101:
        p.error(f"--rounds must be between 1 and 101, not {ns.rounds}")
    return ns


def _names(p, option, text, allowed, allow_empty=False):
    """The comma-separated names of `text`, checked against `allowed`."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        p.error(f"{option}: unknown name {bad[0]!r} (choose from {', '.join(allowed)})")
    if not names and not allow_empty:
        p.error(f"{option}: give at least one of {', '.join(allowed)}")
    return [n for n in allowed if n in names]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ns = parse_args(argv)
    from tqdm import tqdm

    out = pathlib.Path(ns.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        sys.stderr.write(f"python -m poolalloc bench: cannot create --out {out}: {exc.strerror}\n")
        return 2
    t0 = time.time()
    log = lambda msg: tqdm.write(msg, file=sys.stderr)   # noqa: E731
    try:
        ctx = Context(ns, log)
    except UsageError as exc:
        sys.stderr.write(f"python -m poolalloc bench: {exc}\n")
        return 2
    why = ns.readme and splice(pathlib.Path(ns.readme), "", dry=True)
    if why:
        sys.stderr.write(f"python -m poolalloc bench: --readme {ns.readme}: {why}\n")
        return 2
    from .. import __version__
    results = {"poolalloc": __version__, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "command": " ".join(["python -m poolalloc bench", *argv]),
               "machine": machine(), "quick": ctx.quick, "smoke": ns.smoke, "peers": ns.peers,
               "peer_libraries": ctx.libs, "faces": {}}
    faces, planned = [], 0
    for face in (FACES[f]() for f in ns.only):
        why = face.prepare(ctx)
        if why:
            results["faces"][face.name] = skipped(why)
            log(f"bench: {face.name} skipped: {why.splitlines()[0]}")
        else:
            faces.append(face)
            planned += face.steps()
    with tqdm(total=planned, unit="run", desc="bench", file=sys.stderr, dynamic_ncols=True) as bar:
        for face in faces:
            bar.set_postfix_str(face.name)
            results["faces"][face.name] = face.run(ctx, lambda: bar.update(1))
    results["faces"] = {f: results["faces"][f] for f in ns.only}
    results["seconds"] = round(time.time() - t0, 1)
    results["goals"] = evaluate(results)
    print(render(results))
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(render(results, markdown=True))
    chart(results, out / "bench.png")
    if ns.readme:
        why = splice(pathlib.Path(ns.readme), render(results, markdown=True))
        if why:
            sys.stderr.write(f"python -m poolalloc bench: --readme {ns.readme}: {why}\n")
            return 1
    print(f"\nwrote {out / 'results.json'}, results.md and bench.png ({results['seconds']} s)")
    return 0
