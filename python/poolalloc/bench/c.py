"""poolalloc.bench.c -- the C face: bench_pairs (tests/benchmarks/c, built
by CMake), one process that runs libpool and the peers it dlopens
interleaved itself, in Mpairs/s (higher is better)."""
import json
import pathlib
import subprocess
import tempfile

from .harness import POOL, RSS, Case, clean_env, face_result, skipped
from .peers import peer_env


class CFace:
    name = "c"

    def prepare(self, ctx):
        self.exe = ctx.artifact("bench_pairs")
        if not self.exe:
            return ctx.missing("bench_pairs")
        self.rounds = ctx.rounds(11, 5)
        return ""

    def steps(self):
        return 8

    def run(self, ctx, tick):
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "pairs.json"
            argv = [str(self.exe), "--rounds", str(self.rounds), "--json", str(out), "--peers", ",".join(ctx.peers)]
            if ctx.quick:
                argv.append("--quick")
            if ctx.smoke:
                argv += ["--scale", "0.1", "--no-rss"]
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=clean_env(peer_env(ctx.libs)))
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if line.strip().endswith(" done"):
                    tick()
            err = proc.stderr.read()
            if proc.wait() != 0 or not out.exists():
                return skipped(f"bench_pairs failed (exit {proc.returncode}): {(err or ''.join(lines))[-500:]}")
            data = json.loads(out.read_text())
        return convert(data)


def convert(data):
    """bench_pairs' JSON in the shape of the other faces (its pool is POOL)."""
    cases, notes = [], []
    for a in data["allocators"]:
        if not a["available"]:
            notes.append(f"{a['name']} skipped: {a['note']}")
    for p in data["patterns"]:
        c = Case(p["name"], {k: {} for k in p["results"]}, what=p["what"])
        for k, r in p["results"].items():
            c.samples[k] = r["samples"]
            c.rss[k] = max(r[RSS], 0)
        cases.append(c)
    assert all(POOL in p["results"] for p in data["patterns"]), "bench_pairs names libpool 'pool'"
    face = face_result(cases, "Mpairs/s", True, "glibc", notes)
    for b, p in zip(face["benchmarks"], data["patterns"]):
        for k, r in p["results"].items():   # bench_pairs' RSS is growth during one run (-1: not measured)
            b["results"][k][RSS] = r[RSS] if r[RSS] >= 0 else None
    face["rss_note"] = "peak RSS growth during one run of the pattern, in a fresh child"
    return face
