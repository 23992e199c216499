"""Retention in the local cloud: what S3 lifecycle rules and DynamoDB TTL do in AWS, done by a periodic sweep.

moto stores a bucket's lifecycle configuration and a table's TTL setting but never expires anything, so a
laptop demo would keep every raw file and chat session forever. The local cloud therefore:

- puts the data bucket's lifecycle configuration from the deployment's retention setting
  (`shelfwise_infra.retention`, the same setting the CDK app turns into lifecycle rules);
- sweeps every `HOUSEKEEPING_EVERY_SECONDS` (and once at start-up): deletes each object past an enabled
  expiration rule of its bucket, read back from the bucket, and each DynamoDB item whose TTL attribute (read
  from the table's TTL setting) is in the past.

Expiry follows AWS: an object is due `Days` after its last write, rounded up to the next midnight UTC; an
item is due once its TTL attribute, epoch seconds, is not in the future (and, as in DynamoDB, not more than
five years in the past). Deletes are conditional on the item still being due, so an item renewed between the
scan and the delete stays.

A raw file under `incoming/<kind>/` that the drop folder delivered also has a copy in
`dropbox/<kind>/.landed/`; the copy is removed before the object. At start-up the local cloud uploads again
any landed copy whose object is missing (recovery.py), so a copy left behind would bring an expired file back
and ingest it again. Ingestion manifests (`curated/_manifests/`) never expire, and a raw file gone from
`incoming/` is not listed by reconciliation: an expired file is neither re-driven nor re-ingested.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from shelfwise_infra import spec
from shelfwise_infra.retention import Retention

from shelfwise_local.dropbox import LANDED_DIR
from shelfwise_local.recovery import forget_removed_drops

log = logging.getLogger("shelfwise.local")

HOUSEKEEPING_EVERY_SECONDS = 60.0
# A demo can sweep more often (the sweep still expires only what is due).
HOUSEKEEPING_SECONDS_ENV = "SHELFWISE_LOCAL_HOUSEKEEPING_SECONDS"
# DynamoDB's TTL ignores items whose TTL lies more than five years in the past (they were written with an
# old timestamp, not left to expire); so does the sweep, so replayed historical data behaves as in AWS.
TTL_IGNORED_AFTER = timedelta(days=5 * 365)
# delete_objects takes at most this many keys per request.
DELETE_BATCH = 1000
# `_landed_path` in dropbox.py names a second delivery of the same name `<stamp>-<counter>-<name>`.
_REDELIVERED = re.compile(r"^\d{8}T\d{6}-\d+-(?P<name>.+)$")

Clock = Callable[[], datetime]


def housekeeping_interval(environ: Mapping[str, str] | None = None) -> float:
    value = (os.environ if environ is None else environ).get(HOUSEKEEPING_SECONDS_ENV, "")
    if not value:
        return HOUSEKEEPING_EVERY_SECONDS
    seconds = float(value)
    if seconds <= 0:
        raise ValueError(f"{HOUSEKEEPING_SECONDS_ENV} must be positive, got {value!r}")
    return seconds


def lifecycle_configuration(retention: Retention) -> dict[str, Any]:
    """The data bucket's expiration rules, as S3's PutBucketLifecycleConfiguration takes them."""
    return {
        "Rules": [
            {"ID": rule_id, "Filter": {"Prefix": prefix}, "Status": "Enabled", "Expiration": {"Days": days}}
            for rule_id, prefix, days in retention.expiring_prefixes()
        ]
    }


def apply_lifecycle(s3: Any, retention: Retention) -> None:
    s3.put_bucket_lifecycle_configuration(
        Bucket=spec.DATA_BUCKET.local_name, LifecycleConfiguration=lifecycle_configuration(retention)
    )


@dataclass(frozen=True)
class ExpirationRule:
    prefix: str
    days: int

    def due(self, last_modified: datetime) -> datetime:
        """When S3 expires an object written at `last_modified`: `days` later, at the next midnight UTC."""
        moment = last_modified.astimezone(UTC) + timedelta(days=self.days)
        midnight = datetime.combine(moment.date(), time(), tzinfo=UTC)
        return midnight if moment == midnight else midnight + timedelta(days=1)


def expiration_rules(s3: Any, bucket: str) -> list[ExpirationRule]:
    """The enabled rules of the bucket's lifecycle configuration that expire current objects after days."""
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
            return []
        raise
    found = []
    for rule in rules:
        days = rule.get("Expiration", {}).get("Days")
        if rule.get("Status") != "Enabled" or not days:
            continue
        prefix = rule.get("Filter", {}).get("Prefix", rule.get("Prefix", ""))
        found.append(ExpirationRule(prefix=prefix, days=int(days)))
    return found


@dataclass
class Sweep:
    """What one sweep removed: object keys, landed copies, and item counts per table."""

    objects: list[str] = field(default_factory=list)
    landed_copies: list[str] = field(default_factory=list)
    items: dict[str, int] = field(default_factory=dict)

    @property
    def removed_anything(self) -> bool:
        return bool(self.objects or self.landed_copies or any(self.items.values()))

    def summary(self) -> str:
        items = ", ".join(f"{count} from {table}" for table, count in sorted(self.items.items()) if count)
        return (
            f"{len(self.objects)} object(s), {len(self.landed_copies)} landed drop-folder cop(ies), "
            f"item(s): {items or 'none'}"
        )


