"""History for bundles and signed tags (issue 12): expected when the previous release carried them.

A loopback index lists several releases of ``widget`` with upload times, each attested by the
local Sigstore stack; a loopback GitHub serves a GitHub Release per version (with or without
Sigstore bundles) and the repository over git's smart HTTP, whose tags are SSH-signed, annotated
but unsigned, or missing. ``main([...])`` verifies one version; the previous release's evidence
sets the standard: lost evidence FAILS (even under ``--allow-missing``), evidence the project
never published is SKIPPED naming the history, evidence that exists must still verify.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.forge import ForgeRelease, ForgeWorld, build_forge
from tests.e2e.helpers import Run, run
from tests.servers import FakeIndex
from tests.sigstore_local import LocalSigstore

JAN = "2026-01-02T10:00:00.000000Z"
FEB = "2026-02-01T10:00:00.000000Z"
MAR = "2026-03-01T10:00:00.000000Z"
REPO = "acme/widget"

Version = ForgeRelease
"""One attested release; a GitHub Release with a bundle and a signed tag unless told otherwise."""
World = ForgeWorld


@pytest.fixture(scope="module")
def stack() -> LocalSigstore:
    return LocalSigstore()


@pytest.fixture
def world_of(tmp_path: Path, index: FakeIndex, stack: LocalSigstore) -> Iterator[Any]:
    """Build the world for a list of versions, in the order they were made."""
    made: list[World] = []

    def build(versions: list[Version]) -> World:
        world = build_forge(tmp_path, index, stack, versions)
        made.append(world)
        return world

    yield build
    for world in made:
        world.github.close()


def _finding(result: Run, check: str) -> dict[str, Any]:
    [found] = [f for f in result.findings() if f["check"] == check]
    return found


def _history(result: Run) -> list[dict[str, Any]]:
    """The history's failures (its "same publisher" findings are not what is tested here)."""
    return [f for f in result.findings() if f["check"] == "history" and f["outcome"] != "verified"]


ONE_TAG = ["GET", "ls-refs", "GET", "ls-refs", "fetch"]
"""``ls-remote`` (ref discovery, ls-refs), then one ``fetch`` (which discovers refs again)."""
ONE_MORE_TAG = [*ONE_TAG, "GET", "ls-refs", "fetch"]


# -- a project that never published them: "not published", exit 0 ---------------------------------


