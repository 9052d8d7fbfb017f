"""pip's file name is unquote(basename(unquote(path))); the tool unquotes once.

A URL whose last segment hides a ``%2F`` makes the tool read a name that is not the project's
(so the entry is skipped), while pip reads ``<project>-<ver>+evil-...whl`` and installs it.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version
from pip._internal.models.link import Link

from tests.conftest import Material
from tests.e2e.helpers import base_args, run
from tests.e2e.test_spine import REPO, serve_sdist
from tests.servers import FakeIndex, Route
from verifier.errors import UpstreamError
from verifier.pypi import read_simple_page

EVIL = "pypi_attestations-0.0.19+evil-py3-none-any.whl"
HIDDEN = "/files/x/evil%2Fpypi_attestations-0.0.19%2Bevil-py3-none-any.whl"


def evil_wheel() -> bytes:
    buf = io.BytesIO()
    dist = "pypi_attestations-0.0.19+evil.dist-info"
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            f"{dist}/METADATA",
            "Metadata-Version: 2.1\nName: pypi-attestations\nVersion: 0.0.19+evil\n",
        )
        z.writestr(
            f"{dist}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: x\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        z.writestr("evil.py", "print('pwned')\n")
        z.writestr(f"{dist}/RECORD", "")
    return buf.getvalue()


def test_tool_and_pip_disagree_on_the_file_name() -> None:
    page_url = "https://index.example/simple/demo/"
    entry = {
        "filename": "zzz-1.0.tar.gz",
        "url": "https://files.example/x/evil%2Fdemo-1.0.0%2Bevil-py3-none-any.whl",
        "hashes": {"sha256": "a" * 64},
    }
    page = {"meta": {"api-version": "1.1"}, "name": "demo", "files": [entry]}
    # what pip makes of the entry: a wheel of demo 1.0.0+evil, which ==1.0.0 installs
    link = Link.from_json(entry, page_url)
    assert link is not None
    assert link.filename == "demo-1.0.0+evil-py3-none-any.whl"
    # The tool reads the name as pip does, and refuses a page that lists it under another.
    with pytest.raises(UpstreamError) as info:
        read_simple_page(
            page, page_url=page_url, name=canonicalize_name("demo"), pin=Version("1.0.0")
        )
    assert str(info.value) == (
        "index page for demo: files[0].url names the file "
        "'demo-1.0.0+evil-py3-none-any.whl', but files[0].filename is 'zzz-1.0.tar.gz'"
    )


def test_e2e_verified_but_pip_downloads_an_unchecked_wheel(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    wheel = evil_wheel()
    route = index.server.routes["/simple/pypi-attestations/"]
    page = json.loads(route.body)
    page["files"].append(
        {
            "filename": "zzz-0.0.1.tar.gz",
            "url": index.url + HIDDEN,
            "hashes": {"sha256": hashlib.sha256(wheel).hexdigest()},
        }
    )
    route.body = json.dumps(page).encode()
    route.headers = {}
    index.server.route(HIDDEN, Route(body=wheel))

    result = run(
        capsys,
        "pypi-attestations==0.0.19",
        "--repository",
        REPO,
        *base_args(index.url, tmp_path / "cache"),
    )
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--isolated",
            "--no-cache-dir",
            "--no-deps",
            "-d",
            str(tmp_path / "dl"),
            "--index-url",
            index.url + "/simple/",
            "pypi-attestations==0.0.19",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    downloaded = sorted(p.name for p in (tmp_path / "dl").glob("*"))
    # Real pip installs the hidden wheel for this pin: the tool must not call the release
    # verified while it never looked at that file.
    assert downloaded == [EVIL], (pip.stdout[-2000:], pip.stderr[-2000:])
    assert result.code == 2, result.out
    assert "url names the file 'pypi_attestations-0.0.19+evil-py3-none-any.whl'" in (result.out)
