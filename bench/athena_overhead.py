"""The local Athena's overhead: a storage-class summary of a 1,000,000-object inventory drop.

    .venv/bin/python -m bench.athena_overhead [--objects 1000000] [--runs 5]

Generates one S3 Inventory drop (Parquet data files plus ``hive/dt=.../symlink.txt``, as S3 writes it),
uploads it to the local AWS endpoint (started as a child process, ``python -m devstack.aws``), and times
the same summary query two ways:

- end to end through the Athena API: StartQueryExecution, polling GetQueryExecution every 10 ms,
  GetQueryResults;
- directly in DuckDB (same version, same thread count) over the same Parquet files on local disk, in a
  child process of its own: the very SQL the local Athena hands DuckDB for this query, over a view that
  types the columns as the table declares them (``last_modified_date`` bigint epoch millis, ``dt``).

Both sides are warmed up once, then run alternately (API, direct, API, direct, ...) so that both see the
same load on the machine; the figures are medians. For reference it also times DuckDB's own shortest
spelling of the summary (``min(last_modified_date)`` on the native TIMESTAMP column, no partition column),
which does less work per row than the query under test.

Prints the medians, their ratio (target: under 2x), the bytes the query scanned, and peak memory: the
stack process's peak RSS before and after the queries (it also holds the uploaded files, as S3 would), and
the direct DuckDB process's peak RSS. Writes bench/results/athena_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BUCKET = "bench-inventory"
RESULTS_BUCKET = "bench-athena-results"
ROOT_PREFIX = "inventory/media-prod/daily-parquet"
DT = "2026-11-01-01-00"
CLASSES = ["STANDARD", "STANDARD_IA", "GLACIER", "DEEP_ARCHIVE", "INTELLIGENT_TIERING", "ONEZONE_IA"]

SUMMARY = """
SELECT storage_class, count(*) AS objects, sum(size) AS bytes,
       min(from_unixtime(last_modified_date / 1000)) AS oldest
