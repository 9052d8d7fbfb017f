"""A trust-root mismatch is said in the tool's words, with the fix, not as sigstore's
"validation failed: candidates exhausted".

Real certificates from two local Sigstore stacks (tests/sigstore_local.py): the release is signed
by one, the run trusts the other (or production). A damaged certificate of the right instance
keeps the plain "signature verification failed" (the tamper matrix pins that).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.helpers import run
from tests.e2e.test_chain import WHEEL, build_world
from tests.servers import FakeIndex
from tests.sigstore_local import LocalSigstore

MISMATCH = (
    "the signing certificate was not issued by a Fulcio CA of the trust root in use (a "
    "trust-root mismatch: signed by another Sigstore instance)"
)
HINT = (
    "hint: releases on PyPI are signed by Sigstore's production instance: drop --trusted-root; "
    "for a private Sigstore deployment pass its trusted_root.json with --trusted-root"
)


@pytest.mark.parametrize("root", ["another instance", "production"])
def test_a_release_signed_by_another_instance_names_the_mismatch(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path, root: str
) -> None:
    world = build_world(tmp_path, index)
    args = world.args("--skip", "tags")
    at = args.index("--trusted-root")
    del args[at : at + 2]
    if root == "another instance":
        other = LocalSigstore().write_trusted_root(tmp_path / "other_root.json")
        args += ["--trusted-root", str(other)]
    try:
        result = run(capsys, *args)
    finally:
        world.github.close()
    assert result.code == 1, result.out
    pad = " " * 17
    for check, prefix in (("attestation", ""), ("bundle     ", f"{WHEEL}.sigstore.json: ")):
        assert (
            f"  FAILED       {check}    {WHEEL}  {prefix}{MISMATCH}\n"
            f"{pad}expected: a certificate issued by a Fulcio CA of the trust root in use\n"
            f"{pad}got:      issued by CN=local-sigstore,O=sigstore.invalid\n"
        ) in result.out
    assert result.out.count(f"{pad}{HINT}\n") == 2
    assert "candidates exhausted" not in result.out
