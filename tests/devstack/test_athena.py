"""The embedded stack's Athena runs the SQL for real: DDL lands in Glue, queries read S3, failures say why."""

# ruff: noqa: S608 - the SQL under test names tables these tests generate

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.athena import LONG_QUERY

INVENTORY_COLUMNS = """
    bucket string, key string, version_id string, is_latest boolean, is_delete_marker boolean,
    size bigint, last_modified_date bigint, e_tag string, storage_class string
"""

# (key, version_id, is_latest, is_delete_marker, size, last_modified_date ms, storage_class)
OBJECTS = [
    ("a.jpg", "v1", True, False, 100, 1620147401000, "STANDARD"),
    ("b.jpg", "v1", True, False, 250, 1650000000000, "STANDARD"),
    ("c.jpg", "v2", True, False, 50, 1700000000000, "STANDARD"),
    ("c.jpg", "v1", False, False, 40, 1600000000000, "STANDARD"),
    ("d.mov", "v1", True, False, 5000, 1610000000000, "GLACIER"),
    ("e.mov", "v3", True, False, 7000, 1690000000000, "GLACIER"),
    ("e.mov", "v2", False, False, 6000, 1680000000000, "GLACIER"),
    ("f.txt", "v2", True, True, 0, 1695000000000, "STANDARD"),
]


def _inventory_parquet(
    rows: list[tuple[Any, ...]], source_bucket: str = "media-prod", *, dictionary: bool = True
) -> bytes:
    """One inventory data file, typed as S3 writes it (last_modified_date is TIMESTAMP(MILLIS))."""
    table = pa.table(
        {
            "bucket": pa.array([source_bucket] * len(rows), pa.string()),
            "key": pa.array([r[0] for r in rows], pa.string()),
            "version_id": pa.array([r[1] for r in rows], pa.string()),
            "is_latest": pa.array([r[2] for r in rows], pa.bool_()),
            "is_delete_marker": pa.array([r[3] for r in rows], pa.bool_()),
            "size": pa.array([r[4] for r in rows], pa.int64()),
            "last_modified_date": pa.array([r[5] for r in rows], pa.timestamp("ms")),
            "e_tag": pa.array([f"etag-{i}" for i in range(len(rows))], pa.string()),
            "storage_class": pa.array([r[6] for r in rows], pa.string()),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, use_dictionary=dictionary)
    return buffer.getvalue()


class Athena:
    """A tiny client: start a query, poll it to the end, read its results."""

    def __init__(self, output: str) -> None:
        self.client = boto3.client("athena")
        self.output = output

    def start(self, sql: str, database: str = "default", **extra: Any) -> str:
        return self.client.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": database},
            ResultConfiguration={"OutputLocation": self.output},
            **extra,
        )["QueryExecutionId"]

    def wait(self, query_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            execution = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            if execution["Status"]["State"] not in ("QUEUED", "RUNNING"):
                return execution
            time.sleep(0.02)
        raise AssertionError(f"query {query_id} did not finish")

    def run(self, sql: str, database: str = "default", state: str = "SUCCEEDED") -> dict[str, Any]:
        execution = self.wait(self.start(sql, database))
        assert execution["Status"]["State"] == state, execution["Status"]
        return execution

    def rows(self, sql: str, database: str = "default") -> list[list[str | None]]:
        """Result rows without the header row."""
        query_id = self.run(sql, database)["QueryExecutionId"]
        rows = []
        for page in self.client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            rows += [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
        return rows[1:]


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "bucket": f"inventory-{suffix}",
        "results": f"athena-results-{suffix}",
        "database": f"inv_{suffix}",
    }


@pytest.fixture(scope="module")
def athena(local_aws: str, names: dict[str, str]) -> Athena:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=names["bucket"])
    s3.create_bucket(Bucket=names["results"])
    client = Athena(f"s3://{names['results']}/results/")
    client.run(f"CREATE DATABASE IF NOT EXISTS {names['database']}")
    return client


