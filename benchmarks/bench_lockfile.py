"""Benchmark ``verify-release --lockfile`` on 200 packages (400 files) against per-file tools.

Run from anywhere with the project's virtualenv::

    .venv/bin/python benchmarks/bench_lockfile.py

One run measures, side by side: ``verify-release --lockfile`` on a hash-pinned requirements
file of 200 synthetic packages (one wheel and one sdist each) served by the loopback index with
PEP 740 provenance signed by one local Sigstore stack (cold cache, ``--jobs 8`` with and
without verification worker processes and ``--jobs 1``, warm cache, against the loopback index
as it is and against one that waits 20 ms before every answer), and the per-file way of
verifying today (``sigstore verify identity`` on a sample of the same files,
``pypi-attestations verify`` on real production material), with the per-file costs
extrapolated to 400 files. It also sums the memory of verify-release's process tree in one
untimed run. Then it times the parts of one serial lockfile run in one process, and profiles
one run with the table's arguments.

Every figure printed is measured in this run; nothing is hard-coded. Each command is a fresh
subprocess with its own empty XDG cache/data/config directories, timed wall-clock from spawn to
reap, with its peak RSS read from the rusage ``os.wait4`` returns for that one child (the same
helper as bench_spine.py). The bytecode of ``verifier/`` is compiled first, as a wheel install
does.

See benchmarks/README.md for what each row means and the figures of a reference run.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _measure import Sample, Scratch, compile_project, measure  # noqa: E402

from tests.conftest import Material, _fetch_material  # noqa: E402
from tests.servers import DistFile, FakeIndex, LoopbackServer  # noqa: E402
from tests.sigstore_local import GITHUB_ISSUER, GitHubClaims, LocalSigstore  # noqa: E402

BIN = Path(sys.executable).parent
PACKAGES = 200
VERSION = "1.0.0"
JOBS = 8
LOCK_RUNS = 3
SIGSTORE_SAMPLE = 20
SPEEDUP_TARGET = 100.0
RSS_TARGET_MB = 300.0
PROFILE_TOP = 25
LATENCY = 0.020
"""Seconds added before every answer of the second index: an assumed round trip to a remote one."""
IN_PROCESS = ("--verify-processes", "0")
"""Sections 2 and 3 time and profile one process: verification in worker processes is off."""

REAL_SDIST = "pypi_attestations-0.0.19.tar.gz"
REAL_REPO = "https://github.com/trailofbits/pypi-attestations"
REAL_IDENTITY = f"{REAL_REPO}/.github/workflows/release.yml@refs/tags/v0.0.19"


# -- measuring one child (the same helper as bench_spine.py) ------------------------------------


def last_line(sample: Sample) -> str:
    lines = [line.strip() for line in (sample.err + sample.out).splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def script(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise SystemExit(
            f"bench: {path} not found; run this with the project virtualenv's python "
            "(.venv/bin/python benchmarks/bench_lockfile.py)"
        )
    return str(path)


@dataclass
class Row:
    """One command, timed ``runs`` times (or once per file of a sample)."""

    label: str
    make_argv: Callable[[int], list[str]]
    """Builds the argv for run number N (a fresh cache dir, or the Nth file of a sample)."""
    check: Callable[[Sample], str | None]
    """None when the run succeeded, else why not (the benchmark stops on it)."""
    files: int = 1
    """How many files one run verifies (400 for the lockfile rows, 1 for per-file tools)."""
    samples: list[Sample] = field(default_factory=list)
    data_home: Path | None = None
    """A data directory kept between this row's runs (the cache's key lives there, as it does
    for a user; a fresh one per run would make every cache entry a miss)."""

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def peak_rss_mb(self) -> float:
        return max(s.max_rss_kb for s in self.samples) / 1024

    @property
    def total(self) -> float:
        """Wall time for all 400 files: measured, or per-file median x 400 (extrapolated)."""
        return self.median if self.files > 1 else self.median * 2 * PACKAGES


def run_once(row: Row, number: int, scratch: Scratch) -> Sample:
    env = scratch.env()
    if row.data_home is not None:
        env["XDG_DATA_HOME"] = str(row.data_home)
    sample = measure(row.make_argv(number), env, scratch.root)
    problem = row.check(sample)
    if problem is not None:
        raise SystemExit(f"bench: {row.label!r} (run {number}) {problem}")
    return sample


def exit_zero(sample: Sample) -> str | None:
    return None if sample.code == 0 else f"exited {sample.code}: {last_line(sample)}"


# -- the synthetic lockfile, its index and its signatures --------------------------------------


@dataclass(frozen=True)
class BenchFile:
    package: str
    filename: str
    content: bytes
    claims: GitHubClaims

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def bench_files() -> list[BenchFile]:
    """benchpkg000..199 1.0.0: one wheel and one sdist each, small and all distinct."""
    files = []
    for number in range(PACKAGES):
        name = f"benchpkg{number:03d}"
        claims = GitHubClaims(
            repository=f"acme/{name}", workflow="release.yml", ref=f"refs/tags/v{VERSION}"
        )
        for filename in (f"{name}-{VERSION}-py3-none-any.whl", f"{name}-{VERSION}.tar.gz"):
            content = f"{filename}: synthetic distribution for bench_lockfile\n".encode() * 40
            files.append(BenchFile(name, filename, content, claims))
    return files


def requirements_text(files: Sequence[BenchFile]) -> str:
    """A hash-pinned requirements file as ``uv export`` writes it (continuation lines)."""
    lines = [
        "# This file was autogenerated by uv via the following command:",
        "#    uv export --frozen --format requirements.txt --output-file requirements.txt",
    ]
    by_package: dict[str, list[BenchFile]] = {}
    for file in files:
        by_package.setdefault(file.package, []).append(file)
    for package, pinned in by_package.items():
        lines.append(f"{package}=={VERSION} \\")
        hashes = [f"    --hash=sha256:{f.sha256}" for f in pinned]
        lines += [f"{h} \\" for h in hashes[:-1]] + [hashes[-1], "    # via sample"]
    return "\n".join(lines) + "\n"


def sign_provenance(sigstore: LocalSigstore, files: Sequence[BenchFile]) -> dict[str, bytes]:
    """One PEP 740 provenance object (one publish attestation) per file, by file name."""
    return {f.filename: sigstore.provenance(f.filename, f.content, f.claims) for f in files}


def serve(
    index: FakeIndex,
    files: Sequence[BenchFile],
    provenance: dict[str, bytes],
    *,
    latency: float = 0.0,
) -> None:
    """Synthetic PEP 691 pages, project URLs and PEP 740 provenance for every package.

    ``latency`` makes every answer wait that long before its first byte (``Route.stall_before``):
    a stand-in for the round trip to a remote index. The server answers each connection in its
    own thread, so parallel requests wait in parallel, as they would on a network.
    """
    by_package: dict[str, list[DistFile]] = {}
    for file in files:
        dist = DistFile(file.filename, file.content, provenance=provenance[file.filename])
        by_package.setdefault(file.package, []).append(dist)
    for package, dists in by_package.items():
        index.add_release(
            package,
            VERSION,
            dists,
            project_urls={"Source": f"https://github.com/acme/{package}"},
        )
    for route in index.server.routes.values():
        route.stall_before = latency


def write_bundles(sigstore: LocalSigstore, files: Sequence[BenchFile], where: Path) -> None:
    """Every file and its ``<file>.sigstore.json`` message-signature bundle, on disk."""
    for file in files:
        (where / file.filename).write_bytes(file.content)
        bundle = sigstore.sign_artifact(file.content, file.claims)
        (where / f"{file.filename}.sigstore.json").write_text(bundle)


def check_lockfile_report(sample: Sample) -> str | None:
    """Exit 0, and a JSON report with 200 releases whose 2 attestations each verified."""
    if sample.code != 0:
        return f"exited {sample.code}:\n{sample.out[-2000:]}{sample.err[-2000:]}"
    try:
        document = json.loads(sample.out)
    except json.JSONDecodeError as exc:
        return f"printed no JSON report ({exc}): {sample.out[:300]!r}"
    releases = document.get("releases", [])
    if document.get("verdict") != "verified" or len(releases) != PACKAGES:
        return f"verdict {document.get('verdict')!r} with {len(releases)} releases"
    for release in releases:
        attestations = [f for f in release["findings"] if f["check"] == "attestation"]
        verified = [f for f in attestations if f["outcome"] == "verified"]
        if len(attestations) != 2 or len(verified) != 2:
            return f"{release['subject']}: {len(verified)} of 2 attestations verified"
    return None


def lockfile_argv(
    lockfile: Path,
    index_url: str,
    root: Path,
    cache: Path,
    jobs: int,
    *,
    cached: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    return [
        script("verify-release"),
        *("--lockfile", str(lockfile), "--index-url", index_url),
        *("--trusted-root", str(root), "--offline", "-q"),
        *(() if cached else ("--no-cache",)),
        *("--cache-dir", str(cache)),
        *("--skip", "bundles", "--skip", "tags", "--skip", "vulnerabilities"),
        *("--jobs", str(jobs), "--format", "json"),
        *extra,
    ]


@dataclass
class TreeMemory:
    """The largest total memory of a command and every process it started, sampled."""

    rss_mb: float = 0.0
    """Sum of RSS: pages shared by a forked worker and its parent are counted twice."""
    pss_mb: float = 0.0
    """Sum of PSS: shared pages divided among the processes sharing them."""
    processes: int = 0
    """The most processes seen at once."""


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    queue.extend(int(child) for child in handle.read().split())
            except OSError:
                continue
    return found


def _rollup_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def tree_memory(argv: Sequence[str], env: dict[str, str], cwd: Path) -> TreeMemory | None:
    """Run ``argv`` once, summing the memory of its process tree every 5 ms (Linux only).

    ``ru_maxrss`` (the table's column) is one process's peak; with verification workers the
    run is several processes, so this separate, untimed run adds them up.
    """
    if not Path("/proc/self/smaps_rollup").exists():
        return None
    peak = TreeMemory()
    child = subprocess.Popen(
        list(argv), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while child.poll() is None:
        pids = _descendants(child.pid)
        sizes = [_rollup_kb(pid) for pid in pids]
        peak.rss_mb = max(peak.rss_mb, sum(r for r, _ in sizes) / 1024)
        peak.pss_mb = max(peak.pss_mb, sum(p for _, p in sizes) / 1024)
        peak.processes = max(peak.processes, sum(1 for r, _ in sizes if r))
        time.sleep(0.005)
    return peak


# -- printing -----------------------------------------------------------------------------------


def header() -> None:
    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"bench_lockfile  {now}")
    print(
        f"python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores; verify-release {version('verify-release')}, "
        f"sigstore {version('sigstore')}, pypi-attestations {version('pypi-attestations')}"
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before the run (1, 5, 15 min): {load}")
    print()


def print_table(rows: Sequence[Row], baseline: Row) -> None:
    width = max(len(r.label) for r in rows)
    print(
        f"  {'command':<{width}}  {'runs':>4}  {'s per file':>10}  {'wall s':>7}  "
        f"{'x verify-release':>16}  {'peak RSS MB':>11}"
    )
    for row in rows:
        per_file = row.median / row.files if row.files > 1 else row.median
        mark = " " if row.files > 1 else "*"
        print(
            f"  {row.label:<{width}}  {len(row.samples):4d}  {per_file:10.4f}  "
            f"{row.total:6.2f}{mark}  {row.total / baseline.total:16.2f}  "
            f"{row.peak_rss_mb:11.1f}"
        )
    files = 2 * PACKAGES
    print(
        f"  wall s: median of the runs for the lockfile rows (all {files} files in one command); "
        f"* = extrapolated: the per-file median x {files} (one command per file, not run "
        f"{files} times)"
    )
    print(
        "  s per file: wall / 400 for the lockfile rows, the median of one file's command "
        "otherwise; x verify-release = wall / the --jobs 8 row's wall; peak RSS = largest "
        "ru_maxrss of the runs"
    )


# -- where the time goes: timers, then the profiler ---------------------------------------------

# A fresh interpreter imports verifier.cli, then the heavy libraries verify-release imports
# lazily, then wraps a few functions with wall-clock timers and calls verifier.cli.main(argv).
# With --jobs 1 the pool has one worker, so the timers add up to the run's wall time (no
# profiler overhead, no GIL sharing between workers).
_TIMERS_CHILD = """\
import contextlib, functools, importlib, io, json, sys, time
result_path, targets, argv = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
start = time.perf_counter()
import verifier.cli
cli_imported = time.perf_counter()
import pydantic, pypi_attestations, requests, sigstore.verify
heavy_imported = time.perf_counter()
totals = {}

def timed(owner, attr, label):
    function = getattr(owner, attr)
    totals[label] = [0.0, 0]

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label][0] += time.perf_counter() - began
            totals[label][1] += 1

    setattr(owner, attr, wrapper)

