"""End to end: the GitHub Action's run logic (``scripts/action_run.py``) as the action runs it.

The script runs as a subprocess with its inputs in ``INPUT_*`` variables and ``GITHUB_OUTPUT``
/ ``GITHUB_STEP_SUMMARY`` pointed at temporary files, and verify-release runs under it against
the loopback index serving real material (``serve_sdist``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

from tests import entries
from tests.conftest import TOKEN_CANARY, Material
from tests.e2e.test_spine import REPO, SDIST, serve_sdist
from tests.servers import DistFile, FakeIndex

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "action_run.py"
SCHEMA = json.loads((ROOT / "verifier" / "report" / "schema.json").read_text())
PIN = "pypi-attestations==0.0.19"
GITLAB = "gitlab_oidc_project-0.0.3.tar.gz"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("action_run", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["action_run"] = module
    spec.loader.exec_module(module)
    return module


def read_outputs(path: Path) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` in the ``name<<DELIMITER`` form the script writes."""
    lines = path.read_text(encoding="utf-8").splitlines()
    values: dict[str, str] = {}
    at = 0
    while at < len(lines):
        name, delimiter = lines[at].split("<<", 1)
        end = lines.index(delimiter, at + 1)
        values[name] = "\n".join(lines[at + 1 : end])
        at = end + 1
    return values


@dataclass(frozen=True)
class ActionRun:
    code: int
    out: str
    err: str
    outputs: dict[str, str]
    summary: str
    sarif_path: Path

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(Path(self.outputs["report-path"]).read_text())
        return data

    def sarif(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.sarif_path.read_text())
        return data


def transport(index: FakeIndex, tmp_path: Path) -> list[str]:
    return [
        "--index-url",
        index.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--offline",
        "-q",
        "--skip",
        "bundles",
        "--skip",
        "tags",
        "--skip",
        "vulnerabilities",
    ]


