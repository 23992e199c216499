# ruff: noqa: RUF001 - Chinese test messages use full-width punctuation on purpose
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from shelfwise.chat.escalation import SessionState
from shelfwise.chat.model import ChatModel
from shelfwise.chat.text import Vectorizer
from shelfwise.chat.validation import MAX_MESSAGE_CHARS, ChatInputError
from test_chat_support import INTENTS, load_train_module, write_intents, write_sentiment

SAMPLES = [
    "I want to cancel order 12345678",
    "where is my package?",
    "I want to talk to a human being",
    "this is the worst shop, I want to complain",
    "质量太差了，非常失望",
    "物流很快，很满意",
    "what delivery options do you have",
    "",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chat")
    train = load_train_module()
    code = train.main(
        [
            "--intents", str(write_intents(root / "intents.csv")),
            "--sentiment", str(write_sentiment(root / "sentiment.csv")),
            "--model-dir", str(root / "models"),
            "--output-dir", str(root / "output"),
            "--version", "test-1",
            "--holdout", "0.2",
        ]
    )  # fmt: skip
    assert code == 0
    return root / "models" / "test-1"


@pytest.fixture(scope="module")
def model(model_dir: Path) -> ChatModel:
    return ChatModel.load(model_dir)


def test_version_directory_has_every_artefact(model_dir: Path) -> None:
    names = {path.name for path in model_dir.iterdir()}
    assert {
        "manifest.json", "intent.onnx", "intent_vectorizer.json", "sentiment.onnx",
        "sentiment_vectorizer.json", "labels.json", "metrics.json", "model_card.md",
    } <= names  # fmt: skip
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["intent"]["held_out"]["accuracy"] <= 1.0
    assert json.loads((model_dir / "labels.json").read_text())["intent"] == sorted(INTENTS)


def test_onnx_graph_matches_the_numpy_reference_of_the_exported_weights(model_dir: Path) -> None:
    from onnx import load, numpy_helper

    for head in ("intent", "sentiment"):
        graph = load(str(model_dir / f"{head}.onnx")).graph
        weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        vectorizer = Vectorizer.load(model_dir / f"{head}_vectorizer.json")
        session = ort.InferenceSession(str(model_dir / f"{head}.onnx"), providers=["CPUExecutionProvider"])
        for text in SAMPLES[:-1]:
            ids, tfidf = vectorizer.transform(text)
            assert ids.size > 0
            (onnx_probabilities,) = session.run(None, {"ids": ids, "weights": tfidf})
            logits = (weights["W"][ids] * tfidf[:, None]).sum(axis=0) + weights["b"]
            reference = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            np.testing.assert_allclose(onnx_probabilities, reference, rtol=1e-4, atol=1e-6)


def test_exported_model_reproduces_the_scikit_learn_fit() -> None:
    from chat_training.export import linear_head_graph
    from chat_training.features import fit_vectorizer, to_matrix
    from shelfwise.chat.text import NgramConfig
    from sklearn.svm import LinearSVC

    texts = [
        "refund my money",
        "where is my parcel",
        "退款",
        "快递在哪里",
        "give me a refund",
        "track parcel",
    ]
    labels = ["refund", "track", "refund", "track", "refund", "track"]
    vectorizer = fit_vectorizer(texts, NgramConfig(), min_df=1)
    matrix = to_matrix(vectorizer, texts)
    svm = LinearSVC(C=1.0).fit(matrix, labels)
    coef = np.vstack([-svm.coef_[0] / 2, svm.coef_[0] / 2])
    intercept = np.asarray([-svm.intercept_[0] / 2, svm.intercept_[0] / 2])
    session = ort.InferenceSession(linear_head_graph(coef, intercept, name="t").SerializeToString())
    for row, text in enumerate(texts):
        ids, tfidf = vectorizer.transform(text)
        (probabilities,) = session.run(None, {"ids": ids, "weights": tfidf})
        assert svm.classes_[int(np.argmax(probabilities))] == svm.predict(matrix[row])[0]
        expected_p_second = 1 / (1 + np.exp(-svm.decision_function(matrix[row])[0]))
        assert probabilities[1] == pytest.approx(expected_p_second, rel=1e-4)


def test_triage_returns_the_response_contract(model: ChatModel) -> None:
    result = model.triage("I want to cancel order 12345678, mail me at jo@example.com").as_dict()
    assert {
        "intent", "confidence", "top_intents", "sentiment", "escalate", "priority", "reasons", "reply",
        "redacted_text", "model_version",
    } <= result.keys()  # fmt: skip
    assert result["intent"] == "cancel_order"
    assert result["model_version"] == "test-1"
    assert result["redacted_text"] == "I want to cancel order 12345678, mail me at [EMAIL]"
    assert result["top_intents"][0][0] == "cancel_order"
    probabilities = [p for _, p in result["top_intents"]]
    assert probabilities == sorted(probabilities, reverse=True) and probabilities[0] == result["confidence"]
    assert result["sentiment"]["label"] in {"negative", "neutral", "positive"}
    if not result["escalate"]:
        assert "12345678" in result["reply"]


def test_request_for_a_person_escalates_with_a_handover_reply(model: ChatModel) -> None:
    result = model.triage("I want to talk to a human agent please")
    assert result.intent == "contact_human_agent"
    assert result.escalate and result.priority in {"P1", "P2"}
    assert "intent:contact_human_agent" in result.reasons
    assert result.reply is not None and "team" in result.reply
    assert result.session.escalated


def test_chinese_messages_get_sentiment(model: ChatModel) -> None:
    negative = model.triage("质量太差了，非常失望，差评")
    positive = model.triage("服务很好，非常满意")
    assert negative.sentiment["label"] == "negative"
    assert positive.sentiment["label"] == "positive"


def test_session_state_carries_over_and_a_negative_conversation_escalates(model: ChatModel) -> None:
    state = SessionState()
    for text in ("this is terrible", "awful, I am very angry", "horrible, totally useless"):
        result = model.triage(text, state)
        state = result.session
    assert state.message_count == 3
    assert state.negative_streak == 3
    assert result.escalate and result.priority == "P1" and "negative_session" in result.reasons


def test_text_without_known_ngrams_gets_a_flat_low_confidence_answer(model: ChatModel) -> None:
    result = model.triage("🙂🙂🙂")
    assert result.confidence == pytest.approx(1 / len(INTENTS))
    assert "low_confidence" in result.reasons


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ("a" * (MAX_MESSAGE_CHARS + 1), str(MAX_MESSAGE_CHARS)),
        ("hello\x00world", "NUL"),
        ("bin\x07ary", "control"),
        (b"bytes".decode() + "\ud800", "surrogate"),
        (123, "string"),
    ],
)
def test_invalid_messages_raise_a_domain_error_naming_the_field(
    model: ChatModel, text, fragment: str
) -> None:
    with pytest.raises(ChatInputError) as raised:
        model.triage(text)
    assert raised.value.field == "text"
    assert fragment in raised.value.message


def test_message_of_exactly_the_limit_is_accepted(model: ChatModel) -> None:
    assert model.triage("refund " * (MAX_MESSAGE_CHARS // 7)).intent in INTENTS


def test_retailer_templates_override_the_defaults(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    # A version directory now carries its sentence encoder in encoder/, so it is copied as a tree.
    shutil.copytree(model_dir, copy)
    (copy / "reply_templates.json").write_text(
        json.dumps({"cancel_order": ["Cancelled {order_number} for you!", "Which order?"]})
    )
    overridden = ChatModel.load(copy)
    result = overridden.triage("please cancel order 4455667788")
    assert result.intent == "cancel_order"
    if not result.escalate:
        assert result.reply == "Cancelled 4455667788 for you!"
    assert overridden.templates.reply("track_order", {}) is not None  # defaults still apply elsewhere
