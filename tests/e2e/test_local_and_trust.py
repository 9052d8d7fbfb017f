"""Local distribution files, and which Sigstore trust root verifies them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.helpers import run
from verifier.trust import load_production

SDIST = "pypi_attestations-0.0.19.tar.gz"
REPO = "https://github.com/trailofbits/pypi-attestations"
OFFLINE_LOCAL = ["--offline", "-q", "--index-url", "http://127.0.0.1:9"]


def _copy(material: Material, name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    path.write_bytes(material.read(name))
    return path


def test_local_file_with_provenance_verifies_offline_without_network(
    capsys: pytest.CaptureFixture[str], material: Material, tmp_path: Path
) -> None:
    dist = _copy(material, SDIST, tmp_path)
    provenance = tmp_path / "p.json"
    provenance.write_bytes(material.provenance(SDIST))
    result = run(
        capsys, str(dist), "--provenance", str(provenance), "--repository", REPO, *OFFLINE_LOCAL
    )
    assert result.code == 0, result.out
    assert "SKIPPED      index-hash" in result.out
    assert "--offline: the index was not consulted" in result.out
    assert "VERIFIED     attestation" in result.out


def test_local_file_with_a_bare_attestation_needs_and_uses_repository(
    capsys: pytest.CaptureFixture[str], material: Material, tmp_path: Path
) -> None:
    name = "gitlab_oidc_project-0.0.3.tar.gz"
    dist = _copy(material, name, tmp_path)
    attestation = tmp_path / "a.json"
    attestation.write_bytes(material.read(f"{name}.publish.attestation"))
    without = run(capsys, str(dist), "--provenance", str(attestation), *OFFLINE_LOCAL)
    # The attestation travels with the file: it cannot name its own expected publisher.
    assert without.code == 2, without.out
    assert "UNVERIFIABLE attestation" in without.out
    assert (
        "the signature verifies, but nothing says who should have signed: the provenance's own "
        "publisher record is part of what is under test" in without.out
    )
    # A GitLab signer: the hint names GitLab's form, not a GitHub URL that would then fail.
    assert (
        "hint: pass --repository https://gitlab.com/GROUP/PROJECT (and --workflow CI_FILE_PATH)"
        in without.out
    )
    with_repo = run(
        capsys,
        str(dist),
        "--provenance",
        str(attestation),
        "--repository",
        "https://gitlab.com/facutuesca/gitlab-oidc-project",
        *OFFLINE_LOCAL,
    )
    assert with_repo.code == 0, with_repo.out


def test_local_file_that_differs_from_its_attestation_fails(
    capsys: pytest.CaptureFixture[str], material: Material, tmp_path: Path
) -> None:
    dist = tmp_path / SDIST
    dist.write_bytes(material.read(SDIST) + b"\0")
    provenance = tmp_path / "p.json"
    provenance.write_bytes(material.provenance(SDIST))
    result = run(
        capsys, str(dist), "--provenance", str(provenance), "--repository", REPO, *OFFLINE_LOCAL
    )
    assert result.code == 1
    assert "attested sha256 differs from the file's" in result.out


def test_offline_never_reads_a_planted_trust_root_from_the_cache(
    capsys: pytest.CaptureFixture[str],
    material: Material,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """sigstore's offline mode would read this file unverified; we must not."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    planted = cache / "sigstore-python" / "tuf" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
    planted.mkdir(parents=True)
    (planted / "trusted_root.json").write_text(json.dumps({"mediaType": "garbage"}))
    dist = _copy(material, SDIST, tmp_path)
    provenance = tmp_path / "p.json"
    provenance.write_bytes(material.provenance(SDIST))
    result = run(
        capsys,
        str(dist),
        "--provenance",
        str(provenance),
        "--repository",
        REPO,
        *OFFLINE_LOCAL,
        "--format",
        "json",
    )
    assert result.code == 0, result.out
    root = result.json()["trust_root"]
    assert root["source"] == "embedded"
    assert "/site-packages/sigstore/_store/" in root["path"].replace("\\", "/")


def test_expired_embedded_root_is_reported(
    capsys: pytest.CaptureFixture[str], material: Material, tmp_path: Path
) -> None:
    from datetime import datetime, timezone

    from verifier.trust import load_embedded

    future = load_embedded(now=datetime(2100, 1, 1, tzinfo=timezone.utc))
    assert future.info.expired
    assert any("metadata expired on" in w for w in future.info.warnings)
    past = load_embedded(now=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert not past.info.expired
    assert past.info.warnings == ()


def test_online_root_is_refreshed_or_the_fallback_is_said() -> None:
    root = load_production(offline=False)
    if root.info.source == "embedded":
        assert any("could not refresh the trust root over TUF" in w for w in root.info.warnings)
    else:
        assert root.info.source == "tuf"


def test_malformed_custom_trusted_root_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "root.json"
    bad.write_text('{"mediaType": "nope"}')
    result = run(capsys, "foo==1.0", "--trusted-root", str(bad), *OFFLINE_LOCAL)
    assert result.code == 3
    assert f"--trusted-root {bad}: not a usable Sigstore trusted root" in result.err


def test_custom_root_refuses_production_material(
    capsys: pytest.CaptureFixture[str], material: Material, tmp_path: Path
) -> None:
    """The staging root stands in for a private deployment: production material must fail."""
    from verifier.trust import STAGING_TUF_URL, _embedded

    dist = _copy(material, SDIST, tmp_path)
    provenance = tmp_path / "p.json"
    provenance.write_bytes(material.provenance(SDIST))
    root = _embedded(STAGING_TUF_URL, "trusted_root.json")
    result = run(
        capsys,
        str(dist),
        "--provenance",
        str(provenance),
        "--repository",
        REPO,
        "--trusted-root",
        str(root),
        *OFFLINE_LOCAL,
    )
    assert result.code == 1
    # sigstore says "failed to build timestamp certificate chain ... candidates exhausted", as
    # for a forged certificate; the report names the mismatch and its fix instead.
    assert (
        "the signing certificate was not issued by a Fulcio CA of the trust root in use (a "
        "trust-root mismatch: signed by another Sigstore instance)\n"
        "                 expected: a certificate issued by a Fulcio CA of the trust root in use\n"
        "                 got:      issued by CN=sigstore-intermediate,O=sigstore.dev\n"
    ) in result.out
    assert "hint: releases on PyPI are signed by Sigstore's production instance" in result.out


def test_json_usage_error_document(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run(capsys, "foo>=1", "--format", "json", *OFFLINE_LOCAL)
    assert result.code == 3
    document = result.json()
    assert document["verdict"] == "error"
    assert document["exit_code"] == 3
    assert "is not an exact pin" in document["error"]["message"]
