"""The history check's pure parts: upload times, the page's other releases, the judge's rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from verifier.checks.history import (
    SourceBaseline,
    check_history,
    compare_sources,
    earlier_releases,
    upload_moment,
)
from verifier.errors import UpstreamError
from verifier.judge import judge
from verifier.models import Check, CheckResult, EvidenceKind, Gap, Outcome, Release, Status
from verifier.policy import Policy
from verifier.pypi import read_simple_page

SHA = "a" * 64
PAGE_URL = "https://index.example/simple/demo/"


def entry(filename: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "filename": filename,
        "url": f"https://files.example/{filename}",
        "hashes": {"sha256": SHA},
        "upload-time": "2026-01-02T10:00:00.123456Z",
        "provenance": None,
    }
    base.update(fields)
    return base


def read(*files: dict[str, Any], pin: str = "1.1") -> Release:
    data = {"meta": {"api-version": "1.3"}, "name": "demo", "files": list(files)}
    name = canonicalize_name("demo")
    found = read_simple_page(data, page_url=PAGE_URL, name=name, pin=Version(pin))
    return Release(
        name=canonicalize_name("demo"), version=pin, files=found.files, history=found.history
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-02T10:00:00.123456Z", dt.datetime(2026, 1, 2, 10, 0, 0, 123456, dt.timezone.utc)),
        ("2026-01-02T10:00:00Z", dt.datetime(2026, 1, 2, 10, tzinfo=dt.timezone.utc)),
        ("2026-01-02T12:00:00+02:00", dt.datetime(2026, 1, 2, 10, tzinfo=dt.timezone.utc)),
    ],
)
def test_upload_times_are_read_as_utc(value: str, expected: dt.datetime) -> None:
    assert upload_moment(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "yesterday",
        "2026-01-02",
        "2026-01-02T10:00:00",  # no zone: which moment is unknown
        "2026-13-02T10:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-01-02T10:00:00.1234567Z",
        "\uff12\uff10\uff12\uff16-01-02T10:00:00Z",  # full-width digits
        "2026-01-02T10:00:00Z\n",
    ],
)
def test_a_malformed_upload_time_is_unusable_never_an_error(value: str | None) -> None:
    assert upload_moment(value) is None


def test_the_other_releases_are_kept_with_time_yank_and_provenance() -> None:
    release = read(
        entry("demo-1.0.tar.gz", yanked="broken", provenance="/integrity/demo/1.0/p"),
        entry("demo-1.1.tar.gz"),
        entry("demo-0.9.tar.gz", **{"upload-time": 12, "hashes": {"sha256": "nope"}, "url": 3}),
    )
    assert [f.filename for f in release.files] == ["demo-1.1.tar.gz"]
    first, second = release.history
    assert (first.version, first.yanked, first.provenance, first.provenance_declared) == (
        "1.0",
        True,
        "https://index.example/integrity/demo/1.0/p",
        True,
    )
    assert (second.filename, second.upload_time, second.sha256, second.url) == (
        "demo-0.9.tar.gz",
        None,
        None,
        "",
    )


def test_another_release_with_a_provenance_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(UpstreamError) as info:
        read(entry("demo-1.1.tar.gz"), entry("demo-1.0.tar.gz", provenance=["x"]))
    assert str(info.value) == (
        "index page for demo: files[1].provenance must be a URL string or null"
    )


def test_an_unsafe_file_name_of_another_release_is_not_kept() -> None:
    release = read(entry("demo-1.1.tar.gz"), entry("demo-1.0-py3-none-any\x1b[2J.whl"))
    assert release.history == ()


def _never(*_: object) -> Any:
    raise AssertionError("no provenance may be fetched")


def test_no_history_means_no_result_and_no_request() -> None:
    release = read(entry("demo-1.1.tar.gz"), entry("demo-1.0.tar.gz"))
    missing = CheckResult(
        check=Check.ATTESTATION,
        status=Status.ABSENT,
        kind=None,
        subject="demo-1.1.tar.gz",
        message="none",
    )
    assert (
        check_history(release, release.files, [missing], fetch=_never, verify=_never, explicit=None)
        == []
    )


def _history(kind: Gap | None = None) -> CheckResult:
    return CheckResult(
        check=Check.HISTORY,
        status=Status.CONTRADICTED,
        kind=kind,
        subject="demo==1.1",
        message="attestations lost",
        rule="a release must carry the attestations of the release uploaded before it",
    )


def test_a_lost_attestation_fails_whatever_is_allowed_missing() -> None:
    policy = Policy(allow_missing=frozenset({"attestations"}))
    finding = judge(_history(), policy)
    assert (finding.outcome, finding.policy, finding.policy_source) == (
        Outcome.FAILED,
        "a release must carry the attestations of the release uploaded before it",
        "default",
    )


def test_only_a_partially_attested_package_tolerates_an_unattested_sibling() -> None:
    allowed = Policy(partially_attested="policy file p.toml: packages.demo.partially-attested")
    assert judge(_history(Gap.PARTIAL), allowed).outcome is Outcome.SKIPPED
    assert judge(_history(Gap.PARTIAL), Policy()).outcome is Outcome.FAILED
    # The exception covers the sibling rule only, never a release that lost them all.
    assert judge(_history(), allowed).outcome is Outcome.FAILED


# -- bundles and signed tags: the release before this one ----------------------------------------


def test_earlier_releases_are_those_uploaded_before_the_newest_file_newest_first() -> None:
    release = read(
        entry("demo-1.0-py3-none-any.whl", **{"upload-time": "2026-01-01T00:00:00Z"}),
        entry("demo-2.0-py3-none-any.whl", **{"upload-time": "2026-02-01T00:00:00Z"}),
        entry("demo-1.1-py3-none-any.whl", **{"upload-time": "2026-03-01T00:00:00Z"}),
        entry("demo-3.0-py3-none-any.whl", **{"upload-time": "2026-04-01T00:00:00Z"}),
    )
    found = earlier_releases(release)
    assert found is not None
    assert [r.version for r in found] == ["2.0", "1.0"]


@pytest.mark.parametrize("where", ["other", "this"])
def test_an_unplaceable_release_makes_the_previous_one_unknown(where: str) -> None:
    bad = {"upload-time": "yesterday"}
    release = read(
        entry("demo-1.0-py3-none-any.whl", **(bad if where == "other" else {})),
        entry("demo-1.1-py3-none-any.whl", **(bad if where == "this" else {})),
    )
    assert earlier_releases(release) is None


def test_lost_forge_evidence_is_a_contradiction_and_absent_history_a_rule_source() -> None:
    release = read(
        entry("demo-1.0-py3-none-any.whl"),
        entry("demo-1.1-py3-none-any.whl", **{"upload-time": "2026-02-01T00:00:00Z"}),
    )
    [previous] = earlier_releases(release) or []
    lost, source = compare_sources(
        SourceBaseline(EvidenceKind.TAGS, previous, True, "tag v1.0"), "demo==1.1", "1.1"
    )
    assert source is None
    assert lost is not None
    assert (lost.check, lost.status, lost.kind) == (
        Check.HISTORY,
        Status.CONTRADICTED,
        EvidenceKind.TAGS,
    )
    assert lost.message == (
        "tags lost: 1.0, uploaded 2026-01-02, carried a signed tag (tag v1.0); 1.1 has none"
    )
    assert judge(lost, Policy(allow_missing=frozenset({"tags"}))).outcome is Outcome.FAILED
    none, source = compare_sources(
        SourceBaseline(EvidenceKind.BUNDLES, previous, False, "GitHub release v1.0"),
        "demo==1.1",
        "1.1",
    )
    assert none is None
    assert source == (
        "history: 1.0, uploaded 2026-01-02, carried no Sigstore bundles (GitHub release v1.0)"
    )
    assert compare_sources(
        SourceBaseline(EvidenceKind.BUNDLES, None, False, ""), "demo==1.1", "1.1"
    ) == (None, "history: no earlier release of the project carried Sigstore bundles")
