"""Text normalisation and the n-gram tf-idf featuriser shared by training and serving.

Training builds its feature matrix with exactly this code, and the Lambda runs the same code on each message,
so a model never sees features computed differently from the ones it learnt. Two views are used, as in the
classic word + character tf-idf recipe: word 1-2-grams and character 1-5-grams taken inside each word
(padded with spaces). Character n-grams need no word segmentation, which is what makes Chinese work: a run of
Han characters is one "word" whose character n-grams carry the meaning. Each view is weighted with sublinear
tf x idf and L2-normalised on its own, then the two are concatenated. N-grams outside the vocabulary count
in the norm with the largest idf (they are the rarest terms of all): a message the model mostly does not know
keeps only a small known part, so its scores stay near the prior instead of trusting one familiar n-gram.

With `negation` on (format 2), the word view marks every word inside a negation's scope - from "not", "no",
"never", "don't", ... (English) to the next punctuation token - with a "not_" prefix, so "not good" and
"good" become different features ("not good" → "not", "not_good"). Web addresses become one "_url_" token
so that link shorteners do not spray random character n-grams over the message.

With `han_words` on (format 3), the word view splits each Han run into words with jieba's dictionary
(`rjieba`, loaded on the first Han text), so "屏幕不错, 电池不太耐用" gives the words "屏幕", "不错", "电池",
"不太", "耐用" and their bigrams instead of two clause-long "words" that hardly ever repeat. The character
view keeps the whole runs: its n-grams cross word boundaries, which segmentation errors cannot break.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Words, plus short punctuation runs as tokens of their own: "!!!", "?" and ":(" carry tone.
_TOKEN = re.compile(r"\w+|[^\w\s]{1,3}", re.UNICODE)
# Han, Hiragana/Katakana and Hangul runs are split off from latin letters and digits glued to them
# ("订单123456没到" → "订单", "123456", "没到"), so an order number does not fuse with the words around it.
_SCRIPT_RUN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+|[^\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+"
)
_DIGITS = re.compile(r"\d+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
URL_TOKEN = "_url_"
NEGATION_PREFIX = "not_"
# Negation cues after normalisation; the tokenizer splits "don't" into "don", "'", "t", so the stems count.
_NEGATION_CUES = frozenset(
    {
        "not", "no", "never", "nothing", "nobody", "none", "nowhere", "neither", "nor", "cannot", "cant",
        "without", "dont", "don", "doesnt", "doesn", "didnt", "didn", "isnt", "isn", "wasnt", "wasn", "arent",
        "aren", "werent", "weren", "wont", "won", "wouldnt", "wouldn", "couldnt", "couldn", "shouldnt",
        "shouldn", "havent", "haven", "hasnt", "hasn", "hadnt", "hadn", "aint", "ain",
    }
)  # fmt: skip
# The apostrophe and the "t" of "don't" stay inside the scope; any other punctuation run ends it.
_SCOPE_TRANSPARENT = frozenset({"'", "\u2019", "t"})
FORMAT_VERSION = 3
SUPPORTED_FORMATS = (1, 2, 3)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def normalize(text: str) -> str:
    """NFKC (full-width forms → ASCII), case-folded, every digit run replaced by one 0: a number's length
    and value say nothing about intent, and long order numbers would otherwise flood the n-grams."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _DIGITS.sub("0", folded)


def tokens(text: str) -> list[str]:
    normalized = normalize(text)
    words: list[str] = []
    for match in _TOKEN.finditer(normalized):
        words.extend(_SCRIPT_RUN.findall(match.group(0)))
    return words


def _has_han(text: str) -> bool:
    return _HAN.search(text) is not None


def han_words(words: Sequence[str]) -> list[str]:
    """Runs containing Han characters split into dictionary words; other tokens unchanged."""
    if not any(map(_has_han, words)):
        return list(words)
    # Imported here: only a model trained with han_words, given Han text, needs the dictionary.
    import rjieba

    split: list[str] = []
    for word in words:
        split.extend(rjieba.cut(word) if _has_han(word) else (word,))
    return split


def mark_negation(words: Sequence[str]) -> list[str]:
    """Words after a negation cue, up to the next punctuation token, get the "not_" prefix."""
    marked: list[str] = []
    in_scope = False
    for word in words:
        if word in _NEGATION_CUES:
            in_scope = True
            marked.append(word)
        elif word in _SCOPE_TRANSPARENT:
            marked.append(word)
        elif not word[0].isalnum() and word[0] != "_":
            in_scope = False
            marked.append(word)
        else:
            marked.append(NEGATION_PREFIX + word if in_scope else word)
    return marked


