"""Blending the n-gram classifier with a linear head on frozen sentence embeddings.

The n-gram model (fit.py) knows the retailer's exact words, typos and Chinese; the encoder knows that
"cheers, brilliant help" and "thank you so much" mean the same thing. Their probabilities are averaged,
p = w * p_ngram + (1 - w) * p_embedding, for messages the language check routes to the encoder (serving
does the same; other messages keep p_ngram). Everything that is chosen - the head's regularisation and the
weight w - is chosen on a validation split carved from the training part of the retailer's own file; the
held-out rows the gate metrics come from are never looked at until the choice is made.

Fits: the n-gram model on the fit part (for validation), on the training part (held-out metrics, inside
`train_classifier`) and on all rows (shipped); the head likewise. The encoder stays frozen and runs in
onnxruntime, one message at a time exactly as serving runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from shelfwise.chat.encoder import SentenceEncoder, reads_as_english
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from chat_training.data import LabelledTexts
from chat_training.features import to_matrix
from chat_training.fit import (
    FitOptions,
    TrainedClassifier,
    _best_temperature,
    _softmax,
    evaluate,
    fit_ngram,
    train_classifier,
)

BLEND_WEIGHTS = tuple(round(step * 0.05, 2) for step in range(21))
HEAD_C = (2.0, 8.0, 32.0)
VALIDATION_FRACTION = 0.15
FROZEN_ENCODER = "all-MiniLM-L6-v2 int8 ONNX (frozen)"


def blend_splits(
    labels: list[str], options: FitOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row indices: (training part, held-out part) as `train_classifier` splits them (same rows, seed and
    labels give the same indices), and the training part carved into (fit, validation) for the blend."""
    rows = np.arange(len(labels))
    train_rows, held_rows = train_test_split(
        rows, test_size=options.holdout, random_state=options.seed, stratify=labels
    )
    train_labels = np.asarray(labels)[train_rows]
    counts = np.unique(train_labels, return_counts=True)[1]
    fit_rows, validation_rows = train_test_split(
        train_rows,
        test_size=VALIDATION_FRACTION,
        random_state=options.seed + 2,
        stratify=train_labels if counts.min() >= 2 else None,
    )
    return train_rows, held_rows, fit_rows, validation_rows


def embed_all(
    encoder: SentenceEncoder, texts: list[str], routed: np.ndarray, progress: Callable[[str], None]
) -> np.ndarray:
    """Embeddings of the messages serving sends to the encoder (zeros for the others, never used)."""
    started = time.perf_counter()
    result = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    rows = np.flatnonzero(routed)
    for done, row in enumerate(rows):
        result[row] = encoder.embed(texts[row])
        if done and done % 2000 == 0:
            progress(f"  embedded {done}/{len(rows)} messages ({time.perf_counter() - started:.0f} s)")
    progress(f"  embedded {len(rows)} messages in {time.perf_counter() - started:.1f} s")
    return result


