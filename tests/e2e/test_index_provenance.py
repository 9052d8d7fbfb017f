"""The index says which files carry provenance; no distribution is downloaded unless asked.

Request counts come from the loopback index's own log: a pin of a release whose files are only
partly attested asks for its page, its project URLs and the provenance the page declares, and
nothing else. ``--download DIR`` fetches each file once and keeps only the files that match.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.helpers import Run, base_args, run
from tests.e2e.test_spine import REPO, SDIST
from tests.servers import DistFile, FakeIndex, Route

PROJECT = "pypi-attestations"
VERSION = "0.0.19"
PIN = f"{PROJECT}=={VERSION}"
WHEELS = [
    f"pypi_attestations-{VERSION}-py3-none-any.whl",
    f"pypi_attestations-{VERSION}-cp312-cp312-manylinux_2_17_x86_64.whl",
    f"pypi_attestations-{VERSION}-cp312-cp312-macosx_11_0_arm64.whl",
    f"pypi_attestations-{VERSION}-cp312-cp312-win_amd64.whl",
]
"""Files of the release published without provenance (only the sdist is attested)."""


def flat(text: str) -> str:
    """Whitespace runs as one space: the report pads its columns to the longest file name."""
    return " ".join(text.split())


def serve_release(index: FakeIndex, material: Material) -> list[DistFile]:
    """Five files, one attested (the real sdist), with project URLs naming the publisher."""
    files = [DistFile(SDIST, material.read(SDIST), material.provenance(SDIST))]
    files += [DistFile(name, f"not attested: {name}".encode(), None) for name in WHEELS]
    index.add_release(PROJECT, VERSION, files, project_urls={"Source": REPO})
    return files


def partially_attested(tmp_path: Path) -> list[str]:
    """``--policy`` naming the project partially attested, as ``serve_release`` serves it.

    One attested file among four unattested ones is otherwise a downgrade inside the release
    (FAILED, see test_history.py); these tests are about which requests are made.
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    policy = tmp_path / "partial.toml"
    policy.write_text(f"[packages.{PROJECT}]\npartially-attested = true\n")
    return ["--policy", str(policy)]


def verify(capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path, *args: str) -> Run:
    return run(
        capsys,
        PIN,
        *args,
        *base_args(index.url, tmp_path / "cache"),
        "--allow-missing",
        "attestations",
        *partially_attested(tmp_path),
    )


