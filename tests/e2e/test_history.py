"""History as the baseline (issue 12): no downgrade of attestations, no silent change of publisher.

A loopback index serves a project with several releases, each file with its own upload time and
its own provenance (signed by the local Sigstore stack for two publishers: the project's own
``example/pkg`` and an attacker's ``evil/pkg``), and ``main([...])`` verifies one of them.
Request counts come from the loopback server's log.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Material
from tests.e2e.helpers import Run, run
from tests.e2e.test_spine import SDIST
from tests.servers import DistFile, FakeIndex, Listed, add_history_to
from tests.sigstore_local import GitHubClaims, LocalSigstore

OURS = GitHubClaims(repository="example/pkg")
EVIL = GitHubClaims(repository="evil/pkg")
JAN = "2026-01-02T10:00:00.000000Z"
FEB = "2026-02-01T10:00:00.000000Z"
MAR = "2026-03-01T10:00:00.000000Z"


@pytest.fixture(scope="module")
def stack() -> LocalSigstore:
    return LocalSigstore()


def wheel(version: str) -> str:
    return f"pkg-{version}-py3-none-any.whl"


def dist(
    stack: LocalSigstore,
    filename: str,
    claims: GitHubClaims | None,
    *,
    provenance_of: bytes | None = None,
) -> DistFile:
    """A file, attested by ``claims`` (None: no attestations) for its own bytes or others'."""
    data = f"the bytes of {filename}".encode()
    if claims is None:
        return DistFile(filename, data)
    return DistFile(filename, data, stack.provenance(filename, provenance_of or data, claims))


def verify(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    stack: LocalSigstore,
    index: FakeIndex,
    target: str,
    *extra: str,
    offline: bool = True,
) -> Run:
    root = tmp_path / "trusted_root.json"
    if not root.exists():
        stack.write_trusted_root(root)
    return run(
        capsys,
        *([target] if target else []),
        "--index-url",
        index.url,
        "--trusted-root",
        str(root),
        "--cache-dir",
        str(tmp_path / "cache"),
        *(["--offline"] if offline else []),
        "-q",
        "--skip",
        "bundles",
        "--skip",
        "tags",
        "--skip",
        "vulnerabilities",
        "--format",
        "json",
        *extra,
    )


def history(result: Run) -> list[dict[str, Any]]:
    return [f for f in result.findings() if f["check"] == "history"]


def provenance_requests(index: FakeIndex) -> list[str]:
    return [p for p in index.server.paths_requested() if p.endswith("/provenance")]


# -- no downgrade across releases -----------------------------------------------------------------


def test_lost_attestations_fail_even_when_missing_ones_are_allowed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), JAN),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), None), FEB),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--allow-missing", "attestations")
    assert result.code == 1, result.out
    [found] = history(result)
    assert found["outcome"] == "failed"
    assert found["message"] == (
        "attestations lost: 1.0.0, uploaded 2026-01-02, was attested by GitHub example/pkg "
        "release.yml; 1.1.0 has none"
    )
    assert found["policy"] == (
        "a release must carry the attestations of the release uploaded before it"
    )
    # The baseline travels in the JSON finding.
    assert found["evidence"]["baseline.version"] == "1.0.0"
    assert found["evidence"]["baseline.upload_time"] == "2026-01-02T10:00:00Z"
    assert found["evidence"]["baseline.publisher"] == "GitHub example/pkg release.yml"
    [attestation] = [f for f in result.findings() if f["check"] == "attestation"]
    assert attestation["outcome"] == "skipped"
    # One provenance request: the baseline's, to name its publisher.
    assert provenance_requests(index) == [index.provenance_path("pkg", "1.0.0", wheel("1.0.0"))]


def test_a_back_filled_older_version_is_held_to_the_newer_attested_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), None), "2025-06-01T00:00:00Z"),
            Listed("2.0.0", dist(stack, wheel("2.0.0"), OURS), JAN),
            Listed("1.9.1", dist(stack, wheel("1.9.1"), None), MAR),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.9.1", "--allow-missing", "attestations")
    assert result.code == 1, result.out
    [found] = history(result)
    assert found["message"] == (
        "attestations lost: 2.0.0, uploaded 2026-01-02, was attested by GitHub example/pkg "
        "release.yml; 1.9.1 has none"
    )


def test_an_unattested_release_uploaded_before_the_first_attested_one_is_no_downgrade(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), None), JAN),
            Listed("2.0.0", dist(stack, wheel("2.0.0"), OURS), FEB),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.0.0", "--allow-missing", "attestations")
    assert result.code == 0, result.out
    assert history(result) == []
    assert provenance_requests(index) == []


def test_a_yanked_attested_release_still_is_the_baseline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), JAN, yanked=True),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), None), FEB),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--allow-missing", "attestations")
    assert result.code == 1, result.out
    [found] = history(result)
    assert found["message"].startswith("attestations lost: 1.0.0, uploaded 2026-01-02, was")


