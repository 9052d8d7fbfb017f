"""Certificate claims, read by hand, agree with pypi-attestations' pyasn1 reading on real certs.

And the identity rules built on them: repository comparisons ignore ASCII letter case only, and
a reusable workflow is accepted through the Build Config and Source Repository claims.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography import x509
from pypi_attestations import Attestation
from sigstore.errors import VerificationError

from tests.conftest import Material
from tests.sigstore_local import GitHubClaims, LocalSigstore
from verifier.certificates import (
    GitHubRepositoryPolicy,
    ReleaseWorkflowPolicy,
    SourceRepositoryPolicy,
    TrustedPublisherPolicy,
    _der,
    evidence,
    same_repository,
)

REAL = [
    "pypi_attestations-0.0.19.tar.gz.publish.attestation",
    "gitlab_oidc_project-0.0.3.tar.gz.publish.attestation",
    "circleci_sign_publish_example-0.0.1.dev137-py3-none-any.whl.publish.attestation",
    "pypi_attestation_models-0.0.4a2.tar.gz.attestation",
]


@pytest.mark.parametrize("name", REAL)
def test_claims_match_pypi_attestations(material: Material, name: str) -> None:
    attestation = Attestation.model_validate(json.loads(material.read(name)))
    theirs = attestation.certificate_claims
    cert = x509.load_der_x509_certificate(attestation.verification_material.certificate)
    ours = evidence(cert)
    pairs = {
        "8": ours.issuer,
        "12": ours.repository,
        "13": ours.commit,
        "14": ours.ref,
        "18": ours.build_config_uri,
        "9": ours.workflow_ref,
        "11": ours.runner_environment,
        "20": ours.trigger,
        "21": ours.run_url,
    }
    for arc, value in pairs.items():
        oid = f"1.3.6.1.4.1.57264.1.{arc}"
        if oid in theirs:
            assert value == theirs[oid], oid


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x0c\x03abc", "abc"),
        (b"\x0c\x81\x03abc", "abc"),  # long-form length
        (b"\x0c\x04abc", None),  # length disagrees
        (b"\x13\x03abc", None),  # PrintableString, not UTF8String
        (b"\x0c\x80", None),  # indefinite length is not DER
        (b"\x0c\x02\xff\xfe", None),  # not UTF-8
        (b"\x0c", None),
    ],
)
def test_der_utf8string(raw: bytes, expected: str | None) -> None:
    assert _der({1: raw}, 1) == expected


# -- identity rules: repository letter case, reusable workflows -----------------------------------

SHARED = "https://github.com/org/shared/.github/workflows/pypi.yml@refs/heads/main"


@pytest.fixture(scope="module")
def stack() -> LocalSigstore:
    return LocalSigstore()


def certificate(stack: LocalSigstore, claims: GitHubClaims) -> x509.Certificate:
    """A Fulcio-profile leaf from the local CA (test support's issuing step, no signature)."""
    return stack._issue(claims).certificate


def refused(policy: Any, cert: x509.Certificate) -> str:
    with pytest.raises(VerificationError) as info:
        policy.verify(cert)
    return str(info.value)


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        ("https://github.com/Acme/Widget", "https://github.com/acme/widget", True),
        ("https://gitlab.com/Group/Sub/Project", "https://gitlab.com/group/sub/project", True),
        ("https://github.com/acme/widget", "https://github.com/acme/widget2", False),
        ("https://github.com/acme/widget", "https://github.com/acme-/widget", False),
        ("https://github.com/acme/widget", "https://github.com/acme/widget.git", False),
        ("https://github.com/acme/widget", "https://github.com/acme/widget/", False),
        ("https://github.com/acme/widget", "https://github.com/\u0430cme/widget", False),
        # str.lower() folds the Kelvin sign to "k", str.casefold() "ß" to "ss": neither may match
        ("https://github.com/acme/kit", "https://github.com/acme/\u212ait", False),
        ("https://github.com/acme/strasse", "https://github.com/acme/stra\u00dfe", False),
        ("https://github.com/acme/widget", "https://GitHub.com/acme/widget", False),
        ("https://example.com/Acme/Widget", "https://example.com/acme/widget", False),
        ("https://github.com/acme/widget", None, False),
    ],
)
def test_same_repository(expected: str, actual: str | None, same: bool) -> None:
    assert same_repository(expected, actual) is same


