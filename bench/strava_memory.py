"""Peak memory of reconciling a window of 50,000 activities, as a ratio to 1,000 (target: < 1.5x).

    .venv/bin/python -m bench.strava_memory [--sizes 1000 50000] [--runs 3] [--days 1097]

Each measurement is one reconciliation in a fresh child interpreter, so no peak carries over from an
earlier run or size. The child runs the task's own function, ``extract_window``, over a window that holds
the whole seeded history (3 years by default; ``--days 7`` puts all N activities in one week): one paging
pass over HTTP from the Strava stand-in spooled to a local file, every day's snapshot against the
stored digest (HEAD), then the raw listing and every day's Parquet written to S3 (the local AWS
endpoint, a fresh bucket: every day is new). It reports its peak RSS (VmHWM) and, for context, its RSS
after the imports and before the reconciliation (the baseline a task process already has; a real
Airflow worker's is larger, which would only lower the ratio). The stand-in and the local AWS run in
this process; the stand-in's rate limits are raised so a run measures memory, not waiting.

The figure is median peak RSS at the large size over median peak RSS at the small size. Prints the
medians and the ratio, writes bench/results/strava_memory.json; exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
END = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 365 * 3 + 2  # the window: the seeded history, so one reconciliation lists all N activities
TARGET = 1.5


def _proc_status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_kib() -> int:
    """This process's peak RSS: VmHWM, which belongs to the address space exec() created.

    (``ru_maxrss`` is only the fallback: it survives exec(), so a child spawned by a parent that holds
    50,000 activities could report the parent's size.)
    """
    peak = _proc_status_kib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(base_url: str, bucket: str, days: int) -> None:
    """Reconcile the window of ``days`` up to END into the empty ``bucket`` once; print what it measured
    as JSON."""
    # The task's imports, loaded before the baseline is read (an extraction task has them too).
    import boto3

    from datalake.strava.client import StravaClient
    from datalake.strava.extract import extract_window
    from datalake.strava.layout import run_label
    from datalake.strava.window import Window

    s3 = boto3.client("s3")  # endpoint and credentials from the AWS_* variables
    s3.create_bucket(Bucket=bucket)
    client = StravaClient(base_url, os.environ.pop("BENCH_STRAVA_ACCESS_TOKEN"))
    window = Window((END - timedelta(days=days)).date(), END.date())
    baseline = _proc_status_kib("VmRSS") or 0
    started = time.perf_counter()
    result = extract_window(client, s3, bucket, window, run_label=run_label(END))
    seconds = time.perf_counter() - started
    peak = peak_rss_kib()
    print(
        json.dumps(
            {
                "rows": result.rows,
                "pages": result.pages,
                "api_calls": result.api_calls,
                "days_written": len(result.days),
                "largest_day": max(result.rows_by_day.values()),
                "peak_kib": peak,
                "baseline_kib": baseline,
                "seconds": seconds,
                "raw_bytes": s3.head_object(Bucket=bucket, Key=result.raw_key)["ContentLength"],
            }
        )
    )


def measure(n: int, runs: int, days: int, aws_env: dict[str, str]) -> dict[str, Any]:
    import uuid

    from datalake.strava.tokens import exchange_refresh_token
    from devstack.strava_api import StravaStandIn, seed_activities

    activities = seed_activities(n, end=END, days=days - 1)
    limits = {
        "read_limit_15min": 10**6,
        "read_limit_daily": 10**7,
        "overall_limit_15min": 10**6,
        "overall_limit_daily": 10**7,
    }
    results = []
    with StravaStandIn(activities, **limits) as strava:
        for run in range(1, runs + 1):
            tokens = exchange_refresh_token(
                strava.base_url, strava.client_id, strava.client_secret, strava.refresh_token, conn_id="bench"
            )
            env = {**os.environ, **aws_env, "BENCH_STRAVA_ACCESS_TOKEN": tokens.access_token or ""}
            out = subprocess.run(
                [
                    *(sys.executable, "-m", "bench.strava_memory", "--days", str(days)),
                    *("--child", strava.base_url, f"bench-strava-memory-{uuid.uuid4().hex[:8]}"),
                ],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if out.returncode != 0:
                raise RuntimeError(f"reconciling {n} activities failed (run {run}):\n{out.stderr[-4000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            if result["rows"] != n:
                raise RuntimeError(f"reconciled {result['rows']} of {n} activities (run {run})")
            print(
                f"  N={n:>6} run {run}/{runs}: peak {result['peak_kib'] / 1024:.0f} MiB "
                f"(baseline {result['baseline_kib'] / 1024:.0f} MiB), {result['seconds']:.1f}s, "
                f"{result['days_written']} days written (the largest {result['largest_day']} activities)",
                flush=True,
            )
            results.append(result)

    def median(field: str) -> float:
        return statistics.median(r[field] for r in results)

    return {
        "n": n,
        "runs": len(results),
        "peak_mib_median": median("peak_kib") / 1024,
        "baseline_mib_median": median("baseline_kib") / 1024,
        "growth_mib_median": statistics.median(r["peak_kib"] - r["baseline_kib"] for r in results) / 1024,
        "seconds_median": median("seconds"),
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 50000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--runs", type=int, default=3, help="fresh child processes per size (median)")
    parser.add_argument("--days", type=int, default=DAYS, help="days in the window (the seeded history)")
    parser.add_argument("--child", nargs=2, metavar=("BASE_URL", "BUCKET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child, args.days)
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    from devstack.aws import LocalAws, client_environment

    command = (
        f".venv/bin/python -m bench.strava_memory --sizes {args.sizes[0]} {args.sizes[1]} --runs {args.runs}"
        f" --days {args.days}"
    )
    print(command, flush=True)
    import datalake.strava.tokens  # noqa: F401 - configures logging (Airflow's); quieten after it

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the local AWS's access log
    with LocalAws(athena=False) as aws:
        aws_env = client_environment(aws.endpoint_url)
        small, large = (measure(n, args.runs, args.days, aws_env) for n in args.sizes)
    ratio = large["peak_mib_median"] / small["peak_mib_median"]
    for row in (small, large):
        print(
            f"N={row['n']:>6}: peak RSS median {row['peak_mib_median']:.0f} MiB "
            f"(baseline {row['baseline_mib_median']:.0f} MiB, growth {row['growth_mib_median']:.1f} MiB), "
            f"{row['seconds_median']:.1f}s per run (median of {row['runs']} runs)"
        )
    print(f"ratio {args.sizes[1]} / {args.sizes[0]}: {ratio:.2f} (target < {TARGET})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "strava_memory",
        "command": command,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "target": f"ratio < {TARGET}",
        "ratio": ratio,
        "met": ratio < TARGET,
        "small": small,
        "large": large,
    }
    (RESULTS / "strava_memory.json").write_text(json.dumps(document, indent=2))
    return 0 if ratio < TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
