"""The tamper matrix: one mutation of real material per case, through the real CLI.

Every case starts from REAL production material (the pypi-attestations 0.0.19 sdist and its
PEP 740 provenance; the pypi-attestation-models 0.0.4a2 ``.sigstore`` bundle, as it would sit
on a GitHub Release), applies exactly ONE change, runs ``main([...])`` with ``--offline`` (so
the production trust root shipped inside sigstore is used) and asserts the verdict and an exact
reason fragment. Unmutated real material must still verify. Staging material is presented as
if it were production. The one case real material cannot express (a signed tag on another
commit than the certificate names) uses the local Sigstore world of ``test_chain``; the one
case with two coordinated changes is a compromised index (``index/relists-byte-flipped-dist``).

Base64-embedded JSON (the signed statement, the logged entry body) is checked to re-encode byte
for byte before it is changed, so such a case differs from the original in one field only.
Every case runs as a plain test: none may pass tampered material, crash, or give a wrong reason.

The matrix (case, expected verdict, actual verdict, reason) is written to
``.cache/tamper-matrix.txt`` and printed in the terminal summary; under pytest-xdist the
workers pool their rows, so the file is complete, but only the file holds the table.
"""

from __future__ import annotations

import base64
import copy
import fcntl
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Material
from tests.e2e.helpers import Run, run
from tests.e2e.test_chain import build_world, git
from tests.e2e.test_lockfile import ALLOW_LOCAL, serve_all, write_lock
from tests.e2e.test_spine import REPO, SDIST, serve_sdist
from tests.servers import DistFile, FakeGitHub, FakeIndex

MODELS = "pypi_attestation_models-0.0.4a2.tar.gz"
MODELS_REPO = "https://github.com/trailofbits/pypi-attestation-models"
RFC8785 = "rfc8785-0.1.2-py3-none-any.whl"
RFC8785_REPO = "https://github.com/trailofbits/rfc8785.py"
MATRIX_FILE = ROOT / ".cache" / "tamper-matrix.txt"
X509_V3 = bytes.fromhex("a003020102")
"""The certificate's version field, [0] INTEGER 2 (v3); one bit more is the invalid "v4"."""
SOURCE_DIGEST_OID = bytes.fromhex("060a2b0601040183bf30010d")
"""OID 1.3.6.1.4.1.57264.1.13 (source repository digest); one bit less is .1.12, a duplicate."""
MEDIA_TYPE_V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"
MEDIA_TYPE_UNKNOWN = "application/vnd.dev.sigstore.bundle.v0.9+json"

Json = dict[str, Any]


# -- the matrix collector -----------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    case: str
    expected: str
    actual: str
    reason: str


_ROWS: list[Row] = []
"""This process's rows (the whole matrix unless pytest-xdist splits the cases)."""


def _table(rows: list[Row]) -> list[str]:
    headers = Row("case", "expected", "actual", "reason")
    widths = [
        max(len(getattr(r, name)) for r in (headers, *rows))
        for name in ("case", "expected", "actual")
    ]

    def line(row: Row, mark: str) -> str:
        cells = (row.case, row.expected, row.actual)
        return (
            mark
            + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
            + "  "
            + row.reason
        )

    return [
        line(headers, "   "),
        *(line(r, "   " if r.expected == r.actual else "!! ") for r in rows),
    ]


