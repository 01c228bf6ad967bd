"""poolalloc.workloads -- allocation-heavy Python workloads for benchmarks.

Each workload is a function of `scale` (1 = about a quarter of a second on
this machine) that returns a checksum, the same for every allocator, so a
benchmark also checks that the allocator under test computed the right
thing.  Used by tests/benchmarks/test_bench_python.py and by
`python -m poolalloc bench`.

Run one in a fresh interpreter and get a JSON line on stdout:

    python -m poolalloc.workloads NAME [--scale N]
    -> {"name": ..., "seconds": ..., "checksum": ..., "peak_rss_kb": ..., "installed": ...}

`seconds` times the workload only (not interpreter start-up); `peak_rss_kb` is
the process's peak resident set (getrusage), start-up included.
"""
import argparse
import json
import resource
import sys
import time


class Node:
    __slots__ = ("left", "right", "value")

    def __init__(self, left, right, value):
        self.left = left
        self.right = right
        self.value = value


def _tree(depth, value):
    if depth == 0:
        return Node(None, None, value)
    return Node(_tree(depth - 1, 2 * value), _tree(depth - 1, 2 * value + 1), value)


def _tree_sum(node):
    total = 0
    stack = [node]
    while stack:
        n = stack.pop()
        total += n.value
        if n.left is not None:
            stack.append(n.left)
            stack.append(n.right)
    return total


def object_trees(scale=1):
    """Binary trees of small objects built and dropped, with a long-lived
    tree kept alive alongside (the GCBench shape)."""
    keep = _tree(14, 1)
    total = 0
    for i in range(int(12 * scale)):
        t = _tree(12, i)
        total += _tree_sum(t)
        del t
    return total + _tree_sum(keep)


def dict_list_churn(scale=1):
    """Dicts and lists grown, mutated, copied and dropped: resizes (realloc)
    of every size, insertions and deletions."""
    total = 0
    for r in range(int(40 * scale)):
        d = {}
        for i in range(4000):
            d[f"k{i}"] = [i, i + r]
        for i in range(0, 4000, 3):
            del d[f"k{i}"]
        lists = [list(range(i % 64)) for i in range(3000)]
        for lst in lists:
            lst.append(r)
            lst.extend(lst[:8])
        merged = {**d, "x": lists[-1]}
        total += len(merged) + sum(len(x) for x in lists) + sum(v[1] for v in d.values())
    return total


def json_roundtrip(scale=1):
    """json.dumps / json.loads of nested records: many short-lived str,
    int, list and dict objects."""
    records = [{"id": i, "name": f"user{i}", "tags": ["a", "b", str(i % 7)], "score": i * 0.5,
                "nested": {"x": i, "y": [i, i + 1, i + 2]}} for i in range(2000)]
    total = 0
    for _ in range(int(8 * scale)):
        text = json.dumps(records)
        back = json.loads(text)
        total += len(text) + sum(r["nested"]["y"][2] for r in back)
    return total


def string_building(scale=1):
    """Strings made by concatenation, formatting, join, split and replace."""
    total = 0
    for r in range(int(30 * scale)):
        parts = []
        for i in range(3000):
            s = "item-" + str(i) + ":" + "x" * (i % 40)
            parts.append(f"{s}|{i * r}")
        text = ",".join(parts)
        pieces = text.split(",")
        text2 = text.replace("item", "it").upper()
        acc = ""
        for p in pieces[:400]:
            acc += p[:10]
        total += len(text2) + len(pieces) + len(acc)
    return total


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y
        self.label = f"p{x}"

    def moved(self, dx):
        return Point(self.x + dx, self.y)


def class_instances(scale=1):
    """Instances of a plain class (with __dict__) made, updated and dropped."""
    total = 0
    for r in range(int(25 * scale)):
        pts = [Point(i, r) for i in range(6000)]
        pts = [p.moved(1) for p in pts]
        for p in pts[::5]:
            p.extra = p.x * 2
        total += sum(p.x for p in pts) + sum(getattr(p, "extra", 0) for p in pts)
    return total


WORKLOADS = {f.__name__: f for f in (object_trees, dict_list_churn, json_roundtrip, string_building,
                                     class_instances)}


def run(name, scale=1):
    """Run workload `name` here; a dict like the command line's JSON line."""
    fn = WORKLOADS[name]
    t0 = time.perf_counter()
    checksum = fn(scale)
    seconds = time.perf_counter() - t0
    installed = False
    if "poolalloc._poolalloc" in sys.modules:
        import poolalloc
        installed = poolalloc.is_installed()
    return {"name": name, "scale": scale, "seconds": seconds, "checksum": checksum,
            "peak_rss_kb": peak_rss_kb(), "installed": installed}


def peak_rss_kb():
    """This process's peak RSS in kB: VmHWM, which starts afresh at exec.
    (ru_maxrss keeps the parent's peak when the parent started us with
    vfork, as subprocess does, so it would read the launcher's size.)"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m poolalloc.workloads",
                                description="Run one allocation-heavy workload and print a JSON line.")
    p.add_argument("name", choices=sorted(WORKLOADS))
    p.add_argument("--scale", type=float, default=1.0, help="work multiplier (default 1)")
    ns = p.parse_args(argv)
    if ns.scale <= 0:
        p.error("--scale must be > 0")
    print(json.dumps(run(ns.name, ns.scale)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
