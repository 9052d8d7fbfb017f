"""Run every benchmark, one after the other, in one command.

    .venv/bin/python benchmarks/run_all.py

Start-up (``--help``) and one release come from bench_spine.py; the 200-package lockfile,
cold and warm cache, from bench_lockfile.py; both print their figures side by side with the
per-file anchors (``sigstore verify identity``, ``pypi-attestations verify``) measured in the
same run; bench_floor.py, the same lockfile cold and warm against the floor (one process that
only verifies the same 400 attestations from disk), with the ratios; bench_tags.py, the bytes
of one tag fetch against a clone of every tag, also side by side in one run. They run one
after the other, never concurrently, so none disturbs another.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE = ("bench_spine.py", "bench_lockfile.py", "bench_floor.py", "bench_tags.py")


def main() -> int:
    """Run each benchmark in its own interpreter; stop at the first one that fails."""
    started = time.monotonic()
    for name in SUITE:
        print(f"==> {name}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / name)], check=False)
        if done.returncode != 0:
            print(f"run_all: {name} exited {done.returncode}", file=sys.stderr)
            return done.returncode
        print(flush=True)
    print(f"run_all: every benchmark ran in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
