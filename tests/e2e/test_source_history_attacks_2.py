"""Red team round 2 on the history rule for bundles and signed tags (issue 12).

Same world as ``test_source_history_attacks`` (project ``widget``, no PEP 740 attestations,
publisher pinned, ``--allow-missing attestations``). Each test states what verify-release must
answer; each failed on the rule as hardened after round 1 (two "previous release" orderings),
which is why "carried" now means ANY earlier upload's forge object carried the evidence and
"none" means no Sigstore asset or signed tag anywhere in the forge's whole answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import test_source_history_attacks as attacks
from tests.e2e.test_source_history_attacks import DEC, FEB, JAN, MAR, Item, _outcomes

stack = attacks.stack  # the fixtures of that world
world_of = attacks.world_of


def _lost(result: Any) -> list[str]:
    return [
        f["message"]
        for f in result.findings()
        if f["check"] == "history" and " lost: " in str(f.get("message"))
    ]


# -- hole 1: a NEWER stray forge object launders the loss (attack 1 fixed only older ones) ----


def test_a_newer_unsigned_tag_launders_lost_tags(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """The project signs its release tags (v1.0.0). Its repository also holds a NEWER tag that
    is not signed and whose version never reached the index: a pre-release tag pushed from a
    laptop, a lightweight tag GitHub's "Draft a new release" button made. The thief uploads
    1.1.0rc1 (FEB) and then 2.0.0 (MAR, no tag). Both baselines (newest tag by date, newest
    earlier upload's tag) are now v1.1.0rc1, unsigned: 2.0.0's missing tag is "not published
    by this project" (SKIPPED, exit 0) instead of "tags lost" against v1.0.0. Note that
    1.1.0rc1 itself FAILS "tags lost": the laundering release is a downgrade, and the release
    after it is held only to it."""
    world = world_of(
        [
            Item("1.0.0", JAN, tag="signed"),
            Item("1.1.0rc1", FEB, tag="lightweight"),  # newer tag, uploaded by the thief
            Item("2.0.0", MAR, tag=None),
        ]
    )
    control = world.verify(capsys, "1.1.0rc1")
    assert control.code == 1, (control.code, _outcomes(control))  # the step itself is caught
    result = world.verify(capsys, "2.0.0")
    assert result.code == 1, (result.code, _outcomes(result))


def test_a_newer_github_release_without_bundles_launders_lost_bundles(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """Same with bundles: a newer GitHub (pre-)Release without bundles whose version never
    reached the index (v1.1.0rc1) becomes the baseline once the thief uploads 1.1.0rc1."""
    world = world_of(
        [
            Item("1.0.0", JAN, tag="unsigned", github_release=True, bundles=True),
            Item("1.1.0rc1", FEB, tag="unsigned", github_release=True, bundles=False),
            Item("2.0.0", MAR, tag=None),
        ]
    )
    result = world.verify(capsys, "2.0.0")
    assert result.code == 1, (result.code, _outcomes(result))


# -- hole 2 (false alarm): "any Sigstore asset counts" is applied to the baseline only ------------


def test_bundles_for_other_artifacts_on_every_release_are_not_lost(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """A legitimate project attaches a Sigstore bundle for its CLI binary to every GitHub
    Release, never one for the wheel. 2.0.0 is exactly like 1.0.0, yet verify-release FAILS
    it "bundles lost": the baseline counts any Sigstore asset (attack 5's fix), the release
    under test counts only bundles named for its own files. Nothing was lost."""
    cli = "widget-cli-x86_64-linux.sigstore.json"
    world = world_of(
        [
            Item("1.0.0", FEB, tag=None, github_release=True, bundles=True, bundle_asset=cli),
            Item("2.0.0", MAR, tag=None, github_release=True, bundles=True, bundle_asset=cli),
        ]
    )
    result = world.verify(capsys, "2.0.0", "--skip", "tags")
    assert not _lost(result), _lost(result)
    assert result.code != 1, (result.code, _outcomes(result))


def test_a_bundle_suffix_asset_that_is_not_sigstore_is_not_a_lost_bundle(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """``.bundle`` is one of BUNDLE_SUFFIXES: a project that attaches ``widget-src.bundle`` (a
    git bundle of the source) to every GitHub Release "carried Sigstore bundles" for the
    history, so every release it makes FAILS "bundles lost" although none ever had one."""
    world = world_of(
        [
            Item(
                "1.0.0",
                FEB,
                tag=None,
                github_release=True,
                bundles=True,
                bundle_asset="widget-src.bundle",
            ),
            Item(
                "2.0.0",
                MAR,
                tag=None,
                github_release=True,
                bundles=True,
                bundle_asset="widget-src.bundle",
            ),
        ]
    )
    result = world.verify(capsys, "2.0.0", "--skip", "tags")
    assert not _lost(result), _lost(result)
    assert result.code != 1, (result.code, _outcomes(result))


# -- hole 3: a release that DOES carry bundles (for other files) is "not published" --------------


def test_bundles_on_this_release_for_other_files_are_not_not_published(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """2.0.0 is the project's first release with bundles: its GitHub Release v2.0.0 (signed
    tag) carries ``widget-2.0.0.tar.gz.sigstore.json``. The thief uploads 2.0.0 to the index
    first (or the project publishes to GitHub before PyPI), with a file the bundles do not
    name (here a wheel). Every file lacks a bundle and 1.0.0's release carried none, so the
    history says "not published by this project" and exit 0, although the very release under
    test proves the project publishes bundles: what is missing is the thief's file's."""
    world = world_of(
        [
            Item("1.0.0", FEB, tag="signed", github_release=True, bundles=False),
            Item(
                "2.0.0",
                MAR,
                tag="signed",
                github_release=True,
                bundles=True,
                bundle_asset="widget-2.0.0.tar.gz.sigstore.json",
            ),
        ]
    )
    result = world.verify(capsys, "2.0.0")
    bundle = _outcomes(result).get("bundle", [])
    assert not any(o.startswith("skipped") for o in bundle), (result.code, _outcomes(result))
    assert result.code != 0, (result.code, _outcomes(result))


# -- hole 4: one old tag that matches the guessed spelling hides every signed tag that does not --


def test_one_matching_old_tag_does_not_make_unmatched_signed_tags_never_published(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """The project's first release was tagged ``0.1.0`` (lightweight, the default spelling);
    since then it signs tags named ``release-X`` (the user did not pass --tag-template: the
    tool guesses ``v{version}``/``{version}``). Attack 3's fix makes unmatched tags "unknown"
    only when NO earlier upload matched; here 0.1.0 matches, so it is the only "tagged"
    earlier release, unsigned, and the thief's 2.0.0 (no tag) is "not published" (exit 0),
    whereas before issue 12 it was UNVERIFIABLE. The same holds for GitHub Releases named
    ``release-X`` carrying bundles next to an old ``0.1.0`` release without."""
    world = world_of(
        [
            Item("0.1.0", DEC, tag="lightweight", prefix="", github_release=True),
            Item("1.0.0", JAN, tag="signed", prefix="release-", github_release=True, bundles=True),
            Item("1.1.0", FEB, tag="signed", prefix="release-", github_release=True, bundles=True),
            Item("2.0.0", MAR, tag=None),
        ]
    )
    result = world.verify(capsys, "2.0.0")
    outcomes = _outcomes(result)
    assert result.code != 0, (result.code, outcomes)
    assert not any(o.startswith("skipped") for o in outcomes.get("tag", [])), outcomes
    assert not any(o.startswith("skipped") for o in outcomes.get("bundle", [])), outcomes
