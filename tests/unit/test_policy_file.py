"""Policy files: strict validation with the file and key path in every error; property tests."""

from __future__ import annotations

import contextlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from verifier.errors import PolicyError, VerifierError
from verifier.policy import (
    Policy,
    Rules,
    find_policy_file,
    load_policy_file,
    publisher_from_identities,
)

GOOD = """
allow-missing = ["bundles"]
require = ["tags"]
skip = ["vulnerabilities"]

[packages.Legacy_Lib]
allow-missing = ["attestations"]

[publishers.requests]
repository = "https://github.com/psf/requests"
workflow = "publish.yml"
environment = "publish"

[tags]
template = "release-{version}"
allowed-signers = "keys/allowed_signers"

[[vulnerabilities.ignore]]
id = "GHSA-9wx4-h78v-vm56"
package = "requests"
reason = "we never pass verify=False"
expires = 2027-01-31
"""


def _write(tmp_path: Path, text: str, name: str = "verify-release.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_full_policy_loads(tmp_path: Path) -> None:
    policy = load_policy_file(_write(tmp_path, GOOD))
    assert policy.rules == Rules(
        frozenset({"bundles"}), frozenset({"tags"}), frozenset({"vulnerabilities"})
    )
    assert policy.rules_for("legacy-lib").allow_missing == {"bundles", "attestations"}  # type: ignore[arg-type]
    publisher = policy.publishers["requests"]  # type: ignore[index]
    assert (publisher.url, publisher.workflow, publisher.environment) == (
        "https://github.com/psf/requests",
        "publish.yml",
        "publish",
    )
    assert policy.tag_template == "release-{version}"
    assert policy.allowed_signers == (tmp_path / "keys" / "allowed_signers").resolve()
    (ignore,) = policy.ignores
    assert (ignore.id, ignore.package, ignore.expires) == (
        "GHSA-9wx4-h78v-vm56",
        "requests",
        date(2027, 1, 31),
    )
    assert not policy.pinned


def test_pyproject_table_is_read_and_found(tmp_path: Path) -> None:
    text = "[project]\nname = 'x'\n\n[tool.verify-release]\nskip = ['tags']\n"
    path = _write(tmp_path, text, "pyproject.toml")
    assert find_policy_file(tmp_path) == path
    assert load_policy_file(path).rules.skip == {"tags"}
    assert find_policy_file(tmp_path / "nowhere") is None


def test_pyproject_errors_name_the_full_key_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "[tool.verify-release]\nskipp = []\n", "pyproject.toml")
    with pytest.raises(
        PolicyError, match=r"pyproject\.toml: tool\.verify-release\.skipp: unknown key"
    ):
        load_policy_file(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tags]\ntemplate = 'v1'\n", "tags.template must contain {version}"),
        (
            "[publishers.x]\nrepository = 'https://github.com/o/r'\npinned = 'yes'\n",
            "publishers.x.pinned must be true or false",
        ),
        (
            "[publishers.x]\nworkflow = 'a.yml'\n",
            "publishers.x.repository must be a non-empty string",
        ),
        ("[packages.'not a name!']\n", "is not a valid project name"),
        ("skip = 'tags'\n", "skip must be a list of strings"),
        ("[vulnerabilities]\nignore = 3\n", "vulnerabilities.ignore must be an array of tables"),
        (
            "[[vulnerabilities.ignore]]\nid = 'X'\nreason = 'r'\nexpires = 2027-01-01T00:00:00\n",
            "vulnerabilities.ignore[0].expires must be a date",
        ),
        ("packages = 3\n", "packages must be a table"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_file(_write(tmp_path, text))
    assert message in str(info.value)
    assert "verify-release.toml" in str(info.value)


def test_command_line_policy_is_extended_per_package(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    file = load_policy_file(path)
    cli = Policy(skip=frozenset({"bundles"}))
    mine = cli.for_package("requests", file)  # type: ignore[arg-type]
    assert mine.allow_missing == {"bundles"}
    assert mine.required == {"tags"}
    assert mine.skip == {"bundles", "vulnerabilities"}
    # Every rule names where it came from: the flag, or the file by path and key.
    assert mine.source("skip", "bundles") == "--skip bundles"
    assert mine.source("require", "tags") == f"policy file {path}: require"
    assert mine.expected is not None
    assert mine.expected.url == "https://github.com/psf/requests"
    assert not mine.pinned
    legacy = cli.for_package("legacy-lib", file)  # type: ignore[arg-type]
    assert legacy.source("allow-missing", "attestations") == (
        f"policy file {path}: packages.legacy-lib.allow-missing"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"allow_missing": frozenset({"tags"})},
            "conflicting instructions for tags: policy file {path}: require and "
            "--allow-missing tags",
        ),
        (
            {"skip": frozenset({"tags"})},
            "conflicting instructions for tags: policy file {path}: require and --skip tags",
        ),
    ],
)
def test_conflicting_flag_and_file_rules_are_a_usage_error(
    tmp_path: Path, flags: dict[str, frozenset[str]], message: str
) -> None:
    path = _write(tmp_path, GOOD)
    cli = Policy(**flags)  # type: ignore[arg-type]
    with pytest.raises(PolicyError) as info:
        cli.for_package("requests", load_policy_file(path))  # type: ignore[arg-type]
    assert str(info.value) == message.format(path=path)


