"""a validly signed PEP 740 attestation whose in-toto payload is deeply nested JSON.

sigstore's verify_dsse returns the payload without parsing it; _check_statement then calls
json.loads on it OUTSIDE any try in AttestationChecker._verify_one, so the RecursionError
escapes check_provenance and the whole run dies (exit 4), for a pin and for every lockfile.
The index is attacker-controlled in the threat model; the signer only has to match the
identity policy (here the expected publisher, or the index's own publisher record).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.helpers import run
from tests.servers import DistFile, FakeIndex
from tests.sigstore_local import GitHubClaims, LocalSigstore

WHEEL = "widget-1.0.0-py3-none-any.whl"
DATA = b"a wheel's bytes, as the index serves them"


def _nested_provenance(stack: LocalSigstore, claims: GitHubClaims) -> bytes:
    # Valid JSON, nested past the parser's recursion limit, signed by the expected publisher.
    return stack.provenance(WHEEL, DATA, claims, payload=b"[" * 50_000 + b"]" * 50_000)


@pytest.mark.parametrize("repository", [True, False], ids=["--repository", "index-record"])
def test_signed_nested_statement_is_a_failure_not_a_crash(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path, repository: bool
) -> None:
    stack = LocalSigstore()
    root = stack.write_trusted_root(tmp_path / "trusted_root.json")
    claims = GitHubClaims(repository="acme/widget", workflow="release.yml")
    index.add_release("widget", "1.0.0", [DistFile(WHEEL, DATA, _nested_provenance(stack, claims))])
    args = [
        "widget==1.0.0",
        "--index-url",
        index.url,
        "--trusted-root",
        str(root),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--offline",
        "-q",
        "--skip",
        "bundles",
        "--skip",
        "tags",
        "--skip",
        "vulnerabilities",
    ]
    if repository:
        args += ["--repository", "https://github.com/acme/widget"]
    result = run(capsys, *args)
    assert result.code == 1, result.out
    assert "signed statement is not JSON: nested too deeply" in result.out