def fit_head(
    embeddings: np.ndarray, labels: list[str], c: float, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    model.fit(embeddings, labels)
    classes = [str(label) for label in model.classes_]
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if len(classes) == 2:
        # Binary logistic regression keeps one score s for the second class; softmax over (-s/2, s/2).
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.asarray([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept, classes


def head_probabilities(embeddings: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return _softmax(embeddings.astype(np.float64) @ coef.T + intercept)


def blend(ngram: np.ndarray, embedding: np.ndarray, routed: np.ndarray, weight: float) -> np.ndarray:
    mixed = weight * ngram + (1.0 - weight) * embedding
    return np.where(routed[:, None], mixed, ngram)


def _log_loss(probabilities: np.ndarray, truth: np.ndarray) -> float:
    return float(-np.mean(np.log(probabilities[np.arange(len(truth)), truth] + 1e-12)))


def part_refit(
    part: TrainedClassifier, data: LabelledTexts, options: FitOptions, started: float
) -> TrainedClassifier:
    """The n-gram model alone, refitted on all rows as `train_classifier` would have."""
    if not options.refit_on_all:
        return part
    temperature = float(part.metrics["temperature"])  # type: ignore[arg-type]
    nb_weight = float(part.metrics["nb_weight"])  # type: ignore[arg-type]
    vectorizer, coef, intercept, classes = fit_ngram(data.texts, data.labels, options, nb_weight)
    metrics = {**part.metrics, "refit_on_all_rows": True, "features": vectorizer.size}
    metrics["fit_seconds"] = round(time.perf_counter() - started, 2)
    return TrainedClassifier(vectorizer, coef * temperature, intercept * temperature, classes, metrics)


def train_blended(
    data: LabelledTexts,
    options: FitOptions,
    encoder: SentenceEncoder,
    progress: Callable[[str], None] = print,
    encoder_description: str = FROZEN_ENCODER,
    tuned_head: tuple[np.ndarray, np.ndarray, list[str]] | None = None,
) -> TrainedClassifier:
    """`tuned_head` (coef, intercept, labels): the linear layer fine-tuning trained together with `encoder`
    on the fit rows (finetune.FineTuned.heads). It competes with the regression heads on the validation
    rows; when it wins it ships as trained, like the encoder it belongs to (neither is refitted)."""
    started = time.perf_counter()
    texts, labels = data.texts, data.labels
    progress("  n-gram model on the training part (held-out metrics)")
    part = train_classifier(data, replace(options, refit_on_all=False), progress=progress)
    classes = part.labels
    index = {label: position for position, label in enumerate(classes)}
    truth = np.asarray([index[label] for label in labels])
    train_rows, held_rows, fit_rows, validation_rows = blend_splits(labels, options)
    routed = np.asarray([reads_as_english(text) for text in texts], dtype=bool)
    progress(f"  embedding the {int(routed.sum())} messages the language check sends to the encoder")
    embeddings = embed_all(encoder, texts, routed, progress)

    def pick(rows_: np.ndarray) -> list[str]:
        return [texts[row] for row in rows_]

    def pick_labels(rows_: np.ndarray) -> list[str]:
        return [labels[row] for row in rows_]

    # 1. Validation: n-gram and head fitted on the fit part, both scored on the validation part.
    nb_weight = float(part.metrics["nb_weight"])  # type: ignore[arg-type]
    vectorizer, coef, intercept, fit_classes = fit_ngram(
        pick(fit_rows), pick_labels(fit_rows), options, nb_weight
    )
    if fit_classes != classes:
        raise RuntimeError("a label is missing from the fit part; too few rows per label to blend")
    validation_truth = truth[validation_rows]
    validation_scores = to_matrix(vectorizer, pick(validation_rows)) @ coef.T + intercept
    temperature = _best_temperature(validation_scores, validation_truth)
    validation_ngram = _softmax(validation_scores * temperature)
    head_scores: dict[float, np.ndarray] = {}
    # The head learns from the routed messages only (the others never reach it in serving).
    head_fit_rows = fit_rows[routed[fit_rows]]
    if sorted(set(pick_labels(head_fit_rows))) != classes:
        progress("  some labels have no message the encoder reads; keeping the n-gram model alone")
        return part_refit(part, data, options, started)
    for c in HEAD_C:
        head_coef, head_intercept, _ = fit_head(
            embeddings[head_fit_rows], pick_labels(head_fit_rows), c, options.seed
        )
        head_scores[c] = head_probabilities(embeddings[validation_rows], head_coef, head_intercept)
    candidates: list[float | None] = list(HEAD_C)
    if tuned_head is not None and tuned_head[2] == classes:
        # A regression refitted on embeddings of rows the encoder was just tuned on sees them as far more
        # separable than new messages are; the layer trained alongside the encoder learnt while they were
        # not. On the job's validation rows (airline tweets, four fine-tuning settings) its blend beat the
        # regression head's every time: 0.851 vs 0.849, 0.854 vs 0.846, 0.846 vs 0.844, 0.848 vs 0.845.
        head_scores[None] = head_probabilities(embeddings[validation_rows], tuned_head[0], tuned_head[1])
        candidates.append(None)

    def head_key(c: float | None) -> tuple[float, float]:
        # Ties go to the stronger regularisation; the tuned head (None) counts as the weakest.
        return float((head_scores[c].argmax(1) == validation_truth).mean()), -(c or float("inf"))

    head_c = max(candidates, key=head_key)
    head_accuracy = {str(c) if c is not None else "fine-tuned": round(head_key(c)[0], 4) for c in candidates}
    validation_routed = routed[validation_rows]

    def validation_key(weight: float) -> tuple[float, float]:
        mixed = blend(validation_ngram, head_scores[head_c], validation_routed, weight)
        return float((mixed.argmax(1) == validation_truth).mean()), -_log_loss(mixed, validation_truth)

    weight = max(BLEND_WEIGHTS, key=validation_key)
    validation_accuracy = {str(w): round(validation_key(w)[0], 4) for w in BLEND_WEIGHTS}
    head_name = "the fine-tuned head" if head_c is None else f"head C {head_c}"
    progress(
        f"  {head_name} (validation accuracy by head: {head_accuracy}), n-gram weight {weight} "
        f"(validation accuracy by weight: {validation_accuracy})"
    )

    # 2. Held-out: the training-part fits, blended with the chosen weight.
    head_train_rows = train_rows[routed[train_rows]]
    if head_c is None and tuned_head is not None:
        head_coef, head_intercept = tuned_head[0], tuned_head[1]
    else:
        head_coef, head_intercept, _ = fit_head(
            embeddings[head_train_rows], pick_labels(head_train_rows), head_c, options.seed
        )
    held_truth = truth[held_rows]
    held_ngram = _softmax(to_matrix(part.vectorizer, pick(held_rows)) @ part.coef.T + part.intercept)
    held_head = head_probabilities(embeddings[held_rows], head_coef, head_intercept)
    held_blend = blend(held_ngram, held_head, routed[held_rows], weight)
    held = evaluate(held_blend, held_truth, classes)
    held_ngram_metrics = evaluate(held_ngram, held_truth, classes)
    held_head_metrics = evaluate(held_head, held_truth, classes)
    progress(
        f"  held-out accuracy: blend {held['accuracy']:.4f}, n-gram {held_ngram_metrics['accuracy']:.4f}, "
        f"embedding head {held_head_metrics['accuracy']:.4f}"
    )

    # 3. Shipped: both refitted on all rows (the n-gram keeps its held-out temperature, as before).
    if options.refit_on_all:
        progress("  refitting the n-gram model and the head on all rows")
        part_temperature = float(part.metrics["temperature"])  # type: ignore[arg-type]
        vectorizer, coef, intercept, _ = fit_ngram(texts, labels, options, nb_weight)
        ngram = TrainedClassifier(
            vectorizer, coef * part_temperature, intercept * part_temperature, classes, {}
        )
        if head_c is not None:
            head_coef, head_intercept, _ = fit_head(
                embeddings[routed],
                [label for label, keep in zip(labels, routed, strict=True) if keep],
                head_c,
                options.seed,
            )
    else:
        ngram = part
    metrics = dict(part.metrics)
    metrics.update(
        held_out=held,
        held_out_ngram=held_ngram_metrics,
        held_out_embedding=held_head_metrics,
        refit_on_all_rows=options.refit_on_all,
        features=ngram.vectorizer.size,
        ngram_weight=weight,
        blend_validation_accuracy=validation_accuracy,
        head_c=head_c,
        head="fine-tuned" if head_c is None else "logistic regression",
        head_validation_accuracy=head_accuracy,
        routed_to_encoder=round(float(routed.mean()), 4),
        encoder=encoder_description,
        fit_seconds=round(time.perf_counter() - started, 2),
    )
    return TrainedClassifier(
        vectorizer=ngram.vectorizer,
        coef=ngram.coef,
        intercept=ngram.intercept,
        labels=classes,
        metrics=metrics,
        head_coef=head_coef,
        head_intercept=head_intercept,
        ngram_weight=weight,
    )
