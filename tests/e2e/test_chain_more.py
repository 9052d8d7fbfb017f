"""More of the chain: real production/staging bundles, rate limits, OpenPGP tags, forge keys,
and a hostile repository configuration."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.helpers import Run, run
from tests.e2e.test_chain import WHEEL, build_world, git
from tests.servers import DistFile, FakeGitHub, FakeIndex

MODELS = "pypi_attestation_models-0.0.4a2.tar.gz"
MODELS_REPO = "https://github.com/trailofbits/pypi-attestation-models"


def _real_models_release(
    index: FakeIndex, material: Material, github: FakeGitHub, bundle: bytes
) -> None:
    index.add_release(
        "pypi-attestation-models",
        "0.0.4a2",
        [DistFile(MODELS, material.read(MODELS), material.provenance(MODELS))],
        real_page=material.page("pypi-attestation-models"),
    )
    github.add_release(
        "trailofbits/pypi-attestation-models", "v0.0.4a2", {f"{MODELS}.sigstore": bundle}
    )


def _models(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    github: FakeGitHub,
    tmp_path: Path,
    *extra: str,
    close: bool = True,
) -> Run:
    try:
        return run(
            capsys,
            "pypi-attestation-models==0.0.4a2",
            "--repository",
            MODELS_REPO,
            "--index-url",
            index.url,
            "--github-api-url",
            github.url,
            "--cache-dir",
            str(tmp_path / "cache"),
            "--offline",
            "-q",
            "--skip",
            "vulnerabilities",
            "--skip",
            "tags",
            *extra,
        )
    finally:
        if close:
            github.close()


def test_real_production_bundle_on_the_github_release_verifies(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    github = FakeGitHub()
    _real_models_release(index, material, github, material.read(f"{MODELS}.sigstore"))
    result = _models(capsys, index, github, tmp_path)
    assert result.code == 0, result.out
    assert (
        f"VERIFIED     bundle         {MODELS}  {MODELS}.sigstore verified for identity "
        f"{MODELS_REPO}/.github/workflows/release.yml@refs/tags/v0.0.4a2" in result.out
    )
    assert f"[ok]   digest of {MODELS}: index-hash == attestation == bundle" in result.out
    assert (
        f"[ok]   workflow: PEP 740 == bundle == {MODELS_REPO}/.github/workflows/release.yml"
        "@refs/tags/v0.0.4a2" in result.out
    )
    assert f"[ok]   repository: all 2 certificates name {MODELS_REPO}" in result.out


def test_real_bundle_for_another_file_fails(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    github = FakeGitHub()
    # The real (staging) rfc8785 bundle attached under the models sdist's name.
    _real_models_release(
        index, material, github, material.read("rfc8785-0.1.2-py3-none-any.whl.sigstore")
    )
    result = _models(capsys, index, github, tmp_path)
    assert result.code == 1, result.out
    assert f"FAILED       bundle         {MODELS}  {MODELS}.sigstore:" in result.out


def test_real_staging_bundle_is_refused_as_staging(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    name = "rfc8785-0.1.2-py3-none-any.whl"
    index.add_release(
        "rfc8785",
        "0.1.2",
        [DistFile(name, material.read(name), None)],
        real_page=material.page("rfc8785"),
    )
    github = FakeGitHub()
    github.add_release(
        "trailofbits/rfc8785.py", "v0.1.2", {f"{name}.sigstore": material.read(f"{name}.sigstore")}
    )
    try:
        result = run(
            capsys,
            "rfc8785==0.1.2",
            "--repository",
            "https://github.com/trailofbits/rfc8785.py",
            "--index-url",
            index.url,
            "--github-api-url",
            github.url,
            "--cache-dir",
            str(tmp_path / "c"),
            "--offline",
            "-q",
            "--skip",
            "vulnerabilities",
            "--skip",
            "tags",
            "--allow-missing",
            "attestations",
        )
    finally:
        github.close()
    assert result.code == 1, result.out
    assert f"{name}.sigstore: signed by Sigstore's *staging* instance, not production" in result.out


def test_exhausted_github_rate_limit_is_unverifiable_with_the_reset_time(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    github = FakeGitHub()
    _real_models_release(index, material, github, material.read(f"{MODELS}.sigstore"))
    route = github.api.routes[github.releases_path("trailofbits/pypi-attestation-models")]
    route.fail_first = 100
    route.fail_status = 403
    route.fail_headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4102444800"}
    result = _models(capsys, index, github, tmp_path)
    assert result.code == 2, result.out
    assert "rate limited by 127.0.0.1:" in result.out
    assert "(HTTP 403): 0 requests remain; the limit resets at 2100-01-01 00:00:00 UTC" in (
        result.out
    )
    assert route.hits == 1


def test_github_429_with_retry_after_is_not_waited_for(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """A secondary rate limit (429, Retry-After) is GitHub saying "stop": no retry, no stall."""
    github = FakeGitHub()
    _real_models_release(index, material, github, material.read(f"{MODELS}.sigstore"))
    route = github.api.routes[github.releases_path("trailofbits/pypi-attestation-models")]
    route.fail_first = 1
    route.fail_status = 429
    route.retry_after = "0"
    result = _models(capsys, index, github, tmp_path)
    assert result.code == 2, result.out
    assert "(HTTP 429): the remaining requests are not stated; the limit resets at " in result.out
    assert route.hits == 1


def _gpg(home: Path, *args: str, input_: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["gpg", "--batch", "--homedir", str(home), *args],
        input=input_,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def test_openpgp_signed_tag_with_a_trusted_keyring(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    _gpg(
        home,
        "--passphrase",
        "",
        "--quick-gen-key",
        "Maintainer <m@example.org>",
        "ed25519",
        "sign",
        "never",
    )
    world = build_world(tmp_path, index, sign=False)
    git(world.repo, "tag", "-d", "v1.0.0")
    subprocess.run(
        [
            "git",
            "-C",
            str(world.repo),
            "-c",
            "gpg.program=gpg",
            "tag",
            "-s",
            "v1.0.0",
            "-m",
            "v1.0.0",
            "-u",
            "m@example.org",
        ],
        env={
            **os.environ,
            "GNUPGHOME": str(home),
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_COMMITTER_NAME": "M",
            "GIT_COMMITTER_EMAIL": "m@example.org",
        },
        check=True,
        capture_output=True,
        timeout=120,
    )
    keyring = tmp_path / "trusted.asc"
    keyring.write_bytes(_gpg(home, "--armor", "--export", "m@example.org"))
    args = [
        a
        for a in world.args("--require", "tags")
        if a not in ("--allowed-signers", str(world.signers))
    ]
    try:
        result = run(capsys, *args, "--gpg-keyring", str(keyring))
    finally:
        world.github.close()
    assert result.code == 0, result.out
    assert "signed by Maintainer <m@example.org> (OpenPGP " in result.out
    assert f"trusted keys: --gpg-keyring {keyring}" in result.out


def test_keys_from_the_forge_are_used_and_reported_as_weaker(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    world = build_world(tmp_path, index)
    world.github.add_user_keys("acme", [(tmp_path / "signing_key.pub").read_text()], [])
    args = [a for a in world.args() if a not in ("--allowed-signers", str(world.signers))]
    try:
        result = run(capsys, *args)
    finally:
        world.github.close()
    assert result.code == 0, result.out
    assert "trusted keys: keys from the forge (github.com/acme; weaker" in result.out


def test_hostile_repository_config_cannot_replace_the_verifier(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    """A clone's .git/config naming a fake ssh-keygen or an fsmonitor hook is ignored."""
    world = build_world(tmp_path, index)
    other = tmp_path / "other_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=60
    )
    world.signers.write_text(
        f'x@example.org namespaces="git" {(tmp_path / "other_key.pub").read_text()}'
    )
    marker = tmp_path / "pwned"
    fake = tmp_path / "fake-ssh-keygen"
    fake.write_text(
        f"#!/bin/sh\ntouch {marker}\n"
        "echo 'Good \"git\" signature for x@example.org with ED25519 key SHA256:x'\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    for key, value in (
        ("gpg.ssh.program", str(fake)),
        ("core.fsmonitor", str(fake)),
        ("core.hooksPath", str(tmp_path)),
    ):
        git(world.repo, "config", key, value)
    result = run(capsys, *world.args("--require", "tags"))
    world.github.close()
    assert result.code == 1, result.out
    assert "signed by an SSH key that is not among the trusted signers" in result.out
    assert not marker.exists()


