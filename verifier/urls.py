"""The one URL redactor: what a URL may show once it becomes text.

Private indexes are reached as ``https://user:password@host/simple/`` and the files their pages
list are resolved against that page URL, so they inherit the password; download hosts sign URLs
with query parameters (``X-Amz-Signature``, ``sig``, ``token``). Every place where a URL turns
into text (an error message, a report, a stored response's metadata, a lockfile message) goes
through ``redact_url``, or through ``redact_urls`` for text that may embed URLs, so that the rule
lives here once:

- user information (``user:password@``, ``__token__@``) becomes ``***@``;
- the value of every query or fragment parameter whose name looks like a credential becomes
  ``***`` (the name stays, so a reader still sees *which* parameter was there);
- everything else, host, port, path, other parameters, stays exactly as written.

This is string surgery, not ``urllib.parse``: it must never raise on a hostile URL (it runs while
an error about that URL is being reported) and must not normalise what it does not mask.
Redaction is for display only: cache keys are computed from the real URL (see ``store.py``).
"""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote

MASK = "***"

_SECRET_NAME_PARTS = (
    "token",
    "key",
    "sig",
    "secret",
    "pass",
    "pwd",
    "auth",
    "cred",
    "session",
    "jwt",
    "code",
)
"""Substrings of a parameter name that mark its value as a credential.

Deliberately broad (``sig`` covers ``signature``, ``X-Amz-Signature``, Azure's ``sig``; ``cred``
covers ``X-Amz-Credential``; ``key`` covers ``api_key``, ``Key-Pair-Id``): masking a harmless
value costs a little detail in a message, missing a secret leaks it.
"""

_URL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s\"<>`\\]+")
_TRAILING = "'),.;:]}"
_SCHEME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+.-")
"""What ``[A-Za-z0-9+.-]`` in ``_URL_IN_TEXT`` matches: the characters of a scheme."""


def is_secret_parameter(name: str) -> bool:
    """Whether a query parameter called ``name`` (percent-encoded or not) holds a credential."""
    lowered = unquote(name).lower()
    return any(part in lowered for part in _SECRET_NAME_PARTS)


def _mask_parameters(text: str) -> str:
    """``a=1&token=x`` -> ``a=1&token=***``; pieces without ``=`` are kept as they are."""
    pieces = re.split(r"([&;])", text)
    for index in range(0, len(pieces), 2):
        name, equals, _value = pieces[index].partition("=")
        if equals and is_secret_parameter(name):
            pieces[index] = f"{name}={MASK}"
    return "".join(pieces)


def redact_url(url: str) -> str:
    """``url`` fit to show: user information masked as ``***@``, credential parameters as ``***``.

    Never raises, whatever ``url`` is; a string that is not a URL comes back unchanged.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return _redact_tail(url)
    authority_end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found != -1:
            authority_end = min(authority_end, found)
    authority, tail = rest[:authority_end], rest[authority_end:]
    if "@" not in authority and _password_runs_on(authority) and "@" in tail:
        # ``user:pa/ss@host``: an unencoded '/', '?' or '#' in a password ends what a URL
        # parser takes for the authority (its "port" is then not a number). Everything up to
        # the next '@' is the password's rest: mask it too, never print it.
        hidden, _, tail = tail.partition("@")
        authority = f"{authority}{hidden}@"
    if "@" in authority:
        authority = f"{MASK}@" + authority.rpartition("@")[2]
    return f"{scheme}://{authority}{_redact_tail(tail)}"


def _password_runs_on(authority: str) -> bool:
    """``user:secret`` with no host yet: a colon followed by something that is not a port."""
    _, colon, after = authority.rpartition(":")
    return bool(colon) and "]" not in after and not after.isdigit()


def _redact_tail(tail: str) -> str:
    """Mask credential parameters in the query and in a parameter-shaped fragment."""
    before_fragment, hash_mark, fragment = tail.partition("#")
    path, question, query = before_fragment.partition("?")
    if question:
        query = _mask_parameters(query)
    if hash_mark:
        fragment = _mask_parameters(fragment)
    return f"{path}{question}{query}{hash_mark}{fragment}"


def redact_urls(text: str) -> str:
    """Every URL inside free text redacted (error messages, rendered reports).

    A URL ends at white space, a double quote, ``<``, ``>``, a backtick or a backslash (never
    part of a URL, but the start of an escape in text already made safe for a terminal);
    trailing punctuation that usually closes a sentence or a ``repr`` (``'``, ``)``, ``.`` ...)
    is kept outside it.
    """
    if "://" not in text:
        return text  # the pattern needs "://": a report's 20,000 strings mostly have none
    # Equivalent to ``_URL_IN_TEXT.sub(_redact_match, text)`` (``redact_urls_by_pattern``;
    # a property test compares the two), without trying the pattern at each of a megabyte's
    # positions. Every match holds "://" right after its scheme, and its scheme is the whole
    # run of scheme characters before that "://" (the look-behind refuses a start inside a
    # run; ':' ends one). So the only start worth trying for each "://" is the start of that
    # run; the pattern itself, tried there, still decides (a letter first, the look-behind,
    # at least one character after "://"). Runs between two "://" do not overlap, so walking
    # back is linear in the text.
    parts: list[str] = []
    done = 0  # text[:done] is in parts already; the pattern would resume its search here
    at = text.find("://")
    while at != -1:
        start = at
        while start > done and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        match = _URL_IN_TEXT.match(text, start)
        if match is None:
            at = text.find("://", at + 1)
            continue
        parts.append(text[done:start])
        parts.append(_redact_match(match))
        done = match.end()
        at = text.find("://", done)
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def redact_urls_by_pattern(text: str) -> str:
    """``redact_urls`` by the plain definition: the pattern tried at every position.

    The reference the fast ``redact_urls`` is tested against; nothing else should call it.
    """
    return _URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    return _redact_found(match.group(0))


@functools.lru_cache(maxsize=4096)
def _redact_found(found: str) -> str:
    """One URL found in text, redacted.

    Cached: a pure function, and a rendered lockfile report names the same few thousand URLs
    many times over in a megabyte of text.
    """
    stripped = found.rstrip(_TRAILING)
    return redact_url(stripped) + found[len(stripped) :]
