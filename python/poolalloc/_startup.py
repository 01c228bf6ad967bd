"""poolalloc._startup -- the POOLALLOC=1 start-up hook.

site.py reads poolalloc-startup.pth from site-packages at every interpreter
start; its one line imports this module only when POOLALLOC is "1", so the
hook costs one dictionary lookup otherwise.  Importing it installs poolalloc
(configured by POOLALLOC_DOMAINS and POOLALLOC_LIMIT).  A failure is
reported on stderr and never stops the interpreter from starting."""
import sys


def _start():
    try:
        import poolalloc
        poolalloc._env_install()
    except Exception as exc:  # start-up must go on without the pool
        sys.stderr.write(f"poolalloc: not installed at start-up: {exc}\n")


_start()
