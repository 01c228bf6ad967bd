"""poolalloc.bench.report -- the results as tables (one renderer for text
and Markdown) and as a chart (bench.png)."""
from .harness import RSS, speedup


def fmt_value(v, unit):
    if v is None:
        return "-"
    return f"{v:.1f}" if unit == "Mpairs/s" else f"{v:.3f}"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def fmt_rss(kb):
    return "-" if not kb else f"{kb / 1024:.1f}"


def face_rows(face):
    """One face as a header row and data rows (lists of cells): every
    allocator's median, the pool's speed-ups, peak RSS; then the geomeans."""
    unit, dflt, allocs = face["unit"], face["default"], face["allocators"]
    head = ["benchmark", *allocs, f"x {dflt}", "x mimalloc", "peak RSS MiB " + "/".join(allocs)]
    rows = []
    for b in face["benchmarks"]:
        r = b["results"]
        cell = lambda a, f: r[a][f] if a in r else None   # noqa: E731
        rows.append([b["name"], *(fmt_value(cell(a, "median"), unit) for a in allocs),
                     fmt_ratio(b["speedup_default"]), fmt_ratio(b["speedup_mimalloc"]),
                     " / ".join(fmt_rss(cell(a, RSS)) for a in allocs)])
    for label, g in (("geomean", face["geomean"]),
                     *((f"geomean {k}", v) for k, v in face.get("group_geomean", {}).items())):
        rows.append([label, *([""] * len(allocs)), fmt_ratio(g["speedup_default"]), fmt_ratio(g["speedup_mimalloc"]),
                     ""])
    return head, rows


def table(title, fname, head, rows, markdown):
    """The lines of one table under its title (whose first word, the face's
    name, is bold in Markdown), aligned text or Markdown."""
    if markdown:
        return ["", f"**{fname}**{title[len(fname):]}", "", "| " + " | ".join(head) + " |",
                "|---" * len(head) + "|", *("| " + " | ".join(r) + " |" for r in rows)]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)   # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return ["", title, fmt(head), "-" * len(fmt(head)), *map(fmt, rows)]


def render(results, markdown=False):
    """The results, per face, as aligned text or as Markdown (for
    README.md): the same cells either way, under the date and machine."""
    m = results["machine"]
    lines = [f"Measured {results['date'][:10]} on {m['cpu']}, {m['cpus']} CPUs, {m['memory']}, {m['system']}, "
             f"Python {m['python']}{' (--quick)' if results['quick'] else ''}."]
    for fname, face in results["faces"].items():
        if face["status"] != "ok":
            lines += ["", f"**{fname}**: skipped: {face['note'].splitlines()[0]}" if markdown else
                      f"{fname}: skipped: {face['note'].splitlines()[0]}"]
            continue
        rounds = max((len(x["samples"]) for b in face["benchmarks"] for x in b["results"].values()), default=0)
        better = "higher" if face["higher_is_better"] else "lower"
        title = f"{fname} ({face['unit']}, {better} is better; median of {rounds} interleaved rounds; " \
                f"x = times faster than)"
        head, rows = face_rows(face)
        if markdown:
            rows = [[f"**{r[0]}**", *r[1:-3], *(f"**{x}**" for x in r[-3:-1]), ""] if r[0].startswith("geomean")
                    else r for r in rows]
        lines += table(title, fname, head, rows, markdown)
        # A face's further tables ({"title", "head", "rows"}), e.g. pyperformance's ratios.
        for t in face.get("tables", ()):
            lines += table(f"{fname}: {t['title']}", fname, t["head"], t["rows"], markdown)
        for b in face["benchmarks"]:
            lines += [f"error: {b['name']}: {e}" for e in b["errors"]]
        lines += [f"{'' if not markdown else chr(10)}note: {n}" for n in face.get("notes", ())]
    return "\n".join(lines) + "\n"


def chart(results, path):
    """A PNG: per face, each allocator's speed relative to the default
    (the default = 1, right is faster), one group of bars per benchmark;
    the legend beside the bars, the title above the panels."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    faces = [(n, f) for n, f in results["faces"].items() if f["status"] == "ok" and f["benchmarks"]]
    heights = [max(1.8, 0.22 * len(f["benchmarks"]) * (len(f["allocators"]) + 1) + 0.8) for _, f in faces] or [2]
    fig, axes = plt.subplots(len(faces) or 1, 1, figsize=(10, sum(heights) + 0.8), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    colors = {"pool": "#d62728", "glibc": "#7f7f7f", "pymalloc": "#8c564b", "lua5.4": "#8c564b",
              "mimalloc": "#1f77b4", "mimalloc3": "#17becf", "jemalloc": "#2ca02c"}
    for ax, (fname, face) in zip(axes[:, 0], faces):
        allocs = face["allocators"]
        width = 0.8 / len(allocs)
        for j, a in enumerate(allocs):
            ys, xs = [], []
            for i, b in enumerate(face["benchmarks"]):
                rel = speedup(b["results"], a, face["default"], face["higher_is_better"])
                if rel is not None:
                    ys.append(i + j * width - 0.4 + width / 2)
                    xs.append(rel)
            label = f"{a} (default)" if a == face["default"] else a
            ax.barh(ys, xs, height=width, label=label, color=colors.get(a, f"C{j + 4}"))
            if a == face["pool"]:
                for y, x in zip(ys, xs):
                    ax.text(x, y, f" {x:.2f}x", va="center", fontsize=7)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(face["benchmarks"])))
        ax.set_yticklabels([b["name"] for b in face["benchmarks"]])
        ax.invert_yaxis()
        ax.set_title(f"{fname}: speed relative to {face['default']} (right is faster)", fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if not faces:
        axes[0, 0].text(0.5, 0.5, "no face ran", ha="center", va="center")
        axes[0, 0].set_axis_off()
    m = results["machine"]
    fig.suptitle(f"poolalloc bench {results['date'][:10]} - {m['cpu']}, {m['cpus']} cpus", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
