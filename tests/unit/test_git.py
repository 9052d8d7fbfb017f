"""Git as a child process: its environment, and tag objects read as the hostile input they are.

Repositories are real (``git init`` in tmp); hostile tag objects are written with
``git hash-object --literally``, which stores what ``git tag``/``git mktag`` would refuse.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_chain import git
from verifier.checks.tags import TagTrust, check_tag
from verifier.childenv import child_environment
from verifier.errors import UpstreamError
from verifier.git import GIT_SETTINGS, GitRepo, parse_remote_tags, parse_tag_object, safe_env
from verifier.judge import judge
from verifier.models import Outcome
from verifier.policy import Policy

OID = "0123456789abcdef0123456789abcdef01234567"
TAGGER = "tagger Maintainer <m@example.org> 1700000000 +0000"


def test_child_environment_is_an_allow_list() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "LC_CTYPE": "C.UTF-8",
        "TZ": "UTC",
        "TMPDIR": "/tmp/u",
        "https_proxy": "http://proxy:3128",
        "NO_PROXY": "localhost",
        "REQUESTS_CA_BUNDLE": "/etc/ca.pem",
        "SSL_CERT_FILE": "/etc/ca.pem",
        "GITHUB_TOKEN": "ghp_secret",
        "GH_TOKEN": "gho_secret",
        "AWS_SECRET_ACCESS_KEY": "nobody-listed-this",
        "GIT_DIR": "/some/other/repo",
        "GIT_CONFIG_COUNT": "1",
        "GIT_SSH_COMMAND": "evil",
        "PIP_AUDIT_OUTPUT": "/dev/null",
        "LD_PRELOAD": "/tmp/evil.so",
        "PYTHONPATH": "/tmp/evil",
    }
    assert child_environment({"GNUPGHOME": "/g"}, environ=environ) == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "LC_CTYPE": "C.UTF-8",
        "TZ": "UTC",
        "TMPDIR": "/tmp/u",
        "https_proxy": "http://proxy:3128",
        "NO_PROXY": "localhost",
        "REQUESTS_CA_BUNDLE": "/etc/ca.pem",
        "SSL_CERT_FILE": "/etc/ca.pem",
        "GNUPGHOME": "/g",
    }


def test_a_token_is_never_an_explicit_addition() -> None:
    with pytest.raises(ValueError, match=r"^GH_TOKEN must never be given to a child process$"):
        child_environment({"GH_TOKEN": "x"}, environ={})


def test_git_settings_win_over_the_caller_and_the_additions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GIT_DIR", "/some/other/repo")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/home/u/.gitconfig")
    env = safe_env({"GNUPGHOME": "/g", "GIT_CONFIG_NOSYSTEM": "0"})
    assert env["GNUPGHOME"] == "/g"
    assert {k: env[k] for k in GIT_SETTINGS} == GIT_SETTINGS
    assert "GIT_DIR" not in env
    assert "GITHUB_TOKEN" not in env  # conftest sets the canary as GITHUB_TOKEN


def _repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "f").write_text("f\n")
    git(path, "add", "f")
    git(path, "commit", "-q", "-m", "c")
    return path


def test_git_reads_the_repository_it_is_given_whatever_git_dir_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitPython's ``execute(env=...)`` merged os.environ back in: GIT_DIR re-aimed every call."""
    repo, other = _repo(tmp_path / "repo"), _repo(tmp_path / "other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    _, out, _ = GitRepo(repo).run(["rev-parse", "--absolute-git-dir"])
    assert out.strip() == str(repo / ".git")


def test_a_missing_git_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from verifier.errors import UsageError

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match=r"^git is not installed or not on PATH$") as raised:
        GitRepo(tmp_path).run(["status"])
    assert raised.value.hint == "install git, or pass --skip tags"


def test_a_tag_object_is_read_from_its_headers() -> None:
    body = f"object {OID}\ntype commit\ntag v1.0.0\n{TAGGER}\n\nv1.0.0\ntag v0.9\n"
    headers = parse_tag_object(body)
    assert (headers.object, headers.type, headers.tag, headers.tagger) == (
        OID,
        "commit",
        "v1.0.0",
        "Maintainer <m@example.org>",
    )
    # A message line is not a header, and extra headers with continuation lines are fine.
    signed = f"object {OID}\ntype tag\ntag v2\n{TAGGER}\ngpgsig -----BEGIN\n more\n\nmsg\n"
    assert parse_tag_object(signed).type == "tag"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (f"object {OID}\ntype commit\ntag v1.0.0\ntag v0.9\n\n", "the 'tag' header appears twice"),
        (f"type commit\nobject {OID}\ntag v1\n\n", "its headers begin type object tag, not object"),
        (f"object {OID}\ntype commit\n{TAGGER}\n\n", "its headers begin object type tagger, not"),
        ("", "its headers begin (none), not object type tag"),
        (f"object {OID[:-1]}\ntype commit\ntag v1\n\n", f"'object {OID[:-1]}' is not an object"),
        (f"object {OID}\ntype commitx\ntag v1\n\n", "'type commitx' is not an object type"),
        (f"object {OID}\ntype commit\ntag \n\n", "the 'tag' header is empty"),
        (f"object {OID}\ntype commit\ntag v1.0.0\rtag v0.9\n\n", "header line 3 holds a control"),
        (f"object {OID}\ntype commit\ntag v1\x00\n\n", "header line 3 holds a control character"),
        (f" object {OID}\ntype commit\ntag v1\n\n", "it starts with a continuation line"),
        (f"object {OID}\ntype commit\ntag v1\nnovalue\n\n", "header line 4 is not 'name value'"),
    ],
)
def test_hostile_tag_objects_are_refused(body: str, why: str) -> None:
    from verifier.git import MalformedTagError

    with pytest.raises(MalformedTagError) as raised:
        parse_tag_object(body)
    assert raised.value.message.startswith(f"the tag object is malformed: {why}")
    assert raised.value.hint == "git never writes such a tag; re-create the tag with git tag -s"


