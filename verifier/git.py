"""Git, run safely: argv lists, a timeout, and no configuration that could run commands.

Repository data is untrusted. Git's own verifier (``git verify-tag``) checks signatures, but the
programs it calls for that are pinned on the command line (``-c gpg.program=gpg`` and friends),
and user, system and repository hooks, fsmonitor and pagers are disabled, so neither a user's
config nor a hostile clone's ``.git/config`` can substitute a "verifier" that always says yes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from verifier import affinity
from verifier.childenv import child_environment
from verifier.children import tracked
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
    "protocol.file.allow=never",
    "credential.helper=",
)
_OWN_CONFIG = frozenset(
    {
        "core.repositoryformatversion",
        "core.filemode",
        "core.bare",
        "core.ignorecase",
        "core.precomposeunicode",
        "core.logallrefupdates",
        "extensions.partialclone",
    }
)
"""The only keys a repository verify-release made holds in its own config. A cached (or
evidence) repository is input like any other: ``url.*.insteadOf``, ``remote.*.uploadpack`` and
friends in it would redirect or run commands, so one with anything else is not used."""


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
    object_name: str | None = None
    """The name in the tag object's own ``tag`` header (None: a lightweight or malformed tag).
    A signature covers this name, not the ref, so a ``refs/tags/NAME`` whose object names another
    tag is a signed tag re-published under a name its signer never gave it."""
    object_type: str | None = None
    """The ``type`` header: what the tag object points at (a release tag points at a commit)."""


GIT_SETTINGS = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "",
    "GIT_PAGER": "cat",
    "GIT_NO_REPLACE_OBJECTS": "1",
    "LC_ALL": "C",
}
"""Set for every git child: no user/system config, no prompts, no replace refs (a hostile
clone's ``refs/replace/`` would otherwise swap the objects git shows and verifies), C messages."""
TAG_OBJECT_LIMIT = 1024 * 1024
"""The largest tag object read; a release tag is a few KiB."""
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_OBJECT_TYPES = ("commit", "tree", "blob", "tag")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def safe_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a git child.

    The allow-list of ``child_environment``, then ``extra`` (``GNUPGHOME``), then
    ``GIT_SETTINGS``, which nothing overrides.

    Nothing else of this process's environment reaches git or the ssh-keygen/gpg it runs: not a
    token, and not the caller's ``GIT_DIR``/``GIT_CONFIG_*``/``GIT_SSH_COMMAND``, which would make
    git read (and a fetch overwrite) another repository or run another program.
    """
    return {**child_environment(extra), **GIT_SETTINGS}


@dataclass(frozen=True)
class TagObject:
    """The headers of an annotated tag object, as git wrote them and the signature covers them."""

    object: str
    type: str
    tag: str
    tagger: str | None


def parse_tag_object(body: str) -> TagObject:
    """The headers of ``git cat-file tag`` output, read strictly (the object is hostile).

    Headers run to the first empty line and come in git's order: ``object``, ``type``, ``tag``,
    optionally ``tagger``, then any others (``gpgsig`` ...); continuation lines start with a
    space. Anything else, a repeated header or a control character raises ``UpstreamError``.
    """
    head = body.split("\n\n", 1)[0]
    lines = head.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    names: list[str] = []
    values: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if _CONTROL.search(line):
            raise _malformed(f"header line {number} holds a control character")
        if line.startswith(" "):
            if not names:
                raise _malformed("it starts with a continuation line")
            continue
        name, space, value = line.partition(" ")
        if not space or not name:
            raise _malformed(f"header line {number} is not 'name value'")
        if name in values:
            raise _malformed(f"the {name!r} header appears twice")
        names.append(name)
        values[name] = value
    if names[:3] != ["object", "type", "tag"]:
        first = " ".join(names[:3]) or "(none)"
        raise _malformed(f"its headers begin {first}, not object type tag")
    if not _OBJECT_ID.fullmatch(values["object"]):
        raise _malformed(f"'object {values['object'][:80]}' is not an object id")
    if values["type"] not in _OBJECT_TYPES:
        raise _malformed(f"'type {values['type'][:80]}' is not an object type")
    if not values["tag"]:
        raise _malformed("the 'tag' header is empty")
    tagger = values.get("tagger")
    return TagObject(
        object=values["object"],
        type=values["type"],
        tag=values["tag"],
        tagger=tagger.rsplit(" ", 2)[0] if tagger else None,
    )


REMOTE_TAG_LIMIT = 200_000
"""The most tags read from ``git ls-remote``; the largest forges' repositories have tens of
thousands."""
_REMOTE_TAG = re.compile(  # the name: no control, space or character git refuses in a ref
    r"(?P<oid>[0-9a-f]{40}|[0-9a-f]{64})\trefs/tags/(?P<name>[^\x00-\x20\x7f~^:?*\[\\]+)"
)


_REMOTE_HINT = (
    "the remote is not a git server, or answers something else for tags; "
    "use --git-repo PATH with a clone you trust"
)


def parse_remote_tags(listing: str) -> dict[str, str]:
    """Tag name -> object id from ``git ls-remote --tags --refs`` output, read strictly.

    The remote is hostile: every line must be ``OBJECT-ID<TAB>refs/tags/NAME`` with no control
    character or space in the name, and no name may be advertised twice (which of two object
    ids would be "the" tag?). Characters git refuses in a ref name (``~ ^ : ? * [`` and the
    backslash) are refused too, and with them a peeled ``NAME^{}`` line. Anything else raises
    ``UpstreamError``: nothing is guessed.
    """
    tags: dict[str, str] = {}
    lines = listing.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > REMOTE_TAG_LIMIT:
        raise UpstreamError(f"git ls-remote listed more than {REMOTE_TAG_LIMIT} tags")
    for number, line in enumerate(lines, 1):
        match = _REMOTE_TAG.fullmatch(line)
        if match is None:
            raise UpstreamError(
                f"git ls-remote answered line {number}, which is not "
                f"'OBJECT-ID<TAB>refs/tags/NAME': {line[:80]!r}",
                hint=_REMOTE_HINT,
            )
        if match["name"] in tags:
            raise UpstreamError(
                f"git ls-remote advertised tag {match['name']!r} twice",
                hint=_REMOTE_HINT,
            )
        tags[match["name"]] = match["oid"]
    return tags


class MalformedTagError(UpstreamError):
    """A tag object git would never write: its claims are not read, its signature not checked."""


def _malformed(why: str) -> MalformedTagError:
    return MalformedTagError(
        f"the tag object is malformed: {why}",
        hint="git never writes such a tag; re-create the tag with git tag -s",
    )


_FETCH_LOCKS: dict[Path, threading.Lock] = {}
_FETCH_LOCKS_GUARD = threading.Lock()


def _fetch_lock(dest: Path) -> threading.Lock:
    """The lock that serialises fetches into the cache repository ``dest``.

    A lockfile's packages from one repository (a monorepo) are checked in parallel threads,
    and concurrent ``init``/``fetch`` into one repository fail on git's lock files (the
    ``shallow`` file, the config), which would make their tags unverifiable for nothing.
    """
    with _FETCH_LOCKS_GUARD:
        return _FETCH_LOCKS.setdefault(dest.resolve(), threading.Lock())


class GitRepo:
    """A local repository (an existing clone, or a bare one-tag fetch in the cache)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.remote: str | None = None
        """The URL the tags were fetched from (None: a local repository)."""
        self.advertised: dict[str, str] | None = None
        """Tag name -> object id as the remote advertised them (None: a local repository)."""

    def run(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        timeout: float = GIT_TIMEOUT,
    ) -> tuple[int, str, str]:
        """``git -C PATH -c SAFE... ARGS``; (status, stdout, stderr).

        Run with ``subprocess`` and ``safe_env(env)`` as the WHOLE environment (GitPython's
        ``execute(env=...)`` merges into ``os.environ``, so it cannot keep anything out), in a
        session of its own so a timeout kills git and the ssh-keygen/gpg it started.
        """
        argv = ["git", "-C", str(self.path)]
        for item in _SAFE_CONFIG:
            argv += ["-c", item]
        args = list(args)
        while args[:1] == ["-c"]:  # per-call settings go after (and so override) the safe ones
            argv += args[:2]
            args = args[2:]
        argv += args
        try:
            with affinity.spawning():  # every core for git and what it starts (a fetch's helpers)
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=safe_env(env),
                    start_new_session=True,
                )
        except FileNotFoundError:
            raise UsageError(
                "git is not installed or not on PATH", hint="install git, or pass --skip tags"
            ) from None
        except OSError as exc:
            raise UpstreamError(f"git could not be started: {exc.strerror or exc}") from None
        with tracked(process):  # Ctrl-C kills it, from whichever thread started it
            try:
                raw_out, raw_err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                process.communicate()
                raise UpstreamError(f"git {args[0]} did not finish within {timeout:g} s") from None
        status = process.returncode
        out = raw_out.decode("utf-8", "replace")
        err = raw_err.decode("utf-8", "replace")
        if check and status != 0:
            lines = err.strip().splitlines()
            raise UpstreamError(f"git {args[0]} failed: {lines[-1] if lines else f'exit {status}'}")
        return status, out, err

    @classmethod
    def fetch_tag(cls, url: str, dest: Path, candidates: Sequence[str]) -> GitRepo:
        """A bare repository in ``dest`` holding one tag of ``url``: the first candidate it has.

        ``git ls-remote --tags`` lists what the remote advertises (parsed strictly, see
        ``parse_remote_tags``); only the chosen tag object and the commit it names are fetched
        (``--depth=1 --filter=tree:0``: no history, no trees, no blobs), a few KiB whatever the
        size of the repository. A tag already in ``dest`` under the object id the remote still
        advertises is not fetched again. Candidates the remote does not advertise are deleted
        from ``dest``, so a tag removed upstream is absent here too, never read from the cache.

        https only (plain http to a loopback address is allowed, like the index, for tests and
        local mirrors); both commands go through the same pinned, config-free git.
        """
        from verifier.http import check_url

        check_url(url)
        dest.mkdir(parents=True, exist_ok=True)
        with _fetch_lock(dest):
            return cls._fetch_tag(url, dest, candidates)

    @classmethod
    def _fetch_tag(cls, url: str, dest: Path, candidates: Sequence[str]) -> GitRepo:
        repo = cls(dest)
        if (dest / "HEAD").exists() and not repo.holds_only_own_config():
            # Not the repository this tool left here: start again from nothing.
            shutil.rmtree(dest)
            dest.mkdir(parents=True)
        if not (dest / "HEAD").exists():
            repo.run(["init", "--bare", "-q"])
        allow = ["-c", "protocol.http.allow=always"] if url.startswith("http://") else []
        _, listing, _ = repo.run([*allow, "ls-remote", "--tags", "--refs", url])
        advertised = parse_remote_tags(listing)
        repo.remote, repo.advertised = url, advertised
        chosen = next((tag for tag in candidates if tag in advertised), None)
        for tag in candidates:
            if tag != chosen and repo.tag_exists(tag):
                repo.run(["update-ref", "-d", f"refs/tags/{tag}"])
        if chosen is None or repo._has_tag(chosen, advertised[chosen]):
            return repo
        repo._fetch_refs(url, [chosen])
        return repo

    def fetch_others(self, tags: Sequence[str], dest: Path) -> GitRepo:
        """A fresh repository in ``dest`` holding ``tags`` as this one's remote advertised them.

        For the history: the earlier releases' tags, read only for when they were made and
        whether they are signed. One ``git fetch`` (several refspecs, ``--depth=1
        --filter=tree:0``: each tag object and its commit), no new listing, and never read from
        the cache (a cached object could have been rewritten: git does not re-hash loose
        objects when reading them). A local repository answers for itself.
        """
        if self.remote is None or self.advertised is None:
            return self
        wanted = [t for t in tags if t in self.advertised]
        other = GitRepo(dest)
        dest.mkdir(parents=True, exist_ok=True)
        other.run(["init", "--bare", "-q"])
        other.remote, other.advertised = self.remote, {t: self.advertised[t] for t in wanted}
        if wanted:
            other._fetch_refs(self.remote, wanted)
        return other

    def tag_names(self) -> set[str]:
        """Every tag: as the remote advertised them, or the local repository's (one process)."""
        if self.advertised is not None:
            return set(self.advertised)
        _, out, _ = self.run(["for-each-ref", "--format=%(refname:strip=2)", "refs/tags"])
        return {line for line in out.splitlines() if line}

    def tag_facts(self) -> dict[str, tuple[int | None, bool]]:
        """Tag -> (when it was made, whether it is a signed tag object), in one ``git`` run.

        The date is the tagger's (a lightweight tag's: its commit's), None when git cannot say;
        "signed" means a signature is present, not that it verifies. What the history compares.
        """
        fmt = (
            "%(refname:strip=2)%09%(creatordate:unix)%09%(objecttype)%09"
            "%(if)%(contents:signature)%(then)signed%(else)unsigned%(end)"
        )
        _, out, _ = self.run(["for-each-ref", f"--format={fmt}", "refs/tags"])
        facts: dict[str, tuple[int | None, bool]] = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) != 4:
                continue
            name, moment, kind, signed = parts
            facts[name] = (
                int(moment) if moment.isdigit() else None,
                kind == "tag" and signed == "signed",
            )
        return facts

    def _fetch_refs(self, url: str, tags: Sequence[str]) -> None:
        allow = ["-c", "protocol.http.allow=always"] if url.startswith("http://") else []
        refspecs = [f"+refs/tags/{tag}:refs/tags/{tag}" for tag in tags]
        try:
            self.run(
                [
                    *allow,
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--depth=1",
                    "--filter=tree:0",
                    url,
                    *refspecs,
                ]
            )
        finally:
            # A filtered fetch makes the URL a "promisor": git would then fetch any object a
            # hostile tag names but the fetch left out, in the middle of verifying it. Without
            # the promisor, a missing object is missing (and the tag check says so).
            self.run(["config", "--remove-section", f"remote.{url}"], check=False)

    def holds_only_own_config(self) -> bool:
        """Whether the repository's own config and object store are what this tool writes.

        Reading the config runs nothing. Alternates (objects borrowed from another store) are
        refused too: every object must come from the fetch that was checked.
        """
        if (self.path / "objects" / "info" / "alternates").exists():
            return False
        status, out, _ = self.run(
            ["config", "--local", "--no-includes", "--list", "--name-only"], check=False
        )
        names = {line.strip().lower() for line in out.splitlines() if line.strip()}
        return status == 0 and names <= _OWN_CONFIG

    def _has_tag(self, tag: str, object_id: str) -> bool:
        """Whether ``refs/tags/TAG`` is ``object_id`` and that object is here (a cached fetch)."""
        status, out, _ = self.run(
            ["rev-parse", "--verify", "--quiet", f"refs/tags/{tag}"], check=False
        )
        if status != 0 or out.strip() != object_id:
            return False
        status, _, _ = self.run(["cat-file", "-e", object_id], check=False)
        return status == 0

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
        """Ask git's own verifier about ``tag``; never raises for a bad or missing signature.

        For an annotated tag, also read what the tag object itself says (``object_name``,
        ``object_type``): git's verifier checks the signature over the object, not that the
        object belongs under this ref. A malformed object is not verified at all.
        """
        ref = f"refs/tags/{tag}"
        _, kind, _ = self.run(["cat-file", "-t", ref])
        kind = kind.strip()
        if kind != "tag":
            _, commit, _ = self.run(["rev-parse", f"{ref}^{{commit}}"])
            return TagSignature(
                tag,
                "lightweight",
                False,
                None,
                False,
                None,
                commit.strip(),
                None,
                "a lightweight tag carries no signature",
            )
        try:
            headers, body = self._tag_object(ref)
        except MalformedTagError as exc:
            return TagSignature(tag, "annotated", False, None, False, None, "", None, exc.message)
        # The commit is the one the signed object names, not one git peels to through further
        # objects (a tag of a tag names the commit only through an object nobody checked here).
        commit = headers.object if headers.type == "commit" else ""
        named = {"object_name": headers.tag, "object_type": headers.type}
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
                headers.tagger,
                "the annotated tag is not signed",
                **named,
            )
        extra: list[str] = []
        for item in config:
            extra += ["-c", item]
        status, out, err = self.run([*extra, "verify-tag", "--raw", ref], env=env, check=False)
        output = f"{out}\n{err}"
        signer = _signer(fmt, output)
        good = status == 0 and signer is not None
        detail = _verify_detail(fmt, output, good)
        return TagSignature(
            tag, "annotated", True, fmt, good, signer, commit, headers.tagger, detail, **named
        )

    def _tag_object(self, ref: str) -> tuple[TagObject, str]:
        """The tag object at ``ref``: its headers and its text.

        The headers are checked against the object they name; ``MalformedTagError`` for a tag
        object git would not write.
        """
        _, size, _ = self.run(["cat-file", "-s", ref])
        if not size.strip().isdigit() or int(size) > TAG_OBJECT_LIMIT:
            raise _malformed(f"it is {size.strip()} bytes, more than {TAG_OBJECT_LIMIT}")
        _, body, _ = self.run(["cat-file", "tag", ref])
        headers = parse_tag_object(body)
        status, actual, _ = self.run(["cat-file", "-t", headers.object], check=False)
        if status != 0:
            raise UpstreamError(
                f"the tag object names {headers.object}, which is not in the repository"
            )
        if actual.strip() != headers.type:
            raise _malformed(f"it says 'type {headers.type}' of a {actual.strip()}")
        return headers, body


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


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill git and everything it started (it runs in a session of its own)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
