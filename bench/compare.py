#!/usr/bin/env python3
"""compare.py: the driver behind bench/compare.sh (run that: it installs what this needs).

For each N: generate scenario scale-N (bench/gen.py), then RUNS times, interleaved, run under
`/usr/bin/time -v` `meshgen build`, each reference peer of shared/bench on the same N, and the
floor (`cat` of the bytes meshgen wrote into one new file on the same disk). Print one Markdown
table of medians (wall time, peak RSS) and write it to .bench/results.md (raw samples in
.bench/results.json). See bench/README.md.
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from importlib import metadata

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gen  # noqa: E402  (bench/gen.py: the scenario generator)

EXPECTED = "11·N+3"
# What of meshgen's output folder is compared with the peers (which write the 11·N+3 documents
# of apply order): its *.yaml files in path order, less the teardown file and the routing/ folder
# (the routing state after each step: the same VirtualServices again), and less the documents no
# peer writes: the mesh install (IstioOperator) and the kustomization.yaml files.
NOT_COUNTED_DIRS = {"routing"}
NOT_COUNTED_KINDS = {"IstioOperator", "Kustomization"}

# Column order of the table. Peers: (id, heading).
PEERS = [
    ("jinja-pure", "Jinja2+PyYAML (pure Python)"),
    ("jinja-libyaml", "Jinja2+libyaml"),
    ("jinja-text", "Jinja2 text only"),
    ("jsonnet", "C++ Jsonnet (eval only)"),
    ("jsonnet-go", "go-jsonnet (eval only)"),
]
HEADINGS = dict(PEERS, meshgen="meshgen", floor="floor: cat")
SHORT = {"jinja-pure": "Jinja2+PyYAML", "jinja-libyaml": "Jinja2+libyaml", "jinja-text": "Jinja2 text",
         "jsonnet": "C++ Jsonnet", "jsonnet-go": "go-jsonnet"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Failed(Exception):
    """A tool could not run or exited non-zero: its column becomes n/a."""


# --------------------------------------------------------------------------- settings

def settings():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", nargs="*", type=int, help="scenario sizes (default: $BENCH_N or 10 100 1000 5000)")
    ap.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "5")),
                    help="repeats per tool and N (default: $RUNS or 5)")
    ap.add_argument("--check", action="store_true", default=os.environ.get("BENCH_CHECK") == "1",
                    help="also check with shared/bench/compare.py that the outputs hold the same documents")
    ap.add_argument("--no-build", action="store_true", default=os.environ.get("BENCH_NO_BUILD") == "1",
                    help="do not run cargo build; use the meshgen binary already in target/release")
    ap.add_argument("--root", type=pathlib.Path, required=True, help="the meshgen repository")
    ap.add_argument("--shared", type=pathlib.Path, required=True, help="the shared/ folder")
    a = ap.parse_args()
    a.n = a.n or [int(x) for x in os.environ.get("BENCH_N", "10 100 1000 5000").split()]
    if not a.n or min(a.n) < 1 or a.runs < 1:
        ap.error("N must be >= 1 and RUNS >= 1")
    # Slow peers are skipped above a size: "PEER=MAX_N ..." (empty: skip nothing).
    a.max_n = {}
    for item in os.environ.get("BENCH_MAX_N", "jinja-pure=1000").split():
        peer, _, limit = item.partition("=")
        if peer not in dict(PEERS) or not limit.isdigit():
            ap.error(f"BENCH_MAX_N: expected PEER=N with PEER one of {', '.join(dict(PEERS))}: {item!r}")
        a.max_n[peer] = int(limit)
    a.timeout = float(os.environ.get("BENCH_TIMEOUT", "900"))
    a.bookinfo_runs = int(os.environ.get("BENCH_BOOKINFO_RUNS", "40"))
    a.scratch = a.root / ".bench"
    a.bench = a.shared / "bench"
    return a


# --------------------------------------------------------------------------- measuring

def measure(argv, scratch, timeout, cwd=None, stdout_path=None):
    """Run argv under /usr/bin/time -v; return (wall seconds, peak RSS in KiB).

    Wall time is taken by this process's monotonic clock around the run (time -v's own
    "Elapsed" has a 10 ms resolution, too coarse for the floor); RSS is time -v's
    "Maximum resident set size" (the largest of the process and the children it waited for)."""
    report = scratch / "time-v.txt"
    report.unlink(missing_ok=True)
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", str(report), *map(str, argv)],
                                cwd=cwd, stdout=out, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise Failed(f"timed out after {timeout:.0f} s") from None
        wall = time.perf_counter() - start
    finally:
        if stdout_path:
            out.close()
    if proc.returncode != 0:
        lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
        raise Failed(f"exit {proc.returncode}: {lines[-1].strip() if lines else '(no message)'}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report.read_text())
    if not found:
        raise Failed("no RSS in the report of /usr/bin/time -v")
    return wall, int(found.group(1))


def fresh(path):
    """Remove a file or folder left by an earlier run (outside the timed region)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the tools

