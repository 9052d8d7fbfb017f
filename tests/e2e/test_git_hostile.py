"""End to end: a hostile caller environment and hostile tag objects, against real git.

Tags are signed with throwaway SSH keys and checked by git and ssh-keygen themselves; the
repository is read either from a local clone (``--git-repo``) or cloned over loopback HTTP.
Wrappers first on PATH record the environment every ``git`` and ``ssh-keygen`` child was given,
then exec the real programs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.helpers import Run, run
from tests.e2e.test_chain import World, build_world, git
from tests.servers import FakeIndex

TOKEN = "ghp_secret0token0of0the0caller0000000001"
GH_TOKEN = "gho_secret0token0of0the0caller0000000002"
ALLOWED = {
    "PATH",
    "HOME",
    "LANG",
    "TZ",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GNUPGHOME",
    # What git.py itself sets for every git child.
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_GLOBAL",
    "GIT_TERMINAL_PROMPT",
    "GIT_ASKPASS",
    "GIT_PAGER",
    "GIT_NO_REPLACE_OBJECTS",
    "LC_ALL",
    "PWD",  # set by the recording shell itself
}
INJECTED = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_KEY_0",
    "GIT_CONFIG_VALUE_0",
    "GIT_SSH_COMMAND",
    "GIT_EXEC_PATH",
)


def _recorders(tmp: Path) -> tuple[Path, Path]:
    """``bin/git`` and ``bin/ssh-keygen`` that save their environment, then run the real ones."""
    bin_dir, records = tmp / "bin", tmp / "records"
    bin_dir.mkdir()
    records.mkdir()
    for name in ("git", "ssh-keygen"):
        real = shutil.which(name)
        assert real is not None
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nenv -0 > "{records}/{name}.$$"\nexec {real} "$@"\n')
        wrapper.chmod(0o755)
    return bin_dir, records


def _environments(records: Path, name: str) -> list[dict[str, str]]:
    found = []
    for path in sorted(records.glob(f"{name}.*")):
        entries = [e for e in path.read_bytes().decode().split("\0") if e]
        found.append(dict(e.split("=", 1) for e in entries))
    return found


def _caller_repository(tmp: Path) -> Path:
    """The caller's own repository, whose tag v1.0.0 (unsigned) must never be read or moved."""
    other = tmp / "caller-repo"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    (other / "file").write_text("the caller's work\n")
    git(other, "add", "file")
    git(other, "commit", "-q", "-m", "caller")
    git(other, "tag", "-a", "v1.0.0", "-m", "the caller's own tag")
    return other


def _state(repo: Path) -> tuple[str, list[str]]:
    files = sorted(str(p.relative_to(repo)) for p in (repo / ".git").rglob("*") if p.is_file())
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)"), files


def _hostile_environment(monkeypatch: pytest.MonkeyPatch, tmp: Path, other: Path) -> Path:
    bin_dir, records = _recorders(tmp)
    fake = tmp / "fake-ssh"
    fake.write_text(f"#!/bin/sh\ntouch {tmp / 'pwned'}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GH_TOKEN", GH_TOKEN)
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", str(other / ".git" / "objects"))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "gpg.ssh.program")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(fake))
    monkeypatch.setenv("GIT_SSH_COMMAND", str(fake))
    monkeypatch.setenv("GIT_EXEC_PATH", str(tmp / "no-such-exec-path"))
    return records


def _serve(world: World, tmp: Path) -> list[str]:
    """Serve the world's repository over loopback HTTP; the arguments that clone it from there."""
    bare = tmp / "widget.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(world.repo), str(bare)],
        check=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"},
    )
    world.github.serve_repository("acme/widget", bare)
    return [a for a in world.args() if a not in ("--git-repo", str(world.repo))]


def _run(capsys: pytest.CaptureFixture[str], world: World, args: list[str], *extra: str) -> Run:
    try:
        return run(capsys, *args, *extra)
    finally:
        world.github.close()


