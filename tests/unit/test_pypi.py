"""The index client: pins, index URLs, PEP 691 pages (real ones from the registry), FakeIndex."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from tests.conftest import Material
from tests.servers import INTEGRITY_JSON, DistFile, FakeIndex, LoopbackServer, Route
from verifier.dists import check_filename, dist_version
from verifier.errors import NotFoundError, RefusedURL, UpstreamError, UsageError, VerifierError
from verifier.http import HttpClient, HttpConfig
from verifier.models import ReleaseFile
from verifier.pypi import (
    MAX_PROVENANCE_BYTES,
    IndexClient,
    SimplePage,
    normalize_index_url,
    parse_pin,
    parse_pin_specifier,
    parse_simple_page,
    read_simple_page,
)

PAGE_URL = "https://pypi.org/simple/pypi-attestations/"
NAME = canonicalize_name("pypi-attestations")
WHEEL_0019 = ReleaseFile(
    filename="pypi_attestations-0.0.19-py3-none-any.whl",
    url=(
        "https://files.pythonhosted.org/packages/fb/f2/3e026065773b84c5b2345e2548a08b10105d324b9"
        "b95c72643f57a25fcbb/pypi_attestations-0.0.19-py3-none-any.whl"
    ),
    sha256="ce68b3261987e7d7d7e65591e3f24c71fd03f90c44f1d011980aa7d291dc70dd",
    size=21303,
    yanked=False,
    version="0.0.19",
    upload_time="2024-12-04T23:14:03.276941Z",
)
SDIST_0019 = ReleaseFile(
    filename="pypi_attestations-0.0.19.tar.gz",
    url=(
        "https://files.pythonhosted.org/packages/c5/4d/a114bdd186903426bd9c1e9c3700761ec5eaac260fa"
        "3dfdef14bf84b751b/pypi_attestations-0.0.19.tar.gz"
    ),
    sha256="9bb1add04b1b4e182be6b0b80931593f7a291eb49d69b4fd728a5d4cbcdc4bd3",
    size=29882,
    yanked=False,
    version="0.0.19",
    upload_time="2024-12-04T23:14:04.599813Z",
)
SHA_A = "a" * 64


@pytest.fixture
def http() -> Iterator[HttpClient]:
    client = HttpClient(
        HttpConfig(connect_timeout=1.0, read_timeout=0.5, deadline=3.0, backoff=0.01),
        sleep=lambda _: None,
    )
    try:
        yield client
    finally:
        client.close()


def page(*files: Any, name: str = "demo") -> dict[str, Any]:
    return {"meta": {"api-version": "1.1"}, "name": name, "files": list(files)}


def entry(filename: str = "demo-1.0.tar.gz", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "filename": filename,
        "url": f"https://files.example/{filename}",
        "hashes": {"sha256": SHA_A},
    }
    base.update(fields)
    return base


def parse(data: Any, version: str = "1.0", name: str = "demo") -> list[ReleaseFile]:
    files, _ = parse_simple_page(
        data,
        page_url="https://index.example/simple/demo/",
        name=canonicalize_name(name),
        version=Version(version),
    )
    return files


# -- parse_pin ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "version"),
    [
        ("sampleproject==4.0.0", "sampleproject", "4.0.0"),
        ("Foo_Bar==1.0", "foo-bar", "1.0"),
        ("foo.bar==1.0", "foo-bar", "1.0"),
        ("FOO--bar__baz==2", "foo-bar-baz", "2"),
        ("foo == 1.0", "foo", "1.0"),
        ("foo==1.0.post1", "foo", "1.0.post1"),
        ("foo==1.0rc1", "foo", "1.0rc1"),
        ("foo==v1.0", "foo", "1.0"),
        ("foo==1.0+local.7", "foo", "1.0+local.7"),
        ("foo===1.0", "foo", "1.0"),
    ],
)
def test_parse_pin_accepts_exact_pins(text: str, name: str, version: str) -> None:
    assert parse_pin(text) == (name, Version(version))


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("Foo_Bar==1.0", "==1.0"),
        ("foo===1.0", "===1.0"),
        ("foo===v1.0", "===v1.0"),
        ("foo == 1.0+cpu", "==1.0+cpu"),
    ],
)
def test_parse_pin_specifier_keeps_the_operator(text: str, spec: str) -> None:
    assert parse_pin_specifier(text) == (parse_pin(text)[0], SpecifierSet(spec))


def test_parse_pin_specifier_refuses_what_parse_pin_refuses() -> None:
    with pytest.raises(UsageError, match=r"^'foo>=1' is not an exact pin"):
        parse_pin_specifier("foo>=1")


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            "foo>=1",
            "'foo>=1' is not an exact pin: verify-release checks one release at a time",
            "type it as foo==VERSION (the exact version you will install)",
        ),
        (
            "foo",
            "'foo' is not an exact pin: verify-release checks one release at a time",
            "type it as foo==VERSION (the exact version you will install)",
        ),
        (
            "foo==1,==2",
            "'foo==1,==2' is not an exact pin: verify-release checks one release at a time",
            "type it as foo==VERSION (the exact version you will install)",
        ),
        (
            "foo~=1.0",
            "'foo~=1.0' is not an exact pin: verify-release checks one release at a time",
            "type it as foo==VERSION (the exact version you will install)",
        ),
        (
            "foo @ https://example.com/foo-1.0.tar.gz",
            "'foo @ https://example.com/foo-1.0.tar.gz' is not an exact pin: verify-release "
            "checks one release at a time",
            "type it as foo==VERSION (the exact version you will install)",
        ),
        (
            "foo==1.*",
            "'foo==1.*' is a wildcard, not an exact pin",
            "type it as foo==VERSION",
        ),
        (
            "foo[extra]==1",
            "'foo[extra]==1': extras and markers do not apply to a release check",
            "type it as foo==1",
        ),
        (
            "foo==1; python_version >= '3'",
            "\"foo==1; python_version >= '3'\": extras and markers do not apply to a release check",
            "type it as foo==1",
        ),
        (
            "foo===not-a-version",
            "'foo===not-a-version': 'not-a-version' is not a valid version",
            "type it as foo==VERSION",
        ),
    ],
)
def test_parse_pin_refuses_everything_but_one_exact_version(
    text: str, message: str, hint: str
) -> None:
    with pytest.raises(UsageError) as info:
        parse_pin(text)
    assert str(info.value) == message
    assert info.value.hint == hint


@pytest.mark.parametrize("text", ["", "==1.0", "foo==", "foo bar==1", "!!!", "foo==1.0 extra"])
def test_parse_pin_refuses_garbage_with_an_example_pin(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_pin(text)
    assert str(info.value).startswith(f"{text!r} is not a requirement: ")
    assert info.value.hint == "name one exact release, e.g. 'verify-release sampleproject==4.0.0'"


@given(st.text())
def test_parse_pin_raises_only_usage_error(text: str) -> None:
    try:
        name, version = parse_pin(text)
    except UsageError as exc:
        hint = exc.hint
    else:
        assert name == canonicalize_name(name)
        assert isinstance(version, Version)
        return
    assert hint is not None
    assert "==" in hint


@given(
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True),
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}", fullmatch=True),
)
def test_parse_pin_round_trips_valid_pins(name: str, version: str) -> None:
    assert parse_pin(f"{name}=={version}") == (canonicalize_name(name), Version(version))


# -- normalize_index_url ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://pypi.org", "https://pypi.org/"),
        ("https://pypi.org/", "https://pypi.org/"),
        ("https://pypi.org/simple", "https://pypi.org/"),
        ("https://pypi.org/simple/", "https://pypi.org/"),
        ("https://pypi.org/simple//", "https://pypi.org/"),
        ("https://test.pypi.org/simple/", "https://test.pypi.org/"),
        ("https://example.com/root/pypi/simple/", "https://example.com/root/pypi/"),
        ("https://example.com/root/pypi", "https://example.com/root/pypi/"),
        ("https://example.com/simple/?x=1#frag", "https://example.com/"),
        ("https://example.com/not-simple/", "https://example.com/not-simple/"),
        ("http://127.0.0.1:8080/simple/", "http://127.0.0.1:8080/"),
        ("http://localhost:3141/root/pypi/+simple/", "http://localhost:3141/root/pypi/+simple/"),
    ],
)
def test_normalize_index_url(url: str, expected: str) -> None:
    assert normalize_index_url(url) == expected


@pytest.mark.parametrize(
    "url", ["http://pypi.org/simple/", "ftp://pypi.org/", "file:///srv/index", "pypi.org"]
)
def test_normalize_index_url_refuses_insecure_urls(url: str) -> None:
    with pytest.raises(RefusedURL, match=r"^refusing to fetch .*: only https URLs"):
        normalize_index_url(url)


# -- parse_simple_page on a real page ------------------------------------------------------------


def test_real_page_yields_exactly_the_two_files_of_0_0_19(material: Material) -> None:
    data = material.page("pypi-attestations")
    files, versions = parse_simple_page(
        data, page_url=PAGE_URL, name=NAME, version=Version("0.0.19")
    )
    assert sorted(files, key=lambda f: f.filename) == [WHEEL_0019, SDIST_0019]
    assert {"0.0.19", "0.0.30", "0.0.6"} <= versions
    assert versions == set(data["versions"])


def test_real_page_for_a_missing_version_yields_no_files(material: Material) -> None:
    files, versions = parse_simple_page(
        material.page("pypi-attestations"), page_url=PAGE_URL, name=NAME, version=Version("0.0.14")
    )
    assert files == []
    assert "0.0.14" not in versions


def test_real_page_version_matching_is_by_version_not_text(material: Material) -> None:
    files, _ = parse_simple_page(
        material.page("pypi-attestations"),
        page_url=PAGE_URL,
        name=NAME,
        version=Version("0.0.19.0"),
    )
    assert [f.filename for f in files] == [
        "pypi_attestations-0.0.19-py3-none-any.whl",
        "pypi_attestations-0.0.19.tar.gz",
    ]


@pytest.mark.parametrize("project", ["rfc8785", "pypi-attestation-models"])
def test_every_real_page_parses_for_every_listed_version(material: Material, project: str) -> None:
    data = material.page(project)
    for version in data["versions"]:
        files, _ = parse_simple_page(
            data,
            page_url=f"https://pypi.org/simple/{project}/",
            name=canonicalize_name(project),
            version=Version(version),
        )
        for file in files:
            assert file.url.startswith("https://files.pythonhosted.org/")
            assert file.sha256 is not None
            assert len(file.sha256) == 64


def test_relative_file_urls_resolve_against_the_page_and_drop_the_fragment() -> None:
    data = page(entry(url="../../packages/demo-1.0.tar.gz#sha256=" + SHA_A))
    [file] = parse(data)
    assert file.url == "https://index.example/packages/demo-1.0.tar.gz"


def test_missing_sha256_is_allowed_and_size_and_yanked_are_read() -> None:
    data = page(entry(hashes={"md5": "x"}, size=12, yanked="broken build"))
    [file] = parse(data)
    assert file.sha256 is None
    assert file.size == 12
    assert file.yanked is True


@pytest.mark.parametrize("size", [-1, "12", 1.5, None])
def test_unusable_size_is_dropped(size: Any) -> None:
    [file] = parse(page(entry(size=size)))
    assert file.size is None


def test_other_projects_and_other_formats_are_skipped() -> None:
    data = page(
        entry("other-1.0.tar.gz", url=None),
        entry("demo-1.0.egg", url=None),
        entry("demo-1.0.exe", hashes=None),
        entry("demo-1.0.tar.gz"),
        entry("demo-2.0.tar.gz", hashes=None),
    )
    files, versions = parse_simple_page(
        data, page_url="https://i.example/", name=canonicalize_name("demo"), version=Version("1.0")
    )
    assert [f.filename for f in files] == ["demo-1.0.tar.gz"]
    assert versions == {"1.0", "2.0"}


# -- parse_simple_page shape errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "index page for demo: expected a JSON object"),
        ("page", "index page for demo: expected a JSON object"),
        (None, "index page for demo: expected a JSON object"),
        (
            {"name": "demo", "files": []},
            "index page for demo: unsupported or missing meta.api-version None",
        ),
        (
            {"meta": {}, "name": "demo", "files": []},
            "index page for demo: unsupported or missing meta.api-version None",
        ),
        (
            {"meta": {"api-version": "2.0"}, "name": "demo", "files": []},
            "index page for demo: unsupported or missing meta.api-version '2.0'",
        ),
        (
            {"meta": {"api-version": 1.1}, "name": "demo", "files": []},
            "index page for demo: unsupported or missing meta.api-version 1.1",
        ),
        (
            {"meta": "1.1", "name": "demo", "files": []},
            "index page for demo: unsupported or missing meta.api-version None",
        ),
        (
            page(name="evil"),
            "index page for demo: the page is for project 'evil', not 'demo'",
        ),
        (
            {"meta": {"api-version": "1.0"}, "files": []},
            "index page for demo: the page is for project None, not 'demo'",
        ),
        (
            {"meta": {"api-version": "1.0"}, "name": "demo"},
            "index page for demo: 'files' must be a list",
        ),
        (
            {"meta": {"api-version": "1.0"}, "name": "demo", "files": {}},
            "index page for demo: 'files' must be a list",
        ),
        (page("demo-1.0.tar.gz"), "index page for demo: files[0] must be an object"),
        (
            page(entry(), {"filename": 7}),
            "index page for demo: files[1].filename must be a string",
        ),
        (
            page(entry(url=None)),
            "index page for demo: files[0].url must be a string",
        ),
        (
            page(entry(hashes=[SHA_A])),
            "index page for demo: files[0].hashes must be an object",
        ),
        (
            page(entry(hashes={"sha256": "A" * 64})),
            "index page for demo: files[0].hashes.sha256 is not a sha256 hex digest",
        ),
        (
            page(entry(hashes={"sha256": "ab"})),
            "index page for demo: files[0].hashes.sha256 is not a sha256 hex digest",
        ),
        (
            page(entry(hashes={"sha256": SHA_A + "\n"})),
            "index page for demo: files[0].hashes.sha256 is not a sha256 hex digest",
        ),
        (
            page(entry(hashes={"sha256": 12})),
            "index page for demo: files[0].hashes.sha256 is not a sha256 hex digest",
        ),
        (
            page(entry(), entry()),
            "index page for demo: demo-1.0.tar.gz is listed twice",
        ),
        (
            page(entry("demo-2.0.tar.gz"), entry("demo-1.0.tar.gz", hashes={"sha256": None}), 3),
            "index page for demo: files[2] must be an object",
        ),
        (
            page(entry(url="https://[::1/demo-1.0.tar.gz")),
            "index page for demo: files[0].url is not a valid URL",
        ),
        (
            page(entry(url="https://files.example:99999/demo-1.0.tar.gz")),
            "index page for demo: files[0].url is not a valid URL",
        ),
    ],
)
def test_shape_errors_name_the_location(data: Any, message: str) -> None:
    with pytest.raises(UpstreamError) as info:
        parse(data)
    assert str(info.value) == message


def test_each_listed_url_is_resolved_against_the_page_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A warm run reads 200 cached pages: a file's URL is joined once, not once per use."""
    import urllib.parse

    import verifier.pypi

    joined: list[str] = []
    real = urllib.parse.urljoin

    def counting(base: str, url: str) -> str:
        joined.append(url)
        return real(base, url)

    monkeypatch.setattr(verifier.pypi, "urljoin", counting)
    files = parse(
        page(
            entry("demo-1.0.tar.gz", provenance="/integrity/demo/1.0/demo-1.0.tar.gz/provenance"),
            entry("demo-1.0-py3-none-any.whl"),
        )
    )
    assert [f.filename for f in files] == ["demo-1.0.tar.gz", "demo-1.0-py3-none-any.whl"]
    assert joined == [
        "https://files.example/demo-1.0.tar.gz",
        "/integrity/demo/1.0/demo-1.0.tar.gz/provenance",
        "https://files.example/demo-1.0-py3-none-any.whl",
    ]


