"""``verifier.install``: the requirements text of a verified report, and the atomic write."""

from __future__ import annotations

from pathlib import Path

import pytest

from verifier.errors import UsageError, VerifierError
from verifier.install import requirements_text, write_atomic, write_requirements
from verifier.models import Check, Finding, Outcome, ReleaseFile, ReleaseReport, Report, Verdict

A = "a" * 64
B = "b" * 64


def release(
    label: str, *digests: str | None, name: str = "pkg", version: str = "1.0"
) -> ReleaseReport:
    files = tuple(
        ReleaseFile(filename=f"pkg-{version}-{n}.whl", url="https://files.example/x", sha256=d)
        for n, d in enumerate(digests)
    )
    verified = Finding(check=Check.ATTESTATION, outcome=Outcome.VERIFIED, subject=label, message="")
    return ReleaseReport(label=label, files=files, findings=(verified,), name=name, version=version)


def report(*releases: ReleaseReport, verdict: Verdict = Verdict.VERIFIED) -> Report:
    return Report(releases=releases, trust_root=None, verdict=verdict)


def test_every_verified_file_is_pinned_once_per_release() -> None:
    text, packages, hashes = requirements_text(
        report(release("pkg==1.0", A, B, A), release("other==2.0", B, name="other", version="2.0"))
    )
    assert (packages, hashes) == (2, 3)
    assert text.splitlines()[3:] == [
        "other==2.0 \\",
        f"    --hash=sha256:{B}",
        "pkg==1.0 \\",
        f"    --hash=sha256:{A} \\",
        f"    --hash=sha256:{B}",
    ]


def test_a_package_with_no_file_is_named_not_pinned() -> None:
    skipped = ReleaseReport(label="local-package (directory)", files=(), findings=())
    text, packages, _ = requirements_text(report(release("pkg==1.0", A), skipped))
    assert packages == 1
    assert "# not pinned (no file from an index): local-package (directory)" in text.splitlines()


def test_one_project_at_two_versions_is_refused() -> None:
    with pytest.raises(UsageError) as raised:
        requirements_text(report(release("pkg==1.0", A), release("pkg==2.0", B, version="2.0")))
    assert raised.value.message == (
        "--write-requirements: pkg was verified at 2 versions (1.0, 2.0); a requirements file "
        "installs one"
    )


def test_a_file_without_a_sha256_is_never_pinned() -> None:
    with pytest.raises(VerifierError) as raised:
        requirements_text(report(release("pkg==1.0", None)))
    assert (
        raised.value.message
        == "--write-requirements: pkg-1.0-0.whl of pkg==1.0 has no sha256 to pin"
    )


@pytest.mark.parametrize("verdict", [Verdict.FAILED, Verdict.UNVERIFIABLE])
def test_only_a_verified_report_writes(tmp_path: Path, verdict: Verdict) -> None:
    path = tmp_path / "req.txt"
    outcome = write_requirements(report(release("pkg==1.0", A), verdict=verdict), path)
    assert not outcome.written
    assert not path.exists()
    assert outcome.message == (
        f"{path} was not written: the verdict is {verdict.value.upper()} (exit "
        f"{verdict.exit_code}); only a VERIFIED run (exit 0) writes requirements"
    )


def test_the_write_replaces_a_symlink_instead_of_following_it(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("not ours\n")
    link = tmp_path / "req.txt"
    link.symlink_to(target)
    write_atomic(link, "new\n")
    assert not link.is_symlink()
    assert link.read_text() == "new\n"
    assert target.read_text() == "not ours\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.txt", "req.txt"]
