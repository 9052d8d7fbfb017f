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


def _raw(cert: Certificate, suffix: int) -> str | None:
    """A legacy claim: the extension value is the raw UTF-8 string."""
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(f"{_BASE}{suffix}"))
    except x509.ExtensionNotFound:
        return None
    value = getattr(ext.value, "value", None)
    if not isinstance(value, bytes):
        return None
    return value.decode("utf-8", errors="replace")


def _der(cert: Certificate, suffix: int) -> str | None:
    """A newer claim: the extension value is a DER UTF8String."""
    from cryptography import x509
    from pyasn1.codec.der.decoder import decode
    from pyasn1.error import PyAsn1Error
    from pyasn1.type.char import UTF8String

    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(f"{_BASE}{suffix}"))
    except x509.ExtensionNotFound:
        return None
    value = getattr(ext.value, "value", None)
    if not isinstance(value, bytes):
        return None
    try:
        return str(decode(value, UTF8String)[0].decode())
    except PyAsn1Error:
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
    repository = _der(cert, 12)
    legacy_repo = _raw(cert, 5)
    if repository is None and legacy_repo is not None:
        repository = f"https://github.com/{legacy_repo}"
    return CertificateEvidence(
        issuer=_der(cert, 8) or _raw(cert, 1),
        identity=san_identity(cert),
        repository=repository,
        workflow_ref=_der(cert, 9),
        build_config_uri=_der(cert, 18),
        ref=_der(cert, 14) or _raw(cert, 6),
        commit=_der(cert, 13) or _raw(cert, 3),
        runner_environment=_der(cert, 11),
        trigger=_der(cert, 20) or _raw(cert, 2),
        run_url=_der(cert, 21),
    )
