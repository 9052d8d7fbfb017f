"""Known vulnerabilities of pinned packages, looked up through pip-audit.

pip-audit's Python modules are private, so it runs as a subprocess on a requirements file written
here, one ``name==version`` line per package, with ``--disable-pip``: it then neither resolves nor
installs anything, and only asks the vulnerability service about the exact pins it is given.

pip-audit exits 1 both when it found vulnerabilities and when it crashed, so its JSON report is
the only evidence of an audit: no parseable report, or a report that disagrees with the exit
code, makes every package of that run UNVERIFIABLE, never VERIFIED.

Ignores are applied here, not by pip-audit, so an ignored vulnerability is still reported (as
SKIPPED, with the reason and the date it expires); an expired ignore is a policy error.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import IO, Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from verifier import affinity, atomic
from verifier.childenv import child_environment
from verifier.children import tracked
from verifier.dists import is_sha256
from verifier.errors import PolicyError, UsageError
from verifier.lockfiles import PinnedPackage
from verifier.models import Check, CheckResult, Gap, Status
from verifier.policy import VulnIgnore

__all__ = ["SERVICES", "VulnIgnore", "audit", "ignore_applies"]

SERVICES = ("osv", "pypi", "esms")
"""The vulnerability services pip-audit 2.10 can query (``-s``)."""

NO_VULNERABILITIES = "no known vulnerabilities"
OUTPUT_LIMIT = 20 * 1024 * 1024
"""The most of pip-audit's report (stdout) that is read; more makes the run UNVERIFIABLE."""
STDERR_LIMIT = 1024 * 1024
DESCRIPTION_LIMIT = 500
REASON_LIMIT = 300
MAX_SOCKET_TIMEOUT = 30

_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*: \S")
"""A traceback's last line: ``package.module.SomeError: message``."""
_LOG_PREFIX = re.compile(r"^(?:ERROR|CRITICAL):[\w.]*:")


def ignore_applies(ignore: VulnIgnore, package: str, ids: Collection[str]) -> bool:
    """Whether ``ignore`` covers a vulnerability known as ``ids`` (ID and aliases) in ``package``.

    IDs compare case-insensitively, so a GHSA ID ignores the advisory whichever ID pip-audit
    reports it under; an ignore with a ``package`` applies to that package only.
    """
    if ignore.package is not None and canonicalize_name(ignore.package) != canonicalize_name(
        package
    ):
        return False
    wanted = ignore.id.strip().casefold()
    return any(wanted == known.casefold() for known in ids)


def audit(
    packages: Sequence[PinnedPackage],
    *,
    service: str = "osv",
    osv_url: str | None = None,
    timeout: float = 120,
    ignores: Sequence[VulnIgnore] = (),
    today: date | None = None,
    pip_audit: Sequence[str] | None = None,
) -> list[CheckResult]:
    """Audit every package from an index for known vulnerabilities, in the order given.

    ``osv_url`` is the full OSV query endpoint (pip-audit's ``--osv-url``, by default
    ``https://api.osv.dev/v1/query``). ``timeout`` bounds the whole audit (every pip-audit run);
    each network read inside pip-audit gets a quarter of it, at most 30 s. ``pip_audit`` is the
    command that starts pip-audit (default: this interpreter's ``-m pip_audit``).

    Raises ``PolicyError`` for an expired ignore (whether or not it would have matched) and
    ``UsageError`` for an unknown service; everything that goes wrong while auditing becomes
    unreachable results instead. Ignores are checked for expiry here and applied by the
    judge (``verifier.judge``), which names the policy file that holds them.
    """
    if service not in SERVICES:
        raise UsageError(
            f"unknown vulnerability service {service!r}",
            hint=f"choose one of: {', '.join(SERVICES)}",
        )
    if osv_url is not None and service != "osv":
        raise UsageError(f"an OSV URL was given, but the vulnerability service is {service}")
    if timeout <= 0:
        raise UsageError(f"the vulnerability audit timeout must be positive, not {timeout:g}")
    check_expiry(ignores, today or datetime.now(timezone.utc).date())

    runner = _Runner(
        command=tuple(pip_audit) if pip_audit is not None else (sys.executable, "-m", "pip_audit"),
        service=service,
        osv_url=osv_url,
        timeout=timeout,
    )
    results: dict[int, list[CheckResult]] = {}
    entries: dict[tuple[NormalizedName, Version], _Entry] = {}
    for index, package in enumerate(packages):
        if package.source != "index":
            results[index] = [_not_from_index(package)]
            continue
        try:
            version = Version(package.version)
        except InvalidVersion:
            results[index] = [
                _unverifiable(
                    package,
                    service,
                    f"version {package.version!r} is not a PEP 440 version, so it cannot be "
                    "looked up",
                )
            ]
            continue
        name = canonicalize_name(package.name)
        entry = entries.setdefault((name, version), _Entry(name=name, version=version))
        entry.packages.append((index, package))
        entry.hashes.update(h for h in (s.lower() for s in package.hashes) if is_sha256(h))

    for batch in _batches(entries.values()):
        outcome = runner.run(batch)
        for entry in batch:
            for index, package in entry.packages:
                results[index] = _findings(package, entry, outcome, service)
    return [finding for index in sorted(results) for finding in results[index]]


