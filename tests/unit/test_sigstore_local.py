"""The local Sigstore deployment produces bundles the real sigstore verifier accepts (and rejects).

Every check here runs sigstore-python's own `Verifier` (or its CLI) against the local trusted
root; nothing in verification is bypassed or patched.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.certificate_transparency import LogEntryType
from cryptography.x509.oid import ExtendedKeyUsageOID
from pypi_attestations import Attestation, GitHubPublisher, Provenance
from sigstore.errors import VerificationError
from sigstore.models import Bundle, ClientTrustConfig, TrustedRoot
from sigstore.verify import Verifier, policy
from sigstore.verify.policy import VerificationPolicy

from tests.sigstore_local import GitHubClaims, LocalSigstore

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
CLAIMS = GitHubClaims(repository="acme/widget", sha=SHA, ref="refs/tags/v2.1.0")
DATA = b"the release artifact\n"
FILENAME = "widget-2.1.0.tar.gz"


@pytest.fixture(scope="module")
def local() -> LocalSigstore:
    return LocalSigstore()


@pytest.fixture
def verifier(local: LocalSigstore, tmp_path: Path) -> Verifier:
    root = local.write_trusted_root(tmp_path / "trusted_root.json")
    return Verifier(trusted_root=TrustedRoot.from_file(str(root)))


def _identity(claims: GitHubClaims = CLAIMS) -> policy.Identity:
    return policy.Identity(identity=claims.identity, issuer=claims.issuer)


def _spki_sha256(key: ec.EllipticCurvePublicKey) -> bytes:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).digest()


# -- positive: the real verifier accepts local bundles ------------------------------------------


def test_identity_is_the_workflow_uri_at_ref() -> None:
    assert CLAIMS.identity == (
        "https://github.com/acme/widget/.github/workflows/release.yml@refs/tags/v2.1.0"
    )


def test_sign_artifact_verifies(local: LocalSigstore, verifier: Verifier) -> None:
    bundle = Bundle.from_json(local.sign_artifact(DATA, CLAIMS))
    verifier.verify_artifact(DATA, bundle, _identity())


def test_sign_dsse_verifies_and_returns_the_statement(
    local: LocalSigstore, verifier: Verifier
) -> None:
    statement = LocalSigstore.publish_statement(FILENAME, DATA)
    bundle = Bundle.from_json(local.sign_dsse(statement, CLAIMS))
    payload_type, payload = verifier.verify_dsse(bundle, _identity())
    assert payload_type == "application/vnd.in-toto+json"
    assert json.loads(payload) == statement


@pytest.mark.parametrize(
    "claim_policy",
    [
        policy.OIDCSourceRepositoryDigest(SHA),
        policy.OIDCSourceRepositoryRef(CLAIMS.ref),
        policy.OIDCSourceRepositoryURI("https://github.com/acme/widget"),
        policy.GitHubWorkflowRepository("acme/widget"),
        policy.GitHubWorkflowSHA(SHA),
        policy.GitHubWorkflowRef(CLAIMS.ref),
        policy.GitHubWorkflowName("release.yml"),
        policy.GitHubWorkflowTrigger("push"),
        policy.OIDCBuildConfigURI(CLAIMS.identity),
        policy.OIDCBuildSignerURI(CLAIMS.identity),
        policy.OIDCIssuer(CLAIMS.issuer),
        policy.OIDCIssuerV2(CLAIMS.issuer),
        policy.OIDCRunnerEnvironment("github-hosted"),
        policy.OIDCBuildTrigger("push"),
        policy.OIDCRunInvocationURI("https://github.com/acme/widget/actions/runs/1/attempts/1"),
    ],
    ids=lambda p: type(p).__name__,
)
def test_github_claim_policies_pass(
    local: LocalSigstore, verifier: Verifier, claim_policy: VerificationPolicy
) -> None:
    bundle = Bundle.from_json(local.sign_artifact(DATA, CLAIMS))
    verifier.verify_artifact(DATA, bundle, policy.AllOf([_identity(), claim_policy]))


def test_claims_name_the_commit_the_test_chooses(local: LocalSigstore, verifier: Verifier) -> None:
    other = GitHubClaims(repository="other/project", sha="b" * 40, ref="refs/heads/main")
    bundle = Bundle.from_json(local.sign_artifact(DATA, other))
    verifier.verify_artifact(
        DATA,
        bundle,
        policy.AllOf(
            [
                _identity(other),
                policy.OIDCSourceRepositoryDigest("b" * 40),
                policy.OIDCSourceRepositoryRef("refs/heads/main"),
                policy.GitHubWorkflowRepository("other/project"),
            ]
        ),
    )


def test_pypi_attestation_passes_the_github_publisher_policy(
    local: LocalSigstore, verifier: Verifier
) -> None:
    attestation = Attestation.model_validate(local.pypi_attestation(FILENAME, DATA, CLAIMS))
    publisher = GitHubPublisher(repository="acme/widget", workflow="release.yml")
    payload_type, payload = verifier.verify_dsse(attestation.to_bundle(), publisher._as_policy())
    assert payload_type == "application/vnd.in-toto+json"
    statement = json.loads(payload)
    assert statement["predicateType"] == "https://docs.pypi.org/attestations/publish/v1"
    assert statement["subject"] == [
        {"name": FILENAME, "digest": {"sha256": hashlib.sha256(DATA).hexdigest()}}
    ]


def test_provenance_parses_and_verifies(local: LocalSigstore, verifier: Verifier) -> None:
    provenance = Provenance.model_validate_json(
        local.provenance(FILENAME, DATA, CLAIMS, environment="pypi")
    )
    (attestation_bundle,) = provenance.attestation_bundles
    publisher = attestation_bundle.publisher
    assert isinstance(publisher, GitHubPublisher)
    assert (publisher.repository, publisher.workflow, publisher.environment) == (
        "acme/widget",
        "release.yml",
        "pypi",
    )
    (attestation,) = attestation_bundle.attestations
    verifier.verify_dsse(attestation.to_bundle(), publisher._as_policy())


def test_leaf_certificate_follows_the_fulcio_profile(local: LocalSigstore) -> None:
    cert = Bundle.from_json(local.sign_artifact(DATA, CLAIMS)).signing_certificate
    assert len(cert.subject) == 0
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [CLAIMS.identity]
    (sct,) = cert.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value
    assert sct.entry_type == LogEntryType.PRE_CERTIFICATE
    assert sct.log_id == _spki_sha256(local.ct_key.public_key())
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= dt.timedelta(minutes=15)
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ExtendedKeyUsageOID.CODE_SIGNING in (
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )


def test_integrated_time_is_inside_the_leaf_validity(local: LocalSigstore) -> None:
    bundle = Bundle.from_json(local.sign_dsse({"_type": "x"}, CLAIMS))
    integrated = dt.datetime.fromtimestamp(
        int(
            json.loads(bundle.to_json())["verificationMaterial"]["tlogEntries"][0]["integratedTime"]
        ),
        tz=dt.timezone.utc,
    )
    cert = bundle.signing_certificate
    assert cert.not_valid_before_utc <= integrated <= cert.not_valid_after_utc


def test_bundle_shape(local: LocalSigstore) -> None:
    raw = json.loads(local.sign_artifact(DATA, CLAIMS))
    assert raw["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    (entry,) = raw["verificationMaterial"]["tlogEntries"]
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
    assert (entry["logIndex"], entry["inclusionProof"]["treeSize"]) == ("0", "1")
    assert entry["inclusionProof"]["hashes"] == []
    dsse = json.loads(local.sign_dsse({"_type": "x"}, CLAIMS))
    assert dsse["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"] == "dsse"
    assert dsse["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"


# -- negative: the real verifier rejects what it should -----------------------------------------


def test_wrong_identity_is_rejected(local: LocalSigstore, verifier: Verifier) -> None:
    bundle = Bundle.from_json(local.sign_artifact(DATA, CLAIMS))
    wrong = GitHubClaims(repository="acme/widget", workflow="other.yml", ref=CLAIMS.ref)
    with pytest.raises(VerificationError, match="Certificate's SANs do not match"):
        verifier.verify_artifact(DATA, bundle, _identity(wrong))


def test_wrong_commit_is_rejected(local: LocalSigstore, verifier: Verifier) -> None:
    bundle = Bundle.from_json(local.sign_artifact(DATA, CLAIMS))
    with pytest.raises(VerificationError, match="OIDCSourceRepositoryDigest does not match"):
        verifier.verify_artifact(DATA, bundle, policy.OIDCSourceRepositoryDigest("c" * 40))


def test_wrong_publisher_workflow_is_rejected(local: LocalSigstore, verifier: Verifier) -> None:
    attestation = Attestation.model_validate(local.pypi_attestation(FILENAME, DATA, CLAIMS))
    publisher = GitHubPublisher(repository="acme/widget", workflow="other.yml")
    with pytest.raises(VerificationError):
        verifier.verify_dsse(attestation.to_bundle(), publisher._as_policy())


def test_tampered_dsse_payload_is_rejected(local: LocalSigstore, verifier: Verifier) -> None:
    raw = json.loads(local.sign_dsse(LocalSigstore.publish_statement(FILENAME, DATA), CLAIMS))
    forged = LocalSigstore.publish_statement(FILENAME, b"something else")
    raw["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(forged).encode()).decode()
    with pytest.raises(VerificationError, match="DSSE: invalid signature"):
        verifier.verify_dsse(Bundle.from_json(json.dumps(raw)), _identity())


def test_changed_artifact_is_rejected(local: LocalSigstore, verifier: Verifier) -> None:
    bundle = Bundle.from_json(local.sign_artifact(DATA, CLAIMS))
    with pytest.raises(VerificationError):
        verifier.verify_artifact(DATA + b"!", bundle, _identity())


def test_local_bundle_fails_against_the_production_root(local: LocalSigstore) -> None:
    bundle = Bundle.from_json(local.sign_artifact(DATA, CLAIMS))
    production = Verifier.production(offline=True)
    with pytest.raises(VerificationError, match="failed to build timestamp certificate chain"):
        production.verify_artifact(DATA, bundle, _identity())


def test_another_local_deployment_does_not_trust_this_one(
    local: LocalSigstore, tmp_path: Path
) -> None:
    bundle = Bundle.from_json(local.sign_artifact(DATA, CLAIMS))
    stranger = LocalSigstore().write_trusted_root(tmp_path / "stranger.json")
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(stranger)))
    with pytest.raises(VerificationError, match="failed to build timestamp certificate chain"):
        verifier.verify_artifact(DATA, bundle, _identity())


# -- the sigstore CLI accepts the local trust config --------------------------------------------


def test_client_trust_config_parses(local: LocalSigstore) -> None:
    config = ClientTrustConfig.from_json(local.client_trust_config_json())
    assert len(config.trusted_root.get_fulcio_certs()) == 1


def _cli_verify(
    tmp_path: Path, local: LocalSigstore, identity: str
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "trust_config.json"
    config.write_text(local.client_trust_config_json())
    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(DATA)
    bundle = tmp_path / "artifact.bin.sigstore.json"
    bundle.write_text(local.sign_artifact(DATA, CLAIMS))
    argv = [
        sys.executable,
        "-m",
        "sigstore",
        "--trust-config",
        str(config),
        "verify",
        "identity",
        "--bundle",
        str(bundle),
        "--cert-identity",
        identity,
        "--cert-oidc-issuer",
        CLAIMS.issuer,
        str(artifact),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_sigstore_cli_verifies_with_the_local_trust_config(
    local: LocalSigstore, tmp_path: Path
) -> None:
    result = _cli_verify(tmp_path, local, CLAIMS.identity)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stderr + result.stdout


def test_sigstore_cli_rejects_a_wrong_identity(local: LocalSigstore, tmp_path: Path) -> None:
    result = _cli_verify(
        tmp_path, local, "https://github.com/acme/widget/.github/workflows/x.yml@x"
    )
    assert result.returncode != 0
    assert "Certificate's SANs do not match" in result.stderr
