"""The verdict cache's view of the installed libraries.

Where no metadata sits beside the package ``import`` would load, the versions are read by hand
exactly as ``importlib.metadata`` reads them (``_installed_version``, then importlib.metadata
itself for anything odd): ``read_like_importlib`` below is that fallback. The metadata beside
the imported package wins over any found earlier on the path (``installed_version``; see
tests/unit/test_deadline_and_verdict_key_attacks.py).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from verifier.verdicts import _JUDGING, _installed_version, installed_version


def read_like_importlib(name: str) -> str:
    """The fallback of ``installed_version``: the hand reader, else importlib.metadata."""
    found = _installed_version(name)
    return found if found is not None else _reference(name)


def _reference(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


@pytest.mark.parametrize("name", _JUDGING)
def test_the_judging_libraries_are_read_without_importlib_metadata(name: str) -> None:
    assert _installed_version(name) == importlib.metadata.version(name)


@pytest.mark.parametrize(
    "metadata",
    [
        "Metadata-Version: 2.1\nName: sigstore\nVersion: 9.9.9\n\nbody\nVersion: 1\n",
        "Metadata-Version: 2.1\r\nName: sigstore\r\nVersion: 9.9.9\r\n\r\n",
        "Metadata-Version: 2.1\nversion:\t 9.9.9 \n",
        "Metadata-Version: 2.1\nVersion: 9.9.9\n  .1\n",  # folded
        "Metadata-Version: 2.1\nSummary: a\x0cVersion: 6.6.6\u2028Version: 6.6.7\nVersion: 1.0\n",
        "Metadata-Version: 2.1\n\nVersion: 6.6.6\n",  # in the body: no version
        "Metadata-Version: 2.1\nnot a header\nVersion: 6.6.6\n",
        "\ufeffVersion: 6.6.6\n",
        "From nobody\nVersion: 6.6.6\n",
        ":\nVersion: 6.6.6\n",
        "Version: 1.0\nVersion: 6.6.6\n",
        "",
    ],
)
def test_a_hostile_metadata_file_reads_as_importlib_metadata_reads_it(
    metadata: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "sigstore-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_bytes(metadata.encode())
    monkeypatch.syspath_prepend(str(tmp_path))
    assert read_like_importlib("sigstore") == _reference("sigstore")


@pytest.mark.parametrize(
    "folders",
    [
        ("sigstore-1.0.dist-info", "Sigstore-2.0.dist-info"),  # two in one folder
        ("sigstore-1.0.egg-info",),
        ("sigstore.dist-info",),
        ("SigStore_-3.0.DIST-INFO",),
        ("sigstore_models-3.0.dist-info",),  # another distribution
    ],
)
def test_an_odd_layout_reads_as_importlib_metadata_reads_it(
    folders: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number, folder in enumerate(folders):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "METADATA").write_text(f"Name: x\nVersion: 7.{number}\n")
        (tmp_path / folder / "PKG-INFO").write_text(f"Name: x\nVersion: 8.{number}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert read_like_importlib("sigstore") == _reference("sigstore")
    assert read_like_importlib("sigstore-models") == _reference("sigstore-models")


def test_a_zip_on_the_path_is_left_to_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zipfile

    archive = tmp_path / "libs.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("sigstore-5.0.dist-info/METADATA", "Name: sigstore\nVersion: 5.0\n")
    monkeypatch.syspath_prepend(str(archive))
    assert _installed_version("sigstore") is None
    assert read_like_importlib("sigstore") == _reference("sigstore") == "5.0"


def test_an_unknown_distribution_is_a_question_mark() -> None:
    assert installed_version("no-such-distribution-here") == "?"


@pytest.mark.parametrize("name", _JUDGING)
def test_the_metadata_beside_the_imported_package_names_the_version(name: str) -> None:
    assert installed_version(name) == importlib.metadata.version(name)
