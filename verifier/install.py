"""Verify, then install exactly what was verified: ``--write-requirements FILE``.

After a VERIFIED run nothing else ties an install to the bytes that were verified: PyPI lets a
maintainer (or a thief of their token) add files to an existing release, and ``pip install
NAME==VERSION`` then takes the newest best-matching file. A requirements file that names every
verified file's sha256 (``NAME==VERSION --hash=sha256:...``) makes ``pip install
--require-hashes --no-deps -r FILE`` (or ``uv pip install --require-hashes``) accept only those
bytes, whatever the index lists later.

The lines come from the judged report (each ``ReleaseReport``'s files, whose digests the run
verified), never from a second look at the index. Nothing is written unless the run exits 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from verifier import atomic
from verifier.errors import UsageError, VerifierError
from verifier.models import Report, RequirementsOutcome, Verdict

INSTALL_COMMAND = "pip install --require-hashes --no-deps -r"


def check_destination(path: Path) -> None:
    """Refuse a FILE that can never be written, before any work (a typo must not cost a run)."""
    if path.is_dir():
        raise UsageError(
            f"--write-requirements {path} is a directory",
            hint="name the requirements file to write, e.g. --write-requirements verified.txt",
        )
    if not path.parent.is_dir():
        raise UsageError(
            f"--write-requirements {path}: no such directory {path.parent}",
            hint="create the directory first, or write the file elsewhere",
        )


def requirements_text(report: Report) -> tuple[str, int, int]:
    """The file's text for a verified report, with its number of requirements and hashes.

    One requirement per project and version, with a ``--hash`` line for every file of it that
    was verified. A subject with no file (a lockfile package that is not from an index, which a
    policy let through) cannot be pinned by hash: it is named in a comment, and installing it is
    left to the user. A file without a sha256, or one project verified at two versions (a
    requirements file installs one), means the file cannot say what was verified: an error, and
    nothing is written.
    """
    hashes: dict[tuple[str, str], list[str]] = {}
    left_out: list[str] = []
    for release in report.releases:
        if not release.files:
            left_out.append(release.label)
            continue
        if release.name is None or release.version is None:
            raise VerifierError(
                f"--write-requirements: {release.label} has no project name and version to pin",
                hint="verify it by NAME==VERSION, or install it by other means",
            )
        digests = hashes.setdefault((release.name, release.version), [])
        for file in release.files:
            if not file.sha256:
                raise VerifierError(
                    f"--write-requirements: {file.filename} of {release.label} has no sha256 "
                    "to pin",
                    hint="only files with a verified sha256 can be installed by hash",
                )
            if file.sha256 not in digests:
                digests.append(file.sha256)
    versions: dict[str, set[str]] = {}
    for name, version in hashes:
        versions.setdefault(name, set()).add(version)
    for name, seen in sorted(versions.items()):
        if len(seen) > 1:
            raise UsageError(
                f"--write-requirements: {name} was verified at {len(seen)} versions "
                f"({', '.join(sorted(seen))}); a requirements file installs one",
                hint="verify one version of each project in a run that writes requirements",
            )
    lines = [
        "# Written by verify-release --write-requirements after a VERIFIED run: every file",
        "# that was verified, by sha256. Install exactly these bytes with:",
        f"#   {INSTALL_COMMAND} THIS_FILE",
    ]
    lines += [f"# not pinned (no file from an index): {label}" for label in left_out]
    for (name, version), digests in sorted(hashes.items()):
        lines.append(f"{name}=={version} \\")
        lines += [f"    --hash=sha256:{digest} \\" for digest in digests[:-1]]
        lines.append(f"    --hash=sha256:{digests[-1]}")
    count = sum(len(d) for d in hashes.values())
    return "\n".join(lines) + "\n", len(hashes), count


@dataclass(frozen=True)
class RequirementsPlan:
    """What ``--write-requirements`` will do, decided before any output is written.

    The reports describe the outcome, so it is decided first; the file itself is written last
    (``commit_requirements``), after every other output, so a run that ends non-zero (a report
    that could not be written) never leaves a fresh requirements file behind.
    """

    outcome: RequirementsOutcome
    text: str | None
    """The file's text; ``None`` when nothing is to be written."""


def plan_requirements(report: Report, path: Path) -> RequirementsPlan:
    """Decide the file for ``report``: its text for a VERIFIED run, else why it is not written."""
    if report.verdict is not Verdict.VERIFIED:
        verdict = report.verdict
        return RequirementsPlan(
            RequirementsOutcome(
                path=str(path),
                written=False,
                message=f"{path} was not written: the verdict is {verdict.value.upper()} "
                f"(exit {verdict.exit_code}); only a VERIFIED run (exit 0) writes requirements",
            ),
            None,
        )
    text, packages, hashes = requirements_text(report)
    return RequirementsPlan(
        RequirementsOutcome(
            path=str(path),
            written=True,
            message=f"wrote {packages} requirement(s) with {hashes} hash(es) to {path}; install "
            f"exactly the verified files with `{INSTALL_COMMAND} {path}`",
            packages=packages,
            hashes=hashes,
        ),
        text,
    )


def commit_requirements(plan: RequirementsPlan, path: Path) -> None:
    """Write the planned file (if any); the caller does so last, and only for exit 0."""
    if plan.text is None:
        return
    try:
        write_atomic(path, plan.text)
    except OSError as exc:
        raise UsageError(
            f"--write-requirements {path}: cannot write: {exc.strerror}",
            hint="check the directory's permissions and free space",
        ) from None


def write_requirements(report: Report, path: Path) -> RequirementsOutcome:
    """Write ``path`` for a report that exits 0; otherwise leave it alone and say why.

    An existing file at ``path`` is replaced whole (never truncated first) and only by a run
    that verified; a run that did not leaves it as it was, so a script's next step cannot
    install from a half-written file. (The CLI plans and commits separately, to write last.)
    """
    plan = plan_requirements(report, path)
    commit_requirements(plan, path)
    return plan.outcome


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a reader sees the old file or the new).

    Replaces a symbolic link at ``path`` rather than writing through it: the file pip reads
    must be the one written here.
    """
    atomic.write_text(path, text, follow_symlinks=False)
