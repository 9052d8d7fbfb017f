"""The pre-commit hook (``.pre-commit-hooks.yaml``): verify the lockfiles a commit changes.

pre-commit runs the hook's entry with the user's ``args`` first and the changed files that
match the hook's ``files`` pattern appended at the end, with no ``--`` between them (its
``run_xargs`` appends the file names to ``entry + args``). verify-release reads a lockfile only
after ``--lockfile``, so this entry turns the trailing file names into ``--lockfile=FILE``
arguments and runs one verify-release over all of them: one report, the worst verdict wins, and
any verdict but VERIFIED (exit 0) fails the commit.

Where the user's ``args`` end is not marked, so the trailing arguments that match ``FILES`` (the
hook's own ``files`` pattern, kept identical by a test) are files, whatever they start with: a
lockfile under a directory named like an option (``--cache-dir=x/requirements.txt``) is
verified, never read as an option. A file pre-commit passes that the pattern does not match (a
user widened ``files``) is a usage error (exit 3), never a silent pass.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Sequence

from verifier.errors import UsageError

FILES = r"(^|/)(uv\.lock|poetry\.lock|pylock\.toml|pylock\.[^/]+\.toml|requirements[^/]*\.txt)$"
"""The hook's ``files`` pattern, as in ``.pre-commit-hooks.yaml`` (``re.search`` on the path
relative to the repository, as pre-commit matches it; PEP 751 allows ``pylock.NAME.toml``)."""

_FILES = re.compile(FILES)
EXIT_USAGE = 3


def is_lockfile(path: str) -> bool:
    """Whether pre-commit, with the hook's own ``files`` pattern, passes ``path`` to the hook."""
    return _FILES.search(path) is not None


def split_files(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """The user's ``args`` and the (deduplicated) lockfiles pre-commit appended after them."""
    split = len(argv)
    while split > 0 and is_lockfile(argv[split - 1]):
        split -= 1
    return list(argv[:split]), list(dict.fromkeys(argv[split:]))


def _unrecognised(options: Sequence[str]) -> list[str] | None:
    """Arguments before the lockfiles that are files pre-commit passed, or None if unparsable.

    verify-release's own parser says which arguments are positional (its targets): in a hook
    every positional is a file pre-commit passed (pins and options belong in ``args``), and so
    is an argument that starts with ``-`` yet names an existing path. ``None`` when the user's
    arguments do not parse: verify-release then reports them itself.
    """
    from verifier.cli import build_parser

    parser = build_parser()
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            parsed, extra = parser.parse_known_args(list(options))
    except SystemExit:
        return None
    if extra:
        return None
    dashed = [a for a in options if a.startswith("-") and os.path.lexists(a)]
    return [*(str(t) for t in parsed.targets), *dashed]


def hook_argv(argv: Sequence[str]) -> list[str]:
    """verify-release's arguments: the user's ``args``, then ``--lockfile=FILE`` for each file.

    Raises ``UsageError`` for a file pre-commit passed that the hook does not recognise.
    """
    options, files = split_files(argv)
    stray = _unrecognised(options)
    if stray:
        raise UsageError(
            f"{stray[0]!r} is not a lockfile the hook verifies (the path must match the hook's "
            "files pattern: uv.lock, poetry.lock, pylock.toml, pylock.NAME.toml or "
            "requirements*.txt)",
            hint="keep the hook's default files pattern, or verify such a file with "
            "verify-release --lockfile FILE",
        )
    return [*options, *(f"--lockfile={path}" for path in files)]


def _prepare(argv: Sequence[str]) -> list[str] | int:
    """The CLI's argv, or an exit code: 0 when nothing was passed, 3 for an unknown file."""
    try:
        args = hook_argv(argv)
    except UsageError as exc:
        from verifier.report import safe_line

        print(safe_line(f"verify-release-pre-commit: error: {exc.message}"), file=sys.stderr)
        if exc.hint:
            print(safe_line(f"hint: {exc.hint}"), file=sys.stderr)
        return EXIT_USAGE
    options, files = split_files(argv)
    if not files and _unrecognised(options) == []:
        return 0  # no lockfile changed (an `always_run` hook): nothing to verify
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run verify-release on the changed lockfiles; nothing to verify is a pass (exit 0)."""
    from verifier.cli import main as cli_main

    args = _prepare(sys.argv[1:] if argv is None else argv)
    return args if isinstance(args, int) else cli_main(args)


def entry() -> None:
    """Console-script entry point (``verify-release-pre-commit``).

    Runs through ``verifier.cli.entry``, so a bug exits 4 (never a verdict code) and Ctrl-C
    behaves as in verify-release itself.
    """
    from verifier.cli import entry as cli_entry

    args = _prepare(sys.argv[1:])
    if isinstance(args, int):
        sys.exit(args)
    sys.argv = [sys.argv[0], *args]
    cli_entry()