def test_real_page_with_a_broken_hash_names_the_real_index(material: Material) -> None:
    data = copy.deepcopy(material.page("pypi-attestations"))
    index = next(i for i, f in enumerate(data["files"]) if f["filename"] == SDIST_0019.filename)
    data["files"][index]["hashes"]["sha256"] = "not-hex"
    with pytest.raises(UpstreamError) as info:
        parse_simple_page(data, page_url=PAGE_URL, name=NAME, version=Version("0.0.19"))
    assert str(info.value) == (
        f"index page for pypi-attestations: files[{index}].hashes.sha256 is not a sha256 hex digest"
    )


def test_real_page_for_another_project_is_refused(material: Material) -> None:
    with pytest.raises(UpstreamError) as info:
        parse_simple_page(
            material.page("rfc8785"), page_url=PAGE_URL, name=NAME, version=Version("0.0.19")
        )
    assert str(info.value) == (
        "index page for pypi-attestations: the page is for project 'rfc8785', "
        "not 'pypi-attestations'"
    )


def test_page_name_is_compared_normalised() -> None:
    assert len(parse(page(entry("Demo-1.0.tar.gz"), name="DEMO"))) == 1


@pytest.mark.parametrize(
    "filename",
    [
        "demo-1.0-py3-none-any\\x.whl",
        "demo-1.0-py3-none-/any.whl",
        "demo-1.0-py3-none-any:x.whl",
        "demo-1.0-py3-none-any\x00.whl",
    ],
)
def test_unsafe_filenames_of_the_wanted_version_are_refused(filename: str) -> None:
    assert dist_version(filename) == ("demo", Version("1.0"))
    with pytest.raises(UpstreamError) as info:
        parse(page(entry(filename)))
    assert str(info.value) == (
        f"index response: unsafe file name {filename!r} in files[0].filename"
    )


