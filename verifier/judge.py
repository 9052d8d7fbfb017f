"""The judge: the one place where typed check results become outcomes.

Checks say what the evidence is (``Status``: proven, contradicted, absent, unproven,
unreachable, not checked) and never choose an outcome. ``judge`` applies the policy and names
the rule and where it came from (a flag, a policy file by path and key, a pin, the default), so
a rule cannot drift between checks: the same gap is judged the same way whichever flow (a pin,
a local file, a lockfile package) and whichever check found it.

The decisions, in order:
- PROVEN is VERIFIED; CONTRADICTED is FAILED (no flag tolerates a contradiction: a lost
  attestation or a changed publisher FAILS even under ``--allow-missing attestations``), except
  a known vulnerability an unexpired policy ignore names (SKIPPED, naming the ignore) and an
  unattested file among attested siblings of a package a policy names ``partially-attested``;
- NOT_CHECKED is SKIPPED, naming the ``--skip`` that asked for it;
- ABSENT is judged by its kind: a pinned publisher whose package lost its attestations
  FAILS; ``--require`` FAILS; ``--allow-missing`` SKIPS; bundles or tags the project's
  previous release did not carry either are SKIPPED as "not published by this project"
  (source: the history); a package from outside an index is
  SKIPPED only when a policy names that exact package; otherwise UNVERIFIABLE;
- UNPROVEN (evidence exists, proves nothing: an untrusted tag signature) FAILS when required,
  else is UNVERIFIABLE; UNREACHABLE is always UNVERIFIABLE.
"""

from __future__ import annotations

from collections.abc import Iterable

from verifier.models import (
    Check,
    CheckResult,
    EvidenceKind,
    Finding,
    Gap,
    Outcome,
    Status,
)
from verifier.policy import Policy

DEFAULT = "default"
"""The source of a rule nobody set: the tool's own default."""

_CONTRADICTED = {
    Check.INDEX_HASH: "index hashes are always required",
    Check.ATTESTATION: "attestations that exist must verify",
    Check.BUNDLE: "bundles that exist must verify",
    Check.RELEASE_ASSET: "an attached distribution must equal the index's",
    Check.TAG: "tags that exist must verify",
    Check.CROSS_LINK: "linked evidence must agree",
    Check.LOCKFILE: "every pinned hash must be published by the index",
    Check.VULNERABILITY: "no known vulnerabilities",
    Check.PUBLISHER_PIN: "a pinned publisher must not change",
    Check.HISTORY: "a release is held to the standard of the release uploaded before it",
}
_UNREACHABLE = {
    Check.INDEX_HASH: "index hashes are always required",
    Check.ATTESTATION: "provenance must be readable when the index is asked",
    Check.BUNDLE: "the GitHub release must be readable",
    Check.RELEASE_ASSET: "an attached distribution must be readable",
    Check.TAG: "the repository must be readable",
    Check.CROSS_LINK: "linked evidence must agree",
    Check.LOCKFILE: "the index must list every pinned release",
    Check.VULNERABILITY: "vulnerabilities are checked unless --skip vulnerabilities",
    Check.PUBLISHER_PIN: "a pinned publisher must be checked",
    Check.HISTORY: "the earlier release's provenance must be readable to compare publishers",
}
_GAPS = {
    Gap.INDEX_DIGEST: "the index must publish a sha256 for every file",
    Gap.HASH_PIN: "every file a lockfile pins must be hash-pinned with a hash the index publishes",
    Gap.IDENTITY: "an expected publisher must come from you (a publisher flag), a pin or the "
    "index, never from the artifact under test",
    Gap.ORIGIN: "a lockfile's own index lines are honoured or refused, never ignored",
    Gap.UNSUPPORTED_FILE: "every file of the release must be verified",
    Gap.PARTIAL: "every file of an attested release must be attested",
    Gap.BASELINE: "a release is compared with the release uploaded before it; an unknown "
    "baseline is never a clean one",
    Gap.UNINDEXED: "only packages from an index can be verified; allow this exact package with "
    "[packages.NAME] allow-unindexed = true or --allow-unindexed NAME",
}


def judge(result: CheckResult, policy: Policy) -> Finding:
    """The finding for one result under ``policy``: outcome, rule and the rule's source."""
    outcome, rule, source = _decide(result, policy)
    return Finding(
        check=result.check,
        outcome=outcome,
        subject=result.subject,
        message=result.message,
        expected=result.expected,
        actual=result.actual,
        policy=rule,
        policy_source=source,
        certificate=result.certificate,
        certificates=result.certificates,
        publisher=result.publisher,
        tag=result.tag,
        details=result.details,
        location=result.location,
        hint=result.hint,
    )


