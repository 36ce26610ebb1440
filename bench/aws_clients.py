"""Time to make one AWS client through the provider's hooks, with the provider's session factory and with
the package's (``datalake.aws_sessions``: one botocore loader per process).

    .venv/bin/python -m bench.aws_clients [--clients 30] [--runs 5]

Each run is a fresh process per factory (the provider reads ``[aws] session_factory`` when its hook
module is first imported): it makes one S3, Athena and Glue client to warm up, then ``--clients`` more
in turn through ``datalake.aws`` (a hook each, as the tasks make them), and reports the median time of
one. No request is sent. The figures are the median, min and max of the runs' medians; runs of the two
factories alternate.

Target: a client through the package's factory in at most a third of the time of the provider's.
Writes bench/results/aws_clients.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench._figures import report, spread
from datalake.aws_sessions import SESSION_FACTORY

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1 / 3
FACTORIES = {"provider": "", "package": SESSION_FACTORY}

PROBE = """
import json, statistics, sys, time
from datalake import aws
makers = [aws.s3, aws.athena, aws.glue]
for make in makers:
    make()
times = []
for i in range(int(sys.argv[1])):
    started = time.perf_counter()
    makers[i % len(makers)]()
    times.append((time.perf_counter() - started) * 1000)
from airflow.providers.amazon.aws.hooks import base_aws
print(json.dumps({"median_ms": statistics.median(times), "factory": base_aws.SessionFactory.__module__}))
"""


def one_run(factory: str, clients: int) -> float:
    connection = {"conn_type": "aws", "login": "bench", "password": "bench"}
    env = dict(
        os.environ,
        AIRFLOW__AWS__SESSION_FACTORY=factory,
        AIRFLOW_CONN_AWS_DEFAULT=json.dumps(connection),
        PYTHONPATH=str(ROOT / "plugins"),
    )
    found = subprocess.run(
        [sys.executable, "-c", PROBE, str(clients)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    answer = json.loads(found.stdout.strip().splitlines()[-1])
    expected = factory.rsplit(".", 1)[0] if factory else "airflow.providers.amazon.aws.hooks.base_aws"
    if answer["factory"] != expected:
        raise RuntimeError(f"the probe ran with {answer['factory']}, not {expected}")
    return answer["median_ms"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    found: dict[str, list[float]] = {name: [] for name in FACTORIES}
    for _ in range(args.runs):
        for name, factory in FACTORIES.items():
            found[name].append(one_run(factory, args.clients))
    result: dict[str, object] = {"clients_per_run": args.clients, "runs": args.runs}
    for name, values in found.items():
        result[name] = spread(values, digits=1)
    ratio = statistics.median(found["package"]) / statistics.median(found["provider"])
    result |= {"ratio": round(ratio, 3), "target_ratio": round(TARGET_RATIO, 3), "met": ratio <= TARGET_RATIO}
    return report("aws_clients", result)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
