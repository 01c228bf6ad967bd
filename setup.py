"""setup.py -- builds poolalloc for CPython: the package in python/poolalloc and
one extension, poolalloc._poolalloc: the binding in bindings/python linked
with libpool's sources built as a static archive (no system libpool needed).  It also puts
poolalloc-startup.pth into site-packages: the POOLALLOC=1 start-up hook."""
import glob
import os
import re

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PTH = "poolalloc-startup.pth"


def version():
    """The package version is libpool's POOL_VERSION."""
    with open(os.path.join(HERE, "libpool", "include", "pool.h")) as f:
        return re.search(r'#define POOL_VERSION "([^"]+)"', f.read()).group(1)


def libpool_sources():
    """Every core file: new ones are picked up."""
    found = sorted(glob.glob("libpool/src/*.c"))
    if not found:
        raise SystemExit("setup.py: libpool/src/*.c not found; run from the repository root")
    return found


C_FLAGS = ["-std=c11", "-O2", "-fvisibility=hidden", "-ftls-model=initial-exec", "-D_DEFAULT_SOURCE",
           "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]

# libpool, compiled as a static archive linked into the extension (no system
# libpool needed).  Only libpool's own sources see libpool/src and define
# POOL_BUILDING_LIBPOOL, which internal.h demands; the binding uses pool.h.
libpool = ("pool", {
    "sources": libpool_sources(),
    "include_dirs": ["libpool/include", "libpool/src"],
    "macros": [("POOL_BUILDING_LIBPOOL", "1")],
    "obj_deps": {"": sorted(glob.glob("libpool/src/*.h") + glob.glob("libpool/include/*.h"))},
    "cflags": C_FLAGS,
})


class build_py_with_pth(build_py):
    """build_py that also ships the start-up .pth at the root of the wheel
    (that is, in site-packages), where site.py reads it."""

    def run(self):
        super().run()
        self.copy_file(os.path.join("python", PTH), os.path.join(self.build_lib, PTH), preserve_mode=0)

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH)]


class build_ext_with_preload(build_ext):
    """build_ext that also links poolalloc/libpoolmalloc.so, the LD_PRELOAD
    face (bindings/preload), from the same libpool archive, so a pip user can
    preload it without CMake (`python -m poolalloc preload-path`)."""

    def run(self):
        super().run()
        clib = self.get_finalized_command("build_clib")
        archive = self.compiler.library_filename("pool", output_dir=clib.build_clib)
        objs = self.compiler.compile(
            ["bindings/preload/preload.c"], output_dir=self.build_temp, include_dirs=["libpool/include"],
            extra_postargs=C_FLAGS + ["-fno-builtin-malloc", "-fno-builtin-free", "-fno-builtin-calloc",
                                      "-fno-builtin-realloc"])
        objs += self.compiler.compile(
            ["bindings/preload/preload_cxx.cc"], output_dir=self.build_temp, include_dirs=["libpool/include"],
            extra_postargs=["-std=c++17", "-O2", "-fvisibility=hidden", "-ftls-model=initial-exec", "-Wall"])
        out = os.path.join(self.build_lib, "poolalloc", "libpoolmalloc.so")
        # Every libpool object goes in (no program references them at link
        # time); pool_* stay exported, as in the CMake build.
        linked_libs, self.compiler.libraries = self.compiler.libraries, []   # not -lpool as well
        try:
            self.compiler.link_shared_object(objs, out, target_lang="c++", extra_postargs=[
                "-Wl,--whole-archive", archive, "-Wl,--no-whole-archive", "-pthread"])
        finally:
            self.compiler.libraries = linked_libs

    def get_outputs(self):
        return super().get_outputs() + [os.path.join(self.build_lib, "poolalloc", "libpoolmalloc.so")]


extension = Extension(
    "poolalloc._poolalloc",
    sources=sorted(glob.glob("bindings/python/*.c")),
    include_dirs=["libpool/include"],
    # libpool's sources too: the archive is linked in, and a change to it
    # alone must relink the module (distutils looks only at these).
    depends=sorted(glob.glob("libpool/include/*.h") + glob.glob("libpool/src/*.[ch]")),
    extra_compile_args=C_FLAGS + ["-Wno-cast-function-type"],
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
    packages=["poolalloc", "poolalloc.bench"],
    package_data={"poolalloc.bench": ["lua/*.lua"]},
    libraries=[libpool],
    ext_modules=[extension],
    # The plug-in needs nothing; `bench` and `map` need these (the CLI says so);
    # `bench --only pyperformance` needs the benchmark scripts pyperformance ships.
    extras_require={"bench": ["tqdm", "matplotlib", "numpy"],
                    "pyperformance": ["pyperformance>=1.11,<2", "pyperf>=2.11"]},
    cmdclass={"build_py": build_py_with_pth, "build_ext": build_ext_with_preload},
    entry_points={"pytest11": ["poolalloc = poolalloc.pytest_plugin"]},   # off until --poolalloc
    zip_safe=False,
    # Out of the way of CMake's build/ tree.
    options={"build": {"build_base": "build/setuptools"}},
)
