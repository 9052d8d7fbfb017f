"""One module per kind of evidence. Each check yields ``Finding``s; none prints or exits.

A check that cannot get its evidence yields an UNVERIFIABLE finding; a bug raises.
"""

from __future__ import annotations

from typing import Any


class CheckFailure(Exception):
    """Evidence did not verify; carries the fields of the FAILED finding it becomes.

    Control flow inside a check only: every ``CheckFailure`` is turned into a finding before
    the check returns, so it never reaches the command line.
    """

    def __init__(
        self,
        message: str,
        expected: str | None = None,
        actual: str | None = None,
        *,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual
        self.hint = hint


FOREIGN_ROOT = (
    "the signing certificate was not issued by a Fulcio CA of the trust root in use "
    "(a trust-root mismatch: signed by another Sigstore instance)"
)
FOREIGN_ROOT_HINT = (
    "releases on PyPI are signed by Sigstore's production instance: drop --trusted-root; for a "
    "private Sigstore deployment pass its trusted_root.json with --trusted-root"
)


def foreign_issuer(verifier: Any, certificate: Any) -> str | None:
    """The issuer of ``certificate`` when no Fulcio CA of ``verifier``'s trust root issued it.

    sigstore reports a certificate from another Sigstore instance as a failed chain ("validation
    failed: candidates exhausted"), exactly as it reports a forged one. Which it is shows in
    the key identifiers: a forged or damaged certificate still names one of the root's CAs
    (its Authority Key Identifier is a CA's Subject Key Identifier); another instance's
    certificate names a CA the root does not hold. Explanations only: None (nothing to say)
    whenever the question cannot be answered.
    """
    from cryptography import x509

    try:
        cas = verifier._trusted_root.get_fulcio_certs()
        issuer = certificate.issuer
        try:
            aki = certificate.extensions.get_extension_for_class(
                x509.AuthorityKeyIdentifier
            ).value.key_identifier
        except x509.ExtensionNotFound:
            aki = None
        for ca in cas:
            if aki is None:
                if ca.subject == issuer:
                    return None
                continue
            try:
                ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                ski = x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest
            if ski == aki:
                return None
        return str(issuer.rfc4514_string()) or "(an unnamed CA)"
    except Exception:
        return None


class AcceptAnyCertificate:
    """A sigstore policy that accepts every identity.

    Used only *after* a refusal, to explain it (was the signature sound but by someone else?
    was it made by the staging instance?); never to accept evidence.
    """

    def verify(self, cert: Any) -> None:
        """Accept: the question asked with this policy is about the signature, not the signer."""


def signature_sound(verifier: Any, bundle: Any, *, sha256: str | None = None) -> bool:
    """Whether ``bundle`` verifies under ``verifier`` whoever signed it (explanations only).

    DSSE bundles carry their own payload; a message signature needs the artifact's ``sha256``.
    Any error, including what malformed material provokes deep in sigstore, means "no".
    """
    try:
        if sha256 is None:
            verifier.verify_dsse(bundle, AcceptAnyCertificate())
        else:
            from sigstore.hashes import Hashed
            from sigstore_models.common.v1 import HashAlgorithm

            hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(sha256))
            verifier.verify_artifact(hashed, bundle, AcceptAnyCertificate())
    except Exception:
        return False
    return True
