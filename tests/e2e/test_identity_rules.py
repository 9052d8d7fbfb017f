"""Who may sign: repository letter case and reusable workflows, with real Sigstore cryptography.

Certificates come from the local Sigstore stack (tests/sigstore_local.py), which can write any
Fulcio claim, and are verified by sigstore's real ``Verifier`` against its trusted root, both
through the checks (``verify_bundle``, ``AttestationChecker``) and through ``main([...])``.

Legitimate releases that must verify: a repository pinned in another letter case (GitHub and
GitLab paths are case-insensitive), and a release whose signing workflow is a reusable one
called by the release workflow. Next to each, the attacks that must keep failing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier

from tests.e2e.helpers import Run, run
from tests.e2e.test_chain import DATA, WHEEL, make_repo
from tests.servers import DistFile, FakeGitHub, FakeIndex
from tests.sigstore_local import GitHubClaims, LocalSigstore
from verifier.certificates import GITHUB_ACTIONS_ISSUER
from verifier.checks import CheckFailure
from verifier.checks.attestations import AttestationChecker
from verifier.checks.bundles import BundleIdentity, verify_bundle
from verifier.judge import judge
from verifier.models import Outcome
from verifier.policy import ExpectedPublisher, Policy

DIGEST = hashlib.sha256(DATA).hexdigest()
TAG_REF = "refs/tags/v1.0.0"
CALLER = "https://github.com/acme/widget/.github/workflows/release.yml@refs/tags/v1.0.0"
SHARED = "https://github.com/org/shared/.github/workflows/pypi.yml@refs/heads/main"
SHARED_AT_SHA = "https://github.com/org/shared/.github/workflows/pypi.yml@" + "ab" * 20
ASCII_LOOKALIKES = ["acme/widget2", "acme-/widget", "acme/widget.git", "acme/widget/"]
LOOKALIKES = [
    *ASCII_LOOKALIKES,
    "\u0430cme/widget",  # Cyrillic a (only in the claims: a SAN URI must be ASCII)
    "acme/widge\u0442",  # Cyrillic te
]


@pytest.fixture(scope="module")
def stack() -> LocalSigstore:
    return LocalSigstore()


@pytest.fixture(scope="module")
def verifier(stack: LocalSigstore, tmp_path_factory: pytest.TempPathFactory) -> Verifier:
    root = stack.write_trusted_root(tmp_path_factory.mktemp("root") / "trusted_root.json")
    return Verifier(trusted_root=TrustedRoot.from_file(str(root)))


def expected_identity(slug: str = "acme/widget", **extra: bool) -> BundleIdentity:
    """What the release flow asks of a bundle: the release workflow at the tag."""
    return BundleIdentity(
        identity=f"https://github.com/{slug}/.github/workflows/release.yml@{TAG_REF}",
        issuer=GITHUB_ACTIONS_ISSUER,
        repository=slug,
        ref=TAG_REF,
        **extra,
    )


def bundle(stack: LocalSigstore, claims: GitHubClaims) -> bytes:
    return stack.sign_artifact(DATA, claims).encode()


def refusal(verifier: Verifier, raw: bytes, identity: BundleIdentity) -> CheckFailure:
    with pytest.raises(CheckFailure) as info:
        verify_bundle(verifier, raw, digest=DIGEST, identity=identity)
    return info.value


# -- bundles: letter case -------------------------------------------------------------------------


def test_bundle_repository_pinned_in_another_letter_case_verifies(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    raw = bundle(stack, GitHubClaims(repository="acme/widget"))
    cert = verify_bundle(verifier, raw, digest=DIGEST, identity=expected_identity("Acme/Widget"))
    assert cert.identity == CALLER
    assert cert.repository == "https://github.com/acme/widget"


def test_bundle_certificate_in_another_letter_case_verifies(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    raw = bundle(stack, GitHubClaims(repository="ACME/widget"))
    cert = verify_bundle(verifier, raw, digest=DIGEST, identity=expected_identity())
    assert cert.repository == "https://github.com/ACME/widget"


@pytest.mark.parametrize("repository", ASCII_LOOKALIKES)
def test_bundle_from_a_lookalike_repository_fails(
    stack: LocalSigstore, verifier: Verifier, repository: str
) -> None:
    claims = GitHubClaims(repository=repository)
    failure = refusal(verifier, bundle(stack, claims), expected_identity("Acme/Widget"))
    assert failure.message == (
        "the bundle was signed by someone else (neither the certificate's identity nor its "
        "Build Config URI is "
        "https://github.com/Acme/Widget/.github/workflows/release.yml@refs/tags/v1.0.0)"
    )
    assert failure.actual == f"identity {claims.identity}, issuer {GITHUB_ACTIONS_ISSUER}"


@pytest.mark.parametrize("repository", LOOKALIKES)
def test_bundle_by_a_reusable_workflow_for_a_lookalike_repository_fails(
    stack: LocalSigstore, verifier: Verifier, repository: str
) -> None:
    claims = GitHubClaims(repository=repository, signer=SHARED)
    failure = refusal(verifier, bundle(stack, claims), expected_identity("Acme/Widget"))
    assert failure.message == (
        "the bundle was signed by someone else (neither the certificate's identity nor its "
        "Build Config URI is "
        "https://github.com/Acme/Widget/.github/workflows/release.yml@refs/tags/v1.0.0)"
    )
    assert failure.actual == (
        f"identity {SHARED}, issuer {GITHUB_ACTIONS_ISSUER}; build config {claims.workflow_uri}"
    )


def test_bundle_workflow_file_name_keeps_its_letter_case(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    claims = GitHubClaims(repository="acme/widget", workflow="Release.yml")
    failure = refusal(verifier, bundle(stack, claims), expected_identity())
    assert failure.message.startswith("the bundle was signed by someone else (neither")


def test_explicit_cert_identity_stays_an_exact_match(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    raw = bundle(stack, GitHubClaims(repository="acme/widget"))
    explicit = BundleIdentity(
        identity=CALLER.replace("acme/widget", "Acme/Widget"),
        issuer=GITHUB_ACTIONS_ISSUER,
        repository="acme/widget",
        ref=TAG_REF,
        exact_identity=True,
    )
    failure = refusal(verifier, raw, explicit)
    assert failure.message.startswith(
        "the bundle was signed by someone else (Certificate's SANs do not match "
        "https://github.com/Acme/Widget/.github/workflows/release.yml@refs/tags/v1.0.0"
    )


# -- bundles: reusable workflows ------------------------------------------------------------------


@pytest.mark.parametrize("signer", [SHARED, SHARED_AT_SHA])
def test_bundle_signed_by_a_reusable_workflow_of_the_release_workflow_verifies(
    stack: LocalSigstore, verifier: Verifier, signer: str
) -> None:
    raw = bundle(stack, GitHubClaims(repository="acme/widget", signer=signer))
    identity = expected_identity("Acme/Widget")
    cert = verify_bundle(verifier, raw, digest=DIGEST, identity=identity)
    assert cert.identity == signer
    assert cert.build_config_uri == CALLER
    assert identity.matched(cert) == f"reusable workflow {signer}, called by {CALLER}"


def test_a_self_signing_release_workflow_is_reported_as_such(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    raw = bundle(stack, GitHubClaims(repository="acme/widget"))
    identity = expected_identity()
    cert = verify_bundle(verifier, raw, digest=DIGEST, identity=identity)
    assert identity.matched(cert) == f"release workflow {CALLER}"


@pytest.mark.parametrize(
    ("claims", "config"),
    [
        # the shared workflow, called from another repository's release workflow
        (
            GitHubClaims(repository="evil/widget", signer=SHARED),
            "https://github.com/evil/widget/.github/workflows/release.yml@refs/tags/v1.0.0",
        ),
        # another workflow file of the right repository
        (
            GitHubClaims(repository="acme/widget", workflow="nightly.yml", signer=SHARED),
            "https://github.com/acme/widget/.github/workflows/nightly.yml@refs/tags/v1.0.0",
        ),
        # the right workflow at another tag
        (
            GitHubClaims(
                repository="acme/widget",
                signer=SHARED,
                build_config_uri=CALLER.replace("v1.0.0", "v0.9.0"),
            ),
            CALLER.replace("v1.0.0", "v0.9.0"),
        ),
        # no Build Config URI at all
        (GitHubClaims(repository="acme/widget", signer=SHARED, omit=frozenset({18})), "(none)"),
    ],
    ids=["other-caller-repository", "other-workflow-file", "other-tag", "no-build-config"],
)
def test_reusable_workflow_attacks_fail(
    stack: LocalSigstore, verifier: Verifier, claims: GitHubClaims, config: str
) -> None:
    failure = refusal(verifier, bundle(stack, claims), expected_identity())
    assert failure.message == (
        "the bundle was signed by someone else (neither the certificate's identity nor its "
        f"Build Config URI is {CALLER})"
    )
    assert failure.expected == f"identity {CALLER}, issuer {GITHUB_ACTIONS_ISSUER}"
    assert (
        failure.actual
        == f"identity {SHARED}, issuer {GITHUB_ACTIONS_ISSUER}; build config {config}"
    )


def test_reusable_workflow_with_a_right_build_config_but_another_source_repository_fails(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    claims = GitHubClaims(repository="evil/widget", signer=SHARED, build_config_uri=CALLER)
    failure = refusal(verifier, bundle(stack, claims), expected_identity())
    assert failure.message == (
        "the bundle was signed by someone else (the certificate's Build Config URI is the "
        "release workflow but its Source Repository URI is https://github.com/evil/widget, not "
        "https://github.com/acme/widget)"
    )


def test_explicit_cert_identity_does_not_accept_a_reusable_workflow(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    raw = bundle(stack, GitHubClaims(repository="acme/widget", signer=SHARED))
    failure = refusal(verifier, raw, expected_identity(exact_identity=True))
    assert failure.message.startswith(
        f"the bundle was signed by someone else (Certificate's SANs do not match {CALLER}"
    )


def test_bundle_subcommand_identity_without_repository_is_exact(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    raw = bundle(stack, GitHubClaims(repository="acme/widget", signer=SHARED))
    bare = BundleIdentity(identity=CALLER, issuer=GITHUB_ACTIONS_ISSUER, repository=None, ref=None)
    failure = refusal(verifier, raw, bare)
    assert failure.message.startswith("the bundle was signed by someone else (Certificate's SANs")


# -- PEP 740 attestations -------------------------------------------------------------------------


def check_provenance(
    stack: LocalSigstore, verifier: Verifier, claims: GitHubClaims, expected: ExpectedPublisher
) -> tuple[Outcome, str]:
    checker = AttestationChecker(verifier, staging=None)
    finding = checker.check_provenance(
        stack.provenance(WHEEL, DATA, claims),
        filename=WHEEL,
        digest=DIGEST,
        expected=expected,
    )
    return judge(finding, Policy()).outcome, finding.message


def check_bare(
    stack: LocalSigstore, verifier: Verifier, claims: GitHubClaims, expected: ExpectedPublisher
) -> tuple[Outcome, str]:
    checker = AttestationChecker(verifier, staging=None)
    raw = json.dumps(stack.pypi_attestation(WHEEL, DATA, claims)).encode()
    finding = checker.check_attestation_file(raw, filename=WHEEL, digest=DIGEST, expected=expected)
    return judge(finding, Policy()).outcome, finding.message


@pytest.mark.parametrize("workflow", ["release.yml", None])
def test_attestation_repository_pinned_in_another_letter_case_verifies(
    stack: LocalSigstore, verifier: Verifier, workflow: str | None
) -> None:
    expected = ExpectedPublisher(kind="GitHub", repository="Acme/Widget", workflow=workflow)
    outcome, message = check_provenance(
        stack, verifier, GitHubClaims(repository="acme/widget"), expected
    )
    assert (outcome, message) == (
        Outcome.VERIFIED,
        "1 attestation verified (publish/v1) from https://github.com/acme/widget",
    )


GITLAB = GitHubClaims(
    repository="acme/widget",
    workflow=".gitlab-ci.yml",
    issuer="https://gitlab.com",
    host="gitlab.com",
    runner_environment="gitlab-hosted",
)


@pytest.mark.parametrize("workflow", [".gitlab-ci.yml", None])
def test_gitlab_attestation_project_pinned_in_another_letter_case_verifies(
    stack: LocalSigstore, verifier: Verifier, workflow: str | None
) -> None:
    expected = ExpectedPublisher(kind="GitLab", repository="ACME/Widget", workflow=workflow)
    outcome, message = check_bare(stack, verifier, GITLAB, expected)
    assert (outcome, message) == (
        Outcome.VERIFIED,
        "1 attestation verified (publish/v1) from https://gitlab.com/acme/widget",
    )


def test_gitlab_attestation_from_another_project_fails(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    expected = ExpectedPublisher(kind="GitLab", repository="acme/widget", workflow=".gitlab-ci.yml")
    claims = GitHubClaims(
        repository="acme/widget2",
        workflow=".gitlab-ci.yml",
        issuer="https://gitlab.com",
        host="gitlab.com",
    )
    outcome, message = check_bare(stack, verifier, claims, expected)
    assert (outcome, message) == (
        Outcome.FAILED,
        "the certificate's identity does not match the expected publisher (the certificate's "
        "Source Repository URI is https://gitlab.com/acme/widget2, not "
        "https://gitlab.com/acme/widget (letter case aside))",
    )


@pytest.mark.parametrize("workflow", ["release.yml", None])
@pytest.mark.parametrize("repository", LOOKALIKES)
def test_attestation_from_a_lookalike_repository_fails(
    stack: LocalSigstore, verifier: Verifier, repository: str, workflow: str | None
) -> None:
    expected = ExpectedPublisher(kind="GitHub", repository="Acme/Widget", workflow=workflow)
    claims = GitHubClaims(repository=repository, signer=SHARED)  # a SAN URI must be ASCII
    outcome, message = check_provenance(stack, verifier, claims, expected)
    assert (outcome, message) == (
        Outcome.FAILED,
        "the certificate's identity does not match the expected publisher (the certificate's "
        f"Source Repository URI is https://github.com/{repository}, not "
        "https://github.com/Acme/Widget (letter case aside))",
    )


def test_attestation_by_a_reusable_workflow_of_the_publisher_verifies(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    expected = ExpectedPublisher(kind="GitHub", repository="Acme/Widget", workflow="release.yml")
    claims = GitHubClaims(repository="acme/widget", signer=SHARED)
    assert check_provenance(stack, verifier, claims, expected)[0] is Outcome.VERIFIED


def test_attestation_by_a_reusable_workflow_for_another_workflow_file_fails(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    expected = ExpectedPublisher(kind="GitHub", repository="acme/widget", workflow="release.yml")
    claims = GitHubClaims(repository="acme/widget", workflow="nightly.yml", signer=SHARED)
    checker = AttestationChecker(verifier, staging=None)
    finding = judge(
        checker.check_provenance(
            stack.provenance(WHEEL, DATA, claims),
            filename=WHEEL,
            digest=DIGEST,
            expected=expected,
        ),
        Policy(),
    )
    assert (finding.outcome, finding.message, finding.expected, finding.actual) == (
        Outcome.FAILED,
        "the certificate's identity does not match the expected publisher (the certificate's "
        "Build Config URI is not https://github.com/acme/widget/.github/workflows/release.yml@"
        "(its own ref or commit))",
        "GitHub https://github.com/acme/widget workflow release.yml",
        f"issuer {GITHUB_ACTIONS_ISSUER}, identity "
        "https://github.com/acme/widget/.github/workflows/nightly.yml@refs/tags/v1.0.0",
    )


def test_attestation_without_a_build_config_uri_fails(
    stack: LocalSigstore, verifier: Verifier
) -> None:
    expected = ExpectedPublisher(kind="GitHub", repository="acme/widget", workflow="release.yml")
    claims = GitHubClaims(repository="acme/widget", signer=SHARED, omit=frozenset({18}))
    outcome, message = check_provenance(stack, verifier, claims, expected)
    assert (outcome, message) == (
        Outcome.FAILED,
        "the certificate's identity does not match the expected publisher (the certificate "
        "carries no Build Config URI)",
    )


# -- end to end -----------------------------------------------------------------------------------


def _main(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    index: FakeIndex,
    *,
    attested: GitHubClaims,
    bundled: GitHubClaims,
    repository: str,
) -> Run:
    repo, signers, commit = make_repo(tmp_path)
    stack = LocalSigstore()
    root = stack.write_trusted_root(tmp_path / "trusted_root.json")
    attested = GitHubClaims(**{**attested.__dict__, "sha": commit})
    bundled = GitHubClaims(**{**bundled.__dict__, "sha": commit})
    index.add_release(
        "widget", "1.0.0", [DistFile(WHEEL, DATA, stack.provenance(WHEEL, DATA, attested))]
    )
    github = FakeGitHub()
    slug = repository.removeprefix("https://github.com/")
    github.add_release(slug, "v1.0.0", {f"{WHEEL}.sigstore.json": bundle(stack, bundled)})
    try:
        return run(
            capsys,
            "widget==1.0.0",
            "--repository",
            repository,
            "--index-url",
            index.url,
            "--github-api-url",
            github.url,
            "--trusted-root",
            str(root),
            "--git-repo",
            str(repo),
            "--allowed-signers",
            str(signers),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--offline",
            "-q",
            "--skip",
            "vulnerabilities",
            "--format",
            "json",
        )
    finally:
        github.close()


def test_main_verifies_a_reusable_workflow_release_pinned_in_another_letter_case(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex
) -> None:
    claims = GitHubClaims(repository="acme/widget", signer=SHARED)
    result = _main(
        capsys,
        tmp_path,
        index,
        attested=claims,
        bundled=claims,
        repository="https://github.com/Acme/Widget",
    )
    assert result.code == 0, result.out
    outcomes = {(f["check"], f["outcome"]) for f in result.findings()}
    assert ("bundle", "verified") in outcomes
    assert ("attestation", "verified") in outcomes
    assert {o for _, o in outcomes} == {"verified", "skipped"}
    [found] = [f for f in result.findings() if f["check"] == "bundle"]
    # The evidence names both: the reusable workflow that signed, the release workflow it served.
    assert found["evidence"]["certificate.identity"] == SHARED
    assert found["evidence"]["certificate.build_config_uri"] == CALLER


def test_main_fails_a_reusable_workflow_called_from_another_repository(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, index: FakeIndex
) -> None:
    result = _main(
        capsys,
        tmp_path,
        index,
        attested=GitHubClaims(repository="acme/widget", signer=SHARED),
        bundled=GitHubClaims(repository="evil/widget", signer=SHARED),
        repository="https://github.com/acme/widget",
    )
    assert result.code == 1, result.out
    [found] = [f for f in result.findings() if f["check"] == "bundle"]
    assert found["outcome"] == "failed"
    assert found["message"] == (
        f"{WHEEL}.sigstore.json: the bundle was signed by someone else (neither the "
        f"certificate's identity nor its Build Config URI is {CALLER})"
    )
    assert found["actual"] == (
        f"identity {SHARED}, issuer {GITHUB_ACTIONS_ISSUER}; build config "
        "https://github.com/evil/widget/.github/workflows/release.yml@refs/tags/v1.0.0"
    )