@pytest.mark.parametrize(
    "filename", ["../demo-1.0.tar.gz", "sub/demo-1.0.tar.gz", "demo-1.0-py3-none-any.whl/../x"]
)
def test_path_like_names_that_pip_would_install_are_refused(filename: str) -> None:
    # pip names a file by its URL's last segment, here demo-1.0.tar.gz (or x for a name of the
    # project that pip skips): skipping these entries would hide a file pip installs.
    with pytest.raises(UpstreamError) as info:
        parse(page(entry(filename)))
    assert str(info.value) == (
        f"index response: unsafe file name {filename!r} in files[0].filename"
    )


@pytest.mark.parametrize("filename", ["../other-1.0.tar.gz", "sub/other-1.0.tar.gz", "a/../b"])
def test_path_like_names_of_other_projects_are_skipped(filename: str) -> None:
    assert parse(page(entry(filename))) == []


@pytest.mark.parametrize(
    "url", ["http://files.example/demo-1.0.tar.gz", "file:///etc/demo-1.0.tar.gz"]
)
def test_insecure_file_urls_are_refused(url: str) -> None:
    # A hostile index page is an upstream problem (UNVERIFIABLE), not a usage error.
    with pytest.raises(
        UpstreamError, match=r"^index page for demo: files\[0\]\.url: refusing to fetch "
    ):
        parse(page(entry(url=url)))


