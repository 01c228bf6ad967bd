"""poolalloc.bench.pyperf_run -- one measured run of one pyperformance
benchmark script in this interpreter, for the pyperformance face:

  python -m poolalloc.bench.pyperf_run SCRIPT VALUES MIN_TIME [SCRIPT ARGS...]

It first checks that the allocator the environment asks for is the one
serving this interpreter (POOLALLOC=1: poolalloc installed and counting
allocations; PYTHONMALLOC=malloc with LD_PRELOAD: the library mapped;
otherwise: poolalloc not installed) and exits 3 with one line if not.  Then
it runs SCRIPT as __main__ under pyperf's --in-process mode (loops
calibrated here, one warm-up, VALUES values of at least MIN_TIME seconds
each) and prints one JSON line: "us", the geometric mean of the medians of
the script's benchmarks in microseconds per loop; "benchmarks", each
median; "peak_rss_kb", this process's own VmHWM; "allocator"; and under
poolalloc "pool_allocs", the allocations it served.

Only the standard library and pyperf are imported here, so every allocator
runs the same code."""
import json
import math
import os
import runpy
import sys
import tempfile


def vm_hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def allocator():
    """(the allocator serving this interpreter, '' or why it is not the one
    the environment asked for)."""
    pool = sys.modules.get("poolalloc")
    installed = bool(pool and pool.is_installed())
    if os.environ.get("POOLALLOC") == "1":
        if not installed:
            return "pymalloc", "POOLALLOC=1 but poolalloc is not installed in this interpreter " \
                               f"({sys.executable}; is the package installed here?)"
        return "pool", ""
    if installed:
        return "pool", "poolalloc is installed but POOLALLOC is not 1"
    if os.environ.get("PYTHONMALLOC") == "malloc":
        lib = os.environ.get("LD_PRELOAD", "")
        if lib:
            with open("/proc/self/maps") as f:
                if os.path.realpath(lib) not in f.read():
                    return "malloc", f"LD_PRELOAD={lib} is not mapped in this process"
            return os.path.basename(lib), ""
        return "malloc", ""
    return "pymalloc", ""


def main(argv):
    script, values, min_time, *script_args = argv
    name, problem = allocator()
    if problem:
        sys.stderr.write(f"pyperf_run: {problem}\n")
        return 3
    with tempfile.TemporaryDirectory(prefix="poolalloc-pyperf-") as tmp:
        out = os.path.join(tmp, "bench.json")
        sys.argv = [script, "--in-process", "--processes", "1", "--warmups", "1", "--values", str(values),
                    "--min-time", str(min_time), "--quiet", "--output", out, *script_args]
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
        stdout, sys.stdout = sys.stdout, sys.stderr     # the JSON line is the only output
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (None, 0):
                raise
        finally:
            sys.stdout = stdout
        import pyperf
        medians = {b.get_name(): b.median() * 1e6 for b in pyperf.BenchmarkSuite.load(out).get_benchmarks()}
    line = {"us": math.exp(sum(map(math.log, medians.values())) / len(medians)), "benchmarks": medians,
            "peak_rss_kb": vm_hwm_kb(), "allocator": name}
    if name == "pool":
        line["pool_allocs"] = sys.modules["poolalloc"].stats()["allocs"]
        if not line["pool_allocs"]:
            sys.stderr.write("pyperf_run: poolalloc is installed but served no allocation\n")
            return 3
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
