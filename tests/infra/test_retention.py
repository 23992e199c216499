"""One retention setting per deployment: the data bucket's lifecycle rules and the functions' TTLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from cdk_synthesis import Synthesized, functions_with_placeholders, synthesize
from shelfwise import settings
from shelfwise_infra import spec
from shelfwise_infra.config import StageConfig
from shelfwise_infra.retention import Retention

pytestmark = pytest.mark.infra

OVERRIDES = {
    "retention.incoming_days": "14",
    "retention.rejected_days": "45",
    "retention.segment_export_days": "60",
    "retention.noncurrent_version_days": "7",
    "retention.chat_session_hours": "2",
    "retention.activity_days": "30",
}


@pytest.fixture(scope="module")
def overridden(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    root = tmp_path_factory.mktemp("cdk-retention")
    with functions_with_placeholders(root):
        return synthesize(root / "cdk.out", context=OVERRIDES)


def lifecycle_by_prefix(synthesized: Synthesized) -> dict[str, dict[str, object]]:
    bucket = synthesized.resource(synthesized.stack.storage.buckets[spec.DATA_BUCKET.id])
    return {rule.get("Prefix", ""): rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}


def variables_of(synthesized: Synthesized, name: str) -> dict[str, object]:
    function = synthesized.stack.functions.functions[name]
    return synthesized.resource(function)["Properties"]["Environment"]["Variables"]


def test_context_overrides_every_lifecycle_rule(overridden: Synthesized) -> None:
    rules = lifecycle_by_prefix(overridden)
    assert rules[spec.INCOMING_PREFIX]["ExpirationInDays"] == 14
    assert rules[spec.REJECTED_PREFIX]["ExpirationInDays"] == 45
    assert rules[spec.SEGMENTS_PREFIX]["ExpirationInDays"] == 60
    assert rules[""]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())


def test_functions_writing_ttl_items_get_the_deployment_retention(overridden: Synthesized) -> None:
    for fn in spec.FUNCTIONS:
        variables = variables_of(overridden, fn.name)
        writes_activity = spec.USER_ACTIVITY_TABLE.id in fn.writes
        writes_sessions = spec.CHAT_SESSIONS_TABLE.id in fn.writes
        assert (variables.get(settings.ACTIVITY_RETENTION_DAYS_ENV) == "30") is writes_activity, fn.name
        assert (variables.get(settings.CHAT_SESSION_RETENTION_HOURS_ENV) == "2") is writes_sessions, fn.name
    # The writers the brief names: ingestion and storefront events (activity), the chat (sessions).
    assert variables_of(overridden, "ingest")[settings.ACTIVITY_RETENTION_DAYS_ENV] == "30"
    assert variables_of(overridden, "recommendations")[settings.ACTIVITY_RETENTION_DAYS_ENV] == "30"
    assert variables_of(overridden, "chat")[settings.CHAT_SESSION_RETENTION_HOURS_ENV] == "2"
    # The ingested-files log lives as long as the rejection reports it links to, written and listed so.
    for name in ("ingest", "ingest_api"):
        assert variables_of(overridden, name)[settings.REJECTED_RETENTION_DAYS_ENV] == "45"


class Context:
    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    def try_get_context(self, key: str) -> object:
        return self.values.get(key)


def test_without_context_the_documented_defaults_apply() -> None:
    retention = StageConfig.from_context(Context({})).retention
    assert retention == Retention(
        incoming_days=30,
        rejected_days=90,
        segment_export_days=90,
        noncurrent_version_days=30,
        chat_session_hours=24,
        activity_days=90,
    )


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "a month"])
def test_a_retention_that_is_not_a_positive_whole_number_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"CDK context 'retention\.incoming_days' must be a whole number"):
        StageConfig.from_context(Context({"retention.incoming_days": value}))
    with pytest.raises(ValueError, match="SHELFWISE_RETENTION_INCOMING_DAYS must be a whole number"):
        Retention.from_environment({"SHELFWISE_RETENTION_INCOMING_DAYS": value})


def test_the_local_cloud_reads_the_same_setting_from_its_environment() -> None:
    environ = {"SHELFWISE_RETENTION_INCOMING_DAYS": "14", "SHELFWISE_RETENTION_CHAT_SESSION_HOURS": "1"}
    retention = Retention.from_environment(environ)
    assert (retention.incoming_days, retention.chat_session_hours, retention.rejected_days) == (14, 1, 90)


def test_the_docs_list_every_retention_setting_with_its_default() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    defaults = Retention()
    for name in Retention.__dataclass_fields__:
        assert f"`retention.{name}`" in docs, name
        assert f"| `retention.{name}` | {getattr(defaults, name)} |" in docs, name
