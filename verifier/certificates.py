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


# -- identity rules ---------------------------------------------------------------------------
#
# GitHub and GitLab repository paths are case-insensitive (``Acme/Widget`` is ``acme/widget``)
# and Fulcio writes them as the forge spells them, which need not be how the user typed them.
# sigstore's claim policies compare exactly, so a legitimate release pinned with another letter
# case failed. These policies compare the repository part ignoring ASCII letter case only:
# ``str.lower``/``casefold`` would also fold the Kelvin sign to "k" and "ß" to "ss", and no
# folding may map a lookalike (a Cyrillic letter) onto a Latin one. Everything else (host, the
# workflow path, the ref) stays an exact match. They read the claims with the strict decoder
# above, from the certificate sigstore's ``Verifier`` hands them, so sigstore applies them
# after it has verified the chain, and never an unverified certificate's word.

CASE_INSENSITIVE_HOSTS = ("https://github.com/", "https://gitlab.com/")
"""URL prefixes of forges whose repository paths are case-insensitive."""

_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def same_repository(expected: str, actual: str | None) -> bool:
    """Whether repository URL ``actual`` (a certificate's) names repository URL ``expected``.

    Exact, except that on GitHub and GitLab the path ignores ASCII letter case. The host must be
    spelled exactly as Fulcio writes it; ``.git`` suffixes, trailing slashes and non-ASCII
    lookalikes are other repositories.
    """
    if actual is None:
        return False
    if actual == expected:
        return True
    host = next((h for h in CASE_INSENSITIVE_HOSTS if expected.startswith(h)), None)
    if host is None or not actual.startswith(host):
        return False
    return actual.translate(_ASCII_FOLD) == expected.translate(_ASCII_FOLD)


def same_workflow_uri(repository: str, rest: str, actual: str | None) -> bool:
    """Whether ``actual`` is ``repository + rest``, the repository part as `same_repository`.

    The rest (``/.github/workflows/FILE@REF``) must match exactly: workflow paths and refs are
    case-sensitive in git.
    """
    if actual is None or len(actual) <= len(repository):
        return False
    return actual[len(repository) :] == rest and same_repository(
        repository, actual[: len(repository)]
    )


def _refuse(message: str) -> Exception:
    """The error sigstore's ``Verifier`` expects from a policy that refuses a certificate."""
    from sigstore.errors import VerificationError

    return VerificationError(message)


class SourceRepositoryPolicy:
    """The Source Repository URI claim (OID .12) names ``url``, letter case aside.

    Replaces sigstore's exact ``OIDCSourceRepositoryURI`` for GitHub and GitLab repositories.
    """

    def __init__(self, url: str) -> None:
        self._url = url

    def verify(self, cert: Certificate) -> None:
        """Raise ``VerificationError`` unless the claim names the expected repository."""
        got = _der(_claims(cert), 12)
        if got is None:
            raise _refuse("the certificate carries no Source Repository URI")
        if not same_repository(self._url, got):
            raise _refuse(
                f"the certificate's Source Repository URI is {got}, not {self._url} "
                "(letter case aside)"
            )


class GitHubRepositoryPolicy:
    """The legacy GitHub workflow repository claim (OID .5) is ``OWNER/REPO``, letter case aside.

    Replaces sigstore's exact ``GitHubWorkflowRepository``, reading the same extension.
    """

    def __init__(self, slug: str) -> None:
        self._slug = slug

    def verify(self, cert: Certificate) -> None:
        """Raise ``VerificationError`` unless the claim names the expected repository."""
        got = _raw(_claims(cert), 5)
        if got is None:
            raise _refuse("the certificate carries no GitHub workflow repository claim")
        if not same_repository(f"https://github.com/{self._slug}", f"https://github.com/{got}"):
            raise _refuse(
                f"the certificate's GitHub workflow repository is {got}, not {self._slug} "
                "(letter case aside)"
            )


