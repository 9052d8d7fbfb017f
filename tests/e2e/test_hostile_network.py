"""End to end: every network source the CLI reads, against every way a network misbehaves.

Each case runs the real CLI in-process (``tests.e2e.helpers.run``) against loopback stand-ins
serving real material (the pypi-attestations sdist and its provenance; the models sdist with
its real production bundle on a fake GitHub release), tampers with exactly one route, and
asserts what a user would see: the exit code, the one report line that names the reason, a
bound on wall-clock time (a hang is a bug) and, for the endless body and the compression bomb,
a bound on peak memory. The GitHub token canary is set in every run and must never be printed.

The sources: the index's simple page, its JSON API (project URLs, read only when no
``--repository`` is given), the Integrity API (provenance), the distribution download, the
GitHub release list, and the release asset (through the API's redirect to the storage host).

Not every pair means the same thing, and some outcomes are not "unverifiable":

- a 404 on the simple page is a usage error (no such project): exit 3, on stderr;
- the JSON API only suggests whom to expect; when it fails the run falls back to PyPI's own
  publisher record and says so in a warning, so those runs still verify (exit 0);
- a distribution and a release asset are judged by their bytes (digest, signature), never by
  their content type, and bytes that are not what the index published fail (exit 1);
- a provenance object that does not parse is itself evidence against the release (exit 1);
- release assets legitimately redirect to another host (that is how GitHub serves them), so a
  redirect to a third host is followed; the token must not follow it;
- ``403-reset-overflow`` is the GitHub rate-limit answer with a reset time no calendar holds:
  reported as a rate limit with an unusable reset time, never a traceback.

The unit-level behaviour of each switch is covered in tests/unit/test_http.py; this module is
about what reaches the user. A matrix of the observed outcomes is printed at the end (under
pytest-xdist, by the last worker to finish).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gzip
import json
import re
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TOKEN_CANARY, Material
from tests.e2e.helpers import Run, run
from tests.e2e.test_chain_more import MODELS, MODELS_REPO, _real_models_release
from tests.e2e.test_spine import REPO, SDIST, serve_sdist
from tests.servers import DistFile, FakeGitHub, FakeIndex, LoopbackServer, Route
from verifier.checks.bundles import MAX_BUNDLE_BYTES
from verifier.github import MAX_RELEASES_BYTES, RELEASES_PER_PAGE
from verifier.http import DEFAULT_MAX_BYTES
from verifier.pypi import INTEGRITY_JSON, MAX_PROVENANCE_BYTES, SIMPLE_JSON

PROJECT, VERSION = "pypi-attestations", "0.0.19"
GH_SLUG, GH_TAG = "trailofbits/pypi-attestation-models", "v0.0.4a2"
BUNDLE = f"{MODELS}.sigstore"
TIMEOUT = 1.0
"""``--timeout``: every stall below lasts longer than this."""
STALL = 3.0
TIME_BOUND = 15.0
"""Seconds a run may take at most: a bound on hanging, not a performance assertion."""
MEMORY_BOUND = 200 * 1024 * 1024
DECLARED = 10**12
"""A Content-Length far over every cap."""
INVALID_UTF8 = b'{"name": "\xff"}'
INVALID_JSON = b'{"meta": {"api-version": "1.1"}, "files": ['
RATE_LIMIT_RESET = "4102444800"
"""2100-01-01T00:00:00Z: far beyond the client's Retry-After ceiling."""
HOSTILE_RESET = "9" * 20
"""An X-RateLimit-Reset no calendar can show (beyond ``time.gmtime``'s range)."""
MISBEHAVIOURS = (
    "stall-headers",
    "stall-body",
    "reset",
    "endless-body",
    "content-length",
    "gzip-bomb",
    "invalid-utf8",
    "invalid-json",
    "content-type",
    "redirect-host",
    "redirect-scheme",
    "redirect-loop",
    "403-rate-limit",
    "403-reset-overflow",
    "429-within-ceiling",
    "429-beyond-ceiling",
    "5xx-storm",
    "404",
)
MEMORY_CASES = ("endless-body", "gzip-bomb")


