"""End to end: credentials never leave, and hostile text never reaches a terminal raw.

A private index is reached as ``http://user:s3cr3t@127.0.0.1:PORT/`` and serves its file URLs
relative to the project page, so the resolved URLs carry the password too. The GitHub token
(``GITHUB_TOKEN``, the conftest canary) goes to the loopback GitHub API. Every output of the run
is then searched for both: stdout in each format, stderr, ``--output``, ``--sarif``,
``$GITHUB_STEP_SUMMARY``, the cache directory and a ``fetch --out`` evidence directory, which
must still replay with the same verdict.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path

import pytest

from tests.conftest import TOKEN_CANARY
from tests.e2e.helpers import base_args, run
from tests.e2e.test_chain import WHEEL, World, build_world
from tests.servers import DistFile, FakeIndex
from verifier.cli import _diagnostics, _SafeFormatter
from verifier.errors import UpstreamError

PASSWORD = "s3cr3t"
SECRETS = (PASSWORD, TOKEN_CANARY)
_RAW_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _private_world(tmp_path: Path, index: FakeIndex) -> tuple[World, str]:
    index.relative_urls = True
    world = build_world(tmp_path, index)
    credentials = base64.b64encode(f"user:{PASSWORD}".encode()).decode()
    index.server.require_authorization = f"Basic {credentials}"
    return world, f"http://user:{PASSWORD}@127.0.0.1:{index.server.port}/"


def _files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_private_index_password_and_github_token_appear_nowhere(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world, private_url = _private_world(tmp_path, index)
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    outputs: list[str] = []
    try:
        for fmt in ("text", "json", "sarif", "summary"):
            result = run(capsys, *world.args("--index-url", private_url, "--format", fmt))
            assert result.code == 0, result.out + result.err
            outputs += [result.out, result.err]
        report, sarif = tmp_path / "report.json", tmp_path / "report.sarif"
        written = run(
            capsys,
            *world.args(
                "--index-url",
                private_url,
                "--format",
                "json",
                "--output",
                str(report),
                "--sarif",
                str(sarif),
            ),
        )
        assert written.code == 0, written.err
        evidence = tmp_path / "evidence"
        fetched = run(
            capsys, "fetch", "--out", str(evidence), *world.args("--index-url", private_url)
        )
        assert fetched.code == 0, fetched.out + fetched.err
        replayed = run(
            capsys,
            *world.args(
                "--index-url", private_url, "--evidence", str(evidence), "--format", "json"
            ),
        )
    finally:
        world.github.close()
    # The credentials were used (the index answers 401 without them), on the index only, and
    # the token went to the GitHub API, never to its download host.
    assert {r.headers.get("Authorization") for r in index.server.requests} == {
        index.server.require_authorization
    }
    assert {r.headers.get("Authorization") for r in world.github.api.requests} == {
        f"Bearer {TOKEN_CANARY}"
    }
    assert {r.headers.get("Authorization") for r in world.github.storage.requests} == {None}
    files = json.loads(report.read_text())["releases"][0]["files"]
    assert [f["url"] for f in files] == [f"http://***@127.0.0.1:{index.server.port}/files/{WHEEL}"]
    # Replay from the evidence directory works although its metadata holds no password.
    assert replayed.code == 0, replayed.out + replayed.err
    assert replayed.json()["verdict"] == "verified"
    outputs += [written.out, written.err, fetched.out, fetched.err, replayed.out, replayed.err]
    outputs += [report.read_text(), sarif.read_text(), summary.read_text()]
    for secret in SECRETS:
        assert [text for text in outputs if secret in text] == []
        assert _files_holding(tmp_path / "cache", secret) == []
        assert _files_holding(evidence, secret) == []


def test_index_errors_never_show_the_password(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    """A wrong password: the index answers 401, and the message names the URL without it."""
    index.add_release("widget", "1.0.0", [DistFile(WHEEL, b"x")])
    index.server.require_authorization = "Basic something-else"
    url = f"http://user:{PASSWORD}@127.0.0.1:{index.server.port}/"
    result = run(capsys, "widget==1.0.0", *base_args(url, tmp_path / "cache"), "--format", "json")
    assert result.code == 2, result.out
    (finding, _) = result.findings()
    assert finding["message"] == (
        "index page for widget: unexpected HTTP 401 from "
        f"http://***@127.0.0.1:{index.server.port}/simple/widget/"
    )
    assert PASSWORD not in result.out + result.err


HOSTILE = "widget-1.0.0-py3-none-any\x1b[2J\u202elmth.whl"
SHOWN = "widget-1.0.0-py3-none-any\\x1b[2J\\u202elmth.whl"


@pytest.mark.parametrize("fmt", ["text", "summary", "json", "sarif"])
def test_hostile_file_names_reach_no_terminal_raw(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path, fmt: str
) -> None:
    """A file name that would clear the screen and reverse the line is shown escaped."""
    index.add_release("widget", "1.0.0", [DistFile(HOSTILE, b"a wheel")])
    args = [a for a in base_args(index.url, tmp_path / "cache") if a != "-q"]
    result = run(capsys, "widget==1.0.0", *args, "--format", fmt)
    assert result.code == 2, result.out
    assert _RAW_CONTROLS.search(result.out) is None
    assert _RAW_CONTROLS.search(result.err) is None
    # A name that is not a plain file name makes the whole index page unusable (fail closed);
    # every format quotes it escaped, as the sanitising boundary in render() shows it.
    message = f"index response: unsafe file name '{SHOWN}' in files[0].filename"
    if fmt == "text":
        assert f"  UNVERIFIABLE index-hash     widget==1.0.0  {message}\n" in result.out
    if fmt == "json":
        [finding] = [f for f in result.findings() if f["check"] == "index-hash"]
        assert (finding["outcome"], finding["message"]) == ("unverifiable", message)


def test_errors_and_log_records_on_stderr_are_escaped_and_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The printing paths of cli.py besides the report: error diagnostics and log records."""
    error = UpstreamError(
        f"provenance for {HOSTILE}: HTTP 500 from http://u:{PASSWORD}@h.example/x\r\n",
        hint="retry \x1b]8;;http://evil.example\x07later",
    )
    assert _diagnostics(error) == (
        f"provenance for {SHOWN}: HTTP 500 from http://***@h.example/x\\r\\n\n"
        "hint: retry \\x1b]8;;http://evil.example\\x07later"
    )
    record = logging.LogRecord("verifier.http", logging.INFO, __file__, 1, "%s", (HOSTILE,), None)
    assert _SafeFormatter("%(levelname)s %(name)s: %(message)s").format(record) == (
        f"INFO verifier.http: {SHOWN}"
    )