# -- property tests: hostile JSON never escapes as anything but a VerifierError -----------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
filenames = st.one_of(
    st.sampled_from(
        [
            "demo-1.0.tar.gz",
            "demo-1.0-py3-none-any.whl",
            "demo-1.0.zip",
            "demo-2.0.tar.gz",
            "../demo-1.0.tar.gz",
            ".demo-1.0.tar.gz",
            "demo-1.0.tar.gz\x00",
            "demo-1.0-1-py3-none-any.whl",
            "demo-1.0-py3-none-any.whl",
        ]
    ),
    st.text(max_size=40),
    st.text(max_size=20).map(lambda s: f"demo-{s}.tar.gz"),
    st.text(max_size=20).map(lambda s: f"demo-1.0-{s}.whl"),
    json_values,
)
urls = st.one_of(
    st.sampled_from(
        [
            "https://files.example/demo-1.0.tar.gz",
            "/packages/demo-1.0.tar.gz",
            "../x#sha256=00",
            "http://files.example/x",
            "https://[::1/x",
            "https://h:99999/x",
            "https://h:port/x",
            "//other.example/x",
            "javascript:alert(1)",
            "",
        ]
    ),
    st.text(max_size=40),
    json_values,
)
hashes = st.one_of(
    st.fixed_dictionaries({"sha256": st.one_of(st.just(SHA_A), st.text(max_size=70), json_values)}),
    json_values,
)
file_entries = st.one_of(
    st.fixed_dictionaries(
        {"filename": filenames, "url": urls, "hashes": hashes},
        optional={"size": json_values, "yanked": json_values, "requires-python": json_values},
    ),
    json_values,
)
pages = st.fixed_dictionaries(
    {
        "meta": st.one_of(
            st.fixed_dictionaries({"api-version": st.sampled_from(["1.0", "1.1", "1.x", "2.0"])}),
            json_values,
        ),
        "name": st.one_of(st.sampled_from(["demo", "Demo", "other"]), json_values),
        "files": st.one_of(st.lists(file_entries, max_size=6), json_values),
    },
    optional={"versions": json_values},
)


def check_parse_never_crashes(data: Any) -> None:
    try:
        files, versions = parse_simple_page(
            data,
            page_url="https://index.example/simple/demo/",
            name=canonicalize_name("demo"),
            version=Version("1.0"),
        )
    except VerifierError as exc:
        message = str(exc)
    else:
        for file in files:
            assert check_filename(file.filename, where="-") == file.filename
            assert file.url.startswith("https://")
            assert "#" not in file.url
            assert file.sha256 is None or len(file.sha256) == 64
        assert all(isinstance(v, str) for v in versions)
        return
    assert message


@given(json_values)
def test_parse_simple_page_on_arbitrary_json_raises_only_verifier_errors(data: Any) -> None:
    check_parse_never_crashes(data)


@settings(max_examples=300)
@given(pages)
def test_parse_simple_page_on_page_shaped_json_raises_only_verifier_errors(
    data: dict[str, Any],
) -> None:
    check_parse_never_crashes(data)


