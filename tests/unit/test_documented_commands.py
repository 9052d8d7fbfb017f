"""Every verify-release command in README.md and docs/verifying.md parses as written.

Documentation drifts from the parser (the docs once denied that ``--lockfile-format`` exists):
each command of a ``bash`` block is split like a shell would, and must be accepted by the
parser and by ``validate_args`` (combinations, kinds, repository forms), with no network.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from verifier.cli import build_bundle_parser, build_parser, validate_args
from verifier.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
_SEPARATORS = ("|", "&&", ";", "||")


def _commands() -> list[tuple[str, list[str]]]:
    found = []
    for name in ("README.md", "docs/verifying.md"):
        text = (ROOT / name).read_text()
        for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, flags=re.DOTALL):
            joined = block.replace("\\\n", " ")
            for line in joined.splitlines():
                words = shlex.split(line, comments=True)
                for start, word in enumerate(words):
                    if word == "verify-release" and (start == 0 or words[start - 1] in _SEPARATORS):
                        command = []
                        for part in words[start + 1 :]:
                            if part in (*_SEPARATORS, ">", ">>"):
                                break
                            command.append(part)
                        found.append((f"{name}: {line.strip()[:60]}", command))
    return found


COMMANDS = _commands()


def test_the_docs_have_commands_to_check() -> None:
    assert len(COMMANDS) >= 12


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_a_documented_command_parses(where: str, argv: list[str]) -> None:
    if argv[:1] == ["bundle"]:
        build_bundle_parser().parse_args(argv[1:])
        return
    if argv[:1] == ["help"] or argv in (["-V"], ["--version"]):
        return
    command = argv[0] if argv[:1] in (["fetch"], ["pin"]) else None
    parser = build_parser(command)
    args = parser.parse_args(argv[1:] if command else argv)
    try:
        validate_args(parser, args)
    except UsageError as error:
        pytest.fail(f"{where}: {error.diagnostics()}")
