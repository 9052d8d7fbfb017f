"""End to end: ``--write-requirements FILE``, then a real ``pip download --require-hashes``.

The release is real attested material on the loopback index. After the run, the index gains a
new, more specific wheel for the same version (a build tag outranks none): pip without hashes
would take it. With the written file pip must get only the verified bytes, never the new file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.helpers import Run, run
from tests.e2e.test_lockfile import RELEASES, SKIPS, serve_all
from tests.servers import DistFile, FakeIndex
from tests.sigstore_local import GitHubClaims, LocalSigstore

WHEEL = "rfc8785-0.1.2-py3-none-any.whl"
NEWER = "rfc8785-0.1.2-1-py3-none-any.whl"
"""Same version, a build tag: pip prefers it to the verified wheel when hashes do not decide."""


@pytest.fixture(scope="module")
def stack() -> LocalSigstore:
    return LocalSigstore()


def serve_wheel(index: FakeIndex, material: Material, stack: LocalSigstore) -> DistFile:
    """A real wheel (pip must be able to read it), attested by the local Sigstore stack."""
    data = material.read(WHEEL)
    claims = GitHubClaims(repository="trailofbits/rfc8785.py", ref="refs/tags/v0.1.2")
    dist = DistFile(WHEEL, data, stack.provenance(WHEEL, data, claims))
    index.add_release("rfc8785", "0.1.2", [dist])
    return dist


def verify(capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp: Path, *argv: str) -> Run:
    common = ["--index-url", index.url, "--offline", "-q", "--cache-dir", str(tmp / "cache")]
    return run(capsys, *argv, *common, *SKIPS)


def pip_download(
    index: FakeIndex, requirements: Path, dest: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    """Real pip, isolated from this machine's configuration, against the loopback index only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "download",
            *extra,
            "--no-deps",
            "--only-binary",
            ":all:",
            "--index-url",
            f"{index.url}/simple",
            "-d",
            str(dest),
            "-r",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_pip_installs_only_the_verified_bytes_after_the_index_gains_a_wheel(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    stack: LocalSigstore,
) -> None:
    verified = serve_wheel(index, material, stack)
    out = tmp_path / "verified.txt"
    root = stack.write_trusted_root(tmp_path / "trusted_root.json")
    result = verify(
        capsys,
        index,
        tmp_path,
        "rfc8785==0.1.2",
        "--trusted-root",
        str(root),
        "--write-requirements",
        str(out),
    )
    assert result.code == 0, result.out
    digest = hashlib.sha256(verified.content).hexdigest()
    assert out.read_text().splitlines()[3:] == [
        "rfc8785==0.1.2 \\",
        f"    --hash=sha256:{digest}",
    ]
    assert (
        f"verify-release: wrote 1 requirement(s) with 1 hash(es) to {out}; install exactly the "
        f"verified files with `pip install --require-hashes --no-deps -r {out}`\n"
    ) in result.err
    # The index now lists a new file for the same release, one pip ranks above the verified one.
    added = DistFile(NEWER, verified.content + b"\0added later")
    index.add_release("rfc8785", "0.1.2", [verified, added])
    before = len(index.server.paths_requested())
    dest = tmp_path / "wheelhouse"
    done = pip_download(index, out, dest, "--require-hashes")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in dest.iterdir()) == [WHEEL]
    assert (dest / WHEEL).read_bytes() == verified.content
    requested = index.server.paths_requested()[before:]
    assert index.file_path(NEWER) not in requested
    assert requested.count(index.file_path(WHEEL)) == 1


def test_without_the_hashes_pip_takes_the_new_file(
    index: FakeIndex, material: Material, tmp_path: Path, stack: LocalSigstore
) -> None:
    # The control: the same index and a plain pin, so the test above proves the hashes decide.
    verified = serve_wheel(index, material, stack)
    index.add_release("rfc8785", "0.1.2", [verified, DistFile(NEWER, material.read(WHEEL))])
    plain = tmp_path / "plain.txt"
    plain.write_text("rfc8785==0.1.2\n")
    dest = tmp_path / "wheelhouse"
    done = pip_download(index, plain, dest)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in dest.iterdir()) == [NEWER]


def test_a_failed_run_writes_nothing_and_says_so(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_all(index, material)
    version, _ = RELEASES["pypi-attestations"]
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"pypi-attestations=={version} --hash=sha256:{'0' * 64}\n")
    out = tmp_path / "verified.txt"
    out.write_text("the previous run's file\n")
    result = verify(
        capsys,
        index,
        tmp_path,
        "--lockfile",
        str(lock),
        "--write-requirements",
        str(out),
        "--format",
        "json",
    )
    assert result.code == 1, result.out
    assert out.read_text() == "the previous run's file\n"
    message = (
        f"{out} was not written: the verdict is FAILED (exit 1); only a VERIFIED run (exit 0) "
        "writes requirements"
    )
    assert json.loads(result.out)["requirements"] == {
        "path": str(out),
        "written": False,
        "message": message,
        "packages": 0,
        "hashes": 0,
    }
    assert f"verify-release: {message}\n" in result.err


def test_a_file_that_can_never_be_written_is_refused_before_any_request(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_all(index, material)
    out = tmp_path / "missing" / "verified.txt"
    result = verify(
        capsys, index, tmp_path, "pypi-attestations==0.0.19", "--write-requirements", str(out)
    )
    assert (result.code, result.err) == (
        3,
        f"verify-release: error: --write-requirements {out}: no such directory {out.parent}\n"
        "hint: create the directory first, or write the file elsewhere\n",
    )
    assert index.server.paths_requested() == []


def test_write_requirements_only_when_the_run_exits_0(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    stack: LocalSigstore,
) -> None:
    """The requirements file is written last, and only once the run's exit code is 0: here the
    verdict is VERIFIED but the SARIF log cannot be written, so the run exits non-zero and a
    caller that reads non-zero as "do not trust the outputs" finds no fresh file (red team i13)."""
    serve_wheel(index, material, stack)
    out = tmp_path / "verified.txt"
    root = stack.write_trusted_root(tmp_path / "trusted_root.json")
    result = verify(
        capsys,
        index,
        tmp_path,
        "rfc8785==0.1.2",
        "--trusted-root",
        str(root),
        "--write-requirements",
        str(out),
        "--sarif",
        str(tmp_path / "no-such-dir" / "x.sarif"),
    )
    assert result.code != 0
    assert not out.exists(), "a run that did not exit 0 wrote the requirements file"
