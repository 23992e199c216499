"""Creating the platform's resources (from `shelfwise_infra.spec`) in the local AWS.

Creation is idempotent, so it runs on every start of the local cloud and before every `shelfwise invoke`.
The S3 → SQS notification configuration is applied separately (`configure_notifications`) so that restoring a
snapshot can put objects back without re-announcing them as new uploads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError
from shelfwise_infra import spec

from shelfwise_local.functions import ACCOUNT_ID, REGION

AwsClient = Any  # botocore builds client classes at run time


@dataclass(frozen=True)
class QueueInfo:
    name: str
    url: str
    arn: str
    dlq_name: str
    dlq_url: str
    dlq_arn: str


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


def dlq_name(queue: spec.Queue) -> str:
    return f"{queue.local_name}-dlq"


def schedule_rule_arn(schedule: spec.Schedule) -> str:
    return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/shelfwise-{schedule.name}"


def queue_by_id(queue_id: str) -> spec.Queue:
    for queue in spec.QUEUES:
        if queue.id == queue_id:
            return queue
    raise KeyError(f"unknown queue {queue_id!r}")


def create_buckets(s3: AwsClient) -> None:
    for bucket in spec.BUCKETS:
        try:
            s3.create_bucket(Bucket=bucket.local_name)
        except ClientError as error:
            if error.response["Error"]["Code"] not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise


def create_tables(dynamodb: AwsClient) -> None:
    existing = set(dynamodb.list_tables()["TableNames"])
    for table in spec.TABLES:
        if table.local_name in existing:
            continue
        keys = [(table.partition_key, "HASH")]
        if table.sort_key:
            keys.append((table.sort_key, "RANGE"))
        dynamodb.create_table(
            TableName=table.local_name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
        )
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table.local_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )


def create_queues(sqs: AwsClient) -> dict[str, QueueInfo]:
    """Each spec queue with its dead-letter queue and redrive policy; keyed by the spec queue id."""
    queues: dict[str, QueueInfo] = {}
    for queue in spec.QUEUES:
        dead_letter_url = sqs.create_queue(
            QueueName=dlq_name(queue), Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)}
        )["QueueUrl"]
        redrive = {
            "deadLetterTargetArn": queue_arn(dlq_name(queue)),
            "maxReceiveCount": queue.max_receive_count,
        }
        url = sqs.create_queue(
            QueueName=queue.local_name,
            Attributes={
                "VisibilityTimeout": str(queue.visibility_timeout_seconds),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
        queues[queue.id] = QueueInfo(
            name=queue.local_name,
            url=url,
            arn=queue_arn(queue.local_name),
            dlq_name=dlq_name(queue),
            dlq_url=dead_letter_url,
            dlq_arn=queue_arn(dlq_name(queue)),
        )
    return queues


def create_event_bus(events: AwsClient) -> None:
    names = {bus["Name"] for bus in events.list_event_buses()["EventBuses"]}
    if spec.EVENT_BUS.local_name not in names:
        events.create_event_bus(Name=spec.EVENT_BUS.local_name)


def configure_notifications(s3: AwsClient) -> None:
    """Send ObjectCreated events under each function trigger's prefix to the trigger's queue."""
    configurations = [
        {
            "Id": f"{fn.name}-{trigger.queue}",
            "QueueArn": queue_arn(queue_by_id(trigger.queue).local_name),
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": trigger.prefix}]}},
        }
        for fn in spec.FUNCTIONS
        for trigger in fn.triggers
    ]
    s3.put_bucket_notification_configuration(
        Bucket=spec.DATA_BUCKET.local_name,
        NotificationConfiguration={"QueueConfigurations": configurations},
    )


def create_all(*, with_notifications: bool = True) -> dict[str, QueueInfo]:
    """Create every spec resource using clients from the process environment (AWS_ENDPOINT_URL)."""
    create_buckets(boto3.client("s3"))
    create_tables(boto3.client("dynamodb"))
    queues = create_queues(boto3.client("sqs"))
    create_event_bus(boto3.client("events"))
    if with_notifications:
        configure_notifications(boto3.client("s3"))
    return queues


def resource_description(queues: dict[str, QueueInfo]) -> dict[str, Any]:
    """Every resource name, as written into local.json and served by /_local/status."""
    return {
        "buckets": {bucket.id: bucket.local_name for bucket in spec.BUCKETS},
        "tables": {table.id: table.local_name for table in spec.TABLES},
        "queues": {
            queue_id: {"name": info.name, "url": info.url, "dlq_name": info.dlq_name, "dlq_url": info.dlq_url}
            for queue_id, info in queues.items()
        },
        "event_bus": spec.EVENT_BUS.local_name,
        "environment": {
            **{bucket.env: bucket.local_name for bucket in spec.BUCKETS},
            **{table.env: table.local_name for table in spec.TABLES},
            spec.EVENT_BUS.env: spec.EVENT_BUS.local_name,
        },
    }
