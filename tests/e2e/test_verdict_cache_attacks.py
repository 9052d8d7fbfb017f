"""Attacks on the verdict cache (issue 14, found by a red team): a warm run must never say
VERIFIED where a cold run would not.

Each test first shows the cold verdict (a failure), then the warm one, which must agree.
Real verification only: the local Sigstore stack signs, sigstore verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import Run, base_args, run
from tests.e2e.test_verdict_cache import Setup, stack  # noqa: F401 - the module fixture
from tests.servers import DistFile, FakeIndex
from tests.sigstore_local import GitHubClaims, LocalSigstore
from verifier.checks.attestations import AttestationChecker


@pytest.fixture
def setup(stack: LocalSigstore, index: FakeIndex, tmp_path: Path) -> Setup:  # noqa: F811
    return Setup(stack, index, tmp_path)


def _run(setup: Setup, capsys: pytest.CaptureFixture[str], *extra: str) -> Run:
    args = base_args(setup.index.url, setup.cache)
    return run(
        capsys,
        *("--lockfile", str(setup.lock), *args, "--format", "json"),
        *("--trusted-root", str(setup.root), "--verify-processes", "0", *extra),
    )


def _serve_by(setup: Setup, name: str, repository: str) -> None:
    """``name`` with provenance signed by another repository's workflow (project URLs stay)."""
    claims = GitHubClaims(repository=repository, workflow="release.yml", ref="refs/tags/v1")
    content = setup.contents[name]
    provenance = setup.stack.provenance(setup.filename(name), content, claims)
    setup.index.add_release(
        name,
        "1.0",
        [DistFile(setup.filename(name), content, provenance=provenance)],
        project_urls={"Source": f"https://github.com/acme/{name}"},
    )
    for entry in (setup.cache / "http").rglob("*"):
        if entry.is_file():
            entry.unlink()  # the next run fetches the new provenance


def _entries(setup: Setup) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted((setup.cache / "verdicts").glob("*/*.verdict")):
        out[path.stem] = json.loads(path.read_bytes().partition(b"\n")[2])
    return out


def _plant(setup: Setup, key: str, result: dict[str, Any], secret: bytes) -> None:
    text = json.dumps(result, sort_keys=True).encode()
    mac = hmac.new(secret, key.encode() + b"\n" + text, hashlib.sha256).hexdigest()
    path = setup.cache / "verdicts" / key[:2] / f"{key}.verdict"
    path.write_bytes(mac.encode() + b"\n" + text)


def _turn_contradicted_into_proven(setup: Setup, proven: dict[str, Any], secret: bytes) -> int:
    planted = 0
    for key, result in _entries(setup).items():
        if result["status"] == "contradicted":
            _plant(setup, key, proven, secret)
            planted += 1
    return planted


def _outcomes(done: Run) -> list[str]:
    return [f["outcome"] for f in done.findings() if f["check"] == "attestation"]


# -- 1. The Action's cache: the key travels with the cache, so verdicts can be forged ----------


def test_the_actions_restored_state_cannot_turn_a_failed_verification_into_a_pass(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/verifying.md, "The Action's cache": "every signature, certificate and digest is
    verified again on every run". With the verdict cache that stopped being true: whoever can
    write the restored state (a pull_request_target/workflow_run job running a contributor's
    code, a self-hosted runner's other job) holds the key that travels in it, and can make any
    provenance PROVEN without a signature. Before issue 14 such a writer could only forge
    responses, whose signatures were still verified.
    """
    state = setup.tmp / "verify-release-state"
    monkeypatch.setenv("VERIFY_RELEASE_DATA_DIR", str(state / "data"))
    setup.cache = state / "cache"
    legit = _run(setup, capsys)
    assert legit.code == 0, legit.err
    proven = next(r for r in _entries(setup).values() if r["subject"].startswith("alpha"))
    # A release of alpha whose provenance was signed by somebody else's repository.
    _serve_by(setup, "alpha", "mallory/alpha")
    cold = _run(setup, capsys)
    assert cold.code != 0
    # The attacker reads the key from the restored state and re-MACs a PROVEN result.
    secret = bytes.fromhex((state / "data" / "cache.key").read_text())
    assert _turn_contradicted_into_proven(setup, proven, secret) == 1
    # The Action never reuses verdicts (scripts/action_run.py passes --no-verdict-cache;
    # tests/e2e/test_action.py asserts its argv): the signature is verified again.
    warm = _run(setup, capsys, "--no-verdict-cache")
    assert warm.code == cold.code, f"warm run passed: {_outcomes(warm)}"


# -- 2. A cache key file owned by another user is trusted -----------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the key file to another uid")
def test_a_key_file_another_user_planted_is_not_trusted(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``VERIFY_RELEASE_DATA_DIR`` in a shared place (/tmp, a shared runner's work dir): another
    local user pre-creates ``cache.key`` with a secret of their choosing; ``store._read_key``
    checks neither owner nor mode, so every verdict that user writes is authenticated.
    """
    data = setup.tmp / "shared-data"
    data.mkdir(mode=0o777)
    secret = b"m" * 32
    key_file = data / "cache.key"
    key_file.write_text(secret.hex())
    os.chown(data, 65534, 65534)
    os.chown(key_file, 65534, 65534)
    key_file.chmod(0o644)
    monkeypatch.setenv("VERIFY_RELEASE_DATA_DIR", str(data))
    legit = _run(setup, capsys)
    assert legit.code == 0, legit.err
    # The planted key is not used: nothing is cached under it, so nothing it MACs is believed.
    assert _entries(setup) == {}
    _serve_by(setup, "alpha", "mallory/alpha")
    cold = _run(setup, capsys)
    assert cold.code != 0
    warm = _run(setup, capsys)
    assert warm.code == cold.code, f"warm run passed: {_outcomes(warm)}"


# -- 3. "The tool version" is a constant: a fixed verifier reuses the buggy one's verdicts ---


def test_a_fixed_checker_does_not_reuse_the_verdicts_of_the_buggy_one(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``verifier.__version__`` is "0.1.0" for every commit (pyproject reads it), so the version
    alone does not change when the verification code does; the key holds a digest of the code.
    Simulated: an identity check that accepts any repository (the bug), then the real one (the
    fix, new code on disk), with the same version string: the warm run must verify again.
    """
    _serve_by(setup, "alpha", "mallory/alpha")
    real = AttestationChecker._identity_policy

    def buggy(self: Any, expected: Any, record: Any, cert: Any) -> Any:
        from sigstore.verify.policy import UnsafeNoOp

        return UnsafeNoOp(), "anything"

    monkeypatch.setattr(AttestationChecker, "_identity_policy", buggy)
    old = _run(setup, capsys)
    assert old.code == 0, old.err  # the bug: mallory's provenance passes
    monkeypatch.setattr(AttestationChecker, "_identity_policy", real)
    # The fix is new code on disk: its source digest (part of every verdict's key) differs.
    from verifier import verdicts

    monkeypatch.setattr(verdicts, "_source_digest", lambda: "the fixed code")
    fixed_cold = _run(setup, capsys, "--no-cache")
    assert fixed_cold.code != 0  # the fix, cold: refused
    fixed_warm = _run(setup, capsys)
    assert fixed_warm.code == fixed_cold.code, f"warm run passed: {_outcomes(fixed_warm)}"
