"""What the timing benchmarks share: the spread of several runs' figures, and the result they write."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def spread(values: list[float], digits: int = 2) -> dict[str, float]:
    """The median, min and max of the runs' figures (milliseconds)."""
    return {
        "median_ms": round(statistics.median(values), digits),
        "min_ms": round(min(values), digits),
        "max_ms": round(max(values), digits),
    }


def report(name: str, result: dict[str, Any]) -> int:
    """Print ``result``, write it to bench/results/<name>.json, and return the exit status its ``met``
    says (0 met, 1 not)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["met"] else 1
