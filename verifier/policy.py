"""Who is expected to have published a release, and which gaps are tolerated.

The policy is data (frozen dataclasses) so that the verdict can say which rule made an outcome
fatal. Command-line flags build it today; policy files will build the same objects.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from packaging.utils import InvalidName, NormalizedName, canonicalize_name

from verifier.errors import PolicyError
from verifier.models import MISSING_ALLOWABLE, REQUIRABLE, SKIPPABLE, EvidenceKind

ALLOWABLE_MISSING = EvidenceKind.names(MISSING_ALLOWABLE)
"""Evidence kinds a user may declare optional with ``--allow-missing``."""
REQUIRABLE_KINDS = EvidenceKind.names(REQUIRABLE)

_SLUG = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
_FORGES = {"github.com": "GitHub", "gitlab.com": "GitLab"}
_GITHUB_RESERVED = frozenset(
    {
        "sponsors",
        "orgs",
        "apps",
        "marketplace",
        "features",
        "topics",
        "collections",
        "settings",
        "users",
        "enterprises",
        "login",
    }
)


@dataclass(frozen=True)
class ExpectedPublisher:
    """The Trusted Publisher a release must come from.

    ``source`` says where the expectation came from: ``command line`` (strong) or
    ``index project URLs`` (weaker: whoever controls the project can change them).
    """

    kind: str
    """``GitHub``, ``GitLab``, ``Google`` or ``CircleCI`` (pypi-attestations' publisher kinds)."""
    repository: str
    """``OWNER/REPO`` (GitHub) or ``NAMESPACE/.../PROJECT`` (GitLab); for Google the service
    account's email, for CircleCI ``PROJECT_ID/PIPELINE_DEFINITION_ID`` (see ``url``)."""
    workflow: str | None = None
    environment: str | None = None
    source: str = "command line"

    @property
    def forge(self) -> bool:
        """A GitHub or GitLab publisher: one that names a repository (and maybe a tag)."""
        return self.kind in FORGE_KINDS

    @property
    def url(self) -> str:
        """The identity as the certificate writes it.

        GitHub/GitLab: the repository URL of the Source Repository URI claim; Google: the
        service account's email (the certificate's SAN); CircleCI: the Build Signer URI that
        names the project and the pipeline definition.
        """
        if self.kind == "Google":
            return self.repository
        if self.kind == "CircleCI":
            project, _, pipeline = self.repository.partition("/")
            return f"{CIRCLECI_API}/projects/{project}/pipeline-definitions/{pipeline}"
        host = "github.com" if self.kind == "GitHub" else "gitlab.com"
        return f"https://{host}/{self.repository}"

    @property
    def email(self) -> str:
        """Google: the service account's email."""
        return self.repository

    @property
    def circleci_ids(self) -> tuple[str, str]:
        """CircleCI: (project id, pipeline definition id)."""
        project, _, pipeline = self.repository.partition("/")
        return project, pipeline

    def as_dict(self) -> dict[str, str | None]:
        """Plain mapping for reports."""
        return {
            "kind": self.kind,
            "repository": self.url,
            "workflow": self.workflow,
            "environment": self.environment,
            "source": self.source,
        }


def parse_repository_url(
    url: str, *, source: str, workflow: str | None = None, environment: str | None = None
) -> ExpectedPublisher:
    """``https://github.com/OWNER/REPO`` (or gitlab.com) -> ``ExpectedPublisher``.

    Raises ``PolicyError`` for anything else, naming what is accepted.
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    path = parts.path.strip("/")
    if "/-/" in f"{path}/":
        # GitLab's separator: what follows (issues, tree, merge requests) is not the project.
        path = f"{path}/".split("/-/", 1)[0]
    if path.endswith(".git"):
        path = path[:-4]
    kind = _FORGES.get(host)
    if parts.scheme == "https" and kind is not None and path and "/" not in path:
        raise PolicyError(
            f"{url!r} does not name a repository (OWNER/REPO)",
            hint=f"pass it as https://{host}/{path}/REPOSITORY",
        )
    if parts.scheme != "https" or kind is None or not _SLUG.match(path):
        raise PolicyError(
            f"{url!r} is not a GitHub or GitLab repository URL",
            hint="pass it as https://github.com/OWNER/REPO or https://gitlab.com/GROUP/PROJECT",
        )
    segments = path.split("/")
    if any(set(segment) <= {"."} for segment in segments):
        raise PolicyError(f"{url!r}: '.' and '..' are not repository names")
    if kind == "GitHub":
        if segments[0].lower() in _GITHUB_RESERVED:
            raise PolicyError(f"{url!r} is a GitHub page, not a repository")
        segments = segments[:2]
    if workflow is not None:
        check_workflow(kind, workflow, flag="--workflow")
    return ExpectedPublisher(
        kind=kind,
        repository="/".join(segments),
        workflow=workflow,
        environment=environment,
        source=source,
    )


FORGE_KINDS = ("GitHub", "GitLab")
CIRCLECI_API = "https://circleci.com/api/v2"
_EMAIL = re.compile(r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def google_publisher(email: str, *, source: str, where: str) -> ExpectedPublisher:
    """A Google Cloud Trusted Publisher: the service account that must have signed.

    ``where`` names the flag or policy key in errors.
    """
    text = email.strip()
    if not _EMAIL.match(text):
        raise PolicyError(
            f"{where} {email!r} is not a service account email",
            hint="e.g. NAME@PROJECT.iam.gserviceaccount.com, as PyPI shows the publisher",
        )
    return ExpectedPublisher(kind="Google", repository=text, source=source)


def circleci_publisher(
    project: str, pipeline: str, *, source: str, where: tuple[str, str]
) -> ExpectedPublisher:
    """A CircleCI Trusted Publisher: the project and pipeline definition that must have signed.

    Both are UUIDs; the certificate's Build Signer URI names them, and both are compared.
    """
    ids = []
    for value, name in ((project, where[0]), (pipeline, where[1])):
        text = value.strip().lower()
        if not _UUID.match(text):
            raise PolicyError(
                f"{name} {value!r} is not a CircleCI id (a UUID)",
                hint="copy the project id and the pipeline definition id from the CircleCI "
                "project settings (or PyPI's publisher record)",
            )
        ids.append(text)
    return ExpectedPublisher(kind="CircleCI", repository="/".join(ids), source=source)


def check_workflow(kind: str, workflow: str, *, flag: str) -> None:
    """A GitHub workflow is a file name under .github/workflows, never a path."""
    if kind == "GitHub" and ("/" in workflow or "\\" in workflow):
        raise PolicyError(
            f"{flag} {workflow!r}: give the workflow's file name (e.g. release.yml), not a path"
        )


_URL_KEYS = (
    "source",
    "source code",
    "repository",
    "code",
    "github",
    "gitlab",
    "homepage",
    "home",
    "home page",
)


def publisher_from_project_urls(urls: Mapping[str, str]) -> ExpectedPublisher | None:
    """The repository a project's metadata points at, if any (first by conventional label)."""
    ranked = sorted(
        ((k, v) for k, v in urls.items() if k.strip().lower() in _URL_KEYS),
        key=lambda kv: (
            _URL_KEYS.index(kv[0].strip().lower())
            if kv[0].strip().lower() in _URL_KEYS
            else len(_URL_KEYS)
        ),
    )
    for _, value in ranked:
        try:
            return parse_repository_url(value, source="index project URLs")
        except PolicyError:
            continue
    return None


@dataclass(frozen=True)
class Policy:
    """What the run requires for one release; the judge (``verifier.judge``) reads only this.

    Every instruction remembers where it came from (``sources``: a flag, a policy file by path
    and key, a pin), so each judged finding can name it. Contradictory instructions for one kind
    of evidence (``--require tags`` with ``--skip tags`` or ``--allow-missing tags``, from any
    mix of flags and files) refuse to exist: a ``PolicyError`` (exit 3), never a silent winner.
    """

    expected: ExpectedPublisher | None = None
    allow_missing: frozenset[str] = field(default_factory=frozenset)
    required: frozenset[str] = field(default_factory=frozenset)
    """Evidence kinds whose absence (or an unsigned tag) is FAILED rather than UNVERIFIABLE."""
    skip: frozenset[str] = field(default_factory=frozenset)
    """Evidence kinds not checked at all (``--skip``); reported as SKIPPED."""
    pinned: bool = False
    """The publisher was recorded by ``verify-release pin``: losing attestations is FAILED."""
    sources: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """(action, kind) -> where that instruction came from; absent means the command-line flag
    (``--require tags``)."""
    pin_source: str | None = None
    """The policy file holding this package's pin, when ``pinned``."""
    unindexed: str | None = None
    """Where this package was allowed to come from outside an index (None: it was not)."""
    ignores: tuple[VulnIgnore, ...] = ()
    """Known vulnerabilities the user accepts (from the policy file named in ``ignores_source``)."""
    ignores_source: str | None = None
    partially_attested: str | None = None
    """Where this package was named as partially attested (``[packages.NAME]
    partially-attested = true``): a file without attestations next to attested siblings is then
    not a downgrade. None: it is one."""
    not_published: Mapping[str, str] = field(default_factory=dict)
    """Evidence kinds (bundles, tags) the project's history shows it does not publish, with
    where that came from (``history: 1.0.0, uploaded ..., carried no ...``): their absence is
    SKIPPED as "not published by this project". Set by the pipeline from the history, never
    by a flag or file; an explicit ``--require`` still wins."""

    def __post_init__(self) -> None:
        for kind in sorted(self.required & (self.skip | self.allow_missing)):
            other = "skip" if kind in self.skip else "allow-missing"
            raise PolicyError(
                f"conflicting instructions for {kind}: {self.source('require', kind)} "
                f"and {self.source(other, kind)}",
                hint=f"keep one of them: {kind} cannot be both required and "
                f"{'skipped' if other == 'skip' else 'tolerated when missing'}",
            )

    def source(self, action: str, kind: str) -> str:
        """Where the instruction ``action kind`` (``require tags``) came from."""
        return self.sources.get((action, kind), f"--{action} {kind}")

    def for_package(
        self,
        name: NormalizedName,
        policy_file: PolicyFile | None,
        identities: tuple[dict[str, str], ...] = (),
        *,
        allow_unindexed: Mapping[NormalizedName, str] | None = None,
    ) -> Policy:
        """The command-line policy, extended by the policy file's rules for ``name``.

        The expected publisher is, strongest first: the command line, the policy file (pinned
        or written by hand), the lockfile's PEP 751 ``attestation-identities``.
        ``allow_unindexed``: packages the command line allows from outside an index, with the
        flag that did.
        """
        allow = set(self.allow_missing)
        require = set(self.required)
        skip = set(self.skip)
        sources = dict(self.sources)
        expected = self.expected
        pinned = False
        pin_source = None
        unindexed = (allow_unindexed or {}).get(name)
        ignores: tuple[VulnIgnore, ...] = ()
        ignores_source = None
        partial = None
        if policy_file is not None:
            where = policy_file.describe()
            prefix = "tool.verify-release." if policy_file.path.name == "pyproject.toml" else ""
            for table, rules in (
                (prefix, policy_file.rules),
                (f"{prefix}packages.{name}.", policy_file.packages.get(name, Rules())),
            ):
                for action, kinds, into in (
                    ("allow-missing", rules.allow_missing, allow),
                    ("require", rules.require, require),
                    ("skip", rules.skip, skip),
                ):
                    for kind in kinds:
                        into.add(kind)
                        sources.setdefault((action, kind), f"{where}: {table}{action}")
            if expected is None and name in policy_file.publishers:
                expected = policy_file.publishers[name]
                pinned = name in policy_file.pinned
                pin_source = f"{where}: {prefix}publishers.{name}"
            if unindexed is None and name in policy_file.unindexed:
                unindexed = f"{where}: {prefix}packages.{name}.allow-unindexed"
            if name in policy_file.partially_attested:
                partial = f"{where}: {prefix}packages.{name}.partially-attested"
            ignores = policy_file.ignores
            ignores_source = where
        if expected is None:
            expected = publisher_from_identities(identities)
        return Policy(
            expected=expected,
            allow_missing=frozenset(allow),
            required=frozenset(require),
            skip=frozenset(skip),
            pinned=pinned,
            sources=sources,
            pin_source=pin_source,
            unindexed=unindexed,
            ignores=ignores,
            ignores_source=ignores_source,
            partially_attested=partial,
        )


def publisher_from_identities(identities: tuple[dict[str, str], ...]) -> ExpectedPublisher | None:
    """The first GitHub/GitLab publisher among PEP 751 ``attestation-identities``."""
    for identity in identities:
        kind = identity.get("kind")
        repository = identity.get("repository")
        if kind not in ("GitHub", "GitLab") or not repository:
            continue
        host = "github.com" if kind == "GitHub" else "gitlab.com"
        try:
            return parse_repository_url(
                f"https://{host}/{repository}",
                source="lockfile attestation-identities",
                workflow=identity.get("workflow") or identity.get("workflow_filepath"),
                environment=identity.get("environment"),
            )
        except PolicyError:
            continue
    return None


# -- policy files ------------------------------------------------------------------------------

CHECK_KINDS = ALLOWABLE_MISSING
SKIPPABLE_KINDS = EvidenceKind.names(SKIPPABLE)
PIN_BEGIN = (
    "# --- publisher pins: managed by `verify-release pin`; edit or re-pin to accept a change ---"
)
PIN_END = "# --- end of publisher pins ---"


@dataclass(frozen=True)
class VulnIgnore:
    """A known vulnerability the user accepts, with a reason and an expiry date."""

    id: str
    reason: str
    expires: date
    package: NormalizedName | None = None


@dataclass(frozen=True)
class Rules:
    """Which evidence is tolerated missing, required, or not checked."""

    allow_missing: frozenset[str] = frozenset()
    require: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()

    def merged(self, other: Rules) -> Rules:
        """These rules with ``other``'s added (package rules extend the global ones)."""
        return Rules(
            self.allow_missing | other.allow_missing,
            self.require | other.require,
            self.skip | other.skip,
        )


@dataclass(frozen=True)
class PolicyFile:
    """A validated ``[tool.verify-release]`` table or ``verify-release.toml``."""

    path: Path
    rules: Rules = Rules()
    packages: Mapping[NormalizedName, Rules] = field(default_factory=dict)
    publishers: Mapping[NormalizedName, ExpectedPublisher] = field(default_factory=dict)
    pinned: frozenset[NormalizedName] = frozenset()
    """Packages whose publisher was recorded by ``verify-release pin`` (trust on first use)."""
    tag_template: str | None = None
    allowed_signers: Path | None = None
    gpg_keyring: Path | None = None
    ignores: tuple[VulnIgnore, ...] = ()
    unindexed: frozenset[NormalizedName] = frozenset()
    """Packages that may come from outside an index (a URL, a path, git) without failing the run
    (``[packages.NAME] allow-unindexed = true``); each is named exactly, never by pattern."""
    partially_attested: frozenset[NormalizedName] = frozenset()
    """Packages whose releases may mix attested and unattested files
    (``[packages.NAME] partially-attested = true``), each named exactly."""
    found_implicitly: bool = False
    """Found in the working directory rather than named with ``--policy``."""

    def describe(self) -> str:
        """The file as reports name it (a rule's source)."""
        how = " (found in the working directory)" if self.found_implicitly else ""
        return f"policy file {self.path}{how}"

    def rules_for(self, name: NormalizedName) -> Rules:
        """Global rules extended by the package's own."""
        return self.rules.merged(self.packages.get(name, Rules()))


def _where(path: Path, keys: list[str]) -> str:
    return f"{path}: {'.'.join(keys)}"


def _expect_table(value: object, path: Path, keys: list[str]) -> dict[str, object]:
    if not isinstance(value, dict):
        raise PolicyError(f"{_where(path, keys)} must be a table")
    return value


def _check_keys(
    table: Mapping[str, object], allowed: tuple[str, ...], path: Path, keys: list[str]
) -> None:
    for key in table:
        if key not in allowed:
            raise PolicyError(
                f"{_where(path, [*keys, key])}: unknown key",
                hint=f"allowed here: {', '.join(allowed)}",
            )


def _string(value: object, path: Path, keys: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{_where(path, keys)} must be a non-empty string")
    return value


def _kinds(value: object, allowed: tuple[str, ...], path: Path, keys: list[str]) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{_where(path, keys)} must be a list of strings")
    for item in value:
        if item not in allowed:
            raise PolicyError(
                f"{_where(path, keys)}: unknown kind {item!r}", hint=f"one of: {', '.join(allowed)}"
            )
    return frozenset(value)


def _rules(table: Mapping[str, object], path: Path, keys: list[str]) -> Rules:
    return Rules(
        allow_missing=_kinds(
            table.get("allow-missing", []), CHECK_KINDS, path, [*keys, "allow-missing"]
        ),
        require=_kinds(table.get("require", []), REQUIRABLE_KINDS, path, [*keys, "require"]),
        skip=_kinds(table.get("skip", []), SKIPPABLE_KINDS, path, [*keys, "skip"]),
    )


def _package_name(name: str, path: Path, keys: list[str]) -> NormalizedName:
    # packaging's own validation (a full match): a hand-written ``^...$`` let "foo\n" through.
    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        raise PolicyError(f"{_where(path, keys)}: {name!r} is not a valid project name") from None


def _unique_name(
    name: str,
    seen: dict[NormalizedName, str],
    path: Path,
    keys: list[str],
) -> NormalizedName:
    """``name`` normalised; a second spelling of a project already in ``seen`` is an error.

    TOML sees ``[packages.Foo_Bar]`` and ``[packages.foo-bar]`` as two tables, but they rule
    one project: letting the later one win silently would drop the other's rules.
    """
    normalized = _package_name(name, path, keys)
    if normalized in seen:
        first = seen[normalized]
        raise PolicyError(
            f"{_where(path, keys)}: {name!r} and {first!r} name the same project",
            hint=f"merge the two tables into one [{keys[-2]}.{normalized}]",
        )
    seen[normalized] = name
    return normalized


def check_tag_template(template: str, where: str) -> str:
    """The one rule for a tag template, shared by ``--tag-template`` and ``[tags] template``.

    Without ``{version}`` every release would name the same tag, so a tag signed once would
    vouch for all later releases; a control character cannot be part of a git tag name.
    """
    if "{version}" not in template:
        raise PolicyError(
            f"{where} must contain {{version}}",
            hint="e.g. release-{version}: without it every release names the same tag",
        )
    if control_character(template) is not None:
        raise PolicyError(
            f"{where} contains a control character",
            hint="a tag name is one line of printable text",
        )
    return template


def control_character(text: str) -> str | None:
    """The first control, format (e.g. a right-to-left override) or line-separator character.

    One rule for every single-line value (identities, URLs, tag templates): such a character
    can make what a report shows differ from what was checked.
    """
    import unicodedata

    return next((c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)


MAX_POLICY_BYTES = 4 * 1024 * 1024
"""Real policy files are a few KB; the cap keeps ``--policy /dev/zero``-like mistakes finite."""


def _read_policy_text(path: Path) -> str:
    """The text of a policy file: a regular file only, read up to ``MAX_POLICY_BYTES``.

    Opened non-blocking and checked with ``fstat`` on the open descriptor, so a FIFO with no
    writer cannot hang the run and a file swapped after a ``stat`` cannot slip past the check.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PolicyError(
            f"{path}: the policy file is not a regular file",
            hint="pass the policy file itself, not a directory, pipe or device",
        )
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(MAX_POLICY_BYTES + 1)
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(
            f"{path}: the policy file is larger than {MAX_POLICY_BYTES} bytes",
            hint="check that you passed the policy file",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None


def _parse_toml(path: Path, text: str | None = None) -> dict[str, object]:
    """The policy file's TOML; every failure, deep nesting included, is a ``PolicyError``.

    ``text``: already read (or about to be written) text, checked under ``path``'s name.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    if text is None:
        text = _read_policy_text(path)
    elif len(text.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        raise PolicyError(
            f"{path}: the policy file is larger than {MAX_POLICY_BYTES} bytes",
            hint="check that you passed the policy file",
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        # tomllib recurses once per nested array or inline table; a few hundred levels exhaust
        # the interpreter's stack. No policy nests more than three deep.
        raise PolicyError(
            f"{path}: nested too deeply to be a policy file",
            hint="a policy file nests tables and arrays a few levels deep at most",
        ) from None


def load_policy_file(path: Path, *, text: str | None = None) -> PolicyFile:
    """Read and strictly validate a policy file; every error names the file and key path.

    ``text``: validate this text as ``path``'s content instead of reading it (``pin`` checks
    what it would write before writing it, under the lock it read it under).
    ``pyproject.toml`` is read from its ``[tool.verify-release]`` table (absent: an empty
    policy); any other file is the policy itself.
    """
    data = _parse_toml(path, text)
    keys: list[str] = []
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        table = tool.get("verify-release", {}) if isinstance(tool, dict) else {}
        keys = ["tool", "verify-release"]
        table = _expect_table(table, path, keys)
    else:
        table = data
    _check_keys(
        table,
        ("allow-missing", "require", "skip", "tags", "packages", "publishers", "vulnerabilities"),
        path,
        keys,
    )
    rules = _rules(table, path, keys)
    packages: dict[NormalizedName, Rules] = {}
    unindexed: set[NormalizedName] = set()
    partially: set[NormalizedName] = set()
    spellings: dict[NormalizedName, str] = {}
    for name, value in _expect_table(table.get("packages", {}), path, [*keys, "packages"]).items():
        where = [*keys, "packages", name]
        entry = _expect_table(value, path, where)
        _check_keys(
            entry,
            ("allow-missing", "require", "skip", "allow-unindexed", "partially-attested"),
            path,
            where,
        )
        normalized = _unique_name(name, spellings, path, where)
        packages[normalized] = _rules(entry, path, where)
        allow = entry.get("allow-unindexed", False)
        if not isinstance(allow, bool):
            raise PolicyError(f"{_where(path, [*where, 'allow-unindexed'])} must be true or false")
        if allow:
            unindexed.add(normalized)
        partial = entry.get("partially-attested", False)
        if not isinstance(partial, bool):
            raise PolicyError(
                f"{_where(path, [*where, 'partially-attested'])} must be true or false"
            )
        if partial:
            partially.add(normalized)
    publishers: dict[NormalizedName, ExpectedPublisher] = {}
    spellings = {}
    pinned: set[NormalizedName] = set()
    for name, value in _expect_table(
        table.get("publishers", {}), path, [*keys, "publishers"]
    ).items():
        where = [*keys, "publishers", name]
        entry = _expect_table(value, path, where)
        _check_keys(entry, (*_PUBLISHER_KEYS, "pinned"), path, where)
        other = _other_publisher(entry, path, where)
        if other is not None:
            if not isinstance(entry.get("pinned", False), bool):
                raise PolicyError(f"{_where(path, [*where, 'pinned'])} must be true or false")
            normalized = _unique_name(name, spellings, path, where)
            publishers[normalized] = other
            if entry.get("pinned", False):
                pinned.add(normalized)
            continue
        repository = _string(entry.get("repository"), path, [*where, "repository"])
        workflow = entry.get("workflow")
        environment = entry.get("environment")
        for key, item in (("workflow", workflow), ("environment", environment)):
            if item is not None:
                _string(item, path, [*where, key])
        if not isinstance(entry.get("pinned", False), bool):
            raise PolicyError(f"{_where(path, [*where, 'pinned'])} must be true or false")
        if isinstance(workflow, str):
            kind = "GitHub" if "github.com" in repository.lower() else "GitLab"
            check_workflow(kind, workflow, flag=_where(path, [*where, "workflow"]))
        try:
            publisher = parse_repository_url(
                repository,
                source=f"policy {path.name}",
                workflow=workflow if isinstance(workflow, str) else None,
                environment=environment if isinstance(environment, str) else None,
            )
        except PolicyError as exc:
            raise PolicyError(
                f"{_where(path, [*where, 'repository'])}: {exc.message}", hint=exc.hint
            ) from None
        normalized = _unique_name(name, spellings, path, where)
        publishers[normalized] = publisher
        if entry.get("pinned", False):
            pinned.add(normalized)
    tags = _expect_table(table.get("tags", {}), path, [*keys, "tags"])
    _check_keys(tags, ("template", "allowed-signers", "gpg-keyring"), path, [*keys, "tags"])
    template = tags.get("template")
    if template is not None:
        check_tag_template(
            _string(template, path, [*keys, "tags", "template"]),
            _where(path, [*keys, "tags", "template"]),
        )

    def _relative(key: str) -> Path | None:
        value = tags.get(key)
        if value is None:
            return None
        return (path.parent / _string(value, path, [*keys, "tags", key])).resolve()

    ignores = _ignores(table.get("vulnerabilities", {}), path, [*keys, "vulnerabilities"])
    return PolicyFile(
        path=path,
        rules=rules,
        packages=packages,
        publishers=publishers,
        pinned=frozenset(pinned),
        tag_template=template if isinstance(template, str) else None,
        allowed_signers=_relative("allowed-signers"),
        gpg_keyring=_relative("gpg-keyring"),
        ignores=ignores,
        unindexed=frozenset(unindexed),
        partially_attested=frozenset(partially),
    )


_PUBLISHER_KEYS = (
    "repository",
    "workflow",
    "environment",
    "google-service-account",
    "circleci-project",
    "circleci-pipeline-definition",
)


def _other_publisher(
    entry: Mapping[str, object], path: Path, where: list[str]
) -> ExpectedPublisher | None:
    """A ``[publishers.NAME]`` entry for Google Cloud or CircleCI, else None (a repository).

    Exactly one kind per entry: keys of two kinds would leave it to the order of the checks
    which one is enforced.
    """
    google = entry.get("google-service-account")
    project = entry.get("circleci-project")
    pipeline = entry.get("circleci-pipeline-definition")
    given = [
        key
        for key, value in (
            ("repository", entry.get("repository")),
            ("google-service-account", google),
            ("circleci-project", project if project is not None else pipeline),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise PolicyError(
            f"{_where(path, where)}: give one publisher: {' or '.join(given)}",
            hint="a package has one Trusted Publisher; keep the keys of one kind",
        )
    if google is None and project is None and pipeline is None:
        return None
    for refinement in ("workflow", "environment"):
        if refinement in entry:
            raise PolicyError(
                f"{_where(path, [*where, refinement])} applies to a GitHub or GitLab "
                "repository only"
            )
    source = f"policy {path.name}"
    if google is not None:
        google_key = [*where, "google-service-account"]
        return google_publisher(
            _string(google, path, google_key), source=source, where=_where(path, google_key)
        )
    project_key = [*where, "circleci-project"]
    pipeline_key = [*where, "circleci-pipeline-definition"]
    if project is None or pipeline is None:
        missing = project_key if project is None else pipeline_key
        raise PolicyError(
            f"{_where(path, missing)} is missing: a CircleCI publisher is a project and a "
            "pipeline definition"
        )
    return circleci_publisher(
        _string(project, path, project_key),
        _string(pipeline, path, pipeline_key),
        source=source,
        where=(_where(path, project_key), _where(path, pipeline_key)),
    )


def _ignores(value: object, path: Path, keys: list[str]) -> tuple[VulnIgnore, ...]:
    table = _expect_table(value, path, keys)
    _check_keys(table, ("ignore",), path, keys)
    raw = table.get("ignore", [])
    if not isinstance(raw, list):
        raise PolicyError(f"{_where(path, [*keys, 'ignore'])} must be an array of tables")
    ignores: list[VulnIgnore] = []
    seen: dict[tuple[str, NormalizedName | None], tuple[int, str | None]] = {}
    for index, item in enumerate(raw):
        where = [*keys, f"ignore[{index}]"]
        entry = _expect_table(item, path, where)
        _check_keys(entry, ("id", "reason", "expires", "package"), path, where)
        expires = entry.get("expires")
        if not isinstance(expires, date) or isinstance(expires, datetime):
            raise PolicyError(
                f"{_where(path, [*where, 'expires'])} must be a date "
                "(e.g. expires = 2027-01-31): every ignore expires"
            )
        package = entry.get("package")
        ignore = VulnIgnore(
            id=_string(entry.get("id"), path, [*where, "id"]),
            reason=_string(entry.get("reason"), path, [*where, "reason"]),
            expires=expires,
            package=_package_name(_string(package, path, [*where, "package"]), path, where)
            if package is not None
            else None,
        )
        # Two ignores of one vulnerability for one project (however spelled) would leave the
        # run to pick a reason and an expiry: the file must say which one it means.
        spelled = package if isinstance(package, str) else None
        key = (ignore.id, ignore.package)
        if key in seen:
            first, first_spelling = seen[key]
            raise PolicyError(
                f"{_where(path, where)}: {_ignored(ignore.id, spelled)} repeats "
                f"{'.'.join([*keys, f'ignore[{first}]'])} ({_ignored(ignore.id, first_spelling)})",
                hint="keep one ignore per vulnerability and project",
            )
        seen[key] = (index, spelled)
        ignores.append(ignore)
    return tuple(ignores)


def _ignored(vuln: str, package: str | None) -> str:
    return vuln if package is None else f"{vuln} for {package!r}"


def find_policy_file(start: Path) -> Path | None:
    """``verify-release.toml`` in ``start``, else a ``pyproject.toml`` with our table.

    Anything named ``verify-release.toml`` is returned (a directory or a dangling link then
    fails to load) rather than skipped: skipping it would run without the user's policy. A
    ``pyproject.toml`` is parsed, not searched for text: a comment naming the table is not a
    policy, ``[tool."verify-release"]`` is, and one that cannot be parsed is an error, since
    it may hold the policy.
    """
    candidate = start / "verify-release.toml"
    if os.path.lexists(candidate):
        return candidate
    pyproject = start / "pyproject.toml"
    if not os.path.lexists(pyproject):
        return None
    tool = _parse_toml(pyproject).get("tool")
    if isinstance(tool, dict) and "verify-release" in tool:
        return pyproject
    return None
