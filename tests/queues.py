"""SQS queues of the local AWS read as the tests read them: everything on a queue now, taken off; a
topic's messages through a fresh queue subscribed to it, as a person subscribed to the topic gets them."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue (``Body``, ``MessageId``, ...), received and deleted.

    The local AWS delivers what reaches a queue (a topic's message, an S3 notification, a message
    sent) within the request that sent it, and a test reads a queue after those requests returned:
    the first receive that finds the queue empty has found everything that will arrive. No long poll.
    """
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
        "Messages", []
    ):
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        found += batch
    return found


@contextlib.contextmanager
def subscribed(sns: Any, sqs: Any, topic_arn: str, name: str) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A fresh queue (``name`` and a random suffix) subscribed to the topic for the block; yields a
    function that returns the SNS envelopes (``Subject``, ``Message``, ...) that arrived since its last
    call. The subscription and the queue are removed after the block, whatever happens."""
    queue_url = sqs.create_queue(QueueName=f"{name}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    subscription = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["QueueArn"])

    def receive() -> list[dict[str, Any]]:
        return [json.loads(message["Body"]) for message in drain(sqs, queue_url)]

    try:
        yield receive
    finally:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        sqs.delete_queue(QueueUrl=queue_url)