@pytest.mark.parametrize("source", ["local", "http"])
def test_children_get_no_tokens_and_no_caller_git_variables(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    world = build_world(tmp_path, index)
    other = _caller_repository(tmp_path)
    before = _state(other)
    args = _serve(world, tmp_path) if source == "http" else world.args()
    records = _hostile_environment(monkeypatch, tmp_path, other)

    result = _run(capsys, world, args, "--require", "tags")

    assert result.code == 0, result.out
    assert "tag v1.0.0 signed by m@example.org (ED25519 SHA256:" in result.out
    assert f"(commit {world.commit})" in result.out
    gits, keygens = _environments(records, "git"), _environments(records, "ssh-keygen")
    assert gits
    assert keygens  # git ran the real ssh-keygen, found on PATH, to verify the tag
    for env in gits:
        assert set(env) <= ALLOWED, sorted(set(env) - ALLOWED)
        assert not set(INJECTED) & set(env)
    hostile = (TOKEN, GH_TOKEN, str(other), "no-such-exec-path", "fake-ssh")
    for env in gits + keygens:
        # git itself exports GIT_DIR and GIT_EXEC_PATH to ssh-keygen: its own, never the caller's.
        assert not (set(INJECTED) - {"GIT_DIR", "GIT_EXEC_PATH"}) & set(env)
        assert not [v for v in env.values() if any(h in v for h in hostile)]
    assert not (tmp_path / "pwned").exists()
    assert _state(other) == before


def _republish_v09_as_v100(world: World) -> None:
    """Sign v0.9 on the release commit, and publish that signed object as refs/tags/v1.0.0."""
    git(world.repo, "tag", "-d", "v1.0.0")
    _sign(world, "v0.9", "HEAD")
    git(world.repo, "update-ref", "refs/tags/v1.0.0", git(world.repo, "rev-parse", "v0.9"))


def _sign(world: World, name: str, target: str) -> None:
    git(
        world.repo,
        "-c",
        "gpg.format=ssh",
        "-c",
        f"user.signingkey={world.tmp / 'signing_key'}",
        "tag",
        "-s",
        name,
        target,
        "-m",
        name,
    )


@pytest.mark.parametrize("source", ["local", "http"])
def test_a_signed_tag_republished_under_another_name_fails(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path, source: str
) -> None:
    world = build_world(tmp_path, index)
    _republish_v09_as_v100(world)
    # git's own verifier is content with it: the signature is good.
    assert (
        "Good"
        in subprocess.run(
            [
                *("git", "-C", str(world.repo)),
                *("-c", f"gpg.ssh.allowedSignersFile={world.signers}", "verify-tag", "v1.0.0"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null"},
            check=True,
        ).stderr
    )
    args = _serve(world, tmp_path) if source == "http" else world.args()

    result = _run(capsys, world, args, "--format", "json")  # tags are not required

    assert result.code == 1, result.out
    [finding] = [f for f in result.findings() if f["check"] == "tag"]
    assert finding["outcome"] == "failed"
    assert finding["message"] == (
        "tag v1.0.0: the signed tag object names tag v0.9 (a tag re-published under another name)"
    )
    assert finding["expected"] == "v1.0.0"
    assert finding["actual"] == "v0.9"
    assert finding["policy"] == "a signed tag must carry the name it is published under"


@pytest.mark.parametrize(
    ("target", "kind"),
    [("v0.9", "tag"), ("HEAD^{tree}", "tree")],
)
def test_a_signed_tag_of_anything_but_a_commit_fails(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path, target: str, kind: str
) -> None:
    world = build_world(tmp_path, index)
    git(world.repo, "tag", "-d", "v1.0.0")
    _sign(world, "v0.9", "HEAD")
    _sign(world, "v1.0.0", target)

    result = _run(capsys, world, world.args("--format", "json"))

    assert result.code == 1, result.out
    [finding] = [f for f in result.findings() if f["check"] == "tag"]
    assert finding["outcome"] == "failed"
    assert (
        finding["message"] == f"tag v1.0.0: the signed tag object points at a {kind}, not a commit"
    )
    assert finding["expected"] == "commit"
    assert finding["actual"] == kind
    assert finding["policy"] == "a release tag must point at a commit"
