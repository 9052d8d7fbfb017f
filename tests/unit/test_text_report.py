"""The text report at lockfile scale: one line per package, grouped details, a capped column.

Exact expected text: the layout is the product a person reads after a run of many packages.
"""

from __future__ import annotations

from verifier import __version__
from verifier.models import Check, Finding, Outcome, ReleaseReport, Report, Verdict
from verifier.report import render
from verifier.report.text import SUBJECT_COLUMN, render_text, subject_width

NO_PROVENANCE = "the index declares no provenance"


def _wheels(count: int) -> list[str]:
    return [f"big-1.0-cp3{n}-none-any.whl" for n in range(count)]


def lockfile_report() -> Report:
    """Three packages: verified, five files without provenance, one pinned hash contradicted."""
    ok = ReleaseReport(
        label="ok==1.0",
        files=(),
        findings=(
            Finding(Check.INDEX_HASH, Outcome.VERIFIED, "ok-1.0.tar.gz", "digest matches"),
            Finding(Check.ATTESTATION, Outcome.VERIFIED, "ok-1.0.tar.gz", "attested"),
            Finding(Check.TAG, Outcome.SKIPPED, "ok==1.0", "tags not checked"),
        ),
    )
    big = ReleaseReport(
        label="big==1.0",
        files=(),
        findings=tuple(
            Finding(
                Check.ATTESTATION,
                Outcome.UNVERIFIABLE,
                name,
                NO_PROVENANCE,
                policy="attestations are required",
                policy_source="default",
                hint="pass --allow-missing attestations if this project does not publish them",
            )
            for name in _wheels(5)
        ),
    )
    bad = ReleaseReport(
        label="bad==2.0",
        files=(),
        findings=(
            Finding(
                Check.INDEX_HASH,
                Outcome.FAILED,
                "bad-2.0.tar.gz",
                "the pinned hash is not one the index publishes",
                expected="sha256:" + "a" * 64,
                actual="sha256:" + "0" * 64,
            ),
            Finding(Check.ATTESTATION, Outcome.VERIFIED, "bad-2.0.tar.gz", "attested"),
        ),
    )
    return Report(releases=(ok, big, bad), trust_root=None, verdict=Verdict.FAILED)


PAD = " " * 17


def test_a_lockfile_report_is_one_line_per_package_then_details_of_problems() -> None:
    assert render(lockfile_report(), "text") == "\n".join(
        [
            f"verify-release {__version__}",
            "",
            "  VERIFIED     ok==1.0   2 verified, 1 skipped",
            f"  UNVERIFIABLE big==1.0  attestation: 5 files: {NO_PROVENANCE}",
            "  FAILED       bad==2.0  index-hash: the pinned hash is not one the index publishes",
            "",
            "details of what FAILED or is UNVERIFIABLE (-v shows every line):",
            "",
            "big==1.0",
            f"  UNVERIFIABLE attestation    5 files  {NO_PROVENANCE}",
            f"{PAD}files: big-1.0-cp30-none-any.whl, big-1.0-cp31-none-any.whl, "
            "big-1.0-cp32-none-any.whl and 2 more",
            f"{PAD}policy: attestations are required [default]",
            f"{PAD}hint: pass --allow-missing attestations if this project does not publish them",
            "",
            "bad==2.0",
            "  FAILED       index-hash     bad-2.0.tar.gz  the pinned hash is not one the index "
            "publishes",
            f"{PAD}expected: sha256:{'a' * 64}",
            f"{PAD}got:      sha256:{'0' * 64}",
            "",
            "verdict: FAILED (exit 1) - 3 verified, 1 skipped, 5 unverifiable, 1 failed",
            "",
        ]
    )


def test_verbose_shows_every_line_of_every_package() -> None:
    text = render(lockfile_report(), "text", verbose=True)
    for name in _wheels(5):
        assert f"  UNVERIFIABLE attestation    {name}  {NO_PROVENANCE}\n" in text
    assert "  VERIFIED     index-hash     ok-1.0.tar.gz  digest matches\n" in text
    assert "details of what FAILED" not in text
    assert "files:" not in text


def test_a_single_release_keeps_the_full_report() -> None:
    one = lockfile_report().releases[1]
    report = Report(releases=(one,), trust_root=None, verdict=Verdict.UNVERIFIABLE)
    assert render(report, "text") == render(report, "text", verbose=True)
    assert render(report, "text").count(NO_PROVENANCE) == 5


def test_many_identical_findings_are_counted_with_thousands_separators() -> None:
    findings = tuple(
        Finding(Check.ATTESTATION, Outcome.UNVERIFIABLE, f"f{n}.whl", NO_PROVENANCE)
        for n in range(2077)
    )
    many = ReleaseReport(label="many==1.0", files=(), findings=findings)
    ok = lockfile_report().releases[0]
    report = Report(releases=(ok, many), trust_root=None, verdict=Verdict.UNVERIFIABLE)
    lines = render_text(report).splitlines()
    assert f"  UNVERIFIABLE many==1.0  attestation: 2,077 files: {NO_PROVENANCE}" in lines
    assert f"  UNVERIFIABLE attestation    2,077 files  {NO_PROVENANCE}" in lines
    assert f"{PAD}files: f0.whl, f1.whl, f2.whl and 2,074 more" in lines


def test_other_problems_of_a_package_are_counted_on_its_line() -> None:
    big = lockfile_report().releases[1]
    extra = Finding(Check.TAG, Outcome.UNVERIFIABLE, "big==1.0", "no signed tag")
    mixed = ReleaseReport(label="big==1.0", files=(), findings=(*big.findings, extra))
    ok = lockfile_report().releases[0]
    report = Report(releases=(ok, mixed), trust_root=None, verdict=Verdict.UNVERIFIABLE)
    assert (
        f"  UNVERIFIABLE big==1.0  attestation: 5 files: {NO_PROVENANCE} (and 1 more problem)"
        in render_text(report).splitlines()
    )


def test_one_long_subject_does_not_pad_every_line() -> None:
    long = "x" * 120 + ".whl"
    report = Report(
        releases=(
            ReleaseReport(
                label="long==1.0",
                files=(),
                findings=(
                    Finding(Check.INDEX_HASH, Outcome.VERIFIED, "short.whl", "digest matches"),
                    Finding(Check.INDEX_HASH, Outcome.VERIFIED, long, "digest matches"),
                ),
            ),
        ),
        trust_root=None,
        verdict=Verdict.VERIFIED,
    )
    lines = render_text(report, columns=200).splitlines()
    assert f"  VERIFIED     index-hash     {'short.whl':<{SUBJECT_COLUMN}}  digest matches" in lines
    assert f"  VERIFIED     index-hash     {long}  digest matches" in lines
    narrow = render_text(report, columns=60).splitlines()
    assert f"  VERIFIED     index-hash     {'short.whl':<20}  digest matches" in narrow


def test_the_subject_column_is_capped_by_the_terminal_width() -> None:
    assert subject_width(200) == SUBJECT_COLUMN
    assert subject_width(60) == 20
    assert subject_width(10) == 16


def test_machine_formats_ignore_the_text_options() -> None:
    report = lockfile_report()
    for fmt in ("json", "sarif", "summary"):
        assert render(report, fmt, verbose=True, columns=40) == render(report, fmt)
