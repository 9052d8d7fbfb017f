"""PEP 740 attestations: provenance from the index, verified with sigstore and pypi-attestations.

pypi-attestations parses the wire formats and knows each Trusted Publisher's certificate policy;
sigstore-python does the cryptography. We deliberately do not call ``Attestation.verify``: it
builds a new production verifier (re-reading the trust root) per call and cannot use a custom
root. Instead one ``Verifier`` is shared, and the statement checks that ``Attestation.verify``
performs (exactly one subject, name and sha256, known predicate type) are done here, each with
an expected-vs-got message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from verifier.certificates import (
    GITHUB_ACTIONS_ISSUER,
    GITLAB_ISSUER,
    SourceRepositoryPolicy,
    TrustedPublisherPolicy,
    evidence,
)
from verifier.checks import (
    FOREIGN_ROOT,
    FOREIGN_ROOT_HINT,
    AcceptAnyCertificate,
    CheckFailure,
    foreign_issuer,
    signature_sound,
)
from verifier.dists import same_distribution
from verifier.errors import UsageError, one_line
from verifier.models import (
    CertificateEvidence,
    Check,
    CheckResult,
    EvidenceKind,
    Gap,
    PublisherRecord,
    Status,
)
from verifier.policy import ExpectedPublisher

if TYPE_CHECKING:
    from pypi_attestations import Attestation
    from sigstore.verify import Verifier
    from sigstore.verify.policy import VerificationPolicy

    from verifier.trust import StagingDetector

PUBLISH_V1 = "https://docs.pypi.org/attestations/publish/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
KNOWN_PREDICATES = {PUBLISH_V1: "publish/v1", SLSA_PROVENANCE_V1: "SLSA provenance/v1"}
IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"


@dataclass(frozen=True)
class AttestationResult:
    """What one verified attestation proved."""

    predicate: str
    certificate: CertificateEvidence
    publisher: PublisherRecord | None


def _validation_summary(exc: Any) -> str:
    """One line from a pydantic ValidationError: where, and what was wrong."""
    try:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or "(top level)"
        return f"{loc}: {first.get('msg', 'invalid')}"
    except (AttributeError, IndexError, TypeError):
        return one_line(exc)


def publisher_record(publisher: Any) -> PublisherRecord:
    """PyPI's record of the Trusted Publisher, as plain strings (it is unsigned metadata)."""
    data = publisher.model_dump()
    fields = {str(k): (None if v is None else str(v)) for k, v in data.items()}
    kind = fields.pop("kind", None)
    return PublisherRecord(kind=kind, fields=fields)