@given(st.data())
def test_parse_simple_page_on_a_mutated_real_page(material: Material, data: st.DataObject) -> None:
    real = copy.deepcopy(material.page("pypi-attestations"))
    wanted = [i for i, f in enumerate(real["files"]) if "0.0.19" in f["filename"]]
    index = data.draw(st.sampled_from(wanted))
    key = data.draw(st.sampled_from(["filename", "url", "hashes", "size", "yanked"]))
    real["files"][index][key] = data.draw(json_values)
    try:
        files, _ = parse_simple_page(real, page_url=PAGE_URL, name=NAME, version=Version("0.0.19"))
    except VerifierError:
        return
    assert len(files) <= 2


# -- IndexClient against a FakeIndex -------------------------------------------------------------


def test_release_from_the_real_page_served_locally(
    http: HttpClient, index: FakeIndex, server: LoopbackServer, material: Material
) -> None:
    sdist = DistFile(SDIST_0019.filename, material.read(SDIST_0019.filename))
    index.add_release(
        "pypi-attestations", "0.0.19", [sdist], real_page=material.page("pypi-attestations")
    )
    release = IndexClient(http, index.url + "/simple/").release(NAME, Version("0.0.19"))
    assert release.name == "pypi-attestations"
    assert release.version == "0.0.19"
    [file] = release.files
    assert file.filename == SDIST_0019.filename
    assert file.url == f"{server.url}/files/{SDIST_0019.filename}"
    assert file.sha256 == SDIST_0019.sha256
    [request] = server.requests
    assert request.path == "/simple/pypi-attestations/"
    assert request.headers["Accept"] == "application/vnd.pypi.simple.v1+json"


def test_release_normalises_the_url_path_of_the_project(http: HttpClient, index: FakeIndex) -> None:
    index.add_release("foo-bar", "1.0", [DistFile("foo_bar-1.0.tar.gz", b"sdist")])
    name, version = parse_pin("Foo_Bar==1.0")
    release = IndexClient(http, index.url).release(name, version)
    assert [f.filename for f in release.files] == ["foo_bar-1.0.tar.gz"]
    assert index.server.paths_requested() == ["/simple/foo-bar/"]


def test_release_of_a_missing_version_lists_what_exists(
    http: HttpClient, index: FakeIndex, material: Material
) -> None:
    sdist = DistFile(SDIST_0019.filename, material.read(SDIST_0019.filename))
    index.add_release(
        "pypi-attestations", "0.0.19", [sdist], real_page=material.page("pypi-attestations")
    )
    client = IndexClient(http, index.url)
    with pytest.raises(NotFoundError) as info:
        client.release(NAME, Version("9.9"))
    assert str(info.value) == (
        f"pypi-attestations has no files for version 9.9 on {index.url}/; versions with files: "
        "0.0.23, 0.0.24, 0.0.25, 0.0.26, 0.0.27, 0.0.28, 0.0.29, 0.0.30"
    )
    assert info.value.hint == ("pick one of the listed versions, e.g. pypi-attestations==0.0.30")


def test_release_of_a_project_without_files_has_no_hint(http: HttpClient, index: FakeIndex) -> None:
    index.add_release("demo", "1.0", [])
    with pytest.raises(NotFoundError) as info:
        IndexClient(http, index.url).release(canonicalize_name("demo"), Version("1.0"))
    assert str(info.value) == (
        f"demo has no files for version 1.0 on {index.url}/; versions with files: (none)"
    )
    assert info.value.hint is None


def test_release_of_a_missing_project(http: HttpClient, index: FakeIndex) -> None:
    with pytest.raises(NotFoundError) as info:
        IndexClient(http, index.url).release(canonicalize_name("no-such"), Version("1.0"))
    assert str(info.value) == f"project 'no-such' does not exist on {index.url}/"
    assert info.value.hint == "check the spelling, or pass --index-url for another index"


def test_release_page_with_the_wrong_content_type(http: HttpClient, server: LoopbackServer) -> None:
    server.route("/simple/demo/", Route(body=b"<html></html>", content_type="text/html"))
    with pytest.raises(UpstreamError) as info:
        IndexClient(http, server.url).release(canonicalize_name("demo"), Version("1.0"))
    assert str(info.value) == (
        f"index page for demo from {server.url}/simple/demo/ has content type 'text/html', "
        "expected one of application/vnd.pypi.simple.v1+json, application/json"
    )


def test_release_page_that_is_not_json(http: HttpClient, server: LoopbackServer) -> None:
    server.route("/simple/demo/", Route(body=b"{oops", content_type="application/json"))
    with pytest.raises(UpstreamError, match=r"^index page for demo from .* is not valid JSON: "):
        IndexClient(http, server.url).release(canonicalize_name("demo"), Version("1.0"))


def test_release_page_for_another_project(http: HttpClient, server: LoopbackServer) -> None:
    body = json.dumps(page(entry(), name="evil")).encode()
    server.route("/simple/demo/", Route(body=body, content_type="application/json"))
    with pytest.raises(UpstreamError) as info:
        IndexClient(http, server.url).release(canonicalize_name("demo"), Version("1.0"))
    assert str(info.value) == "index page for demo: the page is for project 'evil', not 'demo'"


def test_release_survives_a_flaky_index(http: HttpClient, index: FakeIndex) -> None:
    index.add_release("demo", "1.0", [DistFile("demo-1.0.tar.gz", b"x")])
    index.server.routes["/simple/demo/"].fail_first = 2
    release = IndexClient(http, index.url).release(canonicalize_name("demo"), Version("1.0"))
    assert len(release.files) == 1
    assert index.server.routes["/simple/demo/"].hits == 3


