"""Cross-links: the one place that relates the evidence and proves it describes one build.

Each link is a finding of its own. A link is VERIFIED when both ends exist and agree, FAILED
when both exist and disagree (both values shown), and SKIPPED when an end is missing: the
missing evidence already has its own UNVERIFIABLE (or tolerated) finding, so a link never
counts the same gap twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from verifier.git import TagSignature
from verifier.models import Check, Finding, Outcome
from verifier.policy import ExpectedPublisher

_CERT_CHECKS = (Check.ATTESTATION, Check.BUNDLE)
LINK_POLICY = "linked evidence must agree"


def _link(
    outcome: Outcome,
    subject: str,
    message: str,
    expected: str | None = None,
    actual: str | None = None,
) -> Finding:
    return Finding(
        check=Check.CROSS_LINK,
        outcome=outcome,
        subject=subject,
        message=message,
        expected=expected,
        actual=actual,
        policy=LINK_POLICY if outcome is not Outcome.VERIFIED else None,
    )


def _certs(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.check in _CERT_CHECKS and f.outcome is Outcome.VERIFIED]


def link_evidence(
    findings: Sequence[Finding], *, expected: ExpectedPublisher | None, tag: TagSignature | None
) -> list[Finding]:
    """Every cross-link for one release."""
    links: list[Finding] = []
    certs = _certs(findings)
    links.extend(_digest_links(findings))
    links.append(_repository_link(certs, expected))
    links.append(
        _tag_link(certs, tag, "commit", "certificate.commit", "source commit", lambda t: t.commit)
    )
    links.append(
        _tag_link(
            certs, tag, "ref", "certificate.ref", "source ref", lambda t: f"refs/tags/{t.tag}"
        )
    )
    links.append(_workflow_link(certs))
    return links


def _digest_links(findings: Sequence[Finding]) -> list[Finding]:
    """Index sha256 == PEP 740 subject digest == bundle subject digest, per file."""
    links: list[Finding] = []
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
            if f.outcome is Outcome.VERIFIED and f.expected == index.expected
        ]
        failed = [c for c, f in proofs.items() if f.outcome is Outcome.FAILED]
        ends = " == ".join(c.value for c in verified)
        if len(verified) >= 2 and not failed:
            links.append(
                _link(
                    Outcome.VERIFIED,
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
                    Outcome.SKIPPED,
                    name,
                    f"digest of {name}: not proven end to end (missing or failed: {missing})",
                )
            )
    return links


def _repository_link(certs: Sequence[Finding], expected: ExpectedPublisher | None) -> Finding:
    if expected is None or not certs:
        return _link(
            Outcome.SKIPPED,
            "repository",
            "repository: no expected repository, or no verified certificate",
        )
    for cert in certs:
        got = cert.evidence.get("certificate.repository")
        if got is None or got.lower() != expected.url.lower():
            return _link(
                Outcome.FAILED,
                "repository",
                f"repository: a {cert.check.value} certificate names another repository "
                f"({cert.subject})",
                expected.url,
                got or "(none)",
            )
    return _link(
        Outcome.VERIFIED,
        "repository",
        f"repository: all {len(certs)} certificates name {expected.url}",
        expected.url,
        expected.url,
    )


def _tag_link(
    certs: Sequence[Finding],
    tag: TagSignature | None,
    name: str,
    key: str,
    label: str,
    value: Callable[[TagSignature], str],
) -> Finding:
    if tag is None or not tag.good or not certs:
        return _link(
            Outcome.SKIPPED,
            name,
            f"{name}: certificate {label} == signed tag not proven (no verified signed "
            "tag or no verified certificate)",
        )
    want = value(tag)
    for cert in certs:
        got = cert.evidence.get(key)
        if got is None:
            continue
        if got != want:
            return _link(
                Outcome.FAILED,
                name,
                f"{name}: the {cert.check.value} certificate for {cert.subject} names "
                f"another {label} than tag {tag.tag}",
                str(want),
                got,
            )
    named = [c for c in certs if c.evidence.get(key)]
    if not named:
        return _link(Outcome.SKIPPED, name, f"{name}: no certificate carries a {label}")
    return _link(
        Outcome.VERIFIED,
        name,
        f"{name}: all {len(named)} certificates name {want} (tag {tag.tag})",
        str(want),
        str(want),
    )


def _workflow_link(certs: Sequence[Finding]) -> Finding:
    pep740 = {
        c.evidence.get("certificate.build_config_uri") or c.evidence.get("certificate.identity")
        for c in certs
        if c.check is Check.ATTESTATION
    }
    bundles = {
        c.evidence.get("certificate.build_config_uri") or c.evidence.get("certificate.identity")
        for c in certs
        if c.check is Check.BUNDLE
    }
    if not pep740 or not bundles:
        return _link(
            Outcome.SKIPPED,
            "workflow",
            "workflow: PEP 740 workflow == bundle workflow not proven (one side missing)",
        )
    if pep740 != bundles or len(pep740) != 1:
        return _link(
            Outcome.FAILED,
            "workflow",
            "workflow: the PEP 740 and bundle certificates name different workflows",
            ", ".join(sorted(str(w) for w in pep740)),
            ", ".join(sorted(str(w) for w in bundles)),
        )
    (workflow,) = pep740
    return _link(
        Outcome.VERIFIED,
        "workflow",
        f"workflow: PEP 740 == bundle == {workflow}",
        str(workflow),
        str(workflow),
    )
