"""The nightly segmentation run: curated interactions in, segments table and exports out.

Which day a run scores (`as_of`) is decided by `shelfwise.segments.schedule`.

Outputs, in the data bucket and the segments table:
- `segments/<as_of>/segments.csv` and `segments/<as_of>/summary.json` — every run, kept per day; the CSV is
  for the retailer's CRM and names customers by the retailer's ids (`customer_id`, from the vault of customer
  ids), while the table and everything else hold pseudonyms;
- `segments/latest/...` copies and the segments-table items — only when this run is at least as recent as the
  one already published, so a backfill of an old day never overwrites newer scores that marketing uses.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from shelfwise.aws import dynamodb, s3
from shelfwise.curated import read_curated
from shelfwise.privacy.identities import CustomerIdVault
from shelfwise.segments.records import (
    CSV_NAME,
    LATEST,
    SUMMARY_NAME,
    export_key,
    segments_csv,
    summary_json,
    table_items,
)
from shelfwise.segments.scoring import score_customers
from shelfwise.segments.summary import SegmentSummary, summarize

logger = Logger(child=True)


@dataclass(frozen=True)
class SegmentRun:
    summary: SegmentSummary
    published: bool  # False for a backfill older than what is already published
    exported_keys: list[str] = field(default_factory=list)
    items_written: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "status": "succeeded",
            "as_of": self.summary.as_of.isoformat(),
            "scored_at": self.summary.scored_at,
            "users_scored": self.summary.users,
            "purchasers": self.summary.purchasers,
            "prospects": self.summary.prospects,
            "high_value_users": self.summary.high_value_users,
            "segments": {name: stats.users for name, stats in self.summary.segments.items()},
            "published": self.published,
            "items_written": self.items_written,
            "exports": self.exported_keys,
            "message": _message(self),
        }


def run_segmentation(
    *,
    as_of: dt.date,
    bucket: str,
    segments_table: str,
    customer_ids_table: str,
    scored_at: dt.datetime | None = None,
    s3_client: s3.S3Client | None = None,
    dynamodb_resource: dynamodb.DynamoResource | None = None,
) -> SegmentRun:
    scored_at_text = (scored_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    client = s3_client or s3.client()

    interactions = read_curated("interactions", bucket=bucket, s3_client=client)
    logger.info(
        "read curated interactions", extra={"rows": interactions.num_rows, "as_of": as_of.isoformat()}
    )
    scored = score_customers(interactions, as_of)
    summary = summarize(scored, scored_at=scored_at_text)
    logger.info(
        "scored customers",
        extra={"users": summary.users, "purchasers": summary.purchasers, "prospects": summary.prospects},
    )

    vault = CustomerIdVault(customer_ids_table, dynamodb_resource)
    export = segments_csv(scored, vault.customer_ids(scored.table.column("user_id").to_pylist()))
    if export.unmatched:
        logger.warning(
            "customers without a customer id in the vault are left out of the CRM export",
            extra={"unmatched": export.unmatched, "exported": export.rows},
        )
    csv_body, summary_body = export.body, summary_json(summary)
    folders = [as_of.isoformat()]
    published = _is_newest(as_of, bucket=bucket, s3_client=client)
    items_written = 0
    if published:
        # Table first, then `latest/`: `latest/summary.json` is what marks a run as published.
        items_written = dynamodb.batch_put(
            segments_table,
            table_items(scored, scored_at=scored_at_text),
            key_names=["user_id"],
            dynamodb=dynamodb_resource,
        )
        logger.info("wrote segments table", extra={"items": items_written, "table": segments_table})
        folders.append(LATEST)
    else:
        logger.warning(
            "newer segments already published; exporting this day only",
            extra={"as_of": as_of.isoformat()},
        )

    exported: list[str] = []
    for folder in folders:
        for name, body, content_type in (
            (CSV_NAME, csv_body, "text/csv"),
            (SUMMARY_NAME, summary_body, "application/json"),
        ):
            key = export_key(folder, name)
            s3.put_bytes(bucket, key, body, content_type=content_type, s3_client=client)
            exported.append(key)
    logger.info("exported segments", extra={"keys": exported})
    return SegmentRun(
        summary=summary, published=published, exported_keys=exported, items_written=items_written
    )


def _is_newest(as_of: dt.date, *, bucket: str, s3_client: s3.S3Client) -> bool:
    key = export_key(LATEST, SUMMARY_NAME)
    if s3.head(bucket, key, s3_client=s3_client) is None:
        return True
    try:
        published_as_of = dt.date.fromisoformat(
            json.loads(s3.get_bytes(bucket, key, s3_client=s3_client))["as_of"]
        )
    except (ValueError, KeyError, TypeError):
        logger.warning("latest segments summary is unreadable; replacing it", extra={"key": key})
        return True
    return as_of >= published_as_of


def _message(run: SegmentRun) -> str:
    summary = run.summary
    if summary.users == 0:
        return f"No interactions up to {summary.as_of}; scored 0 users."
    text = (
        f"Scored {summary.users} users as of {summary.as_of}: {summary.purchasers} purchasers, "
        f"{summary.prospects} prospects, {summary.high_value_users} high value."
    )
    if not run.published:
        text += " Newer segments are already published, so only this day's export was written."
    return text
