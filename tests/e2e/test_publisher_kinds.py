"""Every Trusted Publisher kind pypi-attestations knows can be pinned, and the pin is enforced.

Real production provenance from pypi-attestations' test assets (tests/conftest.py): a CircleCI
wheel and a Google Cloud Build sdist. Pinned right, the release verifies; pinned wrong (one
character of an id, another service account, another kind), the attestation FAILS. The pin
comes from the command line or from a policy file's ``[publishers.NAME]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.helpers import Run, base_args, run
from tests.servers import DistFile, FakeIndex
from verifier.cli import build_parser, validate_args

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - Python 3.10
    pass

CIRCLE = "circleci_sign_publish_example-0.0.1.dev137-py3-none-any.whl"
CIRCLE_PIN = "circleci-sign-publish-example==0.0.1.dev137"
PROJECT = "fdd9283f-e619-46af-8f9c-851f7d3e8b2b"
PIPELINE = "8e4f8ab2-8d7c-4827-9f15-de076d6d647f"
OTHER_PIPELINE = "8e4f8ab2-8d7c-4827-9f15-de076d6d647e"
GOOGLE = "gcb_attestation_test-0.0.0.tar.gz"
GOOGLE_PIN = "gcb-attestation-test==0.0.0"
ACCOUNT = "919436158236-compute@developer.gserviceaccount.com"
SIGNER_URI = f"https://circleci.com/api/v2/projects/{PROJECT}/pipeline-definitions/"


def _serve(index: FakeIndex, material: Material) -> None:
    for project, version, name in (
        ("circleci-sign-publish-example", "0.0.1.dev137", CIRCLE),
        ("gcb-attestation-test", "0.0.0", GOOGLE),
    ):
        index.add_release(
            project, version, [DistFile(name, material.read(name), material.provenance(name))]
        )


def _verify(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path, *args: str
) -> Run:
    return run(capsys, *args, *base_args(index.url, tmp_path / "cache"))


def _attestation_line(result: Run, filename: str) -> str:
    return next(line for line in result.out.splitlines() if f"attestation    {filename}" in line)


@pytest.mark.parametrize(
    ("pin", "filename", "flags", "expected"),
    [
        (
            CIRCLE_PIN,
            CIRCLE,
            ["--circleci-project", PROJECT, "--circleci-pipeline-definition", PIPELINE],
            f"CircleCI {SIGNER_URI}{PIPELINE}",
        ),
        (
            GOOGLE_PIN,
            GOOGLE,
            ["--google-service-account", ACCOUNT],
            f"Google {ACCOUNT}",
        ),
    ],
)
def test_a_pinned_circleci_or_google_publisher_verifies(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    pin: str,
    filename: str,
    flags: list[str],
    expected: str,
) -> None:
    _serve(index, material)
    result = _verify(capsys, index, tmp_path, pin, *flags)
    assert result.code == 0, result.out
    assert f"  expected publisher: {expected}\n" in result.out
    assert "  identity source: command line (publisher flags)\n" in result.out
    assert _attestation_line(result, filename).startswith("  VERIFIED ")


@pytest.mark.parametrize(
    ("pin", "filename", "flags", "message", "want"),
    [
        (
            CIRCLE_PIN,
            CIRCLE,
            ["--circleci-project", PROJECT, "--circleci-pipeline-definition", OTHER_PIPELINE],
            "the certificate's identity does not match the expected publisher",
            f"CircleCI {SIGNER_URI}{OTHER_PIPELINE}",
        ),
        (
            GOOGLE_PIN,
            GOOGLE,
            ["--google-service-account", "someone-else@developer.gserviceaccount.com"],
            "the certificate's identity does not match the expected publisher",
            "Google service account someone-else@developer.gserviceaccount.com",
        ),
        (
            GOOGLE_PIN,
            GOOGLE,
            ["--circleci-project", PROJECT, "--circleci-pipeline-definition", PIPELINE],
            "published by another kind of Trusted Publisher",
            f"CircleCI {SIGNER_URI}{PIPELINE}",
        ),
    ],
)
def test_a_wrong_pin_fails(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    pin: str,
    filename: str,
    flags: list[str],
    message: str,
    want: str,
) -> None:
    _serve(index, material)
    result = _verify(capsys, index, tmp_path, pin, *flags)
    assert result.code == 1, result.out
    line = _attestation_line(result, filename)
    assert line.startswith(f"  FAILED       attestation    {filename}  {message}")
    assert f"                 expected: {want}\n" in result.out


def test_a_circleci_release_pinned_with_repository_is_told_the_circleci_flags(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    # The certificate names github.com/CircleCI-Public/...: a user tries it as --repository.
    _serve(index, material)
    repository = "github.com/CircleCI-Public/sign-and-publish-examples"
    result = _verify(capsys, index, tmp_path, CIRCLE_PIN, "--repository", repository)
    assert result.code == 1, result.out
    assert (
        "                 hint: if CircleCI is the project's publisher, pass --circleci-project "
        "ID --circleci-pipeline-definition ID for the expected Trusted Publisher\n"
    ) in result.out


@pytest.mark.parametrize(
    ("filename", "pin", "hint"),
    [
        (CIRCLE, CIRCLE_PIN, "--circleci-project ID --circleci-pipeline-definition ID"),
        (GOOGLE, GOOGLE_PIN, "--google-service-account EMAIL"),
    ],
)
def test_an_unpinned_local_file_hints_at_its_own_kind(
    capsys: pytest.CaptureFixture[str],
    material: Material,
    tmp_path: Path,
    filename: str,
    pin: str,
    hint: str,
) -> None:
    dist = tmp_path / filename
    dist.write_bytes(material.read(filename))
    provenance = tmp_path / "provenance.json"
    provenance.write_bytes(material.provenance(filename))
    args = ["--offline", "-q", "--skip", "bundles,tags,vulnerabilities"]
    result = run(capsys, str(dist), "--provenance", str(provenance), *args)
    assert result.code == 2, result.out
    assert f"hint: pass {hint} for the expected Trusted Publisher\n" in result.out
    assert "--repository" not in result.out.split("identity source:", 1)[1].split("\n", 1)[1]


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        (f'google-service-account = "{ACCOUNT}"', 0),
        ('google-service-account = "other@developer.gserviceaccount.com"', 1),
    ],
)
def test_a_policy_file_pins_a_google_publisher(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    entry: str,
    code: int,
) -> None:
    _serve(index, material)
    policy = tmp_path / "policy.toml"
    policy.write_text(f"[publishers.gcb-attestation-test]\n{entry}\n")
    result = _verify(capsys, index, tmp_path, GOOGLE_PIN, "--policy", str(policy))
    assert result.code == code, result.out
    assert f"  identity source: policy {policy.name}" in result.out


@pytest.mark.parametrize(
    ("pipeline", "code"),
    [(PIPELINE, 0), (OTHER_PIPELINE, 1)],
)
def test_a_policy_file_pins_a_circleci_publisher(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    pipeline: str,
    code: int,
) -> None:
    _serve(index, material)
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[publishers.circleci-sign-publish-example]\n"
        f'circleci-project = "{PROJECT}"\ncircleci-pipeline-definition = "{pipeline}"\n'
    )
    result = _verify(capsys, index, tmp_path, CIRCLE_PIN, "--policy", str(policy))
    assert result.code == code, result.out


@pytest.mark.parametrize(
    ("argv", "message", "hint"),
    [
        (
            ["--circleci-project", PROJECT],
            "--circleci-project and --circleci-pipeline-definition go together",
            "a CircleCI Trusted Publisher is a project and a pipeline definition: pass both ids, "
            "as PyPI's publisher record shows them",
        ),
        (
            ["--repository", "a/b", "--google-service-account", ACCOUNT],
            "give one expected publisher: --repository or --google-service-account",
            "a release has one Trusted Publisher: keep the flags of one kind",
        ),
        (
            ["--google-service-account", "not-an-email"],
            "--google-service-account 'not-an-email' is not a service account email",
            "e.g. NAME@PROJECT.iam.gserviceaccount.com, as PyPI shows the publisher",
        ),
        (
            ["--circleci-project", "p1", "--circleci-pipeline-definition", PIPELINE],
            "--circleci-project 'p1' is not a CircleCI id (a UUID)",
            "copy the project id and the pipeline definition id from the CircleCI project "
            "settings (or PyPI's publisher record)",
        ),
    ],
)
def test_publisher_flags_are_checked_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str, hint: str
) -> None:
    result = run(capsys, "x==1", *argv, "--offline", "--cache-dir", str(tmp_path))
    assert (result.code, result.err) == (3, f"verify-release: error: {message}\nhint: {hint}\n")


def test_a_lockfile_refuses_a_single_publisher_flag() -> None:
    from verifier.errors import UsageError

    parser = build_parser()
    args = parser.parse_args(["--lockfile", "uv.lock", "--google-service-account", ACCOUNT])
    with pytest.raises(UsageError, match=r"^--google-service-account names one publisher"):
        validate_args(parser, args)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            f'repository = "https://github.com/a/b"\ngoogle-service-account = "{ACCOUNT}"',
            "publishers.pkg: give one publisher: repository or google-service-account",
        ),
        (
            f'google-service-account = "{ACCOUNT}"\nworkflow = "release.yml"',
            "publishers.pkg.workflow applies to a GitHub or GitLab repository only",
        ),
        (
            f'circleci-project = "{PROJECT}"',
            "publishers.pkg.circleci-pipeline-definition is missing: a CircleCI publisher is a "
            "project and a pipeline definition",
        ),
        (
            'google-service-account = "nobody"',
            "publishers.pkg.google-service-account 'nobody' is not a service account email",
        ),
    ],
)
def test_policy_file_publisher_entries_are_strict(tmp_path: Path, entry: str, message: str) -> None:
    from verifier.errors import PolicyError
    from verifier.policy import load_policy_file

    policy = tmp_path / "policy.toml"
    policy.write_text(f"[publishers.pkg]\n{entry}\n")
    with pytest.raises(PolicyError) as error:
        load_policy_file(policy)
    assert error.value.message == f"{policy}: {message}"


def test_pin_records_google_and_circleci_publishers_and_the_next_run_holds_to_them(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    import hashlib
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    _serve(index, material)
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        "".join(
            f"{pin} --hash=sha256:{hashlib.sha256(material.read(name)).hexdigest()}\n"
            for pin, name in ((CIRCLE_PIN, CIRCLE), (GOOGLE_PIN, GOOGLE))
        )
    )
    policy = tmp_path / "verify-release.toml"
    pinned = run(
        capsys,
        "pin",
        "--lockfile",
        str(lock),
        "--policy",
        str(policy),
        *base_args(index.url, tmp_path / "cache"),
    )
    assert pinned.code == 0, pinned.out + pinned.err
    assert f"+ gcb-attestation-test: Google service account {ACCOUNT}" in pinned.out
    assert (
        f"+ circleci-sign-publish-example: CircleCI project {PROJECT} pipeline definition "
        f"{PIPELINE}" in pinned.out
    )
    publishers = tomllib.loads(policy.read_text())["publishers"]
    assert publishers == {
        "circleci-sign-publish-example": {
            "circleci-project": PROJECT,
            "circleci-pipeline-definition": PIPELINE,
            "pinned": True,
        },
        "gcb-attestation-test": {"google-service-account": ACCOUNT, "pinned": True},
    }
    again = run(
        capsys,
        "--lockfile",
        str(lock),
        "--policy",
        str(policy),
        "--format",
        "json",
        *base_args(index.url, tmp_path / "cache"),
    )
    assert again.code == 0, again.out
    sources = [r["identity_source"] for r in again.json()["releases"]]
    assert sources == [f"policy {policy.name} (pinned: a change of publisher fails)"] * 2
    # A second pin run sees the same publishers: nothing to change.
    repeat = run(
        capsys,
        "pin",
        "--lockfile",
        str(lock),
        "--policy",
        str(policy),
        *base_args(index.url, tmp_path / "cache"),
    )
    assert repeat.code == 0, repeat.out + repeat.err
    assert "+ " not in repeat.out
    assert "~ " not in repeat.out
