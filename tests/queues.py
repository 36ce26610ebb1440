"""An SQS queue of the local AWS read as the tests read it: everything on it now, taken off."""

from __future__ import annotations

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