def test_provenance_is_returned_raw(
    http: HttpClient, index: FakeIndex, server: LoopbackServer, material: Material
) -> None:
    provenance = material.provenance(SDIST_0019.filename)
    sdist = DistFile(SDIST_0019.filename, b"sdist", provenance=provenance)
    index.add_release("pypi-attestations", "0.0.19", [sdist])
    got = IndexClient(http, index.url).provenance(NAME, "0.0.19", SDIST_0019.filename)
    assert got == provenance
    [request] = server.requests
    assert request.path == f"/integrity/pypi-attestations/0.0.19/{SDIST_0019.filename}/provenance"
    assert request.headers["Accept"] == INTEGRITY_JSON


def test_provenance_missing_is_not_found(http: HttpClient, index: FakeIndex) -> None:
    index.add_release("demo", "1.0", [DistFile("demo-1.0.tar.gz", b"x")])
    with pytest.raises(NotFoundError) as info:
        IndexClient(http, index.url).provenance(canonicalize_name("demo"), "1.0", "demo-1.0.tar.gz")
    assert str(info.value) == (
        "provenance for demo-1.0.tar.gz: not found (HTTP 404 from "
        f"{index.url}/integrity/demo/1.0/demo-1.0.tar.gz/provenance)"
    )


def test_provenance_with_the_wrong_content_type(http: HttpClient, server: LoopbackServer) -> None:
    path = "/integrity/demo/1.0/demo-1.0.tar.gz/provenance"
    server.route(path, Route(body=b"<html>", content_type="text/html"))
    with pytest.raises(UpstreamError) as info:
        IndexClient(http, server.url).provenance(
            canonicalize_name("demo"), "1.0", "demo-1.0.tar.gz"
        )
    assert str(info.value) == (
        f"provenance for demo-1.0.tar.gz from {server.url}{path} has content type 'text/html', "
        "expected one of application/vnd.pypi.integrity.v1+json, application/json"
    )


def test_provenance_over_the_cap_is_refused(http: HttpClient, server: LoopbackServer) -> None:
    path = "/integrity/demo/1.0/demo-1.0.tar.gz/provenance"
    body = b" " * (MAX_PROVENANCE_BYTES + 1)
    server.route(path, Route(body=body, content_type=INTEGRITY_JSON))
    with pytest.raises(UpstreamError, match=rf"exceeds the {MAX_PROVENANCE_BYTES}-byte cap$"):
        IndexClient(http, server.url).provenance(
            canonicalize_name("demo"), "1.0", "demo-1.0.tar.gz"
        )


def test_provenance_url_escapes_the_filename(http: HttpClient, server: LoopbackServer) -> None:
    client = IndexClient(http, server.url)
    with pytest.raises(NotFoundError):
        client.provenance(canonicalize_name("demo"), "1.0", "demo 1.0?.tar.gz")
    assert server.paths_requested() == ["/integrity/demo/1.0/demo%201.0%3F.tar.gz/provenance"]


def test_project_urls_include_home_page(http: HttpClient, index: FakeIndex) -> None:
    urls = {"Source": "https://github.com/o/r", "Docs": "https://docs.example"}
    index.add_release("demo", "1.0", [DistFile("demo-1.0.tar.gz", b"x")], project_urls=urls)
    got = IndexClient(http, index.url).project_urls(NormalizedName("demo"), "1.0")
    assert dict(got) == urls


# -- versions as pip reads them: every file ``pip install NAME==V`` could take is covered ---------


def read(data: Any, pin: str | Version | SpecifierSet = "1.0.0", name: str = "demo") -> SimplePage:
    return read_simple_page(
        data,
        page_url="https://index.example/simple/demo/",
        name=canonicalize_name(name),
        pin=Version(pin) if isinstance(pin, str) else pin,
    )


def test_hostile_page_adding_a_local_version_wheel_cannot_hide_it() -> None:
    # pip's ``demo==1.0.0`` matches 1.0.0+evil (PEP 440: a pin without a local label matches
    # every local label) and even prefers it, as the greater version.
    data = page(
        entry("demo-1.0.0.tar.gz"),
        entry("demo-1.0.0-py3-none-any.whl"),
        entry("demo-1.0.0+evil-py3-none-any.whl"),
        entry("demo-1.0.1-py3-none-any.whl"),
    )
    found = read(data)
    assert [(f.filename, f.version) for f in found.files] == [
        ("demo-1.0.0.tar.gz", "1.0.0"),
        ("demo-1.0.0-py3-none-any.whl", "1.0.0"),
        ("demo-1.0.0+evil-py3-none-any.whl", "1.0.0+evil"),
    ]
    assert found.version == "1.0.0"
    assert found.unparsed == ()


def test_real_page_with_an_added_local_version_wheel(material: Material) -> None:
    data = copy.deepcopy(material.page("pypi-attestations"))
    evil = "pypi_attestations-0.0.19+evil-py3-none-any.whl"
    data["files"].append(
        {**data["files"][-1], "filename": evil, "url": f"https://files.example/{evil}"}
    )
    files, _ = parse_simple_page(data, page_url=PAGE_URL, name=NAME, version=Version("0.0.19"))
    assert sorted(f.filename for f in files) == sorted(
        [WHEEL_0019.filename, SDIST_0019.filename, evil]
    )


def test_a_pin_with_a_local_label_takes_only_that_label() -> None:
    data = page(
        entry("demo-1.0.0-py3-none-any.whl"),
        entry("demo-1.0.0+cpu-py3-none-any.whl"),
        entry("demo-1.0.0+cu121-py3-none-any.whl"),
    )
    found = read(data, "1.0.0+cpu")
    assert [f.filename for f in found.files] == ["demo-1.0.0+cpu-py3-none-any.whl"]
    assert found.version == "1.0.0+cpu"


