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
        self, message: str, expected: str | None = None, actual: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual


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