for module, qualname, label in targets:
    owner = importlib.import_module(module)
    *path, attr = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    timed(owner, attr, label)
report = io.StringIO()
began = time.perf_counter()
with contextlib.redirect_stdout(report):
    code = verifier.cli.main(argv)
ended = time.perf_counter()
with open(result_path, "w") as handle:
    json.dump(
        {
            "code": code,
            "import verifier.cli": cli_imported - start,
            "heavy imports": heavy_imported - cli_imported,
            "main": ended - began,
            "totals": totals,
            "report": report.getvalue(),
        },
        handle,
    )
"""

RUN_LABEL = "LockfileRun.run (every package)"
HTTP_LABEL = "DirectTransport.fetch (http.client + the server)"
CHECK_LABEL = "AttestationChecker.check_provenance"
REST_CHECK_LABEL = "rest: provenance JSON (pydantic), policy"
REST_RUN_LABEL = "rest: page JSON, policies, findings"
# (module, function, label): what the timers wrap.
TIMED = [
    ("verifier.lockfiles", "parse_lockfile", "parse_lockfile"),
    ("verifier.pipeline", "LockfileRun.run", RUN_LABEL),
    ("verifier.transport", "DirectTransport.fetch", HTTP_LABEL),
    ("requests.sessions", "get_environ_proxies", "requests' proxy lookup in os.environ"),
    ("verifier.checks.attestations", "AttestationChecker.check_provenance", CHECK_LABEL),
    ("sigstore.verify.verifier", "Verifier.verify_dsse", "sigstore Verifier.verify_dsse"),
    ("verifier.checks.attestations", "evidence", "certificates.evidence"),
    ("verifier.report", "render", "render (JSON report)"),
]
# (label, indent): the order printed; the two "rest" lines are the differences.
SHOWN = [
    ("parse_lockfile", 0),
    (RUN_LABEL, 0),
    (HTTP_LABEL, 1),
    ("requests' proxy lookup in os.environ", 2),
    (CHECK_LABEL, 1),
    ("sigstore Verifier.verify_dsse", 2),
    ("certificates.evidence", 2),
    (REST_CHECK_LABEL, 2),
    (REST_RUN_LABEL, 1),
    ("render (JSON report)", 0),
]

# cProfile follows one thread only, and LockfileRun verifies in a thread pool. Before Python
# 3.12, each worker thread therefore gets its own profiler (threading.Thread.run is wrapped),
# and the worker profiles are merged with the main thread's. The main thread's own profile also
# gives the phases of the run (imports, trust root, lockfile parsing, the pool, rendering).
_PROFILE_CHILD = """\
import contextlib, cProfile, io, json, pstats, sys, threading, time
result_path, top, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
workers = []
if sys.version_info < (3, 12):
    _run = threading.Thread.run

    def _profiled_run(self):
        profile = cProfile.Profile()
        workers.append(profile)
        profile.enable()
        try:
            _run(self)
        finally:
            profile.disable()

    threading.Thread.run = _profiled_run
