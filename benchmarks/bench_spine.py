"""Benchmark the spine: start-up, one full verification, and import cost, in one run.

Run from anywhere with the project's virtualenv::

    .venv/bin/python benchmarks/bench_spine.py

Every figure printed is measured in this run; nothing is hard-coded. Each command is a fresh
subprocess with its own empty XDG cache/data/config directories (no user cache is read, no
TUF metadata is reused between runs), timed wall-clock from spawn to reap, with its peak RSS
read from the rusage ``os.wait4`` returns for that one child.

See benchmarks/README.md for what each row means and the figures of a reference run.
"""

from __future__ import annotations

import contextlib
import datetime
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _measure import Sample, Scratch, compile_project, measure  # noqa: E402

from tests.conftest import Material, _fetch_material  # noqa: E402
from tests.e2e.helpers import base_args  # noqa: E402
from tests.servers import DistFile, FakeIndex, LoopbackServer  # noqa: E402

BIN = Path(sys.executable).parent
HELP_RUNS = 7
VERIFY_RUNS = 5
IMPORT_RUNS = 5
HELP_TARGET_SECONDS = 0.3
ATTEMPT_TIMEOUT = 60.0

SDIST = "pypi_attestations-0.0.19.tar.gz"
REPO = "https://github.com/trailofbits/pypi-attestations"
IDENTITY = f"{REPO}/.github/workflows/release.yml@refs/tags/v0.0.19"
ISSUER = "https://token.actions.githubusercontent.com"
MODELS_SDIST = "pypi_attestation_models-0.0.4a2.tar.gz"
MODELS_IDENTITY = (
    "https://github.com/trailofbits/pypi-attestation-models/.github/workflows/release.yml"
    "@refs/tags/v0.0.4a2"
)
HEAVY = ("sigstore", "requests", "pydantic", "pypi_attestations", "cryptography", "rich")
MUST_NOT_IMPORT = ("sigstore", "requests")


# -- measuring one child ------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    argv: list[str]
    samples: list[Sample] = field(default_factory=list)
    fresh_argv: Callable[[], list[str]] | None = None
    """Builds the argv anew before every run (e.g. for a new, empty cache directory)."""

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def peak_rss_mb(self) -> float:
        return max(s.max_rss_kb for s in self.samples) / 1024


def failure_reason(output: str) -> str:
    """A one-line reason from a failed tool's output (TUF refresh without a network, mostly)."""
    output = re.sub(r"\s+", " ", output)  # rich wraps long log lines
    reasons = []
    if "Failed to refresh TUF metadata" in output:
        reasons.append("Failed to refresh TUF metadata")
    host = re.search(r"Failed to resolve '([^']+)'", output)
    if host:
        reasons.append(f"cannot resolve {host.group(1)}")
    elif "NameResolutionError" in output:
        reasons.append("name resolution failed")
    if reasons:
        return "; ".join(reasons)
    return output.strip()[-200:] or "(no output)"


