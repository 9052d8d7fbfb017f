"""verify-release on a 200-package lockfile against the floor: bare verification in one process.

Run from anywhere with the project's virtualenv::

    .venv/bin/python benchmarks/bench_floor.py [--runs N]

The FLOOR is the least any tool can do for this lockfile: one Python process that imports
sigstore and pypi-attestations, loads the trust root once, builds one ``Verifier`` and verifies
the same 400 PEP 740 attestations (200 packages x 2 files, signed by one local Sigstore stack as
bench_lockfile.py builds them) read from disk, with the checks ``Attestation.verify`` makes (one
subject, its name and sha256, a known predicate type) and the publisher's certificate policy.
Nothing is fetched, nothing cached, nothing reported.

Next to it, in the same run and interleaved round by round so that a noisy moment on the shared
machine hits every command alike:

- COLD: ``verify-release --lockfile`` with a fresh cache directory and a fresh data directory,
  fetching every simple page and every provenance object over loopback HTTP and verifying every
  attestation;
- WARM: the same command a second time with the same cache and data directory (nothing changed
  on the index): verdicts whose inputs are all unchanged are reused (``verifier.verdicts``);
- ``verify-release --help``.

Each command is a fresh subprocess timed from spawn to reap, with its own peak RSS (ru_maxrss of
that one child, read by the slim spawn helper of ``_measure.py``) and the CPU time of its whole
process tree (its workers and writer included). The cold run is CPU-bound: the line under the
table gives the least wall time its CPU time allows on this machine's cores. The ratios printed are
medians over the rounds, with the min-max spread of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _measure import Sample, Scratch, compile_project, measure  # noqa: E402
from bench_lockfile import (  # noqa: E402
    JOBS,
    BenchFile,
    bench_files,
    check_lockfile_report,
    lockfile_argv,
    requirements_text,
    script,
    serve,
    sign_provenance,
)

from tests.servers import FakeIndex, LoopbackServer  # noqa: E402
from tests.sigstore_local import LocalSigstore  # noqa: E402

RUNS = 5
COLD_TARGET = 1.25
WARM_TARGET = 0.6
RSS_TARGET_MB = 300.0
HELP_TARGET_S = 0.3

# The floor, run as its own interpreter: argv = trusted_root.json, then a JSON file listing
# (provenance path, file name, sha256, repository, workflow) for each of the 400 files.
_FLOOR_CHILD = """\
import json, sys
from pypi_attestations import AttestationType, GitHubPublisher, Provenance
from pypi_attestations._impl import _Statement, _check_dist_filename
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier

verifier = Verifier(trusted_root=TrustedRoot.from_file(sys.argv[1]))
with open(sys.argv[2]) as handle:
    corpus = json.load(handle)
verified = 0
for path, filename, digest, repository, workflow in corpus:
    with open(path, "rb") as handle:
        provenance = Provenance.model_validate_json(handle.read())
    for bundle in provenance.attestation_bundles:
        policy = GitHubPublisher(repository=repository, workflow=workflow)._as_policy()
        for attestation in bundle.attestations:
            kind, payload = verifier.verify_dsse(attestation.to_bundle(), policy)
            statement = _Statement.model_validate_json(payload)
            (subject,) = statement.subjects
            assert _check_dist_filename(subject.name) == _check_dist_filename(filename)
            assert subject.digest.root["sha256"] == digest
            AttestationType(statement.predicate_type)
            verified += 1
print(verified)
"""


@dataclass
class Column:
    label: str
    samples: list[Sample] = field(default_factory=list)

    def seconds(self) -> list[float]:
        return [s.seconds for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds())

    @property
    def peak_rss_mb(self) -> float:
        return max(s.max_rss_kb for s in self.samples) / 1024

    @property
    def cpu(self) -> float:
        """Median CPU seconds of the command's whole process tree."""
        return statistics.median(s.cpu_seconds for s in self.samples)


def write_corpus(files: list[BenchFile], provenance: dict[str, bytes], where: Path) -> Path:
    """Every provenance object on disk, and the list the floor child reads."""
    rows = []
    for file in files:
        path = where / f"{file.filename}.provenance"
        path.write_bytes(provenance[file.filename])
        rows.append(
            [str(path), file.filename, file.sha256, file.claims.repository, file.claims.workflow]
        )
    listing = where / "corpus.json"
    listing.write_text(json.dumps(rows))
    return listing


