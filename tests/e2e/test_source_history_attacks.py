"""Attacks on the history rule for bundles and signed tags (issue 12), found by a red team.

Each test failed on the first version of the rule and states what verify-release must answer.
The world: a project ``widget`` with SSH-signed tags and/or Sigstore bundles on its GitHub
Releases but NO PEP 740 attestations (a pre-PEP 740 signing setup), verified the way
docs/verifying.md recommends for CI: the publisher pinned (``--repository``) and
``--allow-missing attestations``. A stolen PyPI token can upload releases (it cannot push tags
or create GitHub Releases): without the laundering upload its release FAILS "tags lost" /
"bundles lost" (the control test); with it, verify-release exits 0.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.forge import ForgeRelease, ForgeWorld, build_forge
from tests.e2e.helpers import Run
from tests.servers import FakeIndex, Route
from tests.sigstore_local import LocalSigstore

JAN = "2026-01-02T10:00:00.000000Z"
FEB = "2026-02-01T10:00:00.000000Z"
MAR = "2026-03-01T10:00:00.000000Z"
REPO = "acme/widget"


@dataclass(frozen=True)
class Item(ForgeRelease):
    """A forge object (tag, GitHub Release) and/or an unattested index upload for one version.

    ``uploaded`` None: never uploaded to the index (a forge-only tag or release).
    """

    github_release: bool = False
    bundles: bool = False
    attested: bool = False


@pytest.fixture(scope="module")
def stack() -> LocalSigstore:
    return LocalSigstore()


@pytest.fixture
def world_of(tmp_path: Path, index: FakeIndex, stack: LocalSigstore) -> Iterator[Any]:
    made: list[ForgeWorld] = []

    def build(items: list[Item]) -> ForgeWorld:
        world = build_forge(
            tmp_path, index, stack, items, options=("--allow-missing", "attestations")
        )
        made.append(world)
        return world

    yield build
    for world in made:
        world.github.close()


def _outcomes(result: Run) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in result.findings():
        if f["check"] in ("bundle", "tag", "history"):
            out.setdefault(f["check"], []).append(f"{f['outcome']}: {f.get('policy_source')}")
    return out


# -- control: the stolen token's release alone is caught ------------------------------------------


def test_control_a_release_without_the_signed_tag_fails(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    world = world_of([Item("1.0.0", JAN, tag="signed"), Item("2.0.0", MAR, tag=None)])
    result = world.verify(capsys, "2.0.0")
    assert result.code == 1, result.out


# -- attack 1: an index upload picks which forge object is "the previous release"


@pytest.mark.parametrize("stray", ["unsigned", "lightweight"])
def test_a_stolen_token_launders_lost_tags_by_uploading_a_stray_tags_version(
    capsys: pytest.CaptureFixture[str], world_of: Any, stray: str
) -> None:
    """The repository holds a tag from before the project signed (v0.9.0, or a lightweight
    tag) whose version never reached the index. The thief uploads 0.9.0 (FEB) and then 2.0.0
    (MAR): the newest earlier release "with a tag" is now 0.9.0, unsigned, so 2.0.0's missing
    tag is "not published by this project" instead of "tags lost" against 1.0.0."""
    world = world_of(
        [
            Item("0.9.0", FEB, tag=stray),  # tag made long ago; uploaded now by the thief
            Item("1.0.0", JAN, tag="signed"),
            Item("2.0.0", MAR, tag=None),
        ]
    )
    result = world.verify(capsys, "2.0.0")
    assert result.code == 1, (result.code, _outcomes(result))


def test_a_stolen_token_launders_lost_bundles_with_an_old_github_release(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """Same with bundles: an old GitHub Release without bundles (v0.9.0, never on the index)
    becomes the baseline once the thief uploads 0.9.0 after 1.0.0."""
    world = world_of(
        [
            Item("0.9.0", FEB, tag="unsigned", github_release=True, bundles=False),
            Item("1.0.0", JAN, tag="signed", github_release=True, bundles=True),
            Item("2.0.0", MAR, tag=None),
        ]
    )
    result = world.verify(capsys, "2.0.0")
    assert result.code == 1, (result.code, _outcomes(result))


# -- attack 2: a one-page release listing passes over the previous release it does not hold

DEC = "2025-12-01T10:00:00.000000Z"


def test_a_partial_release_listing_does_not_pass_over_the_previous_release(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """An honest GitHub with more than 100 releases (a monorepo's other components, nightly
    builds): the first page holds 99 newer releases of other things and a GitHub Release made
    recently for the old 0.5.0 (without bundles), not 1.0.0's (with bundles, on page 2).
    ``_bundle_baseline`` passes over 1.0.0 because the *partial* page lacks it, lands on 0.5.0
    and calls the thief's bundle-less 2.0.0 "not published by this project"."""
    import json

    world = world_of(
        [
            Item("0.5.0", DEC, tag="unsigned", github_release=True, bundles=False),
            Item("1.0.0", FEB, tag="unsigned", github_release=True, bundles=True),
            Item("2.0.0", MAR, tag=None),
        ]
    )
    releases = world.github._releases[REPO]
    [old] = [r for r in releases if r["tag_name"] == "v0.5.0"]
    fillers = [
        {
            "tag_name": f"tool-v{i}",
            "html_url": f"https://github.com/{REPO}/releases/{i}",
            "assets": [],
        }
        for i in range(99)
    ]
    world.github.api.route(
        world.github.releases_path(REPO),
        Route(body=json.dumps([*fillers, old]).encode(), content_type="application/json"),
    )
    result = world.verify(capsys, "2.0.0")
    assert result.code != 0, (result.code, _outcomes(result))


