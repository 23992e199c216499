"""The blended classifiers: n-gram model + a head on frozen sentence embeddings, trained by the job on a
validation split of the retailer's file, shipped with the encoder, served as trained."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from chat_training import blend as blend_module
from chat_training import job as chat_job
from chat_training.blend import BLEND_WEIGHTS, train_blended
from chat_training.data import LabelledTexts
from chat_training.fit import FitOptions
from chat_training.package import write_version
from shelfwise.chat.encoder import SentenceEncoder
from shelfwise.chat.model import BlendedClassifier, ChatModel

REPO = Path(__file__).resolve().parents[2]

ENCODER_DIR = REPO / "functions" / "chat" / "default_model" / "encoder"
PHRASES = {
    "track_order": ["where is my {thing}", "has my {thing} shipped yet", "track my {thing} please",
                    "when does my {thing} arrive", "my {thing} is late, where is it", "我的{zh}在哪里"],
    "get_refund": ["i want my money back for the {thing}", "refund the {thing} please",
                   "can i get a refund on my {thing}", "return the {thing} and refund me",
                   "please give me a refund for this {thing}", "{zh}退款"],
    "thank_you": ["thanks a lot for the {thing}", "cheers, the {thing} is great", "thank you so much",
                  "great help with my {thing}, thanks", "much appreciated, the {thing} arrived", "谢谢{zh}"],
}  # fmt: skip
THINGS = ["parcel", "order", "jacket", "blender", "shoes", "lamp", "package", "phone"]
ZH = ["订单", "包裹", "快递", "衣服"]


def _data() -> LabelledTexts:
    texts: list[str] = []
    labels: list[str] = []
    for intent, phrases in PHRASES.items():
        for index, thing in enumerate(THINGS):
            for phrase in phrases:
                texts.append(phrase.format(thing=thing, zh=ZH[index % len(ZH)]))
                labels.append(intent)
    return LabelledTexts(texts, labels, [])


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder(ENCODER_DIR)


@pytest.fixture(scope="module")
def blended(encoder: SentenceEncoder):
    options = FitOptions(holdout=0.2, seed=42, min_df=1)
    return train_blended(_data(), options, encoder, progress=lambda line: None)


def test_the_blend_weight_and_head_come_from_the_validation_split(blended) -> None:
    assert blended.ngram_weight in BLEND_WEIGHTS
    assert blended.head_coef.shape == (3, 384) and blended.head_intercept.shape == (3,)
    metrics = blended.metrics
    assert set(metrics["blend_validation_accuracy"]) == {str(weight) for weight in BLEND_WEIGHTS}
    for key in ("held_out", "held_out_ngram", "held_out_embedding"):
        assert 0.0 <= metrics[key]["accuracy"] <= 1.0
    # Chinese rows never reach the encoder, in training as in serving.
    assert 0.7 < metrics["routed_to_encoder"] < 0.9


def test_a_version_serves_the_blend_it_was_trained_with(tmp_path: Path, blended, encoder) -> None:
    sentiment_data = LabelledTexts(
        ["great", "love it", "awful", "terrible", "it is ok", "fine"] * 6,
        ["positive", "positive", "negative", "negative", "neutral", "neutral"] * 6,
        [],
    )
    sentiment = train_blended(sentiment_data, FitOptions(holdout=0.2, min_df=1), encoder, lambda line: None)
    version_dir = tmp_path / "v1"
    write_version(
        version_dir,
        version="v1",
        intent=blended,
        sentiment=sentiment,
        sources={"intent": "test", "sentiment": "test"},
        rejections={},
        encoder_dir=ENCODER_DIR,
    )
    assert (version_dir / "encoder" / "encoder.onnx").is_file()
    assert (version_dir / "encoder" / "LICENSE").is_file()
    model = ChatModel.load(version_dir)
    assert isinstance(model.intent, BlendedClassifier) and model.encoder is not None
    text = "hey, where is my parcel"
    (intent, confidence, probabilities), _ = model.classify(text)
    ngram = model.intent.probabilities(text)
    head = model.intent.head.probabilities(model.encoder.embed(text))
    weight = blended.ngram_weight
    assert np.allclose(probabilities, weight * ngram + (1 - weight) * head, atol=1e-6)
    assert intent == "track_order" and confidence == pytest.approx(float(probabilities.max()))
    # Chinese stays on the n-gram model alone.
    (_, _, chinese), _ = model.classify("我的包裹在哪里")
    assert np.allclose(chinese, model.intent.probabilities("我的包裹在哪里"))
    # Served without the encoder (the benchmark's baseline), English falls back to the n-gram model.
    model.encoder = None
    (_, _, plain), _ = model.classify(text)
    assert np.allclose(plain, ngram)


def chat_job_entrypoint() -> ModuleType:
    """The chat training job (`training/chat/train.py` runs its `main`)."""
    return chat_job


def test_the_job_keeps_a_base_models_heads_for_a_channel_without_data(tmp_path: Path, blended) -> None:
    classifier_from_version = chat_job_entrypoint().classifier_from_version

    version_dir = tmp_path / "base"
    sources = {"intent": "t", "sentiment": "t"}
    write_version(
        version_dir, version="base", intent=blended, sentiment=blended, sources=sources, rejections={},
        encoder_dir=ENCODER_DIR,
    )  # fmt: skip
    kept = classifier_from_version(version_dir, "intent")
    assert kept.ngram_weight == blended.ngram_weight
    assert np.allclose(kept.head_coef, blended.head_coef, atol=1e-6)


def test_a_fine_tuned_head_competes_with_the_regression_heads_on_validation(encoder) -> None:
    data = _data()
    options = FitOptions(holdout=0.2, seed=42, min_df=1)
    labels = sorted(set(data.labels))
    # A head that always answers the first label loses to any regression head, so it is never picked.
    useless = (np.zeros((3, 384)), np.asarray([5.0, 0.0, 0.0]), labels)
    kept = train_blended(data, options, encoder, progress=lambda line: None, tuned_head=useless)
    assert kept.metrics["head"] == "logistic regression" and kept.metrics["head_c"] is not None
    assert set(kept.metrics["head_validation_accuracy"]) == {"2.0", "8.0", "32.0", "fine-tuned"}
    # The regression on all rows, as without a fine-tuned head.
    assert not np.allclose(kept.head_coef, 0.0)
    # One that beats them on validation ships as it is (trained with the encoder, never refitted).
    embeddings = np.stack([encoder.embed(text) for text in data.texts])
    truth = np.asarray([labels.index(label) for label in data.labels])
    centroids = np.stack([embeddings[truth == k].mean(axis=0) for k in range(3)]) * 50.0
    strong = (centroids, np.zeros(3), labels)
    with pytest.MonkeyPatch.context() as patch:
        # Regression heads that always answer the first label make the outcome certain.
        patch.setattr(blend_module, "fit_head", lambda *args: (useless[0], useless[1], labels))
        chosen = train_blended(data, options, encoder, progress=lambda line: None, tuned_head=strong)
    assert chosen.metrics["head"] == "fine-tuned" and chosen.metrics["head_c"] is None
    assert np.allclose(chosen.head_coef, centroids) and np.allclose(chosen.head_intercept, 0.0)
    # A head for other labels (a class without a routed fit row) is not a candidate.
    other = train_blended(
        data,
        options,
        encoder,
        progress=lambda line: None,
        tuned_head=(centroids, np.zeros(3), ["a", "b", "c"]),
    )
    assert "fine-tuned" not in other.metrics["head_validation_accuracy"]
