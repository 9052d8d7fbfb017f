"""--download DIR is the user's directory and may hold anything: nothing there is trusted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.test_index_provenance import serve_release, verify
from tests.e2e.test_spine import SDIST
from tests.servers import FakeIndex


def test_a_directory_planted_at_the_partial_name_is_not_a_traceback(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_release(index, material)
    wheelhouse = tmp_path / "wheelhouse"
    (wheelhouse / f".{SDIST}.partial").mkdir(parents=True)
    result = verify(capsys, index, tmp_path, "--download", str(wheelhouse))
    assert result.code == 2, result.err[-2000:]
    assert f"cannot write the download into {wheelhouse}" in result.out


def test_an_unreadable_file_at_the_destination_is_not_a_traceback(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    # /proc/self/mem is a regular file (is_file() is True) whose read fails with EIO, even as root.
    serve_release(index, material)
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    os.symlink("/proc/self/mem", wheelhouse / SDIST)
    result = verify(capsys, index, tmp_path, "--download", str(wheelhouse))
    # Not a regular file of its own: fetched again and replaced by a verified copy.
    assert result.code == 0, result.err[-2000:]
    assert not (wheelhouse / SDIST).is_symlink()
    assert (wheelhouse / SDIST).read_bytes() == material.read(SDIST)


def test_a_symlink_planted_in_dir_is_replaced_by_a_verified_copy(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    # The matching bytes live outside DIR (somewhere the planter can rewrite later); DIR keeps a
    # symlink, and the report says the verified file is "already in DIR".
    serve_release(index, material)
    outside = tmp_path / "attacker-controlled" / SDIST
    outside.parent.mkdir()
    outside.write_bytes(material.read(SDIST))
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    os.symlink(outside, wheelhouse / SDIST)
    result = verify(capsys, index, tmp_path, "--download", str(wheelhouse))
    assert result.code == 0, result.out
    assert "already in" not in result.out
    # After the run the planter swaps the bytes it controls: DIR holds its own verified copy.
    outside.write_bytes(b"evil")
    assert not (wheelhouse / SDIST).is_symlink()
    assert (wheelhouse / SDIST).read_bytes() == material.read(SDIST)
