"""Round-trip time of one request to the embedded stack's servers, on a kept-alive connection.

    .venv/bin/python -m bench.request_latency [--requests 200] [--runs 5]

Times ``GET /api/v3/athlete/activities`` (one page of 30) against the Strava stand-in and
``HeadObject`` against the local AWS (``python -m devstack.aws``, a child process), as the DAGs' clients
send them: one ``requests`` session, one boto3 client. Each run sends ``--requests`` requests and takes
their median; the figures are the median, min and max of the runs' medians.

Target: the stand-in answers a page in under 5 ms (median). A server that writes an answer's headers and
body in two writes without TCP_NODELAY answers in about 44 ms instead: Nagle's algorithm holds the body
until the client's delayed ACK of the headers (40 ms on Linux). Writes bench/results/request_latency.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from bench._figures import report, spread
from datalake.strava.tokens import exchange_refresh_token
from devstack.credentials import client
from devstack.processes import python_module, spawn_until_ready, stop_group
from devstack.strava_api import StravaStandIn, seed_activities

TARGET_MS = 5.0
BUCKET = "bench-request-latency"


def medians(call: Callable[[], Any], requests_per_run: int, runs: int) -> list[float]:
    call()  # warm: connection, client, caches
    found = []
    for _ in range(runs):
        times = []
        for _ in range(requests_per_run):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        found.append(statistics.median(times))
    return found


def strava_page(standin: StravaStandIn) -> Callable[[], Any]:
    tokens = exchange_refresh_token(
        standin.base_url, standin.client_id, standin.client_secret, standin.refresh_token, conn_id="bench"
    )
    session = requests.Session()
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    url = f"{standin.base_url}/api/v3/athlete/activities"

    def call() -> None:
        answer = session.get(url, params={"per_page": 30, "page": 1}, headers=headers, timeout=10)
        answer.raise_for_status()

    return call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    limit = 2 * (args.requests * args.runs + 1)  # the stand-in's rate limits out of the way
    limits = {"read_limit_15min": limit, "read_limit_daily": limit}
    limits |= {"overall_limit_15min": limit, "overall_limit_daily": limit}
    with StravaStandIn(seed_activities(200, seed=1, days=30), **limits) as standin:
        strava = medians(strava_page(standin), args.requests, args.runs)
    with tempfile.TemporaryDirectory() as logs:
        proc, url = spawn_until_ready(python_module("devstack.aws", "--port", "0"), log_path=Path(logs) / "a")
        try:
            s3 = client("s3", url)
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key="probe", Body=b"x" * 100)
            aws = medians(lambda: s3.head_object(Bucket=BUCKET, Key="probe"), args.requests, args.runs)
        finally:
            stop_group(proc.pid)

    result = {
        "requests_per_run": args.requests,
        "runs": args.runs,
        "strava_stand_in_page": spread(strava),
        "local_aws_head_object": spread(aws),
        "target_ms": TARGET_MS,
    }
    result["met"] = result["strava_stand_in_page"]["median_ms"] < TARGET_MS
    return report("request_latency", result)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
