"""``verify-release pin``'s writer: values read back as written, the user's text is kept, no pin
is dropped without ``--unpin``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import NormalizedName, canonicalize_name

from verifier.errors import PolicyError, UsageError
from verifier.pins import Observed, Pin, apply_pins, plan_pins, render_block, replace_block
from verifier.policy import PIN_BEGIN, PIN_END, load_policy_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = "https://github.com/trailofbits/pypi-attestations"
NAMES = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4}){0,2}", fullmatch=True).map(
    lambda n: NormalizedName(canonicalize_name(n))
)
VALUES = st.text(min_size=1)
"""Any Unicode text without lone surrogates: PyPI's publisher record is not signed."""


def _name(text: str) -> NormalizedName:
    return NormalizedName(canonicalize_name(text))


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        NAMES,
        st.tuples(VALUES, st.none() | VALUES, st.none() | VALUES),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
def test_every_value_written_reads_back_identical(
    entries: dict[NormalizedName, tuple[str, str | None, str | None]], pyproject: bool
) -> None:
    pins = {name: Pin(Observed(*values)) for name, values in entries.items()}
    block = render_block(pins, pyproject=pyproject)
    assert block.startswith(PIN_BEGIN + "\n")
    assert block.endswith(PIN_END + "\n")
    data = tomllib.loads(block)
    table = data["tool"]["verify-release"] if pyproject else data
    assert set(table) == {"publishers"}
    for name, (repository, workflow, environment) in entries.items():
        expected: dict[str, object] = {"repository": repository, "pinned": True}
        if workflow:
            expected["workflow"] = workflow
        if environment:
            expected["environment"] = environment
        assert table["publishers"][name] == expected


OUTSIDE = (
    st.lists(
        st.text(st.characters(exclude_categories=["Cs"]))
        | st.sampled_from(["\n", "\r\n", "# comment", "[x]", 'a = "b"', PIN_BEGIN[:20]])
    )
    .map("".join)
    .filter(lambda t: PIN_BEGIN not in t and PIN_END not in t)
)
"""Random hand-written text: any characters, both line endings, comments and tables."""


@settings(max_examples=300, deadline=None)
@given(OUTSIDE, OUTSIDE, st.booleans())
def test_text_outside_the_block_stays_byte_for_byte(head: str, tail: str, remove: bool) -> None:
    # A marker counts only as a whole line, so the block starts a line.
    head = head if not head or head.endswith("\n") else head + "\n"
    old = render_block({_name("a"): Pin(Observed(REPO, "release.yml", None))}, pyproject=False)
    new = (
        ""
        if remove
        else render_block({_name("b"): Pin(Observed(REPO, None, "pypi"))}, pyproject=False)
    )
    assert replace_block(head + old + tail, new) == head + new + tail


@settings(max_examples=200, deadline=None)
@given(OUTSIDE)
def test_a_new_block_is_added_after_the_text_as_it_was(text: str) -> None:
    block = render_block({_name("a"): Pin(Observed(REPO, None, None))}, pyproject=False)
    result = replace_block(text, block)
    assert result.startswith(text)
    assert result.endswith(block)
    assert result[len(text) : -len(block)] in ("", "\n", "\n\n")


def test_a_non_bmp_environment_is_written_as_toml_and_loads(tmp_path: Path) -> None:
    """The issue's failure: JSON's surrogate-pair escape is not valid TOML."""
    path = tmp_path / "verify-release.toml"
    environment = "pypi-\U0001f512-release"
    apply_pins(path, {_name("pkg"): Observed(REPO, "release.yml", environment)})
    assert "pypi-\U0001f512-release" in path.read_text("utf-8")
    assert "\\ud83d" not in path.read_text("utf-8")
    loaded = load_policy_file(path)
    assert loaded.publishers[_name("pkg")].environment == environment
    assert loaded.pinned == {"pkg"}


def _pinned(tmp_path: Path, text: str = "") -> Path:
    path = tmp_path / "verify-release.toml"
    path.write_bytes(text.encode())
    apply_pins(
        path,
        {
            _name("one"): Observed(REPO, "release.yml", None),
            _name("two"): Observed(REPO, "release.yml", "pypi"),
        },
    )
    return path


