"""Peak memory of extracting one interval of 50,000 activities, as a ratio to 1,000 (target: < 1.5x).

    .venv/bin/python -m bench.strava_memory [--sizes 1000 50000] [--runs 3]

The Strava stand-in runs in this process; each extraction runs in a fresh child interpreter (the same
code path as the task: paging over HTTP, streaming each page into gzipped JSON lines and Parquet row
groups) and reports its own peak RSS (VmHWM). The stand-in's rate limits are raised so the run
measures memory, not waiting. Prints medians and the ratio, writes bench/results/strava_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
END = datetime(2026, 11, 1, tzinfo=UTC)
YEARS = 3


def peak_rss_kib() -> int:
    """This process's peak RSS: VmHWM, which belongs to the address space exec() created.

    (``ru_maxrss`` is not used: it survives exec(), so a child spawned by a parent that holds 50,000
    activities would report the parent's size.)
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(base_url: str) -> None:
    """Extract the whole history into local files; print peak RSS (KiB) and rows as JSON."""
    import pyarrow  # noqa: F401 - loaded before the baseline, as in a task

    from datalake.strava.client import StravaClient
    from datalake.strava.extract import write_interval_files

    token = os.environ.pop("BENCH_STRAVA_ACCESS_TOKEN")
    client = StravaClient(base_url, token)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows, pages, _d, _o = write_interval_files(
            client,
            END - timedelta(days=365 * YEARS + 2),
            END + timedelta(days=1),
            Path(tmp) / "r",
            Path(tmp) / "p",
        )
    peak = peak_rss_kib()
    print(
        json.dumps({"rows": rows, "pages": pages, "peak_kib": peak, "seconds": time.perf_counter() - started})
    )


def measure(n: int, runs: int) -> dict[str, Any]:
    from datalake.strava.tokens import exchange_refresh_token
    from devstack.strava_api import StravaStandIn, seed_activities

    activities = seed_activities(n, end=END, days=365 * YEARS)
    limits = {
        "read_limit_15min": 10**6,
        "read_limit_daily": 10**7,
        "overall_limit_15min": 10**6,
        "overall_limit_daily": 10**7,
    }
    results = []
    with StravaStandIn(activities, **limits) as strava:
        for _ in range(runs):
            tokens = exchange_refresh_token(
                strava.base_url, strava.client_id, strava.client_secret, strava.refresh_token, conn_id="bench"
            )
            env = {**os.environ, "BENCH_STRAVA_ACCESS_TOKEN": tokens.access_token or ""}
            out = subprocess.run(
                [sys.executable, "-m", "bench.strava_memory", "--child", strava.base_url],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                timeout=1800,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            if result["rows"] != n:
                raise RuntimeError(f"extracted {result['rows']} of {n} activities")
            results.append(result)
    return {
        "n": n,
        "peak_mib_median": statistics.median(r["peak_kib"] for r in results) / 1024,
        "seconds_median": statistics.median(r["seconds"] for r in results),
        "runs": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 50000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", metavar="BASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    small, large = (measure(n, args.runs) for n in args.sizes)
    ratio = large["peak_mib_median"] / small["peak_mib_median"]
    for row in (small, large):
        print(
            f"N={row['n']:>6}: peak RSS median {row['peak_mib_median']:.0f} MiB, "
            f"{row['seconds_median']:.1f}s (over {args.runs} runs)"
        )
    print(f"ratio {args.sizes[1]} / {args.sizes[0]}: {ratio:.2f} (target < 1.5)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "strava_memory.json").write_text(
        json.dumps({"small": small, "large": large, "ratio": ratio}, indent=2)
    )
    return 0 if ratio < 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
