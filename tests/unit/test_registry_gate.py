"""The promotion gate: floors, bounded drop against the version in service, configuration from env."""

import pytest
from shelfwise.model_registry.gate import DEFAULT_MAX_DROP, GateConfig, Incumbent, decide

RECOMMENDER = {"ndcg_at_10": 0.40, "recall_at_10": 0.30, "ndcg_lift_over_popularity": 1.6}


def incumbent(**metrics: float) -> Incumbent:
    return Incumbent(version="v1", metrics={**RECOMMENDER, **metrics}, comparable_key="recommender-v1")


def test_first_version_is_promoted_when_it_passes_its_floors() -> None:
    decision = decide("recommender", RECOMMENDER, "recommender-v1", None, GateConfig())
    assert decision.promote and "first version" in decision.reason


def test_a_model_no_better_than_popularity_is_rejected_even_as_first_version() -> None:
    metrics = {**RECOMMENDER, "ndcg_lift_over_popularity": 0.93}
    decision = decide("recommender", metrics, "recommender-v1", None, GateConfig())
    assert not decision.promote
    assert "ndcg_lift_over_popularity 0.9300 is below the floor 1" in decision.reason


def test_a_missing_floor_metric_rejects() -> None:
    decision = decide("chat", {"intent_accuracy": 0.9}, "labels-a", None, GateConfig())
    assert not decision.promote and "sentiment_accuracy is missing" in decision.reason


def test_a_small_drop_is_tolerated_and_a_larger_one_rejected() -> None:
    small = {**RECOMMENDER, "ndcg_at_10": 0.40 * (1 - DEFAULT_MAX_DROP / 2)}
    large = {**RECOMMENDER, "ndcg_at_10": 0.40 * (1 - DEFAULT_MAX_DROP * 2)}
    assert decide("recommender", small, "recommender-v1", incumbent(), GateConfig()).promote
    rejected = decide("recommender", large, "recommender-v1", incumbent(), GateConfig())
    assert not rejected.promote
    assert "ndcg_at_10 0.3600 vs 0.4000 in v1" in rejected.reason


def test_versions_measured_differently_are_not_compared() -> None:
    worse = {**RECOMMENDER, "ndcg_at_10": 0.1}
    other = Incumbent(version="v1", metrics=RECOMMENDER, comparable_key="labels-of-the-default")
    decision = decide("recommender", worse, "recommender-v1", other, GateConfig())
    assert decision.promote and "not compared with v1" in decision.reason


def test_configuration_comes_from_the_environment() -> None:
    config = GateConfig.from_env(
        {"SHELFWISE_GATE_MAX_DROP": "0.2", "SHELFWISE_GATE_FLOORS": '{"recommender": {"ndcg_at_10": 0.5}}'}
    )
    assert config.max_drop == 0.2
    assert config.floors["recommender"] == {"ndcg_lift_over_popularity": 1.0, "ndcg_at_10": 0.5}
    assert config.floors["chat"]["intent_accuracy"] == 0.5
    assert not decide("recommender", RECOMMENDER, "recommender-v1", None, config).promote


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHELFWISE_GATE_MAX_DROP", "a lot"),
        ("SHELFWISE_GATE_MAX_DROP", "-1"),
        ("SHELFWISE_GATE_FLOORS", "[1]"),
    ],
)
def test_malformed_configuration_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        GateConfig.from_env({name: value})


COVERAGE_FLOOR = {"SHELFWISE_GATE_FLOORS": '{"recommender": {"catalog_coverage": 0.2}}'}


def test_a_coverage_floor_from_the_environment_rejects_a_narrow_model_like_an_accuracy_floor() -> None:
    config = GateConfig.from_env(COVERAGE_FLOOR)
    narrow = decide("recommender", RECOMMENDER, "recommender-v1", None, config, {"catalog_coverage": 0.12})
    assert not narrow.promote
    assert "catalog_coverage 0.1200 is below the floor 0.2" in narrow.reason
    wide = decide("recommender", RECOMMENDER, "recommender-v1", None, config, {"catalog_coverage": 0.35})
    assert wide.promote
    # A version that does not measure coverage at all cannot pass a coverage floor.
    missing = decide("recommender", RECOMMENDER, "recommender-v1", None, config)
    assert not missing.promote and "catalog_coverage is missing" in missing.reason


def test_reported_metrics_are_never_compared_with_the_version_in_service() -> None:
    # The incumbent's recorded metrics include its reported ones; a much lower coverage or Gini (better)
    # than the incumbent's is not a "drop" the gate rejects, only a floor can stop it.
    previous = incumbent(catalog_coverage=0.40, exposure_gini=0.9)
    reported = {"catalog_coverage": 0.25, "exposure_gini": 0.5}
    decision = decide("recommender", RECOMMENDER, "recommender-v1", previous, GateConfig(), reported)
    assert decision.promote and "catalog_coverage" not in decision.reason
    floored = GateConfig.from_env({"SHELFWISE_GATE_FLOORS": '{"recommender": {"catalog_coverage": 0.3}}'})
    assert not decide("recommender", RECOMMENDER, "recommender-v1", previous, floored, reported).promote
