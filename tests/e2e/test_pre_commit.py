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
from verifier.errors import UsageError
from verifier.precommit import FILES, hook_argv

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
    """What the hook's pattern passes becomes a --lockfile; any other passed file is refused."""
    assert (re.search(hook()["files"], path) is not None) == matches
    if matches:
        assert hook_argv(["-q", path]) == ["-q", f"--lockfile={path}"]
    else:
        with pytest.raises(UsageError, match="is not a lockfile the hook verifies"):
            hook_argv(["-q", path])


def test_the_entry_matches_files_with_the_hooks_own_pattern() -> None:
    """One pattern: a file pre-commit passes is one the entry recognises, and no other."""
    assert hook()["files"] == FILES


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


def _transport(index: FakeIndex, tmp_path: Path) -> list[str]:
    args = ["--index-url", index.url, "--offline", "--cache-dir", str(tmp_path / "cache")]
    return [*args, "--skip", "bundles", "--skip", "tags", "--skip", "vulnerabilities", "-q"]


def test_a_lockfile_under_a_dash_directory_is_verified_not_read_as_an_option(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """Every trailing argument the hook's pattern matches is a file, whatever it starts with: a
    pull request's `--cache-dir=x/requirements.txt` is verified, never read as an option."""
    serve_all(index, material)
    lockfile(tmp_path / "requirements.txt", material, "pypi-attestations")
    hostile = "--cache-dir=x/requirements.txt"
    lockfile(tmp_path / hostile, material, "gitlab-oidc-project", digest="0" * 64)
    # pre-commit passes paths in git's (sorted) order: '-' sorts before letters.
    done = run_entry(tmp_path, *_transport(index, tmp_path), hostile, "requirements.txt")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "  FAILED       gitlab-oidc-project==0.0.3" in done.stdout
    assert not (tmp_path / "x").exists()


def test_a_passed_file_the_entry_does_not_recognise_is_a_usage_error(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """A user widens `files:` to `requirements/*.txt`; pre-commit passes `requirements/prod.txt`,
    which the entry does not recognise: exit 3 with one clear line, never a silent exit 0."""
    serve_all(index, material)
    lockfile(
        tmp_path / "requirements" / "prod.txt", material, "gitlab-oidc-project", digest="0" * 64
    )
    done = run_entry(tmp_path, *_transport(index, tmp_path), "requirements/prod.txt")
    assert (done.returncode, done.stdout) == (3, ""), done.stderr
    assert done.stderr.splitlines() == [
        "verify-release-pre-commit: error: 'requirements/prod.txt' is not a lockfile the hook "
        "verifies (the path must match the hook's files pattern: uv.lock, poetry.lock, "
        "pylock.toml, pylock.NAME.toml or requirements*.txt)",
        "hint: keep the hook's default files pattern, or verify such a file with verify-release "
        "--lockfile FILE",
    ]
    assert index.server.paths_requested() == []


def test_every_file_the_hook_pattern_matches_is_verified(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """The hook's pattern matches `requirements\\x.txt` (a legal POSIX file name): the entry,
    using the same pattern, verifies it rather than passing a commit without a run."""
    name = "requirements\\x.txt"
    assert re.search(hook()["files"], name) is not None
    serve_all(index, material)
    lockfile(tmp_path / name, material, "gitlab-oidc-project", digest="0" * 64)
    done = run_entry(tmp_path, *_transport(index, tmp_path), name)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "verdict: FAILED (exit 1) - 1 failed, 1 skipped" in done.stdout