def judge_all(results: Iterable[CheckResult], policy: Policy) -> list[Finding]:
    """``judge`` for every result, in order."""
    return [judge(r, policy) for r in results]


def _decide(result: CheckResult, policy: Policy) -> tuple[Outcome, str | None, str | None]:
    status = result.status
    kind = result.kind
    if status is Status.PROVEN:
        return Outcome.VERIFIED, None, None
    if status is Status.CONTRADICTED:
        if result.check is Check.VULNERABILITY:
            return _vulnerability(result, policy)
        if kind is Gap.PARTIAL and policy.partially_attested is not None:
            # The one contradiction a policy may accept: a project known to attest only some
            # files (named exactly, by package). --allow-missing never reaches this.
            return (
                Outcome.SKIPPED,
                "this package may mix attested and unattested files",
                policy.partially_attested,
            )
        return Outcome.FAILED, result.rule or _CONTRADICTED[result.check], DEFAULT
    if status is Status.NOT_CHECKED:
        name = kind.value if kind is not None else result.check.value
        if name in policy.skip or ("skip", name) in policy.sources:
            return Outcome.SKIPPED, f"{name} not checked", policy.source("skip", name)
        # A check that did not run without a policy saying so is a gap, never a skip.
        return Outcome.UNVERIFIABLE, f"{name} must be checked unless a policy skips them", DEFAULT
    if status is Status.UNREACHABLE:
        return Outcome.UNVERIFIABLE, result.rule or _UNREACHABLE[result.check], DEFAULT
    if isinstance(kind, EvidenceKind):
        return _evidence_gap(result, kind, policy)
    if kind is Gap.LINK_END:
        return Outcome.SKIPPED, None, None
    if kind is Gap.UNINDEXED and policy.unindexed is not None:
        return Outcome.SKIPPED, "this package may come from outside an index", policy.unindexed
    if isinstance(kind, Gap):
        return Outcome.UNVERIFIABLE, _GAPS[kind], DEFAULT
    return Outcome.UNVERIFIABLE, result.rule or _UNREACHABLE[result.check], DEFAULT


def _evidence_gap(
    result: CheckResult, kind: EvidenceKind, policy: Policy
) -> tuple[Outcome, str, str]:
    name = kind.value
    if result.status is Status.UNPROVEN:
        if name in policy.required:
            return (
                Outcome.FAILED,
                f"{name} are required: an unverified {name.rstrip('s')} fails",
                policy.source("require", name),
            )
        if kind is EvidenceKind.ATTESTATIONS:
            return Outcome.UNVERIFIABLE, _GAPS[Gap.IDENTITY], DEFAULT
        return (
            Outcome.UNVERIFIABLE,
            f"{name} are checked but not required; --require {name} makes this FAILED",
            DEFAULT,
        )
    if kind is EvidenceKind.ATTESTATIONS and policy.pinned:
        return (
            Outcome.FAILED,
            "pinned publisher: a package that stops being attested fails; if intended, remove "
            "its [publishers] entry or run `verify-release pin` again",
            policy.pin_source or "pin",
        )
    if name in policy.required:
        return Outcome.FAILED, f"{name} are required", policy.source("require", name)
    if name in policy.allow_missing:
        return (
            Outcome.SKIPPED,
            f"missing {name} are tolerated",
            policy.source("allow-missing", name),
        )
    if name in policy.not_published:
        # Expected evidence = what the policy requires plus what the history shows: a project
        # whose previous release carried none does not make every release UNVERIFIABLE.
        return Outcome.SKIPPED, "not published by this project", policy.not_published[name]
    return (
        Outcome.UNVERIFIABLE,
        f"{name} are required (default); --allow-missing {name} tolerates their absence",
        DEFAULT,
    )


def _vulnerability(result: CheckResult, policy: Policy) -> tuple[Outcome, str, str]:
    from verifier.checks.vulns import ignore_applies

    package = result.subject.split("==", 1)[0]
    ids = (result.actual or "", *(result.details.get("aliases") or "").split(", "))
    ignore = next(
        (i for i in policy.ignores if ignore_applies(i, package, [x for x in ids if x])), None
    )
    if ignore is None:
        return Outcome.FAILED, _CONTRADICTED[Check.VULNERABILITY], DEFAULT
    return (
        Outcome.SKIPPED,
        f"ignored until {ignore.expires.isoformat()}: {ignore.reason}",
        policy.ignores_source or DEFAULT,
    )
