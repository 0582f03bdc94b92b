"""The `cartwatch` command line (placeholder until the grade and docs commands land)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    del argv
    print("cartwatch: commands coming", file=sys.stderr)
    return 2