def _literal_tag(repo: Path, body: str) -> None:
    done = subprocess.run(
        ["git", "-C", str(repo), "hash-object", "-t", "tag", "-w", "--literally", "--stdin"],
        input=body,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null"},
    )
    git(repo, "update-ref", "refs/tags/v1.0.0", done.stdout.strip())


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            "object {commit}\ntype commit\ntag v1.0.0\ntag v0.9\n",
            "tag v1.0.0: the tag object is malformed: the 'tag' header appears twice",
        ),
        (
            "object {tree}\ntype commit\ntag v1.0.0\n",
            "tag v1.0.0: the tag object is malformed: it says 'type commit' of a tree",
        ),
    ],
)
def test_a_malformed_tag_object_fails_even_when_tags_are_not_required(
    tmp_path: Path, headers: str, message: str
) -> None:
    repo = _repo(tmp_path / "repo")
    ids = {"commit": git(repo, "rev-parse", "HEAD"), "tree": git(repo, "rev-parse", "HEAD^{tree}")}
    _literal_tag(repo, headers.format(**ids) + f"{TAGGER}\n\nv1.0.0\n")
    signers = tmp_path / "allowed_signers"
    signers.write_text("")
    trust = TagTrust("test", {}, (f"gpg.ssh.allowedSignersFile={signers}",))

    result, answer = check_tag(GitRepo(repo), ["v1.0.0"], trust, "widget==1.0.0")
    finding = judge(result, Policy())

    assert answer is None
    assert finding.outcome is Outcome.FAILED
    assert finding.message == message
    assert finding.expected == "v1.0.0"
    assert finding.policy == "a signed tag must carry the name it is published under"


def test_remote_tags_are_read_from_ls_remote() -> None:
    other = "f" * 64
    listing = f"{OID}\trefs/tags/v1.0.0\n{other}\trefs/tags/release/2.0\n"
    assert parse_remote_tags(listing) == {"v1.0.0": OID, "release/2.0": other}
    assert parse_remote_tags("") == {}


NOT_A_TAG_LINE = "which is not 'OBJECT-ID<TAB>refs/tags/NAME'"


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        (f"{OID}\trefs/heads/main\n", f"line 1, {NOT_A_TAG_LINE}: '{OID}\\trefs/heads/main'"),
        (
            f"{OID}\trefs/tags/v1\n{OID}\trefs/tags/v1^{{}}\n",
            f"line 2, {NOT_A_TAG_LINE}: '{OID}\\trefs/tags/v1^{{}}'",
        ),
        (f"{OID[:-1]}\trefs/tags/v1\n", f"line 1, {NOT_A_TAG_LINE}: '{OID[:-1]}\\trefs/tags/v1'"),
        (f"{OID}\trefs/tags/v1 v2\n", f"line 1, {NOT_A_TAG_LINE}: '{OID}\\trefs/tags/v1 v2'"),
        (
            f"{OID}\trefs/tags/v1\x1b[2K\n",
            f"line 1, {NOT_A_TAG_LINE}: '{OID}\\trefs/tags/v1\\x1b[2K'",
        ),
    ],
)
def test_hostile_ls_remote_output_is_refused(listing: str, message: str) -> None:
    with pytest.raises(UpstreamError) as raised:
        parse_remote_tags(listing)
    assert raised.value.message == f"git ls-remote answered {message}"
    assert raised.value.hint == (
        "the remote is not a git server, or answers something else for tags; "
        "use --git-repo PATH with a clone you trust"
    )


def test_a_tag_advertised_twice_is_refused() -> None:
    with pytest.raises(UpstreamError) as raised:
        parse_remote_tags(f"{OID}\trefs/tags/v1\n{'0' * 40}\trefs/tags/v1\n")
    assert raised.value.message == "git ls-remote advertised tag 'v1' twice"


def test_too_many_remote_tags_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("verifier.git.REMOTE_TAG_LIMIT", 2)
    with pytest.raises(UpstreamError) as raised:
        parse_remote_tags("".join(f"{OID}\trefs/tags/v{n}\n" for n in range(3)))
    assert raised.value.message == "git ls-remote listed more than 2 tags"
