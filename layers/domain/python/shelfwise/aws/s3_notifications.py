"""S3 ObjectCreated notifications delivered through SQS: which objects a message names.

S3 sends a one-off `s3:TestEvent` message when a notification is configured; it names no object, so it
yields nothing. Keys arrive URL-encoded (spaces as '+') and are decoded here, once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3Model

S3_TEST_EVENT = "s3:TestEvent"


@dataclass(frozen=True)
class NotifiedObject:
    bucket: str
    key: str
    etag: str
    version_id: str | None


def notified_objects(record: SQSRecord) -> list[NotifiedObject]:
    """The objects one SQS message's S3 notification names (none for the S3 test event)."""
    body = json.loads(record.body)
    if isinstance(body, dict) and body.get("Event") == S3_TEST_EVENT:
        return []
    notification = parse(event=body, model=S3Model)
    return [
        NotifiedObject(
            bucket=s3_record.s3.bucket.name,
            key=unquote_plus(s3_record.s3.object.key),
            etag=s3_record.s3.object.eTag or "",
            version_id=s3_record.s3.object.versionId,
        )
        for s3_record in notification.Records
        if s3_record.s3.object is not None
    ]
