"""Git, run safely: argv lists, a timeout, and no configuration that could run commands.

Repository data is untrusted. Git's own verifier (``git verify-tag``) checks signatures, but the
programs it calls for that are pinned on the command line (``-c gpg.program=gpg`` and friends),
and user, system and repository hooks, fsmonitor and pagers are disabled, so neither a user's
config nor a hostile clone's ``.git/config`` can substitute a "verifier" that always says yes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from verifier.errors import UpstreamError, UsageError

GIT_TIMEOUT = 120.0
_SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "gpg.program=gpg",
    "gpg.openpgp.program=gpg",
    "gpg.ssh.program=ssh-keygen",
    "gpg.x509.program=gpgsm",
    "protocol.allow=never",
    "protocol.https.allow=always",
    "protocol.file.allow=always",
    "credential.helper=",
)


@dataclass(frozen=True)
class TagSignature:
    """What ``git verify-tag`` concluded about one tag."""

    tag: str
    kind: str
    """``annotated``, ``lightweight``."""
    signed: bool
    signature_format: str | None
    """``openpgp``, ``ssh`` or ``x509``."""
    good: bool
    signer: str | None
    """Key fingerprint and principal/user id, as git reported them."""
    commit: str
    tagger: str | None
    detail: str


def safe_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for git that ignores global/system config and never prompts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_PAGER": "cat",
            "LC_ALL": "C",
        }
    )
    for secret in ("GITHUB_TOKEN", "GH_TOKEN"):
        env.pop(secret, None)
    if extra:
        env.update(extra)
    return env


class GitRepo:
    """A local repository (an existing clone, or a bare tags-only clone in the cache)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        timeout: float = GIT_TIMEOUT,
    ) -> tuple[int, str, str]:
        """``git -C PATH -c SAFE... ARGS`` through gitpython; (status, stdout, stderr)."""
        from git import Git
        from git.exc import GitCommandError, GitCommandNotFound

        argv = ["git", "-C", str(self.path)]
        for item in _SAFE_CONFIG:
            argv += ["-c", item]
        args = list(args)
        while args[:1] == ["-c"]:  # per-call settings go after (and so override) the safe ones
            argv += args[:2]
            args = args[2:]
        argv += args
        try:
            status, out, err = Git().execute(
                argv,
                with_extended_output=True,
                with_exceptions=False,
                kill_after_timeout=timeout,
                env=safe_env(env),
                stdout_as_string=True,
            )
        except GitCommandNotFound:
            raise UsageError("git is not installed or not on PATH") from None
        except GitCommandError as exc:
            raise UpstreamError(f"git {args[0]} failed: {exc.stderr.strip()[:200]}") from None
        if check and status != 0:
            lines = str(err).strip().splitlines()
            raise UpstreamError(f"git {args[0]} failed: {lines[-1] if lines else f'exit {status}'}")
        return int(status), str(out), str(err)

    @classmethod
    def clone_tags(cls, url: str, dest: Path) -> GitRepo:
        """A bare, blobless clone holding only tags (and the commits they point to).

        https only (plain http to a loopback address is allowed, like the index, for tests and
        local mirrors); the fetch goes through the same pinned, config-free git.
        """
        from verifier.http import check_url

        check_url(url)
        dest.mkdir(parents=True, exist_ok=True)
        repo = cls(dest)
        if not (dest / "HEAD").exists():
            repo.run(["init", "--bare", "-q"])
        if url.startswith("http://"):
            # Loopback mirrors may speak git's "dumb" HTTP, where a partial-clone filter makes
            # git 2.39 wait forever; the forge (https, smart HTTP) gets the blobless fetch.
            opts = ["-c", "protocol.http.allow=always", "fetch"]
        else:
            opts = ["fetch", "--filter=blob:none"]
        repo.run([*opts, "--quiet", "--no-tags", "--force", url, "+refs/tags/*:refs/tags/*"])
        return repo

    def check(self) -> None:
        """Refuse a path that is not a git repository, with git's own words."""
        status, _, err = self.run(["rev-parse", "--git-dir"], check=False)
        if status != 0:
            raise UpstreamError(f"{self.path} is not a git repository ({err.strip() or status})")

    def tag_exists(self, tag: str) -> bool:
        """Whether ``refs/tags/TAG`` exists."""
        status, _, _ = self.run(
            ["rev-parse", "--verify", "--quiet", f"refs/tags/{tag}"], check=False
        )
        return status == 0

    def verify_tag(
        self, tag: str, env: Mapping[str, str] | None = None, config: Sequence[str] = ()
    ) -> TagSignature:
        """Ask git's own verifier about ``tag``; never raises for a bad or missing signature."""
        ref = f"refs/tags/{tag}"
        _, kind, _ = self.run(["cat-file", "-t", ref])
        _, commit, _ = self.run(["rev-parse", f"{ref}^{{commit}}"])
        kind, commit = kind.strip(), commit.strip()
        if kind != "tag":
            return TagSignature(
                tag,
                "lightweight",
                False,
                None,
                False,
                None,
                commit,
                None,
                "a lightweight tag carries no signature",
            )
        _, body, _ = self.run(["cat-file", "tag", ref])
        tagger = next(
            (
                line[len("tagger ") :].rsplit(" ", 2)[0]
                for line in body.splitlines()
                if line.startswith("tagger ")
            ),
            None,
        )
        fmt = _signature_format(body)
        if fmt is None:
            return TagSignature(
                tag,
                "annotated",
                False,
                None,
                False,
                None,
                commit,
                tagger,
                "the annotated tag is not signed",
            )
        extra: list[str] = []
        for item in config:
            extra += ["-c", item]
        status, out, err = self.run([*extra, "verify-tag", "--raw", ref], env=env, check=False)
        output = f"{out}\n{err}"
        signer = _signer(fmt, output)
        good = status == 0 and signer is not None
        detail = _verify_detail(fmt, output, good)
        return TagSignature(tag, "annotated", True, fmt, good, signer, commit, tagger, detail)


