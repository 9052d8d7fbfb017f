r"""Renderers: pure functions from a ``Report`` to text; none of them does I/O.

``render`` is the one boundary every report crosses on its way out (stdout, ``--output``,
``--sarif``, ``$GITHUB_STEP_SUMMARY``), so the rules for what may leave live here, once, and
the renderers stay plain formatting:

1. **The model is sanitised before any renderer sees it** (``sanitize_report``). Every string
   in the report, whatever dataclass holds it, has its URLs redacted (``verifier.urls``): a file
   URL resolved against ``https://user:password@index/`` carries the password, and a renderer
   may quote, percent-encode or JSON-escape a value so that no pass over the *output* could
   still recognise it. For the formats read on a terminal (text, summary) every string also has
   its control characters and bidi overrides escaped (``terminal_safe``), one field at a time,
   so that a line feed inside a hostile file name cannot forge a text report line either (the
   summary keeps line feeds in values: its renderer turns them into ``<br>``).
2. **The output is checked again** (``_final_pass``): URLs in the rendered text are redacted
   (anything a renderer added itself), and for text and summary any control character other
   than the renderer's own line breaks is escaped. JSON and SARIF need no escaping of their
   own: ``json.dumps`` escapes C0 controls always and everything non-ASCII with ``ensure_ascii``
   (the JSON renderer); SARIF is written with ``ensure_ascii=False``, so C1 controls and bidi
   overrides are replaced here by their ``\uXXXX`` JSON escapes, which decode to the same text.

Sanitising the model rather than the findings where they are made keeps one rule for every
producer, including those being written now; the output pass is the safety net.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Mapping
from typing import Any

from verifier.models import Report
from verifier.urls import redact_urls

FORMATS = ("text", "json", "sarif", "summary")
"""Every ``fmt`` that ``render`` accepts."""

_TERMINAL_FORMATS = ("text", "summary")

_UNSAFE_REST = (
    "\x7f-\x9f"  # DEL and C1 (CSI, NEL ...)
    "\u061c\u200e\u200f"  # Arabic letter mark, left-to-right and right-to-left marks
    "\u2028\u2029"  # line and paragraph separators
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2066-\u2069"  # bidi isolates
    "\ud800-\udfff"  # lone surrogates (non-UTF-8 bytes decoded with surrogateescape): no
    # UTF-8 writer can write them, so they are shown escaped (\udcff), never crash a report
)
_UNSAFE_CHARS = re.compile(f"[\x00-\x1f{_UNSAFE_REST}]")
"""C0 (ESC, CR, BEL, backspace, line feed ...), DEL, C1 and the bidi controls."""
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_UNSAFE_REST}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str, *, keep_newlines: bool = False) -> str:
    r"""``text`` with control characters and bidi overrides shown escaped (``\x1b``, ``\u202e``).

    Text from the network (file names, index errors, publisher records, tag messages) must not
    move the cursor, clear the screen, rewrite a line with a carriage return or reorder what a
    reader sees. ``keep_newlines`` keeps line feeds, for text whose lines are our own.
    """
    pattern = _UNSAFE_BUT_NEWLINE if keep_newlines else _UNSAFE_CHARS
    return pattern.sub(_escape, text)


def safe_line(text: str) -> str:
    """``text`` fit for one line on a terminal: URLs redacted, every control character escaped.

    The one helper for everything ``cli.py`` prints besides the report (errors, warnings,
    progress, log records): their text often quotes what a server sent.
    """
    return terminal_safe(redact_urls(text))


def _json_safe(text: str) -> str:
    r"""Raw unsafe characters in JSON output replaced by their ``\uXXXX`` escapes (same value)."""
    return _UNSAFE_BUT_NEWLINE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


_KEEP, _STR, _DATACLASS, _TUPLE, _LIST, _MAPPING = range(6)
_PLANS: dict[type, tuple[int, tuple[str, ...]]] = {}
"""How ``_scrub`` walks each type it meets, decided once per type: a report holds 40,000
values of a dozen types, and asking ``is_dataclass``/``fields`` of each one cost more than
cleaning the strings themselves."""


def _plan(kind: type) -> tuple[int, tuple[str, ...]]:
    plan = _PLANS.get(kind)
    if plan is None:
        if issubclass(kind, enum.Enum) or kind is type(None) or issubclass(kind, (int, float)):
            plan = (_KEEP, ())  # bool is an int; enum members stay what the renderers expect
        elif issubclass(kind, str):
            plan = (_STR, ())
        elif dataclasses.is_dataclass(kind):
            plan = (_DATACLASS, tuple(f.name for f in dataclasses.fields(kind) if f.init))
        elif issubclass(kind, tuple):
            plan = (_TUPLE, ())
        elif issubclass(kind, list):
            plan = (_LIST, ())
        elif issubclass(kind, Mapping):
            plan = (_MAPPING, ())
        else:
            plan = (_KEEP, ())
        _PLANS[kind] = plan
    return plan


def _scrub(value: Any, clean: Callable[[str], str]) -> Any:
    """``value`` with ``clean`` applied to every string inside it (dataclasses, tuples, maps).

    Containers and dataclasses whose strings are all clean already are returned as they are
    (the same object), so a clean report costs one walk and no copies.
    """
    how, names = _plan(type(value))
    if how == _STR:
        return clean(value)
    if how == _KEEP:
        return value
    if how == _DATACLASS:
        changes = {}
        for name in names:
            old = getattr(value, name)
            new = clean(old) if type(old) is str else _scrub(old, clean)
            if new is not old:
                changes[name] = new
        if not changes:
            return value
        try:
            return dataclasses.replace(value, **changes)
        except (TypeError, ValueError):
            return value  # a model that refuses the cleaned values: the output pass remains
    if how == _MAPPING:
        pairs = [(_scrub(k, clean), _scrub(v, clean)) for k, v in value.items()]
        olds = value.items()
        if all(k is ok and v is ov for (k, v), (ok, ov) in zip(pairs, olds, strict=True)):
            return value
        return dict(pairs)
    items = [_scrub(v, clean) for v in value]
    if all(new is old for new, old in zip(items, value, strict=True)):
        return value
    return tuple(items) if how == _TUPLE else items


def sanitize_report(report: Report, fmt: str) -> Report:
    """``report`` with every URL redacted and, for terminal formats, every string escaped.

    The summary keeps line feeds inside values: its renderer turns them into ``<br>`` within
    the cell. The text report escapes them, since a line feed in a file name could otherwise
    print a line that looks like one of ours.
    """
    terminal = fmt in _TERMINAL_FORMATS
    keep_newlines = fmt == "summary"

    cleaned: dict[str, str] = {}

    def clean(text: str) -> str:
        # A lockfile report repeats the same strings (rules, sources, publishers) thousands
        # of times: each distinct one is cleaned once.
        done = cleaned.get(text)
        if done is None:
            done = redact_urls(text)
            done = terminal_safe(done, keep_newlines=keep_newlines) if terminal else done
            cleaned[text] = done
        return text if done == text else done  # the very object: its holder needs no copy

    scrubbed: Report = _scrub(report, clean)
    return scrubbed


_ASCII_CONTROLS = bytes([*range(0x0A), *range(0x0B, 0x20), 0x7F])
_ASCII_PRINTABLE = bytes(b for b in range(0x80) if b not in _ASCII_CONTROLS)


def _json_needs_escapes(text: str) -> bool:
    """Whether ``_json_safe`` would change ``text``; the fast answer for ASCII output.

    The JSON report is ASCII (``ensure_ascii``), where only C0 and DEL can occur: deleting every
    other byte in C leaves them, where the regex would scan a megabyte one character at a time.
    """
    if not text.isascii():
        return True
    return bool(text.encode("ascii").translate(None, _ASCII_PRINTABLE))


def _final_pass(text: str, fmt: str) -> str:
    text = redact_urls(text)
    if fmt in _TERMINAL_FORMATS:
        return terminal_safe(text, keep_newlines=True)
    return _json_safe(text) if _json_needs_escapes(text) else text


def render(report: Report, fmt: str, *, verbose: bool = False, columns: int | None = None) -> str:
    """Render ``report`` in ``fmt``: ``text``, ``json``, ``sarif`` (2.1.0) or ``summary``.

    ``summary`` is GitHub-flavoured Markdown for ``$GITHUB_STEP_SUMMARY``. Any other ``fmt``
    falls back to ``text``. The result holds no URL credentials and, for text and summary, no
    raw control characters (see the module docstring). ``verbose`` and ``columns`` (the
    terminal's width, decided by the caller) shape the text report only.
    """
    if fmt not in FORMATS:
        fmt = "text"
    report = sanitize_report(report, fmt)
    return _final_pass(_render(report, fmt, verbose=verbose, columns=columns), fmt)


def _render(report: Report, fmt: str, *, verbose: bool, columns: int | None) -> str:
    if fmt == "json":
        from verifier.report.json import render_json

        return render_json(report)
    if fmt == "sarif":
        from verifier.report.sarif import render_sarif

        return render_sarif(report)
    if fmt == "summary":
        from verifier.report.summary import render_summary

        return render_summary(report)
    from verifier.report.text import DEFAULT_COLUMNS, render_text

    return render_text(report, verbose=verbose, columns=columns or DEFAULT_COLUMNS)
