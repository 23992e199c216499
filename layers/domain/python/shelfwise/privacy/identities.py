"""The vault of customer ids: pseudonym -> the retailer's id, the one DynamoDB place raw customer ids live.

Everything else the platform stores holds pseudonyms (`shelfwise.privacy.pseudonyms`). The reverse mapping is
needed only where an answer must carry the retailer's own id: the CRM segment export (the retailer's own data,
and it says so). An answer to a caller who named a customer echoes the caller's id and needs no lookup.

Table (`spec.CUSTOMER_IDS_TABLE`, pk `pseudonym`): one item per pseudonym,
`{"pseudonym": "ps_<32 hex>", "customer_id": "<the retailer's id>"}`, nothing else — no timestamps, no counts.

- `remember` is what ingestion calls for the pseudonyms of a file: it reads which are known and writes only
  the new ones (batch reads and writes; the same pairs twice change nothing).
- `customer_ids` maps pseudonyms back (batch reads); a pseudonym without an item is absent from the result.
- `forget` deletes one customer's item (the erasure job).

A key rotation changes every pseudonym, so the vault is rebuilt then (docs/privacy.md, "Pseudonyms").
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shelfwise import settings
from shelfwise.aws import dynamodb
from shelfwise.privacy.pseudonyms import is_pseudonym

PSEUDONYM_ATTRIBUTE = "pseudonym"
CUSTOMER_ID_ATTRIBUTE = "customer_id"
# Asked for more pseudonyms than this (the nightly CRM export asks for every scored customer), one scan of the
# table costs far fewer requests than batches of 100 keys.
SCAN_ABOVE = 10_000


class NotAPseudonym(ValueError):
    """A vault key that is not a pseudonym: refusing it keeps raw ids from ever becoming a vault key."""


@dataclass(frozen=True)
class CustomerIdVault:
    table_name: str
    dynamodb_resource: dynamodb.DynamoResource | None = None

    @classmethod
    def from_env(cls) -> CustomerIdVault:
        name = os.environ.get(settings.CUSTOMER_IDS_TABLE_ENV)
        if not name:
            raise RuntimeError(
                f"environment variable {settings.CUSTOMER_IDS_TABLE_ENV} is not set; the platform spec sets "
                "it on every function"
            )
        return cls(name)

    def remember(self, pairs: Mapping[str, str]) -> int:
        """Store `{pseudonym: customer_id}` pairs not stored yet; returns how many were new."""
        for pseudonym in pairs:
            _check(pseudonym)
        if not pairs:
            return 0
        known = dynamodb.batch_get(
            self.table_name,
            PSEUDONYM_ATTRIBUTE,
            list(pairs),
            attributes=[PSEUDONYM_ATTRIBUTE],
            dynamodb=self.dynamodb_resource,
        )
        new = [
            {PSEUDONYM_ATTRIBUTE: pseudonym, CUSTOMER_ID_ATTRIBUTE: customer_id}
            for pseudonym, customer_id in pairs.items()
            if pseudonym not in known
        ]
        if new:
            dynamodb.batch_put(
                self.table_name, new, key_names=[PSEUDONYM_ATTRIBUTE], dynamodb=self.dynamodb_resource
            )
        return len(new)

    def customer_ids(self, pseudonyms: Iterable[str]) -> dict[str, str]:
        """`{pseudonym: customer_id}` for those of `pseudonyms` the vault holds."""
        wanted = [pseudonym for pseudonym in dict.fromkeys(pseudonyms) if is_pseudonym(pseudonym)]
        if not wanted:
            return {}
        if len(wanted) > SCAN_ABOVE:
            asked = set(wanted)
            stored = dynamodb.scan_all(self.table_name, dynamodb=self.dynamodb_resource)
            items = {
                str(item[PSEUDONYM_ATTRIBUTE]): item for item in stored if item[PSEUDONYM_ATTRIBUTE] in asked
            }
        else:
            items = dynamodb.batch_get(
                self.table_name, PSEUDONYM_ATTRIBUTE, wanted, dynamodb=self.dynamodb_resource
            )
        return {
            pseudonym: str(item[CUSTOMER_ID_ATTRIBUTE])
            for pseudonym, item in items.items()
            if item.get(CUSTOMER_ID_ATTRIBUTE) is not None
        }

    def holds(self, pseudonym: str) -> bool:
        """Whether the vault keeps the retailer's id of this customer (what the right of access reports)."""
        return bool(self.customer_ids([pseudonym]))

    def forget(self, pseudonym: str) -> None:
        """Delete the customer's item; forgetting an unknown pseudonym is not an error."""
        _check(pseudonym)
        dynamodb.table(self.table_name, dynamodb=self.dynamodb_resource).delete_item(
            Key={PSEUDONYM_ATTRIBUTE: pseudonym}
        )


def _check(pseudonym: Any) -> None:
    if not isinstance(pseudonym, str) or not is_pseudonym(pseudonym):
        raise NotAPseudonym("vault keys are pseudonyms (ps_ and 32 hex digits), never raw customer ids")