def test_a_project_that_never_published_bundles_or_signed_tags_verifies(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of(
        [
            Version("1.0.0", JAN, bundles=False, tag="unsigned"),
            Version("1.1.0", FEB, bundles=False, tag="unsigned"),
        ]
    )
    result = world.verify(capsys, "1.1.0")
    assert result.code == 0, result.out
    bundle, tag = _finding(result, "bundle"), _finding(result, "tag")
    assert bundle["outcome"] == tag["outcome"] == "skipped"
    assert bundle["policy"] == tag["policy"] == "not published by this project"
    assert bundle["policy_source"] == (
        "history: 1.0.0, uploaded 2026-01-02, carried no Sigstore bundles (GitHub release v1.0.0)"
    )
    assert tag["policy_source"] == (
        "history: 1.0.0, uploaded 2026-01-02, carried no signed tag (tag v1.0.0)"
    )
    assert tag["message"] == "tag v1.1.0: the annotated tag is not signed"
    # The release listing answered both releases; the previous tag is one more fetch.
    assert world.api_paths().count(f"/repos/{REPO}/releases") == 1
    assert world.git_commands() == ONE_MORE_TAG


def test_a_project_with_no_github_release_and_no_tags_verifies_on_its_attestations(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of(
        [
            Version("1.0.0", JAN, github_release=False, tag=None),
            Version("1.1.0", FEB, github_release=False, tag=None),
        ]
    )
    result = world.verify(capsys, "1.1.0")
    assert result.code == 0, result.out
    assert _finding(result, "tag")["policy_source"] == (
        "history: no earlier release of the project carried a signed tag"
    )
    assert world.git_commands() == ["GET", "ls-refs"]


def test_required_evidence_is_required_whatever_the_history(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of(
        [
            Version("1.0.0", JAN, bundles=False, tag="unsigned"),
            Version("1.1.0", FEB, bundles=False, tag="unsigned"),
        ]
    )
    result = world.verify(capsys, "1.1.0", "--require", "tags")
    assert result.code == 1, result.out
    tag = _finding(result, "tag")
    assert (tag["outcome"], tag["policy_source"]) == ("failed", "--require tags")


# -- lost evidence FAILS ------------------------------------------------------------------------


def test_lost_bundles_fail_even_when_missing_ones_are_allowed(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of([Version("1.0.0", JAN), Version("1.1.0", FEB, bundles=False)])
    result = world.verify(capsys, "1.1.0", "--allow-missing", "bundles")
    assert result.code == 1, result.out
    [lost] = _history(result)
    assert lost["outcome"] == "failed"
    assert lost["message"] == (
        "bundles lost: 1.0.0, uploaded 2026-01-02, carried Sigstore bundles (GitHub release "
        "v1.0.0); 1.1.0 has none"
    )
    assert lost["policy"] == (
        "a release must carry the evidence the release uploaded before it carried "
        "(Sigstore bundles)"
    )
    assert lost["hint"] == (
        "if the project stopped publishing Sigstore bundles on purpose, skip them for this "
        'package: [packages.widget] skip = ["bundles"] in the policy file (or --skip bundles)'
    )
    assert world.api_paths().count(f"/repos/{REPO}/releases") == 1


def test_an_index_only_release_does_not_launder_lost_bundles(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """A stolen index token can upload 1.0.1 and 1.1.0 but cannot make GitHub Releases: the
    standard stays the last release GitHub knows."""
    world = world_of(
        [
            Version("1.0.0", JAN),
            Version("1.0.1", FEB, github_release=False, tag=None),
            Version("1.1.0", MAR, github_release=False, tag=None),
        ]
    )
    result = world.verify(capsys, "1.1.0")
    assert result.code == 1, result.out
    messages = [f["message"] for f in _history(result)]
    assert messages == [
        "bundles lost: 1.0.0, uploaded 2026-01-02, carried Sigstore bundles (GitHub release "
        "v1.0.0); 1.1.0 has none",
        "tags lost: 1.0.0, uploaded 2026-01-02, carried a signed tag (tag v1.0.0); 1.1.0 has none",
    ]


def test_a_back_filled_version_is_held_to_the_release_uploaded_before_it(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of(
        [
            Version("1.0.0", JAN, bundles=False, tag="unsigned"),
            Version("2.0.0", FEB),
            Version("1.9.1", MAR, bundles=False, tag="signed"),
        ]
    )
    result = world.verify(capsys, "1.9.1")
    assert result.code == 1, result.out
    [lost] = _history(result)
    assert lost["message"].startswith("bundles lost: 2.0.0, uploaded 2026-02-01")


def test_a_lost_tag_signature_fails_with_one_extra_tag_fetch(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of([Version("1.0.0", JAN), Version("1.1.0", FEB, tag="unsigned")])
    result = world.verify(capsys, "1.1.0", "--allow-missing", "tags")
    assert result.code == 1, result.out
    [lost] = _history(result)
    assert lost["message"] == (
        "tags lost: 1.0.0, uploaded 2026-01-02, carried a signed tag (tag v1.0.0); 1.1.0 has none"
    )
    assert world.git_commands() == ONE_MORE_TAG


def test_a_missing_tag_after_signed_ones_fails(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of([Version("1.0.0", JAN), Version("1.1.0", FEB, tag=None)])
    result = world.verify(capsys, "1.1.0")
    assert result.code == 1, result.out
    assert [f["message"] for f in _history(result)] == [
        "tags lost: 1.0.0, uploaded 2026-01-02, carried a signed tag (tag v1.0.0); 1.1.0 has none"
    ]


def test_the_full_chain_after_a_full_chain_verifies_with_no_history_request(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of([Version("1.0.0", JAN), Version("1.1.0", FEB)])
    result = world.verify(capsys, "1.1.0")
    assert result.code == 0, result.out
    assert _finding(result, "tag")["outcome"] == "verified"
    # Nothing was missing: the previous release's tag is not fetched.
    assert world.git_commands() == ONE_TAG


# -- evidence that exists must still verify ------------------------------------------------------


def test_a_tag_signed_by_an_untrusted_key_is_never_not_published(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of(
        [
            Version("1.0.0", JAN, bundles=False, tag="unsigned"),
            Version("1.1.0", FEB, bundles=False, tag="other-key"),
        ]
    )
    result = world.verify(capsys, "1.1.0")
    assert result.code == 2, result.out
    tag = _finding(result, "tag")
    assert tag["outcome"] == "unverifiable"
    assert tag["policy_source"] == "default"


def test_a_bundle_that_does_not_verify_is_never_not_published(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of(
        [
            Version("1.0.0", JAN, bundles=False, tag="unsigned"),
            Version("1.1.0", FEB, tag="unsigned", bundle_repo="evil/widget"),
        ]
    )
    result = world.verify(capsys, "1.1.0")
    assert result.code == 1, result.out
    assert _finding(result, "bundle")["outcome"] == "failed"


# -- an unknown history is never a clean one -----------------------------------------------------


def test_an_earlier_release_with_no_usable_upload_time_leaves_absence_unverifiable(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of(
        [
            Version("1.0.0", "yesterday", bundles=False, tag="unsigned"),
            Version("1.1.0", FEB, bundles=False, tag="unsigned"),
        ]
    )
    result = world.verify(capsys, "1.1.0")
    assert result.code == 2, result.out
    assert _finding(result, "bundle")["outcome"] == "unverifiable"
    assert _finding(result, "tag")["outcome"] == "unverifiable"


def _unpinned(world: World, version: str) -> list[str]:
    return [
        f"widget=={version}",
        *("--index-url", world.index.url, "--github-api-url", world.github.url),
        *("--trusted-root", str(world.root), "--allowed-signers", str(world.signers)),
        *("--cache-dir", str(world.tmp / "cache"), "--offline", "-q"),
        *("--skip", "vulnerabilities", "--format", "json"),
    ]


def test_an_unpinned_publisher_consistent_with_the_history_may_be_not_published(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of(
        [
            Version("1.0.0", JAN, bundles=False, tag="unsigned"),
            Version("1.1.0", FEB, bundles=False, tag="unsigned"),
        ]
    )
    result = run(capsys, *_unpinned(world, "1.1.0"))
    assert result.code == 0, result.out
    assert _finding(result, "tag")["policy"] == "not published by this project"


def test_the_first_release_with_an_unpinned_publisher_is_not_vouched_for_by_itself(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """With no pin and no earlier attested release, the repository read comes from the
    artifact under test: its forge saying "nothing published" proves nothing."""
    world = world_of([Version("1.0.0", JAN, bundles=False, tag="unsigned")])
    result = run(capsys, *_unpinned(world, "1.0.0"))
    assert result.code == 2, result.out
    assert _finding(result, "bundle")["outcome"] == "unverifiable"
    assert _finding(result, "tag")["outcome"] == "unverifiable"


def test_a_project_that_stopped_signing_is_accepted_per_package_by_the_policy(
    capsys: pytest.CaptureFixture[str], world_of: Any, tmp_path: Path
) -> None:
    world = world_of([Version("1.0.0", JAN), Version("1.1.0", FEB, tag="unsigned")])
    policy = tmp_path / "policy.toml"
    policy.write_text('[packages.widget]\nskip = ["tags"]\n')
    result = world.verify(capsys, "1.1.0", "--policy", str(policy))
    assert result.code == 0, result.out
    assert _history(result) == []
    tag = _finding(result, "tag")
    assert (tag["outcome"], tag["policy_source"]) == (
        "skipped",
        f"policy file {policy}: packages.widget.skip",
    )