def build_meshgen(a):
    """cargo build --release --locked, once. Returns (binary or None, reason when None)."""
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", a.root / "target"))
    binary = target / "release" / "meshgen"
    if not a.no_build:
        log("cargo build --release --locked ...")
        logfile = a.scratch / "cargo-build.log"
        with open(logfile, "wb") as f:
            status = subprocess.call(["cargo", "build", "--release", "--locked"], cwd=a.root,
                                     stdout=f, stderr=subprocess.STDOUT)
        if status != 0:
            errors = [ln for ln in logfile.read_text(errors="replace").splitlines() if ln.startswith("error")]
            return None, f"cargo build failed ({errors[0] if errors else 'see .bench/cargo-build.log'})"
    if not binary.is_file():
        return None, f"no binary {binary}"
    return binary, None


def peer_available(a):
    """{peer id: None if it can run, else why not}."""
    py = sys.executable
    has_gojsonnet = subprocess.call([py, "-c", "import _gojsonnet"], stderr=subprocess.DEVNULL) == 0
    has_jsonnet = shutil.which("jsonnet") is not None
    return {
        "jinja-pure": None, "jinja-libyaml": None, "jinja-text": None,
        "jsonnet": None if has_jsonnet else "no `jsonnet` on PATH (Debian package jsonnet)",
        "jsonnet-go": None if has_gojsonnet else "gojsonnet not installed in .bench/venv",
    }


def peer_command(peer, n, a, outdir):
    """(argv, file the output goes to via stdout or None, the output file) of a peer on scale-n."""
    py, b = sys.executable, a.bench
    jinja_out = outdir / peer / f"scale-{n}.yaml"
    mode = {"jinja-pure": "pure", "jinja-libyaml": "libyaml", "jinja-text": "text"}
    if peer in mode:
        return [py, b / "peer_jinja.py", n, outdir / peer, "--mode", mode[peer]], None, jinja_out
    if peer == "jsonnet":
        out = outdir / peer / f"scale-{n}.json"
        return ["jsonnet", "-y", "--ext-code", f"N={n}", "-o", out, b / "peer.jsonnet"], None, out
    if peer == "jsonnet-go":
        out = outdir / peer / f"scale-{n}.json"
        return [py, b / "run_gojsonnet.py", n], out, out
    raise ValueError(peer)


def floor_command(source, scratch, dest):
    """cat every file of source (a folder, or one file) into dest: (argv, cwd)."""
    if source.is_file():
        return ["cat", source.name], source.parent
    files = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())
    if sum(len(f) + 1 for f in files) < 100_000:  # well inside ARG_MAX
        return ["cat", *files], source
    listing = scratch / "floor-files.txt"       # many files: let xargs split the list
    listing.write_text("\0".join(files))
    return ["xargs", "-0", "-a", listing, "cat"], source


# --------------------------------------------------------------------------- what was produced

def yaml_files(source):
    """meshgen's apply-order YAML: *.yaml / *.yml, in path order, less the teardown file and routing/."""
    if source.is_file():
        return [source]
    return [p for p in sorted(source.rglob("*"))
            if p.is_file() and p.suffix in (".yaml", ".yml") and "teardown" not in p.name
            and not NOT_COUNTED_DIRS & set(p.relative_to(source).parts[:-1])]


def documents(source):
    """The YAML documents of source that the peers also write (see NOT_COUNTED_*)."""
    docs = []
    for p in yaml_files(source):
        with open(p, "rb") as f:
            docs += [d for d in yaml.load_all(f, Loader=yaml.CSafeLoader) if d is not None]
    return [d for d in docs if not (isinstance(d, dict) and d.get("kind") in NOT_COUNTED_KINDS)]


def total_bytes(source):
    if source.is_file():
        return source.stat().st_size
    return sum(p.stat().st_size for p in source.rglob("*") if p.is_file())


def canonical(doc):
    """A document as sorted-key JSON with integral floats as ints (100.0 == 100, as compare.py)."""
    def norm(x):
        if isinstance(x, float) and x.is_integer():
            return int(x)
        if isinstance(x, dict):
            return {str(k): norm(v) for k, v in x.items()}
        if isinstance(x, list):
            return [norm(v) for v in x]
        return x
    return json.dumps(norm(doc), sort_keys=True, default=str)


