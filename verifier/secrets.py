"""Credentials that cannot leak by accident.

A ``Secret`` renders as ``***`` in ``str``, ``repr`` and f-strings, refuses to be pickled, and
gives its value only through ``.get()``, which only ``http.py`` calls, and only for requests
to the host the secret belongs to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NoReturn

TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")


class Secret:
    """A credential bound to one host."""

    __slots__ = ("_host", "_value")

    def __init__(self, value: str, *, host: str) -> None:
        self._value = value
        self._host = host.lower()

    @property
    def host(self) -> str:
        """The only host this secret may be sent to."""
        return self._host

    def get(self) -> str:
        """The value itself; the one way out."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('***', host={self._host!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: object) -> Secret:
        return self


def token_from_env(host: str, environ: Mapping[str, str] | None = None) -> Secret | None:
    """``GITHUB_TOKEN`` (or ``GH_TOKEN``) from the environment, bound to ``host``."""
    env = os.environ if environ is None else environ
    for name in TOKEN_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return Secret(value, host=host)
    return None
