"""What the reports count is what they show; warnings go to standard error.

A release verified with an absent kind of evidence allowed to be missing is a verified package:
the step summary's table and the text report's verdict must say so, and must not count chain
links whose missing end is already a line of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.helpers import base_args, run
from tests.e2e.test_chain import _run, build_world
from tests.servers import DistFile, FakeIndex, Listed, add_history_to


def test_a_verified_release_is_counted_as_shown(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    index: FakeIndex,
    tmp_path: Path,
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    world = build_world(tmp_path, index, bundle_suffix=".intoto.jsonl")
    result = _run(capsys, world, "--allow-missing", "bundles")
    assert result.code == 0, result.out
    # Drawn: 3 VERIFIED and 2 SKIPPED lines (bundle, vulnerability), 4 [ok] links and one [--]
    # link whose missing end is the SKIPPED bundle line.
    assert result.out.count("\n  VERIFIED ") == 3
    assert result.out.count("\n  SKIPPED ") == 2
    assert result.out.count("[ok]") == 4
    assert result.out.endswith(
        "verdict: VERIFIED (exit 0) - 3 verified, 2 skipped; chain: 4 verified\n"
    )
    table = summary.read_text().split("### Packages\n\n", 1)[1].splitlines()
    assert table[0].startswith("| package | status | index-hash | attestation | bundle | tag |")
    assert table[2] == (
        "| widget==1.0.0 | verified | verified | verified | skipped | verified | verified "
        "| skipped |"
    )
    assert "| skipped | 0 | 3 |\n| verified | 1 | 7 |" in summary.read_text()


def test_warnings_go_to_standard_error(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    yanked = Listed("1.0.0", DistFile("widget-1.0.0.tar.gz", b"x"), yanked=True)
    add_history_to(index, "widget", [yanked])
    args = base_args(index.url, tmp_path / "cache")
    result = run(capsys, "widget==1.0.0", "--allow-missing", "attestations", *args)
    assert result.code == 0, result.out
    warning = (
        "warning: widget==1.0.0: the index marks widget-1.0.0.tar.gz as yanked; installers "
        "skip yanked files unless pinned exactly\n"
    )
    assert warning in result.err
    assert "warning:" not in result.out
    assert result.out.endswith("verdict: VERIFIED (exit 0) - 1 verified, 4 skipped\n")
