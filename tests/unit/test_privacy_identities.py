"""The vault of customer ids, pseudonymizing a column, and where a function finds the key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pyarrow as pa
import pytest
from moto import mock_aws
from shelfwise import settings
from shelfwise.privacy import identities
from shelfwise.privacy.columns import pseudonymize_column
from shelfwise.privacy.identities import CustomerIdVault, NotAPseudonym
from shelfwise.privacy.pseudonyms import (
    Pseudonymizer,
    PseudonymKeyError,
    is_pseudonym,
    pseudonymizer_from_env,
)

PSEUDONYMIZER = Pseudonymizer(b"u" * 32)
TABLE = "customer-ids"


@pytest.fixture
def vault(aws_credentials: None) -> Iterator[CustomerIdVault]:
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pseudonym", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pseudonym", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield CustomerIdVault(TABLE)


def items() -> list[dict[str, Any]]:
    return boto3.resource("dynamodb").Table(TABLE).scan()["Items"]


def test_remember_writes_each_new_pseudonym_once_and_maps_it_back(vault: CustomerIdVault) -> None:
    pairs = {PSEUDONYMIZER.pseudonym(f"C{n}"): f"C{n}" for n in range(150)}

    assert vault.remember(pairs) == 150
    assert vault.remember(pairs) == 0  # the same file again: nothing new
    assert vault.remember({**pairs, PSEUDONYMIZER.pseudonym("C999"): "C999"}) == 1

    assert len(items()) == 151
    assert {tuple(sorted(item)) for item in items()} == {("customer_id", "pseudonym")}
    asked = [PSEUDONYMIZER.pseudonym("C7"), PSEUDONYMIZER.pseudonym("nobody"), "C7"]
    assert vault.customer_ids(asked) == {PSEUDONYMIZER.pseudonym("C7"): "C7"}
    assert vault.holds(PSEUDONYMIZER.pseudonym("C999"))


def test_forget_removes_one_customer_and_unknown_ones_are_no_error(vault: CustomerIdVault) -> None:
    vault.remember({PSEUDONYMIZER.pseudonym("C1"): "C1", PSEUDONYMIZER.pseudonym("C2"): "C2"})

    vault.forget(PSEUDONYMIZER.pseudonym("C1"))
    vault.forget(PSEUDONYMIZER.pseudonym("C1"))

    assert [item["customer_id"] for item in items()] == ["C2"]
    assert not vault.holds(PSEUDONYMIZER.pseudonym("C1"))


def test_a_raw_id_is_never_a_vault_key(vault: CustomerIdVault) -> None:
    with pytest.raises(NotAPseudonym):
        vault.remember({"C1": "C1"})
    with pytest.raises(NotAPseudonym):
        vault.forget("C1")
    assert items() == []


def test_the_vault_table_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.CUSTOMER_IDS_TABLE_ENV, raising=False)
    with pytest.raises(RuntimeError, match=settings.CUSTOMER_IDS_TABLE_ENV):
        CustomerIdVault.from_env()
    monkeypatch.setenv(settings.CUSTOMER_IDS_TABLE_ENV, "vault")
    assert CustomerIdVault.from_env().table_name == "vault"


def test_a_column_is_pseudonymized_value_by_value_and_the_pairs_returned() -> None:
    table = pa.table(
        {
            "user_id": pa.chunked_array([["C1", "C2", None], ["C1", "C3"]]),
            "item_id": ["i1", "i2", "i3", "i4", "i5"],
        }
    )

    replaced, pairs = pseudonymize_column(table, PSEUDONYMIZER)

    assert replaced.column_names == ["user_id", "item_id"] and replaced.schema == table.schema
    assert replaced.column("user_id").to_pylist() == [
        PSEUDONYMIZER.pseudonym("C1"),
        PSEUDONYMIZER.pseudonym("C2"),
        None,
        PSEUDONYMIZER.pseudonym("C1"),
        PSEUDONYMIZER.pseudonym("C3"),
    ]
    assert replaced.column("item_id").to_pylist() == table.column("item_id").to_pylist()
    assert pairs == {PSEUDONYMIZER.pseudonym(c): c for c in ("C1", "C2", "C3")}
    assert all(is_pseudonym(pseudonym) for pseudonym in pairs)
    empty, none = pseudonymize_column(table.slice(0, 0), PSEUDONYMIZER)
    assert empty.num_rows == 0 and none == {}


def test_a_function_without_the_key_cannot_pseudonymize(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.PSEUDONYM_KEY_SECRET_ARN_ENV, raising=False)
    with pytest.raises(PseudonymKeyError, match=settings.PSEUDONYM_KEY_SECRET_ARN_ENV):
        pseudonymizer_from_env()


def test_pseudonyms_of_many_ids_hash_each_distinct_id_once() -> None:
    assert PSEUDONYMIZER.pseudonyms(["C1", "C2", "C1"]) == {
        "C1": PSEUDONYMIZER.pseudonym("C1"),
        "C2": PSEUDONYMIZER.pseudonym("C2"),
    }


def test_many_pseudonyms_are_mapped_back_with_one_scan(
    vault: CustomerIdVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault.remember({PSEUDONYMIZER.pseudonym(f"C{n}"): f"C{n}" for n in range(20)})
    monkeypatch.setattr(identities, "SCAN_ABOVE", 5)
    asked = [PSEUDONYMIZER.pseudonym(f"C{n}") for n in range(10, 30)]

    assert vault.customer_ids(asked) == {PSEUDONYMIZER.pseudonym(f"C{n}"): f"C{n}" for n in range(10, 20)}
