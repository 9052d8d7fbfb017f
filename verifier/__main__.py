"""Allow ``python -m verifier``, with the console script's exit codes (a bug exits 4, not 1)."""

from verifier.cli import entry

if __name__ == "__main__":  # pragma: no cover
    entry()