# -- what each source is called, and what it is capped at -------------------------------------


@dataclass(frozen=True)
class Source:
    """One network source: its world, the product's name for the fetch, the finding it feeds."""

    world: str
    what: str
    outcome: str
    check: str
    content_types: str = ""


SOURCES: dict[str, Source] = {
    "simple-page": Source(
        "pypi",
        f"index page for {PROJECT}",
        "UNVERIFIABLE",
        "index-hash",
        f"{SIMPLE_JSON}, application/json",
    ),
    # No content types: the JSON API is read without a content-type check (see XFAIL), so the
    # expected reason for that case is the prefix any such check would print.
    "json-api": Source("pypi-urls", f"release metadata for {PROJECT}=={VERSION}", "warning", ""),
    "provenance": Source(
        "pypi",
        f"provenance for {SDIST}",
        "UNVERIFIABLE",
        "attestation",
        f"{INTEGRITY_JSON}, application/json",
    ),
    "distribution": Source("pypi", f"download of {SDIST}", "UNVERIFIABLE", "index-hash"),
    "github-release": Source(
        "github",
        f"GitHub releases of {GH_SLUG}",
        "UNVERIFIABLE",
        "bundle",
        "application/json, application/vnd.github+json",
    ),
    "release-asset": Source("github", f"release asset {BUNDLE}", "UNVERIFIABLE", "bundle"),
}

REASONS: dict[str, str] = {
    "stall-headers": "{what}: {host} sent no response (read timeout 1s)",
    "stall-body": "{what}: {host} stopped sending (read timeout 1s)",
    "reset": "{what}: cannot reach {host}: the server closed the connection without answering",
    "endless-body": "{what}: response from {url} exceeds the {cap}-byte cap",
    "content-length": f"{{what}}: response of {DECLARED} bytes from {{url}} exceeds the "
    "{cap}-byte cap",
    "gzip-bomb": "{what}: response from {url} exceeds the {cap}-byte cap",
    "invalid-utf8": "{what} from {url} is not valid JSON: 'utf-8' codec can't decode byte 0xff "
    "in position 10: invalid start byte",
    "invalid-json": "{what} from {url} is not valid JSON: Expecting value: line 1 column 44 "
    "(char 43)",
    "content-type": "{what} from {url} has content type 'text/html', expected one of {types}",
    "redirect-host": "{what}: refusing a redirect from {host} to another host (localhost:{port})",
    "redirect-scheme": "{what}: refusing a redirect: refusing to fetch 'ftp://{host}/elsewhere': "
    "only https URLs (or http to a loopback address) are allowed",
    "redirect-loop": "{what}: too many redirects or a redirect without a target from {url}",
    "403-rate-limit": "{what}: rate limited by {host} (HTTP 403, after 1 attempt); the limit "
    "resets at 00:00:00 UTC",
    "403-reset-overflow": "{what}: rate limited by {host} (HTTP 403, after 1 attempt)",
    "429-within-ceiling": "{what}: HTTP 429 from {url} (after 4 attempts)",
    "429-beyond-ceiling": "{what}: HTTP 429 from {url} (after 1 attempt)",
    "5xx-storm": "{what}: HTTP 503 from {url} (after 4 attempts)",
    "404": "{what}: not found (HTTP 404 from {url})",
}
"""The reason each misbehaviour is reported with, as ``HttpClient`` words it."""

HITS: dict[str, int] = {
    "reset": 4,
    "403-rate-limit": 1,
    "403-reset-overflow": 1,
    "429-within-ceiling": 4,
    "429-beyond-ceiling": 1,
    "5xx-storm": 4,
}
"""Requests the tampered route must see: 3 retries after the first, or none at all."""

