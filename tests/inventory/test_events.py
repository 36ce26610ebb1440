"""Event-driven registration without the stack: the S3 notifications moto delivers to a real SQS queue,
received by the real watcher trigger (the common-messaging provider's, through ``aws_default``), and
matched to their configuration the way a run the queue starts matches them."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest
import yaml

from datalake.config import DEFAULT_CONFIG_PATH, ConfigError, parse_config
from datalake.events import queue_asset, received_messages
from datalake.inventory import tasks as inventory_tasks
from datalake.inventory.layout import DropRef
from datalake.inventory.notifications import NotificationError, created_objects, match_drops
from devstack.inventory_drops import write_config_drop
from devstack.stack import provision_inventory_events
from tests.events import triggering_events

_queues = itertools.count()


@pytest.fixture
def sqs(aws: str) -> Any:
    return boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")


@pytest.fixture
def watched(aws: str, inv: Any, s3: Any, sqs: Any) -> Iterator[tuple[Any, Any]]:
    """``inv`` and a second configuration on the same bucket, both notifying a fresh queue, provisioned
    as the embedded stack provisions it; the bucket's notifications are removed afterwards."""
    from datalake.config import get_config

    url = f"https://sqs.us-east-1.amazonaws.com/123456789012/test-drops-{next(_queues)}"
    mine = replace(inv, events_queue_url=url)
    other = replace(
        mine, name=f"{inv.name}_other", config_id=f"{inv.config_id}-other", table=f"{inv.table}_o"
    )
    provision_inventory_events(aws, replace(get_config(), inventories=(mine, other)))
    try:
        yield mine, other
    finally:
        s3.put_bucket_notification_configuration(Bucket=inv.destination_bucket, NotificationConfiguration={})
        sqs.delete_queue(QueueUrl=url)


def receive(inv: Any, expected: int) -> Any:
    """What a run the queue starts sees: ``triggering_asset_events`` built from the events the real
    watcher trigger yields (one per batch, as the triggerer submits them), until ``expected`` messages."""
    asset = queue_asset(inv.events_queue_url)
    trigger = asset.watchers[0].trigger

    async def one_event() -> Any:
        async for event in trigger.run():
            return event
        return None

    payloads, count = [], 0
    for _ in range(expected + 2):
        if count >= expected:
            break
        payload = asyncio.run(asyncio.wait_for(one_event(), timeout=60)).payload
        count += len(payload["message_batch"])
        payloads.append(payload)
    assert count == expected, f"{count} messages received, {expected} expected"
    return triggering_events(asset, payloads)


def test_a_drop_notified_by_s3_is_matched_to_its_configuration_by_bucket_and_decoded_key(
    watched: tuple[Any, Any], s3: Any
) -> None:
    mine, other = watched
    drop = write_config_drop(s3, mine, date(2026, 11, 2), n=5)
    theirs = write_config_drop(s3, other, date(2026, 11, 2), n=5)
    # 3 messages: the s3:TestEvent of the configuration call, then one per manifest.checksum
    events = receive(mine, expected=3)
    messages = received_messages(events, queue_asset(mine.events_queue_url))
    bodies = [json.loads(m.body) for m in messages]
    assert sum(b.get("Event") == "s3:TestEvent" for b in bodies) == 1
    encoded = [r["s3"]["object"]["key"] for b in bodies for r in b.get("Records", [])]
    assert len(encoded) == 2
    assert all("%2F" in key for key in encoded), encoded  # keys arrive URL-encoded

    matched = match_drops(mine, [mine, other], messages)
    assert matched.drops == [DropRef(mine.destination_bucket, mine.base_prefix, "2026-11-02T01-00Z")]
    assert matched.drops[0].checksum_key == drop.checksum_key
    ignored = sorted(matched.ignored, key=lambda line: "s3:TestEvent" not in line)
    assert len(ignored) == 2
    assert "s3:TestEvent" in ignored[0]
    theirs_uri = f"s3://{other.destination_bucket}/{theirs.checksum_key}"
    assert f"{theirs_uri} is a drop of inventories[name={other.name}], which registers it" in ignored[1]

    for_other = match_drops(other, [mine, other], messages)
    assert [d.checksum_key for d in for_other.drops] == [theirs.checksum_key]
    assert any(f"is a drop of inventories[name={mine.name}]" in line for line in for_other.ignored)