def test_pre_releases_match_only_their_own_pin() -> None:
    data = page(entry("demo-1.0.0rc1.tar.gz"), entry("demo-1.0.0.tar.gz"))
    assert [f.filename for f in read(data, "1.0.0rc1").files] == ["demo-1.0.0rc1.tar.gz"]
    assert [f.filename for f in read(data, "1.0.0").files] == ["demo-1.0.0.tar.gz"]


def test_arbitrary_equality_takes_only_the_exact_spelling() -> None:
    data = page(entry("demo-1.0.tar.gz"), entry("demo-1.0.0.tar.gz"), entry("demo-1.0+x.tar.gz"))
    found = read(data, SpecifierSet("===1.0"))
    assert [f.filename for f in found.files] == ["demo-1.0.tar.gz"]
    assert found.version == "1.0"


def test_a_pin_spelt_shorter_than_the_index_takes_the_index_spelling() -> None:
    data = page(entry("demo-1.0.0.tar.gz"), entry("demo-1.0.0-py3-none-any.whl"))
    found = read(data, "1.0")
    assert [f.version for f in found.files] == ["1.0.0", "1.0.0"]
    assert found.version == "1.0.0"


def test_files_spelling_the_version_differently_keep_the_pin_spelling() -> None:
    data = page(entry("demo-1.0.tar.gz"), entry("demo-1.0.0-py3-none-any.whl"))
    found = read(data, "1.0.0")
    assert [f.version for f in found.files] == ["1.0", "1.0.0"]
    assert found.version == "1.0.0"


def test_files_of_the_pin_the_tool_does_not_check_are_returned_not_dropped() -> None:
    data = page(
        entry("demo-1.0.0.tar.gz"),
        entry("demo-1.0.0.tar.bz2"),
        entry("demo-1.0.0-x.whl"),
        entry("demo-1.0.0-py2.7.egg"),
        entry("demo-1.0.0.win32-py2.7.exe"),
        entry("demo-1.0.0.win32.msi"),
        entry("demo-garbage.tar.gz"),
        entry("demo-2.0.0.tar.bz2"),
        entry("demo-2.0.0.exe"),
        entry("other-1.0.0.exe"),
    )
    found = read(data)
    assert [f.filename for f in found.files] == ["demo-1.0.0.tar.gz"]
    assert found.unparsed == (
        "demo-1.0.0.tar.bz2",
        "demo-1.0.0-x.whl",
        "demo-1.0.0-py2.7.egg",
        "demo-1.0.0.win32-py2.7.exe",
        "demo-1.0.0.win32.msi",
        "demo-garbage.tar.gz",
    )
    assert found.versions == {"1.0.0", "2.0.0"}


def test_unparsed_names_must_still_be_plain() -> None:
    with pytest.raises(UpstreamError) as info:
        read(page(entry("demo-1.0.0-x\x1b[2J.whl", url="https://files.example/demo.whl")))
    assert str(info.value) == (
        "index response: unsafe file name 'demo-1.0.0-x\\x1b[2J.whl' in files[0].filename"
    )


@pytest.mark.parametrize(
    ("filename", "url"),
    [
        ("demo-2.0.tar.gz", "https://files.example/demo-1.0.0+evil-py3-none-any.whl"),
        ("other-1.0.0.tar.gz", "https://files.example/x/demo-1.0.0.tar.gz#sha256=00"),
        ("demo-1.0.0.tar.gz", "https://files.example/demo-1.0.0%2Bevil-py3-none-any.whl"),
    ],
)
def test_a_url_naming_another_file_than_the_entry_is_refused(filename: str, url: str) -> None:
    # pip takes the file name from the URL and ignores the "filename" key.
    with pytest.raises(UpstreamError) as info:
        read(page(entry(filename, url=url)))
    basename = url.split("#")[0].rsplit("/", 1)[-1].replace("%2B", "+")
    assert str(info.value) == (
        f"index page for demo: files[0].url names the file {basename!r}, "
        f"but files[0].filename is {filename!r}"
    )
    assert info.value.hint == (
        "pip installs the file the URL names; the index must list each file under its own name"
    )


def test_a_url_naming_another_version_of_another_file_is_ignored() -> None:
    data = page(entry("demo-2.0.tar.gz", url="https://files.example/demo-3.0.tar.gz"))
    assert read(data).files == ()


def test_a_url_with_a_trailing_slash_names_the_same_file() -> None:
    # pip strips the slash before taking the last segment.
    data = page(entry("demo-1.0.0.tar.gz", url="https://files.example/demo-1.0.0.tar.gz/"))
    [file] = read(data).files
    assert file.url == "https://files.example/demo-1.0.0.tar.gz/"


def test_release_of_a_local_version_wheel_on_a_served_page(
    http: HttpClient, index: FakeIndex
) -> None:
    index.add_release(
        "demo",
        "1.0.0",
        [
            DistFile("demo-1.0.0.tar.gz", b"sdist"),
            DistFile("demo-1.0.0+evil-py3-none-any.whl", b"w"),
        ],
    )
    release = IndexClient(http, index.url).release(canonicalize_name("demo"), Version("1.0.0"))
    assert [(f.filename, f.version) for f in release.files] == [
        ("demo-1.0.0.tar.gz", "1.0.0"),
        ("demo-1.0.0+evil-py3-none-any.whl", "1.0.0+evil"),
    ]
    assert release.version == "1.0.0"
    assert release.unparsed == ()