@pytest.fixture(scope="module")
def inventory(athena: Athena, names: dict[str, str]) -> str:
    """One inventory drop in S3's layout (two Parquet files), added with ALTER TABLE ADD PARTITION."""
    s3 = boto3.client("s3")
    bucket, root = names["bucket"], "inventory/media-prod/daily-parquet"
    paths = []
    for i, rows in enumerate((OBJECTS[:5], OBJECTS[5:])):
        key = f"{root}/data/part-{i}.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=_inventory_parquet(rows))
        paths.append(f"s3://{bucket}/{key}")
    hive = f"s3://{bucket}/{root}/hive/"
    s3.put_object(
        Bucket=bucket, Key=f"{root}/hive/dt=2021-05-05-01-00/symlink.txt", Body="\n".join(paths).encode()
    )
    table = f"{names['database']}.media_daily"
    athena.run(
        f"""CREATE EXTERNAL TABLE {table} ({INVENTORY_COLUMNS})
        PARTITIONED BY (dt string)
        ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
        STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
        OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat'
        LOCATION '{hive}'"""
    )
    athena.run(
        f"ALTER TABLE {table} ADD IF NOT EXISTS PARTITION (dt = '2021-05-05-01-00') "
        f"LOCATION '{hive}dt=2021-05-05-01-00/'"
    )
    return table


def test_count_and_bytes_per_storage_class(athena: Athena, inventory: str) -> None:
    rows = athena.rows(
        f"""SELECT storage_class, count(*) AS objects, sum(size) AS bytes
        FROM {inventory} WHERE dt = '2021-05-05-01-00' GROUP BY storage_class ORDER BY storage_class"""
    )
    assert rows == [["GLACIER", "3", "18000"], ["STANDARD", "5", "440"]]


def test_oldest_and_newest_per_class_are_utc_timestamps_from_epoch_millis(
    athena: Athena, inventory: str
) -> None:
    rows = athena.rows(
        f"""SELECT storage_class,
                   min(from_unixtime(last_modified_date / 1000)) AS oldest,
                   max(from_unixtime(last_modified_date / 1000)) AS newest
        FROM {inventory} WHERE is_latest AND NOT is_delete_marker
        GROUP BY 1 ORDER BY 1"""
    )
    assert rows == [
        ["GLACIER", "2021-01-07 06:13:20.000", "2023-07-22 04:26:40.000"],
        ["STANDARD", "2021-05-04 16:56:41.000", "2023-11-14 22:13:20.000"],
    ]


def test_integer_division_truncates_as_in_trino(athena: Athena, inventory: str) -> None:
    rows = athena.rows(
        f"SELECT last_modified_date / 1000, size / 3, 7 / 2, -7 / 2 FROM {inventory} WHERE key = 'a.jpg'"
    )
    assert rows == [["1620147401", "33", "3", "-3"]]


def test_url_decode_decodes_as_trino_with_plus_as_a_space(athena: Athena) -> None:
    # Trino's url_decode is Java's URLDecoder: '+' is a space, '%2B' a plus, UTF-8 escapes
    rows = athena.rows(
        "SELECT url_decode('photos%2F2024%2Fa+b%2Bc%25.jpg'), url_decode('caf%C3%A9+menu%2F'), "
        "url_decode('%2541'), url_decode(NULL)"
    )
    assert rows == [["photos/2024/a b+c%.jpg", "café menu/", "%41", None]]


def test_length_of_to_utf8_counts_bytes_as_trino(athena: Athena) -> None:
    # a delete marker is billed for its key's UTF-8 bytes: 'é' is two, '€' three
    rows = athena.rows("SELECT length(to_utf8('café/€')), length('café/€'), length(to_utf8(NULL))")
    assert rows == [["9", "6", None]]


def test_a_window_over_versions_gives_each_the_time_its_key_was_next_written(
    athena: Athena, inventory: str
) -> None:
    rows = athena.rows(
        f"""SELECT key, version_id,
                   lag(last_modified_date) OVER (PARTITION BY key ORDER BY last_modified_date DESC) AS next
            FROM {inventory} WHERE dt = '2021-05-05-01-00' AND key IN ('c.jpg', 'e.mov')
            ORDER BY key, version_id"""
    )
    assert rows == [
        ["c.jpg", "v1", "1700000000000"],
        ["c.jpg", "v2", None],
        ["e.mov", "v2", "1690000000000"],
        ["e.mov", "v3", None],
    ]