def test_a_project_that_never_attested_raises_no_alarm(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), None), JAN),
            Listed("1.0.0", dist(stack, "pkg-1.0.0.tar.gz", None), JAN),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), None), FEB),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--allow-missing", "attestations")
    assert result.code == 0, result.out
    assert history(result) == []
    assert provenance_requests(index) == []


def test_an_earlier_provenance_that_does_not_verify_is_reported_not_trusted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    forged = dist(stack, wheel("1.0.0"), OURS, provenance_of=b"other bytes")
    add_history_to(
        index,
        "pkg",
        [Listed("1.0.0", forged, JAN), Listed("1.1.0", dist(stack, wheel("1.1.0"), None), FEB)],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--allow-missing", "attestations")
    assert result.code == 1, result.out
    [found] = history(result)
    assert found["message"] == (
        "attestations lost: 1.0.0, uploaded 2026-01-02, was attested (publisher unknown: the "
        "provenance of pkg-1.0.0-py3-none-any.whl does not verify: attested sha256 differs from "
        "the file's); 1.1.0 has none"
    )
    assert found["evidence"]["baseline.publisher"] is None


def test_no_usable_upload_time_leaves_the_history_unverifiable_never_clean(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), JAN),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), None), "yesterday"),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--allow-missing", "attestations")
    assert result.code == 2, result.out
    [found] = history(result)
    assert (found["outcome"], found["message"]) == (
        "unverifiable",
        "the index gives no usable upload time for 1.1.0, so which of the project's attested "
        "releases came before it is unknown",
    )


# -- no downgrade inside a release ---------------------------------------------------------------


def _partial_release(index: FakeIndex, stack: LocalSigstore) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.1.0", dist(stack, wheel("1.1.0"), OURS), FEB),
            Listed("1.1.0", dist(stack, "pkg-1.1.0.tar.gz", None), "2026-02-01T12:00:00Z"),
        ],
    )


PARTIAL = (
    "attestations missing from one file: pkg-1.1.0.tar.gz, uploaded at 2026-02-01 12:00:00 UTC, "
    "after its attested siblings (last 2026-02-01 10:00:00 UTC), has none while 1 other file of "
    "1.1.0 carries them"
)


def test_an_unattested_file_among_attested_siblings_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    _partial_release(index, stack)
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--allow-missing", "attestations")
    assert result.code == 1, result.out
    [found] = history(result)
    assert (found["subject"], found["outcome"], found["message"]) == (
        "pkg-1.1.0.tar.gz",
        "failed",
        PARTIAL,
    )


def test_a_policy_may_name_a_package_partially_attested(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    _partial_release(index, stack)
    policy = tmp_path / "verify-release.toml"
    policy.write_text("[packages.pkg]\npartially-attested = true\n")
    result = verify(
        capsys,
        tmp_path,
        stack,
        index,
        "pkg==1.1.0",
        "--allow-missing",
        "attestations",
        "--policy",
        str(policy),
    )
    assert result.code == 0, result.out
    [found] = history(result)
    assert (found["outcome"], found["message"], found["policy_source"]) == (
        "skipped",
        PARTIAL,
        f"policy file {policy}: packages.pkg.partially-attested",
    )


# -- no silent change of publisher ----------------------------------------------------------------


def _moved(index: FakeIndex, stack: LocalSigstore, new: GitHubClaims) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), JAN),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), new), FEB),
        ],
    )


