"""Certificate claims, read by hand, agree with pypi-attestations' pyasn1 reading on real certs."""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from pypi_attestations import Attestation

from tests.conftest import Material
from verifier.certificates import _der, evidence

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
