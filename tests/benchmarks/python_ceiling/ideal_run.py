"""ideal_run.py -- run a module or script with the ideal allocator
(ceil_pyalloc.c) installed for the MEM and OBJ domains:

  python ideal_run.py CEIL_SO (-m MODULE | -c CODE | SCRIPT) [ARGS...]

Only ctypes and runpy are imported before the install.  CEIL_SO "-" runs
the same without installing anything: ceiling.py runs every set-up through
this file so that their start-ups cost the same instructions."""
import ctypes
import runpy
import sys


def main():
    so, rest = sys.argv[1], sys.argv[2:]
    if so != "-" and ctypes.CDLL(so).ceil_install() != 0:
        sys.exit("ideal_run: the reservation could not be mapped")
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    elif rest[0] == "-c":
        sys.argv = ["-c", *rest[2:]]
        exec(compile(rest[1], "<string>", "exec"), {"__name__": "__main__"})
    else:
        sys.argv = rest
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main()
