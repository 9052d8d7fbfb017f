"""The vulnerability check: the real pip-audit, as a subprocess, against an OSV stand-in.

Every test runs with the package index and any proxy pointed at a dead loopback port, so a
pip-audit that tried to resolve or install anything would fail: only the OSV stand-in answers.
The pins are real files (their sha256 as PyPI publishes them); the advisories are real records.
"""

from __future__ import annotations

import json
import socket
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from tests.conftest import TOKEN_CANARY
from tests.osv import FakeOSV
from tests.servers import LoopbackServer
from verifier.checks import vulns
from verifier.checks.vulns import SERVICE_HINT, VulnIgnore, ignore_applies
from verifier.errors import PolicyError, UsageError
from verifier.judge import judge
from verifier.lockfiles import Location, PinnedFile, PinnedPackage
from verifier.models import Check, Finding, Outcome
from verifier.policy import Policy

IGNORES_SOURCE = "policy file verify-release.toml"


def audit(packages: list[PinnedPackage], **kwargs: Any) -> list[Finding]:
    """The check's results as the judge turns them into findings (ignores included)."""
    policy = Policy(ignores=tuple(kwargs.get("ignores", ())), ignores_source=IGNORES_SOURCE)
    return [judge(result, policy) for result in vulns.audit(packages, **kwargs)]


# sha256 of the real files, as https://pypi.org/simple/<project>/ publishes them.
REQUESTS_2_31_0 = {
    "requests-2.31.0-py3-none-any.whl": (
        "58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f"
    ),
    "requests-2.31.0.tar.gz": "942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1",
}
IDNA_3_10 = {
    "idna-3.10-py3-none-any.whl": (
        "946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3"
    ),
    "idna-3.10.tar.gz": "12f65c9b470abda6dc35cf8e63cc574b1c52b11df2c86030af0ac09b01b13ea9",
}
DEAD = "http://127.0.0.1:9"
TODAY = date(2026, 6, 30)

NETRC = "CVE-2024-47081 (GHSA-9hjg-9r4m-mvj7): fixed in 2.32.4"
VERIFY_FALSE = "CVE-2024-35195 (GHSA-9wx4-h78v-vm56): fixed in 2.32.0"
TEMP_FILE = "CVE-2026-25645 (GHSA-gc5v-m9x4-r6x2): fixed in 2.33.0"
PROXY_AUTH = "PYSEC-2023-74 (CVE-2023-32681, GHSA-j8r2-6x86-q33q): fixed in 2.31.0"


def pin(
    name: str,
    version: str,
    files: dict[str, str] | None = None,
    *,
    line: int = 1,
    source: str = "index",
    skip_reason: str | None = None,
) -> PinnedPackage:
    return PinnedPackage(
        name=canonicalize_name(name),
        version=version,
        files=tuple(PinnedFile(sha256=h, filename=f) for f, h in (files or {}).items()),
        location=Location("uv.lock", line),
        source=source,
        skip_reason=skip_reason,
    )


@pytest.fixture(autouse=True)
def no_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point pip's index and every proxy at a dead port; only loopback bypasses the proxy."""
    monkeypatch.setenv("PIP_INDEX_URL", f"{DEAD}/simple")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, DEAD)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def osv(server: LoopbackServer) -> FakeOSV:
    return FakeOSV(server)


def outcomes(findings: list[Finding]) -> list[tuple[str, Outcome, str]]:
    return [(f.subject, f.outcome, f.message) for f in findings]


