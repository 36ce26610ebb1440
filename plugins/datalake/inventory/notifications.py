"""Amazon S3 event notifications of inventory drops: which drop of which configuration a message announces.

Amazon S3 writes a drop's ``manifest.checksum`` last, so an ``s3:ObjectCreated:*`` notification of that
key (suffix filter ``manifest.checksum``) says the drop is complete. A notification body holds
``Records``, each with ``s3.bucket.name`` and ``s3.object.key``; the key is URL-encoded as an HTML form
encodes it (``+`` for a space), so it is decoded before anything compares it. A message is matched to
its configuration by bucket and key (``<base prefix>/<YYYY-MM-DDTHH-MMZ>/manifest.checksum``).

Ignored, each with a line in the run's log: the ``s3:TestEvent`` Amazon S3 sends when a notification is
configured, a body that is not a notification (not JSON, no ``Records``, a record without bucket or
key), another configuration's drop (that configuration's own DAG registers it), a key that is no
configuration's ``manifest.checksum``, and a drop dated before the configuration's ``start_date``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import unquote_plus

from datalake.config import InventoryConfig
from datalake.events import QueueMessage
from datalake.inventory.layout import CHECKSUM, FOLDER, DropRef

log = logging.getLogger(__name__)

TEST_EVENT = "s3:TestEvent"


class NotificationError(ValueError):
    """A message body that is not an Amazon S3 event notification."""


def created_objects(body: str) -> list[tuple[str, str]]:
    """``(bucket, key)`` of every object-created record of a notification body, keys decoded.

    The ``s3:TestEvent`` gives none; anything that is not a notification raises NotificationError.
    """
    try:
        doc = json.loads(body)
    except ValueError:
        raise NotificationError(f"not JSON: {body[:80]!r}") from None
    if not isinstance(doc, dict):
        raise NotificationError(f"not a JSON object: {body[:80]!r}")
    if doc.get("Event") == TEST_EVENT:
        return []
    records = doc.get("Records")
    if not isinstance(records, list) or not records:
        raise NotificationError(f"no Records (keys: {sorted(doc)[:8]})")
    found = []
    for i, record in enumerate(records):
        try:
            bucket, key = record["s3"]["bucket"]["name"], record["s3"]["object"]["key"]
        except (TypeError, KeyError):
            bucket = key = None
        if not (isinstance(bucket, str) and isinstance(key, str)):
            raise NotificationError(f"Records[{i}] has no s3.bucket.name and s3.object.key")
        if str(record.get("eventName", "")).startswith("ObjectCreated:"):
            found.append((bucket, unquote_plus(key)))
    return found


def drop_of(inv: InventoryConfig, bucket: str, key: str) -> DropRef | None:
    """The drop of ``inv`` whose ``manifest.checksum`` is ``s3://bucket/key``, else None."""
    base = f"{inv.base_prefix}/"
    if bucket != inv.destination_bucket or not key.startswith(base):
        return None
    folder, _, name = key[len(base) :].partition("/")
    if name != CHECKSUM or not FOLDER.fullmatch(folder):
        return None
    return DropRef(bucket, inv.base_prefix, folder)


@dataclass(frozen=True)
class Matched:
    """What a run's messages hold for one configuration: its drops (oldest first) and why the rest
    were ignored, one line each."""

    drops: list[DropRef] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def match_drops(
    inv: InventoryConfig, inventories: Sequence[InventoryConfig], messages: Iterable[QueueMessage]
) -> Matched:
    """The drops of ``inv`` that ``messages`` announce; every other message is logged and ignored.

    ``inventories`` is every configuration, so that a drop of another one is told from an unknown key.
    """
    drops: dict[str, DropRef] = {}
    ignored: list[str] = []

    def ignore(message: QueueMessage, why: str, level: int = logging.INFO) -> None:
        line = f"message {message.message_id}: {why}"
        log.log(level, "Ignored %s", line)
        ignored.append(line)

    for message in messages:
        try:
            objects = created_objects(message.body)
        except NotificationError as exc:
            ignore(message, f"not an S3 event notification ({exc})", logging.WARNING)
            continue
        if not objects:
            ignore(message, f"creates no object ({TEST_EVENT}, sent when a notification is configured?)")
        for bucket, key in objects:
            uri = f"s3://{bucket}/{key}"
            drop = drop_of(inv, bucket, key)
            owner = next((o for o in inventories if o.name != inv.name and drop_of(o, bucket, key)), None)
            if drop is not None and drop.day < date.fromisoformat(inv.start_date):
                ignore(message, f"{uri} is dated before start_date {inv.start_date}")
            elif drop is not None:
                drops[drop.folder] = drop
            elif owner is not None:
                ignore(message, f"{uri} is a drop of inventories[name={owner.name}], which registers it")
            else:
                ignore(message, f"{uri} is no inventory configuration's manifest.checksum", logging.WARNING)
    return Matched([drops[f] for f in sorted(drops)], ignored)
