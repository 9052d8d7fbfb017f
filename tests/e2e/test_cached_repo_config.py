"""A cached tag repository is input: its own config must not redirect git or run commands."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from verifier.errors import VerifierError
from verifier.git import GitRepo


def test_a_planted_cache_repository_config_cannot_run_commands(tmp_path: Path) -> None:
    # What the pipeline would reuse as cache/repos/<host>/<owner>/<repo> (pipeline.py:730).
    url = "http://127.0.0.1:9/acme/widget.git"
    dest = tmp_path / "cache" / "repos" / "127.0.0.1-9" / "acme" / "widget"
    target = tmp_path / "target.git"
    marker = tmp_path / "PWNED"
    for path in (dest, target):
        path.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    with (dest / "config").open("a") as config:
        config.write(
            f'[url "file://{target}"]\n\tinsteadOf = {url}\n'
            f'[remote "{url}"]\n\tuploadpack = "touch {marker}; git-upload-pack"\n'
        )
    with contextlib.suppress(VerifierError):
        GitRepo.fetch_tag(url, dest, ["v1.0.0"])
    assert not marker.exists(), "git ran a command named by the cached repository's config"
    # Not the repository this tool leaves: it was started again from nothing.
    assert "insteadOf" not in (dest / "config").read_text()
    assert GitRepo(dest).holds_only_own_config()


def test_a_repository_with_borrowed_objects_is_not_ours(tmp_path: Path) -> None:
    dest = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "--bare", str(dest)], check=True)
    assert GitRepo(dest).holds_only_own_config()
    (dest / "objects" / "info" / "alternates").write_text(str(tmp_path / "elsewhere") + "\n")
    assert not GitRepo(dest).holds_only_own_config()
