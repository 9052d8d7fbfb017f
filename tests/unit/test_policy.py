"""Expected publishers from repository URLs and project metadata; the missing-evidence rule."""

from __future__ import annotations

import pytest

from verifier.errors import PolicyError, UsageError
from verifier.policy import (
    ExpectedPublisher,
    parse_repository_url,
    publisher_from_project_urls,
)

NOT_A_REPO_HINT = "pass it as https://github.com/OWNER/REPO or https://gitlab.com/GROUP/PROJECT"


# -- parse_repository_url -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind", "repository"),
    [
        ("https://github.com/pypa/sampleproject", "GitHub", "pypa/sampleproject"),
        ("https://github.com/pypa/sampleproject/", "GitHub", "pypa/sampleproject"),
        ("https://github.com/pypa/sampleproject.git", "GitHub", "pypa/sampleproject"),
        ("https://github.com/pypa/sampleproject.git/", "GitHub", "pypa/sampleproject"),
        ("https://www.github.com/pypa/sampleproject", "GitHub", "pypa/sampleproject"),
        ("https://GitHub.com/pypa/sampleproject", "GitHub", "pypa/sampleproject"),
        ("  https://github.com/pypa/sampleproject  ", "GitHub", "pypa/sampleproject"),
        ("https://github.com/trailofbits/rfc8785.py", "GitHub", "trailofbits/rfc8785.py"),
        ("https://github.com/pypa/sampleproject/issues", "GitHub", "pypa/sampleproject"),
        ("https://github.com/pypa/sampleproject/issues/12", "GitHub", "pypa/sampleproject"),
        ("https://github.com/pypa/sampleproject/tree/main/src", "GitHub", "pypa/sampleproject"),
        ("https://github.com/pypa/sampleproject#readme", "GitHub", "pypa/sampleproject"),
        ("https://github.com/pypa/sampleproject?tab=readme", "GitHub", "pypa/sampleproject"),
        ("https://gitlab.com/group/project", "GitLab", "group/project"),
        ("https://www.gitlab.com/group/project.git", "GitLab", "group/project"),
        ("https://gitlab.com/group/sub/project", "GitLab", "group/sub/project"),
        ("https://gitlab.com/group/sub/deeper/project/", "GitLab", "group/sub/deeper/project"),
        (
            "https://gitlab.com/facutuesca/gitlab-oidc-project",
            "GitLab",
            "facutuesca/gitlab-oidc-project",
        ),
    ],
)
def test_parse_repository_url_accepts_forge_urls(url: str, kind: str, repository: str) -> None:
    publisher = parse_repository_url(url, source="command line")
    assert publisher.kind == kind
    assert publisher.repository == repository
    assert publisher.source == "command line"
    assert publisher.workflow is None
    assert publisher.environment is None


