"""Queues (each with its dead-letter queue) and the platform's event bus."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from shelfwise_infra import spec

# A message that keeps failing is kept for the maximum SQS allows, so an operator has time to redrive it.
DEAD_LETTER_RETENTION = Duration.days(14)


class Messaging(Construct):
    """Every queue in the spec (keyed by spec id), their dead-letter queues and the archived event bus."""

    def __init__(self, scope: Construct, construct_id: str, *, event_archive_days: int) -> None:
        super().__init__(scope, construct_id)
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for queue in spec.QUEUES:
            self._add_queue(queue)
        self.event_bus = events.EventBus(self, spec.EVENT_BUS.id, description="shelfwise platform events")
        self.event_bus.archive(
            "Archive",
            description="Every shelfwise event, for replay",
            event_pattern=events.EventPattern(source=[spec.EVENT_BUS.source]),
            retention=Duration.days(event_archive_days),
        )

    def _add_queue(self, queue: spec.Queue) -> None:
        dead_letters = sqs.Queue(
            self,
            f"{queue.id}DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
        )
        self.dead_letter_queues[queue.id] = dead_letters
        self.queues[queue.id] = sqs.Queue(
            self,
            queue.id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(queue.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=queue.max_receive_count, queue=dead_letters
            ),
        )
