"""Air-gapped verification (fetch, then --evidence with no network) and policy files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests import entries
from tests.conftest import Material
from tests.e2e.helpers import run
from tests.e2e.test_spine import REPO, SDIST, serve_sdist
from tests.servers import FakeIndex

SKIPS = ["--skip", "bundles", "--skip", "tags", "--skip", "vulnerabilities"]


def test_fetch_then_verify_with_no_network_gives_the_same_verdict(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    out = tmp_path / "evidence"
    fetched = run(
        capsys,
        "fetch",
        "pypi-attestations==0.0.19",
        "--repository",
        REPO,
        "--out",
        str(out),
        "--index-url",
        index.url,
        "--offline",
        "-q",
        "--cache-dir",
        str(tmp_path / "c"),
        *SKIPS,
        "--format",
        "json",
    )
    assert fetched.code == 0, fetched.out
    assert f"evidence stored in {out}" in fetched.err
    index.server.close()  # no network from here on
    offline = run(
        capsys,
        "pypi-attestations==0.0.19",
        "--repository",
        REPO,
        "--evidence",
        str(out),
        "--index-url",
        index.url,
        "-q",
        "--cache-dir",
        str(tmp_path / "c2"),
        *SKIPS,
        "--format",
        "json",
    )
    assert offline.code == 0, offline.out
    assert _outcomes(offline.json()) == _outcomes(fetched.json())


def _outcomes(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (f["check"], f["outcome"], f["subject"])
        for r in document["releases"]
        for f in r["findings"]
    ]


def test_evidence_directory_missing_a_response_is_unverifiable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(
        capsys,
        "pypi-attestations==0.0.19",
        "--evidence",
        str(empty),
        "-q",
        "--cache-dir",
        str(tmp_path / "c"),
        *SKIPS,
    )
    assert result.code == 2
    assert "not in the evidence directory" in result.out


def test_tampered_evidence_is_caught(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    out = tmp_path / "evidence"
    fetched = run(
        capsys,
        "fetch",
        "pypi-attestations==0.0.19",
        "--repository",
        REPO,
        "--out",
        str(out),
        "--index-url",
        index.url,
        "--offline",
        "-q",
        "--cache-dir",
        str(tmp_path / "c"),
        *SKIPS,
    )
    assert fetched.code == 0
    # Verification needs digests, not files: no distribution is recorded.
    assert not list(out.rglob(SDIST))
    recorded = list((out / "http").rglob("*.entry"))
    assert not [e for e in recorded if entries.read(e).body.startswith(b"\x1f\x8b")]
    # Tamper with the recorded index page: it now lists another digest for the sdist.
    real = hashlib.sha256(material.read(SDIST)).hexdigest()
    pages = [e for e in recorded if real.encode() in entries.read(e).body]
    assert pages
    for page in pages:
        entries.edit(page, body=entries.read(page).body.replace(real.encode(), b"0" * 64))
    result = run(
        capsys,
        "pypi-attestations==0.0.19",
        "--repository",
        REPO,
        "--evidence",
        str(out),
        "--index-url",
        index.url,
        "-q",
        "--cache-dir",
        str(tmp_path / "c2"),
        *SKIPS,
    )
    assert result.code == 1, result.out
    assert f"the index publishes sha256 {'0' * 64} (file not downloaded" in result.out
    assert "attested sha256 differs from the file's" in result.out


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "verify-release.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'allow-missing = ["attestations"]\ncolour = "blue"\n',
            "verify-release.toml: colour: unknown key",
        ),
        (
            '[packages.requests]\nrequire = ["signatures"]\n',
            "verify-release.toml: packages.requests.require: unknown kind 'signatures'",
        ),
        (
            '[publishers.requests]\nrepository = "https://example.org/psf/requests"\n',
            "verify-release.toml: publishers.requests.repository: 'https://example.org/psf/requests'"
            " is not a GitHub or GitLab repository URL",
        ),
        (
            '[[vulnerabilities.ignore]]\nid = "GHSA-x"\nreason = "r"\n',
            "verify-release.toml: vulnerabilities.ignore[0].expires must be a date",
        ),
        ("allow-missing = [\n", "verify-release.toml: not valid TOML"),
    ],
)
def test_policy_file_errors_name_the_file_and_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    policy = _policy(tmp_path, text)
    result = run(
        capsys,
        "foo==1.0",
        "--policy",
        str(policy),
        "-q",
        "--offline",
        "--index-url",
        "http://127.0.0.1:9",
    )
    assert result.code == 3
    assert message in result.err


def test_policy_file_publisher_is_the_expected_identity(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    policy = _policy(
        tmp_path,
        "[publishers.pypi-attestations]\n"
        'repository = "https://github.com/evil/pypi-attestations"\n',
    )
    result = run(
        capsys,
        "pypi-attestations==0.0.19",
        "--policy",
        str(policy),
        "-q",
        "--offline",
        "--index-url",
        index.url,
        "--cache-dir",
        str(tmp_path / "c"),
        *SKIPS,
    )
    assert result.code == 1, result.out
    assert "identity source: policy verify-release.toml" in result.out
    assert "expected: GitHub https://github.com/evil/pypi-attestations" in result.out


def test_policy_file_rules_apply(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    from tests.servers import DistFile

    wheel = DistFile("pypi_attestations-0.0.19-py3-none-any.whl", b"w", None)
    sdist = DistFile(SDIST, material.read(SDIST), material.provenance(SDIST))
    index.add_release(
        "pypi-attestations", "0.0.19", [wheel, sdist], real_page=material.page("pypi-attestations")
    )
    # The wheel lacks the attestations its sibling carries: allowed by the same package table.
    policy = _policy(
        tmp_path,
        '[packages.pypi-attestations]\nallow-missing = ["attestations"]\n'
        "partially-attested = true\n",
    )
    result = run(
        capsys,
        "pypi-attestations==0.0.19",
        "--policy",
        str(policy),
        "-q",
        "--offline",
        "--index-url",
        index.url,
        "--cache-dir",
        str(tmp_path / "c"),
        "--repository",
        REPO,
        *SKIPS,
    )
    assert result.code == 0, result.out
    assert "SKIPPED      attestation" in result.out


def test_an_expired_ignore_stops_the_run_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        '[[vulnerabilities.ignore]]\nid = "GHSA-x"\nreason = "old"\nexpires = 2020-01-01\n',
    )
    result = run(
        capsys,
        "foo==1.0",
        "--policy",
        str(policy),
        "-q",
        "--offline",
        "--index-url",
        "http://127.0.0.1:9",
        *SKIPS,
    )
    assert result.code == 3
    assert "ignore for GHSA-x expired on 2020-01-01" in result.err


def test_a_policy_workflow_path_names_the_workflow_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        '[publishers.x]\nrepository = "https://github.com/o/r"\n'
        'workflow = ".github/workflows/release.yml"\n',
    )
    result = run(
        capsys,
        "foo==1.0",
        "--policy",
        str(policy),
        "-q",
        "--offline",
        "--index-url",
        "http://127.0.0.1:9",
    )
    assert result.code == 3
    assert (
        "verify-release.toml: publishers.x.workflow '.github/workflows/release.yml': give "
        "the workflow's file name" in result.err
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--allowed-signers", "/nonexistent/allowed_signers"],
            "--allowed-signers /nonexistent/allowed_signers: no such file",
        ),
        (
            ["--gpg-keyring", "/nonexistent/keys.asc"],
            "--gpg-keyring /nonexistent/keys.asc: no such file",
        ),
        (
            ["--lockfile", "requirements.txt", "--provenance", "p.json"],
            "--provenance applies to a local file target, not --lockfile",
        ),
    ],
)
def test_bad_flag_combinations_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    target = [] if "--lockfile" in args else ["foo==1.0"]
    result = run(capsys, *target, *args, "-q", "--offline", "--index-url", "http://127.0.0.1:9")
    assert result.code == 3
    assert message in result.err
