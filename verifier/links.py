"""Cross-links: the one place that relates the evidence and proves it describes one build.

Each link is a result of its own. A link is proven when both ends exist and agree,
contradicted when both exist and disagree (both values shown), and ``Gap.LINK_END`` when an end
is missing: the missing evidence already has its own result, so the judge never counts the same
gap twice. Links read typed evidence (``CertificateEvidence``, ``TagSignature``), never
string keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from verifier.models import CertificateEvidence, Check, CheckResult, Gap, Status
from verifier.policy import ExpectedPublisher

if TYPE_CHECKING:  # only a run that reads tags imports git
    from verifier.git import TagSignature

_CERT_CHECKS = (Check.ATTESTATION, Check.BUNDLE)


def _link(
    status: Status,
    subject: str,
    message: str,
    expected: str | None = None,
    actual: str | None = None,
) -> CheckResult:
    return CheckResult(
        check=Check.CROSS_LINK,
        status=status,
        kind=Gap.LINK_END if status is Status.ABSENT else None,
        subject=subject,
        message=message,
        expected=expected,
        actual=actual,
    )


def _certs(findings: Sequence[CheckResult]) -> list[tuple[CheckResult, CertificateEvidence]]:
    """Every verified certificate, with the result that verified it."""
    return [
        (f, cert)
        for f in findings
        if f.check in _CERT_CHECKS and f.status is Status.PROVEN
        for cert in (f.certificates or ((f.certificate,) if f.certificate else ()))
    ]


def link_evidence(
    findings: Sequence[CheckResult],
    *,
    expected: ExpectedPublisher | None,
    tag: TagSignature | None,
) -> list[CheckResult]:
    """Every cross-link for one release."""
    links: list[CheckResult] = []
    certs = _certs(findings)
    links.extend(_digest_links(findings))
    links.append(_repository_link(certs, expected))
    links.append(_tag_link(certs, tag, "commit", lambda c: c.commit, "source commit", _commit))
    links.append(_tag_link(certs, tag, "ref", lambda c: c.ref, "source ref", _ref))
    links.append(_workflow_link(certs))
    return links


def _commit(tag: TagSignature) -> str:
    return tag.commit


def _ref(tag: TagSignature) -> str:
    return f"refs/tags/{tag.tag}"


def _digest_links(findings: Sequence[CheckResult]) -> list[CheckResult]:
    """Index sha256 == PEP 740 subject digest == bundle subject digest, per file."""
    links: list[CheckResult] = []
    files = dict.fromkeys(f.subject for f in findings if f.check is Check.INDEX_HASH)
    for name in files:
        proofs = {
            f.check: f
            for f in findings
            if f.subject == name and f.check in (Check.INDEX_HASH, *_CERT_CHECKS)
        }
        index = proofs.get(Check.INDEX_HASH)
        if index is None or index.expected is None:
            continue
        verified = [
            c
            for c, f in proofs.items()
            if f.status is Status.PROVEN and f.expected == index.expected
        ]
        failed = [c for c, f in proofs.items() if f.status is Status.CONTRADICTED]
        ends = " == ".join(c.value for c in verified)
        if len(verified) >= 2 and not failed:
            links.append(
                _link(
                    Status.PROVEN,
                    name,
                    f"digest of {name}: {ends}",
                    index.expected,
                    index.expected,
                )
            )
        else:
            missing = ", ".join(
                c.value for c in (Check.INDEX_HASH, *_CERT_CHECKS) if c not in verified
            )
            links.append(
                _link(
                    Status.ABSENT,
                    name,
                    f"digest of {name}: not proven end to end (missing or failed: {missing})",
                )
            )
    return links


def _repository_link(
    certs: Sequence[tuple[CheckResult, CertificateEvidence]], expected: ExpectedPublisher | None
) -> CheckResult:
    if expected is None or not certs or not expected.forge:
        # A Google or CircleCI publisher names no repository: its identity was enforced by
        # the attestation check itself.
        return _link(
            Status.ABSENT,
            "repository",
            "repository: no expected repository, or no verified certificate",
        )
    for result, cert in certs:
        got = cert.repository
        if got is None or got.lower() != expected.url.lower():
            return _link(
                Status.CONTRADICTED,
                "repository",
                f"repository: a {result.check.value} certificate names another repository "
                f"({result.subject})",
                expected.url,
                got or "(none)",
            )
    return _link(
        Status.PROVEN,
        "repository",
        f"repository: all {len(certs)} certificates name {expected.url}",
        expected.url,
        expected.url,
    )


def _tag_link(
    certs: Sequence[tuple[CheckResult, CertificateEvidence]],
    tag: TagSignature | None,
    name: str,
    claim: Callable[[CertificateEvidence], str | None],
    label: str,
    value: Callable[[TagSignature], str],
) -> CheckResult:
    if tag is None or not tag.good or not certs:
        return _link(
            Status.ABSENT,
            name,
            f"{name}: certificate {label} == signed tag not proven (no verified signed "
            "tag or no verified certificate)",
        )
    want = value(tag)
    for result, cert in certs:
        got = claim(cert)
        if got is None:
            continue
        if got != want:
            return _link(
                Status.CONTRADICTED,
                name,
                f"{name}: the {result.check.value} certificate for {result.subject} names "
                f"another {label} than tag {tag.tag}",
                str(want),
                got,
            )
    named = [c for _, c in certs if claim(c)]
    if not named:
        return _link(Status.ABSENT, name, f"{name}: no certificate carries a {label}")
    return _link(
        Status.PROVEN,
        name,
        f"{name}: all {len(named)} certificates name {want} (tag {tag.tag})",
        str(want),
        str(want),
    )


def _workflow_link(certs: Sequence[tuple[CheckResult, CertificateEvidence]]) -> CheckResult:
    pep740 = {c.build_config_uri or c.identity for r, c in certs if r.check is Check.ATTESTATION}
    bundles = {c.build_config_uri or c.identity for r, c in certs if r.check is Check.BUNDLE}
    if not pep740 or not bundles:
        return _link(
            Status.ABSENT,
            "workflow",
            "workflow: PEP 740 workflow == bundle workflow not proven (one side missing)",
        )
    if pep740 != bundles or len(pep740) != 1:
        return _link(
            Status.CONTRADICTED,
            "workflow",
            "workflow: the PEP 740 and bundle certificates name different workflows",
            ", ".join(sorted(str(w) for w in pep740)),
            ", ".join(sorted(str(w) for w in bundles)),
        )
    (workflow,) = pep740
    return _link(
        Status.PROVEN,
        "workflow",
        f"workflow: PEP 740 == bundle == {workflow}",
        str(workflow),
        str(workflow),
    )
