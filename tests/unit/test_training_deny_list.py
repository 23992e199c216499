"""The recommender training job leaves out the rows of erased customers (its `erased_customers` channel)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from shelfwise.privacy.pseudonyms import Pseudonymizer, erasure_marker
from shelfwise_recommender import job
from shelfwise_recommender.progress import Progress

PSEUDONYMS = Pseudonymizer(b"t" * 32)


def test_rows_of_deny_listed_customers_never_reach_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    erased, kept = PSEUDONYMS.pseudonym("c-erased"), PSEUDONYMS.pseudonym("c-kept")
    (tmp_path / erasure_marker(erased)).write_text("")
    monkeypatch.setenv("SM_CHANNEL_ERASED_CUSTOMERS", str(tmp_path))
    interactions = pd.DataFrame({"user_id": [erased, kept, erased], "item_id": ["a", "b", "c"]})

    left = job._without_erased_customers(interactions, Progress())

    assert left["user_id"].tolist() == [kept] and left["item_id"].tolist() == ["b"]
    assert "left out 2 rows of erased customers (1 on the deny list)" in capsys.readouterr().out


def test_no_deny_list_channel_leaves_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_CHANNEL_ERASED_CUSTOMERS", str(tmp_path / "absent"))
    interactions = pd.DataFrame({"user_id": ["ps_a", "ps_b"], "item_id": ["a", "b"]})
    assert job._without_erased_customers(interactions, Progress()).equals(interactions)
