"""Attacks on the history check (issue 12): each asserts the safe outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_history import EVIL, FEB, JAN, MAR, OURS, dist, verify, wheel
from tests.servers import FakeIndex, Listed, add_history_to
from tests.sigstore_local import LocalSigstore


@pytest.fixture(scope="module")
def stack() -> LocalSigstore:
    return LocalSigstore()


APR = "2026-04-01T10:00:00.000000Z"


# 1. stolen token: a throwaway unattested pre-release uploaded between the attested baseline and
#    the malicious release becomes "the most recent earlier release"; the downgrade passes.
@pytest.mark.parametrize("stepping", ["1.1.0rc1", "1.0.1", "1.0.0+x"])
def test_two_step_downgrade(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    index: FakeIndex,
    stack: LocalSigstore,
    stepping: str,
) -> None:
    name = f"pkg-{stepping}-py3-none-any.whl"
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), JAN),
            Listed(stepping, dist(stack, name, None), FEB),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), None), MAR),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--allow-missing", "attestations")
    assert result.code == 1, result.out


# 2. stolen token: a new unattested wheel added (today) to an OLD release from before the project
#    attested; the release's first upload predates every attested release, so no baseline.
def test_unattested_file_added_to_old_release(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    index: FakeIndex,
    stack: LocalSigstore,
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("0.9.0", dist(stack, "pkg-0.9.0.tar.gz", None), "2025-06-01T00:00:00Z"),
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), JAN),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), OURS), FEB),
            Listed("0.9.0", dist(stack, "pkg-0.9.0-py3-none-any.whl", None), MAR),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==0.9.0", "--allow-missing", "attestations")
    assert result.code == 1, result.out


# 3. taken-over account: a wheel attested by the attacker's NEW publisher added to an old release.
def test_evil_attested_file_added_to_old_release(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    index: FakeIndex,
    stack: LocalSigstore,
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("0.9.0", dist(stack, "pkg-0.9.0.tar.gz", None), "2025-06-01T00:00:00Z"),
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), JAN),
            Listed("0.9.0", dist(stack, "pkg-0.9.0-py3-none-any.whl", EVIL), MAR),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==0.9.0", "--allow-missing", "attestations")
    assert result.code == 1, result.out


# 4. taken-over account: a throwaway release from the attacker's publisher becomes the baseline.
def test_two_step_publisher_change(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    index: FakeIndex,
    stack: LocalSigstore,
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), JAN),
            Listed("1.1.0rc1", dist(stack, "pkg-1.1.0rc1-py3-none-any.whl", EVIL), FEB),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), EVIL), MAR),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0")
    assert result.code == 1, result.out


# 5. two publishers inside one release, no earlier attested release: never compared.
def test_mixed_publishers_inside_first_attested_release(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    index: FakeIndex,
    stack: LocalSigstore,
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), None), JAN),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), OURS), FEB),
            Listed("1.1.0", dist(stack, "pkg-1.1.0-cp312-cp312-linux_x86_64.whl", EVIL), MAR),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0")
    assert result.code == 1, result.out
    assert "the files of 1.1.0 are attested by different publishers:" in result.out


# 6. hostile index: an upload-time whose UTC conversion overflows -> traceback (exit 4).
@pytest.mark.parametrize("where", ["baseline", "current"])
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_overflowing_upload_time(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    index: FakeIndex,
    stack: LocalSigstore,
    where: str,
    value: str | int | None,
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed(
                "1.0.0", dist(stack, wheel("1.0.0"), OURS), value if where == "baseline" else JAN
            ),
            Listed(
                "1.1.0", dist(stack, wheel("1.1.0"), None), value if where == "current" else FEB
            ),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--allow-missing", "attestations")
    # The time is unusable, so the order is unknown: never a clean baseline, never a traceback.
    assert result.code == 2, result.out
    assert "no usable upload time" in result.out


# 7. hostile index: the attested baseline's upload-time is garbage -> silently no baseline.
@pytest.mark.parametrize("value", ["garbage", None, 12345])
def test_baseline_without_usable_time(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    index: FakeIndex,
    stack: LocalSigstore,
    value: str | int | None,
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), value),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), None), FEB),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--allow-missing", "attestations")
    assert result.code == 2, result.out
    assert "no usable upload time for the attested release 1.0.0" in result.out


# held? time zones: baseline at 05:00Z spelled +05:00, current at 08:00Z.
def test_time_zone_offsets_are_compared_in_utc(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    index: FakeIndex,
    stack: LocalSigstore,
) -> None:
    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), "2026-02-01T10:00:00+05:00"),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), None), "2026-02-01T08:00:00Z"),
        ],
    )
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--allow-missing", "attestations")
    assert result.code == 1, result.out


# held? the attested baseline's provenance 404/500/oversize: still "lost" (fails).
@pytest.mark.parametrize("status", [404, 500])
def test_unreachable_baseline_provenance(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    index: FakeIndex,
    stack: LocalSigstore,
    status: int,
) -> None:
    from tests.servers import Route

    add_history_to(
        index,
        "pkg",
        [
            Listed("1.0.0", dist(stack, wheel("1.0.0"), OURS), JAN),
            Listed("1.1.0", dist(stack, wheel("1.1.0"), None), FEB),
        ],
    )
    index.server.route(index.provenance_path("pkg", "1.0.0", wheel("1.0.0")), Route(status=status))
    result = verify(capsys, tmp_path, stack, index, "pkg==1.1.0", "--allow-missing", "attestations")
    assert result.code == 1, result.out
