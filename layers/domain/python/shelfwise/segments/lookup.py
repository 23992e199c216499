"""Reading one customer's segment from the segments table (what the API serves).

The table is keyed by the customer's pseudonym (its `user_id` attribute holds the pseudonym); the answer names
the customer by the id the caller used.
"""

from __future__ import annotations

from typing import Any

from shelfwise.api.errors import NotFound
from shelfwise.aws import dynamodb
from shelfwise.segments.records import CustomerSegmentResponse, response_from_item


def segment_item(
    pseudonym: str, *, segments_table: str, dynamodb_resource: dynamodb.DynamoResource | None = None
) -> dict[str, Any] | None:
    """The stored segments-table item of a customer, by pseudonym, or None."""
    found = dynamodb.batch_get(segments_table, "user_id", [pseudonym], dynamodb=dynamodb_resource)
    return found.get(pseudonym)


def customer_segment(
    customer_id: str,
    pseudonym: str,
    *,
    segments_table: str,
    dynamodb_resource: dynamodb.DynamoResource | None = None,
) -> CustomerSegmentResponse:
    item = segment_item(pseudonym, segments_table=segments_table, dynamodb_resource=dynamodb_resource)
    if item is None:
        raise NotFound(
            f"No segment for user {customer_id!r}: the user has no interactions up to the last scoring run.",
            field="path.user_id",
        )
    return response_from_item(item).model_copy(update={"user_id": customer_id})
