"""File contracts: what upstream systems may drop under `incoming/<kind>/`.

Each contract is data (pydantic models), so the rules the validator enforces and the documentation users
read come from the same place: `describe()` returns the contracts as JSON and `contracts_markdown()` renders
them as the table the README links to.

Common rules for every kind:
- CSV (optionally gzip-compressed, detected by content) or Parquet; a header row; UTF-8.
- Column names are matched after trimming spaces and lower-casing; unknown columns are ignored, except for the
  catalog, which keeps them as extra string attributes.
- Values are trimmed; an empty value counts as missing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shelfwise.chat.slots import TEMPLATE_PLACEHOLDERS

CONTRACT_VERSION = "1"
MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 2000

ValueType = Literal["id", "text", "float", "int", "bool", "timestamp", "date", "enum"]


class ColumnSpec(BaseModel):
    """One column of a file contract."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: ValueType
    required: bool = True
    description: str
    default: float | int | bool | None = Field(
        default=None, description="Value used when the column is absent or the cell is empty."
    )
    allowed: tuple[str, ...] | None = Field(default=None, description="Allowed values (enum columns).")
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    exclusive_maximum: float | None = None
    max_length: int | None = None
    forbid_control_characters: bool = Field(
        default=False, description="Text must not hold control characters other than tab and line breaks."
    )


