"""A complete local Sigstore deployment for tests (test support, not product code).

Production Sigstore material cannot name commits or repositories that tests control, so this
module plays every Sigstore service locally:

* a Fulcio-like root CA (P-384) that issues short-lived leaf certificates in the Fulcio profile,
  with GitHub Actions claims taken from a `GitHubClaims` and an embedded precertificate SCT;
* a certificate transparency log key (P-256) that signs those SCTs;
* a Rekor-like transparency log key (P-256) that signs a log entry for every bundle: a signed
  entry timestamp (inclusion promise) and an inclusion proof in a one-leaf tree with a signed
  checkpoint.

`LocalSigstore.trusted_root_json()` lists all three keys in a Sigstore trusted root, so the real
`sigstore.verify.Verifier(trusted_root=...)` (or the ``sigstore`` CLI with
``--trust-config``) verifies the bundles with no step skipped. The formats follow
sigstore-python 4.5.1 (see ``sigstore/verify/verifier.py``, ``sigstore/models.py``,
``sigstore/_internal/sct.py``, ``sigstore/_internal/merkle.py`` and
``sigstore/_internal/rekor/checkpoint.py``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pypi_attestations import Attestation
from sigstore.models import Bundle

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PYPI_PUBLISH_PREDICATE = "https://docs.pypi.org/attestations/publish/v1"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"

REKOR_URL = "https://rekor.sigstore.invalid"
CTFE_URL = "https://ctfe.sigstore.invalid"
FULCIO_URL = "https://fulcio.sigstore.invalid"
CHECKPOINT_ORIGIN = "rekor.sigstore.invalid - 1"
CHECKPOINT_NAME = "rekor.sigstore.invalid"

# Leaf certificates are valid from a minute before signing to ten minutes after, like Fulcio's.
LEAF_BACKDATE = dt.timedelta(minutes=1)
LEAF_LIFETIME = dt.timedelta(minutes=10)
# The CA and the log keys become valid a day before the deployment is created.
ROOT_BACKDATE = dt.timedelta(days=1)
ROOT_LIFETIME = dt.timedelta(days=3650)

_FULCIO_OID = "1.3.6.1.4.1.57264.1."
_SCT_LIST_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


@dataclass(frozen=True)
class GitHubClaims:
    """The CI OIDC claims a local leaf certificate carries (GitHub Actions unless ``host``).

    By default the workflow signs itself: SAN == Build Signer URI == Build Config URI. A release
    built by a reusable workflow sets ``signer`` (the shared workflow's URL: the SAN and Build
    Signer URI) while the Build Config URI stays the caller's workflow. ``build_config_uri``
    overrides that claim and ``omit`` leaves claims out (Fulcio OID arcs), for attacks.
    """

    repository: str  # "OWNER/REPO" (GitLab: "NAMESPACE/PROJECT")
    workflow: str = "release.yml"  # file name under .github/workflows/ (GitLab: CI file path)
    ref: str = "refs/tags/v1.0.0"
    sha: str = "0" * 40  # commit
    trigger: str = "push"
    runner_environment: str = "github-hosted"
    issuer: str = GITHUB_ISSUER
    host: str = "github.com"  # or "gitlab.com" (then no legacy GitHub claims)
    signer: str | None = None
    build_config_uri: str | None = None
    omit: frozenset[int] = frozenset()

    @property
    def workflow_uri(self) -> str:
        """The caller's workflow at the ref, as Fulcio writes the Build Config URI."""
        if self.host == "gitlab.com":
            return f"https://gitlab.com/{self.repository}//{self.workflow}@{self.ref}"
        return f"https://{self.host}/{self.repository}/.github/workflows/{self.workflow}@{self.ref}"

    @property
    def identity(self) -> str:
        """The certificate's SAN URI (also its build signer URI)."""
        return self.signer or self.workflow_uri

    @property
    def repository_uri(self) -> str:
        return f"https://{self.host}/{self.repository}"

    @property
    def run_uri(self) -> str:
        return f"https://{self.host}/{self.repository}/actions/runs/1/attempts/1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """RFC 6962 key ID: sha256 over the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(_spki(key)).digest()


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_utf8(value: str) -> bytes:
    raw = value.encode()
    return b"\x0c" + _der_length(len(raw)) + raw