def check(n, a, nd, outputs, meshgen_src):
    """Lay out the outputs as shared/bench/compare.py expects and run it. Returns a summary line."""
    ck = nd / "check"
    fresh(ck)
    ref_peer = next((p for p in ("jinja-pure", "jinja-libyaml", "jinja-text") if p in outputs), None)
    if ref_peer is None:
        return "no Jinja2 output to compare against"
    layout = {"jinja": outputs[ref_peer]}
    layout.update({p: f for p, f in outputs.items() if p != ref_peer})
    for name, f in layout.items():
        (ck / name).mkdir(parents=True)
        (ck / name / f.name).symlink_to(f)
    if meshgen_src is not None:
        (ck / "meshgen").mkdir()
        (ck / "meshgen" / f"scale-{n}.json").write_text(json.dumps(documents(meshgen_src), default=str))
    res = subprocess.run([sys.executable, a.bench / "compare.py", ck], capture_output=True, text=True)
    log(res.stdout.rstrip() + res.stderr.rstrip())
    verdict = {}
    for line in res.stdout.splitlines():
        m = re.match(r"(OK|DIFF)\s+(\S+?)/", line)
        if m:
            verdict[m.group(2)] = m.group(1)
    if not verdict:
        return f"compare.py gave no verdict (exit {res.returncode})"
    peers = [p for p in verdict if p != "meshgen"]
    bad = [p for p in peers if verdict[p] != "OK"]
    ref_name = ref_peer + (" (pure skipped)" if ref_peer != "jinja-pure" else "")
    text = f"peers vs {ref_name}: " + ("all agree" if not bad else "DIFFER: " + ", ".join(bad))
    if "meshgen" in verdict:
        if verdict["meshgen"] == "OK":
            text += "; meshgen: same documents, same order"
        else:
            ref = sorted(map(canonical, documents(outputs[ref_peer])))
            mine = sorted(map(canonical, documents(meshgen_src)))
            text += ("; meshgen: same documents, other order" if ref == mine
                     else "; meshgen: documents DIFFER (see the compare.py output on stderr)")
    return text


# --------------------------------------------------------------------------- one N

def bench_n(n, a, meshgen, unavailable):
    """Measure everything on scale-n. Returns a dict describing the row."""
    nd = a.scratch / "out" / f"N{n}"
    fresh(nd)
    nd.mkdir(parents=True)
    scenario = a.scratch / "scenarios" / f"scale-{n}.toml"
    scenario.parent.mkdir(parents=True, exist_ok=True)
    scenario.write_text(gen.scenario(n))

    failed = {}   # tool id -> why its cell is n/a
    skipped = {}  # peer id -> why it was not run
    if meshgen is None:
        failed["meshgen"] = unavailable["meshgen"]
    for peer, _ in PEERS:
        if unavailable[peer]:
            failed[peer] = unavailable[peer]
        elif n > a.max_n.get(peer, n):
            skipped[peer] = f"skipped (N > {a.max_n[peer]})"
    samples = {t: [] for t in ["meshgen", *dict(PEERS), "floor"]}
    outputs = {}       # peer id -> output file of its last run
    floor_src = None   # what the floor copies: meshgen's output of run 1, else the Jinja2 text output
    floor_of = None

    for run in range(1, a.runs + 1):
        if "meshgen" not in failed:
            out = nd / "meshgen"
            fresh(out)
            try:
                samples["meshgen"].append(measure([meshgen, "build", scenario, "--out", out],
                                                  a.scratch, a.timeout))
                if not (out / f"scale-{n}").is_dir():
                    raise Failed(f"no output folder {out.name}/scale-{n}")
            except Failed as e:
                failed["meshgen"] = f"meshgen build failed: {e}"
            else:
                if floor_src is None:   # keep run 1's output aside, on the same disk
                    floor_src, floor_of = nd / "meshgen-output", "meshgen"
                    (out / f"scale-{n}").rename(floor_src)
        for peer, _ in PEERS:
            if peer in failed or peer in skipped:
                continue
            argv, stdout_path, out = peer_command(peer, n, a, nd)
            fresh(out.parent)
            out.parent.mkdir(parents=True)
            try:
                samples[peer].append(measure(argv, a.scratch, a.timeout, stdout_path=stdout_path))
                outputs[peer] = out
            except Failed as e:
                failed[peer] = f"{peer} failed: {e}"
                outputs.pop(peer, None)
        if floor_src is None and "jinja-text" in outputs:
            floor_src, floor_of = nd / "jinja-text-output.yaml", "jinja-text"
            shutil.copyfile(outputs["jinja-text"], floor_src)
        if floor_src is not None:
            dest = nd / "floor.out"
            fresh(dest)
            argv, cwd = floor_command(floor_src, a.scratch, dest)
            try:
                samples["floor"].append(measure(argv, a.scratch, a.timeout, cwd=cwd, stdout_path=dest))
            except Failed as e:
                failed["floor"] = f"floor failed: {e}"
        log(f"N={n} run {run}/{a.runs}: " + ", ".join(
            f"{t} {s[-1][0]:.3f}s" for t, s in samples.items() if len(s) == run) )
    if floor_src is None:
        failed.setdefault("floor", "floor: nothing to copy (meshgen and Jinja2 text both n/a)")

    row = dict(n=n, failed=failed, skipped=skipped, floor_of=floor_of, docs=None, mb=None, check=None,
               samples={t: s for t, s in samples.items() if s and t not in failed})
    if floor_src is not None:
        row["docs"] = len(documents(floor_src))
        row["mb"] = total_bytes(floor_src) / 1e6
    if a.check:
        row["check"] = check(n, a, nd, outputs, floor_src if floor_of == "meshgen" else None)
    return row


