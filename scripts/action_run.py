"""Run logic of the verify-release GitHub Action (``action.yml``); standard library only.

The composite action installs verify-release into a virtual environment and runs this script
with that environment's Python; besides the standard library it uses only verify-release's own
writer (``verifier.atomic``), so the report, SARIF, summary and outputs are written whole or not
at all. Inputs arrive as environment variables only (``INPUT_*``, set
by the action's ``env:``), never through a shell: every value is data, and every command is an
argv list.

For each ``NAME==VERSION`` of ``packages`` (and once for ``lockfile``) verify-release runs once
with ``--format json --output <report> --sarif <sarif>``. The results are merged, worst verdict
first (error > failed > unverifiable > verified):

* one JSON report in verify-release's own schema (``schema_version`` 1), whose path is the
  ``report-path`` output; the ``verdict`` output is its verdict;
* one SARIF 2.1.0 log with a single run at ``sarif-output``, ready for
  ``github/codeql-action/upload-sarif`` (also written when nothing could be verified);
* the step summary (``$GITHUB_STEP_SUMMARY``), and the main log in ``format``.

Exit status: 3 when an input or a run was a usage error (always); otherwise the exit code of the
worst verdict named in ``fail-on`` that occurred (1 failed, 2 unverifiable); otherwise 0.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verifier import atomic
from verifier.errors import FileNotWritten, UsageError

FORMATS = ("text", "json", "sarif", "summary")
SEVERITY = {"verified": 0, "unverifiable": 1, "failed": 2, "error": 3}
"""Worst wins when runs are merged; an ``error`` (usage error, no report) is the worst."""
EXIT_CODES = {"verified": 0, "failed": 1, "unverifiable": 2, "error": 3}
FAILABLE = ("failed", "unverifiable")
DEFAULT_FAIL_ON = "failed,unverifiable"
DEFAULT_SARIF = "verify-release.sarif"
RESERVED_OPTIONS = ("--format", "--output", "--sarif", "--lockfile", "--policy")
"""Options the action sets itself; ``args`` may not set them (nor abbreviate them)."""
RESERVED_SHORT = "o"
"""``-o`` is ``--output``."""
MAX_SUMMARY_BYTES = 1024 * 1024
"""GitHub refuses a step summary larger than this."""
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


@dataclass(frozen=True)
class Target:
    """One verify-release run: a pin, or the lockfile."""

    label: str
    argv: tuple[str, ...]
    """The arguments after ``verify-release`` that name what to verify."""


@dataclass(frozen=True)
class RunResult:
    """What one verify-release run produced."""

    target: Target
    exit_code: int
    verdict: str
    document: dict[str, Any]
    """Its JSON report (an error document when it wrote none)."""
    sarif: dict[str, Any] | None
    summary: str


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


def targets(inputs: Inputs) -> list[Target]:
    """The runs to make: the lockfile first, then each pin in order (duplicates once)."""
    out: list[Target] = []
    if inputs.lockfile is not None:
        out.append(Target(label=inputs.lockfile, argv=(f"--lockfile={inputs.lockfile}",)))
    seen: set[str] = set()
    for pin in inputs.packages:
        if pin not in seen:
            seen.add(pin)
            # "--" ends the options: a target can never be read as a flag.
            out.append(Target(label=pin, argv=("--", pin)))
    return out


def command(python: str, inputs: Inputs, target: Target, report: Path, sarif: Path) -> list[str]:
    """The argv of one verify-release run."""
    argv = [python, "-m", "verifier", "--format", "json", "--output", str(report)]
    argv += ["--sarif", str(sarif)]
    if inputs.policy is not None:
        argv.append(f"--policy={inputs.policy}")
    return [*argv, *inputs.args, *target.argv]


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


def _worst(verdicts: Sequence[str]) -> str:
    return max(verdicts, key=SEVERITY.__getitem__, default="error")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _verdict_of_exit(code: int) -> str:
    by_code = {value: key for key, value in EXIT_CODES.items()}
    return by_code.get(code, "error")


def run_one(python: str, inputs: Inputs, target: Target, workdir: Path, number: int) -> RunResult:
    """Run verify-release once; its progress and errors go straight to the log (stderr)."""
    report = workdir / f"run-{number}.json"
    sarif = workdir / f"run-{number}.sarif"
    summary = workdir / f"run-{number}.md"
    env = dict(os.environ)
    env["GITHUB_STEP_SUMMARY"] = str(summary)  # merged into the real one afterwards
    argv = command(python, inputs, target, report, sarif)
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr, check=False)
    document = _read_json(report)
    if document is None or document.get("verdict") not in SEVERITY:
        document = error_document(
            f"{target.label}: verify-release exited {done.returncode} without a report"
        )
    # The worse of what the report says and what the exit code says.
    verdict = _worst([str(document["verdict"]), _verdict_of_exit(done.returncode)])
    try:
        summary_text = summary.read_text(encoding="utf-8")
    except OSError:
        summary_text = ""
    return RunResult(
        target=target,
        exit_code=done.returncode,
        verdict=verdict,
        document=document,
        sarif=_read_json(sarif),
        summary=summary_text,
    )


def merge_reports(results: Sequence[RunResult]) -> dict[str, Any]:
    """One verify-release JSON document for all runs (schema_version 1), worst verdict."""
    verdict = _worst([r.verdict for r in results])
    documents = [r.document for r in results]
    merged: dict[str, Any] = {
        "schema_version": 1,
        "tool": next(
            (d["tool"] for d in documents if isinstance(d.get("tool"), dict)),
            {"name": "verify-release", "version": tool_version()},
        ),
        "verdict": verdict,
        "exit_code": EXIT_CODES[verdict],
    }
    errors = [(r.target.label, r.document["error"]) for r in results if "error" in r.document]
    if errors:
        label, error = errors[0]
        message = str(error.get("message", ""))
        merged["error"] = {
            "message": message if label in message else f"{label}: {message}",
            "hint": error.get("hint"),
        }
    root = next((d["trust_root"] for d in documents if d.get("trust_root")), None)
    if root is not None:
        merged["trust_root"] = root
    warnings: list[str] = []
    for document in documents:
        for warning in document.get("warnings", []):
            if warning not in warnings:
                warnings.append(warning)
    merged["warnings"] = warnings
    merged["releases"] = [rel for d in documents for rel in d.get("releases", [])]
    return merged


def merge_sarif(results: Sequence[RunResult], verdict: str) -> dict[str, Any]:
    """One SARIF 2.1.0 log with a single run holding every run's results and invocations.

    Code scanning wants one run per tool and category, so runs are merged rather than listed:
    rules are united (each result's ``ruleIndex`` renumbered), results and invocations
    concatenated, outcome counts added up. A run that wrote no SARIF (a usage error) adds a
    failed invocation carrying its message, so the log always exists and says what happened.
    """
    runs = [r.sarif["runs"][0] for r in results if r.sarif and r.sarif.get("runs")]
    if runs:
        driver = dict(runs[0]["tool"]["driver"])
    else:
        version = str(merge_reports(results)["tool"]["version"])
        driver = {"name": "verify-release", "version": version, "informationUri": INFORMATION_URI}
    rules: list[dict[str, Any]] = []
    rule_ids: list[str] = []
    merged_results: list[dict[str, Any]] = []
    invocations: list[dict[str, Any]] = []
    outcomes: dict[str, int] = {}
    packages = 0
    trust_root: str | None = None
    for result in results:
        run = result.sarif["runs"][0] if result.sarif and result.sarif.get("runs") else None
        if run is None:
            error = result.document.get("error") or {}
            message = f"{result.target.label}: {error.get('message', 'no report')}"
            invocations.append(
                {
                    "executionSuccessful": False,
                    "exitCode": result.exit_code,
                    "toolExecutionNotifications": [
                        {"level": "error", "message": {"text": message}}
                    ],
                }
            )
            continue
        for rule in run["tool"]["driver"].get("rules", []):
            if rule["id"] not in rule_ids:
                rule_ids.append(rule["id"])
                rules.append(rule)
        for item in run.get("results", []):
            entry = dict(item)
            if "ruleId" in entry:
                entry["ruleIndex"] = rule_ids.index(entry["ruleId"])
            merged_results.append(entry)
        invocations.extend(run.get("invocations", []))
        properties = run.get("properties", {})
        for outcome, count in properties.get("outcomes", {}).items():
            outcomes[outcome] = outcomes.get(outcome, 0) + int(count)
        packages += int(properties.get("packages", 0))
        trust_root = trust_root or properties.get("trustRoot")
    driver["rules"] = rules
    merged: dict[str, Any] = {"tool": {"driver": driver}}
    if runs and "originalUriBaseIds" in runs[0]:
        merged["originalUriBaseIds"] = runs[0]["originalUriBaseIds"]
    merged["invocations"] = invocations
    merged["results"] = merged_results
    properties_out: dict[str, Any] = {
        "verdict": verdict,
        "exitCode": EXIT_CODES[verdict],
        "outcomes": outcomes,
        "packages": packages,
    }
    if trust_root is not None:
        properties_out["trustRoot"] = trust_root
    merged["properties"] = properties_out
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [merged]}


def render_text(document: Mapping[str, Any]) -> str:
    """The merged JSON report as plain text for the log: one line per finding, then the verdict."""
    lines: list[str] = []
    root = document.get("trust_root")
    if root:
        lines.append(f"trust root: {root.get('description', '')}")
    for release in document.get("releases", []):
        lines.append("")
        lines.append(str(release.get("subject", "")))
        for finding in release.get("findings", []):
            lines.append(
                f"  {str(finding.get('outcome', '')).upper():<12} {finding.get('check', ''):<14} "
                f"{finding.get('subject', '')}  {finding.get('message', '')}"
            )
            if finding.get("outcome") == "verified":
                continue
            for key, label in (("expected", "expected"), ("actual", "got"), ("policy", "policy")):
                if finding.get(key) is not None:
                    lines.append(f"{'':<30}{label}: {finding[key]}")
    for warning in document.get("warnings", []):
        lines.append(f"warning: {warning}")
    error = document.get("error")
    if error:
        lines.append(f"error: {error.get('message', '')}")
        if error.get("hint"):
            lines.append(f"hint: {error['hint']}")
    lines.append("")
    lines.append(f"verdict: {str(document['verdict']).upper()} (exit {document['exit_code']})")
    return "\n".join(lines).lstrip("\n") + "\n"


def escape_markdown(text: str) -> str:
    """``text`` as literal Markdown on one line (it may come from hostile inputs)."""
    flat = " ".join(text.splitlines())
    return "".join(f"\\{ch}" if ch in _MARKDOWN_SPECIAL else ch for ch in flat)


def render_summary(
    results: Sequence[RunResult], document: Mapping[str, Any], fail_on: frozenset[str], code: int
) -> str:
    """Step-summary Markdown: each run's own summary (or its error), then the step's result."""
    verdict = str(document["verdict"]).upper()
    parts: list[str] = []
    if len(results) != 1 or not results[0].summary:
        parts.append(f"## verify-release: {verdict}\n")
    for result in results:
        if result.summary:
            parts.append(result.summary.rstrip("\n") + "\n")
        else:
            error = result.document.get("error") or {}
            parts.append(
                f"**{escape_markdown(result.target.label)}**: {result.verdict.upper()}: "
                f"{escape_markdown(str(error.get('message', 'no report')))}\n"
            )
    if not results:
        error = document.get("error") or {}
        parts.append(f"Error: {escape_markdown(str(error.get('message', '')))}\n")
    outcome = "fails" if code else "passes"
    tolerated = ", ".join(sorted(fail_on))
    parts.append(
        f"_The step {outcome}: verdict {verdict}; fail-on: {tolerated} "
        "(usage errors always fail)._\n"
    )
    text = "\n".join(parts)
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_SUMMARY_BYTES:
        note = "\n**Truncated** to stay under GitHub's step-summary limit; see the JSON report.\n"
        keep = encoded[: MAX_SUMMARY_BYTES - len(note.encode())].decode("utf-8", "ignore")
        text = keep[: keep.rfind("\n") + 1] + note
    return text


def step_exit_code(results: Sequence[RunResult], fail_on: frozenset[str]) -> int:
    """3 if any run was an error; else the worst failing verdict's code; else 0."""
    verdicts = [r.verdict for r in results]
    if "error" in verdicts:
        return EXIT_CODES["error"]
    failing = [v for v in verdicts if v in fail_on]
    return EXIT_CODES[_worst(failing)] if failing else 0


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
    results: Sequence[RunResult],
    document: dict[str, Any],
    fmt: str,
    fail_on: frozenset[str],
    sarif_path: Path,
    report_path: Path,
) -> int:
    """Write the report, SARIF, summary, outputs and log; return the step's exit code."""
    code = step_exit_code(results, fail_on) if results else EXIT_CODES["error"]
    verdict = str(document["verdict"])
    sarif = merge_sarif(results, verdict) if results else _error_sarif(document)
    _write(report_path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    _write(sarif_path, json.dumps(sarif, indent=2, ensure_ascii=False) + "\n")
    summary = render_summary(results, document, fail_on, code)
    summary_path = env.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        atomic.append_text(Path(summary_path), summary)
    set_outputs(env, {"verdict": verdict, "report-path": str(report_path.resolve())})
    if fmt == "json":
        _emit_log(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "sarif":
        _emit_log(json.dumps(sarif, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "summary":
        _emit_log(summary)
    else:
        _emit_log(render_text(document))
    return code


def _error_sarif(document: Mapping[str, Any]) -> dict[str, Any]:
    error = document.get("error") or {}
    run = {
        "tool": {
            "driver": {
                "name": "verify-release",
                "version": str(document["tool"]["version"]),
                "informationUri": INFORMATION_URI,
                "rules": [],
            }
        },
        "invocations": [
            {
                "executionSuccessful": False,
                "exitCode": EXIT_CODES["error"],
                "toolExecutionNotifications": [
                    {"level": "error", "message": {"text": str(error.get("message", ""))}}
                ],
            }
        ],
        "results": [],
        "properties": {"verdict": "error", "exitCode": EXIT_CODES["error"]},
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the action; returns the step's exit code."""
    env = os.environ if env is None else env
    in_actions = env.get("GITHUB_ACTIONS") == "true"
    workdir = Path(tempfile.mkdtemp(prefix="verify-release-", dir=env.get("RUNNER_TEMP") or None))
    report_path = workdir / "report.json"
    sarif_path = Path(_env(env, "INPUT_SARIF_OUTPUT") or DEFAULT_SARIF)
    fmt = _env(env, "INPUT_FORMAT").lower()
    try:
        inputs = read_inputs(env)
    except InputError as exc:
        print(f"verify-release action: error: {exc}", file=sys.stderr, flush=True)
        document = error_document(str(exc), hint="see the action's inputs in action.yml")
        fail_on = frozenset(DEFAULT_FAIL_ON.split(","))
        fmt = fmt if fmt in FORMATS else "text"
        return finish(env, [], document, fmt, fail_on, sarif_path, report_path)
    # Reports quote the index, certificates and upstream errors: while they are printed, the
    # runner must not read any line as a workflow command.
    token = uuid.uuid4().hex
    if in_actions:
        _emit_log(f"::stop-commands::{token}\n")
    try:
        results = [
            run_one(sys.executable, inputs, target, workdir, number)
            for number, target in enumerate(targets(inputs), start=1)
        ]
        document = merge_reports(results)
        code = finish(
            env, results, document, inputs.format, inputs.fail_on, inputs.sarif, report_path
        )
    finally:
        if in_actions:
            _emit_log(f"::{token}::\n")
    if in_actions and code:
        labels = ", ".join(r.target.label for r in results if r.verdict != "verified")
        _emit_log(
            f"::error title=verify-release::{escape_command(document['verdict'].upper())}: "
            f"{escape_command(labels)}\n"
        )
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FileNotWritten as exc:
        # The file was left as it was; the step must not look verified (3: the path, 4: a bug).
        print(f"verify-release action: error: {exc.diagnostics()}", file=sys.stderr, flush=True)
        sys.exit(EXIT_CODES["error"] if isinstance(exc, UsageError) else 4)
