"""README's two commands are the project's contract with a new user; CI runs the second."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_starts_with_the_two_commands() -> None:
    commands = _readme_commands()
    assert len(commands) >= 2
    assert "verify-release " in commands[0]
    assert "pytest" in commands[1]
    head = (ROOT / "README.md").read_text().split("```bash", 3)
    assert len(head[0].splitlines()) <= 4, "the commands must open the README"


def test_ci_runs_the_exact_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci


def test_progress_is_plain_lines_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from verifier.cli import _Progress

    progress = _Progress()
    assert not progress.live  # pytest's captured stderr is not a terminal
    progress("[1/2] a==1")
    progress("[2/2] b==1")
    progress.finish()
    assert capsys.readouterr().err == "[1/2] a==1\n[2/2] b==1\n"


def test_a_bug_exits_4_never_a_verdict_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import verifier.cli

    def broken(*_: object, **__: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(verifier.cli, "_run", broken)
    monkeypatch.setattr("sys.argv", ["verify-release", "foo==1.0"])
    with pytest.raises(SystemExit) as info:
        verifier.cli.entry()
    assert info.value.code == 4
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err
    assert "internal error (a bug in verify-release" in err
    assert "nothing was verified" in err