def action(
    tmp_path: Path, *, actions: bool = False, state: Path | None = None, **inputs: str
) -> ActionRun:
    """Run the script with ``inputs`` (packages, fail_on, args, ...) as the action would.

    ``state``: the directory action.yml restores with actions/cache (its cache and data dirs).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    if state is not None:
        env["VERIFY_RELEASE_CACHE_DIR"] = str(state / "cache")
        env["VERIFY_RELEASE_DATA_DIR"] = str(state / "data")
    env["GITHUB_TOKEN"] = TOKEN_CANARY
    for name, value in inputs.items():
        env[f"INPUT_{name.upper()}"] = value
    env.setdefault("INPUT_SARIF_OUTPUT", str(tmp_path / "out" / "verify-release.sarif"))
    env["GITHUB_OUTPUT"] = str(tmp_path / "github-output")
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "step-summary.md")
    env["RUNNER_TEMP"] = str(tmp_path / "runner-temp")
    if actions:
        env["GITHUB_ACTIONS"] = "true"
    (tmp_path / "runner-temp").mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-I", str(SCRIPT)],  # as action.yml's verify step runs it
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    for text in (done.stdout, done.stderr):
        assert TOKEN_CANARY not in text, "the GitHub token leaked into the log"
    summary = tmp_path / "step-summary.md"
    return ActionRun(
        code=done.returncode,
        out=done.stdout,
        err=done.stderr,
        outputs=read_outputs(output) if (output := tmp_path / "github-output").exists() else {},
        summary=summary.read_text() if summary.exists() else "",
        sarif_path=Path(env["INPUT_SARIF_OUTPUT"]),
    )


def test_a_verified_release_sets_the_outputs_and_writes_report_sarif_and_summary(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    args = shlex.join([*transport(index, tmp_path), "--repository", REPO])
    result = action(tmp_path, packages=f"\n  {PIN}\n", args=args)
    assert result.code == 0, result.err
    assert result.outputs["verdict"] == "verified"
    report_path = Path(result.outputs["report-path"])
    assert report_path.is_relative_to(tmp_path / "runner-temp")
    report = result.report()
    jsonschema.validate(report, SCHEMA)
    assert report["verdict"] == "verified"
    assert report["exit_code"] == 0
    assert [r["subject"] for r in report["releases"]] == [PIN]
    sarif = result.sarif()
    assert sarif["version"] == "2.1.0"
    assert len(sarif["runs"]) == 1
    assert sarif["runs"][0]["results"] == []
    assert sarif["runs"][0]["properties"]["verdict"] == "verified"
    # The package's own renderers: the summary, the text log and the JSON report are the
    # CLI's (one run renders them all), and the script adds only its closing line.
    assert result.summary.startswith("## verify-release: VERIFIED")
    assert result.summary.endswith(
        "_The step passes: verdict VERIFIED; fail-on: failed, unverifiable "
        "(usage errors always fail)._\n"
    )
    assert f"VERIFIED     index-hash     {SDIST}  the index publishes sha256 " in result.out
    assert result.out.startswith("verify-release ")
    assert result.out.endswith("verdict: VERIFIED (exit 0) - 2 verified, 3 skipped\n")
    assert sarif["runs"][0]["invocations"][0]["executionSuccessful"] is True


@pytest.mark.parametrize(
    ("fail_on", "code"), [("failed,unverifiable", 1), ("failed", 1), ("unverifiable", 0)]
)
def test_a_failed_release_fails_the_step_when_fail_on_names_failed(
    index: FakeIndex, material: Material, tmp_path: Path, fail_on: str, code: int
) -> None:
    real = material.read(SDIST)
    tampered = bytearray(real)
    tampered[len(tampered) // 2] ^= 0x01
    serve_sdist(index, material, content=bytes(tampered), sha256=hashlib.sha256(real).hexdigest())
    # The served bytes are only compared when downloaded.
    wheelhouse = str(tmp_path / "wheelhouse")
    args = shlex.join([*transport(index, tmp_path), "--repository", REPO, "--download", wheelhouse])
    result = action(tmp_path, actions=True, packages=PIN, args=args, fail_on=fail_on)
    assert result.code == code, result.err
    assert result.outputs["verdict"] == "failed"
    [alert] = result.sarif()["runs"][0]["results"]
    assert alert["level"] == "error"
    assert alert["ruleId"] == "verify-release/index-hash"
    assert (
        result.sarif()["runs"][0]["tool"]["driver"]["rules"][alert["ruleIndex"]]["id"]
        == (alert["ruleId"])
    )
    # Everything quoted from the run is printed while workflow commands are stopped.
    lines = result.out.splitlines()
    token = lines[0].removeprefix("::stop-commands::")
    assert lines[0] != token
    assert f"::{token}::" in lines
    assert "the downloaded file does not match the digest the index publishes" in result.out
    if code:
        assert lines[-1] == f"::error title=verify-release::FAILED: {PIN}"
        assert "_The step fails: verdict FAILED" in result.summary
    else:
        assert "_The step passes: verdict FAILED; fail-on: unverifiable" in result.summary


@pytest.mark.parametrize(("fail_on", "code"), [("", 2), ("failed", 0)])
def test_unverifiable_fails_the_step_unless_fail_on_tolerates_it(
    index: FakeIndex, material: Material, tmp_path: Path, fail_on: str, code: int
) -> None:
    index.add_release(
        "pypi-attestations",
        "0.0.19",
        [DistFile(SDIST, material.read(SDIST), None)],
        real_page=material.page("pypi-attestations"),
    )
    args = shlex.join([*transport(index, tmp_path), "--repository", REPO])
    result = action(tmp_path, packages=PIN, args=args, fail_on=fail_on)
    assert result.code == code, result.err
    assert result.outputs["verdict"] == "unverifiable"
    [alert] = result.sarif()["runs"][0]["results"]
    assert alert["level"] == "warning"
    assert "the index declares no provenance" in result.out


def test_several_packages_are_verified_once_each_and_the_worst_verdict_wins(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    tampered = bytearray(material.read(GITLAB))
    tampered[100] ^= 0x01
    real_digest = hashlib.sha256(material.read(GITLAB)).hexdigest()
    index.add_release(
        "gitlab-oidc-project",
        "0.0.3",
        [DistFile(GITLAB, bytes(tampered), material.provenance(GITLAB), sha256=real_digest)],
    )
    packages = f"{PIN} gitlab-oidc-project==0.0.3\n{PIN}"
    args = shlex.join([*transport(index, tmp_path), "--download", str(tmp_path / "wheelhouse")])
    result = action(tmp_path, packages=packages, args=args, format="json")
    assert result.code == 1, result.err
    assert result.outputs["verdict"] == "failed"
    report = result.report()
    jsonschema.validate(report, SCHEMA)
    assert json.loads(result.out) == report
    assert [r["subject"] for r in report["releases"]] == [PIN, "gitlab-oidc-project==0.0.3"]
    run = result.sarif()["runs"][0]
    assert [r["properties"]["package"] for r in run["results"]] == ["gitlab-oidc-project==0.0.3"]
    assert len(run["invocations"]) == 1  # one verify-release run for every package
    assert run["properties"]["packages"] == 2
    assert result.summary.startswith("## verify-release: FAILED\n")
    assert result.summary.count("## verify-release: ") == 1
    pages = [p for p in index.server.paths_requested() if p.startswith("/simple/")]
    assert sorted(pages) == ["/simple/gitlab-oidc-project/", "/simple/pypi-attestations/"]


def test_a_usage_error_fails_the_step_whatever_fail_on_says(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    args = shlex.join(transport(index, tmp_path))
    result = action(
        tmp_path, packages=f"{PIN} pypi-attestations==9.9.9", args=args, fail_on="failed"
    )
    assert result.code == 3, result.err
    assert result.outputs["verdict"] == "error"
    report = result.report()
    jsonschema.validate(report, SCHEMA)
    assert report["exit_code"] == 3
    # One run: a release that does not exist is a usage error for the whole run.
    assert report["error"]["message"].startswith("pypi-attestations has no files for version 9.9.9")
    assert "releases" not in report
    [failed] = result.sarif()["runs"][0]["invocations"]
    assert failed["executionSuccessful"] is False
    [note] = failed["toolExecutionNotifications"]
    assert note["message"]["text"] == report["error"]["message"]
    assert "## verify-release: ERROR" in result.summary


@pytest.mark.parametrize(
    "packages",
    [
        "x==1; touch {marker}",
        "x==1 && touch {marker}",
        "$(touch {marker})",
        "`touch {marker}`",
        "--evidence={marker} x==1",
    ],
)
def test_hostile_packages_are_data_and_nothing_runs(
    index: FakeIndex, tmp_path: Path, packages: str
) -> None:
    marker = tmp_path / "pwned"
    args = shlex.join(transport(index, tmp_path))
    result = action(tmp_path, packages=packages.format(marker=marker), args=args)
    assert result.code == 3
    assert "is not an exact pin NAME==VERSION" in result.err
    assert not marker.exists()
    assert index.server.requests == []  # verify-release never ran
    assert result.outputs["verdict"] == "error"
    report = result.report()
    jsonschema.validate(report, SCHEMA)
    assert report["verdict"] == "error"
    assert result.sarif()["runs"][0]["invocations"][0]["executionSuccessful"] is False
    assert "## verify-release: ERROR" in result.summary


def test_hostile_args_reach_verify_release_as_single_arguments(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    args = f"--repository 'https://github.com/a/b; touch {marker}' --index-url http://127.0.0.1:9"
    result = action(tmp_path, packages=PIN, args=args)
    assert result.code == 3
    assert f"'https://github.com/a/b; touch {marker}' is not a GitHub or GitLab" in result.err
    assert not marker.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("--format text", "sets --format"),
        ("--out=report.txt", "sets --output"),
        ("-qo report.txt", "sets --output"),
        ("--sarif x.sarif", "sets --sarif"),
        ("--json r.json", "sets --json"),
        ("--lock uv.lock", "sets --lockfile"),
        ("--repository 'unbalanced", "cannot be split into arguments"),
    ],
)
def test_args_cannot_take_over_what_the_action_sets(
    tmp_path: Path, args: str, message: str
) -> None:
    result = action(tmp_path, packages=PIN, args=args)
    assert result.code == 3
    assert message in result.err


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "nothing to verify"),
        ({"packages": PIN, "format": "yaml"}, "format: 'yaml' is not one of"),
        ({"packages": PIN, "fail_on": "failed,errors"}, "fail-on: unknown verdict 'errors'"),
    ],
)
def test_bad_inputs_are_usage_errors(tmp_path: Path, inputs: dict[str, Any], message: str) -> None:
    result = action(tmp_path, actions=False, **inputs)
    assert result.code == 3
    assert message in result.err
    assert result.sarif_path.exists()


def test_one_run_gets_an_argv_list_with_the_pins_after_the_options() -> None:
    script = load_script()
    inputs = script.read_inputs(
        {
            "INPUT_PACKAGES": "a==1\nb==2 a==1",
            "INPUT_LOCKFILE": "-weird.lock",
            "INPUT_POLICY": "policy.toml",
            "INPUT_ARGS": "--require bundles",
            "INPUT_SARIF_OUTPUT": "r.sarif",
        }
    )
    assert script.command("py", inputs, Path("r.json")) == [
        "py",
        "-I",
        "-m",
        "verifier",
        "--format",
        "text",
        "--json",
        "r.json",
        "--no-verdict-cache",
        "--sarif",
        "r.sarif",
        "--policy=policy.toml",
        "--require",
        "bundles",
        "--lockfile=-weird.lock",
        "--",
        "a==1",
        "b==2",
    ]


def test_a_packages_input_and_a_lockfile_are_one_run_and_one_report(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    index.add_release(
        "gitlab-oidc-project",
        "0.0.3",
        [DistFile(GITLAB, material.read(GITLAB), material.provenance(GITLAB))],
    )
    digest = hashlib.sha256(material.read(GITLAB)).hexdigest()
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"gitlab-oidc-project==0.0.3 --hash=sha256:{digest}\n")
    args = shlex.join(transport(index, tmp_path))
    result = action(tmp_path, packages=PIN, lockfile=str(lock), args=args, format="json")
    assert result.code == 0, result.err
    report = result.report()
    assert json.loads(result.out) == report
    assert [r["subject"] for r in report["releases"]] == ["gitlab-oidc-project==0.0.3", PIN]
    assert len(result.sarif()["runs"][0]["invocations"]) == 1


def test_a_report_that_disagrees_with_the_exit_code_is_never_a_pass() -> None:
    script = load_script()
    assert script.verdict_of({"verdict": "verified"}, 0) == "verified"
    assert script.verdict_of({"verdict": "verified"}, 4) == "error"
    assert script.verdict_of({"verdict": "verified"}, 1) == "error"
    assert script.verdict_of(None, 0) == "error"
    assert script.verdict_of({"verdict": "failed"}, 0) == "error"


def _edit_metadata(state: Path) -> None:
    """A forger without the key: every entry's metadata claims to be fresh, MAC left as is."""
    for entry in (state / "cache" / "http").rglob("*.entry"):
        data = entries.read(entry).metadata()
        data["max_age"] = 600
        data["stored_at"] = data["stored_at"] + 1
        entries.edit(entry, meta=data)