def _signature_format(body: str) -> str | None:
    if "-----BEGIN PGP SIGNATURE-----" in body:
        return "openpgp"
    if "-----BEGIN SSH SIGNATURE-----" in body:
        return "ssh"
    if "-----BEGIN SIGNED MESSAGE-----" in body:
        return "x509"
    return None


_SSH_GOOD = re.compile(r'Good "git" signature for (?P<who>\S+) with (?P<alg>\S+) key (?P<fp>\S+)')
_GPG_VALID = re.compile(r"\[GNUPG:\] VALIDSIG (?P<fp>[0-9A-F]+)")
_GPG_GOOD = re.compile(r"\[GNUPG:\] GOODSIG (?P<keyid>[0-9A-F]+) (?P<uid>.*)")


def _signer(fmt: str, output: str) -> str | None:
    if fmt == "ssh":
        match = _SSH_GOOD.search(output)
        return f"{match['who']} ({match['alg']} {match['fp']})" if match else None
    valid, good = _GPG_VALID.search(output), _GPG_GOOD.search(output)
    if valid and good:
        return f"{good['uid'].strip()} (OpenPGP {valid['fp']})"
    return None


def _verify_detail(fmt: str, output: str, good: bool) -> str:
    if good:
        return "signature verified by git"
    if fmt == "ssh":
        if (
            "No principal matched" in output
            or "allowedSignersFile needs to be configured" in output
        ):
            return "signed by an SSH key that is not among the trusted signers"
        return "the SSH signature did not verify"
    if fmt == "x509":
        return "the x509 (gpgsm) signature did not verify"
    if "NO_PUBKEY" in output:
        keyid = re.search(r"NO_PUBKEY (\S+)", output)
        return f"signed by an OpenPGP key that is not trusted here ({keyid[1] if keyid else '?'})"
    if "BADSIG" in output:
        return "the OpenPGP signature is bad (tag or key tampered)"
    if "EXPKEYSIG" in output or "REVKEYSIG" in output:
        return "signed by an expired or revoked OpenPGP key"
    return "the OpenPGP signature did not verify"