def check_expiry(ignores: Sequence[VulnIgnore], today: date | None = None) -> None:
    """Raise ``PolicyError`` for the first ignore whose expiry date has passed."""
    today = today or datetime.now(timezone.utc).date()
    for ignore in ignores:
        if ignore.expires < today:
            raise PolicyError(
                f"ignore for {ignore.id} expired on {ignore.expires.isoformat()}; "
                "renew it with a new reason or remove it",
                hint=f"it was ignored because: {ignore.reason}",
            )


@dataclass
class _Entry:
    """One ``name==version`` line of the requirements file, and the packages it stands for."""

    name: NormalizedName
    version: Version
    hashes: set[str] = field(default_factory=set)
    packages: list[tuple[int, PinnedPackage]] = field(default_factory=list)

    @property
    def line(self) -> str:
        hashes = "".join(f" --hash=sha256:{h}" for h in sorted(self.hashes))
        return f"{self.name}=={self.version}{hashes}"


def _batches(entries: Collection[_Entry]) -> list[list[_Entry]]:
    """Group lines into pip-audit runs.

    Once one line has a hash, pip-audit requires a hash on every line, so pins without any hash
    go to a run of their own (``--no-deps``); and pip-audit refuses two versions of one name in
    one run, so a lockfile that pins a name twice (uv forks) needs a run per version.
    """
    runs: dict[tuple[bool, int], list[_Entry]] = {}
    seen: dict[tuple[bool, NormalizedName], int] = {}
    for entry in entries:
        hashed = bool(entry.hashes)
        round_ = seen.get((hashed, entry.name), 0)
        seen[(hashed, entry.name)] = round_ + 1
        runs.setdefault((not hashed, round_), []).append(entry)
    return [runs[key] for key in sorted(runs)]


@dataclass(frozen=True)
class _Vuln:
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class _Report:
    """What pip-audit said about each line of one run."""

    vulns: dict[tuple[NormalizedName, Version], tuple[_Vuln, ...]]
    skipped: dict[NormalizedName, str]


