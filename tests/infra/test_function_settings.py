"""Settings a deployment gives its functions through CDK context: validated at synth, set on one function.

The forecast function's replenishment settings (`forecast_settings`) and the recommendations function's
re-ranking (`recommend_rerank`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cdk_synthesis import functions_with_placeholders, synthesize
from shelfwise.forecast.plan_settings import plan_settings_from_env
from shelfwise.recommend.diversify import RERANK_ENV, RerankConfig
from shelfwise_infra import spec
from shelfwise_infra.config import StageConfig

pytestmark = pytest.mark.infra

SETTINGS = {"currency": "usd", "max_days_of_supply": 45, "service_levels": {"AX": 0.995}}


class Context(dict[str, object]):
    def try_get_context(self, key: str) -> object:
        return self.get(key)


def test_the_forecast_function_gets_the_contexts_settings_and_no_other_function_does(tmp_path: Path) -> None:
    with functions_with_placeholders(tmp_path):
        synthesized = synthesize(
            tmp_path / "cdk.out",
            context={"forecast_settings": json.dumps(SETTINGS), "recommend_rerank": "MMR:0.3"},
        )
    environments = {
        name: synthesized.resource(function)["Properties"]["Environment"]["Variables"]
        for name, function in synthesized.stack.functions.functions.items()
    }
    forecast = plan_settings_from_env(environments[spec.workflow("forecast").function])
    assert (forecast.currency, forecast.max_days_of_supply) == ("USD", 45)
    assert forecast.replenishment().service_levels["AX"] == 0.995
    others = [name for name, env in environments.items() if "SHELFWISE_CURRENCY" in env]
    assert others == [spec.workflow("forecast").function]
    assert RerankConfig.from_env(environments["recommendations"]) == RerankConfig(method="mmr", weight=0.3)
    assert [name for name, env in environments.items() if RERANK_ENV in env] == ["recommendations"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"currency": "dollars"}', "forecast_settings'.currency"),
        ('{"max_days_of_supply": -3}', "forecast_settings'.max_days_of_supply"),
        ('{"service_levels": {"QQ": 0.9}}', "unknown class"),
        ('{"horizon_days": 28}', "forecast_settings'.horizon_days"),
        ("not json", "not a JSON object"),
    ],
)
def test_a_malformed_setting_fails_the_synth_naming_it(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StageConfig.from_context(Context({"forecast_settings": value}))


@pytest.mark.parametrize("value", ["mmr", "mmr:1.5", "shuffle:0.2"])
def test_a_malformed_rerank_setting_fails_the_synth(value: str) -> None:
    with pytest.raises(ValueError, match="recommend_rerank"):
        StageConfig.from_context(Context({"recommend_rerank": value}))


def test_without_the_context_the_defaults_apply() -> None:
    config = StageConfig.from_context(Context())
    assert (config.forecast_settings.currency, config.forecast_settings.max_days_of_supply) == ("EUR", 90.0)
    assert config.recommend_rerank == RerankConfig()
