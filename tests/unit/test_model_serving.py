"""Hot swap: the store follows the registry's promoted version, keeps serving through failures, falls back."""

from pathlib import Path

import pytest
from shelfwise.model_serving import ModelStore, refresh_seconds_from_env
from shelfwise.model_versions import ModelVersion


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def promoted(version: str) -> ModelVersion:
    return ModelVersion(
        model_name="demo",
        version=version,
        status="promoted",
        created_at="2026-11-27T03:00:00Z",
        artifact_uri=f"s3://bucket/models/demo/{version}/",
    )


class Registry:
    """What the models table says is in service, and which versions' files are broken."""

    def __init__(self) -> None:
        self.in_service: ModelVersion | None = None
        self.broken: set[str] = set()
        self.lookups = 0
        self.fetches: list[str] = []

    def lookup(self) -> ModelVersion | None:
        self.lookups += 1
        return self.in_service

    def fetch(self, version: ModelVersion, directory: Path) -> Path:
        self.fetches.append(version.version)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "model.txt").write_text("broken" if version.version in self.broken else version.version)
        return directory


def load(directory: Path) -> str:
    text = (directory / "model.txt").read_text()
    if text == "broken":
        raise ValueError("cannot load")
    return f"model {text}"


def make_store(registry: Registry, clock: Clock, tmp_path: Path, **kwargs) -> ModelStore[str]:
    return ModelStore(
        "demo",
        load,
        models_table="unused",
        refresh_seconds=30,
        retry_failed_seconds=600,
        cache_root=tmp_path,
        clock=clock,
        lookup=registry.lookup,
        fetch=registry.fetch,
        **kwargs,
    )


def test_nothing_promoted_and_no_fallback_means_no_model(tmp_path: Path) -> None:
    assert make_store(Registry(), Clock(), tmp_path).current() is None


def test_the_fallback_serves_until_a_version_is_promoted(tmp_path: Path) -> None:
    registry, clock = Registry(), Clock()
    store = make_store(registry, clock, tmp_path, fallback=lambda: "shipped", fallback_version="default")
    served = store.current()
    assert (served.version, served.model, served.source) == ("default", "shipped", "fallback")
    registry.in_service = promoted("v1")
    clock.now += 31
    served = store.current()
    assert (served.version, served.model, served.source) == ("v1", "model v1", "registry")


def test_a_new_promotion_is_picked_up_after_the_refresh_interval_only(tmp_path: Path) -> None:
    registry, clock = Registry(), Clock()
    registry.in_service = promoted("v1")
    store = make_store(registry, clock, tmp_path)
    assert store.current().version == "v1"
    registry.in_service = promoted("v2")
    clock.now += 10
    assert store.current().version == "v1"
    assert registry.lookups == 1  # no table read within the interval
    clock.now += 25
    assert store.current().model == "model v2"
    assert sorted(path.name for path in (tmp_path / "demo").iterdir()) == ["v1", "v2"]


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(tmp_path: Path) -> None:
    registry, clock = Registry(), Clock()
    registry.in_service = promoted("v1")
    store = make_store(registry, clock, tmp_path)
    assert store.current().version == "v1"
    registry.in_service = promoted("v2")
    registry.broken.add("v2")
    clock.now += 31
    assert store.current().model == "model v1"
    clock.now += 31
    store.current()
    assert registry.fetches == ["v1", "v2"]  # not retried before retry_failed_seconds
    registry.broken.clear()
    clock.now += 600
    assert store.current().model == "model v2"


def test_an_unreachable_table_keeps_the_current_model(tmp_path: Path) -> None:
    registry, clock = Registry(), Clock()
    registry.in_service = promoted("v1")
    store = make_store(registry, clock, tmp_path)
    store.current()

    def down() -> ModelVersion | None:
        raise ConnectionError("table unavailable")

    store._lookup = down
    clock.now += 31
    assert store.current().model == "model v1"


def test_refresh_interval_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFWISE_MODEL_REFRESH_SECONDS", "5")
    assert refresh_seconds_from_env() == 5.0
    monkeypatch.setenv("SHELFWISE_MODEL_REFRESH_SECONDS", "soon")
    with pytest.raises(ValueError, match="SHELFWISE_MODEL_REFRESH_SECONDS"):
        refresh_seconds_from_env()
