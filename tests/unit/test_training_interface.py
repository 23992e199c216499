"""Every recommender model meets one interface (fit, recommend, similar_items, save/load), and the job
sizes its thread pools from the CPUs it may use."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from shelfwise_recommender.factory import MODEL_KINDS, build_model
from shelfwise_recommender.interface import FactorModel, RecommenderModel
from shelfwise_recommender.models import EaseLowRank, Popularity
from shelfwise_recommender.pipeline import SERVABLE_MODELS
from shelfwise_recommender.threads import available_cpus, limit_threads, torch_threads


def two_tastes(n_users: int = 120, n_items: int = 40) -> sparse.csr_matrix:
    """Even users like the first half of the catalog, odd users the second; item 0 is liked by everyone."""
    rng = np.random.default_rng(3)
    rows, cols = [], []
    half = n_items // 2
    for user in range(n_users):
        offset = 0 if user % 2 == 0 else half
        liked = rng.choice(np.arange(offset + 1, offset + half), size=6, replace=False)
        for item in [0, *liked]:
            rows.append(user)
            cols.append(item)
    return sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))


def fitted(kind: str, user_items: sparse.csr_matrix) -> RecommenderModel:
    model = build_model(
        kind,
        l2=5.0,
        rank=8,
        ials_factors=8,
        ials_regularization=1.0,
        ials_alpha=5.0,
        ials_iterations=4,
        seed=1,
        vae_steps=40,
    )
    return model.fit(user_items)


@pytest.fixture(scope="module")
def user_items() -> sparse.csr_matrix:
    return two_tastes()


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_model_recommends_unseen_items_and_finds_similar_ones(
    kind: str, user_items: sparse.csr_matrix
) -> None:
    model = fitted(kind, user_items)
    ids, scores = model.recommend(2, user_items[2], N=5)
    assert ids.shape == scores.shape == (5,)
    assert not set(ids.tolist()) & set(user_items[2].indices.tolist())
    assert np.all(np.diff(scores) <= 0)
    with_seen, _ = model.recommend(2, user_items[2], N=40, filter_already_liked_items=False)
    assert set(user_items[2].indices.tolist()) <= set(with_seen.tolist())
    batch, _ = model.recommend(np.arange(4), user_items[:4], N=5)
    assert batch.shape == (4, 5) and np.array_equal(batch[2], ids)
    similar, _ = model.similar_items(3, N=5)
    assert 3 not in similar.tolist() and len(set(similar.tolist())) == 5


@pytest.mark.parametrize("kind", [kind for kind in MODEL_KINDS if kind != "popularity"])
def test_a_personal_model_keeps_each_user_to_their_half_of_the_catalog(
    kind: str, user_items: sparse.csr_matrix
) -> None:
    model = fitted(kind, user_items)
    even, _ = model.recommend(0, user_items[0], N=3)
    odd, _ = model.recommend(1, user_items[1], N=3)
    assert all(item < 20 for item in even.tolist())
    assert all(item >= 20 for item in odd.tolist())


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_a_saved_model_loads_as_the_same_kind_with_the_same_answers(
    kind: str, user_items: sparse.csr_matrix, tmp_path: Path
) -> None:
    model = fitted(kind, user_items)
    path = tmp_path / f"{kind}.npz"
    model.save(path)
    loaded = RecommenderModel.load(path)
    assert type(loaded) is type(model)
    for user in (0, 5):
        assert np.array_equal(
            loaded.recommend(user, user_items[user], N=5)[0], model.recommend(user, user_items[user], N=5)[0]
        )
    assert np.array_equal(loaded.similar_items(4, N=5)[0], model.similar_items(4, N=5)[0])


def test_loading_through_another_model_class_names_what_the_file_holds(
    user_items: sparse.csr_matrix, tmp_path: Path
) -> None:
    Popularity().fit(user_items).save(tmp_path / "popular.npz")
    with pytest.raises(ValueError, match="'popularity' model, not a EaseLowRank"):
        EaseLowRank.load(tmp_path / "popular.npz")


def test_every_model_the_job_can_serve_has_serving_factors(user_items: sparse.csr_matrix) -> None:
    for kind in SERVABLE_MODELS:
        assert isinstance(fitted(kind, user_items), FactorModel)


def test_the_job_uses_no_more_threads_than_sagemaker_or_the_cpu_quota_allow(tmp_path: Path) -> None:
    machine = available_cpus({})
    assert available_cpus({"SM_NUM_CPUS": "1"}) == 1
    assert available_cpus({"SM_NUM_CPUS": str(machine + 8)}) == machine
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")  # docker run --cpus 1.5
    assert available_cpus({}, cgroup_cpu_max=quota) == min(machine, 2)
    quota.write_text("max 100000\n")
    assert available_cpus({}, cgroup_cpu_max=quota) == machine


def test_thread_limits_fill_in_what_the_operator_did_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    limit_threads(1)
    assert os.environ["OMP_NUM_THREADS"] == "3"
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_the_vae_takes_only_the_cpus_other_processes_leave_idle() -> None:
    assert torch_threads({}, busy_elsewhere=0.0, cpus=2) == 2
    assert torch_threads({}, busy_elsewhere=2.0, cpus=2) == 1  # a CPU-bound neighbour on both cores
    assert torch_threads({}, busy_elsewhere=0.7, cpus=4) == 3
    assert torch_threads({"OMP_NUM_THREADS": "3"}, busy_elsewhere=2.0, cpus=2) == 3
