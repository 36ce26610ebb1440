"""Run every benchmark under bench/ in turn: ``make bench`` or ``.venv/bin/python -m bench [name ...]``.

Each benchmark is a module here with a ``main()``; run one alone with ``.venv/bin/python -m bench.<name>``.
Results are printed and written as JSON to bench/results/ (git-ignored).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = argv or sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_"))
    failed = []
    for name in names:
        print(f"\n=== bench.{name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        if module.main([]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
