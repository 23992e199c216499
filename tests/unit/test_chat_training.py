from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_chat_support import load_train_module, write_intents, write_sentiment

train = load_train_module()


def _write(path: Path, rows: list[list[str]], header: tuple[str, str] = ("text", "intent")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _args(tmp_path: Path, intents: Path, sentiment: Path) -> list[str]:
    return [
        "--intents", str(intents), "--sentiment", str(sentiment), "--model-dir", str(tmp_path / "model"),
        "--output-dir", str(tmp_path / "output"), "--version", "v1", "--holdout", "0.2",
    ]  # fmt: skip


def test_bad_rows_are_rejected_with_row_field_and_reason_and_the_rest_trains(tmp_path: Path) -> None:
    intents = write_intents(tmp_path / "intents.csv", per_intent=12)
    with open(intents, "a", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "track_order"])  # empty text
        writer.writerow(["where is it", ""])  # empty label
        writer.writerow(["x" * 6000, "track_order"])  # over the message limit
        writer.writerow(["nul\x00inside", "track_order"])
        writer.writerow(["one of a kind", "lonely_label"])  # a label with a single example
        writer.writerow(["bad label", "x" * 101])
    assert train.main(_args(tmp_path, intents, write_sentiment(tmp_path / "s.csv"))) == 0
    version = tmp_path / "model" / "v1"
    with open(version / "rejected_intent_rows.csv", encoding="utf-8") as handle:
        rejected = list(csv.DictReader(handle))
    first_bad_row = 2 + 6 * 12
    by_row = {int(row["row"]): row for row in rejected}
    assert sorted(by_row) == list(range(first_bad_row, first_bad_row + 6))
    assert by_row[first_bad_row]["field"] == "text" and "empty" in by_row[first_bad_row]["reason"]
    assert by_row[first_bad_row + 1]["field"] == "intent"
    assert "5000" in by_row[first_bad_row + 2]["reason"]
    assert "NUL" in by_row[first_bad_row + 3]["reason"]
    assert "lonely_label" in by_row[first_bad_row + 4]["reason"]
    labels = json.loads((version / "labels.json").read_text())["intent"]
    assert "lonely_label" not in labels and len(labels) == 6
    metrics = json.loads((version / "metrics.json").read_text())
    assert metrics["intent"]["rejected_rows"] == 6 and metrics["intent"]["train_rows"] == 72


def test_file_with_too_few_good_rows_is_refused_with_a_failure_reason(tmp_path: Path) -> None:
    intents = _write(tmp_path / "intents.csv", [["hi", "greet"], ["bye", "leave"], ["", "greet"]] * 3)
    code = train.main(_args(tmp_path, intents, write_sentiment(tmp_path / "s.csv")))
    assert code == 2
    failure = (tmp_path / "output" / "failure").read_text()
    assert "usable rows" in failure and "rejected" in failure
    assert not (tmp_path / "model" / "v1").exists()


def test_file_without_a_label_column_is_refused_naming_the_columns(tmp_path: Path) -> None:
    intents = _write(tmp_path / "intents.csv", [["hello", "x"]] * 30, header=("text", "what"))
    assert train.main(_args(tmp_path, intents, write_sentiment(tmp_path / "s.csv"))) == 2
    failure = (tmp_path / "output" / "failure").read_text()
    assert "label column" in failure and "what" in failure


def test_sagemaker_channels_and_model_dir_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    intents_channel = tmp_path / "input" / "intents"
    sentiment_channel = tmp_path / "input" / "sentiment"
    intents_channel.mkdir(parents=True)
    sentiment_channel.mkdir(parents=True)
    write_intents(intents_channel / "part-1.csv", per_intent=10)
    # Numeric 0/1 labels as in many review datasets map to negative/positive.
    _write(
        sentiment_channel / "reviews.csv",
        [["very good, love it", "1"], ["bad and broken", "0"], ["很好", "1"], ["很差", "0"]] * 8,
        header=("text", "label"),
    )
    monkeypatch.setenv("SM_CHANNEL_INTENTS", str(intents_channel))
    monkeypatch.setenv("SM_CHANNEL_SENTIMENT", str(sentiment_channel))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "sm-model"))
    assert train.main(["train", "--version", "sm", "--holdout", "0.25"]) == 0
    labels = json.loads((tmp_path / "sm-model" / "sm" / "labels.json").read_text())
    assert labels["sentiment"] == ["negative", "positive"]
    card = (tmp_path / "sm-model" / "sm" / "model_card.md").read_text()
    assert str(intents_channel) in card


def _chinese_sentiment(path: Path) -> Path:
    things = ["手机", "屏幕", "电池", "物流", "包装", "客服", "衣服", "鞋子"]
    by_label = {
        "positive": ["质量很好", "非常满意", "很喜欢"],
        "negative": ["质量太差", "非常失望", "想退货"],
        "neutral": ["什么时候发货", "有没有优惠"],
    }
    rows = [
        [thing + phrase, label]
        for thing in things
        for label, phrases in by_label.items()
        for phrase in phrases
    ]
    return _write(path, rows, ("text", "sentiment"))


@pytest.mark.parametrize(("setting", "segmented"), [([], {"sentiment"}), (["--han-words", ""], set())])
def test_chinese_reviews_are_split_into_words_for_the_classifiers_configured(
    tmp_path: Path, setting: list[str], segmented: set[str]
) -> None:
    intents = write_intents(tmp_path / "intents.csv", per_intent=12)
    sentiment = _chinese_sentiment(tmp_path / "zh.csv")
    assert train.main([*_args(tmp_path, intents, sentiment), "--no-encoder", *setting]) == 0
    version = tmp_path / "model" / "v1"
    for part in ("intent", "sentiment"):
        stored = json.loads((version / f"{part}_vectorizer.json").read_text("utf-8"))
        assert stored.get("han_words", False) is (part in segmented)
    terms = json.loads((version / "sentiment_vectorizer.json").read_text("utf-8"))["terms"]
    assert ("失望" in terms) is ("sentiment" in segmented)  # a word of its own only when segmented