def test_changes_are_listed_as_a_diff(tmp_path: Path) -> None:
    path = _pinned(tmp_path)
    plan = apply_pins(
        path,
        {
            _name("two"): Observed(REPO, "publish.yml", "pypi"),
            _name("three"): Observed(REPO, None, None),
        },
        checked={_name("two"), _name("three")},
        unpin={_name("one")},
        accept={_name("two")},
    )
    assert plan.lines == (
        "- one",
        f"+ three: {REPO}",
        f"~ two: {REPO} workflow release.yml environment pypi -> "
        f"{REPO} workflow publish.yml environment pypi",
    )
    assert plan.changes == 3
    assert plan.lost == ()
    loaded = load_policy_file(path)
    assert loaded.pinned == {"two", "three"}
    assert loaded.publishers[_name("two")].workflow == "publish.yml"


def test_a_changed_publisher_keeps_its_pin_unless_accepted(tmp_path: Path) -> None:
    """Accepting a change silently would erase the evidence the normal run fails on."""
    path = _pinned(tmp_path)
    before = path.read_bytes()
    moved = {
        _name("one"): Observed("https://github.com/other/r", "release.yml", None),
        _name("two"): Observed(REPO, "release.yml", None),
        _name("new"): Observed(REPO, None, None),
    }
    plan = apply_pins(path, moved, checked=set(moved))
    assert plan.lines == (
        f"+ new: {REPO}",
        f"! one: publisher changed: {REPO} workflow release.yml -> https://github.com/other/r "
        "workflow release.yml; its pin is kept (accept the change with "
        "`verify-release pin --accept one`)",
        f"! two: publisher changed: {REPO} workflow release.yml environment pypi -> {REPO} "
        "workflow release.yml; its pin is kept (accept the change with "
        "`verify-release pin --accept two`)",
    )
    assert plan.changed == ("one", "two")
    assert plan.changes == 1
    loaded = load_policy_file(path)
    assert loaded.pinned == {"one", "two", "new"}
    assert loaded.publishers[_name("one")].url == REPO
    assert loaded.publishers[_name("two")].environment == "pypi"
    assert path.read_bytes() != before
    accepted = apply_pins(path, moved, checked=set(moved), accept={_name("two")})
    assert accepted.changed == ("one",)
    assert load_policy_file(path).publishers[_name("two")].environment is None
    assert load_policy_file(path).publishers[_name("one")].url == REPO


def test_a_pin_that_lost_its_attestations_is_kept_and_named(tmp_path: Path) -> None:
    path = _pinned(tmp_path)
    before = path.read_bytes()
    plan = apply_pins(
        path,
        {_name("one"): Observed(REPO, "release.yml", None)},
        checked={_name("one"), _name("two")},
    )
    assert plan.lost == ("two",)
    assert plan.lines == (
        "! two: no verified attestations this run; its pin is kept (remove it with "
        "`verify-release pin --unpin two`)",
    )
    assert plan.changes == 0
    assert path.read_bytes() == before


def test_a_pin_of_a_package_this_run_did_not_check_is_kept_quietly(tmp_path: Path) -> None:
    path = _pinned(tmp_path)
    before = path.read_bytes()
    plan = apply_pins(path, {}, checked={_name("other")})
    assert (plan.lines, plan.lost) == ((), ())
    assert path.read_bytes() == before


def test_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    path = _pinned(tmp_path)
    before = path.read_bytes()
    plan = apply_pins(path, {}, unpin={_name("one"), _name("two")}, dry_run=True)
    assert plan.lines == ("- one", "- two")
    assert path.read_bytes() == before


def test_unpinning_everything_removes_the_block_and_keeps_the_rest(tmp_path: Path) -> None:
    hand = '# mine\r\n[packages.x]\r\nskip = ["tags"]\r\n'
    path = _pinned(tmp_path, hand)
    apply_pins(path, {}, unpin={_name("one"), _name("two")})
    assert path.read_bytes() == (hand + "\n").encode()


