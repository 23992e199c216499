"""What the local cloud does after an unclean stop (kill -9, power loss) so that no dropped file is lost.

The state comes back from the last snapshot (see snapshot.py): one consistent moment of S3 and DynamoDB, but
the trigger queues' messages and whatever happened after that moment are gone. At start-up, before the queue
pollers run:

1. `release_interrupted_attempts`: every `INPROGRESS` idempotency record belongs to an attempt of the previous
   process, which is dead. In AWS such a record stops blocking once the function timeout has passed; locally
   the restart itself proves the attempt is over, so the record is removed and the retry is not blocked (nor
   dead-lettered after three refusals).
2. `reupload_lost_drops`: a file moved to `dropbox/<kind>/.landed/` whose upload is not in the restored
   bucket (it happened after the last snapshot) is uploaded again.
3. The `reconcile` function runs with no age threshold and no re-drive limit: every object under `incoming/`
   without a manifest is re-driven through the same S3 ObjectCreated -> queue -> ingest path as an upload.

4. `announce_unlogged_outcomes`: a file whose manifest landed but whose outcome never reached the
   ingested-files log (the process died between the two) is announced now: `FileIngested`/`FileRejected` on
   the bus and its log item. In AWS the trigger message's redelivery does the same.

`redrive_dead_letters` is `shelfwise redrive`: the dead-letter queue's messages back into their source queue
(what `aws sqs start-message-move-task` does in AWS; moto does not implement that API).
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from shelfwise.ingest.reconcile import file_id_for, manifested_file_ids
from shelfwise_infra import spec
from shelfwise_infra.retention import Retention

from shelfwise_local.dropbox import LANDED_DIR, upload_file
from shelfwise_local.resources import QueueInfo
from shelfwise_local.scheduling import scheduled_event

log = logging.getLogger("shelfwise.local")

RECONCILE_SCHEDULE = "reconcile-ingest"
MANIFESTS_PREFIX = f"{spec.CURATED_PREFIX}_manifests/"
# `_landed_path` in dropbox.py names a second delivery of the same name `<stamp>-<counter>-<name>`.
_REDELIVERED = re.compile(r"^(?P<stamp>\d{8}T\d{6})-(?P<counter>\d+)-(?P<name>.+)$")


def release_interrupted_attempts(dynamodb: Any) -> int:
    """Delete the idempotency records left `INPROGRESS` by the previous process; returns how many."""
    table = spec.IDEMPOTENCY_TABLE.local_name
    released = 0
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="#status = :in_progress",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":in_progress": {"S": "INPROGRESS"}},
        ProjectionExpression="id",
    ):
        for item in page.get("Items", []):
            try:
                dynamodb.delete_item(
                    TableName=table,
                    Key={"id": item["id"]},
                    ConditionExpression="#status = :in_progress",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={":in_progress": {"S": "INPROGRESS"}},
                )
                released += 1
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
    return released


def _latest_landed(landed_dir: Path) -> dict[str, Path]:
    """For each delivered file name, the landed copy of its latest delivery."""
    latest: dict[str, tuple[tuple[str, int], Path]] = {}
    for path in landed_dir.iterdir():
        if not path.is_file() or path.name.startswith("."):
            continue
        found = _REDELIVERED.match(path.name)
        name, order = (
            (found["name"], (found["stamp"], int(found["counter"]))) if found else (path.name, ("", 0))
        )
        if name not in latest or order > latest[name][0]:
            latest[name] = (order, path)
    return {name: path for name, (_, path) in latest.items()}


def forget_removed_drops(root: Path, s3: Any) -> list[str]:
    """Remove each landed copy whose file was ingested and whose object is gone since; returns their paths.

    Such an object was removed on purpose — the erasure job deletes raw files that name an erased customer
    once they are ingested — so its copy must go too rather than be uploaded again as a lost drop. A drop
    upload is one PUT, so the copy's MD5 is the object's ETag and gives the file id its manifest is under.
    """
    bucket = spec.DATA_BUCKET.local_name
    manifested = manifested_file_ids(bucket, s3_client=s3)
    removed: list[str] = []
    for kind in spec.INGEST_KINDS:
        landed_dir = root / kind / LANDED_DIR
        if not landed_dir.is_dir():
            continue
        for path in sorted(landed_dir.iterdir()):
            if not path.is_file() or path.name.startswith("."):
                continue
            found = _REDELIVERED.match(path.name)
            key = f"{spec.INCOMING_PREFIX}{kind}/{found['name'] if found else path.name}"
            if _exists(s3, bucket, key):
                continue
            with path.open("rb") as copy:
                etag = hashlib.file_digest(copy, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
            if file_id_for(bucket, key, etag) in manifested:
                path.unlink(missing_ok=True)
                removed.append(str(path))
                log.info("dropbox: %s was ingested and its object removed since; removed the copy", path)
    return removed


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] not in {"404", "NoSuchKey", "NotFound"}:
            raise
        return False


def reupload_lost_drops(root: Path, s3: Any) -> list[str]:
    """Upload again each landed drop-folder file whose object is missing from the bucket; returns the keys.

    Only a missing object counts as lost: an object that exists with other bytes was replaced on purpose (a
    later upload through `shelfwise drop` or the S3 API) and is left alone, and so is one removed after its
    file was ingested (`forget_removed_drops`).
    """
    forget_removed_drops(root, s3)
    bucket = spec.DATA_BUCKET.local_name
    uploaded: list[str] = []
    for kind in spec.INGEST_KINDS:
        landed_dir = root / kind / LANDED_DIR
        if not landed_dir.is_dir():
            continue
        for name, path in sorted(_latest_landed(landed_dir).items()):
            key = f"{spec.INCOMING_PREFIX}{kind}/{name}"
            try:
                s3.head_object(Bucket=bucket, Key=key)
                continue
            except ClientError as error:
                if error.response["Error"]["Code"] not in {"404", "NoSuchKey", "NotFound"}:
                    raise
            # upload_file names the object after the file; the landed copy may carry a redelivery prefix, so
            # it is uploaded through a link under its delivered name (the landed copies stay as they are).
            with tempfile.TemporaryDirectory(dir=landed_dir, prefix=".reupload-") as aside:
                original = Path(aside) / name
                original.hardlink_to(path)
                uploaded.append(upload_file(s3, kind, original))
            log.warning("dropbox: %s was landed but its upload was lost in a crash; uploaded it again", path)
    return uploaded


def announce_unlogged_outcomes(s3: Any) -> list[str]:
    """Announce every manifest missing from the ingested-files log; returns the announced source keys."""
    import json

    from shelfwise.ingest import outcomes
    from shelfwise.ingest.report import IngestManifest

    bucket = spec.DATA_BUCKET.local_name
    logged = outcomes.logged_file_ids(spec.INGEST_FILES_TABLE.local_name)
    # The log's items live as long as the rejection reports (`retention.rejected_days`).
    log_days = Retention.from_environment().rejected_days
    announced = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=MANIFESTS_PREFIX):
        for entry in page.get("Contents", []):
            manifest = IngestManifest.model_validate(
                json.loads(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())
            )
            if manifest.file_id in logged:
                continue
            if manifest.finished_at + timedelta(days=log_days) <= datetime.now(UTC):
                # Its log item expired with retention (housekeeping.py), it was not cut off: announcing it
                # again would repeat a months-old outcome at every start.
                continue
            outcomes.announce(
                manifest,
                data_bucket=bucket,
                table_name=spec.INGEST_FILES_TABLE.local_name,
                bus_name=spec.EVENT_BUS.local_name,
            )
            announced.append(manifest.source_key)
    return announced


def startup_reconcile_event() -> dict[str, Any]:
    """The reconcile schedule's event with no age threshold and no re-drive limit: right after a restart no
    message is on its way and no attempt is running, so every object without a manifest needs a re-drive."""
    event = scheduled_event(spec.schedule(RECONCILE_SCHEDULE), datetime.now(UTC))
    event["detail"].update(older_than_seconds="0", max_redrives="unlimited")
    return event


def redrive_dead_letters(sqs: Any, queues: dict[str, QueueInfo]) -> dict[str, int]:
    """Move every message of each dead-letter queue back to its source queue; returns counts by queue name.

    Each message is sent before it is deleted, so a crash in between duplicates it rather than losing it
    (ingestion is idempotent).
    """
    moved: dict[str, int] = {}
    for info in queues.values():
        count = 0
        while True:
            messages = sqs.receive_message(
                QueueUrl=info.dlq_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=60,
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                extra = (
                    {"MessageAttributes": message["MessageAttributes"]}
                    if message.get("MessageAttributes")
                    else {}
                )
                sqs.send_message(QueueUrl=info.url, MessageBody=message["Body"], **extra)
                sqs.delete_message(QueueUrl=info.dlq_url, ReceiptHandle=message["ReceiptHandle"])
                count += 1
        moved[info.name] = count
    return moved