@pytest.mark.parametrize(
    "url",
    [
        "http://github.com/pypa/sampleproject",
        "git+https://github.com/pypa/sampleproject",
        "ssh://git@github.com/pypa/sampleproject",
        "git@github.com:pypa/sampleproject.git",
        "https://bitbucket.org/owner/repo",
        "https://codeberg.org/owner/repo",
        "https://gitlab.example.com/group/project",
        "https://github.com.evil.example/pypa/sampleproject",
        "https://github.com@evil.example/pypa/sampleproject",
        "https://evilgithub.com/pypa/sampleproject",
        "https://github.com/",
        "https://github.com",
        "https://github.com/pypa/sample project",
        "https://github.com/pypa/sampleproject/.git",
        "github.com/pypa/sampleproject",
        "pypa/sampleproject",
        "",
    ],
)
def test_parse_repository_url_refuses_everything_else_with_a_hint(url: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_repository_url(url, source="command line")
    assert str(info.value) == f"{url!r} is not a GitHub or GitLab repository URL"
    assert info.value.hint == NOT_A_REPO_HINT
    assert isinstance(info.value, UsageError)


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("https://github.com/pypa", "https://github.com/pypa/REPOSITORY"),
        ("https://gitlab.com/group", "https://gitlab.com/group/REPOSITORY"),
    ],
)
def test_an_owner_alone_is_not_a_repository(url: str, hint: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_repository_url(url, source="command line")
    assert str(info.value) == f"{url!r} does not name a repository (OWNER/REPO)"
    assert info.value.hint == f"pass it as {hint}"


def test_parse_repository_url_keeps_workflow_environment_and_source() -> None:
    publisher = parse_repository_url(
        "https://github.com/pypa/sampleproject",
        source="index project URLs",
        workflow="release.yml",
        environment="pypi",
    )
    assert publisher == ExpectedPublisher(
        kind="GitHub",
        repository="pypa/sampleproject",
        workflow="release.yml",
        environment="pypi",
        source="index project URLs",
    )


def test_github_workflow_must_be_a_file_name() -> None:
    with pytest.raises(PolicyError) as info:
        parse_repository_url(
            "https://github.com/pypa/sampleproject",
            source="command line",
            workflow=".github/workflows/release.yml",
        )
    assert str(info.value) == (
        "--workflow '.github/workflows/release.yml': give the workflow's file name "
        "(e.g. release.yml), not a path"
    )


def test_gitlab_workflow_may_be_a_path() -> None:
    publisher = parse_repository_url(
        "https://gitlab.com/group/project", source="command line", workflow="ci/release.yml"
    )
    assert publisher.workflow == "ci/release.yml"


def test_gitlab_dash_separator_ends_the_project_path() -> None:
    publisher = parse_repository_url("https://gitlab.com/group/project/-/issues", source="x")
    assert publisher.repository == "group/project"


def test_publisher_url_and_dict() -> None:
    github = parse_repository_url("https://www.github.com/o/r.git", source="command line")
    gitlab = parse_repository_url("https://gitlab.com/g/s/p", source="index project URLs")
    assert github.url == "https://github.com/o/r"
    assert gitlab.url == "https://gitlab.com/g/s/p"
    assert gitlab.as_dict() == {
        "kind": "GitLab",
        "repository": "https://gitlab.com/g/s/p",
        "workflow": None,
        "environment": None,
        "source": "index project URLs",
    }


# -- publisher_from_project_urls ----------------------------------------------------------------


def test_source_beats_homepage() -> None:
    publisher = publisher_from_project_urls(
        {
            "Homepage": "https://github.com/someone/homepage-repo",
            "Source": "https://github.com/someone/source-repo",
        }
    )
    assert publisher is not None
    assert publisher.repository == "someone/source-repo"
    assert publisher.source == "index project URLs"


def test_ranking_follows_conventional_labels_case_and_space_insensitively() -> None:
    urls = {
        "home page": "https://github.com/o/home",
        "  REPOSITORY ": "https://github.com/o/repository",
        "Source Code": "https://github.com/o/source-code",
    }
    publisher = publisher_from_project_urls(urls)
    assert publisher is not None
    assert publisher.repository == "o/source-code"


def test_non_forge_urls_are_ignored() -> None:
    publisher = publisher_from_project_urls(
        {
            "Source": "https://git.example.org/o/r",
            "Repository": "http://github.com/o/insecure",
            "Homepage": "https://gitlab.com/g/p",
            "Documentation": "https://docs.example.org/",
        }
    )
    assert publisher is not None
    assert (publisher.kind, publisher.repository) == ("GitLab", "g/p")


def test_unconventional_labels_come_last() -> None:
    publisher = publisher_from_project_urls(
        {"Bug Tracker": "https://github.com/o/tracker", "Homepage": "https://github.com/o/home"}
    )
    assert publisher is not None
    assert publisher.repository == "o/home"


def test_unconventional_labels_are_not_used() -> None:
    # An "Issues" or "Funding" link may point at another repository (a tracker, a sponsor
    # page): only the conventional source labels name the expected publisher.
    assert publisher_from_project_urls({"Issues": "https://github.com/o/r/issues"}) is None
    assert publisher_from_project_urls({"Funding": "https://github.com/sponsors/o"}) is None


def test_github_pages_that_are_not_repositories_are_refused() -> None:
    with pytest.raises(PolicyError, match="is a GitHub page, not a repository"):
        parse_repository_url("https://github.com/sponsors/o", source="x")


@pytest.mark.parametrize(
    "urls",
    [
        {},
        {"Homepage": "https://example.org/", "Documentation": "https://docs.example.org/"},
        {"Source": "not a url", "Homepage": "https://github.com/only-an-owner"},
    ],
)
def test_no_forge_url_means_no_publisher(urls: dict[str, str]) -> None:
    assert publisher_from_project_urls(urls) is None