def _der_octet_string(raw: bytes) -> bytes:
    return b"\x04" + _der_length(len(raw)) + raw


def _u24(value: int) -> bytes:
    return struct.pack("!I", value)[1:]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _ext(suffix: int, value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(f"{_FULCIO_OID}{suffix}"), value)


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding (DSSE v1.0)."""
    return b"DSSEv1 %d %s %d %s" % (
        len(payload_type),
        payload_type.encode(),
        len(payload),
        payload,
    )


@dataclass(frozen=True)
class _Issued:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    integrated_time: int

    @property
    def pem_b64(self) -> str:
        return _b64(self.certificate.public_bytes(serialization.Encoding.PEM))

    @property
    def der_b64(self) -> str:
        return _b64(self.certificate.public_bytes(serialization.Encoding.DER))


class LocalSigstore:
    """A local Fulcio CA, CT log and Rekor log whose trusted root tests hand to the verifier."""

    def __init__(self) -> None:
        self.created = _utcnow()
        self.not_before = self.created - ROOT_BACKDATE
        self.not_after = self.created + ROOT_LIFETIME

        self.ca_key = ec.generate_private_key(ec.SECP384R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        self.ct_log_id = _key_id(self.ct_key.public_key())
        self.rekor_log_id = _key_id(self.rekor_key.public_key())

        ca_public = self.ca_key.public_key()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.invalid"),
                x509.NameAttribute(NameOID.COMMON_NAME, "local-sigstore"),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(ca_public)
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(ca_public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(self.ca_key, hashes.SHA384())
        )

    # -- trust material -------------------------------------------------------------------------

    def _log_instance(self, url: str, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
        return {
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": _b64(_spki(key.public_key())),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": _rfc3339(self.not_before)},
            },
            "logId": {"keyId": _b64(_key_id(key.public_key()))},
        }

    def trusted_root(self) -> dict[str, Any]:
        """The trusted root as a JSON-ready dict."""
        return {
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": [self._log_instance(REKOR_URL, self.rekor_key)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "sigstore.invalid", "commonName": "local-sigstore"},
                    "uri": FULCIO_URL,
                    "certChain": {
                        "certificates": [
                            {
                                "rawBytes": _b64(
                                    self.ca_cert.public_bytes(serialization.Encoding.DER)
                                )
                            }
                        ]
                    },
                    "validFor": {"start": _rfc3339(self.not_before)},
                }
            ],
            "ctlogs": [self._log_instance(CTFE_URL, self.ct_key)],
            "timestampAuthorities": [],
        }

    def trusted_root_json(self) -> str:
        return json.dumps(self.trusted_root(), indent=2)

    def write_trusted_root(self, path: Path) -> Path:
        path.write_text(self.trusted_root_json())
        return path

    def client_trust_config_json(self) -> str:
        """A ClientTrustConfig (for ``sigstore --trust-config``): the root, no signing services."""
        config = {
            "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
            "trustedRoot": self.trusted_root(),
            "signingConfig": {
                "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
                "caUrls": [],
                "oidcUrls": [],
                "rekorTlogUrls": [],
                "tsaUrls": [],
            },
        }
        return json.dumps(config, indent=2)

    # -- Fulcio + CT ----------------------------------------------------------------------------

    def _sct_list(self, tbs_precertificate: bytes, timestamp: dt.datetime) -> bytes:
        """A TLS-encoded SignedCertificateTimestampList with one precertificate SCT (RFC 6962)."""
        millis = int(timestamp.timestamp()) * 1000
        issuer_key_hash = _key_id(self.ca_key.public_key())
        signed = (
            struct.pack("!BBQH", 0, 0, millis, 1)  # v1, certificate_timestamp, time, precert_entry
            + issuer_key_hash
            + _u24(len(tbs_precertificate))
            + tbs_precertificate
            + struct.pack("!H", 0)  # no CtExtensions
        )
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            struct.pack("!B", 0)
            + self.ct_log_id
            + struct.pack("!QH", millis, 0)
            + struct.pack("!BBH", 4, 3, len(signature))  # sha256, ecdsa
            + signature
        )
        return struct.pack("!HH", len(sct) + 2, len(sct)) + sct

    def _issue(self, claims: GitHubClaims) -> _Issued:
        """Issue a Fulcio-profile leaf certificate for `claims`, with an embedded SCT."""
        now = _utcnow()
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        identity = claims.identity
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - LEAF_BACKDATE)
            .not_valid_after(now + LEAF_LIFETIME)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]),
                critical=True,
            )
        )
        legacy = [(1, claims.issuer)]
        if claims.host == "github.com":
            legacy += [
                (2, claims.trigger),
                (3, claims.sha),
                (4, claims.workflow),
                (5, claims.repository),
                (6, claims.ref),
            ]
        for suffix, raw in legacy:
            if suffix not in claims.omit:
                builder = builder.add_extension(_ext(suffix, raw.encode()), critical=False)
        for suffix, value in (
            (8, claims.issuer),
            (9, identity),
            (11, claims.runner_environment),
            (12, claims.repository_uri),
            (13, claims.sha),
            (14, claims.ref),
            (18, claims.build_config_uri or claims.workflow_uri),
            (20, claims.trigger),
            (21, claims.run_uri),
        ):
            if suffix not in claims.omit:
                builder = builder.add_extension(_ext(suffix, _der_utf8(value)), critical=False)

        # The SCT covers the TBS without the SCT extension, which is appended last; sigstore
        # rebuilds exactly these bytes with `Certificate.tbs_precertificate_bytes`.
        precert = builder.sign(self.ca_key, hashes.SHA384())
        tbs_precertificate = precert.tbs_certificate_bytes
        sct_list = self._sct_list(tbs_precertificate, now)
        cert = builder.add_extension(
            x509.UnrecognizedExtension(_SCT_LIST_OID, _der_octet_string(sct_list)),
            critical=False,
        ).sign(self.ca_key, hashes.SHA384())
        if cert.tbs_precertificate_bytes != tbs_precertificate:  # pragma: no cover
            raise AssertionError("precertificate TBS does not match the signed SCT")
        return _Issued(key=key, certificate=cert, integrated_time=int(now.timestamp()))

    # -- Rekor ----------------------------------------------------------------------------------

    def _tlog_entry(self, kind: str, body: dict[str, Any], integrated_time: int) -> dict[str, Any]:
        """A v1 transparency log entry: SET plus a one-leaf inclusion proof and checkpoint."""
        canonical_body = rfc8785.dumps(body)
        log_index = 0
        promise = rfc8785.dumps(
            {
                "body": _b64(canonical_body),
                "integratedTime": integrated_time,
                "logID": self.rekor_log_id.hex(),
                "logIndex": log_index,
            }
        )
        signed_entry_timestamp = self.rekor_key.sign(promise, ec.ECDSA(hashes.SHA256()))

        root_hash = hashlib.sha256(b"\x00" + canonical_body).digest()  # RFC 6962 leaf hash
        note = f"{CHECKPOINT_ORIGIN}\n1\n{_b64(root_hash)}\n"
        note_signature = self.rekor_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        checkpoint = (
            f"{note}\n\u2014 {CHECKPOINT_NAME} {_b64(self.rekor_log_id[:4] + note_signature)}\n"
        )
        return {
            "logIndex": str(log_index),
            "logId": {"keyId": _b64(self.rekor_log_id)},
            "kindVersion": {"kind": kind, "version": "0.0.1"},
            "integratedTime": str(integrated_time),
            "inclusionPromise": {"signedEntryTimestamp": _b64(signed_entry_timestamp)},
            "inclusionProof": {
                "logIndex": str(log_index),
                "rootHash": _b64(root_hash),
                "treeSize": "1",
                "hashes": [],
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": _b64(canonical_body),
        }

    @staticmethod
    def _bundle(issued: _Issued, tlog_entry: dict[str, Any], content: dict[str, Any]) -> str:
        bundle = {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {
                "certificate": {"rawBytes": issued.der_b64},
                "tlogEntries": [tlog_entry],
                "timestampVerificationData": {"rfc3161Timestamps": []},
            },
            **content,
        }
        text = json.dumps(bundle, indent=2)
        Bundle.from_json(text)  # fail here, not in the test, if the shape is wrong
        return text

    # -- signing --------------------------------------------------------------------------------

    def sign_artifact(self, data: bytes, claims: GitHubClaims) -> str:
        """A message-signature bundle (hashedrekord/0.0.1 entry) for `data`, as JSON text."""
        issued = self._issue(claims)
        digest = hashlib.sha256(data).digest()
        signature = issued.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        body = {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                "signature": {"content": _b64(signature), "publicKey": {"content": issued.pem_b64}},
            },
        }
        entry = self._tlog_entry("hashedrekord", body, issued.integrated_time)
        content = {
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": _b64(digest)},
                "signature": _b64(signature),
            }
        }
        return self._bundle(issued, entry, content)

    def sign_dsse(self, statement: dict[str, Any], claims: GitHubClaims) -> str:
        """A DSSE bundle (in-toto payload, dsse/0.0.1 entry) for `statement`, as JSON text."""
        payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
        return self.sign_dsse_payload(payload, claims)

    def sign_dsse_payload(self, payload: bytes, claims: GitHubClaims) -> str:
        """A DSSE bundle over any `payload` bytes (hostile statements included), as JSON text."""
        issued = self._issue(claims)
        signature = issued.key.sign(_pae(IN_TOTO_PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
        envelope: dict[str, Any] = {
            "payload": _b64(payload),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": _b64(signature)}],
        }
        body = {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(rfc8785.dumps(envelope)).hexdigest(),
                },
                "payloadHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(payload).hexdigest(),
                },
                "signatures": [{"signature": _b64(signature), "verifier": issued.pem_b64}],
            },
        }
        entry = self._tlog_entry("dsse", body, issued.integrated_time)
        return self._bundle(issued, entry, {"dsseEnvelope": envelope})

    # -- PyPI -----------------------------------------------------------------------------------

    @staticmethod
    def publish_statement(filename: str, data: bytes) -> dict[str, Any]:
        """The in-toto statement PyPI's publish attestation signs for one distribution file."""
        return {
            "_type": IN_TOTO_STATEMENT_TYPE,
            "subject": [{"name": filename, "digest": {"sha256": hashlib.sha256(data).hexdigest()}}],
            "predicateType": PYPI_PUBLISH_PREDICATE,
            "predicate": None,
        }

    def pypi_attestation(
        self, filename: str, data: bytes, claims: GitHubClaims, payload: bytes | None = None
    ) -> dict[str, Any]:
        """A PEP 740 attestation object (JSON-ready) for distribution `filename` with `data`.

        ``payload``: sign these bytes instead of the publish statement (hostile material).
        """
        if payload is None:
            signed = self.sign_dsse(self.publish_statement(filename, data), claims)
        else:
            signed = self.sign_dsse_payload(payload, claims)
        bundle = Bundle.from_json(signed)
        attestation: dict[str, Any] = Attestation.from_bundle(bundle).model_dump(mode="json")
        return attestation

    def provenance(
        self,
        filename: str,
        data: bytes,
        claims: GitHubClaims,
        environment: str | None = None,
        payload: bytes | None = None,
    ) -> bytes:
        """A PEP 740 provenance file (as the index serves it), with one GitHub attestation."""
        provenance = {
            "version": 1,
            "attestation_bundles": [
                {
                    "publisher": {
                        "kind": "GitHub",
                        "repository": claims.repository,
                        "workflow": claims.workflow,
                        "environment": environment,
                    },
                    "attestations": [self.pypi_attestation(filename, data, claims, payload)],
                }
            ],
        }
        return json.dumps(provenance).encode()