main_profile = cProfile.Profile()
report = io.StringIO()
start = time.perf_counter()
main_profile.enable()
import verifier.cli
with contextlib.redirect_stdout(report):
    code = verifier.cli.main(argv)
main_profile.disable()
wall = time.perf_counter() - start

def cumulative(stats, filename_end, function):
    return sum(
        ct
        for (filename, _, name), (_, _, _, ct, _) in stats.stats.items()
        if name == function and filename.endswith(filename_end)
    )

main_stats = pstats.Stats(main_profile)
phases = {
    "all imports": cumulative(main_stats, "_bootstrap>", "_find_and_load"),
    "Session.__init__ (imports sigstore, loads the root)": cumulative(
        main_stats, "run.py", "__init__"
    ),
    "  of which load_custom (--trusted-root)": cumulative(main_stats, "trust.py", "load_custom"),
    "parse_lockfile": cumulative(main_stats, "__init__.py", "parse_lockfile"),
    "LockfileRun.run (waits for the pool)": cumulative(main_stats, "pipeline.py", "run"),
    "render": cumulative(main_stats, "report/__init__.py", "render"),
}
worker_phases = {}
if workers:
    worker_stats = pstats.Stats(*workers)
    for label, end, function in (
        ("imports (first check imports pypi_attestations)", "_bootstrap>", "_find_and_load"),
        ("Pipeline.verify (one package)", "pipeline.py", "verify"),
        ("DirectTransport.fetch", "transport.py", "fetch"),
        ("AttestationChecker.check_provenance", "attestations.py", "check_provenance"),
        ("sigstore Verifier.verify_dsse", "verifier.py", "verify_dsse"),
        ("certificates.evidence", "certificates.py", "evidence"),
    ):
        worker_phases[label] = cumulative(worker_stats, end, function)
