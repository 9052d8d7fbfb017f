"""The token type: it renders redacted everywhere and cannot be pickled or leak by accident."""

from __future__ import annotations

import copy
import pickle

import pytest

from verifier.errors import NetworkError
from verifier.github import GitHubClient
from verifier.http import HttpClient, HttpConfig
from verifier.secrets import Secret, token_from_env

VALUE = "ghp_secretvalue123"


def test_secret_is_redacted_in_every_rendering() -> None:
    secret = Secret(VALUE, host="api.github.com")
    for text in (
        str(secret),
        repr(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>40}",
        "{}".format(secret),  # noqa: UP032
        str([secret]),
        str({"t": secret}),
    ):
        assert VALUE not in text
        assert "***" in text
    assert secret.get() == VALUE


def test_secret_cannot_be_pickled() -> None:
    secret = Secret(VALUE, host="api.github.com")
    with pytest.raises(TypeError, match="a Secret cannot be pickled"):
        pickle.dumps(secret)
    assert copy.deepcopy(secret) is secret


def test_token_from_env_prefers_github_token() -> None:
    token = token_from_env("api.github.com", {"GITHUB_TOKEN": " a ", "GH_TOKEN": "b"})
    assert token is not None
    assert token.get() == "a"
    assert token.host == "api.github.com"
    fallback = token_from_env("h", {"GH_TOKEN": "b"})
    assert fallback is not None
    assert fallback.get() == "b"
    assert token_from_env("h", {}) is None


def test_token_not_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", VALUE)
    client = GitHubClient.from_env(HttpClient(HttpConfig(max_retries=0)), "http://127.0.0.1:9")
    with pytest.raises(NetworkError) as excinfo:
        client.release_by_tag("acme/widget", "v1")
    assert VALUE not in str(excinfo.value)
    assert VALUE not in repr(client.token)
    assert VALUE not in repr(vars(client))
