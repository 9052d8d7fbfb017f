"""Benchmark the signed-tag fetch: one tag and its commit, against a clone of all tags.

Run from anywhere with the project's virtualenv::

    .venv/bin/python benchmarks/bench_tags.py [COMMITS] [TAG_EVERY]

It writes a repository of COMMITS commits (default 3,000) with an annotated tag on every
TAG_EVERY-th one (default 10) and a signed ``v1.0.0`` on the tip (``git fast-import``, as the
tests do), serves it with ``git http-backend`` (git's smart HTTP) on loopback, and measures in
the same run, each into an empty cache, with the same pinned, config-free git:

- **one tag** (today): ``GitRepo.fetch_tag``: ``git ls-remote --tags`` then
  ``git fetch --depth=1 --filter=tree:0`` of ``refs/tags/v1.0.0`` alone;
- **all tags** (before): the blobless fetch of every tag and its history
  (``git fetch --filter=blob:none +refs/tags/*:refs/tags/*``) that verify-release made until then.

Bytes are the HTTP response bodies the server sent (its request log); time is wall clock, the
median of 5 runs after one warm-up; objects are ``git count-objects -v`` in the fetched copy.
The goal (issue 11): the one-tag fetch under 5% of the bytes of the all-tags fetch.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.gitrepos import big_repository  # noqa: E402
from tests.servers import LoopbackServer, serve_git  # noqa: E402
from verifier.git import GitRepo  # noqa: E402

RUNS = 5


def _all_tags(url: str, dest: Path) -> None:
    """The fetch verify-release made before: every tag, with its commit and tree history."""
    repo = GitRepo(dest)
    dest.mkdir(parents=True)
    repo.run(["init", "--bare", "-q"])
    repo.run(
        [
            *("-c", "protocol.http.allow=always", "fetch", "--filter=blob:none"),
            *("--quiet", "--no-tags", "--force", url, "+refs/tags/*:refs/tags/*"),
        ]
    )


def _one_tag(url: str, dest: Path) -> None:
    GitRepo.fetch_tag(url, dest, ["v1.0.0", "1.0.0"])


def _objects(repo: Path) -> int:
    _, out, _ = GitRepo(repo).run(["count-objects", "-v"])
    counts = dict(line.split(": ") for line in out.splitlines())
    return int(counts["count"]) + int(counts["in-pack"])


def _measure(
    server: LoopbackServer, url: str, scratch: Path, fetch: Callable[[str, Path], None]
) -> tuple[int, int, float, int, int]:
    """(bytes sent, of which the pack, median seconds, requests, objects) of ``fetch``."""
    times: list[float] = []
    sent = pack = requests = objects = 0
    for number in range(RUNS + 1):
        dest = scratch / f"{fetch.__name__}-{number}"
        server.requests.clear()
        start = time.perf_counter()
        fetch(url, dest)
        elapsed = time.perf_counter() - start
        if number:  # the first run warms the server's and the kernel's caches
            times.append(elapsed)
        sent = sum(r.sent for r in server.requests)
        pack = server.requests[-1].sent  # the answer to the last command, fetch: the pack
        requests = len(server.requests)
        objects = _objects(dest)
    return sent, pack, statistics.median(times), requests, objects


def main(argv: list[str]) -> int:
    commits = int(argv[0]) if argv else 3000
    tag_every = int(argv[1]) if len(argv) > 1 else 10
    with tempfile.TemporaryDirectory(prefix="bench-tags-") as tmp:
        scratch = Path(tmp)
        start = time.perf_counter()
        bare, _, _ = big_repository(scratch, commits, tag_every=tag_every)
        built = time.perf_counter() - start
        _, size, _ = GitRepo(bare).run(["count-objects", "-v"])
        served = _objects(bare)
        server = LoopbackServer()
        try:
            serve_git(server, "/acme/widget.git", bare)
            url = f"{server.url}/acme/widget.git"
            one = _measure(server, url, scratch, _one_tag)
            everything = _measure(server, url, scratch, _all_tags)
        finally:
            server.close()
    pack_kib = next(line for line in size.splitlines() if line.startswith("size-pack"))
    print(f"bench_tags  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"repository: {commits} commits, {commits // tag_every if tag_every else 0} annotated "
        f"tags + signed v1.0.0, {served} objects, {pack_kib.split(': ')[1]} KiB packed "
        f"(written in {built:.1f} s); served by git http-backend on loopback"
    )
    print(
        f"  {'fetch':<54} {'bytes':>9} {'pack':>9} {'median s':>9} {'requests':>9} {'objects':>8}"
    )
    rows = (
        ("one tag: ls-remote + fetch --depth=1 --filter=tree:0", one),
        ("all tags: fetch --filter=blob:none refs/tags/*", everything),
    )
    for name, (sent, pack, seconds, requests, objects) in rows:
        print(f"  {name:<54} {sent:>9,} {pack:>9,} {seconds:>9.3f} {requests:>9} {objects:>8}")
    print("  (bytes: every response body the server sent; pack: the answer to git's fetch command)")
    share = 100 * one[0] / everything[0]
    verdict = "met" if share < 5 else "NOT met"
    print(
        f"  one tag = {share:.2f}% of the bytes, {one[2] / everything[2]:.2f}x the time "
        f"(median of {RUNS} after a warm-up); goal < 5% of the bytes: {verdict}"
    )
    return 0 if share < 5 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
