"""The pre-commit hook (``.pre-commit-hooks.yaml``): verify the lockfiles a commit changes.

pre-commit runs the hook's entry with the user's ``args`` first and the changed files that
match the hook's ``files`` pattern appended at the end. verify-release reads a lockfile only
after ``--lockfile``, so this entry turns the trailing file names into ``--lockfile FILE``
arguments and runs one verify-release over all of them: one report, the worst verdict wins, and
any verdict but VERIFIED (exit 0) fails the commit.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

LOCKFILE_NAME = re.compile(
    r"(uv\.lock|poetry\.lock|pylock\.toml|pylock\.[^/\\]+\.toml|requirements[^/\\]*\.txt)"
)
"""Base names of the lockfiles the hook verifies (PEP 751 allows ``pylock.NAME.toml``)."""


def is_lockfile(path: str) -> bool:
    """Whether ``path``'s base name is one of the lockfiles the hook verifies."""
    name = re.split(r"[/\\]", path)[-1]
    return LOCKFILE_NAME.fullmatch(name) is not None


def hook_argv(argv: Sequence[str]) -> list[str]:
    """verify-release's arguments: the user's ``args``, then ``--lockfile FILE`` for each file.

    The file names are the trailing arguments that name lockfiles (pre-commit appends them);
    everything before the first of them is passed through as it is.
    """
    split = len(argv)
    while split > 0 and is_lockfile(argv[split - 1]) and not argv[split - 1].startswith("-"):
        split -= 1
    options = list(argv[:split])
    files = list(dict.fromkeys(argv[split:]))
    return [*options, *(f"--lockfile={path}" for path in files)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run verify-release on the changed lockfiles; nothing to verify is a pass (exit 0)."""
    from verifier.cli import main as cli_main

    args = hook_argv(sys.argv[1:] if argv is None else argv)
    if not any(a.startswith("--lockfile=") for a in args):
        return 0
    return cli_main(args)


def entry() -> None:
    """Console-script entry point (``verify-release-pre-commit``).

    Runs through ``verifier.cli.entry``, so a bug exits 4 (never a verdict code) and Ctrl-C
    behaves as in verify-release itself.
    """
    from verifier.cli import entry as cli_entry

    args = hook_argv(sys.argv[1:])
    if not any(a.startswith("--lockfile=") for a in args):
        sys.exit(0)
    sys.argv = [sys.argv[0], *args]
    cli_entry()
