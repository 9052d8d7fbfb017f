"""End to end: several targets in one run (pins, local files, repeated ``--lockfile``).

One report and one verdict cover everything the command line names; the worst verdict wins.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.helpers import Run, run
from tests.e2e.test_lockfile import RELEASES, SKIPS, serve_all
from tests.servers import FakeIndex


def requirements(path: Path, material: Material, *projects: str, tamper: bool = False) -> Path:
    """A hash-pinned requirements file for ``projects`` (every pin wrong with ``tamper``)."""
    lines = []
    for project in projects:
        version, filename = RELEASES[project]
        digest = "0" * 64 if tamper else hashlib.sha256(material.read(filename)).hexdigest()
        lines += [f"{project}=={version} \\", f"    --hash=sha256:{digest}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def several(capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp: Path, *argv: str) -> Run:
    common = ["--index-url", index.url, "--offline", "-q", "--cache-dir", str(tmp / "cache")]
    return run(capsys, *argv, *common, *SKIPS, "--format", "json")


def test_two_lockfiles_and_a_pin_are_one_report(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_all(index, material)
    first = requirements(tmp_path / "a.txt", material, "pypi-attestations")
    second = requirements(tmp_path / "b.txt", material, "gitlab-oidc-project")
    result = several(
        capsys,
        index,
        tmp_path,
        "pypi-attestation-models==0.0.4a2",
        "--lockfile",
        str(first),
        "--lockfile",
        str(second),
    )
    assert result.code == 0, result.out
    document = result.json()
    assert document["verdict"] == "verified"
    # Lockfiles in the order given, then the targets.
    assert [r["subject"] for r in document["releases"]] == [
        "pypi-attestations==0.0.19",
        "gitlab-oidc-project==0.0.3",
        "pypi-attestation-models==0.0.4a2",
    ]
    locations = [
        {(f["location"] or "-").rsplit(":", 1)[0] for f in r["findings"]}
        for r in document["releases"]
    ]
    assert locations == [{str(first)}, {str(second)}, {"-"}]


def test_the_worst_verdict_of_several_lockfiles_wins(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_all(index, material)
    good = requirements(tmp_path / "good.txt", material, "pypi-attestations")
    bad = requirements(tmp_path / "bad.txt", material, "gitlab-oidc-project", tamper=True)
    result = several(capsys, index, tmp_path, "--lockfile", str(good), "--lockfile", str(bad))
    assert result.code == 1, result.out
    outcomes = {
        r["subject"]: {f["check"]: f["outcome"] for f in r["findings"]}
        for r in result.json()["releases"]
    }
    assert outcomes["pypi-attestations==0.0.19"]["lockfile"] == "verified"
    assert outcomes["gitlab-oidc-project==0.0.3"]["lockfile"] == "failed"


def test_a_malformed_pin_among_several_is_a_usage_error_before_any_request(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_all(index, material)
    result = several(capsys, index, tmp_path, "pypi-attestations==0.0.19", "not a pin")
    assert result.code == 3
    assert result.err.startswith("verify-release: error: 'not a pin' is not a requirement: ")
    assert index.server.paths_requested() == []


def test_two_pins_verify_in_one_run(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_all(index, material)
    result = several(
        capsys, index, tmp_path, "pypi-attestations==0.0.19", "gitlab-oidc-project==0.0.3"
    )
    assert result.code == 0, result.out
    assert [r["subject"] for r in result.json()["releases"]] == [
        "pypi-attestations==0.0.19",
        "gitlab-oidc-project==0.0.3",
    ]
    pages = [p for p in index.server.paths_requested() if p.startswith("/simple/")]
    assert sorted(pages) == ["/simple/gitlab-oidc-project/", "/simple/pypi-attestations/"]
