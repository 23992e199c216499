"""The SQS event-source mapping, emulated: poll each trigger queue and invoke its function with SQS events.

As in Lambda: records the function reports in `batchItemFailures` (Powertools' partial batch response) — or
the whole batch when the function raises — stay in the queue and come back after a visibility timeout; the
queue's redrive policy moves a message to its dead-letter queue after `max_receive_count` receives. Locally
the retry delay is shortened from the queue's visibility timeout so a failing file is retried in seconds.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from shelfwise_infra import spec

from shelfwise_local.functions import REGION
from shelfwise_local.resources import QueueInfo, queue_by_id

log = logging.getLogger("shelfwise.local")

LOCAL_RETRY_DELAY_SECONDS = 2
Invoker = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True)
class Mapping:
    function: str
    queue: QueueInfo
    batch_size: int


def mappings_from_spec(queues: dict[str, QueueInfo]) -> list[Mapping]:
    return [
        Mapping(function=fn.name, queue=queues[queue_by_id(trigger.queue).id], batch_size=trigger.batch_size)
        for fn in spec.FUNCTIONS
        for trigger in fn.triggers
    ]


def _lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS API message attributes → the camel-cased form Lambda puts in SQS event records."""
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value["DataType"],
        }
        for name, value in attributes.items()
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event-source mapping passes to the function."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": _lambda_message_attributes(message.get("MessageAttributes", {})),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def failed_message_ids(result: Any, messages: list[dict[str, Any]]) -> set[str]:
    """The message ids to retry, from a partial batch response; anything unreadable fails the whole batch."""
    all_ids = {message["MessageId"] for message in messages}
    if not isinstance(result, dict) or "batchItemFailures" not in result:
        return set()
    failures = result["batchItemFailures"]
    if not isinstance(failures, list):
        return all_ids
    reported = {failure.get("itemIdentifier") for failure in failures if isinstance(failure, dict)}
    if len(reported) != len(failures) or not reported <= all_ids:
        # Lambda treats an invalid partial response as a failure of the whole batch.
        return all_ids
    return {identifier for identifier in reported if isinstance(identifier, str)}


class QueuePoller:
    """One thread per mapping, long-polling its queue and invoking the function."""

    def __init__(self, mappings: list[Mapping], invoke: Invoker) -> None:
        self._mappings = mappings
        self._invoke = invoke
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()

    @property
    def busy(self) -> bool:
        with self._busy_lock:
            return self._busy > 0

    def start(self) -> None:
        for mapping in self._mappings:
            thread = threading.Thread(
                target=self._poll, args=(mapping,), name=f"esm-{mapping.function}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _poll(self, mapping: Mapping) -> None:
        sqs = boto3.client("sqs")
        while not self._stop.is_set():
            try:
                response = sqs.receive_message(
                    QueueUrl=mapping.queue.url,
                    MaxNumberOfMessages=min(10, mapping.batch_size),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("cannot receive from %s; retrying", mapping.queue.name)
                self._stop.wait(1.0)
                continue
            messages = response.get("Messages", [])
            if messages:
                with self._busy_lock:
                    self._busy += 1
                try:
                    self.deliver(sqs, mapping, messages)
                finally:
                    with self._busy_lock:
                        self._busy -= 1

    def deliver(self, sqs: Any, mapping: Mapping, messages: list[dict[str, Any]]) -> None:
        try:
            result = self._invoke(mapping.function, sqs_event(messages, mapping.queue.arn))
            failed = failed_message_ids(result, messages)
        except Exception:
            log.exception(
                "function %s failed on a batch from %s; it will be retried",
                mapping.function,
                mapping.queue.name,
            )
            failed = {message["MessageId"] for message in messages}
        for message in messages:
            if message["MessageId"] in failed:
                receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
                log.warning(
                    "message %s from %s failed (receive %s of %s before the dead-letter queue)",
                    message["MessageId"],
                    mapping.queue.name,
                    receives,
                    queue_by_name(mapping.queue.name).max_receive_count,
                )
                sqs.change_message_visibility(
                    QueueUrl=mapping.queue.url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=LOCAL_RETRY_DELAY_SECONDS,
                )
            else:
                sqs.delete_message(QueueUrl=mapping.queue.url, ReceiptHandle=message["ReceiptHandle"])


def queue_by_name(name: str) -> spec.Queue:
    for queue in spec.QUEUES:
        if queue.local_name == name:
            return queue
    raise KeyError(name)


def queue_depths(queues: dict[str, QueueInfo], sqs: Any | None = None) -> dict[str, dict[str, int]]:
    client = sqs or boto3.client("sqs")
    depths: dict[str, dict[str, int]] = {}
    for info in queues.values():
        for name, url in ((info.name, info.url), (info.dlq_name, info.dlq_url)):
            attributes = client.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            depths[name] = {
                "visible": int(attributes["ApproximateNumberOfMessages"]),
                "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            }
    return depths
