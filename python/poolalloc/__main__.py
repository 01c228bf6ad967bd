"""python -m poolalloc -- run a program on libpool, benchmark it, map it.

    python -m poolalloc run [--domains D] [--limit N] app.py args...
    python -m poolalloc run [--domains D] [--limit N] -m module args...
    python -m poolalloc bench [options]     (poolalloc.bench)
    python -m poolalloc map [options]       (poolalloc._map)
    python -m poolalloc preload-path        the path of libpoolmalloc.so

`preload-path` prints the LD_PRELOAD library shipped in this package:
LD_PRELOAD=$(python -m poolalloc preload-path) program replaces program's
malloc with libpool, no CMake build needed.

`run` installs poolalloc, sets POOLALLOC=1 (and POOLALLOC_DOMAINS /
POOLALLOC_LIMIT) so child interpreters install it at start-up too, then
runs the program as __main__ the way `python app.py` / `python -m module`
would."""
import argparse
import importlib
import os
import runpy
import sys

COMMANDS = {"bench": "poolalloc.bench.cli", "map": "poolalloc._map"}
# What each command imports from the `bench` extra (setup.py's extras_require).
EXTRAS = {"bench": ("tqdm", "matplotlib"), "map": ("matplotlib", "numpy")}
EXTRA_HINT = "pip install 'poolalloc[bench]'"


def missing_extras(command):
    """The modules of the `bench` extra that `command` needs and that are
    not installed."""
    import importlib.util
    return [m for m in EXTRAS.get(command, ()) if importlib.util.find_spec(m) is None]


def extras_error(command, names):
    """The one line that says what to install, on stderr; exit status 1."""
    sys.stderr.write(f"python -m poolalloc {command}: needs {' and '.join(names)}, not installed here: "
                     f"{EXTRA_HINT}\n")
    return 1


def parser():
    p = argparse.ArgumentParser(prog="python -m poolalloc", description="libpool as CPython's allocator.")
    sub = p.add_subparsers(dest="command", metavar="{run,bench,map,preload-path}")
    sub.required = True
    run = sub.add_parser("run", help="run a script or module with poolalloc installed",
                         usage="python -m poolalloc run [--domains D] [--limit N] (script | -m module) [args ...]")
    run.add_argument("--domains", help="domains served from the pool, e.g. raw,mem,obj (default: all)")
    run.add_argument("--limit", type=int, help="cap, in bytes, on the memory the pool takes from the OS")
    sub.add_parser("bench", help="the benchmark suite (python -m poolalloc bench -h)", add_help=False)
    sub.add_parser("map", help="draw the pool's page map (python -m poolalloc map -h)", add_help=False)
    sub.add_parser("preload-path", help="print the path of libpoolmalloc.so, for LD_PRELOAD")
    return p, run


def split_run(argv, run):
    """Split `run`'s arguments into its own options and the program: the
    first non-option word (a script) or `-m module` ends the options."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-m":
            if i + 1 >= len(argv):
                run.error("argument -m: expected a module name")
            return argv[:i], ("module", argv[i + 1]), argv[i + 2:]
        if a in ("--domains", "--limit"):
            i += 2
        elif a.startswith("-") and a != "-":
            i += 1
        else:
            return argv[:i], ("script", a), argv[i + 1:]
    run.error("expected a script or -m module to run")


def do_run(argv, run):
    opts, (kind, target), args = split_run(argv, run)
    ns = run.parse_args(opts)
    os.environ["POOLALLOC"] = "1"
    if ns.domains is not None:
        os.environ["POOLALLOC_DOMAINS"] = ns.domains
    if ns.limit is not None:
        os.environ["POOLALLOC_LIMIT"] = str(ns.limit)
    import poolalloc
    try:
        poolalloc._env_install()
    except ValueError as exc:
        run.error(str(exc))
    if kind == "module":
        sys.argv = [target, *args]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [target, *args]
        sys.path[0] = os.path.dirname(os.path.abspath(target))
        runpy.run_path(target, run_name="__main__")


def preload_path():
    """The libpoolmalloc.so built into this package ('' if it is not)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libpoolmalloc.so")
    return path if os.path.isfile(path) else ""


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    p, run = parser()
    if argv and argv[0] in COMMANDS:
        if argv[1:2] not in (["-h"], ["--help"]) and missing_extras(argv[0]):
            return extras_error(argv[0], missing_extras(argv[0]))
        try:
            mod = importlib.import_module(COMMANDS[argv[0]])
        except ModuleNotFoundError as exc:
            if exc.name != COMMANDS[argv[0]]:
                raise
            sys.stderr.write(f"python -m poolalloc: the '{argv[0]}' command is not available in this "
                             f"installation ({COMMANDS[argv[0]]} is missing)\n")
            return 1
        try:
            return mod.main(argv[1:])
        except ModuleNotFoundError as exc:   # an extra's own dependency is missing
            if exc.name and exc.name.split(".")[0] in ("tqdm", "matplotlib", "numpy", "PIL"):
                return extras_error(argv[0], [exc.name])
            raise
    if argv and argv[0] == "run":
        if argv[1:2] in (["-h"], ["--help"]):
            run.print_help()
            return 0
        do_run(argv[1:], run)
        return 0
    if argv and argv[0] == "preload-path":
        p.parse_args(argv)      # -h, or a usage error for extra arguments
        path = preload_path()
        if not path:
            sys.stderr.write("python -m poolalloc preload-path: libpoolmalloc.so is not in this installation "
                             "(reinstall with `pip install .`)\n")
            return 1
        print(path)
        return 0
    p.parse_args(argv)  # no or unknown command: usage error, exit 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
