"""The webhook Lambda (include/strava_webhook/handler.py) against a real SQS queue of the local AWS."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from devstack.strava_api import webhook_handler
from tests.queues import drain

handler = webhook_handler()
VERIFY = "a-verify-token-for-tests"
EVENT = {
    "aspect_type": "delete",
    "event_time": 1764590000,
    "object_id": 9800000123,
    "object_type": "activity",
    "owner_id": 31337042,
    "subscription_id": 120475,
    "updates": {},
}


@pytest.fixture
def queue(local_aws: str) -> tuple[Any, str]:
    sqs = boto3.client("sqs", endpoint_url=local_aws)
    return sqs, sqs.create_queue(QueueName=f"strava-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in drain(sqs, url)]


def get(query: dict[str, str]) -> dict[str, Any]:
    return {"requestContext": {"http": {"method": "GET"}}, "queryStringParameters": query}


def post(body: str, *, base64: bool = False) -> dict[str, Any]:
    if base64:
        import base64 as b64

        body = b64.b64encode(body.encode()).decode()
    return {"requestContext": {"http": {"method": "POST"}}, "body": body, "isBase64Encoded": base64}


def test_the_subscription_challenge_is_echoed_only_with_the_verify_token(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    ok = handler.handle(
        get({"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "15f7d1a91c1f40f8"}),
        sqs=sqs,
        queue_url=url,
        verify_token=VERIFY,
    )
    assert (ok["statusCode"], json.loads(ok["body"])) == (200, {"hub.challenge": "15f7d1a91c1f40f8"})
    wrong = handler.handle(
        get({"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "x"}),
        sqs=sqs,
        queue_url=url,
        verify_token=VERIFY,
    )
    assert wrong["statusCode"] == 403
    assert VERIFY not in wrong["body"]
    unset = handler.handle(
        get({"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "x"}),
        sqs=sqs,
        queue_url=url,
        verify_token="",
    )
    assert unset["statusCode"] == 403


def test_a_posted_event_lands_on_the_queue_as_strava_sent_it(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    answer = handler.handle(
        post(json.dumps({**EVENT, "extra": "dropped"})), sqs=sqs, queue_url=url, verify_token=VERIFY
    )
    assert answer["statusCode"] == 200
    update = {**EVENT, "aspect_type": "update", "updates": {"title": "Evening run"}}
    assert (
        handler.handle(post(json.dumps(update), base64=True), sqs=sqs, queue_url=url, verify_token=VERIFY)[
            "statusCode"
        ]
        == 200
    )
    assert sorted(received(sqs, url), key=lambda e: e["aspect_type"]) == [EVENT, update]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json", "JSON"),
        ("[1]", "object"),
        (json.dumps({**EVENT, "object_type": "segment"}), "object_type"),
        (json.dumps({**EVENT, "aspect_type": "rename"}), "aspect_type"),
        (json.dumps({**EVENT, "object_id": "9800000123"}), "object_id"),
        (json.dumps({**EVENT, "owner_id": True}), "owner_id"),
        (json.dumps({**EVENT, "updates": []}), "updates"),
    ],
)
def test_a_body_that_is_no_strava_event_is_refused_and_not_queued(
    queue: tuple[Any, str], body: str, field: str
) -> None:
    sqs, url = queue
    answer = handler.handle(post(body), sqs=sqs, queue_url=url, verify_token=VERIFY)
    assert answer["statusCode"] == 400
    assert field in json.loads(answer["body"])["message"]
    assert received(sqs, url) == []


def test_an_event_of_another_athlete_is_answered_and_dropped(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    answer = handler.handle(
        post(json.dumps({**EVENT, "owner_id": 42})),
        sqs=sqs,
        queue_url=url,
        verify_token=VERIFY,
        athlete_ids=handler.athlete_ids_from("31337042, 7"),
    )
    assert answer["statusCode"] == 200
    assert received(sqs, url) == []


def test_a_failed_send_answers_500_so_that_strava_retries(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    answer = handler.handle(post(json.dumps(EVENT)), sqs=sqs, queue_url=url + "-missing", verify_token=VERIFY)
    assert answer["statusCode"] == 500


def test_other_methods_are_refused(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    answer = handler.handle(
        {"requestContext": {"http": {"method": "PUT"}}}, sqs=sqs, queue_url=url, verify_token=VERIFY
    )
    assert answer["statusCode"] == 405
