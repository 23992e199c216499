"""A function's settings: only the variables of what it uses are required, parsed once per environment."""

from __future__ import annotations

import pytest
from shelfwise import settings
from shelfwise.settings import Settings


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in settings._VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_function_needs_only_the_variables_of_what_it_uses(bare_environment: pytest.MonkeyPatch) -> None:
    bare_environment.setenv(settings.DATA_BUCKET_ENV, "shop-data")
    bare_environment.setenv(settings.IDEMPOTENCY_TABLE_ENV, "idempotency")

    function_settings = Settings.from_env()

    assert function_settings.data_bucket == "shop-data"
    assert function_settings.idempotency_table == "idempotency"
    assert function_settings.stage == "local"
    with pytest.raises(RuntimeError, match="SHELFWISE_MODELS_TABLE is not set"):
        _ = function_settings.models_table


def test_an_empty_variable_counts_as_unset(bare_environment: pytest.MonkeyPatch) -> None:
    bare_environment.setenv(settings.EVENT_BUS_ENV, "")
    with pytest.raises(RuntimeError, match="SHELFWISE_EVENT_BUS is not set"):
        _ = Settings.from_env().event_bus


def test_one_environment_is_parsed_once_and_a_changed_one_again(bare_environment: pytest.MonkeyPatch) -> None:
    bare_environment.setenv(settings.PLANS_TABLE_ENV, "plans-a")
    first = Settings.from_env()
    assert Settings.from_env() is first

    bare_environment.setenv(settings.PLANS_TABLE_ENV, "plans-b")
    assert Settings.from_env().plans_table == "plans-b"
    assert first.plans_table == "plans-a"
    with pytest.raises(ValueError, match="frozen"):
        first.plans_table_name = "changed"  # type: ignore[misc]