GITHUB_LIMITS = ("403-rate-limit", "403-reset-overflow", "429-within-ceiling", "429-beyond-ceiling")
"""GitHub's rate limits are never waited for: one request, then the run stops asking GitHub."""
_GITHUB_LIMIT = "{what}: rate limited by {host} (HTTP %s): %s"
GITHUB_REASONS: dict[str, str] = {
    "403-rate-limit": _GITHUB_LIMIT
    % ("403", "0 requests remain; the limit resets at 2100-01-01 00:00:00 UTC"),
    "403-reset-overflow": _GITHUB_LIMIT
    % ("403", f"0 requests remain; the limit resets at an unusable time ({HOSTILE_RESET})"),
    # Retry-After (1 s, 3600 s) from now: the reset time is the run's, so only its start is fixed.
    "429-within-ceiling": _GITHUB_LIMIT
    % ("429", "the remaining requests are not stated; the limit resets at "),
    "429-beyond-ceiling": _GITHUB_LIMIT
    % ("429", "the remaining requests are not stated; the limit resets at "),
}


@dataclass(frozen=True)
class Expect:
    """Where a case departs from "exit 2, UNVERIFIABLE, the client's reason"."""

    code: int
    outcome: str
    check: str
    reason: str


NOT_APPLICABLE: dict[tuple[str, str], str] = {
    ("distribution", "invalid-json"): "a distribution is not parsed; other bytes are "
    "covered by invalid-utf8 (the digest differs)",
}

_DIGEST_MISMATCH = "the downloaded file does not match the digest the index publishes"
_INVALID_BUNDLE = f"{BUNDLE}: not a valid Sigstore bundle: "
"""The product's words; what follows is sigstore's own (its exception type and message)."""
OVERRIDES: dict[tuple[str, str], Expect] = {
    # No simple page means no such project: the question could not be asked (usage error).
    ("simple-page", "404"): Expect(
        3,
        "error",
        "",
        "verify-release: error: project 'pypi-attestations' does not exist on {base}/",
    ),
    # A provenance object that does not parse is evidence against the release, not a gap.
    ("provenance", "invalid-utf8"): Expect(
        1,
        "FAILED",
        "attestation",
        "provenance is not a valid PEP 740 object: (top level): Invalid JSON: invalid unicode "
        "code point at line 1 column 11",
    ),
    ("provenance", "invalid-json"): Expect(
        1,
        "FAILED",
        "attestation",
        "provenance is not a valid PEP 740 object: (top level): Invalid JSON: EOF while parsing "
        "a list at line 1 column 43",
    ),
    # ("provenance", "404") takes the default: the page declares provenance at a URL that then
    # answers 404, so existing evidence could not be read (UNVERIFIABLE, the client's reason).
    # A distribution is judged by its digest: other bytes fail, its content type is no evidence.
    ("distribution", "invalid-utf8"): Expect(1, "FAILED", "index-hash", _DIGEST_MISMATCH),
    ("distribution", "content-type"): Expect(
        0, "VERIFIED", "index-hash", "sha256 matches the index"
    ),
    # Every tag spelling is asked for; none exists: absent bundles, required by default.
    ("github-release", "404"): Expect(
        2,
        "UNVERIFIABLE",
        "bundle",
        f"no GitHub release of {GH_SLUG} for tag {GH_TAG} or v0.0.4-a2 or v0.0.4-alpha.2 or "
        "0.0.4a2 or 0.0.4-a2 or 0.0.4-alpha.2",
    ),
    # The loop redirects to the bare path: the last URL asked has no ?per_page= any more.
    ("github-release", "redirect-loop"): Expect(
        2,
        "UNVERIFIABLE",
        "bundle",
        "{what}: too many redirects or a redirect without a target from {base}/repos/"
        f"{GH_SLUG}/releases",
    ),
    # A bundle is judged by its signature: garbage fails, its content type is no evidence.
    ("release-asset", "invalid-utf8"): Expect(1, "FAILED", "bundle", _INVALID_BUNDLE),
    ("release-asset", "invalid-json"): Expect(1, "FAILED", "bundle", _INVALID_BUNDLE),
    ("release-asset", "content-type"): Expect(
        0, "VERIFIED", "bundle", f"{BUNDLE} verified for identity {MODELS_REPO}/"
    ),
    # GitHub serves assets from another host, so a redirect to a third host is followed (as
    # designed); the token stays with the API host (asserted for every GitHub case).
    ("release-asset", "redirect-host"): Expect(
        0, "VERIFIED", "bundle", f"{BUNDLE} verified for identity {MODELS_REPO}/"
    ),
    # Cross-host redirects are allowed for assets, so the scheme rule is what refuses file://.
    ("release-asset", "redirect-scheme"): Expect(
        2,
        "UNVERIFIABLE",
        "bundle",
        "{what}: refusing a redirect: refusing to fetch 'file:///etc/passwd': only https URLs "
        "(or http to a loopback address) are allowed",
    ),
}

