"""Pseudonymizing a column of customer ids in a pyarrow table (ingestion; needs the data layer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shelfwise.privacy.pseudonyms import Pseudonymizer

if TYPE_CHECKING:
    import pyarrow as pa

CUSTOMER_COLUMN = "user_id"


def pseudonymize_column(
    table: pa.Table, pseudonymizer: Pseudonymizer, column: str = CUSTOMER_COLUMN
) -> tuple[pa.Table, dict[str, str]]:
    """`table` with `column` replaced by the pseudonyms of its values, and `{pseudonym: customer_id}` for the
    distinct values. Each distinct id is hashed once however often it occurs; nulls stay null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return table, {}
    ids = table.column(column).combine_chunks()
    distinct = pc.unique(ids).drop_null()
    raw = distinct.to_pylist()
    pseudonyms = [pseudonymizer.pseudonym(value) for value in raw]
    replaced = pa.array(pseudonyms, pa.string()).take(pc.index_in(ids, value_set=distinct))
    position = table.schema.get_field_index(column)
    return table.set_column(position, table.schema.field(position), replaced), dict(
        zip(pseudonyms, raw, strict=True)
    )