def test_conflicting_rules_within_one_file_are_a_usage_error(tmp_path: Path) -> None:
    path = _write(tmp_path, 'require = ["tags"]\n[packages.foo]\nskip = ["tags"]\n')
    file = load_policy_file(path)
    Policy().for_package("bar", file)  # type: ignore[arg-type]
    with pytest.raises(PolicyError) as info:
        Policy().for_package("foo", file)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"conflicting instructions for tags: policy file {path}: require and "
        f"policy file {path}: packages.foo.skip"
    )


def test_pep751_identities_are_the_fallback_publisher() -> None:
    found = publisher_from_identities(
        (
            {"kind": "Google", "email": "x@y"},
            {"kind": "GitLab", "repository": "g/p", "workflow_filepath": ".gitlab-ci.yml"},
        )
    )
    assert found is not None
    assert (found.kind, found.url, found.workflow, found.source) == (
        "GitLab",
        "https://gitlab.com/g/p",
        ".gitlab-ci.yml",
        "lockfile attestation-identities",
    )
    assert publisher_from_identities(({"kind": "GitHub"},)) is None


# -- property tests: any TOML the user can write yields a PolicyFile or a PolicyError ---------

keys = st.sampled_from(
    [
        "allow-missing",
        "require",
        "skip",
        "tags",
        "packages",
        "publishers",
        "vulnerabilities",
        "ignore",
        "id",
        "reason",
        "expires",
        "package",
        "repository",
        "workflow",
        "environment",
        "pinned",
        "template",
        "x",
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.text(max_size=12)
    | st.sampled_from(["bundles", "tags", "attestations", "https://github.com/o/r", "v{version}"])
    | st.dates()
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def _toml(value: Any) -> str:
    """A TOML literal for ``value`` (inline tables and arrays only)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items() if v is not None)
            + "}"
        )
    return '""'


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(keys, values, max_size=6))
def test_any_structure_loads_or_raises_policy_error(tmp_path: Path, data: dict[str, Any]) -> None:
    text = "\n".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in data.items() if v is not None)
    path = tmp_path / "verify-release.toml"
    path.write_text(text)
    with contextlib.suppress(VerifierError):
        load_policy_file(path)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=200))
def test_any_text_loads_or_raises_policy_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "verify-release.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with contextlib.suppress(VerifierError):
        load_policy_file(path)


def test_missing_evidence_has_one_rule_and_a_conflict_is_refused() -> None:
    from verifier.judge import judge
    from verifier.models import Check, CheckResult, EvidenceKind, Outcome, Status

    absent = CheckResult(
        check=Check.TAG, status=Status.ABSENT, kind=EvidenceKind.TAGS, subject="x", message="m"
    )
    assert judge(absent, Policy()).outcome is Outcome.UNVERIFIABLE
    tolerated = judge(absent, Policy(allow_missing=frozenset({"tags"})))
    assert (tolerated.outcome, tolerated.policy, tolerated.policy_source) == (
        Outcome.SKIPPED,
        "missing tags are tolerated",
        "--allow-missing tags",
    )
    required = judge(absent, Policy(required=frozenset({"tags"})))
    assert (required.outcome, required.policy_source) == (Outcome.FAILED, "--require tags")
    with pytest.raises(PolicyError, match="conflicting instructions for bundles"):
        Policy(allow_missing=frozenset({"bundles"}), required=frozenset({"bundles"}))


# -- hostile policy files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[packages.Foo_Bar]\nskip = ['tags']\n[packages.foo-bar]\nskip = []\n",
            "packages.foo-bar: 'foo-bar' and 'Foo_Bar' name the same project",
        ),
        (
            "[publishers.Foo]\nrepository = 'https://github.com/a/b'\n"
            "[publishers.foo]\nrepository = 'https://github.com/evil/b'\n",
            "publishers.foo: 'foo' and 'Foo' name the same project",
        ),
        (
            "[[vulnerabilities.ignore]]\nid = 'X-1'\npackage = 'Foo_Bar'\nreason = 'r'\n"
            "expires = 2099-01-01\n"
            "[[vulnerabilities.ignore]]\nid = 'X-1'\npackage = 'foo.bar'\nreason = 'r'\n"
            "expires = 2099-06-01\n",
            "vulnerabilities.ignore[1]: X-1 for 'foo.bar' repeats vulnerabilities.ignore[0] "
            "(X-1 for 'Foo_Bar')",
        ),
    ],
)
def test_two_spellings_of_one_project_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    assert str(info.value) == f"{path}: {message}"


def test_the_same_vulnerability_for_two_projects_is_two_ignores(tmp_path: Path) -> None:
    entry = (
        "[[vulnerabilities.ignore]]\nid = 'X-1'\npackage = '{}'\nreason = 'r'\n"
        "expires = 2099-01-01\n"
    )
    policy = load_policy_file(_write(tmp_path, entry.format("a") + entry.format("b")))
    assert [i.package for i in policy.ignores] == ["a", "b"]


def test_a_name_with_a_trailing_newline_is_not_a_project(tmp_path: Path) -> None:
    path = _write(tmp_path, '[packages."foo\\n"]\nskip = ["tags"]\n')
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    assert str(info.value) == f"{path}: packages.foo\n: 'foo\\n' is not a valid project name"


@pytest.mark.parametrize("opener", ["[", "{a = "])
def test_deep_nesting_is_a_policy_error(tmp_path: Path, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    path = _write(tmp_path, "skip = " + opener * 100_000 + closer * 100_000 + "\n")
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    assert str(info.value) == f"{path}: nested too deeply to be a policy file"


def test_a_directory_is_not_a_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "verify-release.toml"
    path.mkdir()
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    assert str(info.value) == f"{path}: the policy file is not a regular file"
    # Found implicitly, it is still refused rather than silently skipped.
    assert find_policy_file(tmp_path) == path


def test_a_fifo_is_not_a_policy_file(tmp_path: Path) -> None:
    import os

    path = tmp_path / "policy.toml"
    os.mkfifo(path)
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)  # must not block waiting for a writer
    assert str(info.value) == f"{path}: the policy file is not a regular file"


def test_a_device_is_not_a_policy_file() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_file(Path("/dev/zero"))
    assert str(info.value) == "/dev/zero: the policy file is not a regular file"


def test_a_huge_policy_file_is_refused(tmp_path: Path) -> None:
    from verifier.policy import MAX_POLICY_BYTES

    path = _write(tmp_path, "# " + "x" * MAX_POLICY_BYTES + "\n")
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    assert str(info.value) == f"{path}: the policy file is larger than {MAX_POLICY_BYTES} bytes"


# -- allow-unindexed ----------------------------------------------------------------------------


def test_allow_unindexed_names_exact_packages(tmp_path: Path) -> None:
    text = "[packages.My_Fork]\nallow-unindexed = true\n[packages.other]\nallow-unindexed = false\n"
    policy = load_policy_file(_write(tmp_path, text))
    assert policy.unindexed == frozenset({"my-fork"})
    assert load_policy_file(_write(tmp_path, GOOD)).unindexed == frozenset()


@pytest.mark.parametrize("value", ["'yes'", "1", "[]"])
def test_allow_unindexed_is_a_boolean(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path, f"[packages.x]\nallow-unindexed = {value}\n")
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    assert str(info.value) == f"{path}: packages.x.allow-unindexed must be true or false"


def test_allow_unindexed_is_per_package_only(tmp_path: Path) -> None:
    path = _write(tmp_path, "allow-unindexed = true\n")
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    assert str(info.value) == f"{path}: allow-unindexed: unknown key"


# -- finding pyproject.toml ---------------------------------------------------------------------


def test_a_comment_does_not_make_a_pyproject_a_policy(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "# see [tool.verify-release] in the docs\n[project]\nname = 'x'\n",
        "pyproject.toml",
    )
    assert find_policy_file(tmp_path) is None


def test_a_quoted_table_name_is_found(tmp_path: Path) -> None:
    path = _write(tmp_path, '[tool."verify-release"]\nskip = ["tags"]\n', "pyproject.toml")
    assert find_policy_file(tmp_path) == path
    assert load_policy_file(path).rules.skip == {"tags"}


def test_an_unparsable_pyproject_is_an_error_not_no_policy(tmp_path: Path) -> None:
    # It may hold the policy the user relies on: fail closed rather than run without it.
    path = _write(tmp_path, '[tool."verify\\u002drelease"]\nskip = [\n', "pyproject.toml")
    with pytest.raises(PolicyError) as info:
        find_policy_file(tmp_path)
    assert str(info.value).startswith(f"{path}: not valid TOML: ")


def test_partially_attested_is_read_per_package(tmp_path: Path) -> None:
    path = _write(tmp_path, "[packages.My_Pkg]\npartially-attested = true\n")
    loaded = load_policy_file(path)
    assert loaded.partially_attested == frozenset({"my-pkg"})
    policy = Policy().for_package(canonicalize_name("my-pkg"), loaded)
    assert policy.partially_attested == f"policy file {path}: packages.my-pkg.partially-attested"
    assert Policy().for_package(canonicalize_name("other"), loaded).partially_attested is None


@pytest.mark.parametrize("value", ["'yes'", "1", "[]"])
def test_partially_attested_is_a_boolean(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path, f"[packages.x]\npartially-attested = {value}\n")
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    assert str(info.value) == f"{path}: packages.x.partially-attested must be true or false"
