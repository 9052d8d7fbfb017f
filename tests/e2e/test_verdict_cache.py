"""A warm run reuses earlier verdicts only when every input is identical (``verifier.verdicts``).

Verifications are counted by wrapping sigstore's real ``Verifier.verify_dsse`` (it still runs:
nothing is mocked); the runs are in-process, so the verification stays in this process.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sigstore.verify import Verifier

from tests.e2e.helpers import Run, base_args, run
from tests.servers import DistFile, FakeIndex
from tests.sigstore_local import GitHubClaims, LocalSigstore
from verifier.models import Check, CheckResult, Status
from verifier.policy import ExpectedPublisher, Policy
from verifier.verdicts import VerdictCache
from verifier.workers import available_cores

NAMES = ("alpha", "beta")


@pytest.fixture(scope="module")
def stack() -> LocalSigstore:
    return LocalSigstore()


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ``verify_dsse`` call of the run (the real one runs)."""
    calls: list[str] = []
    real = Verifier.verify_dsse

    def counting(self: Verifier, *args: Any, **kwargs: Any) -> Any:
        calls.append("verify_dsse")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Verifier, "verify_dsse", counting)
    return calls


class Setup:
    def __init__(self, stack: LocalSigstore, index: FakeIndex, tmp_path: Path) -> None:
        self.stack = stack
        self.index = index
        self.tmp = tmp_path
        self.root = stack.write_trusted_root(tmp_path / "trusted_root.json")
        self.cache = tmp_path / "cache"
        self.contents: dict[str, bytes] = {}
        lines = []
        for name in NAMES:
            content = f"{name}: a wheel for the verdict cache tests\n".encode()
            self.contents[name] = content
            self.serve(name)
            lines.append(f"{name}==1.0 --hash=sha256:{hashlib.sha256(content).hexdigest()}")
        self.lock = tmp_path / "requirements.txt"
        self.lock.write_text("\n".join(lines) + "\n")

    def filename(self, name: str) -> str:
        return f"{name}-1.0-py3-none-any.whl"

    def serve(self, name: str) -> None:
        """(Re)publish ``name`` with freshly signed provenance (new bytes, same meaning)."""
        claims = GitHubClaims(repository=f"acme/{name}", workflow="release.yml", ref="refs/tags/v1")
        content = self.contents[name]
        provenance = self.stack.provenance(self.filename(name), content, claims)
        self.index.add_release(
            name,
            "1.0",
            [DistFile(self.filename(name), content, provenance=provenance)],
            project_urls={"Source": f"https://github.com/acme/{name}"},
        )

    def verify(
        self, capsys: pytest.CaptureFixture[str], *extra: str, root: Path | None = None
    ) -> Run:
        args = base_args(self.index.url, self.cache)
        done = run(
            capsys,
            *("--lockfile", str(self.lock), *args, "--format", "json"),
            *("--trusted-root", str(root or self.root), "--verify-processes", "0", *extra),
        )
        assert done.code == 0, done.out + done.err
        return done

    def entries(self) -> list[Path]:
        return sorted((self.cache / "verdicts").glob("*/*.verdict"))


@pytest.fixture
def setup(stack: LocalSigstore, index: FakeIndex, tmp_path: Path) -> Setup:
    return Setup(stack, index, tmp_path)


def _attestations(done: Run) -> list[dict[str, Any]]:
    return [f for f in done.findings() if f["check"] == "attestation"]