def ok(sample: Sample, what: str, check: str | None) -> Sample:
    if check is not None:
        raise SystemExit(f"bench_floor: {what}: {check}")
    return sample


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"rounds (default {RUNS})")
    runs = parser.parse_args().runs
    started = time.perf_counter()
    compile_project()
    files = bench_files()
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        scratch = Scratch(Path(tmp))
        sigstore = LocalSigstore()
        root = sigstore.write_trusted_root(scratch.root / "trusted_root.json")
        lockfile = scratch.root / "requirements.txt"
        lockfile.write_text(requirements_text(files))
        provenance = sign_provenance(sigstore, files)
        corpus = write_corpus(files, provenance, scratch.fresh("corpus"))
        server = LoopbackServer()
        try:
            index = FakeIndex(server)
            serve(index, files, provenance)
            floor_argv = [sys.executable, "-c", _FLOOR_CHILD, str(root), str(corpus)]
            vr = script("verify-release")

            def lock_argv(cache: Path) -> list[str]:
                # bench_lockfile's arguments, with the cache on: cold fills it, warm reads it.
                return lockfile_argv(lockfile, index.url, root, cache, JOBS, cached=True)

            def floor() -> Sample:
                sample = measure(floor_argv, scratch.env(), scratch.root)
                want = str(len(files))
                problem = None if sample.out.strip() == want else f"{sample.out}{sample.err}"
                return ok(sample, "floor", problem)

            floor_col, cold_col, warm_col = Column("floor"), Column("cold"), Column("warm")
            help_col = Column("--help")
            cold_requests: list[int] = []
            warm_requests: list[int] = []
            floor()  # warm-up: the page cache holds every file any command reads
            for _ in range(runs):
                floor_col.samples.append(floor())
                env = scratch.env()
                cache = scratch.fresh("cache")
                before = len(server.requests)
                cold = measure(lock_argv(cache), env, scratch.root)
                cold_col.samples.append(ok(cold, "cold", check_lockfile_report(cold)))
                cold_requests.append(len(server.requests) - before)
                before = len(server.requests)
                warm = measure(lock_argv(cache), env, scratch.root)
                warm_col.samples.append(ok(warm, "warm", check_lockfile_report(warm)))
                warm_requests.append(len(server.requests) - before)
                if json.loads(warm.out) != json.loads(cold.out):
                    raise SystemExit("bench_floor: the warm report differs from the cold one")
                shown = measure([vr, "--help"], scratch.env(), scratch.root)
                help_col.samples.append(ok(shown, "--help", None if shown.code == 0 else shown.err))
        finally:
            server.close()

    floor_median = floor_col.median
    print(
        f"{len(files) // 2} packages, {len(files)} files, {runs} interleaved rounds "
        "(floor, cold, warm, --help); wall s from spawn to reap"
    )
    print(
        f"  {'command':<34} {'median s':>8} {'min':>6} {'max':>6} "
        f"{'x floor (min-max)':>20} {'RSS MB':>7} {'CPU s':>6}"
    )
    for column in (floor_col, cold_col, warm_col, help_col):
        ratios = [c / f for c, f in zip(column.seconds(), floor_col.seconds(), strict=True)]
        spread = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        print(
            f"  {column.label:<34} {column.median:8.3f} {min(column.seconds()):6.3f} "
            f"{max(column.seconds()):6.3f} {spread:>20} {column.peak_rss_mb:7.1f} "
            f"{column.cpu:6.3f}"
        )
    print(
        f"  requests to the index per run: cold {statistics.median(cold_requests):.0f}, "
        f"warm {statistics.median(warm_requests):.0f}"
    )
    # The cold run is CPU-bound: on this many cores its wall time cannot be less than its CPU
    # time spread evenly over them, whatever the scheduling (the index server's CPU, which is
    # in this script's process, comes on top of that).
    cores = len(os.sched_getaffinity(0))
    bound = cold_col.cpu / cores / floor_median
    print(
        f"  cold used {cold_col.cpu / floor_col.cpu:.2f}x the floor's CPU time; on {cores} cores "
        f"its wall time cannot go below {bound:.2f}x the floor's (CPU / cores)"
    )
    cold_ratio = cold_col.median / floor_median
    warm_ratio = warm_col.median / floor_median
    rss = max(cold_col.peak_rss_mb, warm_col.peak_rss_mb)
    print("  targets:")
    for name, met, figure in (
        (f"cold <= {COLD_TARGET}x floor", cold_ratio <= COLD_TARGET, f"{cold_ratio:.2f}x"),
        (f"warm <= {WARM_TARGET}x floor", warm_ratio <= WARM_TARGET, f"{warm_ratio:.2f}x"),
        (f"peak RSS < {RSS_TARGET_MB:.0f} MB", rss < RSS_TARGET_MB, f"{rss:.1f} MB"),
        (f"--help < {HELP_TARGET_S} s", help_col.median < HELP_TARGET_S, f"{help_col.median:.3f}s"),
    ):
        print(f"    {name}: {'met' if met else 'NOT met'} ({figure})")
    print(f"total benchmark time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
