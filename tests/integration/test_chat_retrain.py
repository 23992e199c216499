"""A retailer retrains the chat model on its own labels: drop -> ingest -> train-chat -> registry -> API.

Everything runs as in the local cloud, in process against moto: the ingest pipeline lands the dropped files,
the training job runs as a SageMaker-contract process (`shelfwise_local.training`), the model registry
validates and promotes the archive, and the chat handler swaps to the promoted version.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto_platform import local_platform
from shelfwise.ingest.pipeline import IngestTargets, ingest_object
from shelfwise.model_registry.promotion import Registrar, RegistryTargets
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, load_handler
from shelfwise_local.training import TrainingJobFailedError, run_training_job

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_chat_api import fresh_model_store

pytestmark = pytest.mark.integration

BUCKET = spec.DATA_BUCKET.local_name
CHAT = spec.function("chat")
RETAILER_INTENTS = {
    "gift_wrapping": [
        "can you gift wrap my order",
        "I want gift wrapping please",
        "is gift wrap available",
        "add a gift message and wrapping",
        "do you offer gift boxes",
        "wrap it as a present please",
        "gift wrapping for order {n}",
        "how much is gift wrapping",
    ],
    "loyalty_points": [
        "how many loyalty points do I have",
        "redeem my points",
        "where are my reward points",
        "my loyalty points are missing",
        "can I use points on this order",
        "points balance please",
        "loyalty card points for order {n}",
        "how do I earn reward points",
    ],
    "store_hours": [
        "when does the store open",
        "what are your opening hours",
        "are you open on sunday",
        "store hours please",
        "what time do you close today",
        "is the shop open on holidays",
        "opening times for the city store",
        "when do you open tomorrow",
    ],
}
RETAILER_SENTIMENT = {
    "negative": [
        "the courier left my parcel in the rain",
        "sizes run small again",
        "the zip broke after a day",
    ],
    "neutral": ["do you sell wool socks", "is this jacket waterproof", "what sizes does the coat come in"],
    "positive": ["the boots fit perfectly", "lovely soft fabric", "fast delivery, very happy"],
}


def labeled_csv(rows: dict[str, list[str]], label_column: str, *, repeats: int, bad_rows: bool) -> bytes:
    generator = random.Random(7)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", label_column])
    for label, texts in rows.items():
        for text in texts:
            for _ in range(repeats):
                filled = text.format(n=generator.randint(10_000_000, 99_999_999))
                writer.writerow([filled + generator.choice(["", "?", " thanks", "!", " please"]), label])
    if bad_rows:
        writer.writerow(["", "store_hours"])  # no text
        writer.writerow(["a message with no label", ""])
        writer.writerow(["x" * 5001, "store_hours"])  # over the message limit
        writer.writerow(["bell \x07 character", "store_hours"])
    return buffer.getvalue().encode("utf-8")


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with local_platform(monkeypatch, CHAT.name):
        module = sys.modules[load_handler("chat").__module__]
        monkeypatch.setattr(module, "model_store", fresh_model_store(module))
        module._service.cache_clear()
        yield boto3.client("s3")
        module._service.cache_clear()


def drop(s3: Any, kind: str, name: str, body: bytes) -> Any:
    key = f"incoming/{kind}/{name}"
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"]
    targets = IngestTargets(
        data_bucket=BUCKET,
        catalog_table=spec.CATALOG_TABLE.local_name,
        user_activity_table=spec.USER_ACTIVITY_TABLE.local_name,
    )
    return ingest_object(BUCKET, key, etag, targets, s3_client=s3)


def train_and_register(s3: Any, work_dir: Path) -> Any:
    run = run_training_job(spec.training_job("chat"), s3=s3, bucket=BUCKET, work_dir=work_dir)
    key = run["model_archive"].removeprefix(f"s3://{BUCKET}/")
    registrar = Registrar(
        RegistryTargets(
            bucket=BUCKET, models_table=spec.MODELS_TABLE.local_name, event_bus=spec.EVENT_BUS.local_name
        )
    )
    return registrar.process(key)


def ask(text: str, session_id: str) -> dict[str, Any]:
    event = json.loads((spec.EVENTS_DIR / "chat" / "post-message.json").read_text("utf-8"))
    event["body"] = json.dumps({"text": text, "session_id": session_id})
    response = load_handler("chat")(event, context_for(CHAT))
    assert response["statusCode"] == 200, response["body"]
    return json.loads(response["body"])


def test_a_retailers_labels_replace_the_default_intents_and_survive_a_sentiment_retrain(
    cloud: Any, tmp_path: Path
) -> None:
    s3 = cloud
    assert ask("can you gift wrap my order?", "before")["model_version"] == "default"

    landed = drop(
        s3,
        "chat-training",
        "shop-intents.csv",
        labeled_csv(RETAILER_INTENTS, "intent", repeats=3, bad_rows=True),
    )
    assert landed.rows_landed == 72 and landed.rows_rejected == 4
    report = s3.get_object(Bucket=BUCKET, Key=landed.rejection_report_key)["Body"].read().decode()
    assert "text" in report and "intent" in report and "5000" in report and "control" in report

    first = train_and_register(s3, tmp_path / "first")
    assert first.model_name == "chat" and first.status == "promoted", first.reason
    answer = ask("can you gift wrap my order?", "after-1")
    assert answer["intent"] == "gift_wrapping" and answer["model_version"] == first.version
    assert {intent for intent, _ in answer["top_intents"]} <= set(RETAILER_INTENTS)
    assert answer["sentiment"]["label"] in {"negative", "neutral", "positive"}  # the default sentiment part

    drop(
        s3,
        "chat-sentiment",
        "shop-sentiment.csv",
        labeled_csv(RETAILER_SENTIMENT, "sentiment", repeats=4, bad_rows=False),
    )
    second = train_and_register(s3, tmp_path / "second")
    assert second.status == "promoted", second.reason
    answer = ask("what are your opening hours on sunday?", "after-2")
    # The intents trained from the first drop are still in service: a sentiment file alone does not bring
    # back the default intents.
    assert answer["intent"] == "store_hours" and answer["model_version"] == second.version
    sources = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"models/chat/{second.version}/metrics.json")["Body"].read()
    )["sources"]
    assert "labeled rows" in sources["intent"] and "labeled rows" in sources["sentiment"]


def test_a_training_file_with_too_few_good_rows_refuses_the_run_with_a_reason(
    cloud: Any, tmp_path: Path
) -> None:
    s3 = cloud
    few = {"gift_wrapping": ["gift wrap please"], "store_hours": ["when do you open"]}
    drop(s3, "chat-training", "tiny.csv", labeled_csv(few, "intent", repeats=3, bad_rows=False))
    with pytest.raises(TrainingJobFailedError) as failed:
        run_training_job(spec.training_job("chat"), s3=s3, bucket=BUCKET, work_dir=tmp_path)
    assert "training refused" in str(failed.value) and "usable rows" in str(failed.value)
    assert ask("can you gift wrap my order?", "still-default")["model_version"] == "default"


def replies_csv(rows: list[tuple[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["intent", "template"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def test_a_templates_only_drop_gives_the_retailers_intents_their_replies_with_slots_filled(
    cloud: Any, tmp_path: Path
) -> None:
    s3 = cloud
    drop(
        s3,
        "chat-training",
        "shop-intents.csv",
        labeled_csv(RETAILER_INTENTS, "intent", repeats=3, bad_rows=False),
    )
    first = train_and_register(s3, tmp_path / "first")
    assert first.status == "promoted", first.reason
    before = ask("can you gift wrap my order 12345678?", "replies-before")
    assert before["intent"] == "gift_wrapping" and before["reply"] is None  # no template for its own intent

    landed = drop(
        s3,
        "chat-replies",
        "shop-replies.csv",
        replies_csv(
            [
                ("gift_wrapping", "We can gift wrap your items for 3 EUR; reply with your order number."),
                ("gift_wrapping", "Order {order_number} will be gift wrapped, with a card, for 3 EUR."),
                ("gift_wrapping", "Dear {customer_name}, we gift wrap."),  # no slot fills this placeholder
                ("store_hours", "We are open Monday to Saturday, 9:00-19:00."),
            ]
        ),
    )
    assert landed.rows_landed == 3 and landed.rows_rejected == 1
    report = s3.get_object(Bucket=BUCKET, Key=landed.rejection_report_key)["Body"].read().decode()
    assert "template" in report and "customer_name" in report

    second = train_and_register(s3, tmp_path / "second")
    assert second.status == "promoted", second.reason
    assert second.version != first.version
    answer = ask("can you gift wrap my order 12345678?", "replies-after")
    assert answer["model_version"] == second.version and answer["intent"] == "gift_wrapping"
    assert answer["reply"] == "Order 12345678 will be gift wrapped, with a card, for 3 EUR."
    general = ask("is gift wrap available?", "replies-general")
    assert general["reply"] == "We can gift wrap your items for 3 EUR; reply with your order number."
    # The retailer's intents stay in service: templates alone do not bring back the default intents.
    assert {intent for intent, _ in general["top_intents"]} <= set(RETAILER_INTENTS)
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"models/chat/{second.version}/manifest.json")["Body"].read()
    )
    assert "reply_templates.json" in manifest["files"]
    assert manifest["replies"]["from_retailer"] == ["gift_wrapping", "store_hours"]
    assert manifest["replies"]["without_reply"] == ["loyalty_points"]


CHINESE_SENTIMENT = {
    "negative": ["电池不太耐用, 很失望", "物流太慢了, 包装也破了", "质量很差, 想退货"],
    "neutral": ["这件衣服有没有大码", "什么时候发货", "可以开发票吗"],
    "positive": ["屏幕不错, 非常满意", "物流很快, 包装完好", "质量很好, 很喜欢"],
}


def test_chinese_reviews_train_a_segmenting_sentiment_model_from_redacted_messages(
    cloud: Any, tmp_path: Path
) -> None:
    s3 = cloud
    rows = {label: list(texts) for label, texts in CHINESE_SENTIMENT.items()}
    rows["negative"].append("请联系我 jane.doe@example.com, 退款还没到")
    drop(s3, "chat-sentiment", "zh-reviews.csv", labeled_csv(rows, "sentiment", repeats=4, bad_rows=False))
    trained = train_and_register(s3, tmp_path / "zh")
    assert trained.status == "promoted", trained.reason

    answer = ask("质量很差, 很失望", "zh-1")
    assert answer["sentiment"]["label"] == "negative" and answer["model_version"] == trained.version
    stored = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"models/chat/{trained.version}/sentiment_vectorizer.json")[
            "Body"
        ].read()
    )
    assert stored["han_words"] is True and "失望" in stored["terms"]  # a dictionary word of its own
    # The address was redacted when the file landed, so no part of it became a feature of the model.
    assert not [term for term in stored["terms"] if "jane" in term or "example" in term]