def test_prerelease_tag_spellings() -> None:
    from verifier.checks.tags import tag_candidates

    assert tag_candidates("1.0.1rc0") == [
        "v1.0.1rc0",
        "v1.0.1-rc0",
        "v1.0.1-rc.0",
        "1.0.1rc0",
        "1.0.1-rc0",
        "1.0.1-rc.0",
    ]
    assert tag_candidates("2.0", "release-{version}") == ["release-2.0"]
    assert WHEEL.startswith("widget-")


def test_tags_are_cloned_from_the_forge_when_no_clone_is_given(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    world = build_world(tmp_path, index)
    bare = tmp_path / "widget.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(world.repo), str(bare)],
        check=True,
        timeout=60,
        env={**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null"},
    )
    world.github.serve_repository("acme/widget", bare)
    args = [a for a in world.args("--require", "tags") if a not in ("--git-repo", str(world.repo))]
    try:
        result = run(capsys, *args)
    finally:
        world.github.close()
    assert result.code == 0, result.out
    assert "tag v1.0.0 signed by m@example.org" in result.out
    clone = tmp_path / "cache" / "repos" / f"127.0.0.1-{world.github.api.port}" / "acme" / "widget"
    assert (clone / "HEAD").exists()
    assert not (clone / ".git").exists()  # bare


def test_distribution_attached_to_the_release_must_equal_the_index_file(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    from tests.e2e.test_chain import DATA

    good_dir, bad_dir = tmp_path / "good", tmp_path / "bad"
    good_dir.mkdir()
    bad_dir.mkdir()
    world = build_world(good_dir, index)
    world.github.add_release(
        "acme/widget",
        "v1.0.0",
        {WHEEL + ".sigstore.json": world.github.storage.routes["/storage/1"].body, WHEEL: DATA},
    )
    good = run(capsys, *world.args())
    world.github.close()
    assert good.code == 0, good.out
    assert "VERIFIED     release-asset" in good.out
    world = build_world(bad_dir, FakeIndex(index.server))
    world.github.add_release(
        "acme/widget",
        "v1.0.0",
        {
            WHEEL + ".sigstore.json": world.github.storage.routes["/storage/1"].body,
            WHEEL: DATA + b"!",
        },
    )
    bad = run(capsys, *world.args())
    world.github.close()
    assert bad.code == 1, bad.out
    assert "the copy attached to the GitHub release differs from the index's file" in bad.out


def test_git_repo_that_is_not_a_repository_is_unverifiable(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    world = build_world(tmp_path, index)
    not_a_repo = tmp_path / "plain-directory"
    not_a_repo.mkdir()
    args = [str(not_a_repo) if a == str(world.repo) else a for a in world.args()]
    try:
        result = run(capsys, *args)
    finally:
        world.github.close()
    assert result.code == 2, result.out
    assert f"{not_a_repo} is not a git repository" in result.out


def test_a_spent_rate_limit_makes_bundles_and_forge_keys_unverifiable_without_more_requests(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GitHub says stop once: the run asks nothing more, says when to try again, and how."""
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    world = build_world(tmp_path, index)
    world.github.add_user_keys("acme", [(tmp_path / "signing_key.pub").read_text()], [])
    api = world.github.api
    listing = api.routes[world.github.releases_path("acme/widget")]
    listing.fail_first = 100
    listing.fail_status = 403
    listing.fail_headers = {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "4102444800",
    }
    args = [a for a in world.args() if a not in ("--allowed-signers", str(world.signers))]
    try:
        result = run(capsys, *args)
    finally:
        world.github.close()
    assert result.code == 2, result.out
    state = "0 of 60 requests remain; the limit resets at 2100-01-01 00:00:00 UTC"
    hint = (
        "hint: set GITHUB_TOKEN: a token raises the GitHub API rate limit (60 requests an hour "
        "without one); or run again after the reset"
    )
    lines = [line.strip() for line in result.out.splitlines()]
    bundle = lines.index(
        f"UNVERIFIABLE bundle         {WHEEL}  GitHub releases of acme/widget: rate limited by "
        f"127.0.0.1:{api.port} (HTTP 403): {state}"
    )
    assert lines[bundle + 2] == hint
    tag = lines.index(
        "UNVERIFIABLE tag            widget==1.0.0                  SSH signing keys of acme: "
        f"not requested: the GitHub API rate limit was reached earlier in this run ({state})"
    )
    assert lines[tag + 2] == hint
    # One request to GitHub in the whole run: the listing that answered "limit reached".
    assert api.paths_requested() == ["/repos/acme/widget/releases"]


def test_one_release_lookup_per_package_and_a_304_on_the_second_run(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """One listing answers every tag spelling; a warm cache revalidates it (a 304 is free)."""
    github = FakeGitHub()
    _real_models_release(index, material, github, material.read(f"{MODELS}.sigstore"))
    listing = github.releases_path("trailofbits/pypi-attestation-models")
    route = github.api.routes[listing]
    try:
        first = _models(capsys, index, github, tmp_path, close=False)
        assert first.code == 0, first.out
        assert github.api.paths_requested() == [
            listing,
            "/repos/trailofbits/pypi-attestation-models/releases/assets/1",
        ]
        # Only a 304 can still verify now: a 200 would carry this body.
        route.body = b"not json"
        second = _models(capsys, index, github, tmp_path, close=False)
    finally:
        github.close()
    assert second.code == 0, second.out
    revalidated = [r for r in github.api.requests if r.path == listing]
    assert [r.headers.get("If-None-Match") for r in revalidated] == [None, route.headers["ETag"]]