FROM {table}
WHERE {where}
GROUP BY storage_class
ORDER BY storage_class
"""

# SUMMARY as the local Athena hands it to DuckDB (its debug log prints it: "DuckDB SQL: ..."): integer
# division truncates, from_unixtime(seconds) is make_timestamp(micros).
DIRECT = """
SELECT storage_class, count(*) AS objects, sum(size) AS bytes,
       min(make_timestamp(CAST((last_modified_date // 1000) * 1000000 AS BIGINT))) AS oldest
FROM inventory
WHERE dt = '{dt}'
GROUP BY storage_class
ORDER BY storage_class
"""

# The table's columns as declared (the data files hold last_modified_date as TIMESTAMP(MILLIS)).
DIRECT_VIEW = """
CREATE VIEW inventory AS
SELECT bucket, key, version_id, is_latest, is_delete_marker, size,
       epoch_ms(last_modified_date) AS last_modified_date, e_tag, storage_class, '{dt}' AS dt
FROM read_parquet({files})
"""

# DuckDB's shortest spelling of the summary, for reference: less work per row than the query under test.
NATIVE = """
SELECT storage_class, count(*) AS objects, sum(size) AS bytes, min(last_modified_date) AS oldest
FROM read_parquet({files})
GROUP BY storage_class
ORDER BY storage_class
"""

# A DuckDB process of its own that runs a query each time it reads "<name>" on stdin and answers with
# its time and rows; "quit" answers with its peak memory (VmHWM, not ru_maxrss, which a forked child
# inherits from its parent).
DIRECT_CHILD = """
import json, sys, time
import duckdb
queries = json.loads(sys.argv[1])
con = duckdb.connect(config={"threads": 2})
con.execute("SET TimeZone = 'UTC'")
con.execute(sys.argv[2])
for line in sys.stdin:
    name = line.strip()
    if name == "quit":
        break
    start = time.perf_counter()
    rows = con.sql(queries[name]).fetchall()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": [list(map(str, r)) for r in rows]}), flush=True)
print(json.dumps({"max_rss_kb": int(next(l.split()[1] for l in open("/proc/self/status")
                                         if l.startswith("VmHWM:")))}), flush=True)
"""


class DirectDuckDB:
    """The direct side: a DuckDB child process over the local files, asked to run one query at a time."""

    def __init__(self, files: list[Path]) -> None:
        paths = repr([str(p) for p in files])
        queries = {"same": DIRECT.format(dt=DT), "native": NATIVE.format(files=paths)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DIRECT_CHILD, json.dumps(queries), DIRECT_VIEW.format(dt=DT, files=paths)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, line: str) -> dict[str, Any]:
        if self.proc.stdin is None or self.proc.stdout is None:
            raise RuntimeError("the direct DuckDB process has no pipes")
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"the direct DuckDB process ended (exit code {self.proc.wait()})")
        return json.loads(answer)

    def run(self, name: str) -> tuple[float, list[list[str]]]:
        answer = self.ask(name)
        return answer["seconds"], answer["rows"]

    def close(self) -> int:
        """Stops the process; returns its peak RSS in KiB."""
        try:
            return self.ask("quit")["max_rss_kb"]
        except BaseException:
            self.proc.kill()
            raise
        finally:
            self.proc.wait(timeout=30)


def generate(directory: Path, objects: int, files: int) -> list[Path]:
    """``files`` Parquet data files of an inventory drop with ``objects`` rows in all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(42)
    paths = []
    per_file = -(-objects // files)
    for n in range(files):
        count = min(per_file, objects - n * per_file)
        first = n * per_file
        table = pa.table(
            {
                "bucket": pa.array(["media-prod"] * count, pa.string()),
                "key": pa.array([f"photos/{i // 1000:05d}/{i:09d}.jpg" for i in range(first, first + count)]),
                "version_id": pa.array([f"v{rng.getrandbits(32):08x}" for _ in range(count)]),
                "is_latest": pa.array([rng.random() > 0.1 for _ in range(count)], pa.bool_()),
                "is_delete_marker": pa.array([rng.random() < 0.01 for _ in range(count)], pa.bool_()),
                "size": pa.array([rng.randint(0, 50_000_000) for _ in range(count)], pa.int64()),
                "last_modified_date": pa.array(
                    [1_500_000_000_000 + rng.randint(0, 300_000_000_000) for _ in range(count)],
                    pa.timestamp("ms"),
                ),
                "e_tag": pa.array([f"{rng.getrandbits(128):032x}" for _ in range(count)]),
                "storage_class": pa.array([rng.choice(CLASSES) for _ in range(count)]),
            }
        )
        path = directory / f"part-{n:02d}.parquet"
        pq.write_table(table, path, compression="snappy")
        paths.append(path)
    return paths


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run_athena(athena: Any, sql: str) -> tuple[float, list[list[str]], int]:
    start = time.perf_counter()
    query_id = athena.start_query_execution(
        QueryString=sql, ResultConfiguration={"OutputLocation": f"s3://{RESULTS_BUCKET}/bench/"}
    )["QueryExecutionId"]
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] not in ("QUEUED", "RUNNING"):
            break
        time.sleep(0.01)
    if execution["Status"]["State"] != "SUCCEEDED":
        raise RuntimeError(f"query failed: {execution['Status']}")
    result = athena.get_query_results(QueryExecutionId=query_id)
    elapsed = time.perf_counter() - start
    rows = [[d.get("VarCharValue", "") for d in r["Data"]] for r in result["ResultSet"]["Rows"][1:]]
    return elapsed, rows, execution["Statistics"]["DataScannedInBytes"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each side (at least 3)")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3")

    import boto3

    from devstack.aws import client_environment
    from devstack.processes import python_module, spawn_until_ready, stop_group

    with tempfile.TemporaryDirectory(prefix="athena-bench-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        files = generate(workdir, args.objects, args.files)
        data_bytes = sum(p.stat().st_size for p in files)
        print(
            f"generated {args.objects:,} objects in {len(files)} files, {data_bytes:,} bytes "
            f"({time.perf_counter() - started:.1f}s)"
        )

        proc, url = spawn_until_ready(
            python_module("devstack.aws", "--port", "0"), log_path=workdir / "aws.log"
        )
        try:
            env = client_environment(url)
            os.environ.update(env)
            s3 = boto3.client("s3")
            athena = boto3.client("athena")
            s3.create_bucket(Bucket=BUCKET)
            s3.create_bucket(Bucket=RESULTS_BUCKET)
            uris = []
            for path in files:
                key = f"{ROOT_PREFIX}/data/{path.name}"
                s3.upload_file(str(path), BUCKET, key)
                uris.append(f"s3://{BUCKET}/{key}")
            s3.put_object(
                Bucket=BUCKET, Key=f"{ROOT_PREFIX}/hive/dt={DT}/symlink.txt", Body="\n".join(uris).encode()
            )
            for ddl in (
                "CREATE DATABASE IF NOT EXISTS bench",
                f"""CREATE EXTERNAL TABLE bench.inventory (
                      bucket string, key string, version_id string, is_latest boolean,
                      is_delete_marker boolean, size bigint, last_modified_date bigint, e_tag string,
                      storage_class string)
                    PARTITIONED BY (dt string)
                    ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
                    STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
                    OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat'
                    LOCATION 's3://{BUCKET}/{ROOT_PREFIX}/hive/'""",
                f"ALTER TABLE bench.inventory ADD IF NOT EXISTS PARTITION (dt = '{DT}') "
                f"LOCATION 's3://{BUCKET}/{ROOT_PREFIX}/hive/dt={DT}/'",
            ):
                run_athena(athena, ddl)
            rss_before = peak_rss_kb(proc.pid)
            sql = SUMMARY.format(table="bench.inventory", where=f"dt = '{DT}'")
            direct = DirectDuckDB(files)
            try:
                run_athena(athena, sql)  # warm-up, untimed
                direct.run("same")
                direct.run("native")
                api_times, direct_times, native_times = [], [], []
                for _ in range(args.runs):
                    elapsed, api_rows, scanned = run_athena(athena, sql)
                    api_times.append(elapsed)
                    seconds, direct_rows = direct.run("same")
                    direct_times.append(seconds)
                    seconds, native_rows = direct.run("native")
                    native_times.append(seconds)
            finally:
                direct_rss = direct.close()
            rss_after = peak_rss_kb(proc.pid)
        finally:
            stop_group(proc.pid)

    def plain(rows: list[list[str]]) -> list[list[str]]:
        """Rows as text without what only the printing differs in (Athena's .000, Python's +00:00)."""
        return [[v.replace("+00:00", "").removesuffix(".000") for v in r] for r in rows]

    api_median = statistics.median(api_times)
    direct_median = statistics.median(direct_times)
    native_median = statistics.median(native_times)
    figures = {
        "objects": args.objects,
        "files": len(files),
        "data_bytes": data_bytes,
        "runs": args.runs,
        "athena_api_seconds": api_times,
        "duckdb_direct_seconds": direct_times,
        "duckdb_native_seconds": native_times,
        "athena_api_median_s": round(api_median, 4),
        "duckdb_direct_median_s": round(direct_median, 4),
        "duckdb_native_median_s": round(native_median, 4),
        "ratio": round(api_median / direct_median, 2),
        "ratio_to_native": round(api_median / native_median, 2),
        "data_scanned_bytes": scanned,
        "stack_peak_rss_mb_before_queries": round(rss_before / 1024, 1),
        "stack_peak_rss_mb_after_queries": round(rss_after / 1024, 1),
        "duckdb_direct_peak_rss_mb": round(direct_rss / 1024, 1),
        "bench_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "answer": api_rows,
        # the shortest spelling keeps milliseconds in `oldest`; it must agree on the rest
        "same_answer": plain(api_rows) == plain(direct_rows)
        and [r[:3] for r in api_rows] == [r[:3] for r in native_rows],
    }
    print(f"Athena API    median {api_median:.3f}s  runs {[round(t, 3) for t in api_times]}")
    print(f"DuckDB direct median {direct_median:.3f}s  runs {[round(t, 3) for t in direct_times]}")
    print(
        f"ratio {figures['ratio']}x (target < 2x)   scanned {scanned:,} of {data_bytes:,} bytes"
        f"   [DuckDB's shortest spelling: median {native_median:.3f}s, ratio {figures['ratio_to_native']}x]"
    )
    print(
        f"peak RSS: stack {figures['stack_peak_rss_mb_before_queries']} MB before queries, "
        f"{figures['stack_peak_rss_mb_after_queries']} MB after; direct DuckDB "
        f"{figures['duckdb_direct_peak_rss_mb']} MB"
    )
    print(f"same answer both ways: {figures['same_answer']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "athena_overhead.json").write_text(json.dumps(figures, indent=2))
    return 0 if figures["same_answer"] else 1


if __name__ == "__main__":
    sys.exit(main())
