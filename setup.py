"""setup.py -- builds poolalloc for CPython: the package in python/poolalloc and
one extension, poolalloc._poolalloc, made of libpool's sources (compiled in,
no system libpool needed) and the binding in bindings/python.  It also puts
poolalloc-startup.pth into site-packages: the POOLALLOC=1 start-up hook."""
import glob
import os
import re

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PTH = "poolalloc-startup.pth"


def version():
    """The package version is libpool's POOL_VERSION."""
    with open(os.path.join(HERE, "libpool", "include", "pool.h")) as f:
        return re.search(r'#define POOL_VERSION "([^"]+)"', f.read()).group(1)


def sources():
    """Every core file and every binding file: new ones are picked up."""
    found = sorted(glob.glob("libpool/src/*.c")) + sorted(glob.glob("bindings/python/*.c"))
    if not any(s.startswith("libpool") for s in found):
        raise SystemExit("setup.py: libpool/src/*.c not found; run from the repository root")
    return found


class build_py_with_pth(build_py):
    """build_py that also ships the start-up .pth at the root of the wheel
    (that is, in site-packages), where site.py reads it."""

    def run(self):
        super().run()
        self.copy_file(os.path.join("python", PTH), os.path.join(self.build_lib, PTH), preserve_mode=0)

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH)]


extension = Extension(
    "poolalloc._poolalloc",
    sources=sources(),
    include_dirs=["libpool/include", "libpool/src"],
    depends=sorted(glob.glob("libpool/src/*.h") + glob.glob("libpool/include/*.h")),
    extra_compile_args=["-std=c11", "-O2", "-fvisibility=hidden", "-ftls-model=initial-exec", "-D_DEFAULT_SOURCE",
                        "-Wall", "-Wextra", "-Wno-unused-parameter",
                        "-Wno-missing-field-initializers", "-Wno-cast-function-type"],
    # Export PyInit__poolalloc only: libpool's symbols stay inside the
    # module and bind locally (no clash with a preloaded libpoolmalloc.so).
    extra_link_args=["-pthread", "-Wl,--version-script=bindings/python/exports.map"],
)

setup(
    name="poolalloc",
    version=version(),
    description="libpool, a size-class pool allocator, as CPython's memory allocator",
    python_requires=">=3.9",
    package_dir={"": "python"},
    packages=["poolalloc"],
    ext_modules=[extension],
    cmdclass={"build_py": build_py_with_pth},
    entry_points={"pytest11": ["poolalloc = poolalloc.pytest_plugin"]},   # off until --poolalloc
    zip_safe=False,
    # Out of the way of CMake's build/ tree.
    options={"build": {"build_base": "build/setuptools"}},
)