def test_non_current_versions_are_listed(athena: Athena, inventory: str) -> None:
    rows = athena.rows(
        f"""WITH versions AS (
              SELECT key, version_id, size,
                     row_number() OVER (PARTITION BY key ORDER BY last_modified_date DESC) AS age
              FROM {inventory} WHERE dt = '2021-05-05-01-00')
            SELECT key, version_id, size FROM versions WHERE age > 1 ORDER BY key"""
    )
    assert rows == [["c.jpg", "v1", "40"], ["e.mov", "v2", "6000"]]
    assert athena.rows(f"SELECT count(*), sum(size) FROM {inventory} WHERE NOT is_latest") == [["2", "6040"]]


def test_results_are_written_as_athena_writes_them(
    athena: Athena, inventory: str, names: dict[str, str]
) -> None:
    execution = athena.run(
        f"SELECT key, from_unixtime(last_modified_date / 1000) AS modified, CAST(NULL AS varchar) AS nothing "
        f"FROM {inventory} WHERE key = 'a.jpg'"
    )
    location = execution["ResultConfiguration"]["OutputLocation"]
    assert location == f"s3://{names['results']}/results/{execution['QueryExecutionId']}.csv"
    key = location.split("/", 3)[3]
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=names["results"], Key=key)["Body"].read().decode()
    assert body == '"key","modified","nothing"\n"a.jpg","2021-05-04 16:56:41.000",\n'
    metadata = json.loads(s3.get_object(Bucket=names["results"], Key=f"{key}.metadata")["Body"].read())
    assert [c["Type"] for c in metadata["ColumnInfo"]] == ["varchar", "timestamp", "varchar"]
    assert execution["QueryExecutionContext"]["Database"] == "default"
    assert execution["WorkGroup"] == "primary"
    assert execution["Statistics"]["DataScannedInBytes"] > 0


def test_column_info_carries_athena_type_names(athena: Athena, inventory: str) -> None:
    query_id = athena.run(f"SELECT key, size, is_latest, count(*) OVER () AS n FROM {inventory} LIMIT 1")[
        "QueryExecutionId"
    ]
    info = athena.client.get_query_results(QueryExecutionId=query_id)["ResultSet"]["ResultSetMetadata"]
    assert [(c["Name"], c["Type"]) for c in info["ColumnInfo"]] == [
        ("key", "varchar"),
        ("size", "bigint"),
        ("is_latest", "boolean"),
        ("n", "bigint"),
    ]
    query_id = athena.run(
        f"""SELECT approx_percentile(size, 0.5), avg(size),
                   date_trunc('day', from_unixtime(max(last_modified_date) / 1000)),
                   date_format(from_iso8601_timestamp('2021-05-04T16:56:41Z'), '%Y-%m-%d %H:%i')
        FROM {inventory} WHERE storage_class = 'GLACIER'"""
    )["QueryExecutionId"]
    result = athena.client.get_query_results(QueryExecutionId=query_id)["ResultSet"]
    assert [c["Type"] for c in result["ResultSetMetadata"]["ColumnInfo"]] == [
        "bigint",
        "double",
        "timestamp",
        "varchar",
    ]
    assert [d["VarCharValue"] for d in result["Rows"][1]["Data"]] == [
        "6000",
        "6000.0",
        "2023-07-22 00:00:00.000",
        "2021-05-04 16:56",
    ]


