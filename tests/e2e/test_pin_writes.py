"""End to end: ``verify-release pin`` loses nothing the user owns (issue 15).

Each test reproduces one failure the issue reports, against the loopback index serving real
attested material: a write cut short by a file-size limit, a provenance that disappears
between two ``pin`` runs, and a publisher environment outside the Basic Multilingual Plane.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.helpers import Run, run
from tests.e2e.test_lockfile import ALLOW_LOCAL, PAGES, RELEASES, SKIPS, serve_all, write_lock
from tests.servers import DistFile, FakeIndex

ROOT = Path(__file__).resolve().parents[2]
MODELS = "pypi-attestation-models"
HAND_WRITTEN = ALLOW_LOCAL + "".join(
    f"# hand-written note {n:06d}: this file is the user's, keep it exactly as it is\n"
    for n in range(2910)
)
"""A 227 KB hand-written policy, as in the issue."""


def _pin(capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path, *extra: str) -> Run:
    return run(
        capsys,
        "pin",
        "--index-url",
        index.url,
        "--offline",
        "-q",
        "--no-cache",
        "--cache-dir",
        str(tmp_path / "cache"),
        *SKIPS,
        *extra,
    )


def serve_with_environment(index: FakeIndex, material: Material, environment: str) -> None:
    """PyPI's (unsigned) record of pypi-attestations now names ``environment``."""
    version, filename = RELEASES["pypi-attestations"]
    provenance = json.loads(material.provenance(filename))
    for bundle in provenance["attestation_bundles"]:
        bundle["publisher"]["environment"] = environment
    index.add_release(
        "pypi-attestations",
        version,
        [DistFile(filename, material.read(filename), json.dumps(provenance).encode())],
        real_page=material.page("pypi-attestations"),
    )


def _drop_provenance(index: FakeIndex, material: Material) -> None:
    """PyPI now declares no attestation for pypi-attestation-models."""
    version, filename = RELEASES[MODELS]
    index.add_release(
        MODELS,
        version,
        [DistFile(filename, material.read(filename), None)],
        real_page=material.page(MODELS) if MODELS in PAGES else None,
    )


def test_a_pin_whose_provenance_disappeared_is_kept_and_fails(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_all(index, material)
    lock = write_lock(tmp_path / "requirements.txt", material)
    policy = tmp_path / "verify-release.toml"
    policy.write_text(ALLOW_LOCAL)
    args = ("--lockfile", str(lock), "--policy", str(policy))
    first = _pin(capsys, index, tmp_path, *args)
    assert first.code == 0, first.err
    assert f"+ {MODELS}: https://github.com/trailofbits/pypi-attestation-models" in first.out
    assert first.err.endswith(f"verify-release pin: 3 change(s) written to {policy}\n")
    pinned = policy.read_bytes()

    _drop_provenance(index, material)
    dry = _pin(capsys, index, tmp_path, *args, "--dry-run")
    assert dry.code == 1
    again = _pin(capsys, index, tmp_path, *args)
    assert again.code == 1, again.err
    line = (
        f"! {MODELS}: no verified attestations this run; its pin is kept (remove it with "
        f"`verify-release pin --unpin {MODELS}`)\n"
    )
    assert again.out == line
    assert dry.out == line
    assert again.err.endswith(
        f"verify-release pin: {policy} is up to date\n"
        "verify-release pin: 1 pinned package(s) have no verified attestations this run and "
        f"keep their pins: {MODELS}\n"
    )
    assert policy.read_bytes() == pinned
    # The normal run goes on failing it: the evidence of the change was not erased.
    failed = run(
        capsys,
        *args,
        "--index-url",
        index.url,
        "--offline",
        "-q",
        "--no-cache",
        "--cache-dir",
        str(tmp_path / "cache"),
        *SKIPS,
    )
    assert failed.code == 1

    # Removing the pin takes --unpin, and needs no lockfile and no network.
    preview = _pin(capsys, index, tmp_path, "--policy", str(policy), "--unpin", MODELS, "--dry-run")
    assert (preview.code, preview.out) == (0, f"- {MODELS}\n")
    assert preview.err == f"verify-release pin: dry run: 1 change(s), nothing written to {policy}\n"
    assert policy.read_bytes() == pinned
    requests = len(index.server.requests)
    removed = _pin(capsys, index, tmp_path, "--policy", str(policy), "--unpin", MODELS)
    assert (removed.code, removed.out) == (0, f"- {MODELS}\n")
    assert len(index.server.requests) == requests
    assert MODELS not in policy.read_text()
    assert "[publishers.pypi-attestations]" in policy.read_text()


def test_unpin_of_a_package_without_a_pin_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    policy = tmp_path / "verify-release.toml"
    policy.write_text(ALLOW_LOCAL)
    result = _pin(capsys, index, tmp_path, "--policy", str(policy), "--unpin", "Nope_Pkg")
    assert result.code == 3
    assert result.err == (
        f"verify-release: error: --unpin nope-pkg: the package is not pinned in {policy}\n"
        "hint: name a package of the block `verify-release pin` manages; edit hand-written "
        "entries by hand\n"
    )
    assert policy.read_text() == ALLOW_LOCAL
    assert index.server.requests == []


def test_a_non_bmp_environment_is_pinned_and_the_next_run_reads_it(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """PyPI's publisher record is unsigned: its environment can be any text."""
    environment = "release-\U0001f512-\u00e9"
    serve_all(index, material)
    serve_with_environment(index, material, environment)
    lock = write_lock(tmp_path / "requirements.txt", material)
    policy = tmp_path / "verify-release.toml"
    policy.write_text(ALLOW_LOCAL)
    args = ("--lockfile", str(lock), "--policy", str(policy))
    pinned = _pin(capsys, index, tmp_path, *args)
    assert pinned.code == 0, pinned.err
    assert f"environment {environment}" in pinned.out
    assert f'environment = "{environment}"' in policy.read_text("utf-8")
    again = run(
        capsys,
        *args,
        "--index-url",
        index.url,
        "--offline",
        "-q",
        "--no-cache",
        "--cache-dir",
        str(tmp_path / "cache"),
        *SKIPS,
    )
    assert again.code == 0, again.out + again.err
    assert "not valid TOML" not in again.err


def test_a_file_size_limit_leaves_the_hand_written_policy_intact(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """``ulimit -f`` below the new file's size: pin exits 3 and the 227 KB file is unchanged."""
    serve_all(index, material)
    lock = write_lock(tmp_path / "requirements.txt", material)
    policy = tmp_path / "verify-release.toml"
    policy.write_text(HAND_WRITTEN)
    assert 227_000 <= policy.stat().st_size < 240_000

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))

    argv = [
        *(sys.executable, "-m", "verifier", "pin", "--lockfile", str(lock)),
        *("--policy", str(policy), "--index-url", index.url, "--offline", "-q", "--no-cache"),
        *("--cache-dir", str(tmp_path / "cache"), *SKIPS),
    ]
    done = subprocess.run(
        argv,
        preexec_fn=limit,  # the limit applies to the child only
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=dict(os.environ),
        timeout=300,
    )
    assert policy.read_text() == HAND_WRITTEN  # main left it cut at 150 KB
    assert done.returncode == 3, done.stderr
    assert done.stderr.endswith(
        f"verify-release: error: cannot write {policy} (File too large); the file was not "
        "changed\nhint: check that the folder exists and is writable and that the disk has room "
        "(and no file-size limit stops the write), then run again\n"
    ), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [
        ".verify-release.toml.lock"
    ]
