"""Run logic of the verify-release GitHub Action (``action.yml``); standard library only.

The composite action installs verify-release into a virtual environment and runs this script
with that environment's Python; besides the standard library it uses only verify-release's own
writer (``verifier.atomic``), so the report, SARIF, summary and outputs are written whole or not
at all. Inputs arrive as environment variables only (``INPUT_*``, set
by the action's ``env:``), never through a shell: every value is data, and every command is an
argv list.

All of ``packages`` and the ``lockfile`` go to ONE verify-release run, which renders everything
itself (the log in ``format``, ``--sarif``, ``--json`` for the ``report-path`` output, and the
step summary through ``$GITHUB_STEP_SUMMARY``): a second renderer here drifted from the
package's within days, so this script only checks inputs, maps ``fail-on`` to the step's exit
status and sets the step outputs. When verify-release wrote no report (a usage error before it
started, a crash), the script writes an ``error`` JSON document and a SARIF log that says so.

Exit status: 3 when an input or the run was a usage error (always); otherwise the run's exit
code if ``fail-on`` names its verdict (1 failed, 2 unverifiable); otherwise 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verifier import atomic
from verifier.errors import FileNotWritten, UsageError

FORMATS = ("text", "json", "sarif", "summary")
EXIT_CODES = {"verified": 0, "failed": 1, "unverifiable": 2, "error": 3}
FAILABLE = ("failed", "unverifiable")
DEFAULT_FAIL_ON = "failed,unverifiable"
DEFAULT_SARIF = "verify-release.sarif"
RESERVED_OPTIONS = ("--format", "--output", "--sarif", "--json", "--lockfile", "--policy")
"""Options the action sets itself; ``args`` may not set them (nor abbreviate them)."""
RESERVED_SHORT = "o"
"""``-o`` is ``--output``."""
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/verify-release/"
_PIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?==[A-Za-z0-9](?:[A-Za-z0-9.+!_-]*[A-Za-z0-9])?"
)
"""An exact pin as the action accepts it: a PEP 508 name, ``==``, a version's characters."""
_MARKDOWN_SPECIAL = frozenset("\\`*_[]<>|~&#")


class InputError(Exception):
    """An action input is unusable; the step fails with a usage error (exit 3)."""


@dataclass(frozen=True)
class Inputs:
    """The action's inputs, validated."""

    packages: tuple[str, ...]
    lockfile: str | None
    policy: str | None
    format: str
    fail_on: frozenset[str]
    sarif: Path
    args: tuple[str, ...]


