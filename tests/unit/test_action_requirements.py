"""The Action installs verify-release's runtime closure from a hash-pinned file in the repository.

``.github/action-requirements.txt`` is installed with ``pip install --require-hashes --no-deps``
and the action itself with ``--no-deps``: a supply-chain verifier does not install itself
unverified. These tests keep the file in step with pyproject.toml: every runtime dependency
(and the build backend, since the action is installed without build isolation) is pinned
exactly, with hashes, at a version the pyproject range allows, and every package that the
installed verify-release needs (its whole dependency closure, read from installed metadata) is
in the file. Regenerate it with the command in its header.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / ".github" / "action-requirements.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pinned() -> dict[NormalizedName, list[tuple[Version, str, list[str]]]]:
    """name -> [(version, marker text, hashes)] for every requirement of the file."""
    text = re.sub(r"\\\n", " ", FILE.read_text())
    out: dict[NormalizedName, list[tuple[Version, str, list[str]]]] = {}
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
        requirement = Requirement(re.sub(r"\s*--hash=\S+", "", line))
        [spec] = list(requirement.specifier)
        assert spec.operator == "==", line
        marker = str(requirement.marker) if requirement.marker else ""
        out.setdefault(canonicalize_name(requirement.name), []).append(
            (Version(spec.version), marker, hashes)
        )
    return out


def test_every_requirement_is_pinned_with_hashes() -> None:
    entries = pinned()
    assert len(entries) > 20
    for name, versions in entries.items():
        for version, _, hashes in versions:
            assert hashes, f"{name}=={version} has no --hash"


@pytest.mark.parametrize(
    "dependency",
    [*PYPROJECT["project"]["dependencies"], *PYPROJECT["build-system"]["requires"]],
)
def test_every_runtime_dependency_and_the_build_backend_is_pinned_within_its_range(
    dependency: str,
) -> None:
    requirement = Requirement(dependency)
    versions = pinned().get(canonicalize_name(requirement.name))
    assert versions, f"{requirement.name} is missing from {FILE.name}: regenerate it"
    for version, _, _ in versions:
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{requirement.name}=={version} is outside pyproject.toml's {requirement.specifier}"
        )


def _closure(name: str, extras: frozenset[str] = frozenset()) -> set[NormalizedName]:
    """The installed distributions ``name`` needs here (this Python, these extras)."""
    seen: set[NormalizedName] = set()
    todo = [(name, extras)]
    while todo:
        current, wanted = todo.pop()
        for raw in metadata.requires(current) or []:
            requirement = Requirement(raw)
            if requirement.marker is not None and not any(
                requirement.marker.evaluate({"extra": extra}) for extra in (wanted or {""})
            ):
                continue
            dependency = canonicalize_name(requirement.name)
            if dependency not in seen:
                seen.add(dependency)
                todo.append((dependency, frozenset(requirement.extras)))
    return seen


def test_the_whole_installed_runtime_closure_is_in_the_file() -> None:
    missing = sorted(_closure("verify-release") - set(pinned()))
    assert not missing, f"not in {FILE.name}: {missing}; regenerate it"


def test_the_action_installs_from_the_file_with_hashes_and_itself_without_dependencies() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    [install] = [s for s in action["runs"]["steps"] if s.get("id") == "install"]
    commands = [line.strip() for line in install["run"].splitlines() if " -m pip " in line]
    assert commands == [
        '"${python}" -I -m pip install --quiet --disable-pip-version-check --require-hashes '
        '--no-deps -r "${GITHUB_ACTION_PATH}/.github/action-requirements.txt"',
        '"${python}" -I -m pip install --quiet --disable-pip-version-check --no-deps '
        '--no-build-isolation "${GITHUB_ACTION_PATH}"',
    ]
