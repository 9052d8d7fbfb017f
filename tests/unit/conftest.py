"""Fixtures shared by the unit tests of one module and of its red-team attacks."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.pinning import unpin_all


@pytest.fixture
def cores() -> Iterator[set[int]]:
    """The test process's cores; every thread is put back on them afterwards, so that a test
    of ``verifier.affinity`` that fails never leaves the test runner on one core."""
    full = set(os.sched_getaffinity(0))
    try:
        yield full
    finally:
        unpin_all(full)