class RowRule(BaseModel):
    """A rule that spans columns; documented here, enforced in `shelfwise.ingest.validate`."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str


class FileContract(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    version: str = CONTRACT_VERSION
    description: str
    columns: tuple[ColumnSpec, ...]
    keep_extra_columns: bool = False
    row_rules: tuple[RowRule, ...] = ()

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required and column.default is None)

    def column(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


def _id(name: str, description: str) -> ColumnSpec:
    return ColumnSpec(name=name, type="id", description=description, max_length=MAX_ID_LENGTH)


def _text(name: str, description: str) -> ColumnSpec:
    return ColumnSpec(
        name=name, type="text", required=False, description=description, max_length=MAX_TEXT_LENGTH
    )


def _non_negative(name: str, description: str, *, required: bool = True) -> ColumnSpec:
    return ColumnSpec(name=name, type="float", required=required, minimum=0, description=description)


EVENT_TYPES = ("view", "cart", "purchase", "rating")
RATING_MIN = 0.0
RATING_MAX = 10.0

INTERACTIONS = FileContract(
    kind="interactions",
    description="Behaviour events from the storefront and the order system; one row per event.",
    columns=(
        _id(
            "user_id",
            "Customer identifier, the retailer's own; stored as its keyed pseudonym (see Files as a whole).",
        ),
        _id("item_id", "Catalog item identifier."),
        ColumnSpec(
            name="event_type",
            type="enum",
            allowed=EVENT_TYPES,
            description="What happened; matched case-insensitively.",
        ),
        ColumnSpec(
            name="value",
            type="float",
            required=False,
            description=(
                "purchase: line amount in currency units (required, >= 0); rating: the rating (required, "
                f"{RATING_MIN:g}-{RATING_MAX:g}); view/cart: quantity (> 0, 1 when empty)."
            ),
        ),
        ColumnSpec(
            name="timestamp",
            type="timestamp",
            description=(
                "ISO-8601 (date or date-time, optional fraction and offset; no offset means UTC) or epoch "
                "seconds; "
                "between 1970-01-01 and 2100-01-01."
            ),
        ),
    ),
    row_rules=(
        RowRule(name="purchase_value", description="purchase rows need a value >= 0 (the line amount)."),
        RowRule(
            name="rating_value", description=f"rating rows need a value in [{RATING_MIN:g}, {RATING_MAX:g}]."
        ),
        RowRule(name="quantity_value", description="view and cart rows: value > 0; empty means 1."),
    ),
)

CATALOG = FileContract(
    kind="catalog",
    description="The item catalog from the PIM; one row per item. A later row for the same item_id wins.",
    columns=(
        _id("item_id", "Item identifier."),
        _text("title", "Display title."),
        _text("category", "Category (used by recommendation filters)."),
        _text("brand", "Brand."),
        _non_negative("price", "Current price in currency units.", required=False),
    ),
    keep_extra_columns=True,
)

SALES = FileContract(
    kind="sales",
    description="Daily unit sales per SKU and location, for forecasting.",
    columns=(
        _id("sku", "Stock-keeping unit."),
        _id("location", "Store or warehouse."),
        ColumnSpec(name="date", type="date", description="Sales day, YYYY-MM-DD."),
        _non_negative("units", "Units sold that day."),
        ColumnSpec(
            name="promo",
            type="bool",
            required=False,
            default=False,
            description="On promotion (true/false/1/0).",
        ),
        _non_negative("price", "Average selling price that day.", required=False),
    ),
)

INVENTORY = FileContract(
    kind="inventory",
    description="Stock position and replenishment parameters per SKU and location.",
    columns=(
        _id("sku", "Stock-keeping unit."),
        _id("location", "Store or warehouse."),
        _non_negative("on_hand", "Units on hand."),
        _non_negative("on_order", "Units already ordered, not yet received."),
        _non_negative("lead_time_days", "Mean supplier lead time in days."),
        _non_negative("lead_time_sd_days", "Standard deviation of the lead time in days."),
        _non_negative("unit_cost", "Purchase cost per unit."),
        _non_negative("order_cost", "Fixed cost per order."),
        _non_negative("holding_cost_rate", "Yearly holding cost as a fraction of unit cost."),
        ColumnSpec(
            name="service_level",
            type="float",
            required=False,
            exclusive_minimum=0,
            exclusive_maximum=1,
            description=(
                "Target cycle service level, strictly between 0 and 1. Empty (or no such column): the "
                "service level configured for the item's ABC/XYZ class applies; a value overrides it."
            ),
        ),
        ColumnSpec(name="moq", type="int", minimum=1, description="Minimum order quantity (whole units)."),
        ColumnSpec(
            name="pack_size", type="int", minimum=1, description="Order in multiples of this (whole units)."
        ),
        ColumnSpec(
            name="shelf_life_days",
            type="float",
            required=False,
            exclusive_minimum=0,
            description=(
                "Days a unit stays sellable. Empty (or no such column): no shelf life. When shorter than the "
                "deployment's maximum days of supply, an order covers at most this many days of demand."
            ),
        ),
    ),
)

MAX_PROMOTION_DAYS = 366

PROMOTIONS = FileContract(
    kind="promotions",
    description=(
        "Planned promotions per SKU, for the forecast: one row per campaign. Every forecast run marks the "
        "campaign days in its horizon as promotion days, so the forecast carries the uplift the SKU showed "
        "on its past promotion days (the sales `promo` flag). Overlapping campaigns simply mark a day as a "
        "promotion day. Rows for a SKU or location the forecast does not know are counted in the run's data "
        "issues."
    ),
    columns=(
        _id("sku", "Stock-keeping unit."),
        ColumnSpec(
            name="location",
            type="id",
            required=False,
            max_length=MAX_ID_LENGTH,
            description="Store or warehouse; empty (or no such column): every location of the SKU.",
        ),
        ColumnSpec(name="start_date", type="date", description="First promotion day, YYYY-MM-DD."),
        ColumnSpec(name="end_date", type="date", description="Last promotion day (inclusive), YYYY-MM-DD."),
        ColumnSpec(
            name="discount_pct",
            type="float",
            required=False,
            minimum=0,
            maximum=100,
            description="Price reduction in percent, for the record (the uplift is learned from history).",
        ),
    ),
    row_rules=(
        RowRule(name="date_order", description="end_date must be on or after start_date."),
        RowRule(
            name="promotion_length",
            description=f"A promotion spans at most {MAX_PROMOTION_DAYS} days (end_date - start_date + 1).",
        ),
    ),
)

# Chat messages, as the chat API accepts them (`shelfwise.chat.validation.MAX_MESSAGE_CHARS`).
MAX_CHAT_TEXT_LENGTH = 5000
MAX_CHAT_LABEL_LENGTH = 100
SENTIMENT_LABELS = ("negative", "neutral", "positive")


def _chat_text() -> ColumnSpec:
    return ColumnSpec(
        name="text",
        type="text",
        description="A customer message as typed (any language).",
        max_length=MAX_CHAT_TEXT_LENGTH,
        forbid_control_characters=True,
    )


CHAT_TRAINING = FileContract(
    kind="chat-training",
    description=(
        "The retailer's own labeled chat messages for the intent classifier; one row per message. The next "
        "`train-chat` run trains on every file landed here (a label needs at least two examples)."
    ),
    columns=(
        _chat_text(),
        ColumnSpec(
            name="intent",
            type="id",
            description="The intent label, e.g. `track_order`; the model answers with these labels.",
            max_length=MAX_CHAT_LABEL_LENGTH,
        ),
    ),
)

CHAT_SENTIMENT = FileContract(
    kind="chat-sentiment",
    description=(
        "The retailer's own sentiment-labeled chat messages for the sentiment classifier; one row per "
        "message."
    ),
    columns=(
        _chat_text(),
        ColumnSpec(
            name="sentiment",
            type="enum",
            allowed=SENTIMENT_LABELS,
            description="How the customer feels; matched case-insensitively.",
        ),
    ),
)

MAX_REPLY_TEMPLATE_LENGTH = 1000

CHAT_REPLIES = FileContract(
    kind="chat-replies",
    description=(
        "The retailer's own reply templates for the chat model; one row per template, several rows per "
        "intent allowed. The next `train-chat` run puts them into the new model version: they replace the "
        "default replies of their intent, intents without one keep the default reply (none for an intent "
        "the defaults do not know), and templates for intents the model does not have are left out. The "
        "reply sent is the first template whose placeholders the message fills, templates with more "
        "placeholders tried first, so give each intent one template without placeholders as well."
    ),
    columns=(
        ColumnSpec(
            name="intent",
            type="id",
            description=(
                "The intent the template answers, e.g. `track_order`; `_escalation` is the reply sent when "
                "the conversation goes to a person, `_fallback` the reply when the intent has none."
            ),
            max_length=MAX_CHAT_LABEL_LENGTH,
        ),
        ColumnSpec(
            name="template",
            type="text",
            description=(
                "The reply text. `{name}` is filled from the message, name one of "
                + ", ".join(f"`{name}`" for name in TEMPLATE_PLACEHOLDERS)
                + "; a literal brace is written `{{` or `}}`."
            ),
            max_length=MAX_REPLY_TEMPLATE_LENGTH,
            forbid_control_characters=True,
        ),
    ),
    row_rules=(
        RowRule(
            name="template_placeholders",
            description=(
                "template: every `{placeholder}` must be one of the names above, written plainly (no `!`/`:` "
                "options, no positional `{}`), and braces must balance; otherwise the row is rejected "
                "naming the placeholder."
            ),
        ),
    ),
)

CONTRACTS: dict[str, FileContract] = {
    contract.kind: contract
    for contract in (
        INTERACTIONS,
        CATALOG,
        SALES,
        INVENTORY,
        PROMOTIONS,
        CHAT_TRAINING,
        CHAT_SENTIMENT,
        CHAT_REPLIES,
    )
}


def describe() -> dict[str, object]:
    """The contracts as JSON-able data (what the docs and `shelfwise` tooling show)."""
    return {
        "version": CONTRACT_VERSION,
        "contracts": {kind: contract.model_dump(mode="json") for kind, contract in CONTRACTS.items()},
    }


def _rule_text(column: ColumnSpec) -> str:
    parts = []
    if column.allowed:
        parts.append("one of " + "/".join(column.allowed))
    if column.minimum is not None:
        parts.append(f">= {column.minimum:g}")
    if column.exclusive_minimum is not None:
        parts.append(f"> {column.exclusive_minimum:g}")
    if column.maximum is not None:
        parts.append(f"<= {column.maximum:g}")
    if column.exclusive_maximum is not None:
        parts.append(f"< {column.exclusive_maximum:g}")
    if column.max_length is not None:
        parts.append(f"at most {column.max_length} characters")
    if column.forbid_control_characters:
        parts.append("no control characters except tab and line breaks")
    if column.default is not None:
        parts.append(f"default {column.default}")
    return ", ".join(parts)


def contracts_markdown() -> str:
    lines = [f"# Ingestion file contracts (version {CONTRACT_VERSION})", ""]
    for contract in CONTRACTS.values():
        lines += [f"## `incoming/{contract.kind}/`", "", contract.description, ""]
        lines += ["| column | type | required | rules | meaning |", "|---|---|---|---|---|"]
        for column in contract.columns:
            required = "yes" if column.required and column.default is None else "no"
            rules = _rule_text(column)
            lines.append(f"| {column.name} | {column.type} | {required} | {rules} | {column.description} |")
        if contract.keep_extra_columns:
            lines.append("| *(any other)* | text | no | kept as a string attribute | |")
        for rule in contract.row_rules:
            lines.append(f"\n- {rule.description}")
        lines.append("")
    lines += _files_and_reports_markdown()
    return "\n".join(lines)


def _files_and_reports_markdown() -> list[str]:
    """Limits and the rejection report's format, from the constants that enforce them."""
    from shelfwise.ingest.reader import DEFAULT_MAX_DECOMPRESSED_BYTES
    from shelfwise.ingest.report import FILE_FIELD, HEADER_FIELD, MAX_SHOWN_CHARS

    limit = DEFAULT_MAX_DECOMPRESSED_BYTES
    return [
        "## Files as a whole",
        "",
        "- The format is read from the content, not the name: gzip (`1f 8b`) is CSV in gzip, `PAR1` is "
        "Parquet, anything else is CSV text (UTF-8, header row first). Parquet inside gzip is refused.",
        f"- A gzip file may inflate to at most {limit:,} bytes ({limit / 1024**3:g} GiB); past that it is "
        "rejected whole as `too_large`, whatever it held so far.",
        "- Ingestion may use its function's memory and no more: a file that needs more is rejected whole as "
        "`memory_limit` (split it into smaller files). In the local cloud ingestion runs in a worker process "
        "capped at that memory; a worker that is killed or outlives the function's timeout rejects the file "
        "whole as `worker_died`, naming how it ended.",
        "- A file rejected whole lands nothing. Its codes: `empty_file`, `not_a_table`, `not_utf8`, "
        "`bad_header`, `missing_columns`, `unsupported_format`, `unsupported_column`, `corrupt_gzip`, "
        "`unreadable`, `too_large`, `memory_limit`, `worker_died`, `missing_object`, `unknown_kind` (a key "
        "outside `incoming/<kind>/`).",
        "- Every processed file gets a manifest, `curated/_manifests/<kind>/<file_id>.json` (status "
        "`landed`, `partially_rejected`, `rejected` or `empty`, row counts, report key), a `FileIngested` or "
        "`FileRejected` event on the platform bus (at least once: after a crash it can come twice, so "
        "drop a repeat by `file_id`), and a line in `GET /v1/ingest/files`.",
        "- Customer ids (`user_id` of `interactions`) are replaced by their keyed pseudonyms (`ps_` and 32 "
        "hex digits, HMAC-SHA256) before anything lands, is logged or is published: curated Parquet and the "
        "activity table hold pseudonyms only. The dropped file stays under `incoming/` as delivered, and a "
        "rejection report quotes an offending value as the sender wrote it ([privacy.md](privacy.md)).",
        "",
        "## Rejection reports",
        "",
        "`rejected/<kind>/<file name>.<file_id>.rejections.csv`, one line per (row, field) problem, columns "
        "`line, field, value, reason`. The header is line 1 and the first data row line 2 (a row's number is "
        f"the physical line it starts on). Line 0 with field `{FILE_FIELD}` is the file as a whole; field "
        f"`{HEADER_FIELD}` on line 1 is the header row.",
        "",
        "Values are shown as received, made safe to open in a spreadsheet:",
        "",
        f"- longer than {MAX_SHOWN_CHARS} characters: cut there and ended with `…`;",
        "- carriage returns and line feeds are shown as `\\r` and `\\n`, other control characters as U+FFFD;",
        "- a value starting with `=`, `+`, `-`, `@` or a tab is prefixed with an apostrophe, so that no "
        "spreadsheet runs it as a formula: a rejected quantity `-3` appears as `'-3`, `=HYPERLINK(...)` as "
        "`'=HYPERLINK(...)`. Remove that one leading `'` to get the value as it was in the file.",
        "",
        "## After a crash",
        "",
        "Every object under `incoming/` ends with a manifest. An ingestion that dies mid-way (timeout, out "
        "of memory, a killed process) leaves none, and the `reconcile-ingest` schedule (every 15 minutes) "
        "re-drives each object without a manifest whose last write is older than the ingest queue's "
        "visibility timeout: it copies the object onto itself, so S3 sends a new ObjectCreated event and the "
        "file takes the path of a fresh upload. The copy records the file's first ETag in its metadata "
        "(`x-amz-meta-shelfwise-first-etag`), so the file keeps its `file_id` and every output key: the "
        "retry overwrites the curated parts and report a dead attempt left, it never adds rows beside them. "
        "DynamoDB writes are idempotent (the catalog is overwritten by key; user activity is a set union of "
        "events, ordered the same whatever the order files arrive in). An attempt that died holding an "
        "`INPROGRESS` idempotency record does not block the retry: that record expires at the attempt's "
        "function timeout, and the re-driven copy has a new ETag or version, hence a new idempotency key.",
        "",
        "A file is re-driven at most 3 times (`x-amz-meta-shelfwise-redrives`); one that a re-drive did not "
        "land counts in the `FilesStillStuck` metric (alarmed, like `FilesRedriven`). Messages that failed 3 "
        "times wait 14 days in the ingest dead-letter queue; after fixing the cause, move them back with "
        "`aws sqs start-message-move-task --source-arn <dead-letter queue ARN>` (locally: `shelfwise "
        "redrive`).",
        "",
        "The local cloud snapshots S3, DynamoDB and the dead-letter queues as one consistent moment. After a "
        "`kill -9` it restores that moment and, before taking new work, releases the dead process's "
        "`INPROGRESS` records, re-drives every object without a manifest and uploads again any drop-folder "
        "file whose upload the snapshot missed.",
        "",
    ]
