"""Real repositories of a real size, made quickly: ``git fast-import`` writes the history.

A release tag check must cost the same on a repository with thousands of commits and hundreds
of tags as on a toy one; these helpers build such a repository in well under a second.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.test_chain import git

FILES = 40
"""Files in the tree, one changed per commit (so every commit has a new tree and blob)."""


def write_history(repo: Path, commits: int, *, tag_every: int = 0) -> str:
    """Add ``commits`` commits to ``main`` of ``repo`` (and an annotated tag ``v0.0.N`` on every
    ``tag_every``-th one); the object id of the last commit."""
    lines: list[bytes] = []
    for number in range(1, commits + 1):
        message = f"change {number}\n".encode()
        content = (f"revision {number}\n" * 8).encode()
        lines += [
            b"commit refs/heads/main",
            f"mark :{number}".encode(),
            f"committer Maintainer <m@example.org> {1_600_000_000 + number} +0000".encode(),
            f"data {len(message)}".encode(),
            message,
        ]
        if number > 1:
            lines.append(f"from :{number - 1}".encode())
        lines += [
            f"M 644 inline src/module{number % FILES}.py".encode(),
            f"data {len(content)}".encode(),
            content,
        ]
        if tag_every and number % tag_every == 0:
            note = f"v0.0.{number}\n".encode()
            lines += [
                f"tag v0.0.{number}".encode(),
                f"from :{number}".encode(),
                f"tagger Maintainer <m@example.org> {1_600_000_000 + number} +0000".encode(),
                f"data {len(note)}".encode(),
                note,
            ]
    subprocess.run(
        ["git", "-C", str(repo), "fast-import", "--quiet"],
        input=b"\n".join(lines) + b"\n",
        check=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"},
    )
    return git(repo, "rev-parse", "refs/heads/main")


def big_repository(tmp: Path, commits: int, *, tag_every: int) -> tuple[Path, Path, Path]:
    """A bare repository of ``commits`` commits whose tip carries the SSH-signed tag ``v1.0.0``.

    Returns (the bare repository, the signing key, an allowed-signers file trusting it).
    """
    bare = tmp / "big.git"
    bare.mkdir()
    git(bare, "init", "-q", "--bare", "-b", "main")
    write_history(bare, commits, tag_every=tag_every)
    key = tmp / "big_signing_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "m@example.org", "-f", str(key)],
        check=True,
        timeout=60,
    )
    signers = tmp / "big_allowed_signers"
    signers.write_text(f'm@example.org namespaces="git" {Path(f"{key}.pub").read_text()}')
    sign_tag(bare, key, "v1.0.0", "main")
    return bare, key, signers


def sign_tag(repo: Path, key: Path, name: str, target: str, date: str | None = None) -> None:
    """``git tag -s -f NAME TARGET`` with the SSH key ``key`` (made at ``date``, if given)."""
    git(
        repo,
        *("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"),
        *("tag", "-s", "-f", name, target, "-m", name),
        date=date,
    )