def word_ngrams(words: Sequence[str], max_n: int) -> Iterable[str]:
    for n in range(1, max_n + 1):
        for start in range(len(words) - n + 1):
            yield " ".join(words[start : start + n])


def char_ngrams(words: Sequence[str], min_n: int, max_n: int) -> Iterable[str]:
    for word in words:
        padded = f" {word} "
        for n in range(min_n, max_n + 1):
            if n > len(padded):
                break
            if n == 1:
                yield from word  # the padding spaces alone would be a "term" every message shares
                continue
            for start in range(len(padded) - n + 1):
                yield padded[start : start + n]


@dataclass(frozen=True)
class NgramConfig:
    word_max_n: int = 2
    char_min_n: int = 2
    char_max_n: int = 5
    negation: bool = False
    han_words: bool = False

    def terms(self, text: str) -> tuple[Counter[str], Counter[str]]:
        """Counts of the word view and of the character view (character terms carry a 'c:' prefix)."""
        if self.negation:
            text = _URL.sub(f" {URL_TOKEN} ", text)
        words = tokens(text)
        view = han_words(words) if self.han_words else words
        view = mark_negation(view) if self.negation else view
        word_counts = Counter(word_ngrams(view, self.word_max_n))
        char_counts = Counter("c:" + gram for gram in char_ngrams(words, self.char_min_n, self.char_max_n))
        return word_counts, char_counts


@dataclass
class Vectorizer:
    """Maps a text to (feature ids, tf-idf weights); the ONNX head does the rest."""

    config: NgramConfig
    vocabulary: dict[str, int]
    idf: np.ndarray
    _empty: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False)
    _unknown_idf: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        self._unknown_idf = float(self.idf.max()) if len(self.idf) else 1.0

    @property
    def size(self) -> int:
        return len(self.vocabulary)

    def transform(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        return self.transform_terms(self.config.terms(text))

    def transform_terms(self, views: tuple[Counter[str], Counter[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Like `transform`, from already counted terms (two models with one n-gram config share them)."""
        ids: list[int] = []
        weights: list[float] = []
        for view in views:
            start = len(ids)
            unknown_mass = 0.0
            for term, count in view.items():
                index = self.vocabulary.get(term)
                if index is not None:
                    ids.append(index)
                    weights.append((1.0 + math.log(count)) * float(self.idf[index]))
                else:
                    unknown_mass += ((1.0 + math.log(count)) * self._unknown_idf) ** 2
            norm = math.sqrt(sum(weight * weight for weight in weights[start:]) + unknown_mass)
            if norm > 0:
                for position in range(start, len(weights)):
                    weights[position] /= norm
        if not ids:
            return self._empty
        return np.asarray(ids, dtype=np.int64), np.asarray(weights, dtype=np.float32)

    def to_json(self) -> dict[str, object]:
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        payload: dict[str, object] = {
            # Older readers do not know the newer settings; a model without them stays readable by them.
            "format_version": 3 if self.config.han_words else 2 if self.config.negation else 1,
            "word_max_n": self.config.word_max_n,
            "char_min_n": self.config.char_min_n,
            "char_max_n": self.config.char_max_n,
            "terms": terms,
            "idf": [round(float(value), 6) for value in self.idf],
        }
        if self.config.negation:
            payload["negation"] = True
        if self.config.han_words:
            payload["han_words"] = True
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, object]) -> Vectorizer:
        if payload.get("format_version") not in SUPPORTED_FORMATS:
            raise ValueError(f"unsupported vectorizer format {payload.get('format_version')!r}")
        terms = payload["terms"]
        idf = payload["idf"]
        assert isinstance(terms, list) and isinstance(idf, list)
        config = NgramConfig(
            word_max_n=_json_int(payload, "word_max_n"),
            char_min_n=_json_int(payload, "char_min_n"),
            char_max_n=_json_int(payload, "char_max_n"),
            negation=bool(payload.get("negation", False)),
            han_words=bool(payload.get("han_words", False)),
        )
        return cls(config, {term: index for index, term in enumerate(terms)}, np.asarray(idf, np.float32))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")), "utf-8")

    @classmethod
    def load(cls, path: Path) -> Vectorizer:
        return cls.from_json(json.loads(path.read_text("utf-8")))


def _json_int(payload: dict[str, object], name: str) -> int:
    value = payload[name]
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return int(value)
    raise ValueError(f"vectorizer setting {name} must be a whole number, got {value!r}")
