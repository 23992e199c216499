"""The featuriser shared by training and serving: negation scope, web addresses, and the stored format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shelfwise.chat.text import NgramConfig, Vectorizer, mark_negation, tokens


def test_words_after_a_negation_are_marked_until_the_next_punctuation() -> None:
    words = mark_negation(tokens("The seat was not comfortable or clean, but the crew was great"))
    assert words[3:7] == ["not", "not_comfortable", "not_or", "not_clean"]
    assert "great" in words and "not_great" not in words


def test_contractions_open_a_negation_scope() -> None:
    assert "not_like" in mark_negation(tokens("I don't like it"))
    assert "not_working" in mark_negation(tokens("the app isn\u2019t working!!"))


def test_negated_and_plain_words_become_different_word_features() -> None:
    config = NgramConfig(negation=True)
    negated_words, _ = config.terms("not good")
    plain_words, _ = config.terms("good")
    assert "not_good" in negated_words and "good" not in negated_words
    assert "good" in plain_words


def test_a_web_address_is_one_token_when_negation_is_on() -> None:
    words, characters = NgramConfig(negation=True).terms("look HTTP://t.co/x7Qz9 now")
    assert "_url_" in words and "x0qz0" not in " ".join(words)
    assert not any("t.co" in term for term in characters)


def test_without_negation_the_features_are_the_original_ones() -> None:
    words, _ = NgramConfig().terms("not good http://t.co")
    assert "good" in words and "not_good" not in words and "_url_" not in words


def _vectorizer(config: NgramConfig) -> Vectorizer:
    terms = sorted({*config.terms("not good at all")[0], *config.terms("not good at all")[1]})
    return Vectorizer(
        config, {term: index for index, term in enumerate(terms)}, np.ones(len(terms), np.float32)
    )


def test_saved_vectorizer_keeps_the_negation_setting(tmp_path: Path) -> None:
    original = _vectorizer(NgramConfig(negation=True))
    original.save(tmp_path / "v.json")
    loaded = Vectorizer.load(tmp_path / "v.json")
    assert loaded.config.negation is True
    ids, weights = loaded.transform("not good")
    expected_ids, expected_weights = original.transform("not good")
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(weights, expected_weights)


def test_a_model_saved_before_negation_existed_still_loads_and_scores_the_same(tmp_path: Path) -> None:
    plain = _vectorizer(NgramConfig())
    payload = plain.to_json()
    assert payload["format_version"] == 1 and "negation" not in payload
    (tmp_path / "old.json").write_text(json.dumps(payload))
    loaded = Vectorizer.load(tmp_path / "old.json")
    assert loaded.config == NgramConfig()
    np.testing.assert_allclose(loaded.transform("not good")[1], plain.transform("not good")[1])


def test_an_unknown_vectorizer_format_is_refused() -> None:
    payload = _vectorizer(NgramConfig()).to_json()
    payload["format_version"] = 99
    with pytest.raises(ValueError, match="unsupported vectorizer format"):
        Vectorizer.from_json(payload)


def test_han_runs_become_dictionary_words_in_the_word_view_only() -> None:
    review = "屏幕不错\uff0c电池不太耐用"  # with a full-width comma
    segmented_words, segmented_characters = NgramConfig(negation=True, han_words=True).terms(review)
    run_words, run_characters = NgramConfig(negation=True).terms(review)
    assert {"屏幕", "不错", "电池", "耐用", "屏幕 不错"} <= set(segmented_words)
    assert "屏幕不错" in run_words and "屏幕" not in run_words
    assert segmented_characters == run_characters  # character n-grams still span the whole run


def test_word_segmentation_leaves_latin_text_alone() -> None:
    message = "The seat was not comfortable, order 12345"
    assert NgramConfig(negation=True, han_words=True).terms(message) == NgramConfig(negation=True).terms(
        message
    )


def test_a_saved_segmenting_vectorizer_segments_after_loading_and_older_ones_do_not(tmp_path: Path) -> None:
    config = NgramConfig(negation=True, han_words=True)
    terms = sorted({*config.terms("电池不太耐用")[0], *config.terms("电池不太耐用")[1]})
    vocabulary = {term: index for index, term in enumerate(terms)}
    segmenting = Vectorizer(config, vocabulary, np.ones(len(terms), np.float32))
    segmenting.save(tmp_path / "v3.json")
    assert json.loads((tmp_path / "v3.json").read_text("utf-8"))["format_version"] == 3
    loaded = Vectorizer.load(tmp_path / "v3.json")
    assert loaded.config == config
    np.testing.assert_array_equal(loaded.transform("电池耐用")[0], segmenting.transform("电池耐用")[0])

    older = _vectorizer(NgramConfig(negation=True)).to_json()
    assert older["format_version"] == 2 and "han_words" not in older
    assert Vectorizer.from_json(older).config.han_words is False


# Han, kana and Hangul, Latin letters and digits, emoji, punctuation and whitespace, in any mix.
_MIXED_SCRIPTS = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x3400, max_codepoint=0x9FFF),
        st.characters(min_codepoint=0x3040, max_codepoint=0x30FF),
        st.characters(min_codepoint=0xAC00, max_codepoint=0xD7AF),
        st.characters(min_codepoint=0x1F300, max_codepoint=0x1F6FF),
        st.characters(categories=("L", "N", "P", "Z", "S")),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(_MIXED_SCRIPTS)
def test_any_message_gets_finite_unit_length_views_from_a_segmenting_vectorizer(message: str) -> None:
    config = NgramConfig(negation=True, han_words=True)
    training = ["屏幕不错, 电池不太耐用", "物流很快 great service", "質量很差!!! 😡", message]
    terms = sorted({term for text in training for view in config.terms(text) for term in view})
    vocabulary = {term: index for index, term in enumerate(terms)}
    ids, weights = Vectorizer(config, vocabulary, np.ones(len(terms), np.float32)).transform(message)
    assert np.isfinite(weights).all() and len(set(ids.tolist())) == len(ids)
    # Every term of the message is known here, so each non-empty view is scaled to unit length.
    views = sum(1 for view in config.terms(message) if view)
    assert float(np.sum(weights.astype(np.float64) ** 2)) == pytest.approx(views, abs=1e-4)