def test_unpin_needs_a_pin(tmp_path: Path) -> None:
    path = _pinned(tmp_path)
    path.write_text(
        path.read_text() + f'\n[publishers.mine]\nrepository = "{REPO}"\n', encoding="utf-8"
    )
    with pytest.raises(UsageError) as caught:
        apply_pins(path, {}, unpin={_name("three")})
    assert caught.value.message == f"--unpin three: the package is not pinned in {path}"
    with pytest.raises(UsageError) as caught:
        apply_pins(path, {}, unpin={_name("mine")})
    assert caught.value.message == f"--unpin mine: the package is written by hand in {path}"


def test_hand_written_publishers_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "verify-release.toml"
    path.write_text(f'[publishers.mine]\nrepository = "{REPO}"\n')
    plan = apply_pins(path, {_name("mine"): Observed(REPO, "x.yml", None)}, checked={_name("mine")})
    assert plan.lines == (
        "= mine: left alone (its publisher is written by hand in verify-release.toml)",
    )
    assert path.read_text() == f'[publishers.mine]\nrepository = "{REPO}"\n'


def test_foreign_content_in_the_block_is_not_overwritten(tmp_path: Path) -> None:
    path = _pinned(tmp_path)
    path.write_text(path.read_text().replace(PIN_END, '[packages.x]\nskip = ["tags"]\n' + PIN_END))
    with pytest.raises(PolicyError) as caught:
        plan_pins(path, path.read_text(), load_policy_file(path), {})
    assert caught.value.message == (
        f"{path}: the block managed by verify-release pin holds more than publisher pins"
    )


def test_pyproject_pins_live_under_tool_verify_release(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n')
    apply_pins(path, {_name("one"): Observed(REPO, None, None)})
    assert "[tool.verify-release.publishers.one]" in path.read_text()
    assert load_policy_file(path).pinned == {"one"}


def test_a_lone_surrogate_is_refused_not_written(tmp_path: Path) -> None:
    """JSON can carry "\\ud800"; UTF-8 and TOML cannot: the package is named, the file kept."""
    path = _pinned(tmp_path)
    before = path.read_bytes()
    plan = apply_pins(
        path,
        {
            _name("one"): Observed(REPO, "release.yml", "bad\ud800"),
            _name("new"): Observed(REPO, None, "\udfff"),
        },
        checked={_name("one"), _name("new")},
    )
    assert plan.refused == ("new", "one")
    assert plan.lines == (
        "! new: PyPI's publisher record holds text that is not valid Unicode (a lone surrogate), "
        "which no policy file can hold; not pinned",
        "! one: PyPI's publisher record holds text that is not valid Unicode (a lone surrogate), "
        "which no policy file can hold; not pinned; its pin is kept",
    )
    assert path.read_bytes() == before


_PINNER = """
import subprocess
import sys
from pathlib import Path
from packaging.utils import canonicalize_name
from verifier.pins import Observed, apply_pins
path, me = Path(sys.argv[1]), sys.argv[2]
for n in range(15):
    name = canonicalize_name(f"{me}-{n}")
    apply_pins(path, {name: Observed("https://github.com/o/r", None, None)})
"""


def test_parallel_pin_runs_lose_no_pin(tmp_path: Path) -> None:
    """Four ``pin`` writers at once: each reads, plans and writes under the lock."""
    path = tmp_path / "verify-release.toml"
    path.write_text("# mine\n")
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen([sys.executable, "-c", _PINNER, str(path), f"p{i}"], cwd=root)
        for i in range(4)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    assert load_policy_file(path).pinned == {f"p{i}-{n}" for i in range(4) for n in range(15)}
    assert path.read_text().startswith("# mine\n")


def test_unpin_wins_over_a_fresh_observation(tmp_path: Path) -> None:
    path = _pinned(tmp_path)
    plan = apply_pins(
        path,
        {_name("one"): Observed(REPO, "release.yml", None)},
        checked={_name("one")},
        unpin={_name("one")},
    )
    assert plan.lines == ("- one",)
    assert load_policy_file(path).pinned == {"two"}