def test_ddl_round_trip_is_what_glue_returns(athena: Athena, inventory: str, names: dict[str, str]) -> None:
    database = names["database"]
    glue = boto3.client("glue")
    table = glue.get_table(DatabaseName=database, Name="media_daily")["Table"]
    sd = table["StorageDescriptor"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Parameters"]["EXTERNAL"] == "TRUE"
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]][:3] == [
        ("bucket", "string"),
        ("key", "string"),
        ("version_id", "string"),
    ]
    assert sd["Location"] == f"s3://{names['bucket']}/inventory/media-prod/daily-parquet/hive/"
    assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat"
    assert (
        sd["SerdeInfo"]["SerializationLibrary"]
        == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]

    partitions = glue.get_partitions(DatabaseName=database, TableName="media_daily")["Partitions"]
    assert [(p["Values"], p["StorageDescriptor"]["Location"]) for p in partitions] == [
        (["2021-05-05-01-00"], f"{sd['Location']}dt=2021-05-05-01-00/")
    ]
    assert partitions[0]["StorageDescriptor"]["InputFormat"] == sd["InputFormat"]

    # a JSON-lines table with properties, two partitions added in one statement, one dropped again
    location = f"s3://{names['bucket']}/json/events/"
    athena.run(
        f"""CREATE EXTERNAL TABLE IF NOT EXISTS {database}.events (id bigint, name string, tags array<string>)
        PARTITIONED BY (day string)
        ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
        LOCATION '{location}'
        TBLPROPERTIES ('has_encrypted_data' = 'false', 'classification' = 'json')"""
    )
    athena.run(
        f"ALTER TABLE {database}.events ADD IF NOT EXISTS "
        f"PARTITION (day = '2024-01-01') LOCATION '{location}day=2024-01-01/' "
        f"PARTITION (day = '2024-01-02')"
    )
    athena.run(f"ALTER TABLE {database}.events DROP IF EXISTS PARTITION (day = '2024-01-01')")
    events = glue.get_table(DatabaseName=database, Name="events")["Table"]
    assert events["Parameters"]["classification"] == "json"
    assert events["Parameters"]["has_encrypted_data"] == "false"
    assert (
        events["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
        == "org.openx.data.jsonserde.JsonSerDe"
    )
    assert events["StorageDescriptor"]["Columns"][2] == {"Name": "tags", "Type": "array<string>"}
    partitions = glue.get_partitions(DatabaseName=database, TableName="events")["Partitions"]
    assert [(p["Values"], p["StorageDescriptor"]["Location"]) for p in partitions] == [
        (["2024-01-02"], f"{location}day=2024-01-02/")
    ]
    show = athena.run(f"SHOW PARTITIONS {database}.events")["QueryExecutionId"]
    shown = athena.client.get_query_results(QueryExecutionId=show)["ResultSet"]["Rows"]
    assert [[d["VarCharValue"] for d in r["Data"]] for r in shown] == [["day=2024-01-02"]]

    athena.run(f"DROP TABLE {database}.events")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName=database, Name="events")
    athena.run(f"DROP TABLE IF EXISTS {database}.events")


def test_json_lines_and_csv_tables_are_queryable(athena: Athena, names: dict[str, str]) -> None:
    s3, database, bucket = boto3.client("s3"), names["database"], names["bucket"]
    s3.put_object(
        Bucket=bucket,
        Key="activities/raw/2024/part.json",
        Body=b'{"id": 1, "sport": "Run", "distance": 5000.5}\n'
        b'{"id": 2, "sport": "Ride", "distance": 20000}\n',
    )
    athena.run(
        f"""CREATE EXTERNAL TABLE {database}.raw_activities (id bigint, sport string, distance double)
        ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://{bucket}/activities/raw/'"""
    )
    assert athena.rows(f"SELECT id, sport, distance FROM {database}.raw_activities ORDER BY id") == [
        ["1", "Run", "5000.5"],
        ["2", "Ride", "20000.0"],
    ]
    s3.put_object(Bucket=bucket, Key="csv/things/a.csv", Body=b'"x","1"\n"y, z","2"\n')
    athena.run(
        f"""CREATE EXTERNAL TABLE {database}.things (name string, n int)
        ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
        STORED AS TEXTFILE LOCATION 's3://{bucket}/csv/things/'"""
    )
    assert athena.rows(f"SELECT name, n * 2 FROM {database}.things ORDER BY name") == [
        ["x", "2"],
        ["y, z", "4"],
    ]


def test_msck_repair_adds_key_value_folders_and_skips_colons(athena: Athena, names: dict[str, str]) -> None:
    s3, database, bucket = boto3.client("s3"), names["database"], names["bucket"]
    for dt in ("2024-01-01", "2024-01-02", "2024-01-03T10:00"):
        s3.put_object(Bucket=bucket, Key=f"repair/dt={dt}/data.parquet", Body=_inventory_parquet(OBJECTS[:2]))
    athena.run(
        f"""CREATE EXTERNAL TABLE {database}.repaired ({INVENTORY_COLUMNS}) PARTITIONED BY (dt string)
        STORED AS PARQUET LOCATION 's3://{bucket}/repair/'"""
    )
    athena.run("MSCK REPAIR TABLE repaired", database)
    partitions = boto3.client("glue").get_partitions(DatabaseName=database, TableName="repaired")[
        "Partitions"
    ]
    assert sorted(p["Values"][0] for p in partitions) == ["2024-01-01", "2024-01-02"]
    assert athena.rows(f"SELECT dt, count(*) FROM {database}.repaired GROUP BY dt ORDER BY dt") == [
        ["2024-01-01", "2"],
        ["2024-01-02", "2"],
    ]


