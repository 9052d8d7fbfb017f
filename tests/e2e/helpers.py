"""Running the CLI in-process and reading what it said."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TOKEN_CANARY
from verifier.cli import main


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def findings(self) -> list[dict[str, Any]]:
        data = self.json()
        return [f for release in data["releases"] for f in release["findings"]]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    for text in (captured.out, captured.err, " ".join(args)):
        assert TOKEN_CANARY not in text, "the GitHub token leaked into the output"
    return Run(code=code, out=captured.out, err=captured.err)


def base_args(index_url: str, cache: Path) -> list[str]:
    return [
        "--index-url",
        index_url,
        "--cache-dir",
        str(cache),
        "--offline",
        "-q",
        "--skip",
        "bundles",
        "--skip",
        "tags",
        "--skip",
        "vulnerabilities",
    ]
