"""Reading the model registry: DynamoDB items -> versions the API lists."""

from decimal import Decimal

from shelfwise.model_versions import ModelVersion, plain, promoted, versions_from_items


def item(model_name: str, version: str, status: str, created_at: str, **extra) -> dict:
    return {"model_name": model_name, "version": version, "status": status, "created_at": created_at, **extra}


def test_decimals_become_plain_numbers_recursively() -> None:
    metrics = {
        "ndcg_at_10": Decimal("0.489"),
        "users": Decimal("943"),
        "per_k": [Decimal("1.5"), Decimal("2")],
    }
    assert plain(metrics) == {"ndcg_at_10": 0.489, "users": 943, "per_k": [1.5, 2]}
    assert isinstance(plain(Decimal("943")), int)


def test_versions_are_grouped_by_model_and_newest_first() -> None:
    versions = versions_from_items(
        [
            item("recommender", "v1", "rejected", "2026-01-01T02:00:00Z"),
            item("chat-intent", "v7", "promoted", "2026-01-03T02:00:00Z"),
            item("recommender", "v3", "candidate", "2026-01-05T02:00:00Z"),
            item("recommender", "v2", "promoted", "2026-01-02T02:00:00Z"),
        ]
    )
    assert [(v.model_name, v.version) for v in versions] == [
        ("chat-intent", "v7"),
        ("recommender", "v3"),
        ("recommender", "v2"),
        ("recommender", "v1"),
    ]


def test_item_fields_are_carried_over() -> None:
    [version] = versions_from_items(
        [
            item(
                "recommender",
                "2026-01-05",
                "promoted",
                "2026-01-05T02:00:00Z",
                metrics={"ndcg_at_10": Decimal("0.47")},
                artifact_uri="s3://shelfwise-data/models/recommender/2026-01-05/model.onnx",
                reason="ndcg@10 0.47 beats 0.44",
            )
        ]
    )
    assert version == ModelVersion(
        model_name="recommender",
        version="2026-01-05",
        status="promoted",
        created_at="2026-01-05T02:00:00Z",
        metrics={"ndcg_at_10": 0.47},
        artifact_uri="s3://shelfwise-data/models/recommender/2026-01-05/model.onnx",
        reason="ndcg@10 0.47 beats 0.44",
    )


def test_malformed_items_are_skipped_not_fatal() -> None:
    versions = versions_from_items(
        [
            item("recommender", "v1", "retired", "2026-01-01T00:00:00Z"),  # unknown status
            {"model_name": "recommender", "version": "v2"},  # no status, no created_at
            item("recommender", "v3", "candidate", "2026-01-03T00:00:00Z"),
        ]
    )
    assert [v.version for v in versions] == ["v3"]


def test_promoted_is_the_newest_promoted_version_of_that_model() -> None:
    versions = versions_from_items(
        [
            item("recommender", "v1", "promoted", "2026-01-01T00:00:00Z"),
            item("recommender", "v2", "promoted", "2026-01-02T00:00:00Z"),
            item("recommender", "v3", "candidate", "2026-01-03T00:00:00Z"),
            item("chat-intent", "v9", "promoted", "2026-01-04T00:00:00Z"),
        ]
    )
    best = promoted(versions, "recommender")
    assert best is not None and best.version == "v2"
    assert promoted(versions, "forecaster") is None