def last_line(sample: Sample) -> str:
    lines = [line.strip() for line in (sample.err + sample.out).splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def run_rounds(rows: Sequence[Row], runs: int, scratch: Scratch) -> None:
    """``runs`` timed rounds, interleaved across rows so load on the machine hits all alike."""
    for _ in range(runs):
        for row in rows:
            if row.fresh_argv is not None:
                row.argv = row.fresh_argv()
            sample = measure(row.argv, scratch.env())
            if sample.code != 0:
                raise SystemExit(
                    f"bench: {row.label!r} exited {sample.code}:\n{sample.out}{sample.err}"
                )
            row.samples.append(sample)


def run_rows(rows: Sequence[Row], runs: int, scratch: Scratch) -> None:
    """One unmeasured warm-up each, then ``runs`` interleaved rounds."""
    for row in rows:
        warm = measure(row.argv, scratch.env())
        if warm.code != 0:
            raise SystemExit(f"bench: {row.label!r} exited {warm.code}: {last_line(warm)}")
    run_rounds(rows, runs, scratch)


def script(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise SystemExit(
            f"bench: {path} not found; run this with the project virtualenv's python "
            "(.venv/bin/python benchmarks/bench_spine.py)"
        )
    return str(path)


# -- printing -----------------------------------------------------------------------------------


def print_table(rows: Sequence[Row], baseline: Row, runs: int) -> None:
    width = max(len(r.label) for r in rows)
    print(
        f"  {'command':<{width}}  {'median s':>8}  {'min s':>6}  {'max s':>6}  "
        f"{'x verify-release':>16}  {'peak RSS MB':>11}"
    )
    for row in rows:
        times = [s.seconds for s in row.samples]
        ratio = row.median / baseline.median
        print(
            f"  {row.label:<{width}}  {row.median:8.3f}  {min(times):6.3f}  {max(times):6.3f}  "
            f"{ratio:16.2f}  {row.peak_rss_mb:11.1f}"
        )
    print(
        f"  (median of {runs} runs after one warm-up; 'x verify-release' = row median / "
        f"{baseline.label.split()[0]} median; peak RSS = largest ru_maxrss of the runs)"
    )


def header() -> None:
    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"bench_spine  {now}")
    print(
        f"python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores; verify-release {version('verify-release')}, "
        f"sigstore {version('sigstore')}, pypi-attestations {version('pypi-attestations')}"
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before the run (1, 5, 15 min): {load}")
    print()


# -- 1. start-up --------------------------------------------------------------------------------


def bench_help(scratch: Scratch) -> None:
    print(f"1. start-up: '<command> --help', wall time, median of {HELP_RUNS}")
    rows = [
        Row("verify-release --help", [script("verify-release"), "--help"]),
        Row("sigstore --help", [script("sigstore"), "--help"]),
        Row("pypi-attestations --help", [script("pypi-attestations"), "--help"]),
    ]
    run_rows(rows, HELP_RUNS, scratch)
    print_table(rows, rows[0], HELP_RUNS)
    ours = rows[0].median
    verdict = "met" if ours < HELP_TARGET_SECONDS else "NOT met"
    print(
        f"  target verify-release --help < {HELP_TARGET_SECONDS} s: {verdict} "
        f"({ours:.3f} s; sigstore --help takes {rows[1].median / ours:.1f}x as long, "
        f"pypi-attestations --help {rows[2].median / ours:.1f}x)"
    )
    print()


# -- 2. one release, full verification ----------------------------------------------------------


@contextlib.contextmanager
def loopback_index(material: Material, *, nodelay: bool = False) -> Iterator[FakeIndex]:
    """The real sdist and its real provenance, served exactly as tests/e2e serve_sdist does.

    ``nodelay`` sets TCP_NODELAY on this server's connections only. The stand-in writes the
    headers and the body of a response separately, so with Nagle's algorithm on, the body waits
    for the client's delayed ACK of the headers (tens of ms per request on loopback). That is
    the stand-in's transport, not the verifier. The extra row shows how much of it there is.
    """
    server = LoopbackServer()
    if nodelay:
        handler = server._httpd.RequestHandlerClass  # a class of this server's own
        handler.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    try:
        index = FakeIndex(server)
        dist = DistFile(
            filename=SDIST, content=material.read(SDIST), provenance=material.provenance(SDIST)
        )
        index.add_release(
            "pypi-attestations", "0.0.19", [dist], real_page=material.page("pypi-attestations")
        )
        yield index
    finally:
        server.close()


def verify_release_row(label: str, index: FakeIndex, scratch: Scratch) -> Row:
    """verify-release against ``index``, with a fresh, empty --cache-dir on every run."""

    def argv() -> list[str]:
        # base_args: the e2e tests' flags (--index-url, --cache-dir, --offline, -q, and
        # whatever else the tests pin to keep the run on the spine and off the network).
        return [
            script("verify-release"),
            *("pypi-attestations==0.0.19", "--repository", REPO, "--workflow", "release.yml"),
            *base_args(index.url, scratch.fresh("cache")),
        ]

    row = Row(label, argv(), fresh_argv=argv)
    warm = measure(argv(), scratch.env())
    # Explicit checks rather than assert statements, so they still run under python -O.
    if warm.code != 0 or "verdict: VERIFIED (exit 0)" not in warm.out:
        raise SystemExit(f"bench: verify-release exited {warm.code}:\n{warm.out}{warm.err}")
    return row


def try_online(label: str, argv: list[str], scratch: Scratch) -> Row | str:
    """A timed row if the online (TUF refresh) form works here, else why it does not."""
    try:
        attempt = subprocess.run(
            argv,
            env=scratch.env(),
            capture_output=True,
            text=True,
            timeout=ATTEMPT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{label}: no answer within {ATTEMPT_TIMEOUT:.0f} s"
    if attempt.returncode == 0:
        return Row(label, argv)
    why = failure_reason(attempt.stderr + attempt.stdout)
    return f"{label}: exit {attempt.returncode}: {why}"


def bench_verify(scratch: Scratch, material: Material) -> None:
    print(
        f"2. one release, full verification of {SDIST} (real material), "
        f"median of {VERIFY_RUNS}, cold caches"
    )
    # The per-file tools look for <dist>.publish.attestation and <dist>.slsa.attestation next
    # to the file; the assets hold both, so give them a directory with the publish one only
    # (the same single attestation verify-release checks).
    lone = scratch.fresh("lone")
    shutil.copy(material.assets / SDIST, lone / SDIST)
    shutil.copy(
        material.assets / f"{SDIST}.publish.attestation", lone / f"{SDIST}.publish.attestation"
    )
    provenance = lone / f"{SDIST}.provenance"
    provenance.write_bytes(material.provenance(SDIST))
    # The same attestation as a Sigstore bundle (a format conversion of the real material).
    from pypi_attestations import Attestation

    attestation = Attestation.model_validate_json(
        (material.assets / f"{SDIST}.publish.attestation").read_bytes()
    )
    bundle = lone / f"{SDIST}.sigstore.json"
    bundle.write_text(attestation.to_bundle().to_json())

    pa, sg = script("pypi-attestations"), script("sigstore")
    pa_attestation = [pa, "verify", "attestation", "--identity", IDENTITY, str(lone / SDIST)]
    pa_attestation_offline = [*pa_attestation[:3], "--offline", *pa_attestation[3:]]
    pa_pypi_offline = [
        *(pa, "verify", "pypi", "--offline", "--repository", REPO),
        *("--provenance-file", str(provenance), str(lone / SDIST)),
    ]
    sg_same = [
        *(sg, "verify", "identity", "--bundle", str(bundle)),
        *("--cert-identity", IDENTITY, "--cert-oidc-issuer", ISSUER, str(lone / SDIST)),
    ]
    sg_same_offline = [*sg_same[:3], "--offline", *sg_same[3:]]
    sg_models_offline = [
        *(sg, "verify", "identity", "--offline"),
        *("--bundle", str(material.assets / f"{MODELS_SDIST}.sigstore")),
        *("--cert-identity", MODELS_IDENTITY, "--cert-oidc-issuer", ISSUER),
        str(material.assets / MODELS_SDIST),
    ]

    skipped: list[str] = []
    with (
        loopback_index(material) as index,
        loopback_index(material, nodelay=True) as fast_index,
    ):
        ours = verify_release_row(
            "verify-release pypi-attestations==0.0.19 --offline", index, scratch
        )
        rows = [
            ours,
            verify_release_row("  same, loopback index with TCP_NODELAY", fast_index, scratch),
        ]
        # The online forms refresh TUF over the network; keep them only if that works here.
        for label, online in (
            ("pypi-attestations verify attestation (online TUF)", pa_attestation),
            ("sigstore verify identity (online TUF)", sg_same),
        ):
            outcome = try_online(label, online, scratch)
            if isinstance(outcome, Row):
                rows.append(outcome)
            else:
                skipped.append(outcome)
        others = [
            Row("pypi-attestations verify attestation --offline", pa_attestation_offline),
            Row("pypi-attestations verify pypi --offline --provenance-file", pa_pypi_offline),
            Row("sigstore verify identity --offline (same, as bundle)", sg_same_offline),
            Row("sigstore verify identity --offline (models 0.0.4a2)", sg_models_offline),
        ]
        for row in others:
            warm = measure(row.argv, scratch.env())
            if warm.code != 0:
                raise SystemExit(f"bench: {row.label!r} exited {warm.code}: {last_line(warm)}")
        rows += others
        run_rounds(rows, VERIFY_RUNS, scratch)
        shown = [Path(ours.argv[0]).name, *ours.argv[1:]]
        shown = ["<tmp>/cache" if a.startswith(str(scratch.root)) else a for a in shown]
        command = " ".join(shown).replace(index.url, "<loopback>")
    print_table(rows, ours, VERIFY_RUNS)
    print(f"  verify-release ran as: {command}")
    for reason in skipped:
        print(f"  not measured: {reason}")
    print()


# -- 3. import cost -----------------------------------------------------------------------------


def parse_importtime(stderr: str) -> list[tuple[str, int]]:
    """``import time: self | cumulative | name`` lines -> [(top-level name, cumulative µs)]."""
    top: list[tuple[str, int]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumul, name = line[len("import time:") :].split("|", 2)
        if name.startswith(" ") and not name.startswith("  "):  # one space: a top-level import
            top.append((name.strip(), int(cumul.strip())))
    return top


def import_cost(statement: str, scratch: Scratch, baseline: set[str]) -> tuple[float, int]:
    """Best-of-N ms and module count that ``statement`` imports beyond interpreter start-up.

    The minimum, as timeit reports: import work is deterministic, so anything above the
    fastest run is other load on the machine.
    """
    millis: list[float] = []
    count = 0
    for _ in range(IMPORT_RUNS):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", statement],
            env=scratch.env(),
            capture_output=True,
            text=True,
            check=True,
        )
        lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
        count = len(lines) - 1 - len(baseline)  # minus the header line and start-up's modules
        top = [(n, us) for n, us in parse_importtime(result.stderr) if n not in baseline]
        millis.append(sum(us for _, us in top) / 1000)
    return min(millis), count


def startup_modules(scratch: Scratch) -> set[str]:
    """What the interpreter imports before running ``-c`` (site, encodings, ...)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"],
        env=scratch.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def bench_imports(scratch: Scratch) -> None:
    print(
        f"3. import cost: python -X importtime -c '<statement>', sum of top-level cumulative "
        f"times beyond interpreter start-up, best of {IMPORT_RUNS}"
    )
    baseline = startup_modules(scratch)
    statements = [
        "import verifier.cli",
        "import sigstore.verify",
        "import pypi_attestations",
        "import requests",
        "import sigstore.verify, pypi_attestations, requests",
    ]
    costs = {st: import_cost(st, scratch, baseline) for st in statements}
    width = max(len(st) for st in statements)
    print(f"  {'statement':<{width}}  {'ms':>7}  {'modules':>7}")
    for statement, (ms, count) in costs.items():
        print(f"  {statement:<{width}}  {ms:7.1f}  {count:7d}")
    cli_ms = costs[statements[0]][0]
    deferred_ms = costs[statements[-1]][0]
    print(
        f"  import verifier.cli (what --help loads) costs {cli_ms / deferred_ms:.2f}x the "
        f"sigstore/pypi_attestations/requests imports it defers to a verification"
    )

    probe = (
        "import contextlib, io, json, sys\n"
        "import verifier.cli\n"
        f"after_import = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        verifier.cli.main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"after_help = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(json.dumps({'import': after_import, 'help': after_help}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=scratch.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: dict[str, list[str]] = json.loads(result.stdout)
    for stage in ("import", "help"):
        bad = [m for m in MUST_NOT_IMPORT if m in loaded[stage]]
        if bad:
            raise SystemExit(f"bench: after {stage} of verifier.cli, {bad} are in sys.modules")
    print(
        f"  fresh interpreter after 'import verifier.cli' and main(['--help']): of "
        f"{', '.join(HEAVY)}, loaded: {', '.join(loaded['help']) or 'none'} "
        f"(asserted: {' and '.join(MUST_NOT_IMPORT)} absent)"
    )
    print()


def main() -> int:
    started = time.perf_counter()
    header()
    compile_project()
    material = Material(_fetch_material())
    with tempfile.TemporaryDirectory(prefix="bench-spine-") as tmp:
        scratch = Scratch(Path(tmp))
        bench_help(scratch)
        bench_verify(scratch, material)
        bench_imports(scratch)
    print(f"total benchmark time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
