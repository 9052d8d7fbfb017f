"""Who is expected to have published a release, and which gaps are tolerated.

The policy is data (frozen dataclasses) so that the verdict can say which rule made an outcome
fatal. Command-line flags build it today; policy files will build the same objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from verifier.errors import PolicyError

ALLOWABLE_MISSING = ("attestations", "bundles", "tags")
REQUIRABLE = ("bundles", "tags")
"""Evidence kinds a user may declare optional with ``--allow-missing``."""

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
    """``GitHub`` or ``GitLab``."""
    repository: str
    """``OWNER/REPO`` (GitHub) or ``NAMESPACE/.../PROJECT`` (GitLab)."""
    workflow: str | None = None
    environment: str | None = None
    source: str = "command line"

    @property
    def url(self) -> str:
        """The repository URL as Fulcio writes it in the Source Repository URI claim."""
        host = "github.com" if self.kind == "GitHub" else "gitlab.com"
        return f"https://{host}/{self.repository}"

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
        if len(segments) < 2:
            raise PolicyError(f"{url!r} does not name a repository (OWNER/REPO)")
        segments = segments[:2]
    if workflow is not None and ("/" in workflow if kind == "GitHub" else False):
        raise PolicyError(
            f"--workflow {workflow!r}: give the workflow's file name (e.g. release.yml), not a path"
        )
    return ExpectedPublisher(
        kind=kind,
        repository="/".join(segments),
        workflow=workflow,
        environment=environment,
        source=source,
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
    """What the run requires; every non-verified outcome is judged against this."""

    expected: ExpectedPublisher | None = None
    allow_missing: frozenset[str] = field(default_factory=frozenset)
    required: frozenset[str] = field(default_factory=frozenset)
    """Evidence kinds whose absence (or an unsigned tag) is FAILED rather than UNVERIFIABLE."""
    skip: frozenset[str] = field(default_factory=frozenset)
    """Evidence kinds not checked at all (``--skip``); reported as SKIPPED."""

    def missing_rule(self, kind: str) -> str:
        """The sentence a report shows next to missing evidence of ``kind``."""
        if kind in self.allow_missing:
            return f"--allow-missing {kind}: missing {kind} are tolerated"
        return f"{kind} are required (default); --allow-missing {kind} tolerates their absence"
