"""Habits users bring from pip-audit, sigstore, gh and uv: each is accepted or refused in one line.

Every test runs ``main([...])`` and stops before any network: version, help, comma lists,
repository shorthands and argparse's own errors are all answered from the command line alone.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

import pytest

from verifier import __version__
from verifier.cli import build_parser, main, validate_args

HELP_HINT = "hint: run `verify-release --help` for the options and examples\n"


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _versions() -> str:
    sigstore = importlib.metadata.version("sigstore")
    attestations = importlib.metadata.version("pypi-attestations")
    return f"verify-release {__version__}\nsigstore {sigstore}\npypi-attestations {attestations}\n"


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_names_the_libraries_and_the_production_root(
    capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    from verifier.trust import PRODUCTION_TUF_URL, _embedded

    embedded = _embedded(PRODUCTION_TUF_URL, "trusted_root.json").read_bytes()
    sigstore = importlib.metadata.version("sigstore")
    code, out, err = _run(capsys, [flag])
    assert (code, err) == (0, "")
    assert out == (
        _versions() + "trust root: production, refreshed over TUF from "
        f"https://tuf-repo-cdn.sigstore.dev; offline: the copy embedded in sigstore {sigstore} "
        f"sha256:{hashlib.sha256(embedded).hexdigest()}\n"
    )


def test_version_names_a_custom_root_and_its_sha256(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "trusted_root.json"
    root.write_bytes(b'{"mediaType": "private"}')
    code, out, _ = _run(capsys, ["--trusted-root", str(root), "-V"])
    digest = hashlib.sha256(root.read_bytes()).hexdigest()
    assert (code, out) == (0, _versions() + f"trust root: custom {root} sha256:{digest}\n")


@pytest.mark.parametrize(
    ("argv", "equivalent"),
    [
        (["help"], ["--help"]),
        (["help", "fetch"], ["fetch", "--help"]),
        (["help", "bundle"], ["bundle", "--help"]),
    ],
)
def test_help_is_a_command_too(
    capsys: pytest.CaptureFixture[str], argv: list[str], equivalent: list[str]
) -> None:
    with pytest.raises(SystemExit) as first:
        main(argv)
    typed = capsys.readouterr()
    with pytest.raises(SystemExit) as second:
        main(equivalent)
    assert (first.value.code, typed) == (second.value.code, capsys.readouterr())
    assert first.value.code == 0
    assert typed.out.startswith("usage: verify-release")


def test_help_lists_every_check_and_keeps_the_examples_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    text = build_parser().format_help()
    checks = text.split("what is checked (each is a line of the report):\n", 1)[1]
    listed = [line.split()[0] for line in checks.split("\n\n", 1)[0].splitlines() if line[2] != " "]
    assert listed == [
        "index-hash",
        "attestation",
        "history",
        "bundle",
        "tag",
        "cross-link",
        "lockfile",
        "vulnerabilities",
    ]
    assert (
        "  verify-release pypi-attestations==0.0.19 \\\n"
        "      --repository https://github.com/trailofbits/pypi-attestations "
        "--workflow release.yml\n"
    ) in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus", "x==1"], "unrecognized arguments: --bogus"),
        (["x==1", "--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
        (
            ["x==1", "--format", "yaml"],
            "argument --format: invalid choice: 'yaml' (choose from text, json, sarif, summary)",
        ),
    ],
)
def test_argparse_errors_are_one_line_and_a_hint(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    captured = capsys.readouterr()
    assert (exit_.value.code, captured.out) == (3, "")
    assert captured.err.replace(
        "'text', 'json', 'sarif', 'summary'", "text, json, sarif, summary"
    ) == (f"verify-release: error: {message}\n{HELP_HINT}")


@pytest.mark.parametrize(
    ("argv", "dest", "kinds"),
    [
        (["--allow-missing", "bundles,tags"], "allow_missing", ["bundles", "tags"]),
        (
            ["--allow-missing", "bundles, tags", "--allow-missing", "attestations"],
            "allow_missing",
            ["bundles", "tags", "attestations"],
        ),
        (["--skip", "tags,vulnerabilities"], "skip", ["tags", "vulnerabilities"]),
        (["--require", "bundles", "--require", "bundles,tags"], "require", ["bundles", "tags"]),
    ],
)
def test_kinds_are_comma_lists(argv: list[str], dest: str, kinds: list[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(["x==1", *argv])
    validate_args(parser, args)
    assert getattr(args, dest) == kinds


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--allow-missing", "bundles,tag"],
            "argument --allow-missing: unknown kind 'tag'; valid kinds: attestations, bundles, "
            "tags",
        ),
        (
            ["--require", "attestations"],
            "argument --require: unknown kind 'attestations'; valid kinds: bundles, tags",
        ),
        (
            ["--skip", "bundles,"],
            "argument --skip: unknown kind an empty kind; valid kinds: bundles, tags, "
            "vulnerabilities",
        ),
    ],
)
def test_an_unknown_kind_is_refused_naming_the_valid_ones(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["x==1", *argv])
    assert (exit_.value.code, capsys.readouterr().err) == (
        3,
        f"verify-release: error: {message}\n{HELP_HINT}",
    )


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("pypa/sampleproject", "https://github.com/pypa/sampleproject"),
        ("github.com/pypa/sampleproject", "https://github.com/pypa/sampleproject"),
        ("www.github.com/pypa/sampleproject.git", "https://github.com/pypa/sampleproject.git"),
        ("https://github.com/pypa/sampleproject", "https://github.com/pypa/sampleproject"),
        ("gitlab.com/group/sub/project", "https://gitlab.com/group/sub/project"),
    ],
)
def test_repository_shorthands_are_completed(given: str, url: str) -> None:
    from verifier.run import base_policy

    parser = build_parser()
    args = parser.parse_args(["x==1", "--repository", given])
    validate_args(parser, args)
    assert args.repository == url
    expected = base_policy(args).expected
    assert expected is not None
    assert expected.url == url.removesuffix(".git")


@pytest.mark.parametrize("given", ["group/sub/project", "example.com/owner/repo", "owner"])
def test_ambiguous_repositories_are_refused_not_guessed(
    capsys: pytest.CaptureFixture[str], given: str
) -> None:
    code, _, err = _run(capsys, ["x==1", "--repository", given])
    assert (code, err) == (
        3,
        f"verify-release: error: --repository {given!r} is not OWNER/REPO or a repository URL\n"
        "hint: pass OWNER/REPO (GitHub), https://github.com/OWNER/REPO or "
        "https://gitlab.com/GROUP/PROJECT\n",
    )