class _AuditFailed(Exception):
    """pip-audit did not produce a usable report; the message is a one-line reason."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


SERVICE_HINT = (
    "check the network and the service's address (--osv-url), or use the other service "
    "(--vuln-service osv|pypi); --skip vulnerabilities leaves the audit out, shown as SKIPPED"
)
_REQUESTS_ERROR = re.compile(r"^requests\.exceptions\.(\w+): (.*)$")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_HTTP_STATUS = re.compile(r"^(\d{3}) ")
_READ_TIMEOUT = re.compile(r"read timeout=(\d+(?:\.\d+)?)")


def _service_failure(reason: str, where: str) -> _AuditFailed | None:
    """pip-audit's dump of a ``requests`` exception, in this tool's words, with a fix.

    pip-audit lets the exception of an unreachable or failing vulnerability service escape as
    a traceback; its last line (``requests.exceptions.ConnectionError: HTTPConnectionPool(...):
    Max retries exceeded ... (Caused by NewConnectionError(...))``) says what happened only to
    someone who reads urllib3. None when ``reason`` is not such an exception.
    """
    match = _REQUESTS_ERROR.match(reason)
    if match is None:
        return None
    kind, detail = match.groups()
    if kind == "ReadTimeout":
        seconds = _READ_TIMEOUT.search(detail)
        within = f" within {seconds.group(1)} s" if seconds else " in time"
        message = f"the vulnerability service at {where} did not answer{within}"
    elif kind in ("ConnectionError", "ConnectTimeout", "ProxyError", "SSLError"):
        errno = _ERRNO.search(detail)
        if kind == "ConnectTimeout" or "timed out" in detail:
            cause = "the connection timed out"
        elif "NameResolutionError" in detail or "Failed to resolve" in detail:
            cause = "its host name does not resolve"
        elif kind == "SSLError" or "SSLError" in detail:
            cause = "its TLS certificate was refused"
        elif errno is not None:
            cause = errno.group(1).strip().lower()
        else:
            cause = "no connection"
        message = f"the vulnerability service at {where} could not be reached ({cause})"
    elif kind == "HTTPError" and (status := _HTTP_STATUS.match(detail)) is not None:
        message = f"the vulnerability service at {where} answered HTTP {status.group(1)}"
    else:
        message = f"the vulnerability service at {where} could not be used ({kind})"
    return _AuditFailed(message, hint=SERVICE_HINT)


class _Runner:
    """Runs pip-audit once per batch, all runs within one time budget."""

    def __init__(
        self, *, command: tuple[str, ...], service: str, osv_url: str | None, timeout: float
    ) -> None:
        self.command = command
        self.service = service
        self.osv_url = osv_url
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout

    @property
    def socket_timeout(self) -> int:
        return max(1, min(MAX_SOCKET_TIMEOUT, int(self.timeout // 4)))

    def argv(self, requirements: Path, cache: Path, *, hashed: bool) -> list[str]:
        """The exact pip-audit command line for one run."""
        argv = [*self.command, "--requirement", str(requirements), "--disable-pip"]
        argv += ["--require-hashes"] if hashed else ["--no-deps"]
        argv += ["--format", "json", "--desc", "on", "--aliases", "on"]
        argv += ["--vulnerability-service", self.service]
        if self.osv_url is not None:
            argv += ["--osv-url", self.osv_url]
        argv += ["--progress-spinner", "off", "--timeout", str(self.socket_timeout)]
        argv += ["--cache-dir", str(cache)]
        return argv

    def run(self, batch: list[_Entry]) -> _Report | _AuditFailed:
        hashed = bool(batch[0].hashes)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return _AuditFailed(f"the audit's time budget of {self.timeout:g} s ran out")
        with tempfile.TemporaryDirectory(prefix="verify-release-audit-") as tmp:
            workdir = Path(tmp)
            requirements = workdir / "requirements.txt"
            atomic.write_text(requirements, "".join(f"{entry.line}\n" for entry in batch))
            argv = self.argv(requirements, workdir / "cache", hashed=hashed)
            try:
                returncode, stdout, stderr = _run(argv, cwd=workdir, timeout=remaining)
                return _interpret(returncode, stdout, stderr)
            except _AuditFailed as failure:
                return _service_failure(str(failure), self.where) or failure

    @property
    def where(self) -> str:
        """The service as the user would name it: the address pip-audit was sent to."""
        if self.service == "osv":
            return self.osv_url or "https://api.osv.dev"
        return "https://pypi.org"


def _environment() -> dict[str, str]:
    """pip-audit's whole environment: ``child_environment``'s allow-list, nothing more.

    pip-audit needs the proxies and CA bundle to reach the vulnerability service; everything
    else it is told on the command line (the OSV URL, the cache directory, ``--disable-pip`` so
    no pip and no index). So no token reaches it, and no ``PIP_AUDIT_*`` variable changes the
    format or the output file behind our back.
    """
    return child_environment()


class _CappedReader(threading.Thread):
    """Reads a pipe into memory up to ``limit`` bytes; past it, calls ``overflow`` and stops."""

    def __init__(self, stream: IO[bytes], limit: int, overflow: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.limit = limit
        self.overflow = overflow
        self.data = bytearray()
        self.overflowed = False

    def run(self) -> None:
        try:
            while chunk := os.read(self.stream.fileno(), 64 * 1024):
                room = self.limit - len(self.data)
                self.data += chunk[:room]
                if len(chunk) > room:
                    self.overflowed = True
                    self.overflow()
                    return
        except (OSError, ValueError):
            return


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill pip-audit and anything it started (it runs in a session of its own)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    except AttributeError:  # pragma: no cover - no process groups on this platform
        process.kill()


def _run(argv: list[str], *, cwd: Path, timeout: float) -> tuple[int, bytes, bytes]:
    """Run pip-audit with capped output; raise ``_AuditFailed`` if it cannot run to the end."""
    try:
        with affinity.spawning():
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=_environment(),
                start_new_session=True,
            )
    except OSError as error:
        raise _AuditFailed(
            f"pip-audit could not be started: {error.strerror or error}: {argv[0]}"
        ) from error
    stdout, stderr = process.stdout, process.stderr
    if stdout is None or stderr is None:  # pragma: no cover - both are pipes
        raise RuntimeError("pip-audit's output pipes are missing")
    readers = (
        _CappedReader(stdout, OUTPUT_LIMIT, lambda: _kill(process)),
        _CappedReader(stderr, STDERR_LIMIT, lambda: _kill(process)),
    )
    for reader in readers:
        reader.start()
    try:
        with tracked(process):  # Ctrl-C kills it, from whichever thread started it
            returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        process.wait()
        raise _AuditFailed(f"pip-audit did not finish within {timeout:.0f} s") from None
    finally:
        for reader in readers:
            reader.join(timeout=5)
            if reader.is_alive():  # something pip-audit started still holds the pipe
                _kill(process)
                reader.join()
        stdout.close()
        stderr.close()
    if readers[0].overflowed:
        raise _AuditFailed(f"pip-audit's report exceeded {OUTPUT_LIMIT} bytes")
    return returncode, bytes(readers[0].data), bytes(readers[1].data)


def _interpret(returncode: int, stdout: bytes, stderr: bytes) -> _Report:
    """The report of a run that exited; pip-audit exits 0 (clean) or 1 (found, or crashed)."""
    if returncode not in (0, 1):
        raise _AuditFailed(f"pip-audit exited with {returncode}: {_reason(stderr)}")
    try:
        data = json.loads(stdout)
    except (UnicodeDecodeError, json.JSONDecodeError):
        if returncode == 0:
            raise _AuditFailed("pip-audit printed no JSON report") from None
        raise _AuditFailed(_reason(stderr)) from None
    report = _parse(data)
    found = any(report.vulns.values())
    if found != (returncode == 1):
        raise _AuditFailed(
            f"pip-audit exited with {returncode} but its report lists "
            f"{sum(len(v) for v in report.vulns.values())} vulnerabilities: {_reason(stderr)}"
        )
    return report


def _reason(stderr: bytes) -> str:
    """A one-line reason from pip-audit's stderr: its error log, else the last exception."""
    lines = [line.rstrip() for line in stderr.decode("utf-8", "replace").splitlines()]
    errors = [_LOG_PREFIX.sub("", line).strip() for line in lines if _LOG_PREFIX.match(line)]
    if errors:
        reason = "; ".join(errors)
    else:
        exceptions = [line for line in lines if _EXCEPTION_LINE.match(line)]
        others = [
            line
            for line in lines
            if line.strip() and not line.startswith(("WARNING:", "INFO:", "DEBUG:", " "))
        ]
        reason = (exceptions or others or ["no error output"])[-1].strip()
    return reason if len(reason) <= REASON_LIMIT else reason[: REASON_LIMIT - 1] + "…"