def _edit_bodies(state: Path) -> None:
    """A forger without the key: every stored body replaced, metadata left as is."""
    for entry in (state / "cache" / "http").rglob("*.entry"):
        entries.edit(entry, body=entries.read(entry).body + b" ")


def _lose_key(state: Path) -> None:
    """The cache restored without its key (a fresh runner creates a new one)."""
    (state / "data" / "cache.key").unlink()


@pytest.mark.parametrize("tamper", [None, _edit_metadata, _edit_bodies, _lose_key])
def test_a_tampered_restored_cache_never_yields_a_pass(
    index: FakeIndex, material: Material, tmp_path: Path, tamper: Any
) -> None:
    serve_sdist(index, material)
    state = tmp_path / "state"
    skips = ["--skip", "bundles", "--skip", "tags", "--skip", "vulnerabilities"]
    args = shlex.join(["--index-url", index.url, "--offline", "-q", *skips, "--repository", REPO])
    first = action(tmp_path, packages=PIN, args=args, state=state)
    assert first.code == 0, first.err
    assert (state / "data" / "cache.key").is_file()
    # The next workflow run restores the state (actions/cache) while the index has changed: the
    # release no longer declares provenance, so a fresh look is UNVERIFIABLE.
    restored = tmp_path / "restored"
    shutil.copytree(state, restored)
    index.add_release(
        "pypi-attestations",
        "0.0.19",
        [DistFile(SDIST, material.read(SDIST), None)],
        real_page=material.page("pypi-attestations"),
    )
    page = index.simple_path("pypi-attestations")
    before = index.server.paths_requested().count(page)
    if tamper is None:
        # The control: an intact cache is used (the page is still fresh), so tampering with it
        # would matter if it were believed.
        again = action(tmp_path, packages=PIN, args=args, state=restored)
        assert again.code == 0, again.err
        assert index.server.paths_requested().count(page) == before
        return
    tamper(restored)
    again = action(tmp_path, packages=PIN, args=args, state=restored)
    assert again.code == 2, again.out
    assert again.outputs["verdict"] == "unverifiable"
    assert index.server.paths_requested().count(page) == before + 1


