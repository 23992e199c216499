"""Reading one customer's segment from the segments table (what the API serves)."""

from __future__ import annotations

from shelfwise.api.errors import NotFound
from shelfwise.aws import dynamodb
from shelfwise.segments.records import CustomerSegmentResponse, response_from_item


def customer_segment(
    user_id: str, *, segments_table: str, dynamodb_resource: dynamodb.DynamoResource | None = None
) -> CustomerSegmentResponse:
    item = dynamodb.batch_get(segments_table, "user_id", [user_id], dynamodb=dynamodb_resource).get(user_id)
    if item is None:
        raise NotFound(
            f"No segment for user {user_id!r}: the user has no interactions up to the last scoring run.",
            field="path.user_id",
        )
    return response_from_item(item)