def test_a_pin_asks_for_declared_provenance_only_and_downloads_nothing(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_release(index, material)
    result = verify(capsys, index, tmp_path)
    assert result.code == 0, result.out
    # 1 page + 1 JSON API (project URLs) + 1 provenance (the one file the page declares).
    assert sorted(index.server.paths_requested()) == sorted(
        [
            index.simple_path(PROJECT),
            f"/pypi/{PROJECT}/{VERSION}/json",
            index.provenance_path(PROJECT, VERSION, SDIST),
        ]
    )
    for name in WHEELS:
        assert f"SKIPPED attestation {name} the index declares no provenance" in flat(result.out)
    assert result.out.count("the index declares no provenance") == len(WHEELS)
    digest = hashlib.sha256(material.read(SDIST)).hexdigest()
    assert f"the index publishes sha256 {digest} (file not downloaded" in result.out


def test_an_index_before_api_1_3_is_asked_for_every_file(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    index.old_api = True
    serve_release(index, material)
    result = verify(capsys, index, tmp_path)
    assert result.code == 0, result.out
    asked = [p for p in index.server.paths_requested() if p.startswith("/integrity/")]
    assert sorted(asked) == sorted(
        index.provenance_path(PROJECT, VERSION, name) for name in [SDIST, *WHEELS]
    )
    assert result.out.count("the index has no provenance for this file (HTTP 404)") == len(WHEELS)
    assert not [p for p in index.server.paths_requested() if p.startswith("/files/")]


def test_the_url_the_page_gives_is_fetched_not_one_built_by_hand(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    index.provenance_root = "/declared-elsewhere"
    serve_release(index, material)
    result = verify(capsys, index, tmp_path, "--repository", REPO)
    assert result.code == 0, result.out
    assert f"VERIFIED attestation {SDIST} 1 attestation verified" in flat(result.out)
    asked = [p for p in index.server.paths_requested() if "provenance" in p]
    assert asked == [f"/declared-elsewhere/{PROJECT}/{VERSION}/{SDIST}/provenance"]


@pytest.mark.parametrize(
    ("declared", "reason"),
    [
        (
            "http://localhost:{port}/integrity/p",
            "provenance for {sdist}: the index gives a URL on another host "
            "(http://localhost:{port}/integrity/p), not on http://127.0.0.1:{port}/",
        ),
        (
            "ftp://127.0.0.1:{port}/integrity/p",
            "refusing to fetch 'ftp://127.0.0.1:{port}/integrity/p': only https URLs (or http to "
            "a loopback address) are allowed",
        ),
    ],
    ids=["other-host", "ftp"],
)
def test_a_hostile_provenance_url_is_unverifiable_and_not_fetched(
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    declared: str,
    reason: str,
) -> None:
    port = index.server.port
    index.provenance_override[SDIST] = declared.format(port=port)
    serve_release(index, material)
    result = run(
        capsys,
        PIN,
        "--repository",
        REPO,
        *base_args(index.url, tmp_path / "cache"),
        *partially_attested(tmp_path),
    )
    assert result.code == 2, result.out
    expected = reason.format(port=port, sdist=SDIST)
    assert flat(f"UNVERIFIABLE attestation {SDIST} {expected}") in flat(result.out)
    assert not [p for p in index.server.paths_requested() if "/integrity/" in p]


def test_download_fetches_each_file_once_and_keeps_only_matching_files(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    files = serve_release(index, material)
    # The file host serves other bytes for one wheel than the index's digest names.
    tampered = WHEELS[1]
    index.server.routes[index.file_path(tampered)].body = b"other bytes"
    wheelhouse = tmp_path / "wheelhouse"
    args = [PIN, "--download", str(wheelhouse), "--allow-missing", "attestations"]
    common = [a for a in base_args(index.url, tmp_path / "cache") if a != "-q"]
    result = run(capsys, *args, *common)
    assert result.code == 1, result.out
    downloads = [p for p in index.server.paths_requested() if p.startswith("/files/")]
    assert sorted(downloads) == sorted(index.file_path(f.filename) for f in files)
    assert (
        f"FAILED index-hash {tampered} the downloaded file does not match the digest "
        f"the index publishes (not kept in {wheelhouse})"
    ) in flat(result.out)
    kept = sorted(p.name for p in wheelhouse.iterdir())
    assert kept == sorted(f.filename for f in files if f.filename != tampered)
    for f in files:
        if f.filename != tampered:
            assert (wheelhouse / f.filename).read_bytes() == f.content
    # Progress in bytes, on stderr.
    size = len(material.read(SDIST))
    assert f"{SDIST}: downloading ({size:,} bytes)" in result.err
    assert f"{SDIST}: {size:,} bytes downloaded" in result.err


def test_download_into_a_path_that_is_a_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_release(index, material)
    blocker = tmp_path / "wheelhouse"
    blocker.write_text("a file")
    result = verify(capsys, index, tmp_path, "--download", str(blocker))
    assert result.code == 3
    assert f"--download {blocker}: cannot create the directory: File exists" in result.err
    assert index.server.paths_requested() == []


def test_download_with_a_lockfile_keeps_every_pinned_file(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    from tests.e2e.test_lockfile import RELEASES, SKIPS, lock_run, serve_all, write_lock

    serve_all(index, material)
    lock = write_lock(tmp_path / "requirements.txt", material)
    wheelhouse = tmp_path / "wheelhouse"
    result = lock_run(capsys, index, tmp_path, lock, *SKIPS, "--download", str(wheelhouse))
    assert result.code == 0, result.out
    names = sorted(filename for _, filename in RELEASES.values())
    assert sorted(p.name for p in wheelhouse.iterdir()) == names
    downloads = [p for p in index.server.paths_requested() if p.startswith("/files/")]
    assert sorted(downloads) == sorted(index.file_path(n) for n in names)
    for name in names:
        assert f"VERIFIED index-hash {name} sha256 matches the index (downloaded, kept in " in (
            flat(result.out)
        )


def test_a_verified_file_that_cannot_be_kept_is_unverifiable(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_release(index, material)
    wheelhouse = tmp_path / "wheelhouse"
    (wheelhouse / SDIST).mkdir(parents=True)
    result = verify(capsys, index, tmp_path, "--download", str(wheelhouse))
    assert result.code == 2, result.out
    assert (
        f"UNVERIFIABLE index-hash {SDIST} cannot keep the verified file in {wheelhouse}: "
        "Is a directory"
    ) in flat(result.out)
    assert sorted(p.name for p in wheelhouse.iterdir()) == sorted([SDIST, *WHEELS])
    assert (wheelhouse / SDIST).is_dir()


def test_the_files_of_one_release_are_asked_for_in_parallel(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    # An old-style index (no provenance keys): one Integrity API request per file. They share
    # the run's pool, so a release of many files is not a serial chain of requests. Asserted
    # from the server's concurrency, not from timings.
    index.old_api = True
    serve_release(index, material)
    index.server.routes[index.provenance_path(PROJECT, VERSION, SDIST)].stall_before = 0.3
    for name in WHEELS:
        index.server.route(
            index.provenance_path(PROJECT, VERSION, name),
            Route(status=404, body=b"not found", stall_before=0.3),
        )
    serial = verify(capsys, index, tmp_path / "serial", "--jobs", "1")
    assert serial.code == 0, serial.out
    assert index.server.max_stalled == 1
    parallel = verify(capsys, index, tmp_path / "parallel", "--jobs", "8")
    assert parallel.code == 0, parallel.out
    assert index.server.max_stalled == 1 + len(WHEELS)
