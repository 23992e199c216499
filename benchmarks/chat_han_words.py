"""Chinese word segmentation (`han_words`) in the chat n-gram models, decided by cross-validation on training
data only: the Chinese shopping reviews' training part (the 80% the chat benchmark trains on, 5 folds) and the
project-written Chinese intents (5 folds x 3 shuffles, each fold also training on the Bitext intents, as the
job does). Same fit as the job's n-gram model (SVM + NB-SVM, NB weight chosen on a validation split of each
fold's training rows); the chat benchmark's test rows are never read.

    .venv/bin/python benchmarks/chat_han_words.py [--data-dir ../shared/data]

About 10 minutes on 2 cores. Prints per-fold accuracies with and without segmentation and their mean.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "training" / "chat"), str(REPO / "layers" / "domain" / "python")]
sys.path.insert(0, str(REPO / "benchmarks"))

from chat_benchmark import _chinese_split  # noqa: E402
from chat_training.corpora import bitext_intents, chinese_intents  # noqa: E402
from chat_training.features import fit_vectorizer, to_matrix  # noqa: E402
from chat_training.fit import FitOptions, choose_nb_weight, fit_linear, ngram_config  # noqa: E402


def fold_accuracy(
    train_texts: list[str], train_labels: list[str], texts: list[str], labels: list[str], options: FitOptions
) -> float:
    vectorizer = fit_vectorizer(
        train_texts, options.config, min_df=options.min_df, max_features=options.max_features
    )
    matrix = to_matrix(vectorizer, train_texts)
    nb_weight, _ = choose_nb_weight(matrix, train_labels, options)
    coef, intercept, classes = fit_linear(matrix, train_labels, options, nb_weight)
    predicted = np.asarray(classes)[(to_matrix(vectorizer, texts) @ coef.T + intercept).argmax(axis=1)]
    return float((predicted == np.asarray(labels)).mean())


def cross_validate(
    texts: list[str],
    labels: list[str],
    options: FitOptions,
    shuffles: tuple[int, ...],
    extra: tuple[list[str], list[str]] = ([], []),
) -> list[float]:
    text_array, label_array = np.asarray(texts, dtype=object), np.asarray(labels)
    accuracies = []
    for shuffle in shuffles:
        folds = StratifiedKFold(5, shuffle=True, random_state=shuffle).split(text_array, label_array)
        for fit_rows, test_rows in folds:
            accuracies.append(
                fold_accuracy(
                    [*text_array[fit_rows], *extra[0]],
                    [*label_array[fit_rows], *extra[1]],
                    list(text_array[test_rows]),
                    list(label_array[test_rows]),
                    options,
                )
            )
            print(f"  fold {len(accuracies)}: {100 * accuracies[-1]:.2f}%", flush=True)
    return accuracies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args(argv)
    reviews_x, _, reviews_y, _ = _chinese_split(args.data_dir)
    intents, bitext = chinese_intents(), bitext_intents()
    # The job's settings per part: sentiment C 0.3 with balanced classes, intents C 0.7.
    sentiment = FitOptions(c=0.3, class_weight="balanced")
    intent = FitOptions(c=0.7)
    studies = {
        "Chinese reviews (sentiment)": (reviews_x, reviews_y, sentiment, (7,), ([], [])),
        "Chinese intents": (intents.texts, intents.labels, intent, (1, 2, 3), (bitext.texts, bitext.labels)),
    }
    for name, (texts, labels, base, shuffles, extra) in studies.items():
        results = {}
        for han_words in (False, True):
            print(f"{name}, han_words={han_words}", flush=True)
            options = replace(base, config=ngram_config(han_words))
            results[han_words] = cross_validate(texts, labels, options, shuffles, extra)
        gains = np.asarray(results[True]) - np.asarray(results[False])
        without, with_ = 100 * np.mean(results[False]), 100 * np.mean(results[True])
        print(
            f"{name}: without {without:.2f}%, with {with_:.2f}%, gain {100 * gains.mean():+.2f} points "
            f"(folds {100 * gains.min():+.2f} to {100 * gains.max():+.2f}, "
            f"{int((gains > 0).sum())} of {len(gains)} positive)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
