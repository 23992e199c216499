"""DynamoDB access for the domain library (endpoint from `AWS_ENDPOINT_URL`, like every adapter)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import boto3

DynamoResource = Any  # boto3 builds resource classes at run time
BATCH_GET_LIMIT = 100


def resource() -> DynamoResource:
    return boto3.resource("dynamodb")


def table(name: str, *, dynamodb: DynamoResource | None = None) -> Any:
    return (dynamodb or resource()).Table(name)


def to_decimal(value: float) -> Decimal:
    """DynamoDB numbers must be Decimal; going through str keeps 19.99 as 19.99, not its binary expansion."""
    return Decimal(str(value))


def batch_put(
    table_name: str,
    items: Iterable[dict[str, Any]],
    *,
    key_names: list[str],
    dynamodb: DynamoResource | None = None,
) -> int:
    """Writes items in batches (retrying unprocessed ones); a later item with the same key wins."""
    written = 0
    with table(table_name, dynamodb=dynamodb).batch_writer(overwrite_by_pkeys=key_names) as writer:
        for item in items:
            writer.put_item(Item=item)
            written += 1
    return written


def batch_get(
    table_name: str,
    key_name: str,
    keys: list[str],
    *,
    dynamodb: DynamoResource | None = None,
) -> dict[str, dict[str, Any]]:
    """Items by partition key; keys without an item are absent from the result."""
    service = dynamodb or resource()
    found: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        request: dict[str, Any] = {
            table_name: {"Keys": [{key_name: key} for key in unique[start : start + BATCH_GET_LIMIT]]}
        }
        while request:
            response = service.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table_name, []):
                found[item[key_name]] = item
            request = response.get("UnprocessedKeys") or {}
    return found


# --- Reading whole partitions and tables (model registry listing) -------------------------------------------


def query_partition(
    table_name: str,
    key_name: str,
    key_value: str,
    *,
    newest_first: bool = False,
    dynamodb: DynamoResource | None = None,
) -> list[dict[str, Any]]:
    """Every item under one partition key, following pagination; sorted by sort key (descending if asked)."""
    from boto3.dynamodb.conditions import Key

    source = table(table_name, dynamodb=dynamodb)
    request: dict[str, Any] = {
        "KeyConditionExpression": Key(key_name).eq(key_value),
        "ScanIndexForward": not newest_first,
    }
    items: list[dict[str, Any]] = []
    while True:
        response = source.query(**request)
        items.extend(response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def scan_all(table_name: str, *, dynamodb: DynamoResource | None = None) -> list[dict[str, Any]]:
    """Every item of a (small) table, following pagination."""
    source = table(table_name, dynamodb=dynamodb)
    request: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    while True:
        response = source.scan(**request)
        items.extend(response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
