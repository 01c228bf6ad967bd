"""poolalloc._map -- the page map of the pool: every page, grouped by size
class, as data (poolalloc.map()) and as a picture (a PNG where each page is
a cell coloured by occupancy, used blocks / capacity; the empty pages heaps
keep cached for reuse count apart from their class's pages).

    python -m poolalloc map [--out FILE.png] [--json FILE] [--workload NAME] [--scale X]

runs a workload in this interpreter under poolalloc.install() and draws the
pool while the workload's objects are alive; poolalloc.map(out=...) does
the same for the running interpreter's pool, whatever it is doing.
"""
import argparse
import json
import math
import os
import sys

COLS = 64   # cells per row of the picture


def snapshot():
    """(page_map, stats) of the process pool, taken at one moment."""
    from . import page_map_stats
    return page_map_stats()


def summarize(pages, stats):
    """The data behind the picture: the pages (each with its occupancy),
    and one record per size class that has pages, beside the class's
    stats (live_blocks, free_blocks, pages).  A class's pages, used and
    capacity are those of its pages in use, as its stats count them; its
    empty cached pages are counted in "cached"."""
    pages = sorted(pages, key=lambda p: (p["cls"], p["address"]))
    for p in pages:
        p["occupancy"] = p["used"] / p["capacity"] if p["capacity"] else 0.0
    classes = []
    for cls, st in enumerate(stats["classes"]):
        mine = [p for p in pages if p["cls"] == cls]
        if not mine and not st["pages"] and not st["live_blocks"]:
            continue
        held = [p for p in mine if not p["cached"]]
        used, cap = sum(p["used"] for p in held), sum(p["capacity"] for p in held)
        classes.append({"cls": cls, "block_size": st["size"], "pages": len(held), "cached": len(mine) - len(held),
                        "used": used, "capacity": cap, "occupancy": used / cap if cap else 0.0,
                        "bytes": sum(p["bytes"] for p in mine), "stats": dict(st)})
    used = sum(c["used"] for c in classes)
    cap = sum(c["capacity"] for c in classes)
    return {"pages": pages, "classes": classes, "stats": stats,
            "totals": {"pages": len(pages), "cached": sum(c["cached"] for c in classes), "classes": len(classes),
                       "used": used, "capacity": cap,
                       "occupancy": used / cap if cap else 0.0, "bytes": sum(p["bytes"] for p in pages),
                       "large_blocks": stats["large_blocks"], "large_bytes": stats["large_bytes"]}}


