"""Runs started by messages on an SQS queue: the watched Asset, and the messages a run received.

A DAG scheduled on :func:`queue_asset` gets a run as soon as messages arrive, without polling of its
own: the Asset carries an ``AssetWatcher`` whose trigger (the common-messaging provider's
``MessageQueueTrigger``, scheme ``sqs``, which hands over to the Amazon provider's ``SqsSensorTrigger``)
runs in the triggerer and long-polls the queue through the package's AWS connection. Each batch it
receives becomes one event of the Asset, and the scheduler starts one run of every DAG scheduled on it,
which reads the bodies with :func:`received_messages`.

Each message is deleted from the queue as it is received: a run that fails does not see it again, so
a consumer that must not lose work keeps a second path (the inventory DAGs keep their schedule).
The trigger never reads a body, so no content of a message can stop it; what a body means is for the
run to decide, and to say in its log.

Two DAGs scheduled on the same queue Asset share one watcher: each message reaches both runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import Asset, AssetWatcher

from datalake import aws
from datalake.config import DatalakeConfig, get_config

log = logging.getLogger(__name__)

# SQS long polling: an empty receive waits up to this long (SQS's maximum) and returns as soon as a
# message arrives, so a message starts its run within seconds, at about 4,300 receives a day.
WAIT_TIME_SECONDS = 20
# The trigger sleeps this long between two empty receives (its own default is 60 s, which would add
# up to a minute to every message).
WAITER_DELAY_SECONDS = 1
# Messages per receive (SQS's maximum): what arrives together starts one run.
MAX_MESSAGES = 10
# The run type of a run that asset events (here: messages of a queue) started.
ASSET_TRIGGERED = "asset_triggered"


def started_by_queue(dag_run: Any) -> bool:
    """Whether ``dag_run`` was started by asset events (the messages of a watched queue)."""
    return getattr(dag_run, "run_type", None) == ASSET_TRIGGERED  # a str enum: equal to its value


@dataclass(frozen=True)
class QueueMessage:
    """One SQS message a run received: its id and its body, as SQS delivered it."""

    message_id: str
    body: str


def queue_arn(queue_url: str) -> str:
    """The queue's ARN: ``https://sqs.<region>.amazonaws.com/<account>/<name>`` ->
    ``arn:aws:sqs:<region>:<account>:<name>``."""
    parts = urlsplit(queue_url)
    host = parts.hostname or ""
    account, _, name = parts.path.strip("/").partition("/")
    if not (host.startswith("sqs.") and account.isdigit() and name and "/" not in name):
        raise ValueError(f"not an SQS queue URL: {queue_url!r}")
    region = host.split(".")[1]
    partition = "aws-cn" if host.endswith(".cn") else "aws"
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def queue_asset(queue_url: str, config: DatalakeConfig | None = None) -> Asset:
    """The Asset of the queue ``queue_url``, watched: a DAG scheduled on it runs per batch of messages.

    Named by the queue's ARN (unique, and what a queue policy names); the same queue gives the same
    Asset and the same trigger in every DAG, so they share one watcher.
    """
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    connection = aws.connection(config or get_config())
    trigger = MessageQueueTrigger(
        scheme="sqs",
        sqs_queue=queue_url,
        aws_conn_id=connection["aws_conn_id"],
        region_name=connection["region_name"],
        max_messages=MAX_MESSAGES,
        wait_time_seconds=WAIT_TIME_SECONDS,
        waiter_delay=WAITER_DELAY_SECONDS,
    )
    arn = queue_arn(queue_url)
    return Asset(
        name=arn,
        uri=queue_url,
        group="events",
        watchers=[AssetWatcher(name=f"{arn.rsplit(':', 1)[1]}_watcher", trigger=trigger)],
    )


def received_messages(triggering_asset_events: Any, asset: Asset) -> list[QueueMessage]:
    """The messages the run's events of the queue ``asset`` carry, in the order they arrived.

    An event of that Asset that holds no SQS message (one created by hand, through the API) is logged
    and left out; a message without a text body keeps an empty one, for its reader to refuse.
    """
    try:
        events = triggering_asset_events[asset] if triggering_asset_events else []
    except KeyError:
        events = []
    messages: list[QueueMessage] = []
    for event in events:
        extra = getattr(event, "extra", None) or {}
        payload = extra.get("payload") if isinstance(extra, Mapping) else None
        batch = payload.get("message_batch") if isinstance(payload, Mapping) else None
        if not isinstance(batch, list):
            log.warning("An event of %s holds no SQS messages (extra %.200r): ignored", asset.name, extra)
            continue
        for message in batch:
            message = message if isinstance(message, Mapping) else {}
            body = message.get("Body")
            messages.append(
                QueueMessage(str(message.get("MessageId", "?")), body if isinstance(body, str) else "")
            )
    return messages