merged = pstats.Stats(main_profile)
for profile in workers:
    merged.add(profile)
by_cumulative = io.StringIO()
merged.stream = by_cumulative
merged.sort_stats("cumulative").print_stats(top)
with open(result_path, "w") as handle:
    json.dump(
        {
            "code": code,
            "wall": wall,
            "threads": len(workers),
            "phases": phases,
            "worker_phases": worker_phases,
            "report": report.getvalue(),
            "cumulative": by_cumulative.getvalue(),
        },
        handle,
    )
"""


def run_child(name: str, code: str, args: list[str], scratch: Scratch) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it writes its results as JSON to a file."""
    result = scratch.root / f"{name}.json"
    child = [sys.executable, "-c", code, str(result), *args]
    done = subprocess.run(
        child, env=scratch.env(), cwd=scratch.root, capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not result.exists():
        raise SystemExit(f"bench: the {name} run failed:\n{done.stdout}{done.stderr}")
    data: dict[str, Any] = json.loads(result.read_text())
    report = Sample(seconds=0.0, max_rss_kb=0, code=data["code"], out=data["report"], err="")
    problem = check_lockfile_report(report)
    if problem is not None:
        raise SystemExit(f"bench: the {name} run {problem}")
    return data


def print_timers(data: dict[str, Any]) -> None:
    main = data["main"]
    imports = data["import verifier.cli"] + data["heavy imports"]
    print(
        f"  imports before main(): {imports:.2f} s (verifier.cli {data['import verifier.cli']:.2f}"
        f" s; sigstore, pydantic, pypi_attestations, requests {data['heavy imports']:.2f} s); "
        f"main(): {main:.2f} s"
    )
    totals: dict[str, list[float]] = dict(data["totals"])
    run, http, checks, dsse, evidence = (
        totals[label][0]
        for label in (
            RUN_LABEL,
            HTTP_LABEL,
            CHECK_LABEL,
            "sigstore Verifier.verify_dsse",
            "certificates.evidence",
        )
    )
    totals[REST_CHECK_LABEL] = [checks - dsse - evidence, 0]
    totals[REST_RUN_LABEL] = [run - http - checks, 0]
    print(f"    {'function':<56}  {'calls':>5}  {'total s':>7}  {'ms/call':>7}  {'of main':>7}")
    for label, indent in SHOWN:
        seconds, calls = totals[label]
        name = "  " * indent + label
        count = f"{int(calls):5d}" if calls else f"{'':5}"
        per_call = f"{1000 * seconds / calls:7.2f}" if calls else f"{'':7}"
        print(f"    {name:<56}  {count}  {seconds:7.3f}  {per_call}  {100 * seconds / main:6.1f}%")


def shorten(text: str) -> str:
    """Make the profile's file paths short: site-packages/ and the project root dropped."""
    text = re.sub(r"\S*/site-packages/", "", text)
    text = text.replace(f"{ROOT}/", "")
    return re.sub(r"\S*/lib/python3\.\d+/", "", text)


def stats_lines(text: str) -> list[str]:
    lines = shorten(text).splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return [line.rstrip() for line in lines[start:] if line.strip()]


def print_profile(data: dict[str, Any]) -> None:
    print(
        f"  profiled wall time {data['wall']:.2f} s (slower than the table: cProfile's overhead); "
        f"worker threads profiled: {data['threads']}"
    )
    print("  main thread, cumulative s:")
    for label, seconds in data["phases"].items():
        print(f"    {label:<54} {seconds:6.2f}")
    if data["worker_phases"]:
        print(f"  worker threads, cumulative s summed over the {data['threads']} workers:")
        for label, seconds in data["worker_phases"].items():
            print(f"    {label:<54} {seconds:6.2f}")
    print(
        f"  top {PROFILE_TOP} by cumulative time, all threads merged (a function that ran in "
        "several threads adds their times, GIL waits included, so worker lines exceed the wall "
        "time):"
    )
    for line in stats_lines(data["cumulative"]):
        print(f"    {line}")


# -- the benchmark ------------------------------------------------------------------------------


@dataclass
class Setup:
    """Everything the commands read: the lockfile, trust material, files, and two indexes."""

    scratch: Scratch
    files: list[BenchFile]
    lockfile: Path
    root: Path
    trust_config: Path
    dists: Path
    real: Path
    """A directory with the real sdist, its publish attestation and its provenance."""
    index: FakeIndex
    remote: FakeIndex
    """The same content with LATENCY before every answer."""


def make_setup(scratch: Scratch, material: Material, index: FakeIndex, remote: FakeIndex) -> Setup:
    sigstore = LocalSigstore()
    files = bench_files()
    root = sigstore.write_trusted_root(scratch.root / "trusted_root.json")
    trust_config = scratch.root / "trust_config.json"
    trust_config.write_text(sigstore.client_trust_config_json())
    lockfile = scratch.root / "requirements.txt"
    lockfile.write_text(requirements_text(files))
    dists = scratch.fresh("dists")
    write_bundles(sigstore, files, dists)
    provenance = sign_provenance(sigstore, files)
    serve(index, files, provenance)
    serve(remote, files, provenance, latency=LATENCY)
    # Real production material for pypi-attestations, exactly as bench_spine.py runs it: the
    # tool verifies every <dist>.*.attestation next to the file, so only the publish one is kept.
    real = scratch.fresh("real")
    shutil.copy(material.assets / REAL_SDIST, real / REAL_SDIST)
    shutil.copy(
        material.assets / f"{REAL_SDIST}.publish.attestation",
        real / f"{REAL_SDIST}.publish.attestation",
    )
    (real / f"{REAL_SDIST}.provenance").write_bytes(material.provenance(REAL_SDIST))
    return Setup(scratch, files, lockfile, root, trust_config, dists, real, index, remote)


def lockfile_row(
    setup: Setup, label: str, index: FakeIndex, jobs: int, extra: Sequence[str] = ()
) -> Row:
    def argv(_: int) -> list[str]:
        cache = setup.scratch.fresh("cache")
        return lockfile_argv(setup.lockfile, index.url, setup.root, cache, jobs, extra=extra)

    return Row(label, argv, check_lockfile_report, files=len(setup.files))


def warm_lockfile_row(setup: Setup, label: str, index: FakeIndex, jobs: int) -> Row:
    """The same run with the on-disk cache kept between runs (the warm-up run fills it)."""
    cache = setup.scratch.fresh("warm-cache")

    def argv(_: int) -> list[str]:
        return lockfile_argv(setup.lockfile, index.url, setup.root, cache, jobs, cached=True)

    return Row(
        label,
        argv,
        check_lockfile_report,
        files=len(setup.files),
        data_home=setup.scratch.fresh("warm-data"),
    )


def sigstore_argv(setup: Setup, file: BenchFile) -> list[str]:
    path = setup.dists / file.filename
    return [
        *(script("sigstore"), "--trust-config", str(setup.trust_config)),
        *("verify", "identity", "--bundle", f"{path}.sigstore.json"),
        *("--cert-identity", file.claims.identity),
        *("--cert-oidc-issuer", GITHUB_ISSUER, str(path)),
    ]


def bench_table(setup: Setup) -> Row:
    """Section 1: every command, warm-up first, then interleaved rounds. Returns the baseline."""
    files, scratch = setup.files, setup.scratch
    pa = script("pypi-attestations")
    sdist = str(setup.real / REAL_SDIST)
    pa_pypi = [
        *(pa, "verify", "pypi", "--offline", "--repository", REAL_REPO),
        *("--provenance-file", f"{sdist}.provenance", sdist),
    ]
    pa_attestation = [pa, "verify", "attestation", "--offline", "--identity", REAL_IDENTITY, sdist]
    sample = [files[i * 20 + i % 2] for i in range(SIGSTORE_SAMPLE)]  # wheels and sdists

    ours = lockfile_row(setup, f"verify-release --lockfile --jobs {JOBS}", setup.index, JOBS)
    in_process = lockfile_row(
        setup, "  same, --verify-processes 0 (in-process)", setup.index, JOBS, IN_PROCESS
    )
    serial = lockfile_row(setup, "verify-release --lockfile --jobs 1", setup.index, 1)
    warm = warm_lockfile_row(setup, f"  same, --jobs {JOBS}, warm cache", setup.index, JOBS)
    ms = f"{LATENCY * 1000:.0f} ms"
    remote = lockfile_row(setup, f"  same, index {ms} away, --jobs {JOBS}", setup.remote, JOBS)
    remote_serial = lockfile_row(setup, f"  same, index {ms} away, --jobs 1", setup.remote, 1)
    per_file = [
        Row(
            "sigstore verify identity, 1 local bundle",
            lambda n: sigstore_argv(setup, sample[n]),
            exit_zero,
        ),
        Row("pypi-attestations verify pypi --offline (real)", lambda _: pa_pypi, exit_zero),
        Row(
            "pypi-attestations verify attestation --offline (real)",
            lambda _: pa_attestation,
            exit_zero,
        ),
    ]

    # One unmeasured warm-up each (sigstore's on a file outside the sample). The rows against
    # the remote index get none: the files they read are warm already, and each costs seconds.
    requests_before = len(setup.index.server.requests)
    run_once(ours, 0, scratch)
    requests_per_run = len(setup.index.server.requests) - requests_before
    run_once(in_process, 0, scratch)
    run_once(serial, 0, scratch)
    run_once(warm, 0, scratch)  # fills the warm row's cache
    run_once(
        Row("sigstore warm-up", lambda _: sigstore_argv(setup, files[1]), exit_zero), 0, scratch
    )
    for row in per_file[1:]:
        run_once(row, 0, scratch)

    # Interleaved rounds, so a noisy moment on the machine hits every command alike; the
    # sigstore sample is spread over the rounds, one file per run.
    for number in range(LOCK_RUNS):
        for row in (ours, in_process, serial, warm, remote, remote_serial):
            row.samples.append(run_once(row, number, scratch))
        for in_sample in range(number, SIGSTORE_SAMPLE, LOCK_RUNS):
            per_file[0].samples.append(run_once(per_file[0], in_sample, scratch))
        for row in per_file[1:]:
            row.samples.append(run_once(row, number, scratch))

    print(
        f"1. {PACKAGES} packages ({len(files)} files), cold cache: verify-release --lockfile "
        f"(median of {LOCK_RUNS}) against the per-file tools (x {len(files)})"
    )
    print_table([ours, in_process, serial, warm, remote, remote_serial, *per_file], ours)
    shown = [Path(a).name if a.startswith(str(BIN)) else a for a in ours.make_argv(0)]
    command = " ".join(shown).replace(setup.index.url, "<loopback>")
    print(f"  verify-release ran as: {command.replace(str(scratch.root), '<tmp>')}")
    print(
        f"  each lockfile run made {requests_per_run} requests to the index "
        f"({requests_per_run / PACKAGES:.0f} per package); the '{ms} away' index waits "
        f"{ms} before every answer"
    )
    print(
        "  sigstore ran as: sigstore --trust-config <local trust config> verify identity --bundle "
        f"<file>.sigstore.json --cert-identity <identity> --cert-oidc-issuer {GITHUB_ISSUER} "
        f"<file>, on {SIGSTORE_SAMPLE} of the {len(files)} files"
    )
    print("  targets:")
    for row in per_file:
        ratio = row.total / ours.total
        verdict = "met" if ratio >= SPEEDUP_TARGET else "NOT met"
        print(
            f"    verify-release --jobs {JOBS} >= {SPEEDUP_TARGET:.0f}x faster than {row.label} "
            f"x {len(files)}: {verdict} ({ratio:.1f}x)"
        )
    peak = max(r.peak_rss_mb for r in (ours, in_process, serial, warm, remote, remote_serial))
    tree = tree_memory(ours.make_argv(0), scratch.env(), scratch.root)
    worst = max(peak, tree.rss_mb if tree else 0.0)
    verdict = "met" if worst < RSS_TARGET_MB else "NOT met"
    print(
        f"    peak memory of verify-release --lockfile < {RSS_TARGET_MB:.0f} MB: {verdict} "
        f"({worst:.1f} MB)"
    )
    print(f"      largest ru_maxrss of one process in any lockfile row: {peak:.1f} MB")
    if tree is not None:
        print(
            f"      --jobs {JOBS} with its verification workers ({tree.processes} processes at "
            f"most), one more run sampled every 5 ms: RSS summed {tree.rss_mb:.1f} MB (shared "
            f"pages counted in each process), PSS summed {tree.pss_mb:.1f} MB"
        )
    print(
        f"  --jobs {JOBS} is {serial.median / ours.median:.2f}x as fast as --jobs 1 on loopback, "
        f"{remote_serial.median / remote.median:.2f}x with the index {ms} away"
    )
    print()
    return ours


def main() -> int:
    started = time.perf_counter()
    header()
    compile_project()
    material = Material(_fetch_material())
    with tempfile.TemporaryDirectory(prefix="bench-lockfile-") as tmp:
        scratch = Scratch(Path(tmp))
        server, remote_server = LoopbackServer(), LoopbackServer()
        try:
            began = time.perf_counter()
            setup = make_setup(scratch, material, FakeIndex(server), FakeIndex(remote_server))
            print(
                f"setup: {PACKAGES} packages, {len(setup.files)} files; {len(setup.files)} "
                f"provenance objects and {len(setup.files)} bundles signed by one LocalSigstore "
                f"in {time.perf_counter() - began:.1f} s"
            )
            print()
            bench_table(setup)

            print(
                "2. where the time goes: one verify-release --lockfile run in-process, --jobs 1 "
                "--verify-processes 0, wall-clock timers around key functions (no profiler)"
            )
            cache = scratch.fresh("cache")
            argv = lockfile_argv(
                setup.lockfile, setup.index.url, setup.root, cache, 1, extra=IN_PROCESS
            )[1:]
            targets = json.dumps(TIMED)
            print_timers(run_child("timers", _TIMERS_CHILD, [targets, *argv], scratch))
            print()

            print(
                f"3. profile: one verify-release --lockfile run in-process with the table's "
                f"arguments (--jobs {JOBS}) and --verify-processes 0 (cProfile cannot follow a "
                "worker process): cProfile on verifier.cli.main in a fresh interpreter"
            )
            cache = scratch.fresh("cache")
            argv = lockfile_argv(
                setup.lockfile, setup.index.url, setup.root, cache, JOBS, extra=IN_PROCESS
            )[1:]
            profile = run_child("profile", _PROFILE_CHILD, [str(PROFILE_TOP), *argv], scratch)
            print_profile(profile)
            print()
        finally:
            server.close()
            remote_server.close()
    print(f"total benchmark time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
