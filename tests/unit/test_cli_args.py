"""Command-line validation: every refusal is exit 3 and one line, before any network.

Each test calls ``main([...])``; the arguments are refused before a trust root, an HTTP client
or a policy file is touched, so no server is needed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from verifier.cli import build_parser, main

EMPTY_HINT = "hint: an unset shell variable? pass a value or drop the option"


def _value_options(command: str | None) -> list[tuple[str | None, str]]:
    """Every option of the parser that takes a value, as (command, its long spelling)."""
    parser = build_parser(command)
    return [
        (command, max(action.option_strings, key=len))
        for action in parser._actions
        if action.option_strings and action.nargs != 0
    ]


ALL_OPTIONS = [o for command in (None, "fetch", "pin") for o in _value_options(command)]


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize(("command", "option"), ALL_OPTIONS)
def test_every_option_refuses_an_empty_value(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str | None,
    option: str,
    blank: str,
) -> None:
    prefix = [command] if command else []
    if command == "fetch" and option != "--out":
        prefix += ["--out", str(tmp_path)]
    code, _, err = _run(capsys, [*prefix, option, blank, "sampleproject==4.0.0"])
    assert (code, err) == (3, f"verify-release: error: {option} is empty\n{EMPTY_HINT}\n")


def test_the_scan_sees_the_options_this_task_is_about() -> None:
    options = {option for _, option in ALL_OPTIONS}
    assert {
        "--repository",
        "--cert-identity",
        "--cert-oidc-issuer",
        "--workflow",
        "--environment",
        "--tag-template",
        "--index-url",
        "--github-api-url",
        "--osv-url",
        "--lockfile",
        "--policy",
        "--git-repo",
        "--allowed-signers",
        "--allow-unindexed",
        "--out",
    } <= options


def test_the_equals_spelling_is_refused_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, ["--cert-oidc-issuer=", "sampleproject==4.0.0"])
    assert (code, err) == (3, f"verify-release: error: --cert-oidc-issuer is empty\n{EMPTY_HINT}\n")


def test_an_empty_target_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, [""])
    assert (code, err) == (
        3,
        f"verify-release: error: the target (NAME==VERSION | FILE) is empty\n{EMPTY_HINT}\n",
    )


@pytest.mark.parametrize("variable", ["VERIFY_RELEASE_INDEX_URL", "VERIFY_RELEASE_GITHUB_API_URL"])
def test_an_empty_environment_default_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, " ")
    code, _, err = _run(capsys, ["sampleproject==4.0.0"])
    assert (code, err) == (
        3,
        f"verify-release: error: {variable} is empty\n"
        "hint: unset it, or set it to the URL to use\n",
    )


def test_an_empty_value_in_json_mode_is_a_json_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, ["--format", "json", "--output", "", "sampleproject==4.0.0"])
    assert code == 3
    assert json.loads(out)["error"] == {
        "message": "--output is empty",
        "hint": "an unset shell variable? pass a value or drop the option",
    }


@pytest.mark.parametrize(
    ("argv", "message", "hint"),
    [
        (
            ["--lockfile", "uv.lock", "--git-repo", "clone"],
            "--git-repo is one project's clone; a lockfile has many projects",
            "drop --git-repo: each package's tag is read from its own repository",
        ),
        (
            ["a==1", "b==2", "--repository", "https://github.com/a/b"],
            "--repository applies to one project; 2 targets were given",
            "verify that target in its own run with --repository, or put per-package "
            "publishers in the policy file ([publishers.NAME])",
        ),
        (
            ["a==1", "b.whl", "--provenance", "p.json"],
            "--provenance applies to one project; 2 targets were given",
            "verify that target in its own run with --provenance, or put per-package "
            "publishers in the policy file ([publishers.NAME])",
        ),
        (
            ["--tag-template", "release", "x==1"],
            "--tag-template must contain {version}",
            "e.g. release-{version}: without it every release names the same tag",
        ),
        (
            ["--lockfile", "uv.lock", "--provenance", "p.json"],
            "--provenance applies to a local file target, not --lockfile",
            None,
        ),
        (
            ["x==1", "--provenance", "p.json"],
            "--provenance applies to a local file target, not NAME==VERSION",
            None,
        ),
        (
            ["x==1", "--workflow", "release.yml"],
            "--workflow and --environment need --repository",
            "add --repository https://github.com/OWNER/REPO",
        ),
        (
            ["--lockfile", "uv.lock", "--cert-identity", "https://github.com/a/b/x@refs/tags/v1"],
            "--cert-identity names one signer; a lockfile has many projects",
            "verify that package on its own (NAME==VERSION --cert-identity ID)",
        ),
        (
            ["--lockfile", "uv.lock", "--repository", "https://github.com/a/b"],
            "--repository names one publisher; a lockfile has many",
            "put per-package publishers in the policy file ([publishers.NAME]) or run "
            "`verify-release pin --lockfile FILE`",
        ),
        (
            ["x==1", "--cert-identity", "https://github.com/a/b\nhttps://github.com/c/d"],
            "--cert-identity contains a control character (U+000A)",
            "an identity is one line of printable text: check for a stray newline or escape",
        ),
        (
            ["x==1", "--repository", "https://github.com/a/b\x1b[2K"],
            "--repository contains a control character (U+001B)",
            "an identity is one line of printable text: check for a stray newline or escape",
        ),
        (
            ["x==1", "--environment", "release\u202e"],
            "--environment contains a control character (U+202E)",
            "an identity is one line of printable text: check for a stray newline or escape",
        ),
        (
            ["x==1", "--allow-unindexed", "not a name"],
            "--allow-unindexed 'not a name' is not a valid project name",
            "use the project's name as on the index, e.g. --allow-unindexed my-package",
        ),
        (
            ["pin", "--lockfile", "uv.lock", "--git-repo", "clone"],
            "--git-repo is one project's clone; a lockfile has many projects",
            "drop --git-repo: each package's tag is read from its own repository",
        ),
    ],
)
def test_options_that_do_not_apply_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str, hint: str | None
) -> None:
    code, _, err = _run(capsys, argv)
    expected = f"verify-release: error: {message}\n" + (f"hint: {hint}\n" if hint else "")
    assert (code, err) == (3, expected)


def test_allow_unindexed_is_normalised_and_repeatable() -> None:
    from verifier.cli import validate_args

    parser = build_parser()
    args = parser.parse_args(
        ["--lockfile", "uv.lock", "--allow-unindexed", "My_Fork", "--allow-unindexed", "b.c"]
    )
    validate_args(parser, args)
    assert args.allow_unindexed == ["my-fork", "b-c"]
    assert build_parser().parse_args(["x==1"]).allow_unindexed == []


def test_help_documents_allow_unindexed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # argparse wraps at hyphens
    text = " ".join(build_parser().format_help().split())
    assert "--allow-unindexed NAME" in text
    assert "allow-unindexed = true" in text


def test_a_valid_command_line_passes_validation() -> None:
    from verifier.cli import validate_args

    parser = build_parser()
    args = parser.parse_args(
        [
            "x==1",
            "--repository",
            "https://github.com/a/b",
            "--workflow",
            "release.yml",
            "--tag-template",
            "release-{version}",
        ]
    )
    validate_args(parser, args)
    assert isinstance(args, argparse.Namespace)
    assert args.repository == "https://github.com/a/b"
    assert args.index_url == "https://pypi.org"


def test_the_bundle_command_refuses_an_empty_identity(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bundle", "--bundle", "b.json", "--certificate-identity", "", "--cert-oidc-issuer"]
    code, _, err = _run(capsys, [*argv, "https://token.actions.githubusercontent.com", "f.whl"])
    assert (code, err) == (
        3,
        f"verify-release bundle: error: --certificate-identity is empty\n{EMPTY_HINT}\n",
    )


def test_a_repeated_single_value_option_still_overrides() -> None:
    # Scripts extend a shared argument list to override one value (--lockfile adds one).
    args = build_parser().parse_args(["x==1", "--timeout", "5", "--timeout", "9"])
    assert args.timeout == 9


@pytest.mark.parametrize(
    ("flag", "url"),
    [
        ("--index-url", "http://pypi.example/"),
        ("--github-api-url", "ftp://api.github.example"),
        ("--osv-url", "http://osv.example/v1/query"),
    ],
)
def test_a_refused_url_given_as_a_flag_is_a_usage_error_naming_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str, url: str
) -> None:
    # A refused URL is its own error type (an index or a redirect can serve one too, and then
    # it makes evidence unreachable); only from a flag is it the user's mistake.
    code, _out, err = _run(capsys, ["x==1.0", flag, url, "--offline", "--cache-dir", str(tmp_path)])
    assert code == 3
    assert err.startswith(
        f"verify-release: error: {flag}: refusing to fetch {url!r}: only https URLs (or http "
        "to a loopback address) are allowed\n"
    )


def test_json_file_gets_the_error_document_on_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    code, out, _ = _run(capsys, ["--json", str(report), "x==1", "y==2", "--git-repo", "clone"])
    assert (code, out) == (3, "")
    assert json.loads(report.read_text())["error"] == {
        "message": "--git-repo applies to one project; 2 targets were given",
        "hint": "verify that target in its own run with --git-repo, or put per-package "
        "publishers in the policy file ([publishers.NAME])",
    }
