"""The Strava webhook endpoint as an AWS Lambda function: the subscription's challenge, events to SQS.

Strava pushes each event (an activity created, updated or deleted; an athlete's deauthorisation) to a
public HTTPS callback that must answer within 2 seconds. This function is that callback behind an API
Gateway HTTP API or a Lambda function URL (payload format 2.0; the REST API's 1.0 works too):

- ``GET`` with ``hub.mode=subscribe``, ``hub.verify_token`` and ``hub.challenge`` (the subscription
  call's check): answers ``{"hub.challenge": ...}`` when the verify token is the configured one, else 403;
- ``POST`` with an event: checks its shape and puts it on the SQS queue, as compact JSON, then answers
  200. Nothing else is done here, so the answer comes in milliseconds; the Airflow watcher on the queue
  does the rest. An event of another athlete (``ATHLETE_IDS``) is answered 200 and dropped; a body that
  is no Strava event is answered 400; a failed send 500, so that Strava tries again (up to 3 times).

Configuration, as the function's environment: ``QUEUE_URL`` (the queue, ``strava.events_queue_url``),
``VERIFY_TOKEN`` (the string given to the subscription call; compared in constant time, never logged),
``ATHLETE_IDS`` (optional, comma-separated: the athletes this pipeline serves).

Only the standard library and boto3 (in every Lambda Python runtime): deploy this file alone, with the
handler ``handler.lambda_handler``. The embedded stack's Strava stand-in calls :func:`handle` itself.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

OBJECT_TYPES = ("activity", "athlete")
ASPECT_TYPES = ("create", "update", "delete")
# The fields Strava's event carries; only these are forwarded.
EVENT_FIELDS = (
    "object_type",
    "object_id",
    "aspect_type",
    "owner_id",
    "subscription_id",
    "event_time",
    "updates",
)
MAX_BODY = 16_384  # a Strava event is a few hundred bytes

_sqs_client: Any = None


class BadEvent(ValueError):
    """A POSTed body that is no Strava event (the message names the field)."""


def _reply(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def _method(event: dict[str, Any]) -> str:
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method") or event.get("httpMethod") or "").upper()


def _body(event: dict[str, Any]) -> str:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    return body


def parse_event(body: str) -> dict[str, Any]:
    """The Strava event in ``body`` (JSON), with only its known fields; :class:`BadEvent` otherwise."""
    if len(body) > MAX_BODY:
        raise BadEvent(f"the body is {len(body)} bytes, more than a Strava event's {MAX_BODY}")
    try:
        document = json.loads(body)
    except ValueError:
        raise BadEvent("the body is not JSON") from None
    if not isinstance(document, dict):
        raise BadEvent("the body is not a JSON object")
    if document.get("object_type") not in OBJECT_TYPES:
        raise BadEvent(f"object_type must be one of {OBJECT_TYPES}, got {document.get('object_type')!r}")
    if document.get("aspect_type") not in ASPECT_TYPES:
        raise BadEvent(f"aspect_type must be one of {ASPECT_TYPES}, got {document.get('aspect_type')!r}")
    for name in ("object_id", "owner_id"):
        value = document.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise BadEvent(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(document.get("updates", {}), dict):
        raise BadEvent("updates must be a JSON object")
    return {name: document[name] for name in EVENT_FIELDS if name in document}


def handle(
    event: dict[str, Any],
    *,
    sqs: Any,
    queue_url: str,
    verify_token: str,
    athlete_ids: frozenset[int] = frozenset(),
) -> dict[str, Any]:
    """Answer one request of API Gateway or a function URL (``event``); see the module doc."""
    method = _method(event)
    if method == "GET":
        query = event.get("queryStringParameters") or {}
        given = str(query.get("hub.verify_token") or "")
        if query.get("hub.mode") != "subscribe" or "hub.challenge" not in query:
            return _reply(400, {"message": "expected hub.mode=subscribe and hub.challenge"})
        if not verify_token or not hmac.compare_digest(given.encode(), verify_token.encode()):
            return _reply(403, {"message": "wrong hub.verify_token"})
        return _reply(200, {"hub.challenge": str(query["hub.challenge"])})
    if method != "POST":
        return _reply(405, {"message": f"{method or 'this method'} is not served: GET or POST"})
    try:
        strava_event = parse_event(_body(event))
    except BadEvent as exc:
        log.warning("Refused a POST: %s", exc)
        return _reply(400, {"message": str(exc)})
    if athlete_ids and strava_event["owner_id"] not in athlete_ids:
        log.info("Dropped an event of athlete %s, who is not in ATHLETE_IDS", strava_event["owner_id"])
        return _reply(200, {"queued": False})
    try:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(strava_event, separators=(",", ":")))
    except Exception as exc:  # Strava tries again on anything but 200
        log.error("Could not queue the event (%s): answering 500 for Strava to retry", type(exc).__name__)
        return _reply(500, {"message": "could not queue the event"})
    log.info(
        "Queued %s %s %s", strava_event["object_type"], strava_event["aspect_type"], strava_event["object_id"]
    )
    return _reply(200, {"queued": True})


def athlete_ids_from(value: str) -> frozenset[int]:
    """``ATHLETE_IDS``: comma-separated athlete ids (empty: every athlete)."""
    try:
        return frozenset(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"ATHLETE_IDS must be comma-separated athlete ids, got {value!r}") from None


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: :func:`handle` with the function's environment."""
    global _sqs_client
    if _sqs_client is None:  # one client per container, reused across invocations
        import boto3

        _sqs_client = boto3.client("sqs")
    return handle(
        event,
        sqs=_sqs_client,
        queue_url=os.environ["QUEUE_URL"],
        verify_token=os.environ.get("VERIFY_TOKEN", ""),
        athlete_ids=athlete_ids_from(os.environ.get("ATHLETE_IDS", "")),
    )
