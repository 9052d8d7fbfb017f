"""A password holding an unencoded '/', '?' or '#' (base64 tokens hold '/') is printed.

redact_url ends the authority at the first '/', '?' or '#', so 'user:abc/def@host' has no '@'
in what it takes for the authority and nothing is masked; check_url then quotes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.helpers import run

SECRET = "s3cr3tPASS"


@pytest.mark.parametrize("sep", ["/", "?", "#"])
def test_password_with_reserved_char_leaks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sep: str
) -> None:
    url = f"https://alice:{SECRET}{sep}xyz@private.example/simple/"
    result = run(
        capsys, "demo==1.0", "--index-url", url, "--cache-dir", str(tmp_path / "c"), "--offline"
    )
    assert result.code == 3, result.err
    assert SECRET not in result.err + result.out, result.err
    assert "https://***@private.example/simple/" in result.err


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://a:b/c@h.example/x", "https://***@h.example/x"),
        ("https://a:b?c@h.example/x", "https://***@h.example/x"),
        ("https://h.example:8443/p@q", "https://h.example:8443/p@q"),
        ("https://[::1]:8443/p@q", "https://[::1]:8443/p@q"),
        ("https://h.example/p@q", "https://h.example/p@q"),
    ],
)
def test_redaction_of_reserved_characters_keeps_real_hosts(url: str, shown: str) -> None:
    from verifier.urls import redact_url

    assert redact_url(url) == shown
