"""Fitting the shared n-gram vectoriser and turning texts into sparse tf-idf matrices for scikit-learn."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from shelfwise.chat.text import NgramConfig, Vectorizer


def fit_vectorizer(
    texts: Sequence[str], config: NgramConfig, *, min_df: int = 2, max_features: int | None = None
) -> Vectorizer:
    """Vocabulary of terms seen in at least `min_df` texts (the most frequent `max_features` when capped)
    with smoothed idf, ln((1 + n) / (1 + df)) + 1, as scikit-learn's TfidfVectorizer computes it."""
    document_frequency: Counter[str] = Counter()
    for text in texts:
        word_counts, char_counts = config.terms(text)
        document_frequency.update(word_counts.keys())
        document_frequency.update(char_counts.keys())
    kept = [(term, df) for term, df in document_frequency.items() if df >= min_df]
    if max_features is not None and len(kept) > max_features:
        kept.sort(key=lambda item: (-item[1], item[0]))
        kept = kept[:max_features]
    kept.sort()
    n_texts = len(texts)
    vocabulary = {term: index for index, (term, _) in enumerate(kept)}
    idf = np.asarray([math.log((1 + n_texts) / (1 + df)) + 1.0 for _, df in kept], dtype=np.float32)
    return Vectorizer(config, vocabulary, idf)


def to_matrix(vectorizer: Vectorizer, texts: Sequence[str]) -> sp.csr_matrix:
    indptr = [0]
    all_ids: list[np.ndarray] = []
    all_weights: list[np.ndarray] = []
    for text in texts:
        ids, weights = vectorizer.transform(text)
        all_ids.append(ids)
        all_weights.append(weights)
        indptr.append(indptr[-1] + len(ids))
    indices = np.concatenate(all_ids) if all_ids else np.zeros(0, np.int64)
    data = np.concatenate(all_weights) if all_weights else np.zeros(0, np.float32)
    return sp.csr_matrix(
        (data.astype(np.float64), indices, np.asarray(indptr)), shape=(len(texts), vectorizer.size)
    )
