"""DynamoDB access for the domain library (endpoint from `AWS_ENDPOINT_URL`, like every adapter).

Batch reads and writes go through the low-level client (thread-safe, unlike resources) on a small thread pool:
a batch request is one network round trip, so a few in flight at once cut wall time without more CPU.

`batch_put` and `batch_get` take and return plain Python values, converted by boto3's resource layer.
`batch_put_typed` and `batch_get_typed` skip that conversion: items are in DynamoDB's typed form
(`{"user_id": {"S": "u1"}, "expires_at": {"N": "1700000000"}}`), for bulk writers whose items the caller can
build directly more cheaply than boto3 walks them value by value.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config

DynamoResource = Any  # boto3 builds resource classes at run time
BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
DEFAULT_WORKERS = 4
# Items taken from the input per round of parallel writes; rounds run one after another (see `batch_put`).
_WRITE_ROUND_BATCHES = 4
_RETRY_BASE_SECONDS = 0.05
_RETRY_MAX_SECONDS = 2.0


def resource() -> DynamoResource:
    # Client-side parameter validation walks every nested value of every item again (a third of the client's
    # CPU on a 25-item batch of nested items); DynamoDB validates the request anyway and answers a bad one
    # with a ValidationException.
    return boto3.resource("dynamodb", config=Config(parameter_validation=False))


def table(name: str, *, dynamodb: DynamoResource | None = None) -> Any:
    return (dynamodb or resource()).Table(name)


def to_decimal(value: float) -> Decimal:
    """DynamoDB numbers must be Decimal; going through str keeps 19.99 as 19.99, not its binary expansion."""
    return Decimal(str(value))


def _client(dynamodb: DynamoResource | None) -> Any:
    """The resource's client: thread-safe, and it converts Python values to and from DynamoDB's format."""
    return (dynamodb or resource()).meta.client


def typed_client(dynamodb: DynamoResource | None = None) -> Any:
    """A low-level client that sends and returns items in DynamoDB's typed form, unconverted.

    Given a resource, it talks to the same region and endpoint; credentials come from the default chain, as
    for every adapter here.
    """
    config = Config(parameter_validation=False)
    if dynamodb is None:
        return boto3.client("dynamodb", config=config)
    meta = dynamodb.meta.client.meta
    return boto3.client(
        "dynamodb", region_name=meta.region_name, endpoint_url=meta.endpoint_url, config=config
    )


def _typed_scalar(value: dict[str, Any]) -> Any:
    """The value inside a typed attribute such as {"S": "u1"}."""
    return next(iter(value.values()))


def _backoff(attempt: int) -> None:
    """Unprocessed keys or items mean the table is throttling; AWS asks for exponential backoff."""
    time.sleep(min(_RETRY_BASE_SECONDS * 2**attempt, _RETRY_MAX_SECONDS))


def _write_batch(client: Any, table_name: str, items: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table_name: [{"PutRequest": {"Item": item}} for item in items]}
    attempt = 0
    while pending:
        response = client.batch_write_item(RequestItems=pending)
        pending = response.get("UnprocessedItems") or {}
        if pending:
            _backoff(attempt)
            attempt += 1


def batch_put(
    table_name: str,
    items: Iterable[dict[str, Any]],
    *,
    key_names: list[str],
    dynamodb: DynamoResource | None = None,
    workers: int = DEFAULT_WORKERS,
) -> int:
    """Writes items in parallel batches of 25, retrying unprocessed ones; a later item with the same key wins.

    Items are sent in rounds of `workers` x 4 batches. Within a round a later item replaces an earlier one
    with the same key before anything is sent, and a round is sent only once the previous one is written, so
    the last item given for a key is the one stored, exactly as with sequential writes. The next round is
    assembled from `items` while the previous one is in flight. Returns the number of items given.
    """
    return _put_all(
        _client(dynamodb), table_name, items, lambda item: tuple(item[name] for name in key_names), workers
    )


def batch_put_typed(
    table_name: str,
    items: Iterable[dict[str, dict[str, Any]]],
    *,
    key_names: list[str],
    client: Any | None = None,
    workers: int = DEFAULT_WORKERS,
) -> int:
    """`batch_put` for items already in typed form, sent as they are through a `typed_client`."""
    return _put_all(
        client or typed_client(),
        table_name,
        items,
        lambda item: tuple(_typed_scalar(item[name]) for name in key_names),
        workers,
    )


def _put_all(
    client: Any,
    table_name: str,
    items: Iterable[dict[str, Any]],
    key_of: Callable[[dict[str, Any]], Hashable],
    workers: int,
) -> int:
    workers = max(workers, 1)
    round_size = BATCH_WRITE_LIMIT * workers * _WRITE_ROUND_BATCHES
    written = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dynamodb-put") as pool:
        in_flight: list[Future[None]] = []

        def send(round_items: dict[Hashable, dict[str, Any]]) -> list[Future[None]]:
            for future in in_flight:
                future.result()
            unique = list(round_items.values())
            return [
                pool.submit(_write_batch, client, table_name, unique[start : start + BATCH_WRITE_LIMIT])
                for start in range(0, len(unique), BATCH_WRITE_LIMIT)
            ]

        assembling: dict[Hashable, dict[str, Any]] = {}
        for item in items:
            assembling[key_of(item)] = item
            written += 1
            if len(assembling) >= round_size:
                in_flight = send(assembling)
                assembling = {}
        in_flight = send(assembling)
        for future in in_flight:
            future.result()
    return written


def _get_batch(
    client: Any, table_name: str, key_name: str, keys: Sequence[Any], attributes: Sequence[str] | None
) -> list[dict[str, Any]]:
    request: dict[str, Any] = {"Keys": [{key_name: key} for key in keys]}
    if attributes is not None:
        names = [key_name, *(name for name in attributes if name != key_name)]
        request["ProjectionExpression"] = ", ".join(f"#a{index}" for index in range(len(names)))
        request["ExpressionAttributeNames"] = {f"#a{index}": name for index, name in enumerate(names)}
    pending: dict[str, Any] = {table_name: request}
    found: list[dict[str, Any]] = []
    attempt = 0
    while pending:
        response = client.batch_get_item(RequestItems=pending)
        found.extend(response.get("Responses", {}).get(table_name, []))
        pending = response.get("UnprocessedKeys") or {}
        if pending:
            _backoff(attempt)
            attempt += 1
    return found


def batch_get(
    table_name: str,
    key_name: str,
    keys: list[str],
    *,
    dynamodb: DynamoResource | None = None,
    attributes: Sequence[str] | None = None,
    workers: int = DEFAULT_WORKERS,
) -> dict[str, dict[str, Any]]:
    """Items by partition key, requests of 100 keys run in parallel; keys without an item are absent.

    `attributes` limits what is read (the key is always included); None reads whole items.
    """
    return _get_all(
        _client(dynamodb),
        table_name,
        key_name,
        keys,
        attributes=attributes,
        workers=workers,
        encode_key=lambda key: key,
        key_of=lambda item: item[key_name],
    )


def batch_get_typed(
    table_name: str,
    key_name: str,
    keys: list[str],
    *,
    client: Any | None = None,
    attributes: Sequence[str] | None = None,
    workers: int = DEFAULT_WORKERS,
) -> dict[str, dict[str, dict[str, Any]]]:
    """`batch_get` for a string partition key, returning items in typed form (through a `typed_client`)."""
    return _get_all(
        client or typed_client(),
        table_name,
        key_name,
        keys,
        attributes=attributes,
        workers=workers,
        encode_key=lambda key: {"S": key},
        key_of=lambda item: item[key_name]["S"],
    )


def _get_all(
    client: Any,
    table_name: str,
    key_name: str,
    keys: list[str],
    *,
    attributes: Sequence[str] | None,
    workers: int,
    encode_key: Callable[[str], Any],
    key_of: Callable[[dict[str, Any]], str],
) -> dict[str, dict[str, Any]]:
    unique = [encode_key(key) for key in dict.fromkeys(keys)]
    groups = [unique[start : start + BATCH_GET_LIMIT] for start in range(0, len(unique), BATCH_GET_LIMIT)]

    def fetch(group: list[Any]) -> list[dict[str, Any]]:
        return _get_batch(client, table_name, key_name, group, attributes)

    if len(groups) <= 1 or workers <= 1:
        batches = list(map(fetch, groups))  # a single request needs no threads
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dynamodb-get") as pool:
            batches = list(pool.map(fetch, groups))
    return {key_of(item): item for items in batches for item in items}


# --- Reading whole partitions and tables (model registry listing) -------------------------------------------


def paginate(source: Any, operation: str, **request: Any) -> Iterator[dict[str, Any]]:
    """Every item `operation` ("query" or "scan") on the Table resource `source` returns, page after page,
    read through boto3's paginator. It runs on the resource's own client, whose DynamoDB handlers build
    expressions from condition objects and turn typed attribute values into Python values, as the Table's
    methods do. Stop iterating to stop reading: pages are fetched as they are consumed."""
    paginator = source.meta.client.get_paginator(operation)
    for page in paginator.paginate(TableName=source.name, **request):
        yield from page.get("Items", [])


def _projection(attributes: Sequence[str] | None) -> dict[str, Any]:
    """Request parameters reading only `attributes` (names aliased, so reserved words are fine)."""
    if not attributes:
        return {}
    return {
        "ProjectionExpression": ", ".join(f"#a{index}" for index in range(len(attributes))),
        "ExpressionAttributeNames": {f"#a{index}": name for index, name in enumerate(attributes)},
    }


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

    return list(
        paginate(
            table(table_name, dynamodb=dynamodb),
            "query",
            KeyConditionExpression=Key(key_name).eq(key_value),
            ScanIndexForward=not newest_first,
        )
    )


def scan_all(
    table_name: str, *, attributes: Sequence[str] | None = None, dynamodb: DynamoResource | None = None
) -> list[dict[str, Any]]:
    """Every item of a (small) table, following pagination; only `attributes` of each when given."""
    return list(paginate(table(table_name, dynamodb=dynamodb), "scan", **_projection(attributes)))


# --- Single items (model registry, online activity updates) ------------------------------------------------


def get_item(
    table_name: str, key: dict[str, Any], *, dynamodb: DynamoResource | None = None, consistent: bool = True
) -> dict[str, Any] | None:
    """One item by its full key (plain Python values), or None."""
    response = table(table_name, dynamodb=dynamodb).get_item(Key=key, ConsistentRead=consistent)
    return response.get("Item")


def put_item(table_name: str, item: dict[str, Any], *, dynamodb: DynamoResource | None = None) -> None:
    table(table_name, dynamodb=dynamodb).put_item(Item=item)


def put_item_if(
    table_name: str,
    item: dict[str, Any],
    *,
    condition: str,
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    dynamodb: DynamoResource | None = None,
) -> bool:
    """Put `item` only when `condition` holds for the stored one; False (nothing written) when it does not."""
    from botocore.exceptions import ClientError

    request: dict[str, Any] = {"Item": item, "ConditionExpression": condition}
    if names:
        request["ExpressionAttributeNames"] = names
    if values:
        request["ExpressionAttributeValues"] = values
    try:
        table(table_name, dynamodb=dynamodb).put_item(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def query_page(
    table_name: str,
    key_name: str,
    key_value: str,
    *,
    limit: int,
    start_key: dict[str, Any] | None = None,
    dynamodb: DynamoResource | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of at most `limit` items under a partition key, in sort-key order, and the key to go on from
    (None on the last page): for APIs that hand a cursor to their callers."""
    from boto3.dynamodb.conditions import Key

    request: dict[str, Any] = {"KeyConditionExpression": Key(key_name).eq(key_value), "Limit": limit}
    if start_key:
        request["ExclusiveStartKey"] = start_key
    response = table(table_name, dynamodb=dynamodb).query(**request)
    return response.get("Items", []), response.get("LastEvaluatedKey")


def scan_some(
    table_name: str,
    max_items: int,
    *,
    attributes: Sequence[str] | None = None,
    dynamodb: DynamoResource | None = None,
) -> list[dict[str, Any]]:
    """At most `max_items` items of a table in scan order: a bounded sample, never the whole table."""
    # The paginator's own MaxItems cannot be used: its resume token must be JSON, and a table's keys
    # come back as Decimal. Reading stops instead once enough items have arrived.
    items = paginate(
        table(table_name, dynamodb=dynamodb),
        "scan",
        PaginationConfig={"PageSize": max(1, min(max_items, 1000))},
        **_projection(attributes),
    )
    return list(itertools.islice(items, max(max_items, 0)))
