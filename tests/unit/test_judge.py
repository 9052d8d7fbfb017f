"""The judge: typed check results -> outcomes, each naming its rule and where it came from.

No loopback world: a policy rule is tested on the result a check would return.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from verifier.judge import judge
from verifier.models import Check, CheckResult, EvidenceKind, Gap, Outcome, Status
from verifier.policy import Policy, PolicyFile, Rules, VulnIgnore


def result(
    status: Status, kind: EvidenceKind | Gap | None = None, check: Check = Check.TAG
) -> CheckResult:
    return CheckResult(check=check, status=status, kind=kind, subject="s", message="m")


def decided(res: CheckResult, policy: Policy) -> tuple[Outcome, str | None, str | None]:
    finding = judge(res, policy)
    return finding.outcome, finding.policy, finding.policy_source


def test_proven_is_verified_and_names_no_rule() -> None:
    assert decided(result(Status.PROVEN, EvidenceKind.TAGS), Policy()) == (
        Outcome.VERIFIED,
        None,
        None,
    )


@pytest.mark.parametrize(
    "policy",
    [
        Policy(),
        Policy(allow_missing=frozenset({"tags", "bundles", "attestations"})),
        Policy(skip=frozenset({"tags"})),
    ],
)
@pytest.mark.parametrize("check", list(Check))
def test_a_contradiction_fails_whatever_the_policy(policy: Policy, check: Check) -> None:
    outcome, rule, source = decided(result(Status.CONTRADICTED, check=check), policy)
    assert outcome is Outcome.FAILED
    assert rule
    assert source == "default"


@pytest.mark.parametrize(
    "policy",
    [
        Policy(),
        Policy(allow_missing=frozenset({"tags", "bundles", "attestations"})),
        Policy(required=frozenset({"tags"})),
    ],
)
@pytest.mark.parametrize("check", list(Check))
def test_unreachable_evidence_is_never_a_pass_nor_tolerated(policy: Policy, check: Check) -> None:
    outcome, _, _ = decided(result(Status.UNREACHABLE, EvidenceKind.TAGS, check), policy)
    assert outcome is Outcome.UNVERIFIABLE


def test_absent_evidence_by_default_is_unverifiable() -> None:
    assert decided(result(Status.ABSENT, EvidenceKind.BUNDLES), Policy()) == (
        Outcome.UNVERIFIABLE,
        "bundles are required (default); --allow-missing bundles tolerates their absence",
        "default",
    )


def test_absent_evidence_tolerated_or_required_names_the_flag() -> None:
    assert decided(
        result(Status.ABSENT, EvidenceKind.TAGS), Policy(allow_missing=frozenset({"tags"}))
    ) == (Outcome.SKIPPED, "missing tags are tolerated", "--allow-missing tags")
    assert decided(
        result(Status.ABSENT, EvidenceKind.TAGS), Policy(required=frozenset({"tags"}))
    ) == (Outcome.FAILED, "tags are required", "--require tags")


def test_a_pinned_package_that_loses_its_attestations_fails_even_if_tolerated() -> None:
    policy = Policy(
        allow_missing=frozenset({"attestations"}),
        pinned=True,
        pin_source="policy file p.toml: publishers.x",
    )
    outcome, _, source = decided(
        result(Status.ABSENT, EvidenceKind.ATTESTATIONS, Check.ATTESTATION), policy
    )
    assert (outcome, source) == (Outcome.FAILED, "policy file p.toml: publishers.x")


def test_unproven_tag_fails_only_when_required() -> None:
    lenient = decided(result(Status.UNPROVEN, EvidenceKind.TAGS), Policy())
    assert lenient[0] is Outcome.UNVERIFIABLE
    strict = decided(result(Status.UNPROVEN, EvidenceKind.TAGS), Policy(required={"tags"}))  # type: ignore[arg-type]
    assert strict == (
        Outcome.FAILED,
        "tags are required: an unverified tag fails",
        "--require tags",
    )


def test_an_unproven_identity_is_never_tolerated() -> None:
    policy = Policy(allow_missing=frozenset({"attestations"}))
    outcome, rule, _ = decided(result(Status.UNPROVEN, Gap.IDENTITY, Check.ATTESTATION), policy)
    assert outcome is Outcome.UNVERIFIABLE
    assert rule is not None
    assert "never from the artifact under test" in rule


def test_not_checked_is_skipped_naming_the_skip() -> None:
    policy = Policy(
        skip=frozenset({"tags"}),
        sources={("skip", "tags"): "policy file /p/verify-release.toml: skip"},
    )
    assert decided(result(Status.NOT_CHECKED, EvidenceKind.TAGS), policy) == (
        Outcome.SKIPPED,
        "tags not checked",
        "policy file /p/verify-release.toml: skip",
    )


def test_a_package_from_outside_an_index_needs_a_policy_naming_it(tmp_path: Path) -> None:
    unindexed = result(Status.ABSENT, Gap.UNINDEXED, Check.LOCKFILE)
    assert decided(unindexed, Policy())[0] is Outcome.UNVERIFIABLE
    allowed = Policy().for_package(
        canonicalize_name("local-pkg"),
        None,
        allow_unindexed={canonicalize_name("local-pkg"): "--allow-unindexed local-pkg"},
    )
    assert decided(unindexed, allowed) == (
        Outcome.SKIPPED,
        "this package may come from outside an index",
        "--allow-unindexed local-pkg",
    )
    other = Policy().for_package(
        canonicalize_name("other"),
        None,
        allow_unindexed={canonicalize_name("local-pkg"): "--allow-unindexed local-pkg"},
    )
    assert decided(unindexed, other)[0] is Outcome.UNVERIFIABLE


@pytest.mark.parametrize("gap", [Gap.INDEX_DIGEST, Gap.HASH_PIN, Gap.ORIGIN, Gap.UNSUPPORTED_FILE])
def test_gaps_no_flag_can_tolerate(gap: Gap) -> None:
    policy = Policy(allow_missing=frozenset({"attestations", "bundles", "tags"}))
    for status in (Status.ABSENT, Status.UNPROVEN):
        assert decided(result(status, gap, Check.LOCKFILE), policy)[0] is Outcome.UNVERIFIABLE


def test_an_ignored_vulnerability_names_the_policy_file() -> None:
    ignore = VulnIgnore(id="GHSA-1", reason="not reachable", expires=date(2099, 1, 1))
    policy = Policy(ignores=(ignore,), ignores_source="policy file /p.toml")
    vuln = CheckResult(
        check=Check.VULNERABILITY,
        status=Status.CONTRADICTED,
        subject="pkg==1.0",
        message="GHSA-1: no fixed version",
        actual="GHSA-1",
    )
    assert decided(vuln, policy) == (
        Outcome.SKIPPED,
        "ignored until 2099-01-01: not reachable",
        "policy file /p.toml",
    )
    assert decided(vuln, Policy())[0] is Outcome.FAILED


def test_the_policy_file_is_named_with_how_it_was_found(tmp_path: Path) -> None:
    file = PolicyFile(
        path=tmp_path / "pyproject.toml",
        rules=Rules(skip=frozenset({"tags"})),
        found_implicitly=True,
    )
    policy = Policy().for_package(canonicalize_name("x"), file)
    assert policy.source("skip", "tags") == (
        f"policy file {tmp_path / 'pyproject.toml'} (found in the working directory): "
        "tool.verify-release.skip"
    )


def test_not_checked_without_a_policy_saying_so_is_a_gap() -> None:
    # Defence in depth: a check that did not run is SKIPPED only when a named rule asked.
    outcome, rule, source = decided(result(Status.NOT_CHECKED, EvidenceKind.TAGS), Policy())
    assert (outcome, rule, source) == (
        Outcome.UNVERIFIABLE,
        "tags must be checked unless a policy skips them",
        "default",
    )


@pytest.mark.parametrize("kind", [EvidenceKind.BUNDLES, EvidenceKind.TAGS])
def test_evidence_the_history_shows_was_never_published_is_skipped_naming_the_history(
    kind: EvidenceKind,
) -> None:
    source = "history: 1.0.0, uploaded 2026-01-02, carried no signed tag (tag v1.0.0)"
    policy = Policy(not_published={kind.value: source})
    assert decided(result(Status.ABSENT, kind), policy) == (
        Outcome.SKIPPED,
        "not published by this project",
        source,
    )
    # Never for evidence that exists but does not prove (an untrusted signer) ...
    assert decided(result(Status.UNPROVEN, kind), policy)[0] is Outcome.UNVERIFIABLE
    # ... nor for evidence that could not be read ...
    assert decided(result(Status.UNREACHABLE, kind), policy)[0] is Outcome.UNVERIFIABLE
    # ... and --require wins over the history.
    required = Policy(required=frozenset({kind.value}), not_published={kind.value: source})
    assert decided(result(Status.ABSENT, kind), required) == (
        Outcome.FAILED,
        f"{kind.value} are required",
        f"--require {kind.value}",
    )