def test_a_change_of_publisher_fails_naming_both(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    _moved(index, stack, EVIL)
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0")
    assert result.code == 1, result.out
    [found] = history(result)
    assert (found["outcome"], found["message"]) == (
        "failed",
        "publisher changed: 1.0.0, uploaded 2026-01-02, was attested by GitHub example/pkg "
        "release.yml; 1.1.0 is attested by GitHub evil/pkg release.yml",
    )
    assert (found["expected"], found["actual"]) == (
        "GitHub example/pkg release.yml",
        "GitHub evil/pkg release.yml",
    )
    # This release's provenance, and the baseline's: one extra request for the history.
    assert sorted(provenance_requests(index)) == [
        index.provenance_path("pkg", "1.0.0", wheel("1.0.0")),
        index.provenance_path("pkg", "1.1.0", wheel("1.1.0")),
    ]


def test_a_changed_workflow_is_a_change_of_publisher(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    _moved(index, stack, GitHubClaims(repository="example/pkg", workflow="other.yml"))
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0")
    assert result.code == 1, result.out
    [found] = history(result)
    assert found["message"].endswith("1.1.0 is attested by GitHub example/pkg other.yml")


def test_an_explicitly_pinned_new_publisher_wins_and_the_change_is_noted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    _moved(index, stack, EVIL)
    result = verify(
        capsys, tmp_path, stack, index, "pkg==1.1.0", "--repository", "https://github.com/evil/pkg"
    )
    assert result.code == 0, result.out
    [found] = history(result)
    assert (found["outcome"], found["message"]) == (
        "verified",
        "the publisher changed from GitHub example/pkg release.yml (1.0.0, uploaded 2026-01-02) "
        "to GitHub evil/pkg release.yml, accepted by --repository",
    )


def test_a_policy_publisher_entry_is_an_explicit_pin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    _moved(index, stack, EVIL)
    policy = tmp_path / "verify-release.toml"
    policy.write_text('[publishers.pkg]\nrepository = "https://github.com/evil/pkg"\n')
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--policy", str(policy))
    assert result.code == 0, result.out
    [found] = history(result)
    assert found["message"].endswith(f"accepted by policy file {policy}: publishers.pkg"), found[
        "message"
    ]


def test_the_same_publisher_verifies_and_names_the_baseline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    _moved(index, stack, OURS)
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0")
    assert result.code == 0, result.out
    [found] = history(result)
    assert (found["outcome"], found["message"]) == (
        "verified",
        "same publisher as 1.0.0, uploaded 2026-01-02: GitHub example/pkg release.yml",
    )
    assert found["evidence"]["baseline.version"] == "1.0.0"


# -- lockfiles ------------------------------------------------------------------------------------


def test_each_lockfile_package_is_held_to_its_history_with_one_extra_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    lost = dist(stack, wheel("1.1.0"), None)
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), JAN),
            Listed("1.0.0", dist(stack, "pkg-1.0.0.tar.gz", OURS), JAN),
            Listed("1.1.0", lost, FEB),
        ],
    )
    digest = hashlib.sha256(lost.content).hexdigest()
    lockfile = tmp_path / "requirements.txt"
    lockfile.write_text(f"pkg==1.1.0 --hash=sha256:{digest}\n")
    result = verify(
        capsys,
        tmp_path,
        stack,
        index,
        "",
        "--lockfile",
        str(lockfile),
        "--allow-missing",
        "attestations",
    )
    assert result.code == 1, result.out
    [found] = history(result)
    assert found["message"] == (
        "attestations lost: 1.0.0, uploaded 2026-01-02, was attested by GitHub example/pkg "
        "release.yml; 1.1.0 has none"
    )
    assert len(provenance_requests(index)) == 1


def test_a_local_file_is_held_to_the_history_when_the_index_is_consulted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    lost = dist(stack, wheel("1.1.0"), None)
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), JAN),
            Listed("1.1.0", lost, FEB),
        ],
    )
    local = tmp_path / "dist" / lost.filename
    local.parent.mkdir()
    local.write_bytes(lost.content)
    result = verify(
        capsys,
        tmp_path,
        stack,
        index,
        str(local),
        "--allow-missing",
        "attestations",
        offline=False,
    )
    assert result.code == 1, result.out
    [found] = history(result)
    assert found["message"] == (
        "attestations lost: 1.0.0, uploaded 2026-01-02, was attested by GitHub example/pkg "
        "release.yml; 1.1.0 has none"
    )


def test_a_changed_environment_is_a_change_of_publisher(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex, stack: LocalSigstore
) -> None:
    before = wheel("1.0.0")
    data = f"the bytes of {before}".encode()
    guarded = DistFile(before, data, stack.provenance(before, data, OURS, environment="pypi"))
    add_history_to(
        index,
        "pkg",
        [Listed("1.0.0", guarded, JAN), Listed("1.1.0", dist(stack, wheel("1.1.0"), OURS), FEB)],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0")
    assert result.code == 1, result.out
    [found] = history(result)
    assert found["message"] == (
        "publisher changed: 1.0.0, uploaded 2026-01-02, was attested by GitHub example/pkg "
        "release.yml, environment pypi; 1.1.0 is attested by GitHub example/pkg release.yml"
    )


def test_a_real_production_provenance_is_the_baseline_a_stolen_token_upload_is_held_to(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """The earlier release is pypi-attestations 0.0.19 as PyPI serves it (its real sdist and
    real production provenance, verified against the production trust root); 0.0.20 is an
    unattested upload after it."""
    real = DistFile(SDIST, material.read(SDIST), material.provenance(SDIST))
    stolen = DistFile("pypi_attestations-0.0.20.tar.gz", b"uploaded with a stolen token")
    add_history_to(
        index,
        "pypi-attestations",
        [Listed("0.0.19", real, upload_time=JAN), Listed("0.0.20", stolen, upload_time=FEB)],
    )
    result = run(
        capsys,
        "pypi-attestations==0.0.20",
        *("--index-url", index.url, "--cache-dir", str(tmp_path / "cache"), "--offline", "-q"),
        *("--skip", "bundles", "--skip", "tags", "--skip", "vulnerabilities"),
        *("--allow-missing", "attestations", "--format", "json"),
    )
    assert result.code == 1, result.out
    [lost] = history(result)
    assert lost["outcome"] == "failed"
    assert lost["message"] == (
        "attestations lost: 0.0.19, uploaded 2026-01-02, was attested by GitHub "
        "trailofbits/pypi-attestations release.yml; 0.0.20 has none"
    )
    assert lost["evidence"]["baseline.file"] == SDIST
