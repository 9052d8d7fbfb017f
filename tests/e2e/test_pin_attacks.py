"""End to end: ``pin`` keeps the policy file loadable whatever PyPI's unsigned record holds.

Found by a red team against the first pin work; each failed before the fix.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.helpers import run
from tests.e2e.test_lockfile import ALLOW_LOCAL, SKIPS, serve_all, write_lock
from tests.e2e.test_pin_writes import ROOT, _pin, serve_with_environment
from tests.servers import FakeIndex
from verifier.policy import PIN_END


def test_an_environment_holding_the_end_marker_survives_a_second_pin(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """PyPI's publisher record is unsigned: the environment may carry the block's end marker.

    A marker counts only as a whole line, so the second pin (same observation) finds the
    block whole, changes nothing and the next run loads the file.
    """
    environment = f"prod{PIN_END}"
    serve_all(index, material)
    serve_with_environment(index, material, environment)
    lock = write_lock(tmp_path / "requirements.txt", material)
    policy = tmp_path / "verify-release.toml"
    policy.write_text(ALLOW_LOCAL)
    args = ("--lockfile", str(lock), "--policy", str(policy))
    first = _pin(capsys, index, tmp_path, *args)
    assert first.code == 0, first.err
    after_first = policy.read_text("utf-8")
    second = _pin(capsys, index, tmp_path, *args)
    assert second.code == 0, second.err
    assert policy.read_text("utf-8") == after_first
    again = run(
        capsys,
        *args,
        "--index-url",
        index.url,
        "--offline",
        "-q",
        "--no-cache",
        "--cache-dir",
        str(tmp_path / "cache"),
        *SKIPS,
    )
    assert "not valid TOML" not in again.err
    assert again.code == 0, again.out + again.err


def test_a_changed_publisher_keeps_its_pin_until_accepted(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """``pin`` never accepts a changed publisher silently: it exits 1 until ``--accept NAME``."""
    serve_all(index, material)
    lock = write_lock(tmp_path / "requirements.txt", material)
    policy = tmp_path / "verify-release.toml"
    policy.write_text(ALLOW_LOCAL)
    args = ("--lockfile", str(lock), "--policy", str(policy))
    assert _pin(capsys, index, tmp_path, *args).code == 0
    pinned = policy.read_bytes()
    serve_with_environment(index, material, "moved")
    changed = _pin(capsys, index, tmp_path, *args)
    assert changed.code == 1, changed.err
    [line] = changed.out.splitlines()
    assert line.startswith("! pypi-attestations: publisher changed: https://github.com/")
    assert line.endswith(
        " environment moved; its pin is kept (accept the change with "
        "`verify-release pin --accept pypi-attestations`)"
    )
    assert changed.err.endswith(
        f"verify-release pin: {policy} is up to date\n"
        "verify-release pin: 1 pinned package(s) have another publisher this run and keep their "
        "pins: pypi-attestations (accept a change with --accept NAME)\n"
    )
    assert policy.read_bytes() == pinned
    accepted = _pin(capsys, index, tmp_path, *args, "--accept", "PyPI_Attestations")
    assert accepted.code == 0, accepted.err
    assert accepted.out.startswith("~ pypi-attestations: https://github.com/")
    assert accepted.err.endswith(f"verify-release pin: 1 change(s) written to {policy}\n")
    assert 'environment = "moved"' in policy.read_text("utf-8")


def test_pin_refuses_to_write_a_file_that_would_not_load(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """Hand-written ``publishers = {...}``: a block would redeclare it; exit 3, file unchanged."""
    serve_all(index, material)
    lock = write_lock(tmp_path / "requirements.txt", material)
    policy = tmp_path / "verify-release.toml"
    text = 'publishers = { foo = { repository = "https://github.com/o/foo" } }\n' + ALLOW_LOCAL
    policy.write_text(text)
    refused = _pin(capsys, index, tmp_path, "--lockfile", str(lock), "--policy", str(policy))
    assert refused.code == 3, refused.err
    assert refused.err.startswith(
        f"verify-release: error: {policy} was not changed: the text pin would write does not "
        f"load ({policy}: not valid TOML: "
    )
    assert refused.err.endswith(
        "\nhint: fix the hand-written part of the file (an inline `publishers = {...}` table, a "
        "lost or repeated marker line) or pin fewer packages, then run pin again\n"
    )
    assert policy.read_text() == text


def test_sigterm_stops_pin_with_143_and_changes_nothing(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    """A cancelled CI job (SIGTERM) unwinds like Ctrl-C: exit 143, the file as it was."""
    serve_all(index, material)
    for route in index.server.routes.values():
        route.stall_before = 60.0
    lock = write_lock(tmp_path / "requirements.txt", material)
    policy = tmp_path / "verify-release.toml"
    policy.write_text(ALLOW_LOCAL)
    argv = [
        *(sys.executable, "-m", "verifier", "pin", "--lockfile", str(lock)),
        *("--policy", str(policy), "--index-url", index.url, "--offline", "-q", "--no-cache"),
        *("--cache-dir", str(tmp_path / "cache"), *SKIPS),
    ]
    with subprocess.Popen(
        argv, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ)
    ) as child:
        for _ in range(600):  # until the index saw a request (its log, not a wall-clock guess)
            if index.server.requests or child.poll() is not None:
                break
            threading.Event().wait(0.05)
        assert index.server.requests, "pin never reached the index"
        child.send_signal(signal.SIGTERM)
        assert child.stderr is not None
        err = child.stderr.read()
        assert child.wait(30) == 143, err
    assert err.endswith(
        "verify-release: terminated; nothing was verified, and a file being written was left as "
        "it was\n"
    )
    assert policy.read_text() == ALLOW_LOCAL
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []
