"""poolalloc.bench -- the benchmark suite behind `python -m poolalloc bench`.

  cli      the command line: options, the run, the files it writes
  harness  shared by every face: the checkout and the CMake build, the
           scrubbed environment, measured runs, the interleaving loop,
           medians and geomeans, a face's results
  peers    the peer allocators (glibc, mimalloc 2 and 3, jemalloc)
  c, python, lua, preload, pyperformance
           the faces: what runs under which allocator (pyperformance only
           with --only: it takes about 20 minutes)
  pyperf_run
           one run of a pyperformance script in the measured interpreter
  instr    the instruction-count face: callgrind per malloc+free pair
  goals    the project's goals, judged on a run: met, not met, not measured
  report   one renderer for text and Markdown tables, and the chart; the
           README's generated block (--readme)
  lua/     the Lua workloads (data, run by lua/run.lua)

Nothing here imports from the checkout's tests/: the faces that need native
programs (C, Lua, LD_PRELOAD) find them in a CMake build directory."""