XFAIL: dict[tuple[str, str], tuple[str, type[BaseException] | None]] = {}
"""Product bugs: the case states the right behaviour and is expected to fail until fixed."""


def _expect(source: str, misbehaviour: str) -> Expect:
    if (source, misbehaviour) in OVERRIDES:
        return OVERRIDES[source, misbehaviour]
    spec = SOURCES[source]
    reason = REASONS[misbehaviour]
    if spec.world == "github" and misbehaviour in GITHUB_LIMITS:
        reason = GITHUB_REASONS[misbehaviour]
    if spec.outcome == "warning":
        # The JSON API only suggests an identity; without it PyPI's own record is used.
        return Expect(
            0, "warning", "", "could not read the project's URLs from the index: " + reason
        )
    return Expect(2, spec.outcome, spec.check, reason)


# -- the worlds ---------------------------------------------------------------------------------


@dataclass
class Target:
    """The route a case tampers with, on the server (and host name) the client reaches it by."""

    server: LoopbackServer
    path: str
    host_name: str = "127.0.0.1"
    query: str = ""
    """What the client appends to the path (the server routes on the path alone)."""

    @property
    def route(self) -> Route:
        return self.server.routes[self.path]

    @property
    def host(self) -> str:
        return f"{self.host_name}:{self.server.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}{self.path}{self.query}"


@dataclass
class World:
    """A served release, the CLI arguments that verify it, and the routes of each source."""

    args: list[str]
    targets: dict[str, Target]
    caps: dict[str, int]
    github: FakeGitHub | None = None
    bundle: bytes = b""


def _common(index: FakeIndex, tmp_path: Path) -> list[str]:
    return [
        "--index-url",
        index.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--offline",
        "-q",
        "--timeout",
        f"{TIMEOUT:g}",
        "--skip",
        "vulnerabilities",
    ]


def _pypi_world(index: FakeIndex, material: Material, tmp_path: Path, *, urls: bool) -> World:
    if urls:
        # No --repository: the expected publisher comes from the JSON API's project URLs.
        dist = DistFile(SDIST, material.read(SDIST), material.provenance(SDIST))
        index.add_release(
            PROJECT,
            VERSION,
            [dist],
            real_page=material.page(PROJECT),
            project_urls={"Source": REPO},
        )
        pin = [f"{PROJECT}=={VERSION}"]
    else:
        serve_sdist(index, material)
        pin = [f"{PROJECT}=={VERSION}", "--repository", REPO]
    size = next(f["size"] for f in material.page(PROJECT)["files"] if f["filename"] == SDIST)
    server = index.server
    return World(
        # --download: only then are distributions fetched, so the matrix covers their transport.
        args=[
            *pin,
            *_common(index, tmp_path),
            "--skip",
            "bundles",
            "--skip",
            "tags",
            "--download",
            str(tmp_path / "wheelhouse"),
        ],
        targets={
            "simple-page": Target(server, index.simple_path(PROJECT)),
            "json-api": Target(server, f"/pypi/{PROJECT}/{VERSION}/json"),
            "provenance": Target(server, index.provenance_path(PROJECT, VERSION, SDIST)),
            "distribution": Target(server, index.file_path(SDIST)),
        },
        caps={
            "simple-page": DEFAULT_MAX_BYTES,
            "json-api": DEFAULT_MAX_BYTES,
            "provenance": MAX_PROVENANCE_BYTES,
            # The index states the size; the client allows 1 KiB of slack over it.
            "distribution": int(size) + 1024,
        },
    )