def _parse(data: Any) -> _Report:
    """Validate pip-audit's JSON report (``dependencies[]``) into a ``_Report``."""

    def fail(where: str, what: str) -> _AuditFailed:
        return _AuditFailed(f"unexpected pip-audit report: {where} {what}")

    def strings(value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(where, "is not a list of strings")
        return tuple(value)

    if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
        raise fail("'dependencies'", "is missing or not a list")
    vulns: dict[tuple[NormalizedName, Version], tuple[_Vuln, ...]] = {}
    skipped: dict[NormalizedName, str] = {}
    for i, dep in enumerate(data["dependencies"]):
        where = f"'dependencies[{i}]"
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
            raise fail(f"{where}.name'", "is missing or not a string")
        name = canonicalize_name(dep["name"])
        if "skip_reason" in dep:
            skipped[name] = str(dep["skip_reason"])
            continue
        if not isinstance(dep.get("version"), str):
            raise fail(f"{where}.version'", "is missing or not a string")
        try:
            version = Version(dep["version"])
        except InvalidVersion:
            raise fail(f"{where}.version'", "is not a PEP 440 version") from None
        if not isinstance(dep.get("vulns"), list):
            raise fail(f"{where}.vulns'", "is missing or not a list")
        found = []
        for j, vuln in enumerate(dep["vulns"]):
            at = f"{where}.vulns[{j}]"
            if not isinstance(vuln, dict) or not isinstance(vuln.get("id"), str):
                raise fail(f"{at}.id'", "is missing or not a string")
            description = vuln.get("description", "")
            if not isinstance(description, str):
                raise fail(f"{at}.description'", "is not a string")
            found.append(
                _Vuln(
                    id=vuln["id"],
                    aliases=tuple(sorted(set(strings(vuln.get("aliases", []), f"{at}.aliases'")))),
                    fix_versions=strings(vuln.get("fix_versions", []), f"{at}.fix_versions'"),
                    description=description,
                )
            )
        vulns[(name, version)] = tuple(found)
    return _Report(vulns=vulns, skipped=skipped)


def _findings(
    package: PinnedPackage,
    entry: _Entry,
    outcome: _Report | _AuditFailed,
    service: str,
) -> list[CheckResult]:
    if isinstance(outcome, _AuditFailed):
        return [_unverifiable(package, service, str(outcome), hint=outcome.hint)]
    if entry.name in outcome.skipped:
        return [
            _unverifiable(package, service, f"pip-audit skipped it: {outcome.skipped[entry.name]}")
        ]
    vulns = outcome.vulns.get((entry.name, entry.version))
    if vulns is None:
        return [_unverifiable(package, service, "pip-audit's report does not mention it")]
    if not vulns:
        hashed = any(is_sha256(h.lower()) for h in package.hashes)
        note = "" if hashed else "; audited by name and version only (no sha256 pinned)"
        return [
            CheckResult(
                check=Check.VULNERABILITY,
                status=Status.PROVEN,
                subject=_label(package),
                message=f"{NO_VULNERABILITIES} ({service}){note}",
                expected=NO_VULNERABILITIES,
                actual=NO_VULNERABILITIES,
                details={"service": service},
                location=str(package.location),
            )
        ]
    return [_vulnerable(package, vuln, service) for vuln in vulns]


def _vulnerable(package: PinnedPackage, vuln: _Vuln, service: str) -> CheckResult:
    ids = f"{vuln.id} ({', '.join(vuln.aliases)})" if vuln.aliases else vuln.id
    fixed = f"fixed in {', '.join(vuln.fix_versions)}" if vuln.fix_versions else "no fixed version"
    description = vuln.description
    if len(description) > DESCRIPTION_LIMIT:
        description = description[: DESCRIPTION_LIMIT - 1] + "…"
    return CheckResult(
        check=Check.VULNERABILITY,
        status=Status.CONTRADICTED,
        subject=_label(package),
        message=f"{ids}: {fixed}",
        expected=NO_VULNERABILITIES,
        actual=vuln.id,
        details={
            "id": vuln.id,
            "aliases": ", ".join(vuln.aliases),
            "fix_versions": ", ".join(vuln.fix_versions),
            "description": description,
            "service": service,
        },
        location=str(package.location),
    )


def _unverifiable(
    package: PinnedPackage, service: str, reason: str, *, hint: str | None = None
) -> CheckResult:
    return CheckResult(
        check=Check.VULNERABILITY,
        status=Status.UNREACHABLE,
        subject=_label(package),
        message=f"could not audit for known vulnerabilities ({service}): {reason}",
        expected=NO_VULNERABILITIES,
        details={"service": service, "reason": reason},
        location=str(package.location),
        hint=hint,
    )


def _not_from_index(package: PinnedPackage) -> CheckResult:
    why = f": {package.skip_reason}" if package.skip_reason else ""
    return CheckResult(
        check=Check.VULNERABILITY,
        status=Status.ABSENT,
        kind=Gap.UNINDEXED,
        subject=_label(package),
        message=f"not audited: a {package.source} package has no index version to look up{why}",
        location=str(package.location),
    )


def _label(package: PinnedPackage) -> str:
    return f"{package.name}=={package.version}"