def bench_bookinfo(a, meshgen):
    """Bookinfo's `meshgen build`, whole process, with hyperfine (no shell, warm-up runs): over
    its previous output (a rebuild) and into a folder removed before each run. Returns
    (Markdown line, raw results)."""
    heading = f"Bookinfo (`scenarios/bookinfo.toml`), `meshgen build`, {a.bookinfo_runs} runs each"
    if meshgen is None:
        return f"{heading}: n/a (no meshgen binary)", None
    if shutil.which("hyperfine") is None:
        return f"{heading}: n/a (no `hyperfine` on PATH: Debian package hyperfine)", None
    scenario = a.root / "scenarios" / "bookinfo.toml"
    base = a.scratch / "bookinfo"
    fresh(base)
    base.mkdir()
    results = {}
    for mode in ("rebuild", "fresh"):
        out = base / mode
        command = shlex.join(map(str, [meshgen, "build", scenario, "--out", out]))
        prepare = ["--prepare", shlex.join(["rm", "-rf", str(out)])] if mode == "fresh" else []
        export = base / f"{mode}.json"
        argv = ["hyperfine", "--shell=none", "--warmup", "3", "--runs", str(a.bookinfo_runs),
                "--style", "none", "--export-json", str(export), *prepare, command]
        status = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if status.returncode != 0:
            lines = status.stderr.strip().splitlines()
            return f"{heading}: n/a (hyperfine failed: {lines[-1] if lines else 'no message'})", None
        results[mode] = json.loads(export.read_text())["results"][0]
    try:
        _, rss = measure([meshgen, "build", scenario, "--out", base / "rebuild"], a.scratch, a.timeout)
    except Failed as e:
        return f"{heading}: n/a (meshgen build failed: {e})", None

    def ms(r):
        return f"median {r['median'] * 1e3:.2f} ms (min {r['min'] * 1e3:.2f}, max {r['max'] * 1e3:.2f})"
    line = (f"{heading} (hyperfine --shell=none, 3 warm-up runs): rebuilding over its previous output "
            f"{ms(results['rebuild'])}; into a folder removed before each run {ms(results['fresh'])}; "
            f"peak RSS {rss / 1024:.0f} MiB.")
    return line, dict(results, rss_kib=rss)


# --------------------------------------------------------------------------- the table

def fmt_time(s):
    return f"{s:.3f} s" if s < 1 else f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def medians(samples):
    return statistics.median(w for w, _ in samples), statistics.median(r for _, r in samples) / 1024