def test_malformed_messages_and_unknown_keys_are_named_and_skipped_and_the_next_drop_still_registers(
    watched: tuple[Any, Any], s3: Any, sqs: Any
) -> None:
    mine, _ = watched
    url = mine.events_queue_url
    bodies = ["not json", "[1, 2]", '{"Records": []}', '{"Records": [{"s3": {"bucket": {}}}]}']
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    stray = f"{mine.base_prefix}/hive/dt=2026-11-02-01-00/manifest.checksum"  # no drop's folder
    s3.put_object(Bucket=mine.destination_bucket, Key=stray, Body=b"0" * 32)
    early = write_config_drop(s3, replace(mine, start_date="2026-10-01"), date(2026, 10, 30), n=5)

    messages = received_messages(receive(mine, expected=1 + len(bodies) + 2), queue_asset(url))
    matched = match_drops(mine, [mine], messages)
    assert matched.drops == []
    reasons = "\n".join(matched.ignored)
    assert reasons.count("not an S3 event notification") == len(bodies), reasons
    assert "not JSON" in reasons
    assert "no Records" in reasons
    assert "Records[0] has no s3.bucket.name and s3.object.key" in reasons
    assert (
        f"s3://{mine.destination_bucket}/{stray} is no inventory configuration's manifest.checksum" in reasons
    )
    assert f"{early.checksum_key} is dated before start_date {mine.start_date}" in reasons

    # the watcher is a trigger that never reads a body: the next message after all that still arrives
    drop = write_config_drop(s3, mine, date(2026, 11, 3), n=5)
    after = match_drops(mine, [mine], received_messages(receive(mine, expected=1), queue_asset(url)))
    assert [d.checksum_key for d in after.drops] == [drop.checksum_key]


def test_a_run_whose_messages_announce_no_drop_of_its_own_is_skipped_saying_why(
    watched: tuple[Any, Any], s3: Any
) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    mine, other = watched
    write_config_drop(s3, other, date(2026, 11, 2), n=5)
    events = receive(mine, expected=2)  # the s3:TestEvent and the other configuration's drop
    with pytest.raises(AirflowSkipException, match=r"nothing to register: 2 message\(s\)") as caught:
        inventory_tasks.announced_drops(mine, events)
    assert "s3:TestEvent" in str(caught.value)
    assert f"{other.base_prefix}/2026-11-02T01-00Z/manifest.checksum" in str(caught.value)


def test_a_run_whose_messages_announce_several_drops_takes_them_oldest_first_once_each(
    watched: tuple[Any, Any], s3: Any
) -> None:
    mine, _ = watched
    days = [date(2026, 11, 4), date(2026, 11, 2), date(2026, 11, 3)]
    for day in days:
        write_config_drop(s3, mine, day, n=5)
    write_config_drop(s3, mine, days[0], n=5)  # S3 re-delivers a drop: a second message for it
    drops = inventory_tasks.announced_drops(mine, receive(mine, expected=1 + len(days) + 1))
    assert [d["dt"] for d in drops] == ["2026-11-02-01-00", "2026-11-03-01-00", "2026-11-04-01-00"]


def test_a_notification_key_is_decoded_as_s3_encodes_it() -> None:
    # Amazon S3 encodes keys as HTML forms do: a space as '+', a '+' as '%2B' (moto encodes '/' too)
    body = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": "b-1"},
                        "object": {"key": "in+reports/a%2Bb/x%3D1/manifest.checksum"},
                    },
                },
                {
                    "eventName": "ObjectRemoved:Delete",
                    "s3": {"bucket": {"name": "b-1"}, "object": {"key": "y"}},
                },
            ]
        }
    )
    assert created_objects(body) == [("b-1", "in reports/a+b/x=1/manifest.checksum")]
    with pytest.raises(NotificationError, match="not a JSON object"):
        created_objects('"a string"')


QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/drops"


@pytest.mark.parametrize(
    "url",
    [
        "https://sqs.us-east-1.amazonaws.com/123456789012/drops.fifo",  # S3 cannot notify a FIFO queue
        "http://127.0.0.1:4566/123456789012/drops",  # an endpoint belongs in the connection
        "https://sqs.us-east-1.amazonaws.com/1234/drops",
        "https://sqs.us-east-1.amazonaws.com/123456789012/drops/more",
        "arn:aws:sqs:us-east-1:123456789012:drops",
    ],
)
def test_events_queue_url_must_be_a_standard_sqs_queue_url(url: str) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["inventories"][0]["events_queue_url"] = url
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, "/etc/datalake.yaml")
    assert caught.value.problems == (
        "inventories[0].events_queue_url: must be the URL of a standard SQS queue, "
        "https://sqs.<region>.amazonaws.com/<12-digit account>/<queue> (Amazon S3 cannot notify a FIFO "
        f"queue), got {url!r}",
    )


def test_events_queue_url_is_optional_and_refused_with_partition_projection() -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["inventories"][0].pop("events_queue_url", None)
    assert parse_config(raw).inventories[0].events_queue_url is None
    raw["inventories"][0]["events_queue_url"] = QUEUE
    assert parse_config(raw).inventories[0].events_queue_url == QUEUE
    raw["inventories"][0]["partition_projection"] = True
    with pytest.raises(
        ConfigError, match=r"inventories\[0\]\.events_queue_url: partition projection registers"
    ):
        parse_config(raw)


def _dag_run(inv: Any, run_type: str, interval_end: datetime | None = None) -> Any:
    """The run as a task's context hands it over (the Task SDK's DagRun)."""
    from airflow.sdk.api.datamodels._generated import DagRun, DagRunType

    start = interval_end - timedelta(days=1) if interval_end else None
    return DagRun(
        dag_id=inv.dag_id,
        run_id=f"{run_type}__x",
        logical_date=start,
        data_interval_start=start,
        data_interval_end=interval_end,
        run_after=interval_end or datetime.now(UTC),
        start_date=datetime.now(UTC),
        end_date=None,
        partition_key=None,
        run_type=DagRunType(run_type),
        state="running",
        clear_number=0,
        consumed_asset_events=[],
    )


def test_a_run_the_queue_started_takes_its_drops_at_once_and_any_other_run_its_intervals(
    watched: tuple[Any, Any], s3: Any
) -> None:
    mine, _ = watched
    announced = write_config_drop(s3, mine, date(2026, 11, 5), n=5)
    events = receive(mine, expected=2)
    write_config_drop(s3, mine, date(2026, 11, 6), n=5)  # the interval's own drop

    poke = inventory_tasks.poke_for_drops(
        mine,
        dag_run=_dag_run(mine, "asset_triggered"),
        data_interval_start=None,
        data_interval_end=None,
        triggering_asset_events=events,
    )
    assert poke.is_done
    assert [d["dt"] for d in poke.xcom_value] == [announced.dt]

    end = datetime(2026, 11, 6, tzinfo=UTC)
    scheduled = _dag_run(mine, "scheduled", end)
    poke = inventory_tasks.poke_for_drops(
        mine,
        dag_run=scheduled,
        data_interval_start=scheduled.data_interval_start,
        data_interval_end=end,
        triggering_asset_events=events,  # a scheduled run takes its interval's drop, whatever it was given
    )
    assert poke.is_done
    assert [d["dt"] for d in poke.xcom_value] == ["2026-11-06-01-00"]
