"""The curated data layout: what ingestion writes and everything else reads.

Layout in the data bucket (``file_id`` is a deterministic hash of bucket, key and etag, so reprocessing the
same object overwrites its parts instead of duplicating them)::

    curated/interactions/dt=YYYY-MM-DD/part-<file_id>.parquet   (dt = UTC date of `timestamp`)
    curated/sales/month=YYYY-MM/part-<file_id>.parquet
    curated/catalog/part-<file_id>.parquet
    curated/inventory/part-<file_id>.parquet
    curated/promotions/part-<file_id>.parquet       (location null = every location of the SKU)
    curated/chat-training/part-<file_id>.parquet    (text, intent)
    curated/chat-sentiment/part-<file_id>.parquet   (text, sentiment)
    curated/chat-replies/part-<file_id>.parquet     (intent, template)

Readers go through `read_curated`, never through the keys, so the layout can evolve in one place.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from shelfwise.aws import s3

CURATED_PREFIX = "curated/"
MANIFESTS_PREFIX = f"{CURATED_PREFIX}_manifests/"
EARLIEST = datetime.min.replace(tzinfo=UTC)

INTERACTIONS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("item_id", pa.string()),
        pa.field("event_type", pa.string()),
        pa.field("value", pa.float64()),
        pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
    ]
)
CATALOG_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string()),
        pa.field("title", pa.string()),
        pa.field("category", pa.string()),
        pa.field("brand", pa.string()),
        pa.field("price", pa.float64()),
    ]
)
SALES_SCHEMA = pa.schema(
    [
        pa.field("sku", pa.string()),
        pa.field("location", pa.string()),
        pa.field("date", pa.date32()),
        pa.field("units", pa.float64()),
        pa.field("promo", pa.bool_()),
        pa.field("price", pa.float64()),
    ]
)
INVENTORY_SCHEMA = pa.schema(
    [
        pa.field("sku", pa.string()),
        pa.field("location", pa.string()),
        pa.field("on_hand", pa.float64()),
        pa.field("on_order", pa.float64()),
        pa.field("lead_time_days", pa.float64()),
        pa.field("lead_time_sd_days", pa.float64()),
        pa.field("unit_cost", pa.float64()),
        pa.field("order_cost", pa.float64()),
        pa.field("holding_cost_rate", pa.float64()),
        pa.field("service_level", pa.float64()),
        pa.field("moq", pa.int64()),
        pa.field("pack_size", pa.int64()),
        pa.field("shelf_life_days", pa.float64()),
    ]
)
PROMOTIONS_SCHEMA = pa.schema(
    [
        pa.field("sku", pa.string()),
        pa.field("location", pa.string()),
        pa.field("start_date", pa.date32()),
        pa.field("end_date", pa.date32()),
        pa.field("discount_pct", pa.float64()),
    ]
)

CHAT_TRAINING_SCHEMA = pa.schema([pa.field("text", pa.string()), pa.field("intent", pa.string())])
CHAT_SENTIMENT_SCHEMA = pa.schema([pa.field("text", pa.string()), pa.field("sentiment", pa.string())])
CHAT_REPLIES_SCHEMA = pa.schema([pa.field("intent", pa.string()), pa.field("template", pa.string())])

SCHEMAS: dict[str, pa.Schema] = {
    "interactions": INTERACTIONS_SCHEMA,
    "catalog": CATALOG_SCHEMA,
    "sales": SALES_SCHEMA,
    "inventory": INVENTORY_SCHEMA,
    "promotions": PROMOTIONS_SCHEMA,
    "chat-training": CHAT_TRAINING_SCHEMA,
    "chat-sentiment": CHAT_SENTIMENT_SCHEMA,
    "chat-replies": CHAT_REPLIES_SCHEMA,
}


def kind_prefix(kind: str) -> str:
    _check_kind(kind)
    return f"{CURATED_PREFIX}{kind}/"


def part_key(kind: str, file_id: str, partition: str | None = None) -> str:
    """Key of one curated part; `partition` is `dt=YYYY-MM-DD` (interactions) or `month=YYYY-MM` (sales)."""
    prefix = kind_prefix(kind)
    if partition:
        prefix = f"{prefix}{partition}/"
    return f"{prefix}part-{file_id}.parquet"


def manifest_key(kind: str, file_id: str) -> str:
    return f"{MANIFESTS_PREFIX}{kind}/{file_id}.json"


def table_to_parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def conform(table: pa.Table, kind: str) -> pa.Table:
    """Cast a part to the contract schema; catalog keeps its extra attribute columns as strings."""
    schema = SCHEMAS[kind]
    columns = []
    fields = []
    for contract_field in schema:
        if contract_field.name in table.column_names:
            columns.append(table.column(contract_field.name).cast(contract_field.type))
        else:
            columns.append(pa.nulls(table.num_rows, contract_field.type))
        fields.append(pa.field(contract_field.name, contract_field.type))
    if kind == "catalog":
        for name in table.column_names:
            if name not in schema.names:
                columns.append(table.column(name).cast(pa.string()))
                fields.append(pa.field(name, pa.string()))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def read_curated(kind: str, *, bucket: str, s3_client: s3.S3Client | None = None) -> pa.Table:
    """Every curated part of `kind`, concatenated; an empty table with the contract schema when there is none.

    Catalog parts may carry different extra attribute columns; missing ones come back as nulls.
    """
    client = s3_client or s3.client()
    keys = sorted(
        key for key in s3.list_keys(bucket, kind_prefix(kind), s3_client=client) if key.endswith(".parquet")
    )
    return _read_parts(kind, keys, bucket, client)


def read_inventory_in_arrival_order(*, bucket: str, s3_client: s3.S3Client | None = None) -> pa.Table:
    """The curated inventory, parts in the order their files were ingested (by each file's ingest manifest).

    Readers that let a later row win for a (sku, location) thereby take it from the file ingested last.
    """
    client = s3_client or s3.client()
    keys = [
        key
        for key in s3.list_keys(bucket, kind_prefix("inventory"), s3_client=client)
        if key.endswith(".parquet")
    ]

    def ingested_at(key: str) -> datetime:
        file_id = key.rsplit("/", 1)[-1].removeprefix("part-").removesuffix(".parquet")
        manifest = s3.get_bytes_if_exists(bucket, manifest_key("inventory", file_id), s3_client=client)
        finished = json.loads(manifest).get("finished_at") if manifest else None
        return datetime.fromisoformat(finished) if finished else EARLIEST

    return _read_parts("inventory", sorted(keys, key=lambda key: (ingested_at(key), key)), bucket, client)


def read_stock_positions(*, bucket: str, s3_client: s3.S3Client | None = None) -> pa.Table:
    """One row per (sku, location): the last one from the file ingested last.

    A newer stock file overrides an older one for the positions it lists and leaves the others as they were.
    """
    inventory = read_inventory_in_arrival_order(bucket=bucket, s3_client=s3_client)
    numbered = inventory.append_column("_row", pa.array(range(inventory.num_rows), pa.int64()))
    newest = numbered.group_by(["sku", "location"], use_threads=False).aggregate([("_row", "max")])
    return inventory.take(sorted(newest.column("_row_max").to_pylist()))


def _read_parts(kind: str, keys: list[str], bucket: str, client: s3.S3Client) -> pa.Table:
    tables = [
        conform(pq.read_table(io.BytesIO(s3.get_bytes(bucket, key, s3_client=client))), kind) for key in keys
    ]
    if not tables:
        return SCHEMAS[kind].empty_table()
    return pa.concat_tables(tables, promote_options="default")


def _check_kind(kind: str) -> None:
    if kind not in SCHEMAS:
        raise ValueError(f"unknown curated kind {kind!r}; known: {', '.join(SCHEMAS)}")