def _json(raw: bytes) -> Any:
    """Parse hostile JSON; every way it can be unparseable is a ``CheckFailure``.

    Deep nesting raises ``RecursionError`` and a huge integer a plain ``ValueError`` in
    ``json.loads``: neither is a ``JSONDecodeError``, and neither may become a traceback.
    """
    try:
        return json.loads(raw)
    except RecursionError:
        raise CheckFailure("nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int-size limits
        raise CheckFailure(one_line(exc)) from None


def _record_key(publisher: Any) -> tuple[str, ...]:
    """A publisher record as a comparable key (None: no record)."""
    if publisher is None:
        return ("",)
    record = publisher_record(publisher)
    return (str(record.kind), *(f"{k}={v}" for k, v in sorted(record.fields.items())))


def _contradicted(
    filename: str,
    message: str,
    expected: str | None = None,
    actual: str | None = None,
    *,
    hint: str | None = None,
) -> CheckResult:
    return CheckResult(
        check=Check.ATTESTATION,
        status=Status.CONTRADICTED,
        kind=EvidenceKind.ATTESTATIONS,
        subject=filename,
        message=message,
        expected=expected,
        actual=actual,
        hint=hint,
    )


def _foreign_root(verifier: Any, bundle: Any) -> CheckFailure | None:
    """A refusal because the certificate comes from another Sigstore instance, said so."""
    issuer = foreign_issuer(verifier, bundle.signing_certificate)
    if issuer is None:
        return None
    return CheckFailure(
        FOREIGN_ROOT,
        expected="a certificate issued by a Fulcio CA of the trust root in use",
        actual=f"issued by {issuer}",
        hint=FOREIGN_ROOT_HINT,
    )


class AttestationChecker:
    """Verifies provenance objects with one shared sigstore ``Verifier``.

    Returns typed results and never chooses an outcome (the judge does). The expected publisher
    comes from the caller (the user, a pin, the index); PyPI's publisher record inside a
    provenance object is used only when the caller says it came from the index
    (``record_trusted``): a provenance file handed over with the artifact is part of what is
    under test, so its own publisher record proves nothing about who should have signed.
    """

    def __init__(self, verifier: Verifier, *, staging: StagingDetector | None) -> None:
        self._verifier = verifier
        self._staging = staging

    # -- entry points -------------------------------------------------------------------------

    def start_provenance(
        self,
        raw: bytes,
        *,
        filename: str,
        digest: str,
        expected: ExpectedPublisher | None,
        record_trusted: bool = True,
    ) -> Callable[[], CheckResult]:
        """Begin ``check_provenance``; calling what it returns gives the result.

        Here the verification is done before this returns. A checker that verifies in worker
        processes (``verifier.workers``) returns at once, so that the caller can fetch and
        hand over a release's other files before it waits for any verdict.
        """
        result = self.check_provenance(
            raw, filename=filename, digest=digest, expected=expected, record_trusted=record_trusted
        )
        return lambda: result

    def check_provenance(
        self,
        raw: bytes,
        *,
        filename: str,
        digest: str,
        expected: ExpectedPublisher | None,
        record_trusted: bool = True,
    ) -> CheckResult:
        """Verify every attestation in a PEP 740 provenance object for one file."""
        from pydantic import ValidationError
        from pypi_attestations import Provenance

        try:
            provenance = Provenance.model_validate_json(raw)
        except ValidationError as exc:
            return _contradicted(
                filename, f"provenance is not a valid PEP 740 object: {_validation_summary(exc)}"
            )
        pairs = [
            (bundle.publisher, att)
            for bundle in provenance.attestation_bundles
            for att in bundle.attestations
        ]
        return self._check_all(
            pairs,
            filename=filename,
            digest=digest,
            expected=expected,
            record_trusted=record_trusted,
        )

    def check_attestation_file(
        self,
        raw: bytes,
        *,
        filename: str,
        digest: str,
        expected: ExpectedPublisher | None,
    ) -> CheckResult:
        """A local ``--provenance`` file: a provenance object or a single attestation.

        The file travels with the artifact, so its publisher record is never the identity.
        """
        from pydantic import ValidationError
        from pypi_attestations import Attestation

        try:
            data = _json(raw)
        except CheckFailure as failure:
            return _contradicted(filename, f"provenance file is not JSON: {failure.message}")
        if isinstance(data, dict) and "attestation_bundles" in data:
            return self.check_provenance(
                raw, filename=filename, digest=digest, expected=expected, record_trusted=False
            )
        try:
            attestation = Attestation.model_validate(data)
        except ValidationError as exc:
            return _contradicted(
                filename,
                "file is neither a PEP 740 provenance object nor an "
                f"attestation: {_validation_summary(exc)}",
            )
        return self._check_all(
            [(None, attestation)],
            filename=filename,
            digest=digest,
            expected=expected,
            record_trusted=False,
        )

    @staticmethod
    def missing(filename: str, reason: str) -> CheckResult:
        """No provenance for ``filename``: absent evidence, judged by the policy."""
        return CheckResult(
            check=Check.ATTESTATION,
            status=Status.ABSENT,
            kind=EvidenceKind.ATTESTATIONS,
            subject=filename,
            message=reason,
        )

    # -- internals ----------------------------------------------------------------------------

    def _check_all(
        self,
        pairs: list[tuple[Any, Attestation]],
        *,
        filename: str,
        digest: str,
        expected: ExpectedPublisher | None,
        record_trusted: bool,
    ) -> CheckResult:
        if not pairs:
            return self.missing(filename, "the provenance object holds no attestations")
        if expected is None and not record_trusted:
            return self._unpinned(pairs, filename=filename, digest=digest)
        if expected is None:
            # Each attestation would be checked against its own bundle's publisher record;
            # a second bundle naming another publisher must not ride along unnoticed.
            records = {_record_key(r) for r, _ in pairs}
            if len(records) > 1:
                return _contradicted(
                    filename,
                    "the attestations name different Trusted Publishers and no publisher is "
                    "pinned to choose between them",
                    expected="one publisher",
                    actual="; ".join(sorted(_describe_record(r) for r, _ in pairs)),
                )
        results: list[AttestationResult] = []
        for index, (record, attestation) in enumerate(pairs, start=1):
            prefix = f"attestation {index} of {len(pairs)}: " if len(pairs) > 1 else ""
            try:
                results.append(
                    self._verify_one(
                        attestation, record, filename=filename, digest=digest, expected=expected
                    )
                )
            except CheckFailure as failure:
                return _contradicted(
                    filename,
                    prefix + failure.message,
                    failure.expected,
                    failure.actual,
                    hint=failure.hint,
                )
        first = results[0]
        cert = first.certificate
        kinds = ", ".join(dict.fromkeys(r.predicate for r in results))
        signers = list(
            dict.fromkeys(
                r.certificate.build_config_uri
                or r.certificate.repository
                or r.certificate.identity
                or "?"
                for r in results
            )
        )
        where = cert.repository or cert.identity or "?"
        workflow = cert.build_config_uri or cert.workflow_ref or cert.identity
        message = (
            f"{len(results)} attestation{'s' if len(results) > 1 else ''} verified "
            f"({kinds}) from {where}"
        )
        if len(signers) > 1:
            message += f"; signers: {', '.join(signers)}"
        return CheckResult(
            check=Check.ATTESTATION,
            status=Status.PROVEN,
            kind=EvidenceKind.ATTESTATIONS,
            subject=filename,
            message=message,
            expected=f"sha256:{digest}",
            actual=f"sha256:{digest}",
            certificate=cert,
            certificates=tuple(r.certificate for r in results),
            publisher=first.publisher,
            details={"predicates": kinds, "workflow": workflow},
        )

    def _unpinned(
        self, pairs: list[tuple[Any, Attestation]], *, filename: str, digest: str
    ) -> CheckResult:
        """No expected publisher: prove what can be proven, then say who must be pinned.

        Signatures and subjects are still checked (a broken one is a contradiction whoever the
        signer is); the identity is not taken from the provenance under test.
        """
        signers: list[str] = []
        issuers: list[str | None] = []
        for index, (_record, attestation) in enumerate(pairs, start=1):
            prefix = f"attestation {index} of {len(pairs)}: " if len(pairs) > 1 else ""
            try:
                bundle = attestation.to_bundle()
                cert = evidence(bundle.signing_certificate)
            except Exception as exc:
                return _contradicted(
                    filename,
                    f"{prefix}attestation cannot be read: {type(exc).__name__}: {one_line(exc)}",
                )
            try:
                payload_type, payload = self._verifier.verify_dsse(bundle, AcceptAnyCertificate())
                if payload_type != DSSE_PAYLOAD_TYPE:
                    raise CheckFailure(
                        "unexpected DSSE payload type", DSSE_PAYLOAD_TYPE, payload_type
                    )
                self._check_statement(payload, filename=filename, digest=digest)
            except CheckFailure as failure:
                return _contradicted(
                    filename, prefix + failure.message, failure.expected, failure.actual
                )
            except Exception as exc:
                if self._staging is not None and signature_sound(self._staging.verifier, bundle):
                    return _contradicted(
                        filename,
                        f"{prefix}signed by Sigstore's *staging* instance, which is test "
                        "infrastructure, not production; refusing it",
                    )
                foreign = _foreign_root(self._verifier, bundle)
                if foreign is not None:
                    return _contradicted(
                        filename,
                        prefix + foreign.message,
                        foreign.expected,
                        foreign.actual,
                        hint=foreign.hint,
                    )
                return _contradicted(
                    filename, f"{prefix}signature verification failed: {one_line(exc)}"
                )
            signers.append(_describe_cert(cert))
            issuers.append(cert.issuer)
        return CheckResult(
            check=Check.ATTESTATION,
            status=Status.UNPROVEN,
            kind=Gap.IDENTITY,
            subject=filename,
            message="the signature verifies, but nothing says who should have signed: the "
            "provenance's own publisher record is part of what is under test",
            expected="a publisher you pin (a publisher flag, a policy [publishers] entry)",
            actual="; ".join(dict.fromkeys(signers)),
            hint=pin_hint(_ISSUER_KINDS.get(issuers[0] or "") if issuers else None),
        )

    def _verify_one(
        self,
        attestation: Attestation,
        record: Any,
        *,
        filename: str,
        digest: str,
        expected: ExpectedPublisher | None,
    ) -> AttestationResult:
        from sigstore.errors import VerificationError

        try:
            # Parsing hostile material: pypi-attestations, sigstore and cryptography raise
            # many types (InvalidEnvelope, InvalidBundle, DuplicateExtension, InvalidVersion,
            # ValueError ...) for malformed input. Every one of them is a refusal here.
            bundle = attestation.to_bundle()
            unverified = evidence(bundle.signing_certificate)
        except Exception as exc:
            raise CheckFailure(
                f"attestation cannot be read: {type(exc).__name__}: {one_line(exc)}"
            ) from None
        identity, want = self._identity_policy(expected, record, unverified)
        try:
            payload_type, payload = self._verifier.verify_dsse(bundle, identity)
        except VerificationError as exc:
            raise self._explain(bundle, exc, want=want, cert=unverified) from None
        except Exception as exc:
            raise CheckFailure(
                f"signature verification failed: {type(exc).__name__}: {one_line(exc)}"
            ) from None
        cert = unverified
        if payload_type != DSSE_PAYLOAD_TYPE:
            raise CheckFailure("unexpected DSSE payload type", DSSE_PAYLOAD_TYPE, payload_type)
        predicate = self._check_statement(payload, filename=filename, digest=digest)
        if expected is not None and expected.environment is not None:
            got = None if record is None else getattr(record, "environment", None)
            if got != expected.environment:
                raise CheckFailure(
                    "publishing environment differs (PyPI's publisher record; environments are "
                    "not in the certificate)",
                    expected=expected.environment,
                    actual=got or "(none)",
                )
        return AttestationResult(
            predicate=predicate,
            certificate=cert,
            publisher=publisher_record(record) if record is not None else None,
        )

    def _check_statement(self, payload: bytes, *, filename: str, digest: str) -> str:
        try:
            statement = _json(payload)
        except CheckFailure as failure:
            raise CheckFailure(f"signed statement is not JSON: {failure.message}") from None
        if not isinstance(statement, dict):
            raise CheckFailure("signed statement is not a JSON object")
        if statement.get("_type") != IN_TOTO_STATEMENT_V1:
            raise CheckFailure(
                "signed statement has the wrong type",
                IN_TOTO_STATEMENT_V1,
                str(statement.get("_type")),
            )
        subjects = statement.get("subject")
        if not isinstance(subjects, list) or len(subjects) != 1:
            count = len(subjects) if isinstance(subjects, list) else 0
            raise CheckFailure(
                "statement must have exactly one subject", "1 subject", f"{count} subjects"
            )
        subject = subjects[0] if isinstance(subjects[0], dict) else {}
        name = subject.get("name")
        if not isinstance(name, str) or not same_distribution(name, filename):
            raise CheckFailure("attestation is for another file", filename, str(name))
        digests = subject.get("digest")
        sha = digests.get("sha256") if isinstance(digests, dict) else None
        if sha != digest:
            raise CheckFailure(
                "attested sha256 differs from the file's",
                f"sha256:{digest}",
                f"sha256:{sha}" if sha else "(no sha256 in the statement)",
            )
        predicate_type = statement.get("predicateType")
        if predicate_type not in KNOWN_PREDICATES:
            raise CheckFailure(
                "unknown attestation type", " or ".join(KNOWN_PREDICATES), str(predicate_type)
            )
        return KNOWN_PREDICATES[str(predicate_type)]

    def _explain(
        self, bundle: Any, exc: Exception, *, want: str, cert: CertificateEvidence
    ) -> CheckFailure:
        """Say *why* verification failed: wrong identity, staging signer, or bad cryptography.

        Only called after a refusal, so the extra verifications cost nothing on the happy path
        and can never turn a refusal into an acceptance.
        """
        detail = one_line(exc)
        if signature_sound(self._verifier, bundle):
            # Sound signature and chain: the identity policy is what refused it.
            message = "the certificate's identity does not match the expected publisher"
            if "<Extension" not in detail:
                message += f" ({detail})"
            return CheckFailure(message, expected=want, actual=_describe_cert(cert))
        if self._staging is not None and signature_sound(self._staging.verifier, bundle):
            return CheckFailure(
                "signed by Sigstore's *staging* instance, which is test infrastructure, "
                "not production; refusing it",
                expected="a certificate chaining to the production Fulcio root",
                actual="a certificate chaining to the staging Fulcio root",
            )
        return _foreign_root(self._verifier, bundle) or CheckFailure(
            f"signature verification failed: {detail}"
        )

    def _identity_policy(
        self, expected: ExpectedPublisher | None, record: Any, cert: CertificateEvidence
    ) -> tuple[VerificationPolicy, str]:
        """The certificate policy for one attestation, and a description of what it expects."""
        from sigstore.verify import policy as sp

        if expected is None:
            if record is None:
                raise UsageError(
                    "a bare attestation names no publisher to verify against",
                    hint="pass --repository (and --workflow) for the expected Trusted Publisher",
                )
            return record._as_policy(), _describe_record(record)
        kind = getattr(record, "kind", None)
        if record is not None and kind != expected.kind:
            raise CheckFailure(
                "published by another kind of Trusted Publisher",
                expected=f"{expected.kind} {expected.url}",
                actual=f"{kind} {_describe_record(record)}",
                hint=f"if {kind} is the project's publisher, {pin_hint(str(kind))}",
            )
        if expected.kind == "Google":
            # pypi-attestations' own policy for the kind: the certificate's identity is the
            # service account, issued by Google's OIDC provider.
            from pypi_attestations import GooglePublisher

            want = f"Google service account {expected.email}"
            return GooglePublisher(email=expected.email)._as_policy(), want
        if expected.kind == "CircleCI":
            # The Build Signer URI names the project and the pipeline definition; the issuer
            # must be CircleCI's OIDC provider.
            from pypi_attestations import CircleCIPublisher

            project, pipeline = expected.circleci_ids
            publisher = CircleCIPublisher(project_id=project, pipeline_definition_id=pipeline)
            return publisher._as_policy(), f"CircleCI {expected.url}"
        workflow = expected.workflow
        if workflow is None and record is not None:
            workflow = getattr(record, "workflow", None) or getattr(
                record, "workflow_filepath", None
            )
        issuer = GITHUB_ACTIONS_ISSUER if expected.kind == "GitHub" else GITLAB_ISSUER
        want = f"{expected.kind} {expected.url}"
        # Repository paths compare ignoring letter case, as GitHub and GitLab do, by our policies
        # (never by copying the certificate's spelling into the expectation).
        if workflow is None:
            return sp.AllOf([sp.OIDCIssuerV2(issuer), SourceRepositoryPolicy(expected.url)]), want
        want += f" workflow {workflow}"
        return TrustedPublisherPolicy(expected.kind, expected.url, workflow), want


_ISSUER_KINDS = {
    GITHUB_ACTIONS_ISSUER: "GitHub",
    GITLAB_ISSUER: "GitLab",
    "https://accounts.google.com": "Google",
    "https://oidc.circleci.com": "CircleCI",
}
_PIN_FLAGS = {
    "GitHub": "--repository OWNER/REPO (and --workflow FILE)",
    "GitLab": "--repository https://gitlab.com/GROUP/PROJECT (and --workflow CI_FILE_PATH)",
    "Google": "--google-service-account EMAIL",
    "CircleCI": "--circleci-project ID --circleci-pipeline-definition ID",
}


def pin_hint(kind: str | None) -> str:
    """How to pin a publisher of ``kind`` (from the certificate's issuer or PyPI's record).

    A CircleCI or Google release pinned with ``--repository`` can only fail ("published by
    another kind"), so the hint names the flags of the kind that signed; an unknown kind
    gets every form.
    """
    if kind in _PIN_FLAGS:
        return f"pass {_PIN_FLAGS[kind]} for the expected Trusted Publisher"
    return (
        "pin the expected Trusted Publisher: " + "; ".join(_PIN_FLAGS.values()) + " (or a "
        "policy [publishers] entry)"
    )


def _describe_record(record: Any) -> str:
    if record is None:
        return "(no publisher record)"
    return publisher_record(record).describe()


def _describe_cert(cert: CertificateEvidence) -> str:
    parts = [f"issuer {cert.issuer}"] if cert.issuer else []
    if cert.build_config_uri or cert.identity:
        parts.append(f"identity {cert.build_config_uri or cert.identity}")
    elif cert.repository:
        parts.append(f"repository {cert.repository}")
    return ", ".join(parts) or "(certificate carries no identity claims)"
