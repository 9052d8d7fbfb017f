"""Distribution file names and versions as pip reads them (``verifier/dists.py``)."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from verifier.dists import (
    IndexFile,
    check_filename,
    check_sha256,
    dist_version,
    installs,
    is_plain_filename,
    is_sha256,
    pin_specifier,
    read_index_filename,
    same_distribution,
    unsupported_reason,
)
from verifier.errors import UpstreamError

DEMO = canonicalize_name("demo")
SHA_A = "a" * 64


# -- sha256 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [SHA_A, "0123456789abcdef" * 4])
def test_is_sha256_accepts_64_lower_case_hex_digits(text: str) -> None:
    assert is_sha256(text)


@pytest.mark.parametrize(
    "text",
    [SHA_A + "\n", "A" * 64, "a" * 63, "a" * 65, "", " " + SHA_A, "g" * 64, 64, None, b"a" * 64],
)
def test_is_sha256_refuses_everything_else(text: object) -> None:
    # A trailing newline passed ``re.match(r"^...$")``, the lockfile helper's old check.
    assert not is_sha256(text)


def test_check_sha256_returns_the_digest() -> None:
    assert check_sha256(SHA_A, where="files[0].hashes.sha256") == SHA_A


def test_check_sha256_names_where_the_bad_digest_was() -> None:
    with pytest.raises(UpstreamError) as info:
        check_sha256(SHA_A.upper(), where="index page for demo: files[2].hashes.sha256")
    assert str(info.value) == (
        "index page for demo: files[2].hashes.sha256 is not a sha256 hex digest"
    )
    assert info.value.hint == "a sha256 is 64 lower-case hex digits; the index must publish one"


# -- plain file names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["foo-1.0.tar.gz", "foo-1.0-py3-none-any.whl", "a..b.whl", "x" * 255, "naïve-1.0.zip"]
)
def test_is_plain_filename_accepts_plain_names(name: str) -> None:
    assert is_plain_filename(name)
    assert check_filename(name, where="files[0].filename") == name


@pytest.mark.parametrize(
    "name",
    [
        "../x.whl",
        "a/b.whl",
        "/etc/passwd",
        ".hidden.whl",
        ".",
        "..",
        "",
        "a\\b.whl",
        "..\\x.whl",
        "a\x00.whl",
        "c:foo.whl",
        "x" * 256,
        "a\nb.whl",
        "a\x1b[2Jb.whl",
    ],
)
def test_is_plain_filename_refuses_path_like_and_unprintable_names(name: str) -> None:
    assert not is_plain_filename(name)
    with pytest.raises(UpstreamError) as info:
        check_filename(name, where="files[3].filename")
    assert str(info.value) == f"index response: unsafe file name {name!r} in files[3].filename"


# -- dist_version and same_distribution ----------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("pypi_attestations-0.0.19-py3-none-any.whl", ("pypi-attestations", "0.0.19")),
        ("pypi_attestations-0.0.19.tar.gz", ("pypi-attestations", "0.0.19")),
        ("Foo.Bar-1.0.zip", ("foo-bar", "1.0")),
        ("foo-1.0-1-cp312-cp312-manylinux_2_17_x86_64.whl", ("foo", "1.0")),
        ("foo-1.0.post1.dev2.tar.gz", ("foo", "1.0.post1.dev2")),
        ("foo-1.0+cpu-py3-none-any.whl", ("foo", "1.0+cpu")),
        ("foo-1.0.egg", None),
        ("foo-1.0.exe", None),
        ("foo-1.0.tar.bz2", None),
        ("foo.whl", None),
        ("foo-notaversion.tar.gz", None),
        ("foo-1.0-py3-none.whl", None),
        ("foo bar-1.0.tar.gz", None),
        ("-1.0.tar.gz", None),
        ("", None),
    ],
)
def test_dist_version(filename: str, expected: tuple[str, str] | None) -> None:
    parsed = dist_version(filename)
    if expected is None:
        assert parsed is None
    else:
        assert parsed == (expected[0], Version(expected[1]))


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (
            "MarkupSafe-3.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",
            "markupsafe-3.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",
            True,
        ),
        (
            "markupsafe-3.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",
            "markupsafe-3.0.2-cp312-cp312-manylinux_2_17_x86_64.whl",
            False,
        ),
        ("pkg-1.0.tar.gz", "PKG-1.0.tar.gz", True),
        ("pkg-1.0.tar.gz", "pkg-1.0.zip", False),
        ("pkg-1.0.tar.gz", "pkg-1.1.tar.gz", False),
        ("pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz", False),
        ("pkg-1.0-py3-none-any.whl", "pkg-1.0+evil-py3-none-any.whl", False),
        ("not a dist", "not a dist", False),
    ],
)
def test_same_distribution(a: str, b: str, same: bool) -> None:
    assert same_distribution(a, b) is same


# -- versions as pip reads them ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pin", "version", "installed"),
    [
        ("1.0.0", "1.0.0", True),
        ("1.0.0", "1.0.0+cpu", True),
        ("1.0.0", "1.0.0+anything.7", True),
        ("1.0", "1.0.0", True),
        ("1.0.0", "1.0", True),
        ("1.0.0", "1.0.0.post1", False),
        ("1.0.0", "1.0.0rc1", False),
        ("1.0.0", "1.0.1", False),
        ("1.0.0rc1", "1.0.0rc1", True),
        ("1.0.0rc1", "1.0.0rc1+cpu", True),
        ("1.0.0.dev3", "1.0.0.dev3", True),
        ("1.0.0+cpu", "1.0.0+cpu", True),
        ("1.0.0+cpu", "1.0.0", False),
        ("1.0.0+cpu", "1.0.0+cu121", False),
    ],
)
def test_an_exact_pin_installs_what_pip_would(pin: str, version: str, installed: bool) -> None:
    spec = pin_specifier(Version(pin))
    assert spec == SpecifierSet(f"=={pin}")
    assert installs(spec, Version(version)) is installed


@pytest.mark.parametrize(
    ("spec", "version", "installed"),
    [
        ("===1.0", "1.0", True),
        ("===1.0", "1.0.0", False),
        ("===1.0", "1.0+cpu", False),
        ("===1.0rc1", "1.0rc1", True),
    ],
)
def test_arbitrary_equality_compares_the_spelling(spec: str, version: str, installed: bool) -> None:
    assert pin_specifier(SpecifierSet(spec)) == SpecifierSet(spec)
    assert installs(SpecifierSet(spec), Version(version)) is installed


# -- file names on an index page as pip reads them -----------------------------------------------


@pytest.mark.parametrize(
    ("filename", "version"),
    [
        ("demo-1.0-py3-none-any.whl", "1.0"),
        ("Demo-1.0.0+evil-py3-none-any.whl", "1.0.0+evil"),
        ("demo-1.0-1-cp312-cp312-manylinux_2_17_x86_64.whl", "1.0"),
        ("demo-1.0.tar.gz", "1.0"),
        ("DEMO-1.0.zip", "1.0"),
        ("demo-1.0rc1+cpu.tar.gz", "1.0rc1+cpu"),
        # pip splits an sdist name after the project's name, not at the last dash: this is
        # 1.0.post1 to pip (packaging's parse_sdist_filename reads project 'demo-1-0').
        ("demo-1.0-1.tar.gz", "1.0.post1"),
    ],
)
def test_wheels_and_sdists_of_the_project(filename: str, version: str) -> None:
    assert read_index_filename(filename, DEMO) == IndexFile(
        filename=filename, version=Version(version), problem=None, pip_installs=True
    )


@pytest.mark.parametrize(
    "filename",
    [
        "other-1.0.tar.gz",
        "other-1.0-py3-none-any.whl",
        "demonstration-1.0.tar.gz",
        "other-1.0.exe",
        "../demo-1.0.tar.gz",
        "demo",
        "",
    ],
)
def test_files_of_other_projects_are_not_the_projects(filename: str) -> None:
    assert read_index_filename(filename, DEMO) is None


@pytest.mark.parametrize(
    ("filename", "version", "pip_installs", "problem"),
    [
        (
            "demo-1.0.tar.bz2",
            "1.0",
            True,
            "pip installs a .tar.bz2 sdist, but verify-release checks only wheels and "
            ".tar.gz or .zip sdists",
        ),
        (
            "demo-1.0.tgz",
            "1.0",
            True,
            "pip installs a .tgz sdist, but verify-release checks only wheels and "
            ".tar.gz or .zip sdists",
        ),
        (
            "demo-1.0-py2.7.egg",
            "1.0",
            False,
            "a .egg file: pip never installs one, and verify-release does not check it",
        ),
        (
            "demo-1.0.win32-py2.7.exe",
            "1.0",
            False,
            "a .exe file: pip never installs one, and verify-release does not check it",
        ),
        (
            "demo-1.0.win-amd64.msi",
            "1.0",
            False,
            "a .msi file: pip never installs one, and verify-release does not check it",
        ),
        (
            "demo-1.0.0-x.whl",
            "1.0.0",
            False,
            "not a valid wheel file name (Invalid wheel filename (wrong number of parts): "
            "'demo-1.0.0-x'): pip skips it, and verify-release cannot check it",
        ),
        (
            "demo-1.0.TAR.GZ",
            "1.0",
            False,
            "not a wheel or sdist file name: pip skips it, and verify-release does not check it",
        ),
    ],
)
def test_files_the_tool_does_not_check_say_why(
    filename: str, version: str, pip_installs: bool, problem: str
) -> None:
    found = read_index_filename(filename, DEMO)
    assert found == IndexFile(filename, Version(version), problem, pip_installs=pip_installs)
    assert unsupported_reason(filename, DEMO) == problem


@pytest.mark.parametrize(
    ("filename", "problem"),
    [
        (
            "demo-notaversion.tar.gz",
            "'notaversion' is not a PEP 440 version: pip skips the file, and verify-release "
            "cannot tell which release it belongs to",
        ),
        (
            "demo-x.y.exe",
            "a .exe file: pip never installs one, and verify-release does not check it",
        ),
    ],
)
def test_files_of_the_project_without_a_version(filename: str, problem: str) -> None:
    assert read_index_filename(filename, DEMO) == IndexFile(filename, None, problem, False)


@pytest.mark.parametrize("filename", ["demo-1.0.tar.gz", "demo-1.0-py3-none-any.whl", "x-1.exe"])
def test_unsupported_reason_is_none_for_checked_files_and_other_projects(filename: str) -> None:
    assert unsupported_reason(filename, DEMO) is None


def test_the_lockfile_helpers_use_the_same_checks() -> None:
    from pathlib import Path

    from verifier.lockfiles import LockfileError
    from verifier.lockfiles._common import Where, plain_file_name, sha256_hex

    where = Where(Path("uv.lock"), 7, "package[0].sdist.hash")
    with pytest.raises(LockfileError) as info:
        sha256_hex(SHA_A + "\n", where)
    assert str(info.value) == (
        "uv.lock:7: package[0].sdist.hash: expected 64 lower-case hex digits for sha256, "
        f"found {SHA_A + chr(10)!r}"
    )
    with pytest.raises(LockfileError, match=r"is not a plain file name$"):
        plain_file_name("a\x1b[2Jb.whl", where)