class ReleaseWorkflowPolicy:
    """The release workflow at the tag signed, itself or through a reusable workflow it called.

    A workflow that signs itself is the certificate's identity (SAN). A release job that calls
    a reusable workflow (``uses: org/shared/.github/workflows/pypi.yml@main``) gets a
    certificate whose SAN and Build Signer URI are the *shared* workflow, while the Build Config
    URI is the caller's workflow and the Source Repository URI the caller's repository: the
    release workflow is then proven by those two claims together, as pypi-attestations' GitHub
    publisher policy does for PEP 740. ``matched`` says which rule held.
    """

    SELF = "the release workflow"
    REUSABLE = "a reusable workflow called by the release workflow"

    def __init__(self, repository: str, rest: str) -> None:
        """Expect ``repository`` (``https://github.com/OWNER/REPO``) + ``rest``.

        ``rest`` is ``/.github/workflows/FILE@refs/tags/TAG``.
        """
        self.repository = repository
        self.rest = rest
        self.workflow = repository + rest

    def matched(self, cert: Certificate) -> str:
        """Which rule ``cert`` satisfies (``SELF`` or ``REUSABLE``); raise if neither."""
        san = san_identity(cert)
        if same_workflow_uri(self.repository, self.rest, san):
            return self.SELF
        claims = _claims(cert)
        config = _der(claims, 18)
        if not same_workflow_uri(self.repository, self.rest, config):
            raise _refuse(
                f"neither the certificate's identity nor its Build Config URI is {self.workflow}"
            )
        source = _der(claims, 12)
        if not same_repository(self.repository, source):
            raise _refuse(
                "the certificate's Build Config URI is the release workflow but its Source "
                f"Repository URI is {source or 'absent'}, not {self.repository}"
            )
        return self.REUSABLE

    def verify(self, cert: Certificate) -> None:
        """Raise ``VerificationError`` unless one of the two rules holds."""
        self.matched(cert)


class TrustedPublisherPolicy:
    """pypi-attestations' GitHub/GitLab Trusted Publisher policy, repository letter case aside.

    The Build Config URI must be the publisher's workflow in the publisher's repository at the
    certificate's own commit or ref (a Trusted Publisher names no ref), the Source Repository URI
    the publisher's repository, the issuer the forge's. pypi-attestations compares the
    repository exactly, and building its policy from the certificate's spelling would put the
    attacker's value into the expectation; this compares, and nothing else changes.
    """

    def __init__(self, kind: str, repository: str, workflow: str) -> None:
        """Expect a ``kind`` (``GitHub``/``GitLab``) publisher at ``repository`` (a URL).

        ``workflow`` is the file name (GitHub) or CI file path (GitLab) it names.
        """
        self._kind = kind
        self._repository = repository
        self._workflow = workflow
        self._issuer = GITHUB_ACTIONS_ISSUER if kind == "GitHub" else GITLAB_ISSUER
        self._path = f"/.github/workflows/{workflow}@" if kind == "GitHub" else f"//{workflow}@"

    def verify(self, cert: Certificate) -> None:
        """Raise ``VerificationError`` unless ``cert`` is the Trusted Publisher's."""
        claims = _claims(cert)
        issuer = _der(claims, 8)
        if issuer != self._issuer:
            raise _refuse(f"the certificate's issuer is {issuer or 'absent'}, not {self._issuer}")
        SourceRepositoryPolicy(self._repository).verify(cert)
        config = _der(claims, 18)
        if config is None:
            raise _refuse("the certificate carries no Build Config URI")
        suffixes = [s for s in (_der(claims, 13), _der(claims, 14)) if s is not None]
        if not suffixes:
            raise _refuse(
                "the certificate carries neither a Source Repository Digest nor a Source "
                "Repository Ref"
            )
        if not any(same_workflow_uri(self._repository, self._path + s, config) for s in suffixes):
            raise _refuse(
                f"the certificate's Build Config URI is not {self._repository}{self._path}"
                "(its own ref or commit)"
            )
