"""Signed git tags: the release's tag must carry a signature git itself accepts.

Trust comes from keys the user names (``--allowed-signers`` for SSH, ``--gpg-keyring`` or
``GNUPGHOME`` for OpenPGP), or, weaker and said so, from the keys the repository owner publishes
on GitHub. The tag's commit is reported so the chain can compare it with the commit every
Sigstore certificate names.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from verifier import affinity, atomic
from verifier.childenv import child_environment
from verifier.errors import NetworkError, UpstreamError, UsageError
from verifier.models import Check, CheckResult, EvidenceKind, Status, TagEvidence

if TYPE_CHECKING:  # git (and its patterns) is imported only by a run that reads tags
    from verifier.git import GitRepo, TagSignature

TAG_TEMPLATES = ("v{version}", "{version}")


def tag_candidates(version: str, template: str | None = None) -> list[str]:
    """Tag names to try: ``--tag-template``, else ``v{version}`` then ``{version}``.

    Pre-releases also get the hyphenated spelling projects use (``1.0.1rc0`` -> ``v1.0.1-rc0``).
    """
    templates = (template,) if template else TAG_TEMPLATES
    spellings = [version]
    try:
        parsed = Version(version)
    except InvalidVersion:
        parsed = None
    if parsed is not None and parsed.pre is not None:
        letter, number = parsed.pre
        spellings.append(f"{parsed.base_version}-{letter}{number}")
        long_name = {"a": "alpha", "b": "beta"}.get(letter, letter)
        spellings.append(f"{parsed.base_version}-{long_name}.{number}")
    names: list[str] = []
    for tmpl in templates:
        for spelling in spellings:
            name = tmpl.replace("{version}", spelling)
            if name not in names:
                names.append(name)
    return names


@dataclass(frozen=True)
class TagTrust:
    """Which keys may sign tags, and how much to believe that choice."""

    source: str
    env: dict[str, str]
    config: tuple[str, ...]


def user_trust(
    allowed_signers: Path | None, gpg_keyring: Path | None, gnupghome: str | None, workdir: Path
) -> TagTrust | None:
    """Trust from the user's flags/environment, or None when they named none."""
    if allowed_signers is None and gpg_keyring is None and not gnupghome:
        return None
    env: dict[str, str] = {}
    config: list[str] = []
    sources: list[str] = []
    if allowed_signers is not None:
        if not allowed_signers.is_file():
            raise UsageError(f"--allowed-signers {allowed_signers}: no such file")
        config.append(f"gpg.ssh.allowedSignersFile={allowed_signers.resolve()}")
        sources.append(f"--allowed-signers {allowed_signers}")
    if gpg_keyring is not None:
        home = Path(tempfile.mkdtemp(prefix="gnupg-", dir=workdir))
        home.chmod(0o700)
        _gpg_import(
            home,
            [gpg_keyring.read_bytes()] if gpg_keyring.is_file() else [],
            what=f"--gpg-keyring {gpg_keyring}",
        )
        env["GNUPGHOME"] = str(home)
        sources.append(f"--gpg-keyring {gpg_keyring}")
    elif gnupghome:
        env["GNUPGHOME"] = gnupghome
        sources.append(f"GNUPGHOME {gnupghome}")
    else:
        # Only SSH keys were named: an OpenPGP-signed tag must not be checked against the
        # user's personal keyring (~/.gnupg), whose keys nobody chose for this release.
        empty = Path(tempfile.mkdtemp(prefix="gnupg-empty-", dir=workdir))
        empty.chmod(0o700)
        env["GNUPGHOME"] = str(empty)
    if allowed_signers is None:
        config.append(f"gpg.ssh.allowedSignersFile={workdir / 'no-allowed-signers'}")
        atomic.write_text(workdir / "no-allowed-signers", "")
    return TagTrust(source=", ".join(sources), env=env, config=tuple(config))


def forge_trust(
    ssh_keys: Sequence[str], gpg_keys: Sequence[str], login: str, workdir: Path
) -> TagTrust:
    """Trust the keys ``login`` publishes on GitHub (weaker: the forge account vouches)."""
    signers = workdir / "forge-allowed-signers"
    atomic.write_text(
        signers,
        "".join(
            f'{login} namespaces="git" {key.strip()}\n'
            for key in ssh_keys
            if key.strip() and "\n" not in key.strip()
        ),
    )
    home = Path(tempfile.mkdtemp(prefix="gnupg-", dir=workdir))
    home.chmod(0o700)
    _gpg_import(home, [k.encode() for k in gpg_keys], what=f"OpenPGP keys of {login}")
    return TagTrust(
        source=f"keys from the forge (github.com/{login}; weaker: whoever controls that "
        "account controls them; pass --allowed-signers or --gpg-keyring)",
        env={"GNUPGHOME": str(home)},
        config=(f"gpg.ssh.allowedSignersFile={signers}",),
    )