def _env(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def parse_fail_on(text: str) -> frozenset[str]:
    """``failed,unverifiable`` (commas or whitespace) -> the verdicts that fail the step."""
    words = [w for w in re.split(r"[\s,]+", text.strip().lower()) if w]
    if not words:
        words = DEFAULT_FAIL_ON.split(",")
    unknown = [w for w in words if w not in FAILABLE]
    if unknown:
        raise InputError(
            f"fail-on: unknown verdict {unknown[0]!r}; use failed, unverifiable or both "
            "(usage errors always fail)"
        )
    return frozenset(words)


def parse_args_input(text: str) -> tuple[str, ...]:
    """Split ``args`` like a POSIX shell would, without running one; refuse reserved options."""
    try:
        words = shlex.split(text, comments=False, posix=True)
    except ValueError as exc:
        raise InputError(f"args: cannot be split into arguments: {exc}") from None
    for word in words:
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            if len(name) > 2 and any(opt.startswith(name) for opt in RESERVED_OPTIONS):
                matched = next(opt for opt in RESERVED_OPTIONS if opt.startswith(name))
                raise InputError(
                    f"args: {word!r} sets {matched}, which the action sets itself; use the "
                    "action's inputs (format, sarif-output, lockfile, policy) instead"
                )
        elif word.startswith("-") and len(word) > 1 and RESERVED_SHORT in word[1:]:
            raise InputError(f"args: {word!r} sets --output, which the action sets itself")
    return tuple(words)


def read_inputs(env: Mapping[str, str]) -> Inputs:
    """The action's inputs from ``INPUT_*`` environment variables; raises ``InputError``."""
    packages = tuple(_env(env, "INPUT_PACKAGES").split())
    for pin in packages:
        if not _PIN.fullmatch(pin):
            raise InputError(
                f"packages: {pin!r} is not an exact pin NAME==VERSION (one per line or "
                "separated by spaces)"
            )
    lockfile = _env(env, "INPUT_LOCKFILE") or None
    if not packages and lockfile is None:
        raise InputError("nothing to verify: set the packages input, the lockfile input, or both")
    fmt = _env(env, "INPUT_FORMAT").lower() or "text"
    if fmt not in FORMATS:
        raise InputError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    for name, value in (("lockfile", lockfile), ("policy", _env(env, "INPUT_POLICY"))):
        if value and ("\n" in value or "\x00" in value):
            raise InputError(f"{name}: a path must be a single line")
    return Inputs(
        packages=packages,
        lockfile=lockfile,
        policy=_env(env, "INPUT_POLICY") or None,
        format=fmt,
        fail_on=parse_fail_on(_env(env, "INPUT_FAIL_ON")),
        sarif=Path(_env(env, "INPUT_SARIF_OUTPUT") or DEFAULT_SARIF),
        args=parse_args_input(env.get("INPUT_ARGS", "")),
    )


def command(python: str, inputs: Inputs, report: Path) -> list[str]:
    """The argv of the one verify-release run: options, the lockfile, then ``--`` and the pins.

    ``--`` ends the options, so a pin can never be read as a flag. Duplicate pins go once.
    ``-I`` (isolated mode) keeps the working directory, the workspace, off ``sys.path`` and
    ignores ``PYTHON*`` variables: a checked-out repository with a ``verifier/`` package must
    not replace verify-release.
    """
    argv = [python, "-I", "-m", "verifier", "--format", inputs.format, "--json", str(report)]
    # The restored cache (and its key) may have been written by another workflow run: reuse
    # its responses (whose signatures are verified again), never its verdicts.
    argv.append("--no-verdict-cache")
    argv += ["--sarif", str(inputs.sarif)]
    if inputs.policy is not None:
        argv.append(f"--policy={inputs.policy}")
    argv += inputs.args
    if inputs.lockfile is not None:
        argv.append(f"--lockfile={inputs.lockfile}")
    return [*argv, "--", *dict.fromkeys(inputs.packages)]


def tool_version() -> str:
    """The installed verify-release's version (for documents written without a run)."""
    from importlib import metadata

    try:
        return metadata.version("verify-release")
    except metadata.PackageNotFoundError:
        return "unknown"


def error_document(message: str, hint: str | None = None) -> dict[str, Any]:
    """A verify-release JSON document for a usage error (schema_version 1)."""
    return {
        "schema_version": 1,
        "tool": {"name": "verify-release", "version": tool_version()},
        "verdict": "error",
        "exit_code": EXIT_CODES["error"],
        "error": {"message": message, "hint": hint},
    }


def error_sarif(message: str) -> dict[str, Any]:
    """A SARIF log for a run that wrote none: one failed invocation carrying the message."""
    run = {
        "tool": {
            "driver": {
                "name": "verify-release",
                "version": tool_version(),
                "informationUri": INFORMATION_URI,
                "rules": [],
            }
        },
        "invocations": [
            {
                "executionSuccessful": False,
                "exitCode": EXIT_CODES["error"],
                "toolExecutionNotifications": [{"level": "error", "message": {"text": message}}],
            }
        ],
        "results": [],
        "properties": {"verdict": "error", "exitCode": EXIT_CODES["error"]},
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def verdict_of(document: Mapping[str, Any] | None, exit_code: int) -> str:
    """The run's verdict, never read as a pass unless the report and the exit code agree.

    No report, an exit code that is not a verdict (4, a crash, a signal), or a report that
    disagrees with its exit code: ``error``.
    """
    by_code = {value: key for key, value in EXIT_CODES.items()}
    from_code = by_code.get(exit_code, "error")
    if document is None or document.get("verdict") != from_code:
        return "error"
    return from_code


def step_exit_code(verdict: str, fail_on: frozenset[str]) -> int:
    """3 for an error; the verdict's code when ``fail-on`` names it; else 0."""
    if verdict == "error":
        return EXIT_CODES["error"]
    return EXIT_CODES[verdict] if verdict in fail_on else 0


def escape_markdown(text: str) -> str:
    """``text`` as literal Markdown on one line (it may come from hostile inputs)."""
    flat = " ".join(text.splitlines())
    return "".join(f"\\{ch}" if ch in _MARKDOWN_SPECIAL else ch for ch in flat)


def closing_line(verdict: str, fail_on: frozenset[str], code: int, error: str | None) -> str:
    """The step summary's last line: what the step did and why (the run wrote the rest)."""
    parts = []
    if error is not None:
        parts.append(f"## verify-release: ERROR\n\nError: {escape_markdown(error)}\n")
    outcome = "fails" if code else "passes"
    tolerated = ", ".join(sorted(fail_on))
    parts.append(
        f"_The step {outcome}: verdict {verdict.upper()}; fail-on: {tolerated} "
        "(usage errors always fail)._\n"
    )
    return "\n".join(parts)


def set_outputs(env: Mapping[str, str], values: Mapping[str, str]) -> None:
    """Append ``values`` to ``$GITHUB_OUTPUT`` in the multi-line form, with a random delimiter."""
    path = env.get("GITHUB_OUTPUT")
    if not path:
        return
    text = ""
    for name, value in values.items():
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        text += f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
    atomic.append_text(Path(path), text)


def escape_command(text: str) -> str:
    """Escape data for a workflow command (``::error::DATA``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _write(path: Path, text: str) -> None:
    """Write a report whole or not at all; a folder that cannot be made fails in the write."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, text)


def _emit_log(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def finish(
    env: Mapping[str, str],
    document: dict[str, Any] | None,
    verdict: str,
    fail_on: frozenset[str],
    sarif_path: Path,
    report_path: Path,
) -> int:
    """Fill in what the run did not write, append the closing line, set the outputs."""
    code = step_exit_code(verdict, fail_on)
    error = None
    if document is None or verdict == "error":
        found = (document or {}).get("error")
        error = str(found.get("message", "")) if isinstance(found, dict) else None
        if error is None:
            error = "verify-release wrote no report"
        if document is None or document.get("verdict") != "error":
            document = error_document(error)
        _write(report_path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        if _read_json(sarif_path) is None:
            _write(sarif_path, json.dumps(error_sarif(error), indent=2) + "\n")
    summary_path = env.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        atomic.append_text(Path(summary_path), closing_line(verdict, fail_on, code, error))
    set_outputs(env, {"verdict": verdict, "report-path": str(report_path.resolve())})
    return code


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the action; returns the step's exit code."""
    env = os.environ if env is None else env
    in_actions = env.get("GITHUB_ACTIONS") == "true"
    workdir = Path(tempfile.mkdtemp(prefix="verify-release-", dir=env.get("RUNNER_TEMP") or None))
    report_path = workdir / "report.json"
    sarif_path = Path(_env(env, "INPUT_SARIF_OUTPUT") or DEFAULT_SARIF)
    try:
        inputs = read_inputs(env)
    except InputError as exc:
        print(f"verify-release action: error: {exc}", file=sys.stderr, flush=True)
        document = error_document(str(exc), hint="see the action's inputs in action.yml")
        fail_on = frozenset(DEFAULT_FAIL_ON.split(","))
        return finish(env, document, "error", fail_on, sarif_path, report_path)
    # Reports quote the index, certificates and upstream errors: while they are printed, the
    # runner must not read any line as a workflow command.
    with contextlib.suppress(OSError):  # a folder that cannot be made fails in the write
        inputs.sarif.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    if in_actions:
        _emit_log(f"::stop-commands::{token}\n")
    try:
        done = subprocess.run(
            command(sys.executable, inputs, report_path),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    finally:
        if in_actions:
            _emit_log(f"::{token}::\n")
    written = _read_json(report_path)
    verdict = verdict_of(written, done.returncode)
    code = finish(env, written, verdict, inputs.fail_on, inputs.sarif, report_path)
    if in_actions and code:
        labels = ", ".join(not_verified(written))
        detail = f": {labels}" if labels else ""
        _emit_log(f"::error title=verify-release::{escape_command(verdict.upper() + detail)}\n")
    return code


def not_verified(document: Mapping[str, Any] | None) -> list[str]:
    """The subjects of the report with a finding that FAILED or is UNVERIFIABLE."""
    releases = (document or {}).get("releases")
    out = []
    for release in releases if isinstance(releases, list) else []:
        findings = release.get("findings") if isinstance(release, dict) else None
        if isinstance(findings, list) and any(
            isinstance(f, dict) and f.get("outcome") in FAILABLE for f in findings
        ):
            out.append(str(release.get("subject", "")))
    return out


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FileNotWritten as exc:
        # The file was left as it was; the step must not look verified (3: the path, 4: a bug).
        print(f"verify-release action: error: {exc.diagnostics()}", file=sys.stderr, flush=True)
        sys.exit(EXIT_CODES["error"] if isinstance(exc, UsageError) else 4)
