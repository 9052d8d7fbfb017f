"""The pre-commit hook: ``.pre-commit-hooks.yaml`` and its entry, run on changed lockfiles.

pre-commit itself is not installed here (it would build a fresh environment from the index on
every run); the hook's ``files`` pattern is matched as pre-commit matches it (``re.search`` on
the path relative to the repository), and its entry (the console script pyproject.toml
declares) runs as pre-commit runs it: the user's ``args``, then the matching file names.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Material
from tests.e2e.test_lockfile import RELEASES, serve_all
from tests.servers import FakeIndex
from verifier.precommit import hook_argv

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def hook() -> dict[str, Any]:
    [only] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(only, dict)
    return only


@pytest.mark.parametrize(
    ("path", "matches"),
    [
        ("uv.lock", True),
        ("pylock.toml", True),
        ("pylock.dev.toml", True),
        ("poetry.lock", True),
        ("requirements.txt", True),
        ("requirements-dev.txt", True),
        ("services/api/requirements.txt", True),
        ("sub/uv.lock", True),
        ("pyproject.toml", False),
        ("Cargo.lock", False),
        ("docs/requirements.md", False),
        ("my-uv.lock", False),
        ("requirements.txt.orig", False),
    ],
)
def test_the_hook_runs_on_exactly_the_lockfiles(path: str, matches: bool) -> None:
    assert (re.search(hook()["files"], path) is not None) == matches
    assert hook_argv(["-q", path]) == (["-q", f"--lockfile={path}"] if matches else ["-q", path])


def test_the_entry_is_the_console_script_that_runs_the_hook() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    spec = hook()
    assert (spec["language"], spec["pass_filenames"]) == ("python", True)
    assert scripts[spec["entry"]] == "verifier.precommit:entry"


def test_the_users_args_come_first_and_each_file_becomes_one_lockfile() -> None:
    argv = ["--policy", "policy.toml", "--skip", "tags", "uv.lock", "a/requirements.txt"]
    assert hook_argv([*argv, "uv.lock"]) == [
        "--policy",
        "policy.toml",
        "--skip",
        "tags",
        "--lockfile=uv.lock",
        "--lockfile=a/requirements.txt",
    ]


def run_entry(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """The installed entry, as pre-commit runs it (from the repository's root)."""
    entry = Path(sys.executable).parent / hook()["entry"]
    return subprocess.run(
        [str(entry), *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def lockfile(path: Path, material: Material, project: str, *, digest: str | None = None) -> None:
    version, filename = RELEASES[project]
    digest = digest or hashlib.sha256(material.read(filename)).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{project}=={version} --hash=sha256:{digest}\n")


@pytest.mark.parametrize(("tamper", "code"), [(False, 0), (True, 1)])
def test_the_entry_verifies_every_changed_lockfile_in_one_run(
    index: FakeIndex, material: Material, tmp_path: Path, tamper: bool, code: int
) -> None:
    serve_all(index, material)
    lockfile(tmp_path / "requirements.txt", material, "pypi-attestations")
    lockfile(
        tmp_path / "svc" / "requirements-dev.txt",
        material,
        "gitlab-oidc-project",
        digest="0" * 64 if tamper else None,
    )
    args = ["--index-url", index.url, "--offline", "--cache-dir", str(tmp_path / "cache")]
    args += ["--skip", "bundles", "--skip", "tags", "--skip", "vulnerabilities", "-q"]
    done = run_entry(tmp_path, *args, "requirements.txt", "svc/requirements-dev.txt")
    assert done.returncode == code, done.stdout + done.stderr
    assert "  VERIFIED     pypi-attestations==0.0.19" in done.stdout
    word = "FAILED      " if tamper else "VERIFIED    "
    assert f"  {word} gitlab-oidc-project==0.0.3" in done.stdout
    pages = [p for p in index.server.paths_requested() if p.startswith("/simple/")]
    assert sorted(pages) == ["/simple/gitlab-oidc-project/", "/simple/pypi-attestations/"]


def test_no_changed_lockfile_is_a_pass_without_a_run(tmp_path: Path) -> None:
    done = run_entry(tmp_path, "--index-url", "http://127.0.0.1:9")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
