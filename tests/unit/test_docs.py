"""docs/verifying.md's troubleshooting table lists every message the tool can print.

The messages are collected from the source (every ``CheckResult(message=...)``, every check failure
and every error raised), so a new message without a documented meaning and fix fails here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MESSAGE_CALLS = {
    "Finding",
    "CheckResult",
    "_unhashed",
    "_Failure",
    "BundleFailure",
    "UsageError",
    "PolicyError",
    "UpstreamError",
    "NetworkError",
    "NotFoundError",
    "RateLimitedError",
    "LockfileError",
    "TrustRootError",
    "UnwritableFile",
    "FileNotWritten",
    "_link",
    "missing_tag",
    "unavailable",
    "missing",
}
MIN_CHUNK = 10


def _chunks(node: ast.expr) -> list[str]:
    """The literal pieces of a message expression (f-string placeholders split them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        ]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _chunks(node.left) + _chunks(node.right)
    return []


def _message_arg(call: ast.Call, name: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "message":
            return keyword.value
    if name in ("_link",) and len(call.args) >= 3:
        return call.args[2]
    if name in ("missing_tag", "missing") and len(call.args) >= 2:
        return call.args[1]
    if name == "unavailable" and len(call.args) >= 2:
        return call.args[1]
    return call.args[0] if call.args else None


def _reports_success(call: ast.Call) -> bool:
    """A result that is proven (or not checked by choice, or a link whose missing end is judged
    elsewhere) needs no troubleshooting."""
    values = [k.value for k in call.keywords if k.arg in ("outcome", "status")] + list(
        call.args[:1]
    )
    fine = {"VERIFIED", "SKIPPED", "PROVEN", "NOT_CHECKED"}
    if isinstance(call.func, ast.Name) and call.func.id == "_link":
        fine.add("ABSENT")
    return any(isinstance(v, ast.Attribute) and v.attr in fine for v in values)


def messages() -> Iterator[tuple[str, str]]:
    """(where, the longest literal piece) of every message in verifier/."""
    for path in sorted((ROOT / "verifier").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else (func.attr if isinstance(func, ast.Attribute) else "")
            )
            if name not in MESSAGE_CALLS:
                continue
            if _reports_success(node):
                continue
            arg = _message_arg(node, name)
            if arg is None:
                continue
            pieces = [p.strip(" :;,.()") for p in _chunks(arg)]
            pieces = [p for p in pieces if len(p) >= MIN_CHUNK]
            if pieces:
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                yield where, max(pieces, key=len)


def _troubleshooting() -> str:
    text = (ROOT / "docs" / "verifying.md").read_text()
    section = text.split("## Troubleshooting", 1)[1]
    return re.sub(r"\s+", " ", section.replace("`", "").replace("\\|", "|"))


def test_every_message_is_in_the_troubleshooting_table() -> None:
    table = _troubleshooting()
    missing = sorted(
        {
            f"{where}: {piece!r}"
            for where, piece in messages()
            if re.sub(r"\s+", " ", piece) not in table
        }
    )
    assert not missing, "undocumented messages:\n" + "\n".join(missing)


def test_the_scan_finds_messages() -> None:
    found = dict(messages())
    assert len(found) > 50


def _quick_start_commands() -> list[list[str]]:
    """The ``verify-release`` commands of the Quick start's code blocks, as argv lists."""
    import shlex

    text = (ROOT / "docs" / "verifying.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            for part in line.split("&&"):
                argv = shlex.split(part, comments=True)
                if argv[:1] == ["verify-release"]:
                    commands.append(argv[1:])
    return commands


def test_the_guide_opens_with_the_headline_command() -> None:
    text = (ROOT / "docs" / "verifying.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S)
    assert first_block is not None
    assert first_block.group(1).splitlines()[0] == "verify-release clickwork==1.0.1"


def test_the_quick_start_shows_verify_then_install_for_a_pin_and_a_lockfile() -> None:
    from verifier.cli import build_parser, validate_args

    commands = _quick_start_commands()
    assert ["clickwork==1.0.1", "--write-requirements", "verified.txt"] in commands
    assert ["--lockfile", "uv.lock", "--write-requirements", "verified.txt"] in commands
    for argv in commands:
        parser = build_parser()
        validate_args(parser, parser.parse_args(argv))
    text = (ROOT / "docs" / "verifying.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert section.count("&& pip install --require-hashes --no-deps -r verified.txt") == 2
