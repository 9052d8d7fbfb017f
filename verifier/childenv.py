"""The environment of every child process this project starts: an allow-list, never a deny-list.

A child inherits whatever it is given, and the caller's environment is input like any other:
it holds credentials (``GITHUB_TOKEN``, cloud keys, CI tokens under names nobody can list in
advance) and variables that re-aim the child (``GIT_DIR`` reads and writes another repository,
``GIT_CONFIG_COUNT`` injects configuration, ``GIT_SSH_COMMAND`` runs a program,
``PIP_AUDIT_OUTPUT`` moves a report). A deny-list misses the next such name; this module passes
on only what a child needs to find its programs, speak the user's locale and reach the network
through the user's proxy and CA bundle, plus what the caller adds explicitly (``GNUPGHOME``).

Every ``subprocess`` call in ``verifier/`` takes its ``env=`` from ``child_environment``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from verifier.secrets import TOKEN_VARIABLES

ALLOWED_VARIABLES = frozenset(
    {
        # Finding programs, a home, a temporary directory, the clock.
        "PATH",
        "HOME",
        "TMPDIR",
        "TZ",
        "LANG",
        # The user's proxies, as requests (pip-audit) and libcurl (git) read them.
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        # The user's CA bundle: OpenSSL, requests, and git's own names for it. They decide which
        # TLS servers are believed, never whether a signature or a digest verifies.
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
        "GIT_SSL_CAPATH",
    }
)
"""Variables copied from this process's environment, when set."""
ALLOWED_PREFIXES = ("LC_",)
"""Locale categories (``LC_ALL``, ``LC_CTYPE`` ...)."""


def child_environment(
    extra: Mapping[str, str] | None = None, *, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A complete environment for a child: allow-listed variables of ``environ``, then ``extra``.

    ``environ`` defaults to ``os.environ``. Pass the result as ``env=`` (the whole environment,
    never merged into ``os.environ``). ``extra`` holds what the caller decided the child needs
    (``GNUPGHOME``, git's own settings); naming a token there is a bug and raises ``ValueError``.
    """
    source = os.environ if environ is None else environ
    env = {
        key: value
        for key, value in source.items()
        if key in ALLOWED_VARIABLES or key.startswith(ALLOWED_PREFIXES)
    }
    for key, value in (extra or {}).items():
        if key in TOKEN_VARIABLES:
            raise ValueError(f"{key} must never be given to a child process")
        env[key] = value
    return env