def test_vulnerable_pin_fails_and_clean_pin_verifies(osv: FakeOSV) -> None:
    findings = audit(
        [pin("requests", "2.31.0", REQUESTS_2_31_0, line=3), pin("idna", "3.10", IDNA_3_10)],
        osv_url=osv.query_url,
        today=TODAY,
    )

    assert outcomes(findings) == [
        ("requests==2.31.0", Outcome.FAILED, NETRC),
        ("requests==2.31.0", Outcome.FAILED, VERIFY_FALSE),
        ("requests==2.31.0", Outcome.FAILED, TEMP_FILE),
        ("idna==3.10", Outcome.VERIFIED, "no known vulnerabilities (osv)"),
    ]
    verify_false = findings[1]
    assert verify_false == Finding(
        check=Check.VULNERABILITY,
        outcome=Outcome.FAILED,
        subject="requests==2.31.0",
        message="CVE-2024-35195 (GHSA-9wx4-h78v-vm56): fixed in 2.32.0",
        expected="no known vulnerabilities",
        actual="CVE-2024-35195",
        policy="no known vulnerabilities",
        policy_source="default",
        details={
            "id": "CVE-2024-35195",
            "aliases": "GHSA-9wx4-h78v-vm56",
            "fix_versions": "2.32.0",
            "description": (
                "Requests `Session` object does not verify requests after making first request "
                "with verify=False"
            ),
            "service": "osv",
        },
        location="uv.lock:3",
    )
    assert findings[3].expected == findings[3].actual == "no known vulnerabilities"
    # One query per pin, and nothing else: no index, no resolution, no batch endpoint.
    assert osv.queries == [
        {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": "2.31.0"},
        {"package": {"name": "idna", "ecosystem": "PyPI"}, "version": "3.10"},
    ]
    assert {(r.method, r.path) for r in osv.server.requests} == {("POST", "/v1/query")}


def test_pins_without_hashes_are_audited_in_a_run_of_their_own(osv: FakeOSV) -> None:
    findings = audit(
        [
            pin("requests", "2.31.0", REQUESTS_2_31_0, line=1),
            pin("idna", "3.10", line=2),
            pin("requests", "2.30.0", line=3),
            pin("my-app", "0.1.0", source="git", skip_reason="git dependency", line=4),
            pin("legacy", "not-a-version", line=5),
        ],
        osv_url=osv.query_url,
        today=TODAY,
    )

    assert outcomes(findings) == [
        ("requests==2.31.0", Outcome.FAILED, NETRC),
        ("requests==2.31.0", Outcome.FAILED, VERIFY_FALSE),
        ("requests==2.31.0", Outcome.FAILED, TEMP_FILE),
        (
            "idna==3.10",
            Outcome.VERIFIED,
            "no known vulnerabilities (osv); audited by name and version only (no sha256 pinned)",
        ),
        # The PYSEC and GHSA records of one flaw are one finding, under the PYSEC ID.
        ("requests==2.30.0", Outcome.FAILED, PROXY_AUTH),
        ("requests==2.30.0", Outcome.FAILED, NETRC),
        ("requests==2.30.0", Outcome.FAILED, VERIFY_FALSE),
        ("requests==2.30.0", Outcome.FAILED, TEMP_FILE),
        (
            "my-app==0.1.0",
            Outcome.UNVERIFIABLE,  # no policy names it: a package from outside an index
            "not audited: a git package has no index version to look up: git dependency",
        ),
        (
            "legacy==not-a-version",
            Outcome.UNVERIFIABLE,
            "could not audit for known vulnerabilities (osv): version 'not-a-version' is not a "
            "PEP 440 version, so it cannot be looked up",
        ),
    ]
    assert [f.location for f in findings] == ["uv.lock:1"] * 3 + ["uv.lock:2"] + [
        "uv.lock:3"
    ] * 4 + ["uv.lock:4", "uv.lock:5"]
    description = findings[4].details["description"]
    assert description is not None
    assert description.startswith("Requests is a HTTP library. Since Requests 2.3.0")
    assert len(description) == vulns.DESCRIPTION_LIMIT
    assert description.endswith("…")
    assert {q["version"] for q in osv.queries} == {"2.31.0", "3.10", "2.30.0"}


def test_an_ignore_turns_a_failure_into_a_skip_until_it_expires(osv: FakeOSV) -> None:
    ignores = [
        # By the GHSA ID, although pip-audit reports the advisory under its CVE ID.
        VulnIgnore(
            id="GHSA-9wx4-h78v-vm56",
            reason="we never send verify=False",
            expires=TODAY,  # the last day it still counts
            package=canonicalize_name("requests"),
        ),
        # Scoped to another package: does not apply to requests.
        VulnIgnore(
            id="CVE-2024-47081",
            reason="not ours",
            expires=date(2027, 1, 1),
            package=canonicalize_name("idna"),
        ),
        VulnIgnore(id="GHSA-0000-0000-0000", reason="unused", expires=date(2027, 1, 1)),
    ]
    findings = audit(
        [pin("requests", "2.31.0", REQUESTS_2_31_0)],
        osv_url=osv.query_url,
        ignores=ignores,
        today=TODAY,
    )

    assert [(f.outcome, f.message, f.policy, f.policy_source) for f in findings] == [
        (Outcome.FAILED, NETRC, "no known vulnerabilities", "default"),
        (
            Outcome.SKIPPED,
            VERIFY_FALSE,
            "ignored until 2026-06-30: we never send verify=False",
            IGNORES_SOURCE,
        ),
        (Outcome.FAILED, TEMP_FILE, "no known vulnerabilities", "default"),
    ]
    assert findings[1].actual == "CVE-2024-35195"


def test_an_expired_ignore_is_a_policy_error(osv: FakeOSV) -> None:
    ignore = VulnIgnore(
        id="GHSA-9wx4-h78v-vm56", reason="we never send verify=False", expires=date(2026, 1, 1)
    )

    with pytest.raises(PolicyError) as raised:
        audit(
            [pin("requests", "2.31.0", REQUESTS_2_31_0)],
            osv_url=osv.query_url,
            ignores=[ignore],
            today=date(2026, 1, 2),
        )

    assert raised.value.message == (
        "ignore for GHSA-9wx4-h78v-vm56 expired on 2026-01-01; "
        "renew it with a new reason or remove it"
    )
    assert raised.value.hint == "it was ignored because: we never send verify=False"
    assert osv.queries == []


def test_ignores_match_any_id_case_insensitively_within_their_package() -> None:
    ignore = VulnIgnore(id="ghsa-9WX4-h78v-vm56", reason="r", expires=TODAY)
    assert ignore_applies(ignore, "requests", ("CVE-2024-35195", "GHSA-9wx4-h78v-vm56"))
    assert not ignore_applies(ignore, "requests", ("CVE-2024-47081", "GHSA-9hjg-9r4m-mvj7"))
    scoped = VulnIgnore(
        id="CVE-2024-35195", reason="r", expires=TODAY, package=canonicalize_name("requests")
    )
    assert ignore_applies(scoped, "Requests", ("CVE-2024-35195",))
    assert not ignore_applies(scoped, "urllib3", ("CVE-2024-35195",))


def test_an_osv_server_error_is_unverifiable(osv: FakeOSV) -> None:
    osv.route.fail_first = 1000

    findings = audit(
        [pin("requests", "2.31.0", REQUESTS_2_31_0), pin("idna", "3.10", IDNA_3_10)],
        osv_url=osv.query_url,
        today=TODAY,
    )

    reason = f"the vulnerability service at {osv.query_url} answered HTTP 500"
    assert outcomes(findings) == [
        (label, Outcome.UNVERIFIABLE, f"could not audit for known vulnerabilities (osv): {reason}")
        for label in ("requests==2.31.0", "idna==3.10")
    ]
    assert findings[0].details == {"service": "osv", "reason": reason}


def test_a_stalling_osv_server_is_unverifiable(osv: FakeOSV) -> None:
    # The read timeout (a quarter of the whole audit's) fires first; the whole audit's bound
    # leaves room for pip-audit to start on a loaded machine (a 4 s bound did not, in CI).
    osv.route.stall_before = 5.5

    findings = audit(
        [pin("requests", "2.31.0", REQUESTS_2_31_0)],
        osv_url=osv.query_url,
        timeout=20,  # each read inside pip-audit: 5 s
        today=TODAY,
    )

    [finding] = findings
    assert finding.outcome is Outcome.UNVERIFIABLE
    assert finding.message == (
        "could not audit for known vulnerabilities (osv): the vulnerability service at "
        f"{osv.query_url} did not answer within 5 s"
    )
    assert finding.hint == SERVICE_HINT


def test_an_unreachable_vulnerability_service_is_said_in_our_words() -> None:
    # A port nothing listens on: pip-audit's traceback ends in a requests ConnectionError.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1/query"
    [finding] = audit([pin("idna", "3.10", IDNA_3_10)], osv_url=url, today=TODAY)
    assert (finding.outcome, finding.message, finding.hint) == (
        Outcome.UNVERIFIABLE,
        "could not audit for known vulnerabilities (osv): the vulnerability service at "
        f"{url} could not be reached (connection refused)",
        "check the network and the service's address (--osv-url), or use the other service "
        "(--vuln-service osv|pypi); --skip vulnerabilities leaves the audit out, shown as "
        "SKIPPED",
    )


def test_missing_pip_audit_is_unverifiable() -> None:
    findings = audit(
        [pin("requests", "2.31.0", REQUESTS_2_31_0), pin("idna", "3.10")],
        pip_audit=["/nonexistent/pip-audit"],
        today=TODAY,
    )

    reason = "pip-audit could not be started: No such file or directory: /nonexistent/pip-audit"
    assert outcomes(findings) == [
        (label, Outcome.UNVERIFIABLE, f"could not audit for known vulnerabilities (osv): {reason}")
        for label in ("requests==2.31.0", "idna==3.10")
    ]


def test_pip_audit_that_never_finishes_is_killed_and_unverifiable() -> None:
    [finding] = audit(
        [pin("requests", "2.31.0", REQUESTS_2_31_0)],
        pip_audit=[sys.executable, "-c", "import time; time.sleep(60)"],
        timeout=1,
        today=TODAY,
    )

    assert finding.outcome is Outcome.UNVERIFIABLE
    assert finding.message == (
        "could not audit for known vulnerabilities (osv): pip-audit did not finish within 1 s"
    )


FAKE_PIP_AUDIT = textwrap.dedent(
    """
    import json, os, sys
    # Its settings come from a file next to it: the environment is not passed through.
    with open(os.path.join(os.path.dirname(__file__), "fake.json")) as settings:
        fake = json.load(settings)
    argv = sys.argv[1:]
    requirements = argv[argv.index("--requirement") + 1]
    with open(fake["record"], "a") as record:
        record.write(json.dumps({
            "argv": argv,
            "requirements": open(requirements).read(),
            "cwd": os.getcwd(),
            "environment": dict(os.environ),
        }) + "\\n")
    sys.stdout.write(fake["stdout"])
    sys.stderr.write(fake.get("stderr", ""))
    sys.exit(int(fake.get("exit", "0")))
    """
)


@pytest.fixture
def fake_pip_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path]:
    """A stand-in pip-audit that records how it was run and answers from the environment."""
    script = tmp_path / "fake_pip_audit.py"
    script.write_text(FAKE_PIP_AUDIT)
    record = tmp_path / "record.jsonl"
    (tmp_path / "fake.json").write_text(json.dumps({"record": str(record)}))
    return [sys.executable, str(script)], record