class _MatrixSummary:
    """Registered at run time (conftest.py is not ours): prints the matrix in the summary."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("tamper matrix (!! = expected verdict not reached)")
            for text in self.lines:
                terminalreporter.write_line(text)


def _shared_rows(config: pytest.Config, row: Row | None) -> list[Row] | None:
    """Under pytest-xdist the workers pool their rows in one file per test run."""
    run_id = getattr(config, "workerinput", {}).get("testrunuid")
    if run_id is None:
        return None
    path = MATRIX_FILE.with_name(f"tamper-matrix-{run_id}.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if row is not None:
            handle.write(json.dumps(asdict(row)) + "\n")
            handle.flush()
        handle.seek(0)
        rows = [Row(**json.loads(line)) for line in handle if line.strip()]
    for stale in path.parent.glob("tamper-matrix-*.jsonl"):
        if stale != path and stale.stat().st_mtime < time.time() - 3600:
            stale.unlink(missing_ok=True)
    return rows


@pytest.fixture(scope="module", autouse=True)
def tamper_matrix(request: pytest.FixtureRequest) -> Iterator[None]:
    """At module teardown, write the matrix to MATRIX_FILE and hand it to the summary."""
    summary = _MatrixSummary()
    if request.config.pluginmanager.get_plugin("tamper-matrix-summary") is None:
        request.config.pluginmanager.register(summary, "tamper-matrix-summary")
    yield
    rows = _shared_rows(request.config, None) or list(_ROWS)
    rows.sort(key=lambda r: _ORDER.get(r.case, len(_ORDER)))
    lines = _table(rows)
    MATRIX_FILE.parent.mkdir(parents=True, exist_ok=True)
    MATRIX_FILE.write_text("\n".join(lines) + "\n")
    plugin = request.config.pluginmanager.get_plugin("tamper-matrix-summary")
    if isinstance(plugin, _MatrixSummary):
        plugin.lines = lines


def _record(config: pytest.Config, row: Row) -> None:
    _ROWS.append(row)
    _shared_rows(config, row)


# -- exact one-field mutations ------------------------------------------------------------------


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _flip_b64(value: str, index: int) -> str:
    """Flip the low bit of one decoded byte of a base64 string."""
    raw = bytearray(base64.b64decode(value))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _edit_b64_json(value: str, change: Callable[[Json], None]) -> str:
    """Decode base64 JSON, check it re-encodes byte for byte, apply ``change``, re-encode."""
    raw = base64.b64decode(value)
    document = json.loads(raw)
    assert _compact(document).encode() == raw, "re-encoding would change more than one field"
    change(document)
    return base64.b64encode(_compact(document).encode()).decode()


def _provenance(change: Callable[[Json], None]) -> Callable[[Material], bytes]:
    """The real sdist provenance with ``change`` applied to its one attestation."""

    def build(material: Material) -> bytes:
        provenance = json.loads(material.provenance(SDIST))
        change(provenance["attestation_bundles"][0]["attestations"][0])
        return json.dumps(provenance).encode()

    return build


def _statement(change: Callable[[Json], None]) -> Callable[[Json], None]:
    def edit(attestation: Json) -> None:
        envelope = attestation["envelope"]
        envelope["statement"] = _edit_b64_json(envelope["statement"], change)

    return edit


def _tlog(change: Callable[[Json], None]) -> Callable[[Json], None]:
    def edit(attestation: Json) -> None:
        change(attestation["verification_material"]["transparency_entries"][0])

    return edit


def _set_subject_digest(statement: Json) -> None:
    statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(b"other bytes").hexdigest()


def _set_subject_name(statement: Json) -> None:
    statement["subject"][0]["name"] = "pypi_attestations-0.0.20.tar.gz"


def _set_predicate_type(statement: Json) -> None:
    statement["predicateType"] = "https://slsa.dev/provenance/v1"


def _add_subject(statement: Json) -> None:
    extra = copy.deepcopy(statement["subject"][0])
    extra["name"] = "pypi_attestations-0.0.19-py3-none-any.whl"
    statement["subject"].append(extra)


def _flip_signature(attestation: Json) -> None:
    attestation["envelope"]["signature"] = _flip_b64(attestation["envelope"]["signature"], -10)


def _empty_signature(attestation: Json) -> None:
    attestation["envelope"]["signature"] = ""


def _remove_signature(attestation: Json) -> None:
    del attestation["envelope"]["signature"]


def _flip_certificate(attestation: Json) -> None:
    material = attestation["verification_material"]
    material["certificate"] = _flip_b64(material["certificate"], -20)


def _flip_der(der_b64: str, marker: bytes) -> str:
    """Flip the low bit of the last byte of ``marker``, which the DER holds exactly once."""
    der = bytearray(base64.b64decode(der_b64))
    assert der.count(marker) == 1
    der[der.index(marker) + len(marker) - 1] ^= 0x01
    return base64.b64encode(bytes(der)).decode()


def _certificate_der(marker: bytes) -> Callable[[Json], None]:
    def edit(attestation: Json) -> None:
        material = attestation["verification_material"]
        material["certificate"] = _flip_der(material["certificate"], marker)

    return edit


def _flip_set(entry: Json) -> None:
    promise = entry["inclusionPromise"]
    promise["signedEntryTimestamp"] = _flip_b64(promise["signedEntryTimestamp"], -5)


def _flip_proof_hash(entry: Json) -> None:
    hashes = entry["inclusionProof"]["hashes"]
    hashes[3] = _flip_b64(hashes[3], 0)


def _flip_root_hash(entry: Json) -> None:
    entry["inclusionProof"]["rootHash"] = _flip_b64(entry["inclusionProof"]["rootHash"], 0)


def _lower_proof_index(entry: Json) -> None:
    """One less: the real index is the tree's last leaf, so one more would be out of range."""
    entry["inclusionProof"]["logIndex"] = str(int(entry["inclusionProof"]["logIndex"]) - 1)


