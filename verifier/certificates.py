"""Reading the claims a Fulcio certificate carries.

Fulcio encodes the CI run that signed: the newer DER-encoded OIDs (1.3.6.1.4.1.57264.1.8 to .22)
and the legacy raw-string GitHub OIDs (.1.1 to .1.6). Later checks cross-link on these values, so
they are read in one place, from certificates sigstore has already verified.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from verifier.models import CertificateEvidence

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

_BASE = "1.3.6.1.4.1.57264.1."
GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"


def _claims(cert: Certificate) -> dict[int, bytes]:
    """The raw values of every Fulcio claim extension, keyed by the OID's last arc.

    Read once per certificate: looking extensions up one by one re-walks them every time.
    """
    claims: dict[int, bytes] = {}
    for ext in cert.extensions:
        dotted = ext.oid.dotted_string
        if dotted.startswith(_BASE):
            value = getattr(ext.value, "value", None)
            tail = dotted[len(_BASE) :]
            if isinstance(value, bytes) and tail.isdigit():
                claims[int(tail)] = value
    return claims


def _raw(claims: dict[int, bytes], suffix: int) -> str | None:
    """A legacy claim: the extension value is the raw UTF-8 string."""
    value = claims.get(suffix)
    return None if value is None else value.decode("utf-8", errors="replace")


def _der(claims: dict[int, bytes], suffix: int) -> str | None:
    """A newer claim: the extension value is a DER UTF8String (tag 0x0C, then its length)."""
    value = claims.get(suffix)
    if value is None or len(value) < 2 or value[0] != 0x0C:
        return None
    length, offset = value[1], 2
    if length & 0x80:  # long form: the low bits say how many length bytes follow
        count = length & 0x7F
        if count == 0 or count > 4 or len(value) < 2 + count:
            return None
        length, offset = int.from_bytes(value[2 : 2 + count], "big"), 2 + count
    if offset + length != len(value):
        return None
    try:
        return value[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def san_identity(cert: Certificate) -> str | None:
    """The certificate's identity: its URI or email Subject Alternative Name."""
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for kind in (x509.UniformResourceIdentifier, x509.RFC822Name):
        values = san.get_values_for_type(kind)
        if values:
            return str(values[0])
    return None


def evidence(cert: Certificate) -> CertificateEvidence:
    """Every claim later checks cross-link on, preferring the DER OIDs over the legacy ones."""
    claims = _claims(cert)
    repository = _der(claims, 12)
    legacy_repo = _raw(claims, 5)
    if repository is None and legacy_repo is not None:
        repository = f"https://github.com/{legacy_repo}"
    return CertificateEvidence(
        issuer=_der(claims, 8) or _raw(claims, 1),
        identity=san_identity(cert),
        repository=repository,
        workflow_ref=_der(claims, 9),
        build_config_uri=_der(claims, 18),
        ref=_der(claims, 14) or _raw(claims, 6),
        commit=_der(claims, 13) or _raw(claims, 3),
        runner_environment=_der(claims, 11),
        trigger=_der(claims, 20) or _raw(claims, 2),
        run_url=_der(claims, 21),
    )
