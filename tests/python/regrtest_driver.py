"""regrtest_driver -- run CPython's regression suite (python -m test) so that
every process it starts records whether poolalloc is installed in it.

    POOLALLOC=1 POOLALLOC_REGRTEST_LOG=FILE python regrtest_driver.py [regrtest args]

The main process runs `test` with `--python "<python> regrtest_driver.py"`,
so each worker starts through this file too: it appends one JSON line to
FILE (pid, role, installed, whether the .pth start-up hook ran), then runs
the worker module in-process, as `python -m <module>` would."""
import json
import os
import runpy
import sys


def note(role):
    import poolalloc
    with open(os.environ["POOLALLOC_REGRTEST_LOG"], "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "role": role, "installed": poolalloc.is_installed(),
                            "startup_hook": "poolalloc._startup" in sys.modules}) + "\n")


def main():
    args = sys.argv[1:]
    if "-m" in args and args.index("-m") + 1 < len(args):
        # A worker: [interpreter options...] -m MODULE ARGS...
        i = args.index("-m")
        module = args[i + 1]
        note("worker")
        sys.stdout.reconfigure(write_through=True)
        sys.argv = [module, *args[i + 2:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    note("main")
    sys.argv = ["test", "--python", f"{sys.executable} {os.path.abspath(__file__)}", *args]
    runpy.run_module("test", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
