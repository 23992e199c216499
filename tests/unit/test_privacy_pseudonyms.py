import pytest
from hypothesis import given
from hypothesis import strategies as st
from shelfwise.privacy.pseudonyms import (
    Pseudonymizer,
    PseudonymKeyError,
    cached_pseudonymizer,
    erasure_marker,
    is_pseudonym,
)

KEY = b"k" * 32


@given(st.text(min_size=1, max_size=64))
def test_a_pseudonym_is_stable_keyed_and_never_contains_the_id(customer_id: str) -> None:
    pseudonym = Pseudonymizer(KEY).pseudonym(customer_id)
    assert is_pseudonym(pseudonym)
    assert pseudonym == Pseudonymizer(KEY).pseudonym(customer_id)
    assert pseudonym != Pseudonymizer(b"j" * 32).pseudonym(customer_id)


def test_different_customers_get_different_pseudonyms() -> None:
    pseudonymizer = Pseudonymizer(KEY)
    pseudonyms = {pseudonymizer.pseudonym(f"C{n}") for n in range(10_000)}
    assert len(pseudonyms) == 10_000


def test_a_short_key_is_refused() -> None:
    with pytest.raises(PseudonymKeyError):
        Pseudonymizer(b"short")


def test_the_erasure_marker_reveals_neither_id_nor_pseudonym() -> None:
    pseudonym = Pseudonymizer(KEY).pseudonym("C42")
    marker = erasure_marker(pseudonym)
    assert pseudonym not in marker and pseudonym.removeprefix("ps_") not in marker
    assert marker == erasure_marker(pseudonym) != erasure_marker(Pseudonymizer(KEY).pseudonym("C43"))


def test_a_rotated_secret_takes_effect() -> None:
    secret = {"text": "a" * 40}
    get = cached_pseudonymizer(lambda: secret["text"])
    before = get().pseudonym("C1")
    assert get() is get()
    secret["text"] = "b" * 40
    assert get().pseudonym("C1") != before