def test_query_on_one_of_ten_partitions_scans_only_that_partition(
    athena: Athena, names: dict[str, str]
) -> None:
    s3, database, bucket = boto3.client("s3"), names["database"], names["bucket"]
    sizes = {}
    for day in range(1, 11):
        dt = f"2024-02-{day:02d}"
        rows = [(f"k{day}-{i}", "v", True, False, i, 1700000000000 + i, "STANDARD") for i in range(200 * day)]
        body = _inventory_parquet(rows)
        s3.put_object(Bucket=bucket, Key=f"ten/dt={dt}/part.parquet", Body=body)
        sizes[dt] = len(body)
    athena.run(
        f"""CREATE EXTERNAL TABLE {database}.ten ({INVENTORY_COLUMNS}) PARTITIONED BY (dt string)
        STORED AS PARQUET LOCATION 's3://{bucket}/ten/'"""
    )
    athena.run(f"MSCK REPAIR TABLE {database}.ten")

    def scanned(where: str = "") -> int:
        execution = athena.run(f"SELECT count(*), sum(size) FROM {database}.ten {where}")
        return execution["Statistics"]["DataScannedInBytes"]

    one = scanned("WHERE dt = '2024-02-05'")
    # that partition's file only, and of it only the column chunks of `size` (plus the footer)
    assert 0 < one < sizes["2024-02-05"] / 2
    assert athena.rows(f"SELECT count(*) FROM {database}.ten WHERE dt = '2024-02-05'") == [["1000"]]
    assert scanned() == sum(scanned(f"WHERE dt = '{dt}'") for dt in sizes)