def test_release_of_a_short_pin_asks_the_integrity_api_with_the_index_spelling(
    http: HttpClient, index: FakeIndex, server: LoopbackServer, material: Material
) -> None:
    provenance = material.provenance(SDIST_0019.filename)
    sdist = DistFile("demo-1.0.0.tar.gz", b"sdist", provenance=provenance)
    index.add_release("demo", "1.0.0", [sdist])
    client = IndexClient(http, index.url)
    release = client.release(canonicalize_name("demo"), Version("1.0"))
    assert release.version == "1.0.0"
    assert release.label == "demo==1.0.0"
    [file] = release.files
    assert client.provenance_for(file, release.name) == provenance
    assert server.paths_requested()[-1] == "/integrity/demo/1.0.0/demo-1.0.0.tar.gz/provenance"


def test_release_with_only_unchecked_files_of_the_pin_returns_them(
    http: HttpClient, index: FakeIndex
) -> None:
    index.add_release("demo", "1.0", [DistFile("demo-1.0.tar.bz2", b"x")])
    release = IndexClient(http, index.url).release(canonicalize_name("demo"), Version("1.0"))
    assert (release.files, release.unparsed, release.version) == ((), ("demo-1.0.tar.bz2",), "1.0")


def test_release_accepts_a_specifier_set(http: HttpClient, index: FakeIndex) -> None:
    index.add_release("demo", "1.0", [DistFile("demo-1.0.tar.gz", b"x")])
    client = IndexClient(http, index.url)
    release = client.release(canonicalize_name("demo"), SpecifierSet("===1.0"))
    assert [f.filename for f in release.files] == ["demo-1.0.tar.gz"]
    with pytest.raises(NotFoundError) as info:
        client.release(canonicalize_name("demo"), SpecifierSet("===1.0.0"))
    assert str(info.value) == (
        f"demo has no files for version ===1.0.0 on {index.url}/; versions with files: 1.0"
    )


def test_provenance_for_a_file_without_a_version_is_a_usage_error(http: HttpClient) -> None:
    client = IndexClient(http, "https://index.example/")
    with pytest.raises(UsageError) as info:
        client.provenance_for(dataclasses.replace(SDIST_0019, version=None), NAME)
    assert str(info.value) == (
        "pypi_attestations-0.0.19.tar.gz: no release version to ask the index for its provenance"
    )
    assert info.value.hint == "take the file from IndexClient.release, which records its version"


# -- PEP 740's simple API 1.3: the page says which files carry provenance ----------------------


def _page_13(**entry: Any) -> dict[str, Any]:
    return {
        "meta": {"api-version": "1.3"},
        "name": "demo",
        "files": [
            {
                "filename": "demo-1.0.0.tar.gz",
                "url": "../../files/demo-1.0.0.tar.gz",
                "hashes": {"sha256": SHA_A},
                **entry,
            }
        ],
    }


def test_a_provenance_url_is_read_relative_to_the_page() -> None:
    [file] = read(
        _page_13(provenance="../../integrity/demo/1.0.0/demo-1.0.0.tar.gz/provenance")
    ).files
    assert (
        file.provenance == "https://index.example/integrity/demo/1.0.0/demo-1.0.0.tar.gz/provenance"
    )
    assert file.provenance_declared


def test_a_null_provenance_is_declared_none_and_an_absent_key_is_not_said() -> None:
    [declared] = read(_page_13(provenance=None)).files
    assert (declared.provenance, declared.provenance_declared) == (None, True)
    [old] = read(_page_13()).files
    assert (old.provenance, old.provenance_declared) == (None, False)


def test_a_provenance_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(UpstreamError) as info:
        read(_page_13(provenance=42))
    assert str(info.value) == (
        "index page for demo: files[0].provenance must be a URL string or null"
    )


def test_upload_time_is_read_as_served() -> None:
    [file] = read(_page_13(**{"upload-time": "2024-12-04T23:14:04.599813Z"})).files
    assert file.upload_time == "2024-12-04T23:14:04.599813Z"
    [other] = read(_page_13(**{"upload-time": 5})).files
    assert other.upload_time is None


def test_provenance_at_fetches_the_url_the_page_gives(
    http: HttpClient, server: LoopbackServer
) -> None:
    server.route("/declared/here", Route(body=b"{}", content_type=INTEGRITY_JSON))
    got = IndexClient(http, server.url).provenance_at(f"{server.url}/declared/here", "demo.tar.gz")
    assert got == b"{}"
    assert server.paths_requested() == ["/declared/here"]


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        (
            "ftp://{host}/p",
            RefusedURL,
            "refusing to fetch 'ftp://{host}/p': only https URLs (or http to a loopback address) "
            "are allowed",
        ),
        (
            "http://localhost:{port}/p",
            UpstreamError,
            "provenance for demo.tar.gz: the index gives a URL on another host "
            "(http://localhost:{port}/p), not on http://{host}/",
        ),
        (
            "https://{host}/p",
            UpstreamError,
            "provenance for demo.tar.gz: the index gives a URL on another host "
            "(https://{host}/p), not on http://{host}/",
        ),
    ],
    ids=["ftp", "other-host", "other-scheme"],
)
def test_provenance_at_refuses_a_url_off_the_index(
    http: HttpClient,
    server: LoopbackServer,
    url: str,
    error: type[VerifierError],
    message: str,
) -> None:
    host = f"127.0.0.1:{server.port}"
    with pytest.raises(error) as info:
        IndexClient(http, server.url).provenance_at(
            url.format(host=host, port=server.port), "demo.tar.gz"
        )
    assert str(info.value) == message.format(host=host, port=server.port)
    assert server.paths_requested() == []