def draw(data, path, title="poolalloc page map"):
    """Write the picture of `data` (from summarize) to the PNG `path`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows, labels, bounds = [], [], []
    for c in data["classes"]:
        occ = [p["occupancy"] for p in data["pages"] if p["cls"] == c["cls"]]
        n = max(1, math.ceil(len(occ) / COLS))
        bounds.append(len(rows))
        cached = f" +{c['cached']} cached" if c["cached"] else ""
        labels.append((len(rows), f"{c['block_size']} B  x{c['pages']}{cached}  {100 * c['occupancy']:.0f}%"))
        for r in range(n):
            chunk = occ[r * COLS:(r + 1) * COLS]
            rows.append(chunk + [math.nan] * (COLS - len(chunk)))
    grid = np.array(rows or [[math.nan] * COLS], dtype=float)
    fig_h = 1.6 + 0.2 * len(grid)
    fig, ax = plt.subplots(figsize=(10, fig_h))
    cmap = matplotlib.colormaps["viridis"].copy()
    cmap.set_bad("white")
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto",
                   interpolation="nearest", extent=(0, COLS, len(grid), 0))
    for b in bounds[1:]:
        ax.axhline(b, color="black", linewidth=0.6)
    ax.set_yticks([r + 0.5 for r, _ in labels])
    ax.set_yticklabels([t for _, t in labels], fontsize=7)
    ax.set_xticks([])
    ax.set_xlabel(f"one cell per page, {COLS} per row, in address order")
    t = data["totals"]
    ax.set_title(f"{title}\n{t['pages']} pages in {t['classes']} size classes, {t['bytes'] / 2**20:.1f} MiB, "
                 f"{100 * t['occupancy']:.0f}% of blocks in use; {t['large_blocks']} large blocks "
                 f"({t['large_bytes'] / 2**20:.1f} MiB)", fontsize=9)
    fig.colorbar(im, ax=ax, label="occupancy (used / capacity)", fraction=0.04, pad=0.02)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def map(out=None, title="poolalloc page map"):
    """The page map of this interpreter's pool, now: a dict with "pages"
    (address, bytes, cls, block_size, capacity, used, segment, owner,
    cached, occupancy), "classes" (per size class: pages, used, capacity,
    occupancy, and the class's stats), "stats" (poolalloc.stats() taken at
    the same moment) and "totals".  With `out`, also draws it as a PNG
    there (data["png"] is the path)."""
    pages, stats = snapshot()
    data = summarize(pages, stats)
    data["png"] = None
    if out is not None:
        draw(data, out, title)
        data["png"] = os.fspath(out)
    return data


# ---- the command ----

def live_set(scale=1.0):
    """Objects of many sizes made in generations, each generation keeping
    a different share of them (from none to all): pages of every small
    class, from empty to full, as in a long-running program."""
    keep = []
    for gen in range(int(12 * scale) or 1):
        rate = (gen * 5) % 11 / 10          # 0.0, 0.5, 1.0, 0.4, ...
        objs = [(f"g{gen}-{i}" * (1 + i % 40), [i] * (i % 24), {"k": i, "v": str(i)}, bytearray(i % 2000))
                for i in range(2500)]
        keep += [o for i, o in enumerate(objs) if (i * 2654435761) % 1000 < rate * 1000]
    return keep


def workload_names():
    from . import workloads
    return ["live_set", *sorted(workloads.WORKLOADS)]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m poolalloc map",
                                description="Run a workload on poolalloc in this interpreter and draw the pool's "
                                            "pages, grouped by size class and coloured by occupancy, as a PNG.")
    p.add_argument("--out", default="poolmap.png", metavar="FILE.png", help="picture to write (default: poolmap.png)")
    p.add_argument("--json", metavar="FILE", help="also write the data behind the picture as JSON")
    p.add_argument("--workload", default="live_set", choices=workload_names(),
                   help="what to run first (default: live_set, objects of many sizes kept alive); the others are "
                        "poolalloc.workloads, run before the live set is made")
    p.add_argument("--scale", type=float, default=1.0, help="work multiplier (default 1)")
    ns = p.parse_args(sys.argv[1:] if argv is None else argv)
    if not ns.scale > 0:
        p.error(f"--scale must be > 0, not {ns.scale}")
    if not ns.out.lower().endswith(".png"):
        p.error(f"--out must name a .png file, not {ns.out!r}")
    import poolalloc
    poolalloc.install()
    if ns.workload != "live_set":
        from . import workloads
        workloads.WORKLOADS[ns.workload](ns.scale)
    keep = live_set(ns.scale)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(ns.out)), exist_ok=True)
        data = map(ns.out, title=f"poolalloc page map: python -m poolalloc map --workload {ns.workload}")
        if ns.json:
            with open(ns.json, "w") as f:
                json.dump(data, f, indent=1)
    except OSError as exc:
        sys.stderr.write(f"python -m poolalloc map: cannot write: {exc}\n")
        return 1
    del keep
    t = data["totals"]
    print(f"{t['pages']} pages in {t['classes']} size classes, {t['bytes'] / 2**20:.1f} MiB, "
          f"{100 * t['occupancy']:.0f}% of blocks in use; {t['cached']} of the pages empty, cached for reuse")
    for c in data["classes"]:
        print(f"  class {c['cls']:2} {c['block_size']:6} B  {c['pages']:4} pages  {c['used']:7} / {c['capacity']:7} "
              f"blocks  {100 * c['occupancy']:3.0f}%" + (f"  +{c['cached']} cached" if c["cached"] else ""))
    print(f"wrote {ns.out}" + (f" and {ns.json}" if ns.json else ""))
    return 0
