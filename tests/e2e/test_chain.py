"""End to end: PEP 740 + GitHub release bundles + a signed git tag, and the links between them.

Certificates come from a local Sigstore stack (tests/sigstore_local.py) so they can name a
commit this test creates; they are verified by sigstore's real Verifier through
``--trusted-root``. Tags are signed with throwaway SSH keys and checked by git itself.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.helpers import Run, run
from tests.servers import DistFile, FakeGitHub, FakeIndex
from tests.sigstore_local import GitHubClaims, LocalSigstore

WHEEL = "widget-1.0.0-py3-none-any.whl"
DATA = b"a wheel's bytes, as the index serves them"
TOKEN = "ghp_testtokenvalue0123456789abcdefSECRET"


def git(repo: Path, *args: str, date: str | None = None) -> str:
    """Run git in ``repo`` with a fixed identity (and ``date``, e.g. ``1767000000 +0000``, as
    the author and committer date: a tag's own date)."""
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(repo),
        "PATH": "/usr/bin:/bin",
        "GIT_AUTHOR_NAME": "Maintainer",
        "GIT_AUTHOR_EMAIL": "m@example.org",
        "GIT_COMMITTER_NAME": "Maintainer",
        "GIT_COMMITTER_EMAIL": "m@example.org",
    }
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


@dataclass
class World:
    index: FakeIndex
    github: FakeGitHub
    root: Path
    repo: Path
    signers: Path
    commit: str
    tmp: Path

    def args(self, *extra: str) -> list[str]:
        return [
            "widget==1.0.0",
            "--repository",
            "https://github.com/acme/widget",
            "--index-url",
            self.index.url,
            "--github-api-url",
            self.github.url,
            "--trusted-root",
            str(self.root),
            "--git-repo",
            str(self.repo),
            "--allowed-signers",
            str(self.signers),
            "--cache-dir",
            str(self.tmp / "cache"),
            "--offline",
            "-q",
            "--skip",
            "vulnerabilities",
            *extra,
        ]


def make_repo(tmp: Path, *, sign: bool = True, lightweight: bool = False) -> tuple[Path, Path, str]:
    repo = tmp / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("widget\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "release 1.0.0")
    key = tmp / "signing_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "m@example.org", "-f", str(key)],
        check=True,
        timeout=60,
    )
    signers = tmp / "allowed_signers"
    signers.write_text(f'm@example.org namespaces="git" {(tmp / "signing_key.pub").read_text()}')
    if lightweight:
        git(repo, "tag", "v1.0.0")
    elif sign:
        git(
            repo,
            "-c",
            "gpg.format=ssh",
            "-c",
            f"user.signingkey={key}",
            "tag",
            "-s",
            "v1.0.0",
            "-m",
            "v1.0.0",
        )
    else:
        git(repo, "tag", "-a", "v1.0.0", "-m", "v1.0.0")
    return repo, signers, git(repo, "rev-parse", "HEAD")


def build_world(
    tmp_path: Path,
    index: FakeIndex,
    *,
    claim_sha: str | None = None,
    bundle_suffix: str = ".sigstore.json",
    sign: bool = True,
    lightweight: bool = False,
    bundle_identity_repo: str = "acme/widget",
) -> World:
    repo, signers, commit = make_repo(tmp_path, sign=sign, lightweight=lightweight)
    stack = LocalSigstore()
    root = stack.write_trusted_root(tmp_path / "trusted_root.json")
    claims = GitHubClaims(
        repository="acme/widget",
        workflow="release.yml",
        ref="refs/tags/v1.0.0",
        sha=claim_sha or commit,
    )
    index.add_release(
        "widget", "1.0.0", [DistFile(WHEEL, DATA, stack.provenance(WHEEL, DATA, claims))]
    )
    bundle_claims = GitHubClaims(
        repository=bundle_identity_repo,
        workflow="release.yml",
        ref="refs/tags/v1.0.0",
        sha=claim_sha or commit,
    )
    bundle = stack.sign_artifact(DATA, bundle_claims).encode()
    github = FakeGitHub()
    github.add_release("acme/widget", "v1.0.0", {WHEEL + bundle_suffix: bundle})
    return World(index, github, root, repo, signers, commit, tmp_path)


