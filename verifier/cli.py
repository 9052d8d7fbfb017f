"""Command line: parse -> ``verifier.run`` (policy, clients, pipeline) -> render -> exit code.

This is the only module that prints or exits. The report goes to stdout (or ``--output``);
progress, warnings and errors go to stderr. Heavy libraries (sigstore, requests, pydantic) are
imported only once a verification actually starts, so ``--help`` answers instantly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verifier import __version__, atomic
from verifier.errors import FileNotWritten, UsageError, VerifierError
from verifier.models import (
    EXIT_INTERNAL,
    EXIT_USAGE,
    MISSING_ALLOWABLE,
    REQUIRABLE,
    SKIPPABLE,
    EvidenceKind,
    Verdict,
)
from verifier.report import safe_line
from verifier.run import is_local_target
from verifier.urls import redact_urls

if TYPE_CHECKING:
    pass

_EPILOG = """\
what is checked (each is a line of the report):
  index-hash       the sha256 the index publishes (the digest pip --require-hashes and
                   lockfiles trust and installers enforce). Files are not downloaded unless
                   --download DIR is given: then each is fetched, re-hashed and kept in DIR
                   only if it matches
  attestation      the file's PEP 740 provenance (PyPI's Integrity API) is verified with
                   sigstore: the signature, the certificate chain to Sigstore's trust root,
                   the transparency log entry, the attested file name and sha256, and the
                   Trusted Publisher identity
  history          the release against the project's earlier releases: a project that used
                   to publish attested files, or another publisher, is flagged
  bundle           Sigstore bundles attached to the GitHub release (.sigstore.json), verified
                   against the release workflow's identity
  tag              the release's git tag: its signature (SSH or OpenPGP) and the commit the
                   attestations and bundles name
  cross-link       the digests and commits of all of the above agree with each other
  lockfile         with --lockfile: every pinned hash is one the index publishes
  vulnerabilities  known vulnerabilities of the release (pip-audit; OSV or PyPI's service)

whose identity is expected (strongest first):
  --repository OWNER/REPO|URL [--workflow FILE] [--environment NAME]  what you pinned
  --google-service-account EMAIL                                     (Google Cloud)
  --circleci-project ID --circleci-pipeline-definition ID           (CircleCI)
  the GitHub/GitLab URL in the project's metadata on the index  (reported as weaker)
  PyPI's own publisher record in the provenance                 (reported as weakest)

outcomes: VERIFIED, FAILED (the evidence contradicts the release), UNVERIFIABLE (evidence is
missing or could not be fetched), SKIPPED (absent, and a policy such as --allow-missing allowed
it). A check that could not run is never a pass.

exit codes:
  0  verified      every required check verified
  1  failed        at least one check found evidence that contradicts the release
  2  unverifiable  nothing failed, but some required evidence was missing or unreachable
  3  usage error   bad arguments or input (no such release, unreadable file, bad flag)
  4  internal error a bug in verify-release (or an interrupt): nothing was verified

subcommands:
  verify-release fetch (NAME==VERSION | --lockfile FILE) --out DIR
                         store all evidence for a later air-gapped run (--evidence DIR)
  verify-release pin --lockfile FILE [--policy FILE] [--dry-run] [--unpin NAME] [--accept NAME]
                         record each package's publisher (trust on first use)
  verify-release bundle --bundle FILE --certificate-identity ID \\
      --certificate-oidc-issuer URL [--trusted-root FILE] FILE_OR_DIGEST
                         verify one Sigstore bundle (see verify-release bundle --help)

examples:
  verify-release sampleproject==4.0.0
  verify-release pypi-attestations==0.0.19 \\
      --repository https://github.com/trailofbits/pypi-attestations --workflow release.yml
  verify-release dist/pkg-1.0-py3-none-any.whl \\
      --provenance pkg-1.0-py3-none-any.whl.provenance --offline
  verify-release oldpkg==1.0 --allow-missing attestations --format json
  verify-release --lockfile uv.lock --allow-missing bundles,tags
  verify-release help          (this text; also --help)
  verify-release -V            (versions of verify-release, sigstore, pypi-attestations
                                and the trust root)

the JSON report format (--format json) is documented in docs/verifying.md and versioned by its
"schema_version" key.
"""


EMPTY_HINT = "an unset shell variable? pass a value or drop the option"


@dataclass(frozen=True)
class _Blank:
    """A value given as "" or whitespace, kept until ``validate_args`` refuses it.

    An unset shell variable turns ``--repository "$REPO"`` into ``--repository ""``; read as
    "not given", it would silently drop a check or fall back to a default. ``source`` is the
    option (or the environment variable) to name in the error.
    """

    source: str
    variable: bool = False


class _EnvDefault(str):
    """A default taken from an environment variable, remembering which one (for errors)."""

    variable: str = ""


def _env_default(variable: str, fallback: str) -> str:
    raw = os.environ.get(variable)
    if raw is None:
        return fallback
    value = _EnvDefault(raw)
    value.variable = variable
    return value


class _Value:
    """An action's ``type``, wrapped: a blank value becomes a ``_Blank`` instead of a value.

    argparse also passes string defaults through ``type``, so a blank environment default is
    caught the same way, naming its variable.
    """

    def __init__(self, convert: Callable[[str], Any] | None, name: str) -> None:
        self.convert = convert
        self.name = name
        # argparse names the type in its own errors ("invalid int value").
        self.__name__ = getattr(convert, "__name__", "str")

    def __call__(self, raw: str) -> Any:
        if not raw.strip():
            variable = getattr(raw, "variable", "")
            return _Blank(variable or self.name, variable=bool(variable))
        return raw if self.convert is None else self.convert(raw)


class _Choices(list[Any]):
    """Choices that let a ``_Blank`` through, so the blank (not "invalid choice") is reported."""

    def __contains__(self, value: object) -> bool:
        return isinstance(value, _Blank) or super().__contains__(value)


class _KindList(argparse.Action):
    """A repeatable option whose value is a comma list of evidence kinds (``bundles,tags``).

    pip-audit and sigstore users write lists with commas; ``--allow-missing bundles,tags`` and
    ``--allow-missing bundles --allow-missing tags`` mean the same. A kind that does not exist
    is refused naming the valid ones (a typo must never silently tolerate or skip nothing).
    """

    def __init__(self, *args: Any, kinds: Sequence[str], **kwargs: Any) -> None:
        self.kinds = tuple(kinds)
        super().__init__(*args, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        found: list[object] = list(getattr(namespace, self.dest, None) or [])
        if isinstance(values, _Blank):
            found.append(values)  # refused by validate_args, naming the option
        else:
            for kind in str(values).split(","):
                kind = kind.strip()
                if kind not in self.kinds:
                    shown = repr(kind) if kind else "an empty kind"
                    raise argparse.ArgumentError(
                        self, f"unknown kind {shown}; valid kinds: {', '.join(self.kinds)}"
                    )
                if kind not in found:
                    found.append(kind)
        setattr(namespace, self.dest, found)


def _long(action: argparse.Action) -> str:
    """How an error names an action: its longest option, or the positional's metavar."""
    if action.option_strings:
        return max(action.option_strings, key=len)
    metavar = action.metavar if isinstance(action.metavar, str) else None
    # A positional taking several values is named by one of them ("the target", not "targets").
    name = action.dest.removesuffix("s") if action.nargs == "*" else action.dest
    return f"the {name} ({metavar})" if metavar else f"the {name}"


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments; 2 means "unverifiable" here, so usage errors exit 3.

    Every option that takes a value is guarded when parsing starts (not when it is added), so
    an option added later cannot forget it: blank values are recorded for ``validate_args`` to
    refuse.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        """One line and a hint, like the tool's own errors, instead of argparse's usage dump.

        The full usage of a parser this size is 16 lines that push the one line that matters
        (what was wrong) off the screen; ``--help`` is one flag away and the hint names it.
        """
        self.exit(
            EXIT_USAGE,
            safe_line(f"{self.prog}: error: {message}")
            + f"\nhint: run `{self.prog} --help` for the options and examples\n",
        )

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        for action in self._actions:
            if action.nargs == 0 or isinstance(action.type, _Value):
                continue
            action.type = _Value(action.type, _long(action))  # type: ignore[arg-type]
            if action.choices is not None:
                action.choices = _Choices(action.choices)
        return super().parse_known_args(args, namespace)


def _values(value: object) -> Iterable[object]:
    return value if isinstance(value, list) else (value,)


def validate_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse what the command line asks that cannot be meant, before any work or network.

    Called right after parsing, for every command. Blank values, control
    characters, and combinations that do not apply are usage errors (exit 3) rather than a
    check silently dropped or a default silently used. ``--allow-unindexed`` names are
    normalised in place.
    """
    from verifier.policy import control_character

    found = vars(args)
    for action in parser._actions:
        for value in _values(found.get(action.dest)):
            if isinstance(value, _Blank):
                if value.variable:
                    raise UsageError(
                        f"{value.source} is empty", hint="unset it, or set it to the URL to use"
                    )
                raise UsageError(f"{value.source} is empty", hint=EMPTY_HINT)
    for action in parser._actions:
        text_option = isinstance(action.type, _Value) and action.type.convert is None
        if not (action.option_strings and text_option):
            continue
        for value in _values(found.get(action.dest)):
            bad = control_character(value) if isinstance(value, str) else None
            if bad is not None:
                raise UsageError(
                    f"{_long(action)} contains a control character (U+{ord(bad):04X})",
                    hint="an identity is one line of printable text: check for a stray "
                    "newline or escape",
                )
    if "lockfiles" in found:
        _check_combinations(args)


def _check_combinations(args: argparse.Namespace) -> None:
    """Options that do not apply to what is being verified (the main parser's namespace).

    Options naming one project (its clone, publisher, signer, provenance) apply only when the
    run has exactly one subject: one pin or one file, and no lockfile.
    """
    from verifier.policy import check_tag_template

    lockfile = bool(args.lockfiles)
    several = not lockfile and len(args.targets) > 1
    if lockfile and args.git_repo is not None:
        raise UsageError(
            "--git-repo is one project's clone; a lockfile has many projects",
            hint="drop --git-repo: each package's tag is read from its own repository",
        )
    if lockfile and args.repository is not None:
        raise UsageError(
            "--repository names one publisher; a lockfile has many",
            hint="put per-package publishers in the policy file ([publishers.NAME]) or run "
            "`verify-release pin --lockfile FILE`",
        )
    publishers = [
        flag
        for flag, value in (
            ("--repository", args.repository),
            ("--google-service-account", args.google_service_account),
            ("--circleci-project", args.circleci_project or args.circleci_pipeline_definition),
        )
        if value is not None
    ]
    others = [flag for flag in publishers if flag != "--repository"]
    if lockfile and others:
        raise UsageError(
            f"{others[0]} names one publisher; a lockfile has many",
            hint="put per-package publishers in the policy file ([publishers.NAME])",
        )
    if len(publishers) > 1:
        raise UsageError(
            f"give one expected publisher: {' or '.join(publishers)}",
            hint="a release has one Trusted Publisher: keep the flags of one kind",
        )
    if (args.circleci_project is None) != (args.circleci_pipeline_definition is None):
        raise UsageError(
            "--circleci-project and --circleci-pipeline-definition go together",
            hint="a CircleCI Trusted Publisher is a project and a pipeline definition: pass "
            "both ids, as PyPI's publisher record shows them",
        )
    if lockfile and args.cert_identity is not None:
        raise UsageError(
            "--cert-identity names one signer; a lockfile has many projects",
            hint="verify that package on its own (NAME==VERSION --cert-identity ID)",
        )
    if several:
        for flag, value in (
            ("--git-repo", args.git_repo),
            ("--repository", args.repository),
            ("--cert-identity", args.cert_identity),
            ("--provenance", args.provenance),
        ):
            if value is not None:
                raise UsageError(
                    f"{flag} applies to one project; {len(args.targets)} targets were given",
                    hint=f"verify that target in its own run with {flag}, or put per-package "
                    "publishers in the policy file ([publishers.NAME])",
                )
    if (args.workflow is not None or args.environment is not None) and args.repository is None:
        raise UsageError(
            "--workflow and --environment need --repository",
            hint="add --repository https://github.com/OWNER/REPO",
        )
    if args.repository is not None:
        args.repository = repository_url(args.repository)
    if args.tag_template is not None:
        check_tag_template(args.tag_template, "--tag-template")
    if args.provenance is not None:
        if lockfile:
            raise UsageError("--provenance applies to a local file target, not --lockfile")
        if args.targets and not is_local_target(args.targets[0]):
            raise UsageError("--provenance applies to a local file target, not NAME==VERSION")
    args.allow_unindexed = [_project_name(name) for name in args.allow_unindexed]


_SHORTHAND = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9_.-]+$")
"""gh's OWNER/REPO: GitHub owners are letters, digits and hyphens (never a dot, so never a host)."""


def repository_url(value: str) -> str:
    """``--repository`` as gh users write it, completed to a URL the policy then checks.

    ``OWNER/REPO`` and ``github.com/OWNER/REPO`` are GitHub; a URL with a scheme is passed on
    unchanged.

    Only the spellings that can mean one thing are completed: a bare path of two segments is
    gh's ``OWNER/REPO``; ``gitlab.com/GROUP/PROJECT`` names its host. Anything else without a
    scheme (three segments could be a GitLab subgroup or a GitHub page) is refused, never
    guessed.
    """
    text = value.strip()
    if "://" in text:
        return text
    host, _, rest = text.partition("/")
    bare = host.lower().removeprefix("www.")
    if bare in ("github.com", "gitlab.com") and rest:
        return f"https://{bare}/{rest}"
    if _SHORTHAND.match(text):
        return f"https://github.com/{text}"
    raise UsageError(
        f"--repository {value!r} is not OWNER/REPO or a repository URL",
        hint="pass OWNER/REPO (GitHub), https://github.com/OWNER/REPO or "
        "https://gitlab.com/GROUP/PROJECT",
    )


def _project_name(name: str) -> str:
    from packaging.utils import InvalidName, canonicalize_name

    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        raise UsageError(
            f"--allow-unindexed {name!r} is not a valid project name",
            hint="use the project's name as on the index, e.g. --allow-unindexed my-package",
        ) from None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (of ``verify-release`` or its ``fetch``/``pin`` subcommand)."""
    prog = "verify-release" if command is None else f"verify-release {command}"
    parser = _Parser(
        prog=prog,
        description="Check that a Python package release is what its maintainers built and "
        "published, before you install it.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-V",
        "--version",
        action="store_true",
        help="print the versions of verify-release, sigstore and pypi-attestations and the "
        "trust root a run would use (with --trusted-root: that file and its sha256), and exit",
    )
    if command == "fetch":
        parser.description = (
            "Download every piece of evidence a verification needs (index pages, provenance, "
            "release bundles, files, tag clones) into DIR, verifying as it goes; then "
            "`verify-release --evidence DIR --offline ...` verifies with no network at all."
        )
        parser.add_argument(
            "--out", metavar="DIR", type=Path, required=True, help="the evidence directory to write"
        )
    if command == "pin":
        parser.description = (
            "Trust on first use: verify every package of --lockfile against PyPI's own "
            "publisher record and write the observed publisher (repository, workflow, "
            "environment) into the policy file. Later runs FAIL when a package's publisher "
            "changes or it stops being attested. New pins are written as observed; a changed "
            "publisher keeps its old pin and pin exits 1 naming it, until `--accept NAME` "
            "accepts the change. Changes are listed (+ added, ~ changed, - removed, ! kept) "
            "before the file is written."
        )
        parser.add_argument(
            "--unpin",
            metavar="NAME",
            action="append",
            default=[],
            help="remove the pin of package NAME (repeatable); a pin is never removed otherwise: "
            "a pinned package that lost its attestations keeps its pin and pin exits 1",
        )
        parser.add_argument(
            "--accept",
            metavar="NAME",
            action="append",
            default=[],
            help="accept the changed publisher of package NAME (repeatable): its pin is "
            "rewritten to what this run observed; without it a changed publisher keeps its old "
            "pin and pin exits 1",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="list the changes and write nothing",
        )
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="NAME==VERSION | FILE",
        help="exact release pins (e.g. requests==2.32.3) or local .whl/.tar.gz/.zip files; "
        "several are verified in one run, into one report whose worst verdict wins",
    )
    parser.add_argument(
        "--lockfile",
        dest="lockfiles",
        metavar="FILE",
        type=Path,
        action="append",
        default=[],
        help="verify every package a lockfile pins: uv.lock, pylock.toml, poetry.lock, or a "
        "requirements file with --hash; each pinned hash must be one the index publishes "
        "(repeatable; with targets too, all in one report)",
    )
    parser.add_argument(
        "--lockfile-format",
        metavar="FORMAT",
        choices=["uv.lock", "pylock.toml", "requirements", "poetry.lock"],
        help="the lockfile's format when its file name does not tell (e.g. a pipe): uv.lock, "
        "pylock.toml, requirements or poetry.lock",
    )
    parser.add_argument(
        "--policy",
        metavar="FILE",
        type=Path,
        help="policy file (default: ./verify-release.toml, else [tool.verify-release] in "
        "./pyproject.toml): required checks, publishers, tag settings, vulnerability ignores",
    )
    identity = parser.add_argument_group("expected publisher")
    identity.add_argument(
        "--repository",
        metavar="URL",
        help="the repository whose Trusted Publisher must have published the release, "
        "e.g. https://github.com/OWNER/REPO or https://gitlab.com/GROUP/PROJECT",
    )
    identity.add_argument(
        "--google-service-account",
        metavar="EMAIL",
        help="a Google Cloud Trusted Publisher: the service account that must have signed "
        "(instead of --repository)",
    )
    identity.add_argument(
        "--circleci-project",
        metavar="ID",
        help="a CircleCI Trusted Publisher: its project id, with --circleci-pipeline-definition "
        "(instead of --repository)",
    )
    identity.add_argument(
        "--circleci-pipeline-definition",
        metavar="ID",
        help="the CircleCI pipeline definition id that must have signed (with --circleci-project)",
    )
    identity.add_argument(
        "--workflow",
        metavar="FILE",
        help="the publishing workflow's file name (GitHub: release.yml; GitLab: the CI file "
        "path, e.g. .gitlab-ci.yml); default: the workflow PyPI recorded for the publisher",
    )
    identity.add_argument(
        "--environment",
        metavar="NAME",
        help="the GitHub/GitLab environment the publisher must have used (checked against "
        "PyPI's publisher record: environments are not in the certificate)",
    )
    evidence = parser.add_argument_group("evidence")
    evidence.add_argument(
        "--provenance",
        metavar="FILE",
        type=Path,
        help="with a local FILE target: a PEP 740 provenance object (or a single attestation) "
        "to verify instead of asking the index",
    )
    evidence.add_argument(
        "--allow-missing",
        metavar="KIND",
        action=_KindList,
        kinds=EvidenceKind.names(MISSING_ALLOWABLE),
        default=[],
        help="tolerate absent evidence of KIND (a comma list, repeatable; KIND: attestations, "
        "bundles, tags). Absent evidence is then SKIPPED, and shown; evidence that exists must "
        "still verify",
    )
    evidence.add_argument(
        "--require",
        metavar="KIND",
        action=_KindList,
        kinds=EvidenceKind.names(REQUIRABLE),
        default=[],
        help="make absent or unverified evidence of KIND (bundles, tags) FAILED instead of "
        "UNVERIFIABLE (a comma list, repeatable)",
    )
    evidence.add_argument(
        "--skip",
        metavar="KIND",
        action=_KindList,
        kinds=EvidenceKind.names(SKIPPABLE),
        default=[],
        help="do not look for evidence of KIND (bundles, tags, vulnerabilities; a comma list, "
        "repeatable) at all; shown as SKIPPED",
    )
    evidence.add_argument(
        "--allow-unindexed",
        metavar="NAME",
        action="append",
        default=[],
        help="let exactly the package NAME come from outside an index (a URL, a path, git) "
        "without failing the run (repeatable); in a policy file: [packages.NAME] "
        "allow-unindexed = true",
    )
    signed = parser.add_argument_group("GitHub release bundles and signed tags")
    signed.add_argument(
        "--github-api-url",
        metavar="URL",
        default=_env_default("VERIFY_RELEASE_GITHUB_API_URL", "https://api.github.com"),
        help="GitHub API root (default: https://api.github.com). A token in GITHUB_TOKEN or "
        "GH_TOKEN is sent to this host only, never to download hosts it redirects to",
    )
    signed.add_argument(
        "--cert-identity",
        metavar="ID",
        help="the exact certificate identity release bundles must carry "
        "(default: https://github.com/OWNER/REPO/.github/workflows/WORKFLOW"
        "@refs/tags/TAG)",
    )
    signed.add_argument(
        "--cert-oidc-issuer",
        metavar="URL",
        default="https://token.actions.githubusercontent.com",
        help="the OIDC issuer of bundle certificates (default: GitHub Actions)",
    )
    signed.add_argument(
        "--git-repo",
        metavar="PATH",
        type=Path,
        help="an existing clone to read the release tag from (default: a "
        "bare, blobless, tags-only clone of the repository into the cache)",
    )
    signed.add_argument(
        "--tag-template",
        metavar="TEMPLATE",
        help="the tag name, with {version} (default: v{version}, then "
        "{version}; pre-releases also as v1.0.1-rc0)",
    )
    signed.add_argument(
        "--allowed-signers",
        metavar="FILE",
        type=Path,
        help="SSH allowed-signers file of keys trusted to sign tags",
    )
    signed.add_argument(
        "--gpg-keyring",
        metavar="FILE",
        type=Path,
        help="OpenPGP keys trusted to sign tags (else GNUPGHOME, else the keys "
        "the repository owner publishes on GitHub, reported as weaker)",
    )
    sources = parser.add_argument_group("sources")
    sources.add_argument(
        "--index-url",
        metavar="URL",
        default=_env_default("VERIFY_RELEASE_INDEX_URL", "https://pypi.org"),
        help="the index's root URL (default: https://pypi.org; env VERIFY_RELEASE_INDEX_URL). "
        "https only; plain http is accepted for loopback addresses",
    )
    sources.add_argument(
        "--offline",
        action="store_true",
        help="do not refresh Sigstore's trust root over TUF: use the root shipped inside the "
        "installed sigstore package (never the unverified copy in your cache). With a local "
        "file and --provenance, nothing is fetched at all",
    )
    sources.add_argument(
        "--trusted-root",
        metavar="FILE",
        type=Path,
        help="verify against this Sigstore trusted_root.json (a private Sigstore deployment) "
        "instead of the public production instance",
    )
    sources.add_argument(
        "--cache-dir",
        metavar="DIR",
        type=Path,
        help="where cached index answers, provenance and tag clones are kept (default: "
        "VERIFY_RELEASE_CACHE_DIR, else the user cache directory; the key that authenticates "
        "entries is in VERIFY_RELEASE_DATA_DIR, else the user data directory); distributions "
        "are kept only with --download DIR",
    )
    sources.add_argument(
        "--download",
        metavar="DIR",
        type=Path,
        help="also fetch every file of the release (or lockfile), re-hash it and keep it in DIR "
        "if it matches the index's digest: a wheelhouse for `pip install --no-index "
        "--find-links DIR`. Without it no distribution is downloaded",
    )
    sources.add_argument(
        "--jobs",
        metavar="N",
        type=int,
        default=8,
        help="requests in parallel (default: 8): packages of a --lockfile, and the files of "
        "each release (their provenance), so a release of many files is no serial chain",
    )
    sources.add_argument(
        "--verify-processes",
        metavar="N",
        type=int,
        default=None,
        help="worker processes that verify signatures for --lockfile (default: one per CPU "
        "core when there are two or more, for 8 or more files; 0 verifies in this process). "
        "Verification is CPU work, so threads alone cannot use more than one core; workers are "
        "forked on Linux",
    )
    sources.add_argument(
        "--no-cache",
        action="store_true",
        help="do not reuse cached index pages or provenance (downloads are re-hashed anyway)",
    )
    sources.add_argument(
        "--no-verdict-cache",
        action="store_true",
        help="verify every signature again even when an identical earlier run verified it "
        "(the GitHub Action sets this: its cache, key included, is restored from storage other "
        "workflow runs can write, and a verdict is only as trustworthy as whoever wrote it)",
    )
    sources.add_argument(
        "--evidence",
        metavar="DIR",
        type=Path,
        help="verify from an evidence directory written by `verify-release fetch`, with no "
        "network at all (implies --offline)",
    )
    sources.add_argument(
        "--vuln-service",
        choices=["osv", "pypi"],
        default="osv",
        help="vulnerability service pip-audit asks (default: osv)",
    )
    sources.add_argument(
        "--osv-url", metavar="URL", help="OSV API root for pip-audit (a mirror or a private OSV)"
    )
    sources.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=30.0,
        help="read timeout per network request (default: 30)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=["text", "json", "sarif", "summary"],
        default="text",
        help="report format (default: text); summary is GitHub step-summary Markdown",
    )
    output.add_argument(
        "--sarif",
        metavar="FILE",
        type=Path,
        help="also write a SARIF 2.1.0 report to FILE (for code scanning); with "
        "$GITHUB_STEP_SUMMARY set, a summary table is appended there too",
    )
    output.add_argument(
        "--json",
        metavar="FILE",
        type=Path,
        help="also write the JSON report to FILE, whatever --format prints (on a usage error: "
        "the error document), e.g. for a CI step that shows text and keeps the JSON",
    )
    if command is None:
        output.add_argument(
            "--write-requirements",
            metavar="FILE",
            type=Path,
            help="after a VERIFIED run (exit 0 only), write NAME==VERSION --hash=sha256:... "
            "for exactly the files that were verified, so `pip install --require-hashes "
            "--no-deps -r FILE` installs only those bytes (a file added to the release later "
            "is never picked); any other verdict writes nothing and says so",
        )
    output.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=Path,
        help="write the report to FILE instead of standard output",
    )
    output.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines on standard error"
    )
    output.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show every line of a lockfile's report (by default one line per package, and "
        "details only for what FAILED or is UNVERIFIABLE); log network retries and library "
        "diagnostics to standard error",
    )
    return parser


def _run(args: argparse.Namespace, *, record: Path | None = None) -> int:
    from verifier.report import render
    from verifier.run import verify

    requirements: Path | None = getattr(args, "write_requirements", None)
    if requirements is not None:
        from verifier.install import check_destination

        check_destination(requirements)
    try:
        report = verify(args, record=record, progress=_progress)
    finally:
        _progress.finish()
    plan = None
    if requirements is not None:
        import dataclasses

        from verifier.install import plan_requirements

        # Decided now (the reports say what happens to the file), written last (below).
        plan = plan_requirements(report, requirements)
        report = dataclasses.replace(report, requirements=plan.outcome)
    _emit(render(report, args.format, verbose=args.verbose, columns=_columns()), args.output)
    # Warnings never change the verdict: like progress they go to standard error (the JSON and
    # SARIF reports keep them as data), so the report on standard output is the report alone.
    root_warnings = report.trust_root.warnings if report.trust_root else ()
    for warning in (*root_warnings, *report.warnings):
        print(safe_line(f"warning: {warning}"), file=sys.stderr, flush=True)
    if args.sarif is not None:
        atomic.write_text(args.sarif, render(report, "sarif"))
    if args.json is not None:
        atomic.write_text(args.json, render(report, "json"))
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        atomic.append_text(Path(summary_path), render(report, "summary"))
    if plan is not None and requirements is not None:
        # Last of all, once every other output is out and the exit code is known to be 0: a
        # run that stops non-zero (an output that could not be written) writes no requirements.
        from verifier.install import commit_requirements

        if report.verdict.exit_code == 0:
            commit_requirements(plan, requirements)
        print(safe_line(f"verify-release: {plan.outcome.message}"), file=sys.stderr)
    return report.verdict.exit_code


def _columns() -> int:
    """The terminal's width for the text report (``COLUMNS``, else the terminal, else 100)."""
    return shutil.get_terminal_size((100, 24)).columns


class _Progress:
    """Progress on standard error: one self-updating line on a terminal, plain lines in CI.

    Counter lines (``[n/total] ...``) redraw in place on a terminal so a 200-package lockfile
    does not scroll the report away; everything else (and everything in CI logs, where a
    carriage return garbles the output) is printed as a line of its own.
    """

    def __init__(self) -> None:
        self.live = sys.stderr.isatty() and not os.environ.get("CI")
        self._open = False

    def __call__(self, message: str) -> None:
        message = safe_line(message)
        if self.live and message.startswith("["):
            width = shutil.get_terminal_size((100, 20)).columns - 1
            sys.stderr.write("\r" + message[:width].ljust(width))
            sys.stderr.flush()
            self._open = True
            return
        self.finish()
        print(message, file=sys.stderr, flush=True)

    def finish(self) -> None:
        """End an open self-updating line."""
        if self._open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._open = False


_progress = _Progress()


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    atomic.write_text(output, text)


def build_bundle_parser() -> argparse.ArgumentParser:
    """``verify-release bundle``: one Sigstore bundle for one artifact or digest."""
    parser = _Parser(
        prog="verify-release bundle",
        description="Verify one Sigstore bundle for an artifact (or a sha256: digest) against an "
        "expected identity, like `sigstore verify identity`. Exit 0 only when it verifies.",
        epilog="exit codes: 0 verified, 1 failed, 3 usage error\n\nexample:\n"
        "  verify-release bundle --bundle dist/pkg-1.0.tar.gz.sigstore.json \\\n"
        "      --certificate-identity https://github.com/OWNER/REPO/.github/workflows/"
        "release.yml@refs/tags/v1.0 \\\n"
        "      --certificate-oidc-issuer https://token.actions.githubusercontent.com "
        "dist/pkg-1.0.tar.gz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "artifact", metavar="FILE_OR_DIGEST", help="the signed file, or its digest as sha256:HEX"
    )
    parser.add_argument(
        "--bundle",
        metavar="FILE",
        type=Path,
        required=True,
        help="the Sigstore bundle (.sigstore.json / .sigstore)",
    )
    parser.add_argument(
        "--certificate-identity",
        "--cert-identity",
        metavar="ID",
        required=True,
        help="the exact identity (SAN) the signing certificate must carry",
    )
    parser.add_argument(
        "--certificate-oidc-issuer",
        "--cert-oidc-issuer",
        metavar="URL",
        required=True,
        help="the OIDC issuer the certificate must name",
    )
    parser.add_argument(
        "--trusted-root",
        metavar="FILE",
        type=Path,
        help="a custom Sigstore trusted_root.json (default: production)",
    )
    parser.add_argument(
        "--offline", action="store_true", help="do not refresh the production trust root over TUF"
    )
    return parser


def _bundle_main(argv: Sequence[str]) -> int:
    parser = build_bundle_parser()
    args = parser.parse_args(argv)
    from verifier.checks.bundles import BundleFailure, BundleIdentity, verify_bundle
    from verifier.checks.hashes import sha256_file
    from verifier.trust import StagingDetector, load_custom, load_production

    try:
        validate_args(parser, args)
        if args.artifact.startswith("sha256:"):
            digest = args.artifact[len("sha256:") :].lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise UsageError(f"{args.artifact!r} is not a sha256:HEX digest")
        else:
            path = Path(args.artifact)
            if not path.is_file():
                raise UsageError(f"{path}: no such file")
            digest = sha256_file(path)
        try:
            raw = args.bundle.read_bytes()
        except OSError as exc:
            raise UsageError(f"--bundle {args.bundle}: cannot read: {exc.strerror}") from None
        custom = args.trusted_root is not None
        root = load_custom(args.trusted_root) if custom else load_production(offline=args.offline)
        root.load()  # a deferred --trusted-root: an unusable one is a usage error here
        identity = BundleIdentity(
            identity=args.certificate_identity,
            issuer=args.certificate_oidc_issuer,
            repository=None,
            ref=None,
        )
        cert = verify_bundle(
            root.verifier,
            raw,
            digest=digest,
            identity=identity,
            staging=None if custom else StagingDetector(),
        )
    except VerifierError as exc:
        print(f"verify-release bundle: error: {_diagnostics(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except BundleFailure as failure:
        print(safe_line(f"FAILED: {failure.message}"))
        if failure.expected:
            print(safe_line(f"  expected: {failure.expected}"))
        if failure.actual:
            print(safe_line(f"  got:      {failure.actual}"))
        if failure.hint:
            print(safe_line(f"hint: {failure.hint}"), file=sys.stderr)
        return Verdict.FAILED.exit_code
    for warning in root.info.warnings:
        print(safe_line(f"warning: {warning}"), file=sys.stderr)
    print(
        safe_line(
            f"VERIFIED: sha256:{digest} signed by {cert.identity} (issuer {cert.issuer}); "
            f"trust root: {root.info.description}"
        )
    )
    return Verdict.VERIFIED.exit_code


def _fetch(args: argparse.Namespace) -> int:
    """Verify while recording every response into ``--out``."""
    if args.evidence is not None:
        raise UsageError("fetch writes an evidence directory; it cannot also read one")
    args.out.mkdir(parents=True, exist_ok=True)
    code = _run(args, record=args.out)
    print(
        f"verify-release fetch: evidence stored in {args.out}; verify it offline with "
        f"`verify-release --evidence {args.out} --offline ...`",
        file=sys.stderr,
    )
    return code


def _pin(args: argparse.Namespace) -> int:
    """Record every package's observed publisher in the policy file; 1 if a pin lost its proof."""
    import dataclasses

    from packaging.utils import InvalidName, NormalizedName, canonicalize_name

    from verifier.pins import apply_pins, checked_names, observed_publishers, plan_pins
    from verifier.policy import find_policy_file, load_policy_file

    if not args.lockfiles and not args.unpin:
        raise UsageError("pin needs --lockfile FILE")
    unpin: set[NormalizedName] = set()
    accept: set[NormalizedName] = set()
    for flag, names, into in (("--unpin", args.unpin, unpin), ("--accept", args.accept, accept)):
        for name in names:
            try:
                into.add(canonicalize_name(name, validate=True))
            except InvalidName:
                raise UsageError(f"{flag} {name!r} is not a valid project name") from None
    path = args.policy or find_policy_file(Path.cwd()) or Path("verify-release.toml")
    existing = load_policy_file(path) if path.exists() else None
    if unpin:
        # A misspelt --unpin is refused before a long verification, not after it.
        plan_pins(path, path.read_text("utf-8") if existing else "", existing, {}, unpin=unpin)
    observed = {}
    checked: frozenset[NormalizedName] = frozenset()
    if args.lockfiles:
        args.policy = path if path.exists() else None
        from verifier.run import Session

        session = Session(args, progress=_progress)
        if session.policy_file is not None:
            # Observe afresh: PyPI's record, not the old pins, decides what verifies now.
            session.pipeline.policy_file = dataclasses.replace(
                session.policy_file, publishers={}, pinned=frozenset()
            )
        session.pipeline.identity_from_index = False
        try:
            reports = [report for report, _, _ in session.releases()]
        finally:
            session.close()
        observed = observed_publishers(reports)
        checked = checked_names(reports)
    plan = apply_pins(
        path, observed, checked=checked, unpin=unpin, accept=accept, dry_run=args.dry_run
    )
    for line in plan.lines:
        print(safe_line(line))
    if args.dry_run:
        status = f"dry run: {plan.changes} change(s), nothing written to {path}"
    elif plan.after == plan.before:
        status = f"{path} is up to date"
    else:
        status = f"{plan.changes} change(s) written to {path}"
    print(f"verify-release pin: {status}", file=sys.stderr)
    if plan.lost:
        print(
            f"verify-release pin: {len(plan.lost)} pinned package(s) have no verified "
            f"attestations this run and keep their pins: {', '.join(plan.lost)}",
            file=sys.stderr,
        )
    if plan.refused:
        print(
            f"verify-release pin: {len(plan.refused)} package(s) not pinned: their publisher "
            f"record cannot be written: {', '.join(plan.refused)}",
            file=sys.stderr,
        )
    if plan.changed:
        print(
            f"verify-release pin: {len(plan.changed)} pinned package(s) have another publisher "
            f"this run and keep their pins: {', '.join(plan.changed)} (accept a change with "
            "--accept NAME)",
            file=sys.stderr,
        )
    if plan.lost or plan.refused or plan.changed:
        return Verdict.FAILED.exit_code
    return 0


def _print_version(trusted_root: object) -> int:
    """``-V``: the versions a bug report needs, and the trust root a run would verify against.

    verify-release's, sigstore's and pypi-attestations' versions come first.

    Nothing is fetched: a custom root is named by its path and sha256, the production root by
    its TUF repository and the sha256 of the copy embedded in sigstore (used offline).
    """
    from verifier.trust import describe_root

    path = trusted_root if isinstance(trusted_root, Path) else None
    lines = [f"verify-release {__version__}", *describe_root(path)]
    print("\n".join(safe_line(line) for line in lines))
    return 0


def _diagnostics(exc: VerifierError) -> str:
    """An error's message and hint for standard error, each made safe for a terminal."""
    text = safe_line(exc.message)
    return text if exc.hint is None else f"{text}\nhint: {safe_line(exc.hint)}"


class _SafeFormatter(logging.Formatter):
    """Log records quote servers and libraries: each record is printed as one safe line."""

    def format(self, record: logging.LogRecord) -> str:
        return safe_line(super().format(record))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 verified, 1 failed, 2 unverifiable, 3 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["help"]:
        # `verify-release help [fetch|pin|bundle]`, as gh and pip users type it.
        topic = argv[1:2]
        argv = [*topic, "--help"] if topic in (["fetch"], ["pin"], ["bundle"]) else ["--help"]
    if argv[:1] == ["bundle"]:
        return _bundle_main(argv[1:])
    command = argv[0] if argv[:1] in (["fetch"], ["pin"]) else None
    parser = build_parser(command)
    args = parser.parse_args(argv[1:] if command else argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, handlers=[handler])
    try:
        validate_args(parser, args)
        if args.version:
            return _print_version(args.trusted_root)
        if command == "fetch":
            return _fetch(args)
        if command == "pin":
            return _pin(args)
        return _run(args)
    except VerifierError as exc:
        # Usage errors mean the question could not be asked (3); anything else that stops a
        # run before a report exists (e.g. no usable trust root) means nothing was proven (2).
        # A file that could not be written was left as it was; unless the path was the
        # problem (3), that is an internal failure (4), never a verdict.
        code = EXIT_USAGE if isinstance(exc, UsageError) else Verdict.UNVERIFIABLE.exit_code
        if isinstance(exc, FileNotWritten) and not isinstance(exc, UsageError):
            code = EXIT_INTERNAL
        verdict = "error" if code in (EXIT_USAGE, EXIT_INTERNAL) else Verdict.UNVERIFIABLE.value
        print(f"verify-release: error: {_diagnostics(exc)}", file=sys.stderr)
        json_file = getattr(args, "json", None)
        unwritten = exc.path if isinstance(exc, FileNotWritten) else None
        output = args.output if isinstance(args.output, Path) else None
        to_stdout = args.format == "json" and (output is None or output.resolve() != unwritten)
        to_file = isinstance(json_file, Path) and json_file.resolve() != unwritten
        if to_stdout or to_file:
            document = {
                "schema_version": 1,
                "tool": {"name": "verify-release", "version": __version__},
                "verdict": verdict,
                "exit_code": code,
                "error": {
                    "message": redact_urls(exc.message),
                    "hint": None if exc.hint is None else redact_urls(exc.hint),
                },
            }
            text = json.dumps(document, indent=2) + "\n"
            if to_stdout:
                with contextlib.suppress(FileNotWritten):  # already said: nothing more to add
                    _emit(text, output)
            if to_file and isinstance(json_file, Path):
                # The error was already printed; a FILE that cannot be written leaves the
                # caller with no report, which it must read as "nothing was verified".
                with contextlib.suppress(FileNotWritten):
                    atomic.write_text(json_file, text)
        return code
    except (KeyboardInterrupt, atomic.Terminated) as exc:
        from verifier import children

        children.stop()
        _interrupted.set()
        if isinstance(exc, atomic.Terminated):
            print(TERMINATED_MESSAGE, file=sys.stderr)
            return EXIT_TERMINATED
        print("verify-release: interrupted; nothing was verified", file=sys.stderr)
        return EXIT_INTERNAL


EXIT_TERMINATED = 128 + 15
"""SIGTERM's exit code as a shell reports it: CI reads the run as cancelled, never as a verdict."""
TERMINATED_MESSAGE = (
    "verify-release: terminated; nothing was verified, and a file being written was left as it was"
)


_interrupted = threading.Event()
"""Set once Ctrl-C stopped a run: ``entry`` then exits without waiting for its threads."""


def entry() -> None:
    """Console-script entry point.

    A bug must never look like a verdict: Python's default exit code for an uncaught exception
    is 1, which here means FAILED. Anything unexpected exits 4 instead, says nothing was
    verified, and keeps the traceback for the bug report.
    """
    # A cancelled CI job or a timeout sends SIGTERM: unwind like Ctrl-C, so a file being
    # written keeps its old content and its temporary file is removed.
    atomic.terminate_as_exception()
    try:
        code = main()
    except atomic.Terminated:  # before main's own handler took over
        print(TERMINATED_MESSAGE, file=sys.stderr)
        code = EXIT_TERMINATED
    except Exception:
        import traceback

        traceback.print_exc()
        print(
            f"verify-release: internal error (a bug in verify-release {__version__}); nothing was "
            "verified. Please report it with the traceback above.",
            file=sys.stderr,
        )
        code = EXIT_INTERNAL
    if _interrupted.is_set():
        # A normal exit joins every pool thread, and a thread waiting for a stalled server
        # would hold the exit for up to --timeout: the children are killed, the message is
        # out, so leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code != EXIT_INTERNAL:
        # A run that ended as designed has written everything (files whole, by rename; the
        # helpers reaped; the scratch directory removed): the interpreter's own teardown
        # (joining idle pool threads, freeing every module) only delays the exit, by 15 to
        # 60 ms measured after a lockfile run. An output that cannot be flushed takes the
        # normal way out, which reports it; so does a bug (exit 4), traceback and all.
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            sys.exit(code)
        os._exit(code)
    sys.exit(code)
