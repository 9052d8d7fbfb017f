"""The pipeline's subject resolution, without a loopback world: an in-memory index.

Resolution is where a lockfile's pins meet the index; what it proves (or cannot) is a typed
result, judged by the same judge as everything else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from verifier.checks.attestations import AttestationChecker
from verifier.checks.hashes import FileCache
from verifier.judge import judge
from verifier.lockfiles import Location, PinnedFile, PinnedPackage
from verifier.models import Check, CheckResult, Gap, Outcome, Release, ReleaseFile, Status
from verifier.pipeline import SERIAL_FILES, Pipeline
from verifier.policy import Policy
from verifier.pypi import IndexClient

GOOD = "a" * 64
OTHER = "b" * 64
WHEEL = "demo-1.0-py3-none-any.whl"
SDIST = "demo-1.0.tar.gz"


class MemoryIndex:
    """The two things resolution asks an index: its root and a release's files."""

    base_url = "https://pypi.org/"

    def __init__(self, *files: ReleaseFile) -> None:
        self.files = files

    def release(self, name: NormalizedName, version: Any) -> Release:
        return Release(name=name, version="1.0", files=self.files)


def pipeline(*files: ReleaseFile, policy: Policy | None = None) -> Pipeline:
    index = cast(IndexClient, MemoryIndex(*files))
    return Pipeline(
        index=index,
        cache=FileCache(Path("/nonexistent")),
        attestations=cast(AttestationChecker, None),
        policy=policy or Policy(),
    )


def package(*files: PinnedFile, **extra: Any) -> PinnedPackage:
    return PinnedPackage(
        name=canonicalize_name("demo"),
        version="1.0",
        files=files,
        location=Location("requirements.txt", 3),
        **extra,
    )


def published(name: str = WHEEL, sha: str = GOOD) -> ReleaseFile:
    return ReleaseFile(filename=name, url=f"https://files.pythonhosted.org/{name}", sha256=sha)


def statuses(pipe: Pipeline, pkg: PinnedPackage) -> list[tuple[Check, Status, Any]]:
    return [(r.check, r.status, r.kind) for r in pipe.resolve_package(pkg).results]


def test_a_published_pin_is_proven_and_its_file_is_what_evidence_is_gathered_for() -> None:
    pipe = pipeline(published(), published(SDIST, OTHER))
    subject = pipe.resolve_package(package(PinnedFile(sha256=GOOD, filename=WHEEL)))
    assert [(r.check, r.status) for r in subject.results] == [(Check.LOCKFILE, Status.PROVEN)]
    assert [f.filename for f in subject.files] == [WHEEL]
    assert subject.gather


def test_a_pin_the_index_does_not_publish_is_a_contradiction() -> None:
    pipe = pipeline(published())
    assert statuses(pipe, package(PinnedFile(sha256=OTHER))) == [
        (Check.LOCKFILE, Status.CONTRADICTED, None)
    ]


def test_a_pin_naming_another_file_than_its_hash_is_a_contradiction() -> None:
    pipe = pipeline(published(), published(SDIST, OTHER))
    result = pipe.resolve_package(package(PinnedFile(sha256=OTHER, filename=WHEEL))).results
    assert [(r.status, r.expected, r.actual) for r in result] == [
        (Status.CONTRADICTED, WHEEL, SDIST)
    ]


@pytest.mark.parametrize(
    "hashes",
    [
        {"sha512": "c" * 128},
        {"md5": "d" * 32},
        {"sha256": GOOD, "sha384": "e" * 96},
    ],
)
def test_a_hash_that_cannot_be_compared_leaves_the_package_unverifiable(
    hashes: dict[str, str],
) -> None:
    pipe = pipeline(published())
    results = pipe.resolve_package(package(PinnedFile(filename=WHEEL, hashes=hashes))).results
    unproven = [r for r in results if r.status is Status.UNPROVEN]
    assert [r.kind for r in unproven] == [Gap.HASH_PIN]
    assert {judge(r, Policy()).outcome for r in results} == {Outcome.UNVERIFIABLE}


def test_a_file_pinned_with_no_hash_is_a_gap() -> None:
    assert statuses(pipeline(published()), package(PinnedFile(filename=WHEEL))) == [
        (Check.LOCKFILE, Status.ABSENT, Gap.HASH_PIN)
    ]


