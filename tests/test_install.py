"""An installed libpool works from any prefix: `cmake --install` into a
temporary prefix, the tree moved elsewhere, then a small C program built
against it with pkg-config and with find_package(libpool), and run; and
the rockspec built by `luarocks make` into a temporary tree against that
install, the module `require`d from it."""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT

APP = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <pool.h>

int main(void) {
    char *p = pool_malloc(100);
    if (!p) return 1;
    memset(p, 'x', 100);
    pool_stats_t st;
    pool_stats(&st);
    Dl_info di;
    if (!dladdr((void *)pool_malloc, &di)) return 2;
    printf("%s owns=%d live=%zu usable=%zu lib=%s\n", POOL_VERSION, pool_owns(p), st.live_bytes,
           pool_usable_size(p), di.dli_fname);
    pool_free(p);
    return 0;
}
"""

CMAKELISTS = """cmake_minimum_required(VERSION 3.16)
project(app C)
find_package(libpool REQUIRED)
add_executable(app app.c)
target_link_libraries(app libpool::pool)
"""


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def prefix(native_build, tmp_path_factory):
    """libpool installed into a temporary prefix, then moved: nothing may
    point back at the prefix it was installed into."""
    tmp = tmp_path_factory.mktemp("install")
    run(["cmake", "--install", str(native_build), "--prefix", str(tmp / "staged")])
    shutil.move(str(tmp / "staged"), str(tmp / "moved"))
    return tmp / "moved"


def libdir(prefix):
    return next(d for d in (prefix / "lib", prefix / "lib64") if (d / "pkgconfig" / "libpool.pc").is_file())


def check_app(out, prefix):
    """The program ran on the installed libpool of `prefix`."""
    version = (ROOT / "libpool" / "include" / "pool.h").read_text().split('#define POOL_VERSION "')[1].split('"')[0]
    fields = dict(f.split("=", 1) for f in out.split()[1:])
    assert out.split()[0] == version, out
    assert fields["owns"] == "1" and int(fields["usable"]) >= 100 and fields["live"] == fields["usable"], out
    assert os.path.realpath(fields["lib"]).startswith(str(prefix.resolve()) + os.sep), out


def test_pkg_config_from_a_moved_prefix(prefix, tmp_path):
    """`pkg-config --cflags --libs libpool` gives the moved prefix's paths."""
    env = dict(os.environ, PKG_CONFIG_PATH=str(libdir(prefix) / "pkgconfig"))
    flags = run(["pkg-config", "--cflags", "--libs", "libpool"], env=env).split()
    lib = run(["pkg-config", "--variable=libdir", "libpool"], env=env).strip()
    assert os.path.realpath(lib) == str(libdir(prefix).resolve()), lib
    (tmp_path / "app.c").write_text(APP)
    run(["cc", "-std=c11", "-Wall", "-Werror", str(tmp_path / "app.c"), "-o", str(tmp_path / "app"), *flags,
         f"-Wl,-rpath,{lib}", "-ldl"])
    check_app(run([str(tmp_path / "app")]), prefix)


def test_find_package_from_a_moved_prefix(prefix, tmp_path):
    """find_package(libpool) + target_link_libraries(app libpool::pool)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.c").write_text(APP)
    (src / "CMakeLists.txt").write_text(CMAKELISTS)
    run(["cmake", "-S", str(src), "-B", str(tmp_path / "b"), f"-DCMAKE_PREFIX_PATH={prefix}"])
    run(["cmake", "--build", str(tmp_path / "b")])
    check_app(run([str(tmp_path / "b" / "app")]), prefix)


def test_luarocks_make_and_require(prefix, tmp_path):
    """The rockspec builds with `luarocks make` against the installed
    libpool, into a temporary tree, and the module works from there."""
    luarocks = shutil.which("luarocks")
    assert luarocks, "luarocks is not installed (.ci/bootstrap installs it: apt-get install luarocks)"
    src = tmp_path / "src"          # a copy: luarocks writes its objects beside the sources
    shutil.copytree(ROOT / "bindings" / "lua", src / "bindings" / "lua")
    shutil.copytree(ROOT / "lua", src / "lua")
    tree = tmp_path / "tree"
    run([luarocks, "--lua-version", "5.4", "make", "--tree", str(tree), "lua/poolalloc-scm-1.rockspec",
         f"LIBPOOL_DIR={prefix}"], cwd=src)
    mods = list(tree.rglob("poolalloc.so"))
    assert len(mods) == 1, mods
    code = (f"package.cpath = {str(mods[0].parent / '?.so')!r}\n"
            "local pa = require 'poolalloc'\n"
            "pa.install()\n"
            "local t = {} for i = 1, 5000 do t[i] = {i, tostring(i)} end\n"
            "local s = pa.stats()\n"
            "print(s.live_bytes > 5000 * 56, s.allocs >= 10000, #t)\n")
    out = run(["lua5.4", "-e", code], env=dict(os.environ, LD_LIBRARY_PATH=str(libdir(prefix))))
    assert out == "true\ttrue\t5000\n", out