# -- attack 3: tags/releases under a name the tool does not guess are "never published"


def test_signed_tags_under_another_name_are_not_never_published(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """A monorepo tags ``widget-1.0.0`` (signed) and releases bundles under that tag; the user
    did not pass --tag-template. No earlier release matches ``v{version}``/``{version}``, so
    the history says "no earlier release of the project carried" either, and the thief's
    2.0.0 (no tag, no bundles) exits 0. Before issue 12 this was UNVERIFIABLE; the repository
    advertising tags (and GitHub listing releases) that match no version is "unknown", not
    "never"."""
    world = world_of(
        [
            Item("1.0.0", FEB, tag="signed", github_release=True, bundles=True, prefix="widget-"),
            Item("2.0.0", MAR, tag=None),
        ]
    )
    result = world.verify(capsys, "2.0.0")
    assert result.code != 0, (result.code, _outcomes(result))


# -- attack 4: a local clone without the tags is "never published"


def test_a_git_repo_without_tags_is_not_a_project_that_never_signed(
    capsys: pytest.CaptureFixture[str], world_of: Any, tmp_path: Path
) -> None:
    """``--git-repo .`` in CI: actions/checkout's default (fetch-depth 1) brings no tags. The
    project signs every tag (v1.0.0 on the remote); the thief's 2.0.0 has none. With the local
    clone, ``has_tag`` finds no earlier tag, so the history says "no earlier release of the
    project carried a signed tag" and the tag is SKIPPED (exit 0 with the recommended CI
    policy). A repository the user hands over is not the project's whole tag list."""
    world = world_of([Item("1.0.0", FEB, tag="signed"), Item("2.0.0", MAR, tag=None)])
    checkout = tmp_path / "checkout"
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--depth=1",
            "--no-tags",
            f"file://{tmp_path / 'widget.git'}",
            str(checkout),
        ],
        check=True,
        timeout=60,
    )
    result = world.verify(capsys, "2.0.0", "--git-repo", str(checkout))
    assert result.code != 0, (result.code, _outcomes(result))


# -- attack 5: bundles the history cannot match by file name are "never published"


def test_a_release_carrying_bundles_under_other_names_did_carry_bundles(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """1.0.0's GitHub Release carries a Sigstore bundle, named for the wheel as the build
    named it (``Widget-1.0.0-...``, before the index's normalisation). ``_bundle_baseline``
    asks ``find_bundle`` for the index's file names only, finds none, and records "carried
    no Sigstore bundles (GitHub release v1.0.0)": the thief's bundle-less 2.0.0 is SKIPPED.
    A release whose assets hold any ``.sigstore``/``.sigstore.json`` carried bundles."""
    world = world_of(
        [
            Item(
                "1.0.0",
                FEB,
                tag="unsigned",
                github_release=True,
                bundles=True,
                bundle_asset="Widget-1.0.0-py3-none-any.whl.sigstore.json",
            ),
            Item("2.0.0", MAR, tag=None),
        ]
    )
    result = world.verify(capsys, "2.0.0")
    assert result.code != 0, (result.code, _outcomes(result))


# -- attack 6: an index that omits the earlier releases makes "never published" ------------------


def test_an_index_page_without_the_earlier_releases_is_not_a_first_release(
    capsys: pytest.CaptureFixture[str], world_of: Any
) -> None:
    """The index (a hostile mirror or proxy) serves a page holding 2.0.0 only. The remote
    advertises the signed v1.0.0 and GitHub lists 1.0.0's release with bundles, but with no
    earlier upload the history says "no earlier release of the project carried" either:
    exit 0 (it was UNVERIFIABLE before issue 12). Forge objects for versions the page does not
    list make the history unknown, not empty."""
    world = world_of(
        [
            Item("1.0.0", None, tag="signed", github_release=True, bundles=True),
            Item("2.0.0", MAR, tag=None),
        ]
    )
    result = world.verify(capsys, "2.0.0")
    assert result.code != 0, (result.code, _outcomes(result))