@pytest.mark.parametrize(
    "origin",
    [
        {"index_url": "https://evil.example/simple"},
        {"index_url": "http://pypi.org/simple"},
        {"extra_index_urls": ("https://evil.example/simple",)},
        {"find_links": ("./wheels",)},
        {"no_index": True},
    ],
)
def test_a_lockfile_naming_another_origin_is_refused_before_any_comparison(
    origin: dict[str, Any],
) -> None:
    results = statuses(pipeline(published()), package(PinnedFile(sha256=GOOD), **origin))
    assert results == [(Check.LOCKFILE, Status.UNPROVEN, Gap.ORIGIN)]


def test_the_lockfiles_own_index_spelt_differently_is_the_same_index() -> None:
    pkg = package(PinnedFile(sha256=GOOD), index_url="https://pypi.org/simple/")
    assert statuses(pipeline(published()), pkg) == [(Check.LOCKFILE, Status.PROVEN, None)]


def test_a_package_from_outside_an_index_is_unverifiable_unless_named() -> None:
    pkg = package(source="git", skip_reason="a git dependency")
    subject = pipeline().resolve_package(pkg)
    assert not subject.gather
    [result] = subject.results
    assert judge(result, subject.policy).outcome is Outcome.UNVERIFIABLE
    allowed = pipeline()
    allowed.allow_unindexed = {canonicalize_name("demo"): "--allow-unindexed demo"}
    subject = allowed.resolve_package(pkg)
    [result] = subject.results
    assert judge(result, subject.policy).policy_source == "--allow-unindexed demo"


# -- a release's files are all handed over before any verdict is waited for ----------------------


class RecordingChecker(AttestationChecker):
    """Records, per file, when its verification starts and when its verdict is waited for."""

    def __init__(self) -> None:
        super().__init__(cast(Any, None), staging=None)
        self.events: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def _record(self, what: str, filename: str) -> None:
        with self._lock:
            self.events.append((what, filename, threading.current_thread().name))

    def start_provenance(
        self,
        raw: bytes,
        *,
        filename: str,
        digest: str,
        expected: Any,
        record_trusted: bool = True,
    ) -> Callable[[], CheckResult]:
        self._record("start", filename)

        def finish() -> CheckResult:
            self._record("wait", filename)
            return AttestationChecker.missing(filename, "recorded")

        return finish


class ProvenanceIndex(MemoryIndex):
    def provenance_at(self, url: str, filename: str) -> bytes:
        return b"{}"


def attested(number: int) -> ReleaseFile:
    name = f"demo-1.0-py3{number}-none-any.whl"
    return ReleaseFile(
        filename=name,
        url=f"https://files.pythonhosted.org/{name}",
        sha256=GOOD,
        provenance=f"https://pypi.org/integrity/demo/1.0/{name}/provenance",
        provenance_declared=True,
    )


@pytest.mark.parametrize("count", [1, SERIAL_FILES, SERIAL_FILES + 3])
def test_every_file_is_handed_over_before_any_verdict_is_waited_for(count: int) -> None:
    files = [attested(n) for n in range(count)]
    checker = RecordingChecker()
    pipe = Pipeline(
        index=cast(IndexClient, ProvenanceIndex(*files)),
        cache=FileCache(Path("/nonexistent")),
        attestations=checker,
        policy=Policy(allow_missing=frozenset({"attestations"})),
    )
    subject = pipe.resolve_package(
        package(*(PinnedFile(sha256=GOOD, filename=f.filename) for f in files))
    )
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="file-pool") as pool:
        pipe.file_pool = pool
        results = pipe._attestations(subject, None)
    assert [r.subject for r in results] == [f.filename for f in files]
    kinds = [what for what, _, _ in checker.events]
    assert kinds == ["start"] * count + ["wait"] * count
    here = threading.current_thread().name
    # Only the release's own thread waits; a few files are fetched by it alone, more by the pool.
    assert {thread for what, _, thread in checker.events if what == "wait"} == {here}
    starters = {thread for what, _, thread in checker.events if what == "start"}
    if count <= SERIAL_FILES:
        assert starters == {here}
    else:
        assert any(thread.startswith("file-pool") for thread in starters)