def _gpg_import(home: Path, keys: list[bytes], *, what: str) -> None:
    for key in keys:
        try:
            with affinity.spawning():
                subprocess.run(
                    ["gpg", "--batch", "--quiet", "--no-autostart", "--import"],  # noqa: S607
                    input=key,
                    env=child_environment({"GNUPGHOME": str(home)}),
                    capture_output=True,
                    timeout=60,
                    check=False,
                )
        except FileNotFoundError:
            raise UsageError(f"{what}: gpg is not installed") from None
        except subprocess.TimeoutExpired:
            raise UpstreamError(f"{what}: gpg --import timed out") from None


def check_tag(
    repo: GitRepo, candidates: Sequence[str], trust: TagTrust, subject: str
) -> tuple[CheckResult, TagSignature | None]:
    """The tag result for a release, and git's answer (for the cross-links)."""
    try:
        tag = next((t for t in candidates if repo.tag_exists(t)), None)
        if tag is None:
            return missing_tag(subject, f"no tag {' or '.join(candidates)} in the repository"), None
        answer = repo.verify_tag(tag, env=trust.env, config=trust.config)
    except (UpstreamError, NetworkError) as exc:
        return CheckResult(
            check=Check.TAG,
            status=Status.UNREACHABLE,
            kind=EvidenceKind.TAGS,
            subject=subject,
            message=str(exc),
            hint=exc.hint,
        ), None
    evidence = TagEvidence(
        tag=tag,
        commit=answer.commit,
        signer=answer.signer,
        signature_format=answer.signature_format,
        tagger=answer.tagger,
        trust=trust.source,
    )
    binding = tag_binding_failure(answer, subject, evidence)
    if binding is not None:
        # Not the tag it claims to be, however good its signature: nothing may link to it.
        return binding, None
    if answer.good:
        return CheckResult(
            check=Check.TAG,
            status=Status.PROVEN,
            kind=EvidenceKind.TAGS,
            subject=subject,
            message=f"tag {tag} signed by {answer.signer} (commit {answer.commit}); "
            f"trusted keys: {trust.source}",
            tag=evidence,
        ), answer
    if not answer.signed:
        # No signature at all is absent evidence (judged by the tags rule and the history),
        # not evidence that failed to prove something.
        return CheckResult(
            check=Check.TAG,
            status=Status.ABSENT,
            kind=EvidenceKind.TAGS,
            subject=subject,
            message=f"tag {tag}: {answer.detail}",
            expected=f"a tag signed by a trusted key ({trust.source})",
            actual="no signature",
            tag=evidence,
        ), answer
    return CheckResult(
        check=Check.TAG,
        status=Status.UNPROVEN,
        kind=EvidenceKind.TAGS,
        subject=subject,
        message=f"tag {tag}: {answer.detail}",
        expected=f"a tag signed by a trusted key ({trust.source})",
        actual=answer.detail if not answer.signer else answer.signer,
        tag=evidence,
    ), answer


def tag_binding_failure(
    answer: TagSignature, subject: str, evidence: TagEvidence
) -> CheckResult | None:
    """A contradiction when the tag object does not belong under its ref, else None.

    A signature covers the tag object, whose ``tag`` header names the tag its signer made; ``git
    verify-tag`` says "Good signature" for a signed ``v0.9`` re-published as ``refs/tags/v1.0.0``.
    That is a forgery of the release tag whatever the policy, so it FAILS even when tags are not
    required. So does a tag of anything but a commit: a tree names no commit, and a tag of a tag
    reaches its commit through an object whose name and signer nobody checked. Lightweight tags
    (no object) are judged as unsigned by the caller; a malformed object is FAILED here too.
    """
    tag = answer.tag
    if answer.kind != "annotated":
        return None
    if answer.object_name is None:
        return CheckResult(
            check=Check.TAG,
            status=Status.CONTRADICTED,
            kind=EvidenceKind.TAGS,
            subject=subject,
            message=f"tag {tag}: {answer.detail}",
            expected=tag,
            rule=_NAME_RULE,
            tag=evidence,
        )
    if answer.object_name != tag:
        return CheckResult(
            check=Check.TAG,
            status=Status.CONTRADICTED,
            kind=EvidenceKind.TAGS,
            subject=subject,
            message=f"tag {tag}: the signed tag object names tag {answer.object_name} "
            "(a tag re-published under another name)",
            expected=tag,
            actual=answer.object_name,
            rule=_NAME_RULE,
            tag=evidence,
        )
    if answer.object_type != "commit":
        return CheckResult(
            check=Check.TAG,
            status=Status.CONTRADICTED,
            kind=EvidenceKind.TAGS,
            subject=subject,
            message=f"tag {tag}: the signed tag object points at a {answer.object_type}, "
            "not a commit",
            expected="commit",
            actual=answer.object_type,
            rule="a release tag must point at a commit",
            tag=evidence,
        )
    return None


_NAME_RULE = "a signed tag must carry the name it is published under"


def missing_tag(subject: str, message: str, *, hint: str | None = None) -> CheckResult:
    """No tag to check: absent evidence, judged by the tags rule."""
    return CheckResult(
        check=Check.TAG,
        status=Status.ABSENT,
        kind=EvidenceKind.TAGS,
        subject=subject,
        message=message,
        hint=hint,
    )