def test_source_repository_policy_ignores_letter_case_only(stack: LocalSigstore) -> None:
    cert = certificate(stack, GitHubClaims(repository="acme/widget"))
    SourceRepositoryPolicy("https://github.com/ACME/Widget").verify(cert)
    kelvin = certificate(stack, GitHubClaims(repository="acme/\u212ait", signer=SHARED))
    assert refused(SourceRepositoryPolicy("https://github.com/acme/kit"), kelvin) == (
        "the certificate's Source Repository URI is https://github.com/acme/\u212ait, not "
        "https://github.com/acme/kit (letter case aside)"
    )
    bare = certificate(stack, GitHubClaims(repository="acme/widget", omit=frozenset({12})))
    assert refused(SourceRepositoryPolicy("https://github.com/acme/widget"), bare) == (
        "the certificate carries no Source Repository URI"
    )


def test_github_repository_policy_reads_the_legacy_claim(stack: LocalSigstore) -> None:
    cert = certificate(stack, GitHubClaims(repository="acme/widget"))
    GitHubRepositoryPolicy("Acme/WIDGET").verify(cert)
    assert refused(GitHubRepositoryPolicy("acme/widget2"), cert) == (
        "the certificate's GitHub workflow repository is acme/widget, not acme/widget2 "
        "(letter case aside)"
    )
    bare = certificate(stack, GitHubClaims(repository="acme/widget", omit=frozenset({5})))
    assert refused(GitHubRepositoryPolicy("acme/widget"), bare) == (
        "the certificate carries no GitHub workflow repository claim"
    )


def test_release_workflow_policy_says_which_rule_held(stack: LocalSigstore) -> None:
    policy = ReleaseWorkflowPolicy(
        "https://github.com/Acme/Widget", "/.github/workflows/release.yml@refs/tags/v1.0.0"
    )
    direct = certificate(stack, GitHubClaims(repository="acme/widget"))
    reusable = certificate(stack, GitHubClaims(repository="acme/widget", signer=SHARED))
    assert policy.matched(direct) == ReleaseWorkflowPolicy.SELF
    assert policy.matched(reusable) == ReleaseWorkflowPolicy.REUSABLE
    other_source = certificate(
        stack,
        GitHubClaims(
            repository="evil/widget",
            signer=SHARED,
            build_config_uri="https://github.com/acme/widget/.github/workflows/release.yml"
            "@refs/tags/v1.0.0",
        ),
    )
    assert refused(policy, other_source) == (
        "the certificate's Build Config URI is the release workflow but its Source Repository "
        "URI is https://github.com/evil/widget, not https://github.com/Acme/Widget"
    )


def test_trusted_publisher_policy_needs_the_forge_issuer_and_a_ref_or_commit(
    stack: LocalSigstore,
) -> None:
    gitlab = GitHubClaims(
        repository="group/project",
        workflow=".gitlab-ci.yml",
        issuer="https://gitlab.com",
        host="gitlab.com",
    )
    TrustedPublisherPolicy("GitLab", "https://gitlab.com/Group/Project", ".gitlab-ci.yml").verify(
        certificate(stack, gitlab)
    )
    as_github = TrustedPublisherPolicy("GitHub", "https://gitlab.com/group/project", "x.yml")
    assert refused(as_github, certificate(stack, gitlab)) == (
        "the certificate's issuer is https://gitlab.com, not "
        "https://token.actions.githubusercontent.com"
    )
    no_suffix = GitHubClaims(**{**gitlab.__dict__, "omit": frozenset({13, 14})})
    policy = TrustedPublisherPolicy("GitLab", "https://gitlab.com/group/project", ".gitlab-ci.yml")
    assert refused(policy, certificate(stack, no_suffix)) == (
        "the certificate carries neither a Source Repository Digest nor a Source Repository Ref"
    )