def sweep(*, s3: Any, dynamodb: Any, now: datetime, dropbox_root: Path | None = None) -> Sweep:
    """Delete what AWS would have expired by `now`: objects past their lifecycle rule, items past TTL."""
    result = Sweep()
    for bucket in spec.BUCKETS:
        for rule in expiration_rules(s3, bucket.local_name):
            expired = [
                entry["Key"]
                for entry in _listed(s3, bucket.local_name, rule.prefix)
                if rule.due(entry["LastModified"]) <= now
            ]
            if dropbox_root is not None and bucket == spec.DATA_BUCKET:
                result.landed_copies.extend(_remove_landed_copies(dropbox_root, expired))
            _delete_objects(s3, bucket.local_name, expired)
            result.objects.extend(expired)
    if dropbox_root is not None:
        # Raw files the erasure job deleted take their drop-folder copies with them.
        result.landed_copies.extend(forget_removed_drops(dropbox_root, s3))
    for table in spec.TABLES:
        result.items[table.local_name] = _expire_items(dynamodb, table.local_name, now)
    return result


def _listed(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _delete_objects(s3: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        response = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        if response.get("Errors"):
            raise RuntimeError(f"S3 refused to delete expired objects: {response['Errors'][:3]}")


def _remove_landed_copies(dropbox_root: Path, keys: list[str]) -> list[str]:
    """Remove the drop folder's landed copies of the expired `incoming/<kind>/<name>` objects."""
    names_by_kind: dict[str, set[str]] = {}
    for key in keys:
        relative = key.removeprefix(spec.INCOMING_PREFIX)
        if relative == key or relative.count("/") != 1:
            continue  # not a drop-folder delivery (e.g. incoming/interactions/api/<day>/<batch>.csv)
        kind, name = relative.split("/")
        names_by_kind.setdefault(kind, set()).add(name)
    removed = []
    for kind, names in names_by_kind.items():
        landed_dir = dropbox_root / kind / LANDED_DIR
        if not landed_dir.is_dir():
            continue
        for path in landed_dir.iterdir():
            redelivered = _REDELIVERED.match(path.name)
            delivered_name = redelivered["name"] if redelivered else path.name
            if path.is_file() and (delivered_name in names or path.name in names):
                path.unlink(missing_ok=True)
                removed.append(str(path))
    return removed


def _expire_items(dynamodb: Any, table: str, now: datetime) -> int:
    description = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    attribute = description.get("AttributeName")
    if description.get("TimeToLiveStatus") != "ENABLED" or not attribute:
        return 0
    key_schema = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
    key_names = [key["AttributeName"] for key in key_schema]
    due = {
        "ExpressionAttributeNames": {"#ttl": attribute},
        "ExpressionAttributeValues": {
            ":now": {"N": str(int(now.timestamp()))},
            ":oldest": {"N": str(int((now - TTL_IGNORED_AFTER).timestamp()))},
        },
    }
    condition = "#ttl BETWEEN :oldest AND :now"
    expired = 0
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression=condition,
        ProjectionExpression=", ".join(f"#key{index}" for index in range(len(key_names))),
        ExpressionAttributeNames={
            **due["ExpressionAttributeNames"],
            **{f"#key{index}": name for index, name in enumerate(key_names)},
        },
        ExpressionAttributeValues=due["ExpressionAttributeValues"],
    ):
        for key in page.get("Items", []):
            try:
                dynamodb.delete_item(TableName=table, Key=key, ConditionExpression=condition, **due)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                continue
            expired += 1
    return expired


class Housekeeping:
    """The periodic sweep of a running local cloud."""

    def __init__(
        self,
        *,
        s3: Any,
        dynamodb: Any,
        dropbox_root: Path,
        clock: Clock = lambda: datetime.now(UTC),
        every_seconds: float = HOUSEKEEPING_EVERY_SECONDS,
    ) -> None:
        self._s3 = s3
        self._dynamodb = dynamodb
        self._dropbox_root = dropbox_root
        self._clock = clock
        self.every_seconds = every_seconds
        self.last_sweep: dict[str, Any] | None = None

    def run_once(self) -> Sweep:
        now = self._clock()
        result = sweep(s3=self._s3, dynamodb=self._dynamodb, now=now, dropbox_root=self._dropbox_root)
        self.last_sweep = {
            "at": now.isoformat(),
            "objects": len(result.objects),
            "landed_copies": len(result.landed_copies),
            "items": sum(result.items.values()),
        }
        if result.removed_anything:
            log.info("housekeeping: removed what retention expired: %s", result.summary())
        return result

    def run_forever(self, stop: Any) -> None:
        """Sweep every `every_seconds` until `stop` (a threading.Event) is set."""
        while not stop.wait(self.every_seconds):
            try:
                self.run_once()
            except Exception:
                log.exception("housekeeping sweep failed; will try again")
