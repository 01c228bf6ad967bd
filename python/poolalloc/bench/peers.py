"""poolalloc.bench.peers -- the peer allocators every benchmark face compares
libpool with, and where their libraries are: the one place that knows.

  glibc      the C library's malloc (no library to load)
  mimalloc   mimalloc 2, Debian's libmimalloc-dev
  mimalloc3  mimalloc 3, the libmimalloc.so.3 that pip's cmeel-mimalloc ships
  jemalloc   Debian's libjemalloc-dev

$POOL_BENCH_<NAME> overrides a library's path; a peer whose library is not
there is skipped with a note, never an error."""
import importlib.metadata
import os

PEERS = ("glibc", "mimalloc", "mimalloc3", "jemalloc")
_DEBIAN = "/usr/lib/x86_64-linux-gnu/"


def _cmeel_lib(dist, soname):
    """The file `soname` inside the installed pip distribution `dist`
    (a cmeel wheel keeps it in site-packages/cmeel.prefix/lib), or ''."""
    try:
        files = importlib.metadata.distribution(dist).files or ()
    except importlib.metadata.PackageNotFoundError:
        return ""
    for f in files:
        if f.name == soname:
            return str(f.locate())
    return ""


def env_var(name):
    """The environment variable that overrides peer `name`'s library."""
    return f"POOL_BENCH_{name.upper()}"


def default_path(name):
    """Where peer `name`'s library is installed by default ('' if nowhere)."""
    if name == "mimalloc":
        return _DEBIAN + "libmimalloc.so.2"
    if name == "jemalloc":
        return _DEBIAN + "libjemalloc.so.2"
    if name == "mimalloc3":
        return _cmeel_lib("cmeel-mimalloc", "libmimalloc.so.3")
    return ""


def peer_libs(peers=PEERS):
    """({peer: library path} of the wanted peers that have a library, for
    LD_PRELOAD or dlopen; [notes on the missing ones]).  glibc has none."""
    libs, notes = {}, []
    for name in peers:
        if name == "glibc":
            continue
        var = env_var(name)
        path = os.environ.get(var, default_path(name))
        if path and os.path.isfile(path):
            libs[name] = path
        elif name == "mimalloc3" and not path:
            notes.append("mimalloc3 skipped: not installed (pip install cmeel-mimalloc, or set $POOL_BENCH_MIMALLOC3)")
        else:
            notes.append(f"{name} skipped: {path or '(empty)'} not found" + (f" (${var})" if var in os.environ else ""))
    return libs, notes


def peer_env(libs):
    """The POOL_BENCH_* variables that tell a native benchmark program (which
    dlopens its peers itself) the libraries found here."""
    return {env_var(name): path for name, path in libs.items()}
