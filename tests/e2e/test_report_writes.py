"""End to end: a report that cannot be written is an error that changes nothing (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.test_lockfile import SKIPS, lock_run, serve_all, write_lock
from tests.servers import FakeIndex


@pytest.mark.parametrize("flag", ["--output", "--sarif"])
def test_an_unwritable_report_exits_3_and_says_so(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    flag: str,
) -> None:
    serve_all(index, material)
    lock = write_lock(tmp_path / "requirements.txt", material)
    target = tmp_path / "missing-folder" / "report"
    result = lock_run(capsys, index, tmp_path, lock, *SKIPS, "--format", "json", flag, str(target))
    assert result.code == 3
    assert result.err.endswith(
        f"verify-release: error: cannot write {target} (No such file or directory); the file "
        "was not changed\nhint: check that the folder exists and is writable and that the disk "
        "has room (and no file-size limit stops the write), then run again\n"
    ), result.err
    assert not target.parent.exists()


def test_the_step_summary_keeps_what_was_there(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve_all(index, material)
    summary = tmp_path / "summary.md"
    summary.write_bytes(b"## an earlier step\r\n\xf0\x9f\x94\x92\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    lock = write_lock(tmp_path / "requirements.txt", material)
    result = lock_run(capsys, index, tmp_path, lock, *SKIPS)
    assert result.code == 0, result.out
    text = summary.read_bytes()
    assert text.startswith(b"## an earlier step\r\n\xf0\x9f\x94\x92\n")
    assert b"gitlab-oidc-project==0.0.3" in text
