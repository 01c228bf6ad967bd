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


def table(head, rows, markdown, bold_rows=()):
    """A table as Markdown, or as aligned text (first column left, the
    others right).  Rows whose first cell is in `bold_rows` are bold in
    Markdown, empty cells aside."""
    if markdown:
        em = lambda r: [f"**{c}**" if c and r[0] in bold_rows else c for c in r]   # noqa: E731
        return ["| " + " | ".join(head) + " |", "|---" * len(head) + "|", *("| " + " | ".join(em(r)) + " |" for r in rows)]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)   # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return [fmt(head), "-" * len(fmt(head)), *map(fmt, rows)]


def titled(name, title, markdown):
    """A face's title line: `name (what the figures are)`."""
    return ["", f"**{name}** {title}", ""] if markdown else ["", f"{name} {title}"]


def face_lines(fname, face, markdown):
    """One timed face: its title, table, errors and notes."""
    rounds = max((len(x["samples"]) for b in face["benchmarks"] for x in b["results"].values()), default=0)
    better = "higher" if face["higher_is_better"] else "lower"
    head, rows = face_rows(face)
    lines = titled(fname, f"({face['unit']}, {better} is better; median of {rounds} interleaved rounds; "
                          f"x = times faster than)", markdown)
    lines += table(head, rows, markdown, bold_rows=[r[0] for r in rows if r[0].startswith("geomean")])
    # A face's further tables ({"title", "head", "rows"}), e.g. pyperformance's ratios.
    for t in face.get("tables", ()):
        lines += ["", f"**{fname}**: {t['title']}", ""] if markdown else ["", f"{fname}: {t['title']}"]
        lines += table(t["head"], t["rows"], markdown, bold_rows=["geomean"])
    for b in face["benchmarks"]:
        lines += [f"error: {b['name']}: {e}" for e in b["errors"]]
    return lines


def instr_lines(fname, face, markdown):
    """The instruction-count face: one row per pair and allocator."""
    n = face["pairs"]
    head = ["pair", "allocator", "instructions per pair"]
    rows = [[r["what"], r["allocator"], f"{r['instructions']:.1f}"] for r in face["rows"]]
    return [*titled(fname, f"(callgrind, instructions per malloc + free pair, loop included: (Ir(2N) - Ir(N)) / N, "
                           f"N = {n:,}; one block kept live; deterministic)", markdown),
            *table(head, rows, markdown)]


def goals_lines(goals, markdown):
    """The goals table: each goal's target, the figure this run measured,
    and met / not met / not measured."""
    head = ["goal (issue)", "target", "measured", "status"]
    rows = [[f"{g['goal']} ({g['issues']})", g["target"], g["measured"], g["status"]] for g in goals]
    if markdown:
        rows = [[*r[:3], f"**{r[3]}**" if r[3] == "met" else r[3]] for r in rows]
    met = sum(g["status"] == "met" for g in goals)
    unmeasured = sum(g["status"] == "not measured" for g in goals)
    return [*titled("goals", f"({met} of {len(goals)} met, {unmeasured} not measured in this run)", markdown),
            *table(head, rows, markdown)]


def header(results):
    """The first line: the command, the date, the machine, the run's time."""
    m = results["machine"]
    cmd = results.get("command")
    took = f", {results['seconds']:.0f} s" if "seconds" in results else ""
    load = f" (load average {m['load']} at the start)" if m.get("load") is not None else ""
    return (f"Measured {results['date'][:10]} on {m['cpu']}, {m['cpus']} CPUs, {m['memory']}, {m['system']}, "
            f"Python {m['python']}{load}{' (--quick)' if results['quick'] else ''}"
            + (f", by `{cmd}`{took}." if cmd else f"{took}."))


def render(results, markdown=False):
    """The results, per face, as aligned text or as Markdown (for
    README.md): the same cells either way, under the date and machine,
    with the goals table first when the run judged them."""
    lines = [header(results)]
    if results.get("goals"):
        lines += goals_lines(results["goals"], markdown)
    for fname, face in results["faces"].items():
        if face["status"] != "ok":
            lines += ["", f"**{fname}**: skipped: {face['note'].splitlines()[0]}" if markdown else
                      f"{fname}: skipped: {face['note'].splitlines()[0]}"]
            continue
        lines += (instr_lines if face.get("kind") == "instructions" else face_lines)(fname, face, markdown)
        lines += [f"{'' if not markdown else chr(10)}note: {n}" for n in face.get("notes", ())]
    return "\n".join(lines) + "\n"


def chart(results, path):
    """A PNG: per face, each allocator's speed relative to the default
    (the default = 1, right is faster), one group of bars per benchmark;
    the legend beside the bars, the title above the panels."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    faces = [(n, f) for n, f in results["faces"].items() if f["status"] == "ok" and f.get("benchmarks")]
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


BEGIN, END = "<!-- results.md -->", "<!-- /results.md -->"


def splice(path, markdown, dry=False):
    """Replace what stands between the BEGIN and END lines of file `path`
    (README.md) with `markdown`; '' on success, else why not.  `dry` only
    checks that the file has the two lines."""
    try:
        text = path.read_text()
    except OSError as exc:
        return exc.strerror
    lines = text.split("\n")
    if lines.count(BEGIN) != 1 or lines.count(END) != 1 or lines.index(BEGIN) > lines.index(END):
        return f"needs one {BEGIN} line and, after it, one {END} line"
    if not dry:
        i, j = lines.index(BEGIN), lines.index(END)
        path.write_text("\n".join([*lines[:i + 1], markdown.rstrip("\n"), *lines[j:]]))
    return ""
