"""The right of access: everything the platform holds about one customer, found by their pseudonym.

`GET /v1/customers/{user_id}/data` (operations credential, read scope) answers with `CustomerData`:

- `activity`: the customer's recent events as the activity table keeps them (the newest 50, and when the item
  expires);
- `segment`: their RFM segment from the segments table, or null;
- `chat_sessions`: their chat sessions as stored — derived, redacted state only (message count, recent
  sentiments, last intent, escalation, the last answer built from the redacted text); found by a scan of the
  chat-sessions table filtered on the owner (the table is small: sessions expire within a day or so, and the
  route is used rarely; no index is kept for it);
- `curated_files`: the `curated/interactions/` Parquet parts that hold rows of theirs, with how many, read
  with a pyarrow filter on `user_id` (only that column);
- `model_versions`: the recommender versions in the model registry whose training users (`users.json` of the
  version, the same list its training archive under `models/_jobs/` holds) include them, with how many
  items of their history the version learned from;
- `customer_id_kept`: whether the vault of customer ids holds the retailer's id for them (it does for every
  customer ingestion has seen, until erasure).

Everything is looked up by the customer's keyed pseudonym; the answer names the customer only by the id the
caller gave, and never shows the pseudonym (an operator could otherwise compute pseudonyms of guessed ids,
which is what the key prevents). An id the platform knows nothing about gets the same shape with every
section empty — a 200, not a 404 — so the answer says nothing beyond "nothing is held".

Not searched: raw files under `incoming/` and the rejection reports under `rejected/` (the sender's own files,
kept as delivered for a limited time), the CRM exports under `segments/` (the retailer's own ids, for its
CRM), logs (which hold neither ids nor pseudonyms of customers) and backups (point-in-time recovery, S3
noncurrent versions). docs/privacy.md lists every place and its retention.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from boto3.dynamodb.conditions import Attr
from pydantic import BaseModel, Field

from shelfwise import model_versions
from shelfwise.aws import dynamodb, s3
from shelfwise.chat.sessions import StoredSession, session_owner
from shelfwise.ingest.activity import UnreadableRecent, decode_recent
from shelfwise.privacy.identities import CustomerIdVault
from shelfwise.segments.lookup import segment_item
from shelfwise.segments.records import CustomerSegmentResponse, response_from_item

CURATED_INTERACTIONS_PREFIX = "curated/interactions/"
RECOMMENDER = "recommender"
READ_WORKERS = 8


class ActivityEvent(BaseModel):
    item_id: str
    event_type: str
    timestamp: str = Field(description="ISO-8601 UTC.")


class Activity(BaseModel):
    events: list[ActivityEvent] = Field(description="Newest first; at most the 50 newest distinct events.")
    expires_at: str | None = Field(description="When the activity table lets the item expire (ISO-8601 UTC).")


class ChatSessionRecord(BaseModel):
    session_id: str
    created_at: str | None = None
    updated_at: str | None = None
    expires_at: str | None = Field(default=None, description="When the session expires (ISO-8601 UTC).")
    message_count: int
    state: dict[str, Any] = Field(description="Recent sentiment labels, last intent, escalation state.")
    escalation_priority: str | None = None
    last_answer: dict[str, Any] | None = Field(
        default=None,
        description="The last answer as stored: built from the redacted text, never the raw one.",
    )


class CuratedFile(BaseModel):
    key: str = Field(description="Data-bucket key of the curated Parquet part.")
    rows: int = Field(description="The customer's rows in it.")


class ModelVersionRecord(BaseModel):
    model_config = {"protected_namespaces": ()}

    model_name: str
    version: str
    status: str
    created_at: str
    training_items: int = Field(description="Items of the customer's history the version learned from.")


class CustomerData(BaseModel):
    """Everything held about one customer (docs/privacy.md)."""

    customer_id: str = Field(description="The id asked for, as given.")
    customer_id_kept: bool = Field(
        description="Whether the vault of customer ids keeps the retailer's id of this customer (for the "
        "CRM export)."
    )
    activity: Activity
    segment: CustomerSegmentResponse | None
    chat_sessions: list[ChatSessionRecord]
    curated_files: list[CuratedFile]
    model_versions: list[ModelVersionRecord]
    generated_at: str = Field(description="When this answer was put together (ISO-8601 UTC).")


@dataclass(frozen=True)
class AccessTargets:
    data_bucket: str
    user_activity_table: str
    segments_table: str
    chat_sessions_table: str
    models_table: str
    customer_ids_table: str


@dataclass
class CustomerDataFinder:
    """Collaborators are the AWS adapters; `pseudonym` is the keyed pseudonymizer of the function."""

    targets: AccessTargets
    pseudonym: Callable[[str], str]
    s3_client: s3.S3Client | None = None
    dynamodb_resource: dynamodb.DynamoResource | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def find(self, customer_id: str) -> CustomerData:
        pseudonym = self.pseudonym(customer_id)
        segment = segment_item(
            pseudonym, segments_table=self.targets.segments_table, dynamodb_resource=self.dynamodb_resource
        )
        return CustomerData(
            customer_id=customer_id,
            customer_id_kept=CustomerIdVault(self.targets.customer_ids_table, self.dynamodb_resource).holds(
                pseudonym
            ),
            activity=self._activity(pseudonym),
            segment=response_from_item(segment).model_copy(update={"user_id": customer_id})
            if segment
            else None,
            chat_sessions=self._chat_sessions(customer_id, pseudonym),
            curated_files=self._curated_files(pseudonym),
            model_versions=self._model_versions(pseudonym),
            generated_at=self.clock().isoformat(timespec="seconds"),
        )

    def _activity(self, pseudonym: str) -> Activity:
        item = dynamodb.get_item(
            self.targets.user_activity_table, {"user_id": pseudonym}, dynamodb=self.dynamodb_resource
        )
        if not item:
            return Activity(events=[], expires_at=None)
        try:
            events = decode_recent(str(item.get("recent", "[]")))
        except UnreadableRecent:
            events = []
        return Activity(
            events=[
                ActivityEvent(item_id=event.item_id, event_type=event.event_type, timestamp=_iso(event.ts))
                for event in events
            ],
            expires_at=_iso(item["expires_at"]) if item.get("expires_at") is not None else None,
        )

    def _chat_sessions(self, customer_id: str, pseudonym: str) -> list[ChatSessionRecord]:
        # The pseudonym, or for a session from before pseudonyms the unkeyed hash it was stored under.
        owners = [pseudonym, session_owner("customer", customer_id)]
        table = dynamodb.table(self.targets.chat_sessions_table, dynamodb=self.dynamodb_resource)
        request: dict[str, Any] = {"FilterExpression": Attr("owner").is_in(owners)}
        records: list[ChatSessionRecord] = []
        while True:
            response = table.scan(**request)
            records.extend(_chat_record(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(records, key=lambda record: (record.created_at or "", record.session_id))

    def _curated_files(self, pseudonym: str) -> list[CuratedFile]:
        client = self.s3_client or s3.client()
        keys = sorted(
            key
            for key in s3.list_keys(self.targets.data_bucket, CURATED_INTERACTIONS_PREFIX, s3_client=client)
            if key.endswith(".parquet")
        )

        def rows_in(key: str) -> int:
            return _rows_of(s3.get_bytes(self.targets.data_bucket, key, s3_client=client), pseudonym)

        counts = _parallel(rows_in, keys)
        return [CuratedFile(key=key, rows=rows) for key, rows in zip(keys, counts, strict=True) if rows]

    def _model_versions(self, pseudonym: str) -> list[ModelVersionRecord]:
        client = self.s3_client or s3.client()
        versions = model_versions.list_versions(
            self.targets.models_table, model_name=RECOMMENDER, dynamodb_resource=self.dynamodb_resource
        )

        def items_in(version: model_versions.ModelVersion) -> int:
            return _training_items(version, pseudonym, client)

        counts = _parallel(items_in, versions)
        return [
            ModelVersionRecord(
                model_name=version.model_name,
                version=version.version,
                status=version.status,
                created_at=version.created_at,
                training_items=count,
            )
            for version, count in zip(versions, counts, strict=True)
            if count
        ]


def _rows_of(parquet: bytes, pseudonym: str) -> int:
    import pyarrow.parquet as pq

    return pq.read_table(
        io.BytesIO(parquet), columns=["user_id"], filters=[("user_id", "==", pseudonym)]
    ).num_rows


def _training_items(version: model_versions.ModelVersion, pseudonym: str, client: s3.S3Client) -> int:
    """How many items of the customer's history the version was trained on (0: the customer is not in it).

    Reads the version's `manifest.json` and `users.json`, then only the customer's slice of its history.
    """
    location = urlparse(version.artifact_uri or "")
    if location.scheme != "s3" or not location.path.endswith("/"):
        return 0  # no unpacked version directory (an archive that could not be read)
    bucket, prefix = location.netloc, location.path.lstrip("/")
    manifest_bytes = s3.get_bytes_if_exists(bucket, f"{prefix}manifest.json", s3_client=client)
    if manifest_bytes is None:
        return 0
    artifacts = json.loads(manifest_bytes).get("artifacts") or {}
    users_name = artifacts.get("users")
    if not users_name:
        return 0
    users_bytes = s3.get_bytes_if_exists(bucket, f"{prefix}{users_name}", s3_client=client)
    if users_bytes is None:
        return 0
    user_ids = json.loads(users_bytes).get("user_ids") or []
    try:
        row = user_ids.index(pseudonym)
    except ValueError:
        return 0
    indptr_name = artifacts.get("user_indptr")
    indptr_bytes = (
        s3.get_bytes_if_exists(bucket, f"{prefix}{indptr_name}", s3_client=client) if indptr_name else None
    )
    if indptr_bytes is None:
        return 1  # listed as a training user; how many interactions is not recorded
    import numpy as np

    indptr = np.load(io.BytesIO(indptr_bytes))
    return max(1, int(indptr[row + 1] - indptr[row]))


def _chat_record(item: dict[str, Any]) -> ChatSessionRecord:
    session = StoredSession.from_item(item)
    return ChatSessionRecord(
        session_id=session.session_id,
        created_at=session.created_at,
        updated_at=item.get("updated_at"),
        expires_at=_iso(item["expires_at"]) if item.get("expires_at") is not None else None,
        message_count=session.state.message_count,
        state=session.state.to_dict(),
        escalation_priority=session.escalation_priority,
        last_answer=dict(session.last_message.response) if session.last_message else None,
    )


def _iso(epoch_seconds: Any) -> str:
    return datetime.fromtimestamp(int(epoch_seconds), UTC).isoformat(timespec="seconds")


def _parallel(work: Callable[[Any], int], inputs: Iterable[Any]) -> list[int]:
    items = list(inputs)
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=READ_WORKERS, thread_name_prefix="customer-data") as pool:
        return list(pool.map(work, items))