def test_a_warm_run_reuses_every_verdict_and_reports_the_same(
    setup: Setup, verifications: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    cold = setup.verify(capsys)
    assert len(verifications) == 2
    assert len(setup.entries()) == 2
    before = len(setup.index.server.requests)
    warm = setup.verify(capsys)
    assert len(verifications) == 2  # nothing verified again
    assert warm.json() == cold.json()
    assert [f["outcome"] for f in _attestations(warm)] == ["verified", "verified"]
    # Pages and JSON API answers are fresh (max-age, as PyPI sends), provenance is immutable:
    # a warm run within the freshness window asks the index nothing.
    assert [r.path for r in setup.index.server.requests[before:]] == []


def test_no_cache_neither_reads_nor_writes_verdicts(
    setup: Setup, verifications: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    setup.verify(capsys)
    setup.serve("alpha")  # re-signed: the same statement, other bytes
    setup.verify(capsys, "--no-cache")
    assert len(verifications) == 4
    assert len(setup.entries()) == 2  # --no-cache wrote no verdict for the new bytes


def test_new_provenance_bytes_are_verified_again(
    setup: Setup, verifications: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    setup.verify(capsys)
    for entry in (setup.cache / "http").rglob("*"):
        if entry.is_file():
            entry.unlink()  # the next run fetches every response again ...
    setup.serve("alpha")  # ... and alpha's provenance has other bytes now
    setup.verify(capsys)
    assert len(verifications) == 3  # alpha verified again, beta reused


def test_another_trust_root_verifies_again(
    setup: Setup,
    stack: LocalSigstore,
    verifications: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup.verify(capsys)
    # Same keys plus another transparency log: still verifies, but it is another root.
    root = stack.trusted_root()
    root["tlogs"] = [*root["tlogs"], *LocalSigstore().trusted_root()["tlogs"]]
    other = setup.tmp / "other_root.json"
    other.write_text(json.dumps(root))
    setup.verify(capsys, root=other)
    assert len(verifications) == 4
    # The digest is of the file's bytes: the same root written another way is verified again.
    (setup.tmp / "spaced_root.json").write_text(json.dumps(stack.trusted_root(), indent=4))
    setup.verify(capsys, root=setup.tmp / "spaced_root.json")
    assert len(verifications) == 6
    setup.verify(capsys, root=setup.tmp / "spaced_root.json")
    assert len(verifications) == 6


def test_another_policy_verifies_again(
    setup: Setup, verifications: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    setup.verify(capsys)
    setup.verify(capsys, "--allow-missing", "bundles")
    assert len(verifications) == 4
    setup.verify(capsys, "--allow-missing", "bundles")
    assert len(verifications) == 4


def test_another_tool_version_verifies_again(
    setup: Setup,
    verifications: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup.verify(capsys)
    monkeypatch.setattr("verifier.__version__", "999.0")
    setup.verify(capsys)
    assert len(verifications) == 4


def test_another_data_directory_key_verifies_again(
    setup: Setup,
    verifications: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup.verify(capsys)
    monkeypatch.setenv("XDG_DATA_HOME", str(setup.tmp / "other-data"))  # another cache key
    setup.verify(capsys)
    assert len(verifications) == 4


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_tampered_entry_is_verified_again_with_the_same_result(
    setup: Setup, verifications: list[str], capsys: pytest.CaptureFixture[str], where: str
) -> None:
    cold = setup.verify(capsys)
    for entry in setup.entries():
        data = bytearray(entry.read_bytes())
        at = {"start": 0, "middle": len(data) // 2, "end": len(data) - 2}[where]
        data[at] ^= 0x01
        entry.write_bytes(bytes(data))
    warm = setup.verify(capsys)
    assert len(verifications) == 4
    assert warm.json() == cold.json()


def test_a_forged_verdict_is_never_trusted(
    setup: Setup, verifications: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An entry edited to say something else (its MAC left as it was) is verified again."""
    cold = setup.verify(capsys)
    for entry in setup.entries():
        mac, result = entry.read_text().split("\n", 1)
        data = json.loads(result)
        data["message"] = "forged"
        data["status"] = "contradicted"
        entry.write_text(f"{mac}\n{json.dumps(data, sort_keys=True)}")
    warm = setup.verify(capsys)
    assert len(verifications) == 4
    assert warm.json() == cold.json()


def test_an_entry_moved_under_another_key_is_never_trusted(
    setup: Setup, verifications: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """alpha's verdict copied over beta's (both valid entries): the MAC covers the key."""
    cold = setup.verify(capsys)
    first, second = setup.entries()
    second.write_bytes(first.read_bytes())
    warm = setup.verify(capsys)
    assert len(verifications) == 3
    assert warm.json() == cold.json()


# -- every input of the key, one at a time ----------------------------------------------------


def _key(cache: VerdictCache, **change: Any) -> str | None:
    inputs: dict[str, Any] = {
        "raw": b"provenance",
        "filename": "alpha-1.0-py3-none-any.whl",
        "digest": "a" * 64,
        "expected": ExpectedPublisher(kind="GitHub", repository="acme/alpha"),
        "record_trusted": True,
        "policy": Policy(),
    }
    inputs.update(change)
    raw = inputs.pop("raw")
    return cache.key(raw, **inputs)


@pytest.mark.parametrize(
    "change",
    [
        {"raw": b"provenance!"},
        {"filename": "alpha-1.0.tar.gz"},
        {"digest": "b" * 64},
        {"expected": None},
        {"expected": ExpectedPublisher(kind="GitHub", repository="acme/other")},
        {"expected": ExpectedPublisher(kind="GitHub", repository="acme/alpha", workflow="x.yml")},
        {"expected": ExpectedPublisher(kind="GitHub", repository="acme/alpha", source="pin")},
        {"record_trusted": False},
        {"policy": Policy(allow_missing=frozenset({"bundles"}))},
        {"policy": Policy(pinned=True)},
    ],
)
def test_every_input_is_in_the_key(tmp_path: Path, change: dict[str, Any]) -> None:
    cache = VerdictCache(tmp_path, mac_key=b"k" * 32, context="c")
    assert _key(cache) is not None
    assert _key(cache, **change) != _key(cache)


def test_the_context_is_in_the_key(tmp_path: Path) -> None:
    one = VerdictCache(tmp_path, mac_key=b"k" * 32, context="trust=1")
    two = VerdictCache(tmp_path, mac_key=b"k" * 32, context="trust=2")
    assert _key(one) != _key(two)


def test_a_policy_digest_does_not_depend_on_set_order(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path, mac_key=b"k" * 32, context="c")
    one = Policy(allow_missing=frozenset({"bundles", "tags", "vulnerabilities"}))
    two = Policy(allow_missing=frozenset({"vulnerabilities", "tags", "bundles"}))
    assert _key(cache, policy=one) == _key(cache, policy=two)


def test_a_policy_and_publisher_are_digested_once_per_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both files of a package share its policy objects: their canonical JSON is made once."""
    import verifier.verdicts

    digested: list[object] = []
    real = verifier.verdicts._digest

    def counting(value: Any) -> str:
        digested.append(value)
        return real(value)

    monkeypatch.setattr(verifier.verdicts, "_digest", counting)
    cache = VerdictCache(tmp_path, mac_key=b"k" * 32, context="c")
    policy = Policy(pinned=True)
    expected = ExpectedPublisher(kind="GitHub", repository="acme/alpha")
    first = _key(cache, policy=policy, expected=expected)
    assert _key(cache, policy=policy, expected=expected, filename="alpha-1.0.tar.gz") != first
    assert digested == [expected, policy]  # once each
    # An equal policy that is another object is digested again (identity, never equality)...
    assert _key(cache, policy=Policy(pinned=True), expected=expected) == first
    assert len(digested) == 3
    # ...and a different one gets its own digest, never a remembered one.
    assert _key(cache, policy=Policy(pinned=False), expected=expected) != first


def test_a_verdict_held_open_by_a_symlinked_shard_is_a_miss(tmp_path: Path) -> None:
    """The read without a file object keeps every refusal of the one with it."""
    cache = VerdictCache(tmp_path / "verdicts", mac_key=b"k" * 32, context="c")
    key = "ab" + "0" * 62
    result = CheckResult(
        check=Check.ATTESTATION, status=Status.PROVEN, subject="alpha", message="verified"
    )
    cache.put(key, result)
    assert cache.get(key) == result
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "verdicts" / "ab").rename(elsewhere)
    (tmp_path / "verdicts" / "ab").symlink_to(elsewhere)
    assert cache.get(key) is None
    (tmp_path / "verdicts" / "ab").unlink()
    elsewhere.rename(tmp_path / "verdicts" / "ab")
    entry = tmp_path / "verdicts" / "ab" / f"{key}.verdict"
    entry.write_bytes(entry.read_bytes() + b" " * (256 * 1024))
    assert cache.get(key) is None  # too large


def test_only_results_a_verification_reached_are_kept(tmp_path: Path) -> None:
    from verifier.workers import _lost

    cache = VerdictCache(tmp_path, mac_key=b"k" * 32, context="c")
    lost: CheckResult = _lost("alpha-1.0-py3-none-any.whl")
    cache.put("ab" + "0" * 62, lost)
    assert cache.get("ab" + "0" * 62) is None
    assert list(tmp_path.rglob("*")) == []


# -- the trust root is built only when something is verified ----------------------------------


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every time a ``--trusted-root`` file is parsed into a verifier (the real parse runs)."""
    import verifier.trust

    calls: list[Path] = []
    real = verifier.trust._parse_custom

    def counting(path: Path, raw: bytes) -> Any:
        calls.append(path)
        return real(path, raw)

    monkeypatch.setattr(verifier.trust, "_parse_custom", counting)
    return calls


def test_a_warm_run_never_builds_the_trust_root(
    setup: Setup, builds: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    setup.verify(capsys)
    assert builds == [setup.root]
    setup.verify(capsys)
    assert builds == [setup.root]  # every verdict reused: sigstore never asked


def _bad_root(tmp_path: Path) -> Path:
    bad = tmp_path / "bad_root.json"
    bad.write_text('{"mediaType": "nope"}')
    return bad


def test_an_unusable_root_found_at_the_first_verification_is_a_usage_error(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Never a "signature verification failed" verdict (and never one kept in the cache)."""
    bad = _bad_root(setup.tmp)
    args = base_args(setup.index.url, setup.cache)
    done = run(
        capsys,
        *("--lockfile", str(setup.lock), *args, "--format", "json"),
        *("--trusted-root", str(bad), "--verify-processes", "0"),
    )
    assert done.code == 3
    assert f"--trusted-root {bad}: not a usable Sigstore trusted root" in done.err
    assert setup.entries() == []


def test_an_unusable_root_stops_a_run_with_worker_processes(setup: Setup) -> None:
    """The run's own process builds the root before handing work to a worker."""
    bad = _bad_root(setup.tmp)
    argv = [
        *(sys.executable, "-m", "verifier", "--lockfile", str(setup.lock)),
        *base_args(setup.index.url, setup.cache),
        *("--trusted-root", str(bad), "--verify-processes", "1"),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 3, done.stderr
    assert f"--trusted-root {bad}: not a usable Sigstore trusted root" in done.stderr
    assert "Traceback" not in done.stderr
    assert setup.entries() == []


def test_the_bundle_subcommand_refuses_an_unusable_root_before_verifying(
    stack: LocalSigstore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Never "FAILED: signature verification failed" for a root that could not be used."""
    claims = GitHubClaims(repository="acme/widget")
    data = b"an artifact\n"
    bundle = tmp_path / "w.sigstore.json"
    bundle.write_text(stack.sign_artifact(data, claims))
    bad = _bad_root(tmp_path)
    done = run(
        capsys,
        *("bundle", "--bundle", str(bundle), "--certificate-oidc-issuer", claims.issuer),
        *("--trusted-root", str(bad), "--certificate-identity", claims.identity),
        f"sha256:{hashlib.sha256(data).hexdigest()}",
    )
    assert done.code == 3
    assert f"--trusted-root {bad}: not a usable Sigstore trusted root" in done.err
    assert "FAILED" not in done.out


def test_a_deferred_root_is_built_once_whatever_asks(setup: Setup, builds: list[Path]) -> None:
    import copy
    import threading

    from verifier.trust import DeferredVerifier, load_custom

    root = load_custom(setup.root)
    assert not root.loaded
    copy.copy(root.verifier)  # probing dunders (copy, pickle) builds nothing
    assert builds == []
    deferred = root.verifier
    assert isinstance(deferred, DeferredVerifier)
    threads = [threading.Thread(target=deferred.get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [setup.root]
    assert root.loaded


_WARM_PROBE = """\
import sys
from verifier.cli import main
code = main(sys.argv[1:])
print(sorted(sys.modules))
raise SystemExit(code)
"""

_NOT_FOR_A_WARM_RUN = (
    "requests",
    "urllib3",
    "sigstore",
    "pypi_attestations",
    "verifier.git",
    "verifier.lockfiles.poetry",
    "verifier.lockfiles.uv",
    "verifier.lockfiles.pylock",
    "tomllib",
    "importlib.metadata",
    "packaging.requirements",
)
"""What a warm run over a requirements file never needs: it fetches nothing, verifies nothing
and reads no tags (together a tenth of a warm run). ``verifier.transport`` builds its session,
``verifier.trust`` its verifier, ``Pipeline._tag`` its git repository only on first use, the
verdict cache reads the libraries' versions without ``importlib.metadata``, and plain
``name==version`` pins are read without packaging's requirement grammar."""


def test_a_warm_run_imports_no_http_library_and_no_sigstore(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(setup.tmp)  # no policy file found in the working directory (TOML)
    setup.verify(capsys)
    before = len(setup.index.server.requests)
    argv = [
        *(sys.executable, "-c", _WARM_PROBE, "--lockfile", str(setup.lock)),
        *base_args(setup.index.url, setup.cache),
        *("--trusted-root", str(setup.root), "--format", "json"),
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=300, cwd=setup.tmp
    )
    assert done.returncode == 0, done.stderr
    assert len(setup.index.server.requests) == before
    modules = ast.literal_eval(done.stdout.splitlines()[-1])
    imported = [
        m for m in modules if any(m == n or m.startswith(f"{n}.") for n in _NOT_FOR_A_WARM_RUN)
    ]
    assert imported == []


_THREAD_PROBE = """\
import sys, threading
from verifier.cli import main
started = []
real = threading.Thread.start
def counting(self):
    started.append(self.name)
    return real(self)
threading.Thread.start = counting
code = main(sys.argv[1:])
print(len([name for name in started if "ThreadPoolExecutor" in name]))
raise SystemExit(code)
"""


def test_a_warm_run_with_workers_starts_no_more_threads_than_jobs(
    stack: LocalSigstore, index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Six packages of two files each, every verdict already reused: nothing waits for a
    # verdict, so no more packages are let in than --jobs (pipeline.Admission; here the JSON
    # API answers 404, asked again each run, so a second runner comes in with those requests),
    # and a release of two files uses no file thread: at most 2 threads.
    root = stack.write_trusted_root(tmp_path / "trusted_root.json")
    cache = tmp_path / "cache"
    lines = []
    claims = GitHubClaims(repository="acme/pair", workflow="release.yml", ref="refs/tags/v1")
    for number in range(6):
        name = f"pair{number}"
        dists = []
        for tag in ("py3-none-any", "py2-none-any"):
            filename = f"{name}-1.0-{tag}.whl"
            content = f"{filename}: a wheel\n".encode()
            dists.append(DistFile(filename, content, stack.provenance(filename, content, claims)))
            lines.append(f"--hash=sha256:{hashlib.sha256(content).hexdigest()}")
        index.add_release(name, "1.0", dists)
        lines[-2:] = [f"{name}==1.0 {lines[-2]} {lines[-1]}"]
    lock = tmp_path / "requirements.txt"
    lock.write_text("\n".join(lines) + "\n")
    common = [
        *("--lockfile", str(lock), *base_args(index.url, cache)),
        *("--trusted-root", str(root), "--format", "json", "--jobs", "2"),
    ]
    cold = run(capsys, *common, "--verify-processes", "0")
    assert cold.code == 0, cold.out + cold.err
    done = subprocess.run(
        [sys.executable, "-c", _THREAD_PROBE, *common, "--verify-processes", "2"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads("\n".join(done.stdout.splitlines()[:-1]))["verdict"] == "verified"
    assert int(done.stdout.splitlines()[-1]) <= 2


def test_a_verdict_is_never_written_through_a_shard_swapped_for_a_symlink(tmp_path: Path) -> None:
    """The shard folder is made once per cache but checked again before every write."""
    cache = VerdictCache(tmp_path / "verdicts", mac_key=b"k" * 32, context="c")
    result = CheckResult(
        check=Check.ATTESTATION, status=Status.PROVEN, subject="alpha", message="verified"
    )
    cache.put("ab" + "0" * 62, result)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "verdicts" / "ab").rename(tmp_path / "old-ab")
    (tmp_path / "verdicts" / "ab").symlink_to(elsewhere)
    cache.put("ab" + "1" * 62, result)
    assert list(elsewhere.iterdir()) == []


def test_a_cold_run_with_workers_and_the_background_writer_leaves_a_complete_cache(
    setup: Setup, verifications: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A cold lockfile run (workers, and its cache entries written by ``verifier.writer``) has
    every entry on disk when it exits, and leaves no process behind: a warm run then verifies
    nothing and asks the index nothing."""
    if available_cores() < 2:
        pytest.skip("helpers are forked from two cores")
    argv = [
        *(sys.executable, "-m", "verifier", "--lockfile", str(setup.lock)),
        *base_args(setup.index.url, setup.cache),
        *("--trusted-root", str(setup.root), "--format", "json", "-v"),
    ]
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=setup.tmp,
    ) as process:
        out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "cache entries are written by a background process" in err
    try:
        os.killpg(process.pid, 0)
        left = True
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        left = False
    assert not left, "a helper process outlived the run"
    assert len(setup.entries()) == 2
    before = len(setup.index.server.requests)
    warm = setup.verify(capsys)
    assert verifications == []
    assert warm.json()["releases"] == json.loads(out)["releases"]
    assert [r.path for r in setup.index.server.requests[before:]] == []
