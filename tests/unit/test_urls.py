"""``redact_urls``: the fast search for URLs in text equals the pattern tried everywhere."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier import urls
from verifier.urls import redact_urls, redact_urls_by_pattern

_PIECES = (
    "://",
    ":/",
    "//",
    "/",
    ":",
    "@",
    "https",
    "http://",
    "git+https://",
    "svn+ssh://",
    "x.y-z+w://",
    "1http://",
    "-ftp://",
    "//user:pw@host",
    "user:pa/ss@",
    "__token__@",
    "u:p@q@",
    "[::1]:8080",
    "host.example",
    ":443",
    "?",
    "#",
    "&",
    ";",
    "=",
    "token=",
    "X-Amz-Signature=",
    "sig%3D",
    "%40",
    "%2F",
    "a=1",
    "'",
    ")",
    ".",
    ",",
    "]",
    "}",
    '"',
    "<",
    ">",
    "`",
    "\\",
    " ",
    "\n",
    "\t",
    "\u00a0",  # no-break space: white space to the pattern's \s
    "\u2028",
    "\x1c",
    "\x85",
    "é",
    "ß",
    "Ⅻ",  # a letter outside [A-Za-z]
    "\uff48\uff54\uff54\uff50://",  # full-width letters, then "://"
    "🔑",
    "\udcff",
    "a",
    "Z",
    "0",
    "+",
    "-",
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=3)), max_size=40))
def test_redact_urls_equals_the_pattern_over_hostile_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert redact_urls(text) == redact_urls_by_pattern(text)


@given(st.text())
def test_redact_urls_equals_the_pattern_over_any_text(text: str) -> None:
    assert redact_urls(text) == redact_urls_by_pattern(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see //user:pw@host/x", "see //user:pw@host/x"),  # no scheme: not a URL to the pattern
        ("xhttps://u:p@h/a", "xhttps://***@h/a"),  # the scheme is the whole run
        ("1https://u:p@h/a 2x://u:p@h", "1https://u:p@h/a 2x://u:p@h"),  # no letter first
        ("a://b://u:p@h", "a://***@h"),  # one URL: the first "://" starts it
        ("é://u:p@h ok://u:p@h", "é://u:p@h ok://***@h"),
        ("https://u:p@h/'), next", "https://***@h/'), next"),
        ("https:// x", "https:// x"),  # nothing after "://": no match
        ("1x://yy://u:p@h", "1x://yy://***@h"),  # a refused start, then one after '/'
    ],
)
def test_redact_urls_finds_what_the_pattern_finds(text: str, expected: str) -> None:
    assert redact_urls(text) == expected == redact_urls_by_pattern(text)


class _CountingPattern:
    """``_URL_IN_TEXT`` that counts ``match`` and refuses a scan of the whole text."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.matches = 0

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        self.matches += 1
        return self.pattern.match(text, pos)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"redact_urls scanned the whole text with {name}")


def test_redact_urls_tries_the_pattern_only_where_a_url_can_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counting = _CountingPattern(urls._URL_IN_TEXT)
    monkeypatch.setattr(urls, "_URL_IN_TEXT", counting)
    filler = '{"sha256": "' + "ab" * 32 + '", "name": "benchpkg-1.0.tar.gz"}\n'
    text = (
        filler * 2000
        + "from https://user:pw@index.example/simple/x/ "
        + filler * 2000
        + "1x://not-one "
    )
    assert redact_urls(text) == text.replace("user:pw@", "***@")
    assert counting.matches == 2
