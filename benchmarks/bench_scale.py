"""A real-world-shaped lockfile, and requests made, against the previous main in the same run.

    .venv/bin/python benchmarks/bench_scale.py [--old REV]

What it builds (issue 11's "Measure" section):
- a loopback index serving 150 synthetic projects of 13 files each (an sdist and twelve wheels
  for as many platforms), as PyPI's simple API does (the stand-in's api-version, with per-file
  ``provenance`` keys when the stand-in serves them); a third of the projects are attested
  (local Sigstore provenance for every file), the rest declare none;
- a hash-pinned requirements file for all of them written by the real ``uv pip compile
  --generate-hashes --universal`` against that index (uv installed into a scratch venv);
- every answer of the index delayed by 20 ms, as for a distant index.

Then, side by side in one run: this checkout's ``verify-release --lockfile`` and the previous
main's (``--old REV``, default the commit before issue 10; its ``verifier/`` is extracted with
``git archive`` and run with this venv's libraries), counting the requests each made from the
server's log, with wall time against the floor ``requests x 20 ms / --jobs``. Last,
``verify-release NAME==VERSION`` for a 70-file release: the bytes of distributions fetched.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.servers import DistFile, FakeIndex, LoopbackServer  # noqa: E402
from tests.sigstore_local import GitHubClaims, LocalSigstore  # noqa: E402

PACKAGES = 150
VERSION = "1.0.0"
LATENCY = 0.020
JOBS = 8
ROUNDS = 3
OLD = "be514ba"
"""main before issue 10 (the pipeline redesign) and issue 11."""
PLATFORMS = (
    "cp39-cp39-manylinux_2_17_x86_64",
    "cp310-cp310-manylinux_2_17_x86_64",
    "cp311-cp311-manylinux_2_17_x86_64",
    "cp312-cp312-manylinux_2_17_x86_64",
    "cp313-cp313-manylinux_2_17_x86_64",
    "cp311-cp311-manylinux_2_17_aarch64",
    "cp312-cp312-manylinux_2_17_aarch64",
    "cp311-cp311-macosx_11_0_arm64",
    "cp312-cp312-macosx_11_0_arm64",
    "cp311-cp311-win_amd64",
    "cp312-cp312-win_amd64",
    "py3-none-any",
)


def wheel(project: str, tag: str) -> tuple[str, bytes]:
    """A minimal valid wheel (METADATA, WHEEL, RECORD) for one platform tag."""
    dist = project.replace("-", "_")
    name = f"{dist}-{VERSION}-{tag}.whl"
    info = f"{dist}-{VERSION}.dist-info"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: {project}\nVersion: {VERSION}\nRequires-Python: >=3.9\n",
        )
        archive.writestr(
            f"{info}/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: false\nTag: {tag}\n",
        )
        archive.writestr(f"{dist}/__init__.py", f"# {tag}\n")
        archive.writestr(f"{info}/RECORD", "")
    return name, buffer.getvalue()


def sdist(project: str) -> tuple[str, bytes]:
    """A minimal sdist with PKG-INFO."""
    dist = project.replace("-", "_")
    name = f"{dist}-{VERSION}.tar.gz"
    buffer = io.BytesIO()
    pkg_info = f"Metadata-Version: 2.1\nName: {project}\nVersion: {VERSION}\n".encode()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        member = tarfile.TarInfo(f"{dist}-{VERSION}/PKG-INFO")
        member.size = len(pkg_info)
        archive.addfile(member, io.BytesIO(pkg_info))
    return name, buffer.getvalue()


def build_index(
    index: FakeIndex, sigstore: LocalSigstore, *, extra: dict[str, int] | None = None
) -> tuple[list[str], int, int]:
    """Serve every project; return (projects, files, attested files)."""
    projects = [f"bench-pkg-{n:03d}" for n in range(PACKAGES)]
    total = attested = 0
    for n, project in enumerate(projects):
        files = [sdist(project), *(wheel(project, tag) for tag in PLATFORMS)]
        signed = n % 3 == 0
        claims = GitHubClaims(
            repository=f"acme/{project}", workflow="release.yml", ref=f"refs/tags/v{VERSION}"
        )
        dists = [
            DistFile(name, data, sigstore.provenance(name, data, claims) if signed else None)
            for name, data in files
        ]
        total += len(dists)
        attested += len(dists) if signed else 0
        index.add_release(
            project,
            VERSION,
            dists,
            project_urls={"Source": f"https://github.com/acme/{project}"},
        )
    for project, count in (extra or {}).items():
        dists = [DistFile(*sdist(project))]
        dists += [
            DistFile(*wheel(project, f"cp311-cp311-manylinux_2_{n}_x86_64"))
            for n in range(count - 1)
        ]
        index.add_release(project, VERSION, dists)
    return projects, total, attested


def tools_venv(scratch: Path) -> Path:
    """A scratch venv with uv (from the registry); its uv binary."""
    venv = scratch / "tools"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "uv"], check=True, capture_output=True
    )
    return venv / "bin" / "uv"


def lock_with_uv(uv: Path, index: FakeIndex, projects: list[str], scratch: Path) -> Path:
    """``uv pip compile --generate-hashes --universal``: the real tool writes the lockfile."""
    requirements_in = scratch / "requirements.in"
    requirements_in.write_text("".join(f"{p}=={VERSION}\n" for p in projects))
    out = scratch / "requirements.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env["UV_CACHE_DIR"] = str(scratch / "uv-cache")
    done = subprocess.run(
        [
            str(uv),
            "pip",
            "compile",
            "--quiet",
            "--generate-hashes",
            "--universal",
            "--python-version",
            "3.11",
            "--index-url",
            f"{index.url}/simple",
            str(requirements_in),
            "-o",
            str(out),
        ],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"uv pip compile failed:\n{done.stderr[-3000:]}")
    return out


def old_checkout(rev: str, scratch: Path) -> Path:
    """The previous main's ``verifier/``, extracted (run with this venv's libraries)."""
    where = scratch / f"old-{rev}"
    where.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "verifier"],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(where, filter="data")
    return where


def run(code: Path, argv: list[str], server: LoopbackServer) -> tuple[float, int, int, int]:
    """(wall s, requests, distribution bytes served, exit code) of one verify-release run."""
    before = len(server.requests)
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("GITHUB_TOKEN", None)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from verifier.cli import entry; entry()", *argv],
        env=env,
        capture_output=True,
        timeout=1800,
        cwd=code,  # "-c" puts the working directory first on sys.path: run inside the code
    )
    wall = time.perf_counter() - started
    made = server.requests[before:]
    files = [r for r in made if r.path.startswith("/files/")]
    served = sum(getattr(r, "sent", 0) or 0 for r in files)
    return wall, len(made), len(files) if served == 0 else served, done.returncode


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        scratch = Path(tmp)
        server = LoopbackServer()
        try:
            index = FakeIndex(server)
            sigstore = LocalSigstore()
            root = sigstore.write_trusted_root(scratch / "trusted_root.json")
            started = time.perf_counter()
            projects, files, attested = build_index(index, sigstore, extra={"bench-seventy": 70})
            print(
                f"index: {len(projects)} projects, {files} files, {attested} attested "
                f"(built in {time.perf_counter() - started:.1f} s)"
            )
            uv = tools_venv(scratch)
            lock = lock_with_uv(uv, index, projects, scratch)
            pins = sum(line.count("--hash=sha256:") for line in lock.read_text().splitlines())
            print(f"lockfile: {lock.name} by uv pip compile --generate-hashes: {pins} hashes")
            for route in server.routes.values():
                route.stall_before = LATENCY
            old = old_checkout(OLD, scratch)
            common = [
                "--index-url",
                index.url,
                "--trusted-root",
                str(root),
                "--offline",
                "-q",
                "--no-cache",
                "--skip",
                "bundles",
                "--skip",
                "tags",
                "--skip",
                "vulnerabilities",
                "--allow-missing",
                "attestations",
                "--format",
                "json",
            ]
            rows: dict[str, list[tuple[float, int, int, int]]] = {"this checkout": [], OLD: []}
            for _ in range(ROUNDS):
                for label, code in (("this checkout", ROOT), (OLD, old)):
                    cache = scratch / f"cache-{label.replace(' ', '-')}-{time.monotonic_ns()}"
                    argv = ["--lockfile", str(lock), *common, "--jobs", str(JOBS)]
                    rows[label].append(run(code, [*argv, "--cache-dir", str(cache)], server))
            print(
                f"\n1. the uv lockfile, index {LATENCY * 1000:.0f} ms away, --jobs {JOBS} "
                f"(median of {ROUNDS}, side by side)"
            )
            print(f"  {'code':<16}{'requests':>10}{'wall s':>9}{'floor s':>9}{'x floor':>9}  exit")
            for label, samples in rows.items():
                requests = samples[0][1]
                wall = statistics.median(s[0] for s in samples)
                floor = requests * LATENCY / JOBS
                print(
                    f"  {label:<16}{requests:>10}{wall:>9.2f}{floor:>9.2f}{wall / floor:>9.2f}"
                    f"  {samples[0][3]}"
                )
            ours = rows["this checkout"][0][1]
            goal = 2 * len(projects) + attested + 5
            print(
                f"  goal: requests <= 2 x packages + attested files + a constant = {goal}: "
                f"{'met' if ours <= goal else 'NOT met'} ({ours})"
            )
            wall = statistics.median(s[0] for s in rows["this checkout"])
            bound = 2 * ours * LATENCY / JOBS
            print(
                f"  goal: wall within 2x of requests x 20 ms / {JOBS} = {bound:.2f} s: "
                f"{'met' if wall <= bound else 'NOT met'} ({wall:.2f} s)"
            )
            print("\n2. verify-release bench-seventy==1.0.0 (a release of 70 files)")
            for label, code in (("this checkout", ROOT), (OLD, old)):
                cache = scratch / f"pin-{label.replace(' ', '-')}"
                _, requests, fetched, exit_code = run(
                    code,
                    [f"bench-seventy=={VERSION}", *common, "--cache-dir", str(cache)],
                    server,
                )
                print(
                    f"  {label:<16}{requests:>5} requests, distribution requests/bytes "
                    f"served: {fetched}, exit {exit_code}"
                )
        finally:
            server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
