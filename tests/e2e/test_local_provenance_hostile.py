"""a hostile --provenance file (it travels with the artifact) crashes the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.helpers import run

SDIST = "pypi_attestations-0.0.19.tar.gz"
REPO = "https://github.com/trailofbits/pypi-attestations"
OFFLINE_LOCAL = ["--offline", "-q", "--index-url", "http://127.0.0.1:9"]


def _setup(material: Material, tmp_path: Path) -> tuple[Path, Path]:
    dist = tmp_path / SDIST
    dist.write_bytes(material.read(SDIST))
    provenance = tmp_path / "p.json"
    provenance.write_text("[" * 100_000 + "]" * 100_000)  # 200 KB, under the 2 MB cap
    return dist, provenance


def test_deeply_nested_provenance_file_is_a_refusal_not_a_crash(
    capsys: pytest.CaptureFixture[str], material: Material, tmp_path: Path
) -> None:
    dist, provenance = _setup(material, tmp_path)
    result = run(
        capsys, str(dist), "--provenance", str(provenance), "--repository", REPO, *OFFLINE_LOCAL
    )
    # Nesting past the parser's recursion limit (json.loads raises RecursionError, not a
    # JSONDecodeError): evidence against the file, never a traceback.
    assert result.code == 1, result.out
    assert (
        "FAILED       attestation    pypi_attestations-0.0.19.tar.gz  provenance file is not JSON: "
        "nested too deeply"
    ) in result.out


def test_deeply_nested_provenance_file_exit_code(material: Material, tmp_path: Path) -> None:
    dist, provenance = _setup(material, tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from verifier.cli import entry; entry()",
            str(dist),
            "--provenance",
            str(provenance),
            "--repository",
            REPO,
            *OFFLINE_LOCAL,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-600:])
    assert "Traceback" not in proc.stderr
