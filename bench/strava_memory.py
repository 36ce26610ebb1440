"""Peak memory of extracting one interval of 50,000 activities, as a ratio to 1,000 (target: < 1.5x).

    .venv/bin/python -m bench.strava_memory [--sizes 1000 50000] [--runs 3]

Each measurement is one extraction in a fresh child interpreter, so no peak carries over from an earlier
run or size. The child runs the task's own function, ``extract_interval``: paging over HTTP from the
Strava stand-in, streaming each page into gzipped JSON lines and Parquet row groups, then publishing
both files to S3 (the local AWS endpoint). It reports its peak RSS (VmHWM) and, for context, its RSS
after the imports and before the extraction (the baseline a task process already has; a real Airflow
worker's is larger, which would only lower the ratio). The stand-in and the local AWS run in this
process; the stand-in's rate limits are raised so a run measures memory, not waiting.

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
YEARS = 3
BUCKET = "bench-strava-memory"
TARGET = 1.5
# the interval covers the whole seeded history, so one extraction lists all N activities
START, STOP = END - timedelta(days=365 * YEARS + 2), END + timedelta(days=1)


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


def child(base_url: str, bucket: str) -> None:
    """Extract the whole seeded history into the lake once; print what it measured as JSON."""
    # The task's imports, loaded before the baseline is read (an extraction task has them too).
    import boto3

    from datalake.strava.client import StravaClient
    from datalake.strava.extract import extract_interval

    s3 = boto3.client("s3")  # endpoint and credentials from the AWS_* variables
    client = StravaClient(base_url, os.environ.pop("BENCH_STRAVA_ACCESS_TOKEN"))
    baseline = _proc_status_kib("VmRSS") or 0
    started = time.perf_counter()
    result = extract_interval(client, s3, bucket, START, STOP, run_token="bench")  # noqa: S106 - names temp keys
    seconds = time.perf_counter() - started
    peak = peak_rss_kib()
    sizes = {
        key: s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        for key in (result.raw_key, result.parquet_key)
    }
    print(
        json.dumps(
            {
                "rows": result.rows,
                "pages": result.pages,
                "api_calls": result.api_calls,
                "peak_kib": peak,
                "baseline_kib": baseline,
                "seconds": seconds,
                "object_bytes": sizes,
            }
        )
    )


def measure(n: int, runs: int, aws_env: dict[str, str]) -> dict[str, Any]:
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
        for run in range(1, runs + 1):
            tokens = exchange_refresh_token(
                strava.base_url, strava.client_id, strava.client_secret, strava.refresh_token, conn_id="bench"
            )
            env = {**os.environ, **aws_env, "BENCH_STRAVA_ACCESS_TOKEN": tokens.access_token or ""}
            out = subprocess.run(
                [sys.executable, "-m", "bench.strava_memory", "--child", strava.base_url, BUCKET],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if out.returncode != 0:
                raise RuntimeError(f"extraction of {n} activities failed (run {run}):\n{out.stderr[-4000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            if result["rows"] != n:
                raise RuntimeError(f"extracted {result['rows']} of {n} activities (run {run})")
            print(
                f"  N={n:>6} run {run}/{runs}: peak {result['peak_kib'] / 1024:.0f} MiB "
                f"(baseline {result['baseline_kib'] / 1024:.0f} MiB), {result['seconds']:.1f}s",
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
    parser.add_argument("--child", nargs=2, metavar=("BASE_URL", "BUCKET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    import boto3

    from devstack.aws import REGION, LocalAws, client_environment

    command = (
        f".venv/bin/python -m bench.strava_memory --sizes {args.sizes[0]} {args.sizes[1]} --runs {args.runs}"
    )
    print(command, flush=True)
    import datalake.strava.tokens  # noqa: F401 - configures logging (Airflow's); quieten after it

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the local AWS's access log
    with LocalAws(athena=False) as aws:
        aws_env = client_environment(aws.endpoint_url)
        boto3.client(
            "s3",
            endpoint_url=aws.endpoint_url,
            region_name=REGION,
            aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
        ).create_bucket(Bucket=BUCKET)
        small, large = (measure(n, args.runs, aws_env) for n in args.sizes)
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
