"""Fitting one text classifier: shared vectoriser → linear SVM + NB-SVM → softmax temperature (held-out data).

Two linear models over the same tf-idf features are added up: a plain linear SVM, and an NB-SVM (Wang &
Manning, 2012) - one-vs-rest SVMs over features scaled by each class's naive-Bayes log-count ratio, which
weighs the words that separate a class more. Both are linear in the same features (the NB-SVM's class k
scores (w_k ⊙ r_k)·x), so their weighted sum is one linear model: one weight matrix ships, and serving
costs what a single linear model costs. The NB-SVM helps sentiment and can hurt many-class intent sets, so
its weight is picked per data set on a validation split carved from the training part (never the held-out
rows the metrics come from). The sum's scores become probabilities through a softmax whose
temperature minimises the held-out log-loss, folded into the exported weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from shelfwise.chat.text import NgramConfig, Vectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from chat_training.data import LabelledTexts
from chat_training.features import fit_vectorizer, to_matrix

TEMPERATURES = np.geomspace(0.5, 50.0, 60)
NB_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)
VALIDATION_FRACTION = 0.15


def ngram_config(han_words: bool = False) -> NgramConfig:
    """Word 1-2-grams (negation-marked; with `han_words`, Chinese split into dictionary words) and
    character 1-5-grams."""
    return NgramConfig(word_max_n=2, char_min_n=1, char_max_n=5, negation=True, han_words=han_words)


@dataclass(frozen=True)
class FitOptions:
    config: NgramConfig = field(default_factory=ngram_config)
    c: float = 0.7
    # Weight of the NB-SVM's scores added to the SVM's (0 fits the SVM alone; None picks one of
    # NB_WEIGHTS on a validation split of the training part), its C and count smoothing.
    nb_weight: float | None = None
    nb_c: float = 0.3
    nb_alpha: float = 1.0
    min_df: int = 2
    max_features: int | None = 200_000
    holdout: float = 0.1
    seed: int = 42
    refit_on_all: bool = True
    class_weight: str | None = None


@dataclass
class TrainedClassifier:
    vectorizer: Vectorizer
    coef: np.ndarray
    intercept: np.ndarray
    labels: list[str]
    metrics: dict[str, object]
    # The linear head on sentence embeddings (classes x 384) and the n-gram model's share of the blended
    # probabilities; None for an n-gram-only classifier (no encoder, or a base model from before it).
    head_coef: np.ndarray | None = None
    head_intercept: np.ndarray | None = None
    ngram_weight: float | None = None


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def fit_svm(matrix, labels: list[str], options: FitOptions) -> tuple[np.ndarray, np.ndarray, list[str]]:
    model = LinearSVC(C=options.c, class_weight=options.class_weight, random_state=options.seed)
    model.fit(matrix, labels)
    classes = [str(label) for label in model.classes_]
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if len(classes) == 2:
        # Binary SVMs keep one score s for the second class; softmax over (-s/2, s/2) is sigmoid(s).
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.asarray([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept, classes


def log_count_ratio(presence: sp.csr_matrix, in_class: np.ndarray, alpha: float) -> np.ndarray:
    """NB log-count ratio per feature: log of (share of the class's feature occurrences) over (the rest's)."""
    inside = np.asarray(presence[in_class].sum(axis=0)).ravel() + alpha
    outside = np.asarray(presence[~in_class].sum(axis=0)).ravel() + alpha
    return np.log((inside / inside.sum()) / (outside / outside.sum()))


def fit_nbsvm(
    matrix, labels: list[str], classes: list[str], options: FitOptions
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest NB-SVM as plain linear weights over the unscaled features (classes x features)."""
    presence = (matrix > 0).astype(np.float64).tocsr()
    truth = np.asarray(labels)
    # Two classes need one fit: the second class's scores are the negated first's, as in the plain SVM.
    fitted = classes[1:] if len(classes) == 2 else classes
    coef = np.zeros((len(fitted), matrix.shape[1]))
    intercept = np.zeros(len(fitted))
    for row, label in enumerate(fitted):
        in_class = truth == label
        ratio = log_count_ratio(presence, in_class, options.nb_alpha)
        model = LinearSVC(C=options.nb_c, class_weight=options.class_weight, random_state=options.seed)
        model.fit(matrix.multiply(ratio).tocsr(), in_class)
        coef[row] = model.coef_[0] * ratio
        intercept[row] = model.intercept_[0]
    if len(classes) == 2:
        return np.vstack([-coef[0] / 2, coef[0] / 2]), np.asarray([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept


def fit_linear(
    matrix, labels: list[str], options: FitOptions, nb_weight: float
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    coef, intercept, classes = fit_svm(matrix, labels, options)
    if nb_weight > 0:
        nb_coef, nb_intercept = fit_nbsvm(matrix, labels, classes, options)
        coef = coef + nb_weight * nb_coef
        intercept = intercept + nb_weight * nb_intercept
    return coef, intercept, classes


def choose_nb_weight(matrix, labels: list[str], options: FitOptions) -> tuple[float, dict[str, float]]:
    """The NB_WEIGHTS entry with the best validation accuracy (ties go to the smaller weight). Scores are
    linear in the weight, so one SVM and one NB-SVM fit cover the whole grid."""
    rows = np.arange(len(labels))
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    stratify = labels if counts.min() >= 2 else None
    fit_rows, validation_rows = train_test_split(
        rows, test_size=VALIDATION_FRACTION, random_state=options.seed + 1, stratify=stratify
    )
    fit_labels = [labels[row] for row in fit_rows]
    if len(set(fit_labels)) < 2:
        return 0.0, {}
    coef, intercept, classes = fit_svm(matrix[fit_rows], fit_labels, options)
    nb_coef, nb_intercept = fit_nbsvm(matrix[fit_rows], fit_labels, classes, options)
    validation = matrix[validation_rows]
    index = {label: position for position, label in enumerate(classes)}
    truth = np.asarray([index.get(labels[row], -1) for row in validation_rows])
    svm_scores = validation @ coef.T + intercept
    nb_scores = validation @ nb_coef.T + nb_intercept
    accuracy = {
        weight: float(((svm_scores + weight * nb_scores).argmax(axis=1) == truth).mean())
        for weight in NB_WEIGHTS
    }
    best = max(NB_WEIGHTS, key=lambda weight: (accuracy[weight], -weight))
    return best, {str(weight): round(value, 4) for weight, value in accuracy.items()}


def _best_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    def log_loss(temperature: float) -> float:
        probabilities = _softmax(scores * temperature)
        return float(-np.mean(np.log(probabilities[np.arange(len(truth)), truth] + 1e-12)))

    return float(min(TEMPERATURES, key=log_loss))


def evaluate(probabilities: np.ndarray, truth: np.ndarray, labels: list[str]) -> dict[str, object]:
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    return {
        "examples": len(truth),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
        "mean_confidence": round(float(confidence.mean()), 4),
        "log_loss": round(float(-np.mean(np.log(probabilities[np.arange(len(truth)), truth] + 1e-12))), 4),
        "labels": len(labels),
    }


def fit_ngram(
    texts: list[str], labels: list[str], options: FitOptions, nb_weight: float
) -> tuple[Vectorizer, np.ndarray, np.ndarray, list[str]]:
    """Vectoriser and linear weights fitted on exactly these rows (no split, no temperature)."""
    vectorizer = fit_vectorizer(
        texts, options.config, min_df=options.min_df, max_features=options.max_features
    )
    coef, intercept, classes = fit_linear(to_matrix(vectorizer, texts), labels, options, nb_weight)
    return vectorizer, coef, intercept, classes


def train_classifier(
    data: LabelledTexts, options: FitOptions, progress: Callable[[str], None] = print
) -> TrainedClassifier:
    started = time.perf_counter()
    train_texts, held_texts, train_labels, held_labels = train_test_split(
        data.texts, data.labels, test_size=options.holdout, random_state=options.seed, stratify=data.labels
    )
    progress(
        f"  split: {len(train_texts)} train / {len(held_texts)} held-out, {len(set(data.labels))} labels"
    )
    vectorizer = fit_vectorizer(
        train_texts, options.config, min_df=options.min_df, max_features=options.max_features
    )
    matrix = to_matrix(vectorizer, train_texts)
    nb_weight = options.nb_weight
    validation: dict[str, float] = {}
    if nb_weight is None:
        nb_weight, validation = choose_nb_weight(matrix, train_labels, options)
        progress(f"  NB-SVM weight {nb_weight} (validation accuracy by weight: {validation})")
    nb_part = f" + {nb_weight} x NB-SVM (C={options.nb_c})" if nb_weight > 0 else ""
    progress(f"  features: {vectorizer.size} n-grams; fitting linear SVM (C={options.c}){nb_part}")
    coef, intercept, labels = fit_linear(matrix, train_labels, options, nb_weight)
    index = {label: position for position, label in enumerate(labels)}
    held_truth = np.asarray([index[label] for label in held_labels])
    held_scores = to_matrix(vectorizer, held_texts) @ coef.T + intercept
    temperature = _best_temperature(held_scores, held_truth)
    held_metrics = evaluate(_softmax(held_scores * temperature), held_truth, labels)
    progress(
        f"  held-out accuracy {held_metrics['accuracy']:.4f}, macro-F1 {held_metrics['macro_f1']:.4f}, "
        f"temperature {temperature:.2f}"
    )
    if options.refit_on_all:
        progress("  refitting on all rows")
        vectorizer = fit_vectorizer(
            data.texts, options.config, min_df=options.min_df, max_features=options.max_features
        )
        coef, intercept, labels = fit_linear(
            to_matrix(vectorizer, data.texts), data.labels, options, nb_weight
        )
    metrics = {
        "held_out": held_metrics,
        "held_out_fraction": options.holdout,
        "temperature": round(temperature, 4),
        "features": vectorizer.size,
        "train_rows": len(data.texts),
        "rejected_rows": len(data.rejections),
        "refit_on_all_rows": options.refit_on_all,
        "c": options.c,
        "nb_weight": nb_weight,
        "nb_weight_validation_accuracy": validation,
        "nb_c": options.nb_c,
        "ngrams": {
            "word_max_n": options.config.word_max_n,
            "char_min_n": options.config.char_min_n,
            "char_max_n": options.config.char_max_n,
            "negation": options.config.negation,
            "han_words": options.config.han_words,
        },
        "fit_seconds": round(time.perf_counter() - started, 2),
    }
    return TrainedClassifier(vectorizer, coef * temperature, intercept * temperature, labels, metrics)


def held_out_accuracies(intent: TrainedClassifier, sentiment: TrainedClassifier) -> dict[str, float]:
    """The registry's gate metrics: each classifier's accuracy on its stratified held-out split, measured with
    the fit that never saw those rows (the shipped refit on all rows is at least as good, usually)."""
    return {
        "intent_accuracy": _held_out_accuracy(intent),
        "sentiment_accuracy": _held_out_accuracy(sentiment),
    }


def _held_out_accuracy(classifier: TrainedClassifier) -> float:
    held_out = classifier.metrics["held_out"]
    assert isinstance(held_out, dict)
    return float(held_out["accuracy"])