def fake_says(command: list[str], **settings: str) -> None:
    """Tell the stand-in pip-audit what to print (``stdout``, ``stderr``) and how to ``exit``."""
    path = Path(command[1]).with_name("fake.json")
    path.write_text(json.dumps({**json.loads(path.read_text()), **settings}))


def runs(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_exact_command_line_requirements_and_environment(
    fake_pip_audit: tuple[list[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    command, record = fake_pip_audit
    report = {
        "dependencies": [
            {"name": "idna", "skip_reason": "could not deduce package version"},
            {"name": "urllib3", "version": "2.2.2", "vulns": []},
        ],
        "fixes": [],
    }
    fake_says(command, stdout=json.dumps(report))
    monkeypatch.setenv("PIP_AUDIT_OUTPUT", "/dev/null")
    monkeypatch.setenv("PIP_AUDIT_FORMAT", "columns")
    monkeypatch.setenv("GH_TOKEN", TOKEN_CANARY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-credential-nobody-listed")
    monkeypatch.setenv("GIT_DIR", "/some/other/repo")
    monkeypatch.setenv("LC_CTYPE", "C.UTF-8")

    findings = audit(
        [
            pin("requests", "2.31.0", REQUESTS_2_31_0),
            pin("idna", "3.10", IDNA_3_10),
            pin("urllib3", "2.2.2"),
        ],
        osv_url="http://127.0.0.1:1/v1/query",
        timeout=60,
        pip_audit=command,
        today=TODAY,
    )

    assert outcomes(findings) == [
        (
            "requests==2.31.0",
            Outcome.UNVERIFIABLE,
            "could not audit for known vulnerabilities (osv): pip-audit's report does not "
            "mention it",
        ),
        (
            "idna==3.10",
            Outcome.UNVERIFIABLE,
            "could not audit for known vulnerabilities (osv): pip-audit skipped it: could not "
            "deduce package version",
        ),
        (
            "urllib3==2.2.2",
            Outcome.VERIFIED,
            "no known vulnerabilities (osv); audited by name and version only (no sha256 pinned)",
        ),
    ]
    hashed, unhashed = runs(record)
    for run, mode in ((hashed, "--require-hashes"), (unhashed, "--no-deps")):
        requirements = Path(run["cwd"]) / "requirements.txt"
        assert run["argv"] == [
            "--requirement",
            str(requirements),
            "--disable-pip",
            mode,
            "--format",
            "json",
            "--desc",
            "on",
            "--aliases",
            "on",
            "--vulnerability-service",
            "osv",
            "--osv-url",
            "http://127.0.0.1:1/v1/query",
            "--progress-spinner",
            "off",
            "--timeout",
            "15",
            "--cache-dir",
            str(Path(run["cwd"]) / "cache"),
        ]
        assert not requirements.exists()  # the work directory is gone
        assert Path(run["cwd"]).name.startswith("verify-release-audit-")
        # An allow-list: the proxies (and CA bundle, locale, PATH, HOME) and nothing else, so
        # neither a token, nor a credential nobody thought of, nor PIP_AUDIT_* or PIP_* settings.
        environment = run["environment"]
        assert set(environment) <= vulns_child_variables(environment), sorted(environment)
        assert {k: environment[k] for k in ("HTTPS_PROXY", "https_proxy", "NO_PROXY")} == {
            "HTTPS_PROXY": DEAD,
            "https_proxy": DEAD,
            "NO_PROXY": "127.0.0.1,localhost",
        }
        assert environment["LC_CTYPE"] == "C.UTF-8"
        assert not {"GITHUB_TOKEN", "GH_TOKEN", "AWS_SECRET_ACCESS_KEY", "GIT_DIR"} & set(
            environment
        )
        assert not {k for k in environment if k.startswith(("PIP_", "FAKE_"))}
    assert hashed["requirements"] == (
        "requests==2.31.0"
        " --hash=sha256:58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f"
        " --hash=sha256:942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1\n"
        "idna==3.10"
        " --hash=sha256:12f65c9b470abda6dc35cf8e63cc574b1c52b11df2c86030af0ac09b01b13ea9"
        " --hash=sha256:946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3\n"
    )
    assert unhashed["requirements"] == "urllib3==2.2.2\n"


def vulns_child_variables(environment: dict[str, str]) -> set[str]:
    """The names pip-audit may be given: the allow-list (plus what Python sets for itself)."""
    from verifier.childenv import ALLOWED_VARIABLES

    return set(ALLOWED_VARIABLES) | {k for k in environment if k.startswith("LC_")}


def test_two_versions_of_one_name_need_two_runs(
    fake_pip_audit: tuple[list[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    command, record = fake_pip_audit
    fake_says(command, stdout=json.dumps({"dependencies": []}))

    audit(
        [pin("numpy", "1.26.4"), pin("numpy", "2.1.3"), pin("Numpy", "1.26.4")],
        pip_audit=command,
        today=TODAY,
    )

    assert [r["requirements"] for r in runs(record)] == ["numpy==1.26.4\n", "numpy==2.1.3\n"]


VULN = {"id": "CVE-2024-35195", "fix_versions": ["2.32.0"], "aliases": [], "description": ""}


@pytest.mark.parametrize(
    ("exit_code", "stdout", "stderr", "reason"),
    [
        (0, "not json", "", "pip-audit printed no JSON report"),
        (
            1,
            "",
            "WARNING:pip_audit._cli:--no-deps is supported\n"
            "ERROR:pip_audit._cli:requirement idna==3.10 does not contain a hash\n",
            "requirement idna==3.10 does not contain a hash",
        ),
        (
            2,
            "",
            "usage: pip-audit [-h]\npip-audit: error: unrecognized arguments: --bogus\n",
            "pip-audit exited with 2: pip-audit: error: unrecognized arguments: --bogus",
        ),
        (
            1,
            "",
            'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
            "pip_audit._service.interface.ServiceError\n",
            "pip_audit._service.interface.ServiceError",
        ),
        (
            0,
            json.dumps(
                {"dependencies": [{"name": "requests", "version": "2.31.0", "vulns": [VULN]}]}
            ),
            "",
            "pip-audit exited with 0 but its report lists 1 vulnerabilities: no error output",
        ),
        (
            1,
            json.dumps({"dependencies": [{"name": "requests", "version": "2.31.0", "vulns": []}]}),
            "",
            "pip-audit exited with 1 but its report lists 0 vulnerabilities: no error output",
        ),
        (
            1,
            json.dumps(
                {"dependencies": [{"name": "requests", "version": "2.31.0", "vulns": [{"id": 5}]}]}
            ),
            "",
            "unexpected pip-audit report: 'dependencies[0].vulns[0].id' is missing or not a string",
        ),
        (
            0,
            json.dumps({"deps": []}),
            "",
            "unexpected pip-audit report: 'dependencies' is missing or not a list",
        ),
    ],
)
def test_unusable_pip_audit_results_are_unverifiable(
    fake_pip_audit: tuple[list[str], Path],
    monkeypatch: pytest.MonkeyPatch,
    exit_code: int,
    stdout: str,
    stderr: str,
    reason: str,
) -> None:
    command, _ = fake_pip_audit
    fake_says(command, stdout=stdout)
    fake_says(command, stderr=stderr)
    fake_says(command, exit=str(exit_code))

    [finding] = audit([pin("requests", "2.31.0")], pip_audit=command, today=TODAY)

    assert finding.outcome is Outcome.UNVERIFIABLE
    assert finding.message == f"could not audit for known vulnerabilities (osv): {reason}"


def test_an_oversized_report_is_unverifiable(
    fake_pip_audit: tuple[list[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    command, _ = fake_pip_audit
    monkeypatch.setattr(vulns, "OUTPUT_LIMIT", 1000)
    report = {"dependencies": [{"name": "requests", "version": "2.31.0", "vulns": [VULN] * 50}]}
    fake_says(command, stdout=json.dumps(report))
    fake_says(command, exit="1")

    [finding] = audit([pin("requests", "2.31.0")], pip_audit=command, today=TODAY)

    assert finding.outcome is Outcome.UNVERIFIABLE
    assert finding.message == (
        "could not audit for known vulnerabilities (osv): pip-audit's report exceeded 1000 bytes"
    )


def test_arguments_are_checked() -> None:
    with pytest.raises(UsageError, match="unknown vulnerability service 'snyk'"):
        audit([], service="snyk")
    with pytest.raises(UsageError, match="an OSV URL was given, but the vulnerability service"):
        audit([], service="pypi", osv_url="http://127.0.0.1:1/v1/query")
    assert audit([], today=TODAY) == []