def _run(capsys: pytest.CaptureFixture[str], world: World, *extra: str) -> Run:
    try:
        return run(capsys, *world.args(*extra))
    finally:
        world.github.close()


def test_full_chain_verifies_and_is_drawn(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    world = build_world(tmp_path, index)
    api, downloads = world.github.api, world.github.storage
    result = _run(capsys, world)
    assert result.code == 0, result.out
    assert (
        f"VERIFIED     bundle         {WHEEL}  {WHEEL}.sigstore.json verified for identity "
        "https://github.com/acme/widget/.github/workflows/release.yml@refs/tags/v1.0.0"
        in result.out
    )
    assert "tag v1.0.0 signed by m@example.org (ED25519 SHA256:" in result.out
    assert f"[ok]   commit: all 2 certificates name {world.commit} (tag v1.0.0)" in result.out
    assert "[ok]   ref: all 2 certificates name refs/tags/v1.0.0 (tag v1.0.0)" in result.out
    assert "[ok]   repository: all 2 certificates name https://github.com/acme/widget" in result.out
    assert f"[ok]   digest of {WHEEL}: index-hash == attestation == bundle" in result.out
    assert "[ok]   workflow: PEP 740 == bundle ==" in result.out
    # The token went to the API host only, never to the redirect target, and never printed.
    api_auth = [r.headers.get("Authorization") for r in api.requests]
    assert api_auth
    assert all(a == f"Bearer {TOKEN}" for a in api_auth)
    assert downloads.requests
    assert all("Authorization" not in r.headers for r in downloads.requests)
    assert TOKEN not in result.out + result.err


def test_certificate_commit_differs_from_tag_commit(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    world = build_world(tmp_path, index, claim_sha="f" * 40)
    result = _run(capsys, world)
    assert result.code == 1, result.out
    assert (
        "[FAIL] commit: the attestation certificate for widget-1.0.0-py3-none-any.whl "
        "names another source commit than tag v1.0.0" in result.out
    )
    assert f"expected: {world.commit}" in result.out
    assert f"got:      {'f' * 40}" in result.out


def test_bundle_signed_by_another_repository_fails(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    world = build_world(tmp_path, index, bundle_identity_repo="evil/widget")
    result = _run(capsys, world)
    assert result.code == 1, result.out
    assert "the bundle was signed by someone else" in result.out
    assert (
        "got:      identity https://github.com/evil/widget/.github/workflows/release.yml@"
        "refs/tags/v1.0.0" in result.out
    )


def test_release_without_bundles_names_the_glob_cause(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    world = build_world(tmp_path, index, bundle_suffix=".intoto.jsonl")
    result = _run(capsys, world, "--require", "bundles")
    assert result.code == 1, result.out
    assert (
        "the GitHub release v1.0.0 carries no Sigstore bundles (a common cause: the "
        "workflow writes <file>.sigstore.json but uploads the glob *.sigstore" in result.out
    )


@pytest.mark.parametrize(
    ("sign", "lightweight", "message"),
    [
        (False, False, "tag v1.0.0: the annotated tag is not signed"),
        (False, True, "tag v1.0.0: a lightweight tag carries no signature"),
    ],
)
def test_unsigned_tags_fail_only_when_required(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    tmp_path: Path,
    sign: bool,
    lightweight: bool,
    message: str,
) -> None:
    """An unsigned tag is an absent signature: UNVERIFIABLE here, where the tags come from a
    local clone that cannot show the project never signed (tests/e2e/test_source_history.py
    holds a forge's tags to their history), FAILED when required."""
    lenient_dir = tmp_path / "lenient"
    lenient_dir.mkdir()
    world = build_world(lenient_dir, index, sign=sign, lightweight=lightweight)
    lenient = _run(capsys, world)
    assert lenient.code == 2, lenient.out
    assert re.search(r"UNVERIFIABLE +tag ", lenient.out), lenient.out
    assert message in lenient.out
    assert (
        "policy: tags are required (default); --allow-missing tags tolerates their absence"
        in lenient.out
    )
    strict_dir = tmp_path / "strict"
    strict_dir.mkdir()
    world = build_world(strict_dir, FakeIndex(index.server), sign=sign, lightweight=lightweight)
    strict = _run(capsys, world, "--require", "tags")
    assert strict.code == 1, strict.out
    assert "policy: tags are required [--require tags]" in strict.out


def test_tag_signed_by_an_untrusted_key(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    world = build_world(tmp_path, index)
    other = tmp_path / "other_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=60
    )
    world.signers.write_text(
        f'm@example.org namespaces="git" {(tmp_path / "other_key.pub").read_text()}'
    )
    result = _run(capsys, world, "--require", "tags")
    assert result.code == 1, result.out
    assert "signed by an SSH key that is not among the trusted signers" in result.out


def test_bundle_subcommand_verifies_files_and_digests(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stack = LocalSigstore()
    root = stack.write_trusted_root(tmp_path / "root.json")
    claims = GitHubClaims(repository="acme/widget")
    bundle = tmp_path / "w.sigstore.json"
    bundle.write_text(stack.sign_artifact(DATA, claims))
    artifact = tmp_path / WHEEL
    artifact.write_bytes(DATA)
    common = [
        "bundle",
        "--bundle",
        str(bundle),
        "--certificate-oidc-issuer",
        claims.issuer,
        "--trusted-root",
        str(root),
    ]
    ok = run(capsys, *common, "--certificate-identity", claims.identity, str(artifact))
    assert ok.code == 0, ok.out
    assert (
        f"VERIFIED: sha256:{hashlib.sha256(DATA).hexdigest()} signed by {claims.identity}" in ok.out
    )
    digest = run(
        capsys,
        *common,
        "--certificate-identity",
        claims.identity,
        f"sha256:{hashlib.sha256(DATA).hexdigest()}",
    )
    assert digest.code == 0
    other = run(capsys, *common, "--certificate-identity", claims.identity, f"sha256:{'0' * 64}")
    assert other.code == 1
    assert "FAILED: signature verification failed" in other.out
    wrong = run(capsys, *common, "--certificate-identity", "https://example.org/x", str(artifact))
    assert wrong.code == 1
    assert "FAILED: the bundle was signed by someone else" in wrong.out
    assert f"got:      identity {claims.identity}" in wrong.out


def test_a_local_file_gets_the_same_chain_as_a_pin(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    # One pipeline: a distribution on disk is checked for bundles, the signed tag and the
    # cross-links exactly like NAME==VERSION (it used to get the index hash and PEP 740 only).
    world = build_world(tmp_path, index)
    local = tmp_path / WHEEL
    local.write_bytes(DATA)
    # Not --offline: for a local file that means nothing is fetched (the root is custom anyway).
    argv = [a for a in world.args() if a != "--offline"]
    argv[0] = str(local)
    try:
        result = run(capsys, *argv)
    finally:
        world.github.close()
    assert result.code == 0, result.out
    assert f"VERIFIED     index-hash     {WHEEL}  sha256 of the local file matches the index" in (
        result.out
    )
    assert f"VERIFIED     bundle         {WHEEL}  {WHEEL}.sigstore.json verified" in result.out
    assert "VERIFIED     tag            " in result.out
    assert f"[ok]   commit: all 2 certificates name {world.commit} (tag v1.0.0)" in result.out
    # A local file whose bytes differ from the index's fails, with the rest of the chain shown.
    (tmp_path / "other").mkdir()
    world = build_world(tmp_path / "other", FakeIndex(index.server))
    local.write_bytes(DATA + b"!")
    argv = [a for a in world.args() if a != "--offline"]
    argv[0] = str(local)
    try:
        tampered = run(capsys, *argv)
    finally:
        world.github.close()
    assert tampered.code == 1, tampered.out
    assert "FAILED       index-hash" in tampered.out
