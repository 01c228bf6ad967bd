"""scenario_domains -- one interpreter's life across poolalloc.install(),
run by tests/test_python_domains.py under each allocator setting
(pymalloc, PYTHONMALLOC=malloc/debug/..., -X dev) and domain selection.

    python scenario_domains.py DOMAINS      (e.g. "raw,mem,obj")

Prints one JSON object of facts for the test to assert on.  Checks that
must hold everywhere are asserted here, with messages."""
import json
import os
import struct
import sys

import poolalloc
from poolalloc import _poolalloc as c
import _pooltest as pt   # test-only helpers (tests/python/_pooltest.c)

DOMAINS = tuple(sys.argv[1].split(","))
MODE = os.environ.get("PYTHONMALLOC", "pymalloc") + ("+dev" if sys.flags.dev_mode else "")
DEBUG_HOOKS = "debug" in MODE or sys.flags.dev_mode
# The debug hooks sit on top of the pool: their blocks start past a header
# of two size_t (the size, the API id and pad bytes).
HOOK_HEADER = 2 * struct.calcsize("N") if DEBUG_HOOKS else 0
SIZES = (24, 700, 200000)
facts = {}


def from_pool(address):
    """Whether the block at `address` came from libpool (under the debug hooks)."""
    return c._is_block(address - HOOK_HEADER)


def compatible(alloc_domain, free_domain, pool):
    """Cross-domain frees CPython accepts: any for pool blocks, as for its own
    blocks otherwise; none under the debug hooks, which check every block."""
    if alloc_domain == free_domain:
        return True
    if DEBUG_HOOKS:
        return False
    if pool:
        return True
    if {alloc_domain, free_domain} == {"mem", "obj"}:
        return True
    return MODE.startswith("malloc")  # every domain is malloc()


# ---- before install: blocks and objects of the previous allocator ----
pre = {}
for d in ("raw", "mem", "obj"):
    for size in SIZES:
        a = pt._alloc(d, size)
        pt._fill(a, size, size ^ 0x5A)
        pre[(d, size)] = a
old_bytes = [bytes([i % 256]) * 40 for i in range(3000)]
grow_list = list(range(100))
grow_bytearray = bytearray(b"abc") * 10
grow_dict = {i: str(i) for i in range(10)}
assert not any(from_pool(a) for a in pre.values()), "a block made before install() is a pool block"

# ---- install ----
facts["installed"] = poolalloc.install(DOMAINS)
facts["domains"] = poolalloc.installed_domains()
facts["debug_hooks"] = c._debug_hooks()
ff0 = poolalloc.stats()["foreign_frees"]
blocks_before = sys.getallocatedblocks()  # pymalloc's count of its own blocks

# Objects made before install, freed after: back to the previous allocator.
assert not any(from_pool(id(b)) for b in old_bytes)
del old_bytes
facts["foreign_frees"] = poolalloc.stats()["foreign_frees"] - ff0
facts["pymalloc_blocks_dropped"] = blocks_before - sys.getallocatedblocks()

# Foreign blocks reallocated (both ways) through their own domain.
for (d, size), a in pre.items():
    for new in (size * 3, size // 2):
        a = pt._realloc(d, a, new)
        assert pt._check(a, min(size, new), size ^ 0x5A), f"foreign {d} realloc {size}->{new} lost contents"
        size = new
        pt._fill(a, size, size ^ 0x5A)
    pt._free(d, a)

# Python objects made before install, grown after (list/bytearray/dict
# storage reallocated by the previous allocator).
grow_list.extend(range(100, 50000))
grow_bytearray.extend(b"x" * 300000)
grow_dict.update((i, str(i)) for i in range(10, 20000))
assert grow_list == list(range(50000))
assert grow_bytearray[:30] == b"abc" * 10 and grow_bytearray.count(b"x") == 300000
assert all(grow_dict[i] == str(i) for i in range(20000))
del grow_list, grow_bytearray, grow_dict

# New blocks: pool blocks exactly in the served domains; any pool block can
# be freed through any domain, foreign ones through the domains CPython allows.
cross = {}
for ad in ("raw", "mem", "obj"):
    for fd in ("raw", "mem", "obj"):
        for size in SIZES:
            a = pt._alloc(ad, size)
            pool = from_pool(a)
            # pymalloc (no debug hooks) takes blocks over 512 bytes from the raw domain.
            via_raw = "raw" in facts["domains"] and size > 512 and MODE == "pymalloc"
            assert pool == (ad in facts["domains"] or via_raw), f"{ad} block of {size}: pool={pool}"
            if not compatible(ad, fd, pool):
                pt._free(ad, a)
                continue
            pt._fill(a, size, size + 1)
            a = pt._realloc(fd, a, size + 100)  # realloc through the other domain too
            assert pt._check(a, size, size + 1)
            pt._free(fd, a)
            cross[f"{ad}>{fd}"] = cross.get(f"{ad}>{fd}", 0) + 1
facts["cross"] = cross
import ctypes  # noqa: E402

for d in ("raw", "mem", "obj"):
    zeroed = pt._calloc(d, 100, 30)
    assert ctypes.string_at(zeroed, 3000) == bytes(3000), f"{d} calloc not zeroed"
    pt._free(d, zeroed)

# Real work on top: objects of every size, json, threads.
import json as _json  # noqa: E402
import threading  # noqa: E402

data = [{"k": i, "s": "x" * (i % 700), "l": list(range(i % 30))} for i in range(20000)]
assert _json.loads(_json.dumps(data)) == data
obj = bytes(range(100))   # kept alive while it is looked up
facts["object_in_pool"] = from_pool(id(obj))
errors = []


def worker(n):
    try:
        local = [str(i) * (i % 50) for i in range(n)]
        assert all(local[i] == str(i) * (i % 50) for i in range(n))
    except Exception as e:  # reported below
        errors.append(repr(e))


threads = [threading.Thread(target=worker, args=(20000,)) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors
facts["mode"] = MODE
st = poolalloc.stats()
facts["allocs"] = st["allocs"]
print(json.dumps(facts))