def _bump_log_index(entry: Json) -> None:
    entry["logIndex"] = str(int(entry["logIndex"]) + 1)


def _edit_checkpoint(entry: Json) -> None:
    """The checkpoint's tree-size line, one larger (its signature still over the old text)."""
    checkpoint = entry["inclusionProof"]["checkpoint"]
    origin, size, rest = checkpoint["envelope"].split("\n", 2)
    checkpoint["envelope"] = "\n".join((origin, str(int(size) + 1), rest))


def _edit_body(entry: Json) -> None:
    """The logged DSSE entry's payload hash, as if another statement had been logged."""

    def change(body: Json) -> None:
        payload_hash = body["spec"]["payloadHash"]
        payload_hash["value"] = hashlib.sha256(b"another statement").hexdigest()

    entry["canonicalizedBody"] = _edit_b64_json(entry["canonicalizedBody"], change)


def _drop_promise(entry: Json) -> None:
    del entry["inclusionPromise"]


def _kind_version(entry: Json) -> None:
    entry["kindVersion"]["version"] = "0.0.9"


def _bump_integrated_time(entry: Json) -> None:
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)


def _truncate(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


def _bundle(change: Callable[[Json], None]) -> Callable[[Material], bytes]:
    """The real models ``.sigstore`` bundle with ``change`` applied."""

    def build(material: Material) -> bytes:
        bundle = json.loads(material.read(f"{MODELS}.sigstore"))
        change(bundle)
        return json.dumps(bundle).encode()

    return build


def _bundle_media_type(value: str) -> Callable[[Json], None]:
    def edit(bundle: Json) -> None:
        bundle["mediaType"] = value

    return edit


def _bundle_drop_material(bundle: Json) -> None:
    del bundle["verificationMaterial"]


def _bundle_flip_signature(bundle: Json) -> None:
    signature = bundle["dsseEnvelope"]["signatures"][0]
    signature["sig"] = _flip_b64(signature["sig"], -10)


def _bundle_empty_signature(bundle: Json) -> None:
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = ""


def _bundle_certificate_der(marker: bytes) -> Callable[[Json], None]:
    def edit(bundle: Json) -> None:
        certificate = bundle["verificationMaterial"]["certificate"]
        certificate["rawBytes"] = _flip_der(certificate["rawBytes"], marker)

    return edit


def _bundle_subject_digest(bundle: Json) -> None:
    envelope = bundle["dsseEnvelope"]
    envelope["payload"] = _edit_b64_json(envelope["payload"], _set_subject_digest)


# -- scenarios: what is served, and the command line --------------------------------------------


@dataclass
class Env:
    capsys: pytest.CaptureFixture[str]
    index: FakeIndex
    material: Material
    tmp_path: Path

    def common(self, *skips: str) -> list[str]:
        args = [
            "--index-url",
            self.index.url,
            "--cache-dir",
            str(self.tmp_path / "cache"),
            "--offline",
            "-q",
            "--skip",
            "vulnerabilities",
        ]
        for skip in skips:
            args += ["--skip", skip]
        return args


Scenario = Callable[[Env], Run]


def sdist(
    provenance: Callable[[Material], bytes] | None = None,
    content: Callable[[bytes], bytes] | None = None,
    sha256: Callable[[Material], str] | None = None,
    *,
    download: bool = False,
) -> Scenario:
    """The real pypi-attestations 0.0.19 sdist on the index, with at most one thing changed.

    ``download``: pass ``--download DIR``, the only way the served bytes (not only the index's
    digest) are compared.
    """

    def scenario(env: Env) -> Run:
        overrides: dict[str, Any] = {}
        if provenance is not None:
            overrides["provenance"] = provenance(env.material)
        if content is not None:
            overrides["content"] = content(env.material.read(SDIST))
        if sha256 is not None:
            overrides["sha256"] = sha256(env.material)
        serve_sdist(env.index, env.material, **overrides)
        return run(
            env.capsys,
            "pypi-attestations==0.0.19",
            "--repository",
            REPO,
            "--workflow",
            "release.yml",
            *env.common("bundles", "tags"),
            *(["--download", str(env.tmp_path / "wheelhouse")] if download else []),
        )

    return scenario


def models_bundle(bundle: Callable[[Material], bytes] | None = None) -> Scenario:
    """The real models sdist on the index and its real bundle on the GitHub Release."""

    def scenario(env: Env) -> Run:
        material = env.material
        env.index.add_release(
            "pypi-attestation-models",
            "0.0.4a2",
            [DistFile(MODELS, material.read(MODELS), material.provenance(MODELS))],
            real_page=material.page("pypi-attestation-models"),
        )
        raw = material.read(f"{MODELS}.sigstore") if bundle is None else bundle(material)
        github = FakeGitHub()
        try:
            github.add_release(
                "trailofbits/pypi-attestation-models", "v0.0.4a2", {f"{MODELS}.sigstore": raw}
            )
            return run(
                env.capsys,
                "pypi-attestation-models==0.0.4a2",
                "--repository",
                MODELS_REPO,
                "--workflow",
                "release.yml",
                "--github-api-url",
                github.url,
                *env.common("tags"),
            )
        finally:
            github.close()

    return scenario


def staging_attestation(env: Env) -> Run:
    """The real rfc8785 wheel with its real attestation, signed by Sigstore's staging."""
    material = env.material
    env.index.add_release(
        "rfc8785",
        "0.1.2",
        [DistFile(RFC8785, material.read(RFC8785), material.provenance(RFC8785))],
        real_page=material.page("rfc8785"),
    )
    return run(
        env.capsys,
        "rfc8785==0.1.2",
        "--repository",
        RFC8785_REPO,
        "--workflow",
        "release.yml",
        *env.common("bundles", "tags"),
    )


def staging_bundle(env: Env) -> Run:
    """The real rfc8785 wheel and its real (staging) ``.sigstore`` bundle on the release."""
    material = env.material
    env.index.add_release(
        "rfc8785",
        "0.1.2",
        [DistFile(RFC8785, material.read(RFC8785), None)],
        real_page=material.page("rfc8785"),
    )
    github = FakeGitHub()
    try:
        github.add_release(
            "trailofbits/rfc8785.py",
            "v0.1.2",
            {f"{RFC8785}.sigstore": material.read(f"{RFC8785}.sigstore")},
        )
        return run(
            env.capsys,
            "rfc8785==0.1.2",
            "--repository",
            RFC8785_REPO,
            "--workflow",
            "release.yml",
            "--github-api-url",
            github.url,
            "--allow-missing",
            "attestations",
            *env.common("tags"),
        )
    finally:
        github.close()


def lockfile(tamper: str | None) -> Scenario:
    """Real attested releases pinned in a hash-pinned requirements file."""

    def scenario(env: Env) -> Run:
        serve_all(env.index, env.material)
        lock = write_lock(env.tmp_path / "requirements.txt", env.material, tamper=tamper)
        allow = env.tmp_path / "allow-local.toml"
        allow.write_text(ALLOW_LOCAL)
        return run(
            env.capsys,
            "--lockfile",
            str(lock),
            "--policy",
            str(allow),
            "-v",  # the matrix reads each file's line: the full report
            *env.common("bundles", "tags"),
        )

    return scenario


def tag_moved(env: Env) -> Run:
    """Local Sigstore world; then the signed tag is re-signed on a newer commit."""
    world = build_world(env.tmp_path, env.index)
    try:
        (world.repo / "CHANGES").write_text("a commit after the build\n")
        git(world.repo, "add", "CHANGES")
        git(world.repo, "commit", "-q", "-m", "after the build")
        git(
            world.repo,
            "-c",
            "gpg.format=ssh",
            "-c",
            f"user.signingkey={env.tmp_path / 'signing_key'}",
            "tag",
            "-f",
            "-s",
            "v1.0.0",
            "-m",
            "v1.0.0",
        )
        return run(env.capsys, *world.args("--require", "tags"))
    finally:
        world.github.close()


def _real_sha256(material: Material) -> str:
    """The digest the real index publishes for the real sdist."""
    return hashlib.sha256(material.read(SDIST)).hexdigest()


def _other_sha256(material: Material) -> str:
    """The digest the index publishes for another real file (the models sdist)."""
    return hashlib.sha256(material.read(MODELS)).hexdigest()


def _flip_middle(raw: bytes) -> bytes:
    tampered = bytearray(raw)
    tampered[len(tampered) // 2] ^= 0x01
    return bytes(tampered)


def _swap_certificate(attestation: Json, material: Material) -> None:
    other = json.loads(material.read(f"{MODELS}.attestation"))
    attestation["verification_material"]["certificate"] = other["verification_material"][
        "certificate"
    ]


def _swapped_certificate(material: Material) -> bytes:
    provenance = json.loads(material.provenance(SDIST))
    _swap_certificate(provenance["attestation_bundles"][0]["attestations"][0], material)
    return json.dumps(provenance).encode()


def _truncated_provenance(material: Material) -> bytes:
    return _truncate(material.provenance(SDIST))


def _truncated_bundle(material: Material) -> bytes:
    return _truncate(material.read(f"{MODELS}.sigstore"))


# -- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    scenario: Scenario
    verdict: str
    reason: str
    xfail: str | None = None
    """Why the product gets this case wrong today (the case then runs as a strict xfail)."""


VERIFIED, FAILED, UNVERIFIABLE = "VERIFIED", "FAILED", "UNVERIFIABLE"
INVALID_SIGNATURE = "signature verification failed: DSSE: invalid signature"
BAD_LOG_ENTRY = "signature verification failed: invalid log entry: "
BAD_ROOT_HASH = BAD_LOG_ENTRY + "inclusion proof contains invalid root hash"
BAD_SET = BAD_LOG_ENTRY + "SET: invalid inclusion promise: keyring: invalid signature"
BAD_CHAIN = "signature verification failed: failed to build timestamp certificate chain: "
NOT_A_BUNDLE = f"{MODELS}.sigstore: not a valid Sigstore bundle: InvalidBundle: "

CASES = [
    # -- unmutated real material must verify
    Case(
        "real/provenance-sdist",
        sdist(),
        VERIFIED,
        f"1 attestation verified (publish/v1) from {REPO}",
    ),
    Case(
        "real/models-bundle",
        models_bundle(),
        VERIFIED,
        f"{MODELS}.sigstore verified for identity "
        f"{MODELS_REPO}/.github/workflows/release.yml@refs/tags/v0.0.4a2",
    ),
    Case(
        "real/lockfile",
        lockfile(None),
        VERIFIED,
        "the pinned hash is published by the index",
    ),
    # -- the distribution and the index
    Case(
        "dist/byte-flipped",
        sdist(content=_flip_middle, sha256=_real_sha256, download=True),
        FAILED,
        "the downloaded file does not match the digest the index publishes",
    ),
    Case(
        "index/lists-another-sha256",
        sdist(sha256=_other_sha256),
        FAILED,
        "attested sha256 differs from the file's",
    ),
    Case(
        "index/lists-another-sha256-downloaded",
        sdist(sha256=_other_sha256, download=True),
        FAILED,
        "the downloaded file does not match the digest the index publishes",
    ),
    Case(
        "index/relists-byte-flipped-dist",
        sdist(content=_flip_middle),
        FAILED,
        "attested sha256 differs from the file's",
    ),
    # -- the signed statement (DSSE payload), re-encoded
    Case(
        "statement/subject-digest",
        sdist(_provenance(_statement(_set_subject_digest))),
        FAILED,
        INVALID_SIGNATURE,
    ),
    Case(
        "statement/subject-name",
        sdist(_provenance(_statement(_set_subject_name))),
        FAILED,
        INVALID_SIGNATURE,
    ),
    Case(
        "statement/predicate-type",
        sdist(_provenance(_statement(_set_predicate_type))),
        FAILED,
        INVALID_SIGNATURE,
    ),
    Case(
        "statement/extra-subject",
        sdist(_provenance(_statement(_add_subject))),
        FAILED,
        INVALID_SIGNATURE,
    ),
    # -- the DSSE signature
    Case(
        "signature/byte-flipped",
        sdist(_provenance(_flip_signature)),
        FAILED,
        INVALID_SIGNATURE,
    ),
    Case(
        "signature/empty",
        sdist(_provenance(_empty_signature)),
        FAILED,
        "envelope signature must be non-empty",
    ),
    Case(
        "signature/removed",
        sdist(_provenance(_remove_signature)),
        FAILED,
        "provenance is not a valid PEP 740 object: "
        "attestation_bundles.0.attestations.0.envelope.signature: Field required",
    ),
    # -- the certificate
    Case(
        "certificate/byte-flipped",
        sdist(_provenance(_flip_certificate)),
        FAILED,
        BAD_CHAIN + "validation failed: candidates exhausted: signature does not match",
    ),
    Case(
        "certificate/another-real-one",
        sdist(_swapped_certificate),
        FAILED,
        BAD_CHAIN + "validation failed: cert is not valid at validation time",
    ),
    Case(
        "certificate/version-field",
        sdist(_provenance(_certificate_der(X509_V3))),
        FAILED,
        "3 is not a valid X509 version",
    ),
    Case(
        "certificate/duplicate-extension",
        sdist(_provenance(_certificate_der(SOURCE_DIGEST_OID))),
        FAILED,
        "Duplicate 1.3.6.1.4.1.57264.1.12 extension found",
    ),
    # -- the transparency log entry
    Case(
        "tlog/signed-entry-timestamp",
        sdist(_provenance(_tlog(_flip_set))),
        FAILED,
        BAD_SET,
    ),
    Case(
        "tlog/inclusion-promise-removed",
        sdist(_provenance(_tlog(_drop_promise))),
        FAILED,
        "bundle must contain an inclusion promise or signed timestamp(s)",
    ),
    Case(
        "tlog/inclusion-proof-hash",
        sdist(_provenance(_tlog(_flip_proof_hash))),
        FAILED,
        BAD_ROOT_HASH,
    ),
    Case(
        "tlog/root-hash",
        sdist(_provenance(_tlog(_flip_root_hash))),
        FAILED,
        BAD_ROOT_HASH,
    ),
    Case(
        "tlog/inclusion-proof-log-index",
        sdist(_provenance(_tlog(_lower_proof_index))),
        FAILED,
        BAD_ROOT_HASH,
    ),
    Case(
        "tlog/entry-log-index",
        sdist(_provenance(_tlog(_bump_log_index))),
        FAILED,
        BAD_SET,
    ),
    Case(
        "tlog/checkpoint-text",
        sdist(_provenance(_tlog(_edit_checkpoint))),
        FAILED,
        BAD_LOG_ENTRY + "checkpoint: invalid signature: keyring: invalid signature",
    ),
    Case(
        "tlog/canonicalized-body",
        sdist(_provenance(_tlog(_edit_body))),
        FAILED,
        BAD_ROOT_HASH,
    ),
    Case(
        "tlog/integrated-time",
        sdist(_provenance(_tlog(_bump_integrated_time))),
        FAILED,
        BAD_SET,
    ),
    Case(
        "tlog/kind-version",
        sdist(_provenance(_tlog(_kind_version))),
        FAILED,
        "Expected log entry version 0.0.1 - 0.0.2, got 0.0.9",
    ),
    # -- the real bundle on the GitHub Release stand-in
    Case(
        "bundle/media-type-v0.1",
        models_bundle(_bundle(_bundle_media_type(MEDIA_TYPE_V01))),
        FAILED,
        NOT_A_BUNDLE + "expected certificate chain in bundle",
    ),
    Case(
        "bundle/media-type-unknown",
        models_bundle(_bundle(_bundle_media_type(MEDIA_TYPE_UNKNOWN))),
        FAILED,
        NOT_A_BUNDLE + "failed to load bundle: 1 validation error for Bundle mediaType",
    ),
    Case(
        "bundle/verification-material-removed",
        models_bundle(_bundle(_bundle_drop_material)),
        FAILED,
        NOT_A_BUNDLE + "failed to load bundle: 1 validation error for Bundle verificationMaterial",
    ),
    Case(
        "bundle/dsse-signature-flipped",
        models_bundle(_bundle(_bundle_flip_signature)),
        FAILED,
        f"{MODELS}.sigstore: {INVALID_SIGNATURE}",
    ),
    Case(
        "bundle/dsse-signature-empty",
        models_bundle(_bundle(_bundle_empty_signature)),
        FAILED,
        "envelope signature must be non-empty",
    ),
    Case(
        "bundle/certificate-duplicate-extension",
        models_bundle(_bundle(_bundle_certificate_der(SOURCE_DIGEST_OID))),
        FAILED,
        "Duplicate 1.3.6.1.4.1.57264.1.12 extension found",
    ),
    Case(
        "bundle/subject-digest",
        models_bundle(_bundle(_bundle_subject_digest)),
        FAILED,
        f"{MODELS}.sigstore: {INVALID_SIGNATURE}",
    ),
    # -- malformed JSON
    Case(
        "json/provenance-truncated",
        sdist(_truncated_provenance),
        FAILED,
        "provenance is not a valid PEP 740 object: (top level): Invalid JSON: EOF while parsing",
    ),
    Case(
        "json/bundle-truncated",
        models_bundle(_truncated_bundle),
        FAILED,
        NOT_A_BUNDLE + "failed to load bundle: 1 validation error for Bundle Invalid JSON",
    ),
    # -- the signed tag (local Sigstore world), the lockfile, staging presented as production
    Case(
        "tag/signed-on-another-commit",
        tag_moved,
        FAILED,
        "commit: the attestation certificate for widget-1.0.0-py3-none-any.whl names another "
        "source commit than tag v1.0.0",
    ),
    Case(
        "lockfile/pinned-hash",
        lockfile("pypi-attestations"),
        FAILED,
        "pinned hash is not one the index publishes for pypi-attestations==0.0.19",
    ),
    Case(
        "staging/rfc8785-attestation",
        staging_attestation,
        FAILED,
        "signed by Sigstore's *staging* instance, which is test infrastructure, not production",
    ),
    Case(
        "staging/rfc8785-bundle",
        staging_bundle,
        FAILED,
        f"{RFC8785}.sigstore: signed by Sigstore's *staging* instance, not production",
    ),
]
_ORDER = {case.id: number for number, case in enumerate(CASES)}

_VERDICT = re.compile(r"^verdict: (\w+) \(exit (\d)\)", re.MULTILINE)
_FINDING = re.compile(r"^  (FAILED|UNVERIFIABLE|VERIFIED)\s+(\S+)\s+(\S+)\s+(.*)$", re.MULTILINE)
_LINK = re.compile(r"^    \[FAIL\] (.*)$", re.MULTILINE)
EXIT_CODES = {VERIFIED: 0, FAILED: 1, UNVERIFIABLE: 2}
REASON_WIDTH = 160


def _reason(out: str, verdict: str) -> str:
    """The line that carries the verdict: the first finding (or chain link) with that outcome."""
    findings = [m for m in _FINDING.finditer(out) if m.group(1) == verdict]
    if verdict == FAILED and not findings and (link := _LINK.search(out)):
        text = f"[chain] {link.group(1)}"
    elif not findings:
        text = "(no finding line)"
    else:
        by_check = {m.group(2): m for m in findings}
        first = findings[0]
        if verdict == VERIFIED:
            preferred = ("bundle", "lockfile", "attestation")
            first = next((by_check[c] for c in preferred if c in by_check), first)
        text = f"[{first.group(2)}] {first.group(4)}"
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 3] + "..."


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [],
        )
        for case in CASES
    ],
)
def test_tamper_matrix(
    case: Case,
    capsys: pytest.CaptureFixture[str],
    index: FakeIndex,
    material: Material,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    try:
        result = case.scenario(Env(capsys, index, material, tmp_path))
    except Exception as exc:
        crash = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
        _record(request.config, Row(case.id, case.verdict, "TRACEBACK", crash))
        raise
    verdict = _VERDICT.search(result.out)
    actual = verdict.group(1) if verdict else f"exit {result.code}, no verdict"
    _record(request.config, Row(case.id, case.verdict, actual, _reason(result.out, actual)))
    assert "Traceback" not in result.out + result.err
    assert actual == case.verdict, result.out + result.err
    assert result.code == EXIT_CODES[case.verdict], result.out
    assert case.reason in result.out, result.out