def test_the_local_athena_says_which_partitions_and_columns_a_query_read(
    athena: Athena, names: dict[str, str], local_aws: str
) -> None:
    """Not an Athena action: LocalGetQueryReads, what tests use to check a query reads only what it should."""
    import urllib.request

    database = names["database"]
    query_id = athena.run(f"SELECT sum(size) FROM {database}.media_daily WHERE dt = '2021-05-05-01-00'")[
        "QueryExecutionId"
    ]
    request = urllib.request.Request(  # noqa: S310 - the local endpoint
        local_aws,
        data=json.dumps({"QueryExecutionId": query_id}).encode(),
        headers={
            "X-Amz-Target": "AmazonAthena.LocalGetQueryReads",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        (read,) = json.loads(answer.read())["Reads"]
    execution = athena.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert read == {
        "table": f"{database}.media_daily",
        "columns": ["size", "dt"],
        "partitions": [["2021-05-05-01-00"]],
        "bytes": execution["Statistics"]["DataScannedInBytes"],
    }


def test_large_objects_and_files_without_dictionaries_read_like_the_rest(
    athena: Athena, names: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, database, bucket = boto3.client("s3"), names["database"], names["bucket"]
    rows = OBJECTS * 50
    s3.put_object(Bucket=bucket, Key="mixed/dictionary.parquet", Body=_inventory_parquet(rows))
    # moto keeps objects above this size in a temporary file on disk instead of memory
    monkeypatch.setenv("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", "1024")
    s3.put_object(Bucket=bucket, Key="mixed/plain.parquet", Body=_inventory_parquet(rows, dictionary=False))
    monkeypatch.delenv("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE")
    athena.run(
        f"""CREATE EXTERNAL TABLE {database}.mixed ({INVENTORY_COLUMNS})
        STORED AS PARQUET LOCATION 's3://{bucket}/mixed/'"""
    )
    assert athena.rows(
        f"SELECT storage_class, count(*), sum(size) FROM {database}.mixed GROUP BY 1 ORDER BY 1"
    ) == [["GLACIER", "300", "1800000"], ["STANDARD", "500", "44000"]]


def test_an_athena_without_moto_in_its_process_reads_the_same_over_http(
    athena: Athena, inventory: str, local_aws: str
) -> None:
    from devstack.athena import LocalAthena

    sql = f"""SELECT storage_class, count(*), sum(size), min(from_unixtime(last_modified_date / 1000))
              FROM {inventory} WHERE dt = '2021-05-05-01-00' GROUP BY 1 ORDER BY 1"""
    over_http = LocalAthena(endpoint_url=local_aws, region="us-east-1")
    try:
        status, started = over_http.handle(
            "StartQueryExecution",
            {"QueryString": sql, "ResultConfiguration": {"OutputLocation": athena.output}},
        )
        assert status == 200
        query = {"QueryExecutionId": started["QueryExecutionId"]}
        deadline = time.monotonic() + 60
        while (execution := over_http.handle("GetQueryExecution", query)[1]["QueryExecution"])["Status"][
            "State"
        ] in ("QUEUED", "RUNNING") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
        result = over_http.handle("GetQueryResults", query)[1]["ResultSet"]["Rows"]
    finally:
        over_http.close()
    assert [[d.get("VarCharValue") for d in r["Data"]] for r in result[1:]] == athena.rows(sql)
    scanned = athena.run(sql)["Statistics"]["DataScannedInBytes"]
    assert execution["Statistics"]["DataScannedInBytes"] == scanned > 0


def test_partition_projection_enumerates_dates_without_glue_partitions(
    athena: Athena, names: dict[str, str]
) -> None:
    s3, database, bucket = boto3.client("s3"), names["database"], names["bucket"]
    for dt, rows in (("2024-03-01-01-00", OBJECTS[:3]), ("2024-03-02-01-00", OBJECTS[3:])):
        s3.put_object(Bucket=bucket, Key=f"projected/dt={dt}/part.parquet", Body=_inventory_parquet(rows))
    athena.run(
        f"""CREATE EXTERNAL TABLE {database}.projected ({INVENTORY_COLUMNS}) PARTITIONED BY (dt string)
        STORED AS PARQUET LOCATION 's3://{bucket}/projected/'
        TBLPROPERTIES ('projection.enabled' = 'true', 'projection.dt.type' = 'date',
                       'projection.dt.format' = 'yyyy-MM-dd-HH-mm',
                       'projection.dt.range' = '2024-02-28-01-00,NOW',
                       'projection.dt.interval' = '1', 'projection.dt.interval.unit' = 'DAYS')"""
    )
    assert athena.rows(f"SELECT count(*) FROM {database}.projected WHERE dt = '2024-03-02-01-00'") == [["5"]]
    assert athena.rows(f"SELECT count(*) FROM {database}.projected WHERE dt >= '2024-03-01'") == [["8"]]
    assert (
        boto3.client("glue").get_partitions(DatabaseName=database, TableName="projected")["Partitions"] == []
    )


def test_an_injected_projected_key_takes_the_values_the_query_names(
    athena: Athena, names: dict[str, str]
) -> None:
    s3, database, bucket = boto3.client("s3"), names["database"], names["bucket"]
    for owner, day, rows in (
        ("a", "2024-03-01", OBJECTS[:3]),
        ("b", "2024-03-01", OBJECTS[3:]),
        ("a", "2024-03-02", OBJECTS[3:]),
    ):
        key = f"injected/owner={owner}/day={day}/part.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=_inventory_parquet(rows))
    athena.run(
        f"""CREATE EXTERNAL TABLE {database}.injected ({INVENTORY_COLUMNS})
        PARTITIONED BY (owner string, day string)
        STORED AS PARQUET LOCATION 's3://{bucket}/injected/'
        TBLPROPERTIES ('projection.enabled' = 'true', 'projection.owner.type' = 'injected',
                       'projection.day.type' = 'date', 'projection.day.format' = 'yyyy-MM-dd',
                       'projection.day.range' = '2024-02-28,NOW', 'projection.day.interval.unit' = 'DAYS',
                       'storage.location.template' = 's3://{bucket}/injected/owner=${{owner}}/day=${{day}}/')"""
    )
    table = f"{database}.injected"
    assert athena.rows(f"SELECT count(*) FROM {table} WHERE owner = 'a' AND day = '2024-03-01'") == [["3"]]
    assert athena.rows(f"SELECT count(*) FROM {table} WHERE owner = 'a' AND day >= '2024-03-01'") == [["8"]]
    assert athena.rows(f"SELECT count(*) FROM {table} WHERE owner IN ('a', 'b') AND day = '2024-03-01'") == [
        ["8"]
    ]
    failed = athena.run(f"SELECT count(*) FROM {table} WHERE day = '2024-03-01'", state="FAILED")
    assert failed["Status"]["StateChangeReason"].startswith(
        "CONSTRAINT_VIOLATION: For the injected projected partition column owner, the WHERE clause"
    )


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELEC storage_class FROM media_daily", "SYNTAX_ERROR"),
        (
            "SELECT * FROM nowhere",
            "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.{db}.nowhere' does not exist",
        ),
        ("SELECT * FROM no_such_db.t", "SCHEMA_NOT_FOUND: line 1:15: Schema 'no_such_db' does not exist"),
        ("SELECT colour FROM media_daily", "COLUMN_NOT_FOUND"),
        ("ALTER TABLE media_daily ADD PARTITION (month = '1')", "does not match the partition keys"),
    ],
)
def test_bad_queries_fail_with_a_reason_naming_the_problem(
    athena: Athena, inventory: str, names: dict[str, str], sql: str, reason: str
) -> None:
    execution = athena.run(sql, names["database"], state="FAILED")
    assert reason.format(db=names["database"]) in execution["Status"]["StateChangeReason"]
    with pytest.raises(athena.client.exceptions.InvalidRequestException):
        athena.client.get_query_results(QueryExecutionId=execution["QueryExecutionId"])


def test_unreadable_data_fails_naming_the_file(athena: Athena, names: dict[str, str]) -> None:
    s3, database, bucket = boto3.client("s3"), names["database"], names["bucket"]
    s3.put_object(Bucket=bucket, Key="broken/part.parquet", Body=b"this is not parquet")
    athena.run(
        f"CREATE EXTERNAL TABLE {database}.broken (a bigint) STORED AS PARQUET LOCATION 's3://{bucket}/broken/'"
    )
    execution = athena.run(f"SELECT count(a) FROM {database}.broken", state="FAILED")
    assert f"s3://{bucket}/broken/part.parquet" in execution["Status"]["StateChangeReason"]


def test_client_request_token_makes_start_idempotent(athena: Athena, inventory: str) -> None:
    token = uuid.uuid4().hex
    sql = f"SELECT count(*) FROM {inventory}"
    first = athena.start(sql, ClientRequestToken=token)
    second = athena.start(sql, ClientRequestToken=token)
    assert first == second
    athena.wait(first)
    listed = athena.client.list_query_executions(WorkGroup="primary", MaxResults=50)["QueryExecutionIds"]
    assert listed.count(first) == 1
    batch = athena.client.batch_get_query_execution(QueryExecutionIds=[first, "missing"])
    assert [e["QueryExecutionId"] for e in batch["QueryExecutions"]] == [first]
    assert [u["QueryExecutionId"] for u in batch["UnprocessedQueryExecutionIds"]] == ["missing"]


def test_get_query_results_paginates_with_the_header_first(athena: Athena, inventory: str) -> None:
    query_id = athena.run(f"SELECT key, version_id FROM {inventory} ORDER BY key, version_id")[
        "QueryExecutionId"
    ]
    first = athena.client.get_query_results(QueryExecutionId=query_id, MaxResults=3)
    assert [r["Data"][0]["VarCharValue"] for r in first["ResultSet"]["Rows"]] == ["key", "a.jpg", "b.jpg"]
    seen, token = [], first["NextToken"]
    while token:
        page = athena.client.get_query_results(QueryExecutionId=query_id, MaxResults=3, NextToken=token)
        seen += [r["Data"][0]["VarCharValue"] for r in page["ResultSet"]["Rows"]]
        token = page.get("NextToken")
    assert seen == ["c.jpg", "c.jpg", "d.mov", "e.mov", "e.mov", "f.txt"]


def test_a_quick_query_has_finished_when_its_start_is_answered_and_a_long_one_still_runs(
    athena: Athena,
) -> None:
    quick = athena.start("SELECT 1")
    assert athena.client.get_query_execution(QueryExecutionId=quick)["QueryExecution"]["Status"]["State"] == (
        "SUCCEEDED"
    )
    long = athena.start(LONG_QUERY)
    status = athena.client.get_query_execution(QueryExecutionId=long)["QueryExecution"]["Status"]
    assert status["State"] in ("QUEUED", "RUNNING"), status
    athena.client.stop_query_execution(QueryExecutionId=long)
    assert athena.wait(long)["Status"]["State"] == "CANCELLED"


def test_stopped_query_ends_cancelled(athena: Athena, inventory: str) -> None:
    query_id = athena.start(f"SELECT count(*) FROM {inventory} a CROSS JOIN {inventory} b")
    athena.client.stop_query_execution(QueryExecutionId=query_id)
    assert athena.wait(query_id)["Status"]["State"] in ("CANCELLED", "SUCCEEDED")


def test_output_location_comes_from_the_work_group(athena: Athena, names: dict[str, str]) -> None:
    workgroup = f"wg-{uuid.uuid4().hex[:6]}"
    output = f"s3://{names['results']}/{workgroup}/"
    athena.client.create_work_group(
        Name=workgroup, Configuration={"ResultConfiguration": {"OutputLocation": output}}
    )
    query_id = athena.client.start_query_execution(QueryString="SELECT 1", WorkGroup=workgroup)[
        "QueryExecutionId"
    ]
    execution = athena.wait(query_id)
    assert execution["ResultConfiguration"]["OutputLocation"] == f"{output}{query_id}.csv"
    with pytest.raises(athena.client.exceptions.InvalidRequestException, match="No output location"):
        athena.client.start_query_execution(QueryString="SELECT 1", WorkGroup="primary")


@pytest.fixture
def aws_default_connection(local_aws: str) -> None:
    """The session's aws_default connection points at the local endpoint (tests/conftest.py)."""


def test_the_providers_athena_operator_runs_and_fails_with_athenas_reason(
    athena: Athena, inventory: str, names: dict[str, str], aws_default_connection: None
) -> None:
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook
    from airflow.providers.amazon.aws.operators.athena import AthenaOperator
    from airflow.providers.common.compat.sdk import AirflowException

    output = f"s3://{names['results']}/operator/"
    summary = AthenaOperator(
        task_id="summary",
        query=f"SELECT storage_class, count(*) FROM {inventory} GROUP BY 1",
        database=names["database"],
        output_location=output,
        sleep_time=0.1,
    )
    query_id = summary.execute({})
    rows = AthenaHook().get_query_results(query_id)["ResultSet"]["Rows"]
    assert len(rows) == 3

    broken = AthenaOperator(
        task_id="broken",
        query="SELECT * FROM missing_table",
        database=names["database"],
        output_location=output,
        sleep_time=0.1,
    )
    with pytest.raises(AirflowException, match=r"TABLE_NOT_FOUND.*missing_table"):
        broken.execute({})


def test_runs_creating_the_same_database_at_once_all_succeed_with_if_not_exists(athena: Athena) -> None:
    """Two backfill runs of one DAG start ``CREATE DATABASE IF NOT EXISTS`` within the same instant."""
    names = [f"race_{uuid.uuid4().hex[:8]}" for _ in range(4)]
    started = [athena.start(f"CREATE DATABASE IF NOT EXISTS {name}") for name in names for _ in range(6)]
    states = [athena.wait(query_id)["Status"] for query_id in started]

    assert [s for s in states if s["State"] != "SUCCEEDED"] == []
    glue = boto3.client("glue")
    assert [glue.get_database(Name=name)["Database"]["Name"] for name in names] == names
    assert athena.wait(athena.start(f"CREATE DATABASE {names[0]}"))["Status"]["State"] == "FAILED"


def test_the_local_athena_loads_its_sql_dialects_before_any_query_thread():
    """sqlglot loads a dialect's module on first use; loaded by two query threads at once, one of them
    met the Athena dialect half-loaded. Importing the service must have loaded them whole."""
    import subprocess
    import sys

    probe = (
        "import sys, devstack.athena.service\n"
        "athena = sys.modules.get('sqlglot.dialects.athena')\n"
        "print(hasattr(athena, '_TrinoTokenizer'), 'sqlglot.dialects.duckdb' in sys.modules,"
        " 'sqlglot.dialects.hive' in sys.modules)\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert found.stdout.split()[-3:] == ["True", "True", "True"]