def _github_world(index: FakeIndex, material: Material, tmp_path: Path) -> World:
    github = FakeGitHub()
    bundle = material.read(BUNDLE)
    _real_models_release(index, material, github, bundle)
    return World(
        args=[
            "pypi-attestation-models==0.0.4a2",
            "--repository",
            MODELS_REPO,
            *_common(index, tmp_path),
            "--github-api-url",
            github.url,
            "--skip",
            "tags",
        ],
        targets={
            "github-release": Target(
                github.api, github.releases_path(GH_SLUG), query=f"?per_page={RELEASES_PER_PAGE}"
            ),
            "release-asset": Target(github.storage, "/storage/1", host_name="localhost"),
            "asset-api": Target(github.api, f"/repos/{GH_SLUG}/releases/assets/1"),
        },
        caps={
            "github-release": MAX_RELEASES_BYTES,
            # The release lists the asset's size; the client allows 1 KiB of slack over it.
            "release-asset": min(MAX_BUNDLE_BYTES, len(bundle) + 1024),
        },
        github=github,
        bundle=bundle,
    )


@functools.cache
def _gzip_member() -> bytes:
    return gzip.compress(b"\0" * (1024 * 1024), compresslevel=9)


def _bomb(cap: int) -> bytes:
    """Concatenated gzip members (1 KiB each, 1 MiB of zeros each), compressed under ``cap``.

    The declared (compressed) length passes the Content-Length check, so only the cap on the
    decoded bytes can stop it: at least 9 MiB decoded, up to 1000 MiB for the JSON sources.
    """
    member = _gzip_member()
    return member * min(1000, (cap * 9 // 10) // len(member))


def _loop(path: str) -> Route:
    """A 301 to itself (``Route.redirect_to`` answers 302)."""
    return Route(respond=lambda _body: (301, b"", "text/plain"), headers={"Location": path})


def _misbehave(misbehaviour: str, target: Target, cap: int) -> None:
    route = target.route
    port = target.server.port
    if misbehaviour == "stall-headers":
        route.stall_before = STALL
    elif misbehaviour == "stall-body":
        route.stall_after_bytes = 16
        route.stall_for = STALL
    elif misbehaviour == "reset":
        route.reset = True
    elif misbehaviour == "endless-body":
        route.endless = True
    elif misbehaviour == "content-length":
        route.declared_length = DECLARED
    elif misbehaviour == "gzip-bomb":
        route.body = _bomb(cap)
        route.headers["Content-Encoding"] = "gzip"
    elif misbehaviour == "invalid-utf8":
        route.body = INVALID_UTF8
    elif misbehaviour == "invalid-json":
        route.body = INVALID_JSON
    elif misbehaviour == "content-type":
        route.content_type = "text/html"
    elif misbehaviour == "redirect-host":
        route.redirect_to = f"http://localhost:{port}/elsewhere"
    elif misbehaviour == "redirect-scheme":
        route.redirect_to = f"ftp://127.0.0.1:{port}/elsewhere"
    elif misbehaviour == "redirect-loop":
        target.server.route(target.path, _loop(target.path))
    elif misbehaviour == "403-rate-limit":
        limit = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": RATE_LIMIT_RESET}
        _fail(route, 403, headers=limit)
    elif misbehaviour == "403-reset-overflow":
        _fail(
            route, 403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": HOSTILE_RESET}
        )
    elif misbehaviour == "429-within-ceiling":
        _fail(route, 429, retry_after="1")
    elif misbehaviour == "429-beyond-ceiling":
        _fail(route, 429, retry_after="3600")
    elif misbehaviour == "5xx-storm":
        _fail(route, 503)
    elif misbehaviour == "404":
        route.status = 404
    else:
        raise AssertionError(misbehaviour)


def _fail(
    route: Route,
    status: int,
    *,
    retry_after: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    route.fail_first = 10**6
    route.fail_status = status
    route.retry_after = retry_after
    route.fail_headers = headers or {}


# -- running and recording ----------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """What one run did."""

    result: Run
    seconds: float
    peak: int
    error: Exception | None = None
    """What escaped ``main()`` (a traceback for the user); recorded, then raised."""


def _run_bounded(capsys: pytest.CaptureFixture[str], args: list[str], *, memory: bool) -> Observed:
    if memory:
        tracemalloc.start()
    started = time.monotonic()
    error: Exception | None = None
    try:
        result = run(capsys, *args)
    except Exception as exc:  # recorded for the matrix, then raised by the caller
        captured = capsys.readouterr()
        error = exc
        escaped = f"Traceback: {type(exc).__name__}: {exc}"
        result = Run(code=-1, out=captured.out, err=f"{captured.err}{escaped}\n")
    finally:
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] if memory else 0
        if memory:
            tracemalloc.stop()
    return Observed(result, seconds, peak, error)


def _reason_line(result: Run, expect: Expect) -> str:
    """The one line of the report (stdout; stderr for errors) that carries the reason."""
    text = result.err if expect.outcome in ("error", "warning") else result.out
    lines = [line for line in text.splitlines() if expect.reason in line]
    assert lines, f"no line contains {expect.reason!r}:\n{text}"
    line = lines[0].strip()
    if expect.outcome == "warning":
        assert line.startswith("warning: "), line
    elif expect.outcome != "error":
        assert line.startswith(f"{expect.outcome:<13}{expect.check:<15}"), line
    return line


_MATRIX: dict[tuple[str, str], tuple[str, str]] = {}
"""(source, misbehaviour) -> (exit code as observed, the reason line): printed at the end."""


def _record(source: str, misbehaviour: str, observed: Observed, expect: Expect) -> None:
    """Keep the exit code and the most telling line of a run for the matrix (even on failure)."""
    result = observed.result
    text = result.err if expect.outcome == "error" or observed.error else result.out
    if expect.outcome == "warning":
        text = result.err + result.out
    lines = [line.strip() for line in text.splitlines()]
    preferences = (
        lambda line: line.startswith("Traceback: "),
        lambda line: expect.reason in line,
        lambda line: line.startswith(("FAILED", "UNVERIFIABLE", "warning: could not")),
        lambda line: line.startswith(("identity source:", "verdict:", "verify-release: error:")),
    )
    found = next(
        (line for wanted in preferences for line in lines if wanted(line)), "(no reason shown)"
    )
    if found.startswith(("VERIFIED", "FAILED", "UNVERIFIABLE", "SKIPPED")):
        outcome, check, _subject, message = found.split(None, 3)
        found = f"{outcome} {check}: {message}"
    found = re.sub(r"(127\.0\.0\.1|localhost):\d+", r"\1:PORT", found)
    cost = f"{observed.seconds:.1f}s" + (
        f", peak {observed.peak / 2**20:.1f} MiB" if observed.peak else ""
    )
    code = "TB" if observed.error is not None else str(result.code)
    _MATRIX[source, misbehaviour] = (code, f"{found}  [{cost}]")


@pytest.fixture(scope="module", autouse=True)
def matrix(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the module: print source x misbehaviour -> exit code, reason.

    Under pytest-xdist each worker holds part of the matrix; the parts meet in a directory named
    after the test run, and the last worker to finish prints the whole (a worker's own terminal
    output is discarded, so it writes to the inherited standard error with capturing off).
    """
    yield
    config = request.config
    workerinput = getattr(config, "workerinput", None)
    cells = dict(_MATRIX)
    capman = config.pluginmanager.get_plugin("capturemanager")
    disabled = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
    if workerinput is None:
        reporter: pytest.TerminalReporter | None = config.pluginmanager.get_plugin(
            "terminalreporter"
        )
        if reporter is not None:
            with disabled:
                reporter.ensure_newline()
                reporter.write_sep("=", "hostile network matrix")
                for line in _render(cells):
                    reporter.write_line(line)
        return
    shared = Path(tempfile.gettempdir()) / f"verify-release-hostile-{workerinput['testrunuid']}"
    shared.mkdir(exist_ok=True)
    with (shared / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        part = {f"{s}\t{m}": cell for (s, m), cell in cells.items()}
        (shared / f"{workerinput['workerid']}.json").write_text(json.dumps(part))
        parts = sorted(shared.glob("*.json"))
        if len(parts) < int(workerinput["workercount"]):
            return
        merged: dict[tuple[str, str], tuple[str, str]] = {}
        for path in parts:
            for key, (code, reason) in json.loads(path.read_text()).items():
                source, misbehaviour = key.split("\t")
                merged[source, misbehaviour] = (code, reason)
            path.unlink()
        (shared / ".lock").unlink()
    shared.rmdir()
    with disabled:
        stream = sys.stderr
        stream.write("\n" + "=" * 30 + " hostile network matrix " + "=" * 30 + "\n")
        stream.write("\n".join(_render(merged)) + "\n")
        stream.flush()


def _render(cells: dict[tuple[str, str], tuple[str, str]]) -> list[str]:
    """A grid of exit codes (. not applicable), then one reason per cell, ports masked."""
    columns = ("control", *MISBEHAVIOURS)
    lines = ["exit codes (rows: sources; columns: misbehaviours; '.' n/a; ' ' not run):"]
    for number, name in enumerate(columns):
        lines.append(f"  {number:>2} {name}")
    lines.append(f"  {'':<15}" + "".join(f"{n:>2} " for n in range(len(columns))))
    for source in SOURCES:
        row = ""
        for name in columns:
            if (source, name) in NOT_APPLICABLE:
                row += " . "
            else:
                code = cells.get((source, name), (" ", ""))[0]
                row += f"{code:>2}" + ("x" if (source, name) in XFAIL else " ")
        lines.append(f"  {source:<15}{row}")
    lines.append(
        "reasons ('x': a product bug, expected to fail until fixed (see XFAIL); TB: traceback):"
    )
    for source in SOURCES:
        for name in columns:
            if (source, name) in NOT_APPLICABLE:
                lines.append(f"  {source} x {name}: n/a ({NOT_APPLICABLE[source, name]})")
            elif (source, name) in cells:
                code, reason = cells[source, name]
                lines.append(f"  {source} x {name} -> {code}: {reason}")
    return lines


# -- the cases ----------------------------------------------------------------------------------


def _world(source: str, index: FakeIndex, material: Material, tmp_path: Path) -> World:
    kind = SOURCES[source].world
    if kind == "github":
        return _github_world(index, material, tmp_path)
    return _pypi_world(index, material, tmp_path, urls=kind == "pypi-urls")


def _target(world: World, source: str, misbehaviour: str) -> Target:
    """The route to tamper with; for the asset, rate limits and redirects belong to the API."""
    if source == "release-asset" and misbehaviour in (
        "403-rate-limit",
        "403-reset-overflow",
        "redirect-host",
        "redirect-scheme",
    ):
        return world.targets["asset-api"]
    return world.targets[source]


def _check_common(world: World, observed: Observed, expect: Expect) -> None:
    result = observed.result
    assert result.code == expect.code, result.out + result.err
    assert "Traceback" not in result.out + result.err
    assert TOKEN_CANARY not in result.out + result.err
    assert observed.seconds < TIME_BOUND, f"the run took {observed.seconds:.1f}s"
    if world.github is not None:
        # The token goes to the API host (so it is in play) and never to the storage host.
        bearer = f"Bearer {TOKEN_CANARY}"
        assert any(r.headers.get("Authorization") == bearer for r in world.github.api.requests)
        storage = world.github.storage.requests
        assert all("authorization" not in {k.lower() for k in r.headers} for r in storage)


def _cases() -> Iterator[object]:
    for source in SOURCES:
        yield pytest.param(source, "control", id=f"{source}-control")
        for misbehaviour in MISBEHAVIOURS:
            key = (source, misbehaviour)
            if key in NOT_APPLICABLE:
                continue
            marks = []
            if key in XFAIL:
                reason, raises = XFAIL[key]
                marks.append(pytest.mark.xfail(strict=True, reason=reason, raises=raises))
            yield pytest.param(source, misbehaviour, id=f"{source}-{misbehaviour}", marks=marks)


@pytest.mark.parametrize(("source", "misbehaviour"), list(_cases()))
def test_hostile_source(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    source: str,
    misbehaviour: str,
) -> None:
    world = _world(source, index, material, tmp_path)
    try:
        if misbehaviour == "control":
            expect = Expect(0, "verdict", "", "verdict: VERIFIED (exit 0)")
            observed = _run_bounded(capsys, world.args, memory=False)
            _record(source, misbehaviour, observed, expect)
            _check_common(world, observed, expect)
            assert expect.reason in observed.result.out
            return
        target = _target(world, source, misbehaviour)
        if (source, misbehaviour) == ("release-asset", "redirect-host"):
            # The API sends the download to a third host (same address as the API, another
            # port) that serves the real bundle: followed, as GitHub's storage redirect is, and
            # the token must not go along (asserted below).
            elsewhere = index.server.route("/elsewhere", Route(body=world.bundle))
            target.route.redirect_to = f"{index.url}/elsewhere"
        elif (source, misbehaviour) == ("release-asset", "redirect-scheme"):
            target.route.redirect_to = "file:///etc/passwd"
        else:
            _misbehave(misbehaviour, target, world.caps.get(source, 0))
        spec = SOURCES[source]
        template = _expect(source, misbehaviour)
        values = {
            "what": spec.what,
            "host": target.host,
            "url": target.url,
            "cap": world.caps.get(source, 0),
            "types": spec.content_types,
            "port": target.server.port,
            "base": target.server.url,
        }
        expect = Expect(
            template.code, template.outcome, template.check, template.reason.format(**values)
        )
        observed = _run_bounded(capsys, world.args, memory=misbehaviour in MEMORY_CASES)
        _record(source, misbehaviour, observed, expect)
        if observed.error is not None:
            raise observed.error
        _check_common(world, observed, expect)
        _reason_line(observed.result, expect)
        if misbehaviour in MEMORY_CASES:
            assert observed.peak < MEMORY_BOUND, f"peak memory {observed.peak} bytes"
        route = target.server.routes[target.path]
        if SOURCES[source].world == "github" and misbehaviour in GITHUB_LIMITS:
            assert route.hits == 1
            # Nothing more was asked of GitHub after it said stop.
            assert world.github is not None
            assert target.server.requests[-1].path == target.path
        elif misbehaviour == "reset":
            # 3 retries after the first; the first may have gone out on a kept-alive
            # connection, which the transport retries once on a new one (a server that closed
            # an idle connection looks exactly like this), so 4 or 5 and never more.
            assert route.hits in (HITS[misbehaviour], HITS[misbehaviour] + 1)
        elif misbehaviour in HITS:
            assert route.hits == HITS[misbehaviour]
        if (source, misbehaviour) == ("release-asset", "redirect-host"):
            assert elsewhere.hits == 1
            assert all(
                "authorization" not in {k.lower() for k in r.headers} for r in index.server.requests
            )
        elif misbehaviour in ("redirect-host", "redirect-scheme"):
            assert "/elsewhere" not in target.server.paths_requested()
        if source == "json-api" and expect.code == 0:
            assert "identity source: PyPI's publisher record in each provenance" in (
                observed.result.out
            )
    finally:
        if world.github is not None:
            world.github.close()


def test_every_pair_is_a_case_or_explained() -> None:
    """The tables agree: every misbehaviour has a reason, every exception names a run pair."""
    run_pairs = {(s, m) for s in SOURCES for m in MISBEHAVIOURS} - set(NOT_APPLICABLE)
    assert set(REASONS) == set(MISBEHAVIOURS)
    assert set(NOT_APPLICABLE) <= {(s, m) for s in SOURCES for m in MISBEHAVIOURS}
    assert set(OVERRIDES) | set(XFAIL) <= run_pairs
