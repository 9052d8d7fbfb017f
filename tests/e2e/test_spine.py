"""End to end: ``verify-release NAME==VERSION`` against a loopback index serving real material.

Positive cases use real production attestations (GitHub, GitLab, CircleCI, Google publishers);
negative cases tamper with that real material inside the test. The sigstore verifier is never
mocked: every signature is checked against the trust root shipped with sigstore.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import Material
from tests.e2e.helpers import Run, base_args, run
from tests.servers import DistFile, FakeIndex, Route

SDIST = "pypi_attestations-0.0.19.tar.gz"
WHEEL = "pypi_attestations-0.0.19-py3-none-any.whl"
REPO = "https://github.com/trailofbits/pypi-attestations"
SCHEMA = Path(__file__).resolve().parents[2] / "verifier" / "report" / "schema.json"


def serve_sdist(index: FakeIndex, material: Material, **overrides: Any) -> DistFile:
    dist = DistFile(
        filename=SDIST,
        content=overrides.get("content", material.read(SDIST)),
        provenance=overrides.get("provenance", material.provenance(SDIST)),
        sha256=overrides.get("sha256"),
    )
    index.add_release(
        "pypi-attestations", "0.0.19", [dist], real_page=material.page("pypi-attestations")
    )
    return dist


def verify(capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path, *args: str) -> Run:
    return run(capsys, *args, *base_args(index.url, tmp_path / "cache"))


def by_check(result: Run, check: str) -> list[dict[str, Any]]:
    return [f for f in result.findings() if f["check"] == check]


# -- positive ---------------------------------------------------------------------------------


def test_github_release_verifies_with_pinned_publisher(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    result = verify(
        capsys,
        index,
        tmp_path,
        "pypi-attestations==0.0.19",
        "--repository",
        REPO,
        "--workflow",
        "release.yml",
    )
    assert result.code == 0, result.out
    assert "verdict: VERIFIED (exit 0)" in result.out
    digest = hashlib.sha256(material.read(SDIST)).hexdigest()
    assert (
        f"VERIFIED     index-hash     {SDIST}  the index publishes sha256 {digest} (file not "
        "downloaded: installers enforce the digest; --download DIR fetches and re-hashes)"
    ) in result.out
    # The digest is compared, not the bytes: no distribution is fetched without --download.
    assert not [p for p in index.server.paths_requested() if p.startswith("/files/")]
    assert "1 attestation verified (publish/v1) from " + REPO in result.out
    assert "identity source: command line (--repository)" in result.out
    assert "commit 08802efe1f8e5fec4ad842d6b8ce97656092ee72" in result.out
    assert "runner github-hosted" in result.out
    assert "trigger release" in result.out


def test_json_report_matches_schema_and_carries_certificate_evidence(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    result = verify(
        capsys,
        index,
        tmp_path,
        "pypi-attestations==0.0.19",
        "--repository",
        REPO,
        "--format",
        "json",
    )
    assert result.code == 0
    document = result.json()
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert document["schema_version"] == 1
    assert document["verdict"] == "verified"
    assert document["exit_code"] == 0
    assert document["trust_root"]["source"] == "embedded"
    attestation = by_check(result, "attestation")[0]
    assert (
        attestation["evidence"]["certificate.commit"] == "08802efe1f8e5fec4ad842d6b8ce97656092ee72"
    )
    assert attestation["evidence"]["certificate.ref"] == "refs/tags/v0.0.19"
    assert attestation["evidence"]["certificate.repository"] == REPO
    assert attestation["evidence"]["publisher.workflow"] == "release.yml"


def test_gitlab_release_verifies(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    name = "gitlab_oidc_project-0.0.3.tar.gz"
    index.add_release(
        "gitlab-oidc-project",
        "0.0.3",
        [DistFile(name, material.read(name), material.provenance(name))],
    )
    result = verify(
        capsys,
        index,
        tmp_path,
        "gitlab-oidc-project==0.0.3",
        "--repository",
        "https://gitlab.com/facutuesca/gitlab-oidc-project",
    )
    assert result.code == 0, result.out
    assert (
        "expected publisher: GitLab https://gitlab.com/facutuesca/gitlab-oidc-project" in result.out
    )
    assert "issuer https://gitlab.com" in result.out


@pytest.mark.parametrize(
    ("project", "version", "filename", "issuer"),
    [
        (
            "circleci-sign-publish-example",
            "0.0.1.dev137",
            "circleci_sign_publish_example-0.0.1.dev137-py3-none-any.whl",
            "https://oidc.circleci.com",
        ),
        (
            "gcb-attestation-test",
            "0.0.0",
            "gcb_attestation_test-0.0.0.tar.gz",
            "https://accounts.google.com",
        ),
    ],
)
def test_other_publishers_verify_against_pypi_record(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    project: str,
    version: str,
    filename: str,
    issuer: str,
) -> None:
    index.add_release(
        project,
        version,
        [DistFile(filename, material.read(filename), material.provenance(filename))],
    )
    result = verify(capsys, index, tmp_path, f"{project}=={version}", "--format", "json")
    assert result.code == 0, result.out
    release = result.json()["releases"][0]
    assert release["identity_source"].startswith("PyPI's publisher record")
    assert by_check(result, "attestation")[0]["evidence"]["certificate.issuer"] == issuer


def test_identity_from_index_project_urls_is_reported_as_weaker(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    name = "pypi_attestation_models-0.0.4a2.tar.gz"
    index.add_release(
        "pypi-attestation-models",
        "0.0.4a2",
        [DistFile(name, material.read(name), material.provenance(name))],
        real_page=material.page("pypi-attestation-models"),
        project_urls={
            "Homepage": "https://pypi.org/project/x",
            "Source": "https://github.com/trailofbits/pypi-attestation-models",
        },
    )
    result = verify(capsys, index, tmp_path, "pypi-attestation-models==0.0.4a2")
    assert result.code == 0, result.out
    assert "identity source: identity taken from the index (project URLs; weaker" in result.out


@pytest.mark.parametrize(
    ("old_api", "reason"),
    [
        (False, "the index declares no provenance"),
        (True, "the index has no provenance for this file (HTTP 404)"),
    ],
    ids=["api-1.3", "api-1.1"],
)
def test_missing_attestations_allowed_are_skipped_visibly(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    old_api: bool,
    reason: str,
) -> None:
    index.old_api = old_api
    wheel = DistFile(WHEEL, b"real wheel bytes are not in the assets", None)
    sdist = DistFile(SDIST, material.read(SDIST), material.provenance(SDIST))
    index.add_release(
        "pypi-attestations", "0.0.19", [wheel, sdist], real_page=material.page("pypi-attestations")
    )
    # The wheel lacks what its sibling carries: a downgrade unless the package is named partially
    # attested (test_history.py); here the point is how a missing attestation is judged.
    partial = tmp_path / "partial.toml"
    partial.write_text("[packages.pypi-attestations]\npartially-attested = true\n")
    policy = ("--policy", str(partial))
    strict = verify(
        capsys, index, tmp_path, "pypi-attestations==0.0.19", "--repository", REPO, *policy
    )
    assert strict.code == 2
    assert f"UNVERIFIABLE attestation    {WHEEL}  {reason}" in strict.out
    # api 1.3 declares the wheel has none: nobody asks; an older index is asked per file.
    asked = index.provenance_path("pypi-attestations", "0.0.19", WHEEL)
    assert (asked in index.server.paths_requested()) is old_api
    assert "policy: attestations are required (default); --allow-missing attestations" in strict.out
    lenient = verify(
        capsys,
        index,
        tmp_path,
        "pypi-attestations==0.0.19",
        "--repository",
        REPO,
        "--allow-missing",
        "attestations",
        *policy,
    )
    assert lenient.code == 0, lenient.out
    assert f"SKIPPED      attestation    {WHEEL}" in lenient.out
    assert (
        "policy: missing attestations are tolerated [--allow-missing attestations]" in lenient.out
    )


# -- negative: tampered real material -----------------------------------------------------------


def test_one_byte_changed_in_distribution_fails(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    real = material.read(SDIST)
    tampered = bytearray(real)
    tampered[len(tampered) // 2] ^= 0x01
    serve_sdist(index, material, content=bytes(tampered), sha256=hashlib.sha256(real).hexdigest())
    wheelhouse = tmp_path / "wheelhouse"
    result = verify(
        capsys,
        index,
        tmp_path,
        "pypi-attestations==0.0.19",
        "--repository",
        REPO,
        "--download",
        str(wheelhouse),
    )
    assert result.code == 1
    assert "FAILED       index-hash" in result.out
    assert (
        "the downloaded file does not match the digest the index publishes "
        f"(not kept in {wheelhouse})"
    ) in result.out
    # Not kept, and no partial file left behind for an installer to find.
    assert list(wheelhouse.iterdir()) == []
    assert f"expected: sha256:{hashlib.sha256(real).hexdigest()}" in result.out
    assert f"got:      sha256:{hashlib.sha256(bytes(tampered)).hexdigest()}" in result.out
    assert "verdict: FAILED (exit 1)" in result.out


def test_index_digest_that_disagrees_with_the_file_fails_both_checks(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    wrong = "0" * 64
    serve_sdist(index, material, sha256=wrong)
    result = verify(capsys, index, tmp_path, "pypi-attestations==0.0.19", "--repository", REPO)
    assert result.code == 1
    assert f"expected: sha256:{wrong}" in result.out
    assert "attested sha256 differs from the file's" in result.out


def test_attestation_moved_to_another_file_fails(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    wheel = DistFile(WHEEL, b"wheel", material.provenance(SDIST))
    index.add_release(
        "pypi-attestations", "0.0.19", [wheel], real_page=material.page("pypi-attestations")
    )
    result = verify(capsys, index, tmp_path, "pypi-attestations==0.0.19", "--repository", REPO)
    assert result.code == 1
    assert "attestation is for another file" in result.out
    assert f"expected: {WHEEL}" in result.out
    assert f"got:      {SDIST}" in result.out


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            ["--repository", "https://github.com/evil/pypi-attestations"],
            "expected: GitHub https://github.com/evil/pypi-attestations workflow release.yml",
        ),
        (
            ["--repository", REPO, "--workflow", "publish.yml"],
            f"expected: GitHub {REPO} workflow publish.yml",
        ),
        (
            ["--repository", "https://gitlab.com/trailofbits/pypi-attestations"],
            "expected: GitLab https://gitlab.com/trailofbits/pypi-attestations",
        ),
    ],
)
def test_wrong_expected_publisher_fails_with_expected_and_got(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    flags: list[str],
    expected: str,
) -> None:
    serve_sdist(index, material)
    result = verify(capsys, index, tmp_path, "pypi-attestations==0.0.19", *flags)
    assert result.code == 1, result.out
    assert expected in result.out
    assert "got:      " in result.out
    assert "signature verification failed" not in result.out


def test_environment_mismatch_fails(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    result = verify(
        capsys,
        index,
        tmp_path,
        "pypi-attestations==0.0.19",
        "--repository",
        REPO,
        "--environment",
        "pypi",
    )
    assert result.code == 1
    assert "publishing environment differs" in result.out
    assert "expected: pypi" in result.out
    assert "got:      (none)" in result.out


def _mutate_attestation(raw: bytes, change: str) -> bytes:
    provenance = json.loads(raw)
    attestation = provenance["attestation_bundles"][0]["attestations"][0]
    if change == "signature":
        signature = bytearray(base64.b64decode(attestation["envelope"]["signature"]))
        signature[10] ^= 0x01
        attestation["envelope"]["signature"] = base64.b64encode(bytes(signature)).decode()
    elif change == "statement":
        statement = json.loads(base64.b64decode(attestation["envelope"]["statement"]))
        statement["subject"][0]["digest"]["sha256"] = "1" * 64
        attestation["envelope"]["statement"] = base64.b64encode(
            json.dumps(statement).encode()
        ).decode()
    elif change == "certificate":
        cert = bytearray(base64.b64decode(attestation["verification_material"]["certificate"]))
        cert[-20] ^= 0x01
        attestation["verification_material"]["certificate"] = base64.b64encode(bytes(cert)).decode()
    elif change == "garbage":
        return b'{"version": 1, "attestation_bundles": [{"publisher": 7}]}'
    return json.dumps(provenance).encode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("signature", "signature verification failed: DSSE: invalid signature"),
        ("statement", "signature verification failed: DSSE: invalid signature"),
        ("certificate", "signature verification failed: failed to build timestamp certificate"),
        ("garbage", "provenance is not a valid PEP 740 object: attestation_bundles.0.publisher"),
    ],
)
def test_tampered_attestation_fails(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    change: str,
    message: str,
) -> None:
    serve_sdist(index, material, provenance=_mutate_attestation(material.provenance(SDIST), change))
    result = verify(capsys, index, tmp_path, "pypi-attestations==0.0.19", "--repository", REPO)
    assert result.code == 1, result.out
    assert "FAILED       attestation" in result.out
    assert message in result.out
    # A broken signature is not an identity question: no misleading expected/got identity.
    assert "expected: GitHub" not in result.out


def test_staging_material_is_refused_as_staging(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    name = "rfc8785-0.1.2-py3-none-any.whl"
    index.add_release(
        "rfc8785",
        "0.1.2",
        [DistFile(name, material.read(name), material.provenance(name))],
        real_page=material.page("rfc8785"),
    )
    result = verify(capsys, index, tmp_path, "rfc8785==0.1.2")
    assert result.code == 1, result.out
    assert "signed by Sigstore's *staging* instance" in result.out
    assert "expected: a certificate chaining to the production Fulcio root" in result.out


# -- negative: the network ----------------------------------------------------------------------


def test_provenance_server_errors_are_retried(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    route = index.server.routes[index.provenance_path("pypi-attestations", "0.0.19", SDIST)]
    route.fail_first = 2
    route.retry_after = "0"
    result = verify(capsys, index, tmp_path, "pypi-attestations==0.0.19", "--repository", REPO)
    assert result.code == 0, result.out
    assert route.hits == 3


def test_provenance_server_error_storm_is_unverifiable(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    route = index.server.routes[index.provenance_path("pypi-attestations", "0.0.19", SDIST)]
    route.fail_first = 100
    route.fail_status = 503
    route.retry_after = "0"
    result = verify(capsys, index, tmp_path, "pypi-attestations==0.0.19", "--repository", REPO)
    assert result.code == 2
    assert "HTTP 503" in result.out
    assert "(after 4 attempts)" in result.out


def test_stalled_download_times_out_as_unverifiable(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    index.server.routes[index.file_path(SDIST)].stall_before = 3
    result = verify(
        capsys,
        index,
        tmp_path,
        "pypi-attestations==0.0.19",
        "--repository",
        REPO,
        "--timeout",
        "0.5",
        "--download",
        str(tmp_path / "wheelhouse"),
    )
    assert result.code == 2
    assert "sent no response (read timeout 0.5s)" in result.out


def test_oversized_provenance_is_unverifiable(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    route = index.server.routes[index.provenance_path("pypi-attestations", "0.0.19", SDIST)]
    route.body = b" " * (3 * 1024 * 1024)
    result = verify(capsys, index, tmp_path, "pypi-attestations==0.0.19", "--repository", REPO)
    assert result.code == 2
    assert "exceeds the 2097152-byte cap" in result.out


def test_index_unreachable_is_unverifiable_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = run(
        capsys, "pypi-attestations==0.0.19", *base_args("http://127.0.0.1:9", tmp_path / "cache")
    )
    assert result.code == 2
    assert "cannot reach 127.0.0.1:9: connection refused" in result.out
    assert "Traceback" not in result.out + result.err


def test_dns_failure_is_unverifiable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # .invalid never resolves (RFC 6761).
    result = run(capsys, "foo==1.0", *base_args("https://index.invalid", tmp_path / "cache"))
    assert result.code == 2
    assert "cannot reach index.invalid: DNS lookup failed" in result.out


def test_yanked_files_are_reported(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    route = index.server.routes[index.simple_path("pypi-attestations")]
    page = json.loads(route.body)
    for entry in page["files"]:
        if entry["filename"] == SDIST:
            entry["yanked"] = "broken build"
    route.body = json.dumps(page).encode()
    result = verify(capsys, index, tmp_path, "pypi-attestations==0.0.19", "--repository", REPO)
    assert result.code == 0
    assert f"the index marks {SDIST} as yanked" in result.err


def test_index_serving_html_instead_of_json_is_unverifiable(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    index.server.route("/simple/foo/", Route(body=b"<html></html>", content_type="text/html"))
    result = verify(capsys, index, tmp_path, "foo==1.0")
    assert result.code == 2
    assert "has content type 'text/html'" in result.out


def test_cross_host_redirect_is_refused(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    port = index.server.port
    path = index.provenance_path("pypi-attestations", "0.0.19", SDIST)
    index.server.routes[path].redirect_to = f"http://localhost:{port}/elsewhere"
    result = verify(capsys, index, tmp_path, "pypi-attestations==0.0.19", "--repository", REPO)
    assert result.code == 2
    assert "refusing a redirect from 127.0.0.1:" in result.out
    assert "/elsewhere" not in index.server.paths_requested()


# -- usage --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("requests>=2", "is not an exact pin"),
        ("requests", "is not an exact pin"),
        ("requests==2.*", "is a wildcard"),
        ("not a requirement!", "is not a requirement"),
    ],
)
def test_inexact_pins_are_usage_errors_with_a_hint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, target: str, message: str
) -> None:
    result = run(capsys, target, *base_args("http://127.0.0.1:9", tmp_path))
    assert result.code == 3
    assert message in result.err
    assert "hint:" in result.err


def test_unknown_version_is_a_usage_error_listing_versions(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    result = verify(capsys, index, tmp_path, "pypi-attestations==9.9.9")
    assert result.code == 3
    assert "pypi-attestations has no files for version 9.9.9" in result.err
    assert "hint: pick one of the listed versions" in result.err


def test_plain_http_to_a_remote_index_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = run(capsys, "foo==1.0", *base_args("http://pypi.example.org", tmp_path))
    assert result.code == 3
    assert "only https URLs (or http to a loopback address) are allowed" in result.err


def test_bad_flag_exits_3_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        run(capsys, "foo==1.0", "--format", "yaml")
    assert excinfo.value.code == 3


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        run(capsys, "--help")
    assert excinfo.value.code == 0
    out = capsys.readouterr().out
    for line in ("0  verified", "1  failed", "2  unverifiable", "3  usage error"):
        assert line in out


def test_second_run_reuses_the_cache_but_rehashes_files(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    wheelhouse = tmp_path / "wheelhouse"
    pin = ["pypi-attestations==0.0.19", "--repository", REPO, "--download", str(wheelhouse)]
    first = verify(capsys, index, tmp_path, *pin)
    assert first.code == 0, first.out
    assert f"sha256 matches the index (downloaded, kept in {wheelhouse})" in first.out
    assert (wheelhouse / SDIST).read_bytes() == material.read(SDIST)
    assert index.server.paths_requested().count(index.file_path(SDIST)) == 1
    before = len(index.server.requests)
    second = verify(capsys, index, tmp_path, *pin)
    assert second.code == 0, second.out
    again = index.server.paths_requested()[before:]
    # The page is fresh (max-age), the provenance immutable, the file re-hashed from DIR.
    assert index.simple_path("pypi-attestations") not in again
    assert index.provenance_path("pypi-attestations", "0.0.19", SDIST) not in again
    assert index.file_path(SDIST) not in again
    assert f"sha256 matches the index (already in {wheelhouse}, re-hashed)" in second.out


def test_stale_page_is_revalidated_with_its_etag(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    route = index.server.routes[index.simple_path("pypi-attestations")]
    route.headers["Cache-Control"] = "max-age=0"
    assert (
        verify(capsys, index, tmp_path, "pypi-attestations==0.0.19", "--repository", REPO).code == 0
    )
    before = len(index.server.requests)
    assert (
        verify(capsys, index, tmp_path, "pypi-attestations==0.0.19", "--repository", REPO).code == 0
    )
    revalidations = [
        r
        for r in index.server.requests[before:]
        if r.path == index.simple_path("pypi-attestations")
    ]
    assert len(revalidations) == 1
    assert revalidations[0].headers.get("If-None-Match") == route.headers["ETag"]