def test_a_sarif_path_that_cannot_be_written_is_an_error_that_changes_nothing(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    (tmp_path / "not-a-folder").write_text("a file where the SARIF folder belongs")
    sarif = tmp_path / "not-a-folder" / "verify-release.sarif"
    args = shlex.join([*transport(index, tmp_path), "--repository", REPO])
    result = action(tmp_path, packages=PIN, args=args, sarif_output=str(sarif))
    assert result.code == 3, result.err
    assert result.err.endswith(
        f"verify-release action: error: cannot write {sarif} (Not a directory); the file was "
        "not changed\nhint: check that the folder exists and is writable and that the disk has "
        "room (and no file-size limit stops the write), then run again\n"
    ), result.err
    assert (tmp_path / "not-a-folder").read_text() == "a file where the SARIF folder belongs"
    assert result.outputs == {}


# -- nothing from the workspace runs (red team i13) ----------------------------------------------

SHADOW = """
import json, sys
argv = sys.argv
report = argv[argv.index("--json") + 1]
open(report, "w").write(json.dumps({"schema_version": 1, "verdict": "verified", "exit_code": 0}))
print("verify-release (shadowed): everything VERIFIED")
sys.exit(0)
"""


def _steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
    return steps


def _step(step_id: str) -> dict[str, Any]:
    [step] = [s for s in _steps() if s.get("id") == step_id]
    return step


def test_the_action_never_runs_a_verifier_package_from_the_workspace(tmp_path: Path) -> None:
    """`python -m verifier` in GITHUB_WORKSPACE would put the working directory first on
    sys.path: a checked-out pull request with a `verifier/` package would replace verify-release
    and pass the step. The run is isolated (`python -I`), so the installed one runs."""
    shadow = tmp_path / "verifier"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("")
    (shadow / "__main__.py").write_text(SHADOW)
    # Nothing can be verified: the index does not answer.
    args = shlex.join(
        ["--index-url", "http://127.0.0.1:9", "-q", "--cache-dir", str(tmp_path / "c")]
    )
    result = action(tmp_path, packages=PIN, args=args)
    assert "shadowed" not in result.out, "the workspace's verifier package ran"
    assert result.code != 0
    assert result.outputs["verdict"] != "verified"


def test_every_python_the_action_runs_is_isolated() -> None:
    """Every `python -m` (and the run logic's script) in action.yml and the script runs with
    `-I`: no working directory on sys.path, no PYTHON* variables."""
    runs = "\n".join(str(step.get("run", "")) for step in _steps())
    modules = re.findall(r"(\S+) (-\S+ )?-m (\w+)", runs)
    assert [(m[1], m[2]) for m in modules] == [("-I ", "venv"), ("-I ", "pip"), ("-I ", "pip")]
    assert '"${VERIFY_RELEASE_PYTHON}" -I "${GITHUB_ACTION_PATH}/scripts/action_run.py"' in runs
    source = SCRIPT.read_text(encoding="utf-8")
    assert re.findall(r'.{6}"-m"', source) == ['"-I", "-m"']
    assert _step("install")["working-directory"] == "${{ runner.temp }}"


def test_the_action_install_step_never_runs_modules_from_the_workspace(tmp_path: Path) -> None:
    """The install step runs `python3 -m venv` (then `-m pip`) before anything is verified, with
    the job's token in reach: a workspace `venv/` (or `pip/`) package must never run there."""
    script = _step("install")["run"]
    # Up to and including the venv creation: the rest needs the network.
    lines = script.splitlines()
    upto = next(i for i, line in enumerate(lines) if "-m venv" in line)
    workspace = tmp_path / "workspace"
    shadow = workspace / "venv"
    shadow.mkdir(parents=True)
    marker = tmp_path / "ran"
    (shadow / "__init__.py").write_text("")
    (shadow / "__main__.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    env = {**os.environ, "RUNNER_TEMP": str(temp), "GITHUB_ACTION_PATH": str(ROOT)}
    env["GITHUB_OUTPUT"] = str(tmp_path / "out")
    # The shadow is in the working directory, whatever action.yml says it is.
    for cwd in (
        workspace,
        Path(_step("install")["working-directory"].replace("${{ runner.temp }}", str(temp))),
    ):
        if cwd != workspace:
            (cwd / "venv").mkdir(exist_ok=True)
            shutil.copy(shadow / "__init__.py", cwd / "venv")
            shutil.copy(shadow / "__main__.py", cwd / "venv")
        done = subprocess.run(
            ["bash", "-c", "\n".join(lines[: upto + 1])],
            cwd=cwd,
            env=env,
            check=False,
            timeout=300,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        assert done.returncode == 0, done.stderr
        assert not marker.exists(), f"the venv package in {cwd} ran in the install step"
        assert (temp / "verify-release-venv" / "bin" / "python").exists()
        shutil.rmtree(temp / "verify-release-venv")


def _decide_cache(tmp_path: Path, cache: str, event: str) -> tuple[int, str, dict[str, str]]:
    output = tmp_path / f"output-{cache}-{event}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update(INPUT_CACHE=cache, GITHUB_EVENT_NAME=event, GITHUB_OUTPUT=str(output))
    done = subprocess.run(
        ["bash", "-c", _step("cache")["run"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    found = output.read_text() if output.exists() else ""
    return done.returncode, done.stdout, dict(line.split("=", 1) for line in found.splitlines())


WARNING = (
    "::warning title=verify-release::cache: true in a pull_request_target workflow: a "
    "contributor's code that runs in this job can write the base branch's cache entry (and its "
    "key); use cache: false (or the default, auto) here\n"
)


@pytest.mark.parametrize(
    ("cache", "event", "enabled", "log"),
    [
        ("auto", "push", "true", ""),
        ("auto", "pull_request", "true", ""),
        ("auto", "pull_request_target", "false", ""),
        ("", "pull_request_target", "false", ""),
        ("false", "push", "false", ""),
        ("true", "push", "true", ""),
        ("true", "pull_request_target", "true", WARNING),
    ],
)
def test_the_cache_is_off_by_default_under_pull_request_target(
    tmp_path: Path, cache: str, event: str, enabled: str, log: str
) -> None:
    """Under pull_request_target a contributor's code could write the base branch's cache: the
    default (auto) is off there, and an explicit `cache: true` warns, naming the risk."""
    assert yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]["cache"]["default"] == (
        "auto"
    )
    assert _decide_cache(tmp_path, cache, event) == (0, log, {"enabled": enabled})


def test_a_cache_input_that_is_not_a_switch_fails_the_step(tmp_path: Path) -> None:
    assert _decide_cache(tmp_path, "yes\n::error::x", "push") == (
        3,
        "::error title=verify-release::the cache input must be true, false or auto\n",
        {},
    )