def table(rows, a):
    tools = ["meshgen", *dict(PEERS), "floor"]
    head = ["N", "documents", "MB", *(HEADINGS[t] for t in tools),
            "meshgen ÷ fastest peer", "meshgen ÷ floor"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = {}  # message -> the N it applies to
    for r in rows:
        n = r["n"]
        docs = "n/a" if r["docs"] is None else f"{r['docs']:,}"
        if r["docs"] is not None and r["docs"] != 11 * n + 3:
            docs += f" (≠ {EXPECTED} = {11 * n + 3:,})"
        mb = "n/a" if r["mb"] is None else f"{r['mb']:.2f}"
        if r["floor_of"] == "jinja-text":
            docs, mb = docs + " †", mb + " †"
        cells, wall = [], {}
        for t in tools:
            if t in r["samples"]:
                wall[t], rss = medians(r["samples"][t])
                cells.append(f"{fmt_time(wall[t])} / {rss:.0f} MiB")
            else:
                cells.append(r["skipped"].get(t, "n/a"))
        peers = {t: w for t, w in wall.items() if t in dict(PEERS)}
        if "meshgen" in wall and peers:
            fastest = min(peers, key=peers.get)
            vs_peer = f"{wall['meshgen'] / peers[fastest]:.2f}× vs {SHORT[fastest]}"
        else:
            vs_peer = "n/a"
        vs_floor = f"{wall['meshgen'] / wall['floor']:.3g}×" if {"meshgen", "floor"} <= wall.keys() else "n/a"
        lines.append(f"| {n:,} | {docs} | {mb} | " + " | ".join(cells) + f" | {vs_peer} | {vs_floor} |")
        for why in r["failed"].values():
            notes.setdefault(why, []).append(f"{n:,}")
        if r["check"]:
            notes.setdefault(f"check (shared/bench/compare.py): {r['check']}", []).append(f"{n:,}")
    legend = [
        f"Each cell: median wall time / median peak RSS of {a.runs} run{'s' if a.runs > 1 else ''} (runs interleaved; wall: monotonic "
        "clock around the process; RSS: `/usr/bin/time -v` Maximum resident set size). Process start-up included.",
        f"documents: YAML documents in meshgen's `*.yaml` files except `teardown.yaml` and `routing/` (the "
        "routing state after each step, a repeat of `steps/`), less the IstioOperator (mesh install) and "
        f"Kustomization documents, which the peers do not write: the peers' {EXPECTED} in apply order. "
        "MB: all files of meshgen's output folder (10^6 bytes) — what the floor copies.",
        "floor: `cat` of every file of meshgen's output folder into one new file on the same disk.",
    ]
    if any(r["floor_of"] == "jinja-text" for r in rows):
        legend.append("†: meshgen n/a, so documents, MB and the floor are those of the Jinja2 text peer's output.")
    capped = [f"{HEADINGS[p]} above N={m:,}" for p, m in a.max_n.items()
              if any(r["n"] > m for r in rows)]
    if capped:
        legend.append("Skipped (too slow; BENCH_MAX_N): " + ", ".join(capped) + ".")
    return "\n".join(lines), legend, [f"- N={', '.join(ns)}: {msg}" for msg, ns in notes.items()]


def machine_info(a):
    cpu = "unknown CPU"
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def out(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, cwd=a.root).stdout.strip()
        except OSError:
            return ""
    commit = out("git", "rev-parse", "--short", "HEAD")
    dirty = " + uncommitted changes" if out("git", "status", "--porcelain", "--untracked-files=no") else ""
    versions = [f"Python {platform.python_version()}"]
    for pkg in ("jinja2", "pyyaml", "gojsonnet"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            pass
    jsonnet = out("jsonnet", "--version") if shutil.which("jsonnet") else ""
    if jsonnet:
        versions.append("C++ jsonnet " + jsonnet.split()[-1])
    rustc = out("rustc", "--version")
    if rustc:
        versions.append(rustc.split(" (")[0])
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"Machine: nproc {len(os.sched_getaffinity(0))}, {cpu}, {platform.system()} {platform.release()}; "
            f"{date}; load average at start {load}; meshgen {commit}{dirty}; " + ", ".join(versions) + ".")


def main():
    a = settings()
    a.scratch.mkdir(exist_ok=True)
    machine = machine_info(a)
    unavailable = peer_available(a)
    meshgen, why = build_meshgen(a)
    unavailable["meshgen"] = why
    if why:
        log(f"meshgen: n/a ({why})")
    bookinfo, bookinfo_raw = bench_bookinfo(a, meshgen) if a.bookinfo_runs > 0 else (None, None)
    rows = [bench_n(n, a, meshgen, unavailable) for n in a.n]
    tab, legend, notes = table(rows, a)
    report = "\n".join([tab, "", *legend, *([""] + notes if notes else []),
                        *(["", bookinfo] if bookinfo else []), "", machine]) + "\n"
    sys.stdout.write(report)
    (a.scratch / "results.md").write_text(report)
    raw = [dict(r, samples={t: [dict(wall_s=w, rss_kib=k) for w, k in s] for t, s in r["samples"].items()})
           for r in rows]
    (a.scratch / "results.json").write_text(json.dumps(dict(machine=machine, runs=a.runs, rows=raw,
                                                            bookinfo=bookinfo_raw), indent=1))


if __name__ == "__main__":
    main()
