"""The fitting step: SVM + NB-SVM folded into one exported linear model, negation, and the gate metrics."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import scipy.sparse as sp
from chat_training.data import LabelledTexts
from chat_training.export import linear_head_graph
from chat_training.features import fit_vectorizer, to_matrix
from chat_training.fit import (
    FitOptions,
    fit_linear,
    fit_nbsvm,
    fit_svm,
    held_out_accuracies,
    log_count_ratio,
    train_classifier,
)
from shelfwise.chat.text import NgramConfig

GOOD = ["good", "great", "nice", "helpful", "fast", "friendly", "clean", "comfortable"]
THINGS = ["flight", "crew", "seat", "service", "food", "staff", "app", "gate agent"]


def _reviews() -> LabelledTexts:
    texts: list[str] = []
    labels: list[str] = []
    for thing in THINGS:
        for word in GOOD:
            texts.append(f"the {thing} was {word}")
            labels.append("positive")
            texts.append(f"the {thing} was not {word}")
            labels.append("negative")
    return LabelledTexts(texts, labels, [])


def test_log_count_ratio_favours_the_words_of_the_class() -> None:
    presence = np.asarray([[1, 0, 1], [1, 0, 1], [0, 1, 1]], dtype=float)
    ratio = log_count_ratio(sp.csr_matrix(presence), np.asarray([True, True, False]), 1.0)
    assert ratio[0] > 0 > ratio[1]


@pytest.mark.parametrize("labels", [["a", "b"], ["a", "b", "c"]])
def test_svm_plus_nbsvm_is_one_linear_model_that_onnx_reproduces(labels: list[str]) -> None:
    rng = np.random.default_rng(3)
    vocabulary = ["refund", "parcel", "late", "broken", "thanks", "invoice", "card", "address"]
    texts = [" ".join(rng.choice(vocabulary, 4)) for _ in range(60)]
    truth = [labels[index % len(labels)] for index in range(60)]
    vectorizer = fit_vectorizer(texts, NgramConfig(), min_df=1)
    matrix = to_matrix(vectorizer, texts)
    options = FitOptions(c=0.5, nb_c=0.3)
    coef, intercept, classes = fit_linear(matrix, truth, options, nb_weight=0.5)
    svm_coef, svm_intercept, _ = fit_svm(matrix, truth, options)
    nb_coef, nb_intercept = fit_nbsvm(matrix, truth, classes, options)
    session = ort.InferenceSession(linear_head_graph(coef, intercept, name="t").SerializeToString())
    for row, text in enumerate(texts[:10]):
        separate = matrix[row] @ (svm_coef + 0.5 * nb_coef).T + svm_intercept + 0.5 * nb_intercept
        ids, weights = vectorizer.transform(text)
        (probabilities,) = session.run(None, {"ids": ids, "weights": weights})
        expected = np.exp(separate - separate.max()) / np.exp(separate - separate.max()).sum()
        np.testing.assert_allclose(probabilities, np.ravel(expected), rtol=1e-4, atol=1e-6)


def test_negation_lets_the_model_tell_good_from_not_good() -> None:
    data = _reviews()
    classifier = train_classifier(data, FitOptions(min_df=1, holdout=0.25), progress=lambda _: None)
    scores = {
        text: classifier.labels[int(np.argmax(to_matrix(classifier.vectorizer, [text]) @ classifier.coef.T))]
        for text in ("the lounge was not nice", "the lounge was nice")
    }
    assert scores == {"the lounge was not nice": "negative", "the lounge was nice": "positive"}
    assert classifier.metrics["ngrams"]["negation"] is True  # type: ignore[index]


def test_the_nb_weight_is_chosen_on_a_validation_split_and_recorded() -> None:
    classifier = train_classifier(_reviews(), FitOptions(min_df=1, holdout=0.25), progress=lambda _: None)
    assert classifier.metrics["nb_weight"] in (0.0, 0.25, 0.5, 1.0, 2.0)
    assert set(classifier.metrics["nb_weight_validation_accuracy"]) == {"0.0", "0.25", "0.5", "1.0", "2.0"}  # type: ignore[arg-type]


def test_gate_metrics_are_the_held_out_accuracies() -> None:
    options = FitOptions(min_df=1, holdout=0.25, nb_weight=0.0)
    sentiment = train_classifier(_reviews(), options, progress=lambda _: None)
    intent_data = LabelledTexts(
        [f"where is my {thing}" for thing in THINGS] + [f"refund my {thing}" for thing in THINGS],
        ["track"] * len(THINGS) + ["refund"] * len(THINGS),
        [],
    )
    intent = train_classifier(intent_data, options, progress=lambda _: None)
    gate = held_out_accuracies(intent, sentiment)
    assert gate == {
        "intent_accuracy": intent.metrics["held_out"]["accuracy"],  # type: ignore[index]
        "sentiment_accuracy": sentiment.metrics["held_out"]["accuracy"],  # type: ignore[index]
    }
    assert gate["intent_accuracy"] == 1.0 and isinstance(gate["sentiment_accuracy"], float)
