"""The ranking stage: a factorization machine that re-orders the retrieval model's top candidates.

Training data comes from a nested split of the training side: the retrieval model is fitted on 75% of each
user's items, its top `candidates` unseen items become the candidate lists, and the other 25% mark the
positives. The FM (Rendle 2010, degree 2, `factors`-dimensional) is fitted with a pairwise loss (a positive
should outscore a negative of the same user), which is what a re-ranker is for. Features are built by
`shelfwise.recommend.ranker.candidate_features`, the function serving runs, so the two cannot drift.
The caller decides whether to keep it by comparing held-out metrics with and without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper
from scipy import sparse
from shelfwise.recommend.ranker import FEATURE_NAMES, PRICE_BANDS, ItemContext, candidate_features

from .data import InteractionMatrix
from .evaluate import top_k_unseen
from .interface import FactorModel
from .metrics import ranking_report
from .split import stratified_user_split

OPSET = 17
RANKER_GRAPH = "ranker.onnx"
RANKER_ITEMS = "ranker_items.npz"


@dataclass
class FactorizationMachine:
    """score(x) = w·z + ½·Σ_f[(z·V_f)² - (z²)·(V_f²)] with z = (x - mean) / scale."""

    mean: np.ndarray
    scale: np.ndarray
    linear: np.ndarray
    factors: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        projected = z @ self.factors
        return z @ self.linear + 0.5 * ((projected**2).sum(-1) - (z**2) @ (self.factors**2).sum(-1))


def fit_pairwise_fm(
    features: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    n_factors: int = 2,
    epochs: int = 200,
    learning_rate: float = 0.05,
    regularization: float = 1e-2,
    seed: int = 42,
) -> FactorizationMachine:
    """Full-batch Adam on -log sigmoid(score(pos) - score(neg)), a fresh negative per positive each epoch."""
    rng = np.random.default_rng(seed)
    stacked = np.concatenate(features).astype(np.float64)
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0) + 1e-6
    z_rows = (stacked - mean) / scale
    offsets = np.cumsum([0] + [len(block) for block in features])
    flat_labels = np.concatenate(labels).astype(bool)
    positive = np.flatnonzero(flat_labels)
    owner = np.searchsorted(offsets, positive, side="right") - 1
    starts, sizes = offsets[owner], offsets[owner + 1] - offsets[owner]
    n_features = stacked.shape[1]
    params = [np.zeros(n_features), rng.normal(0.0, 0.01, (n_features, n_factors))]
    first = [np.zeros_like(param) for param in params]
    second = [np.zeros_like(param) for param in params]
    for step in range(1, epochs + 1):
        negative = starts + (rng.random(len(positive)) * sizes).astype(np.int64)
        usable = ~flat_labels[negative]
        gradients = _pairwise_gradients(
            params, z_rows[positive[usable]], z_rows[negative[usable]], regularization
        )
        for index, (param, gradient) in enumerate(zip(params, gradients, strict=True)):
            first[index] = 0.9 * first[index] + 0.1 * gradient
            second[index] = 0.999 * second[index] + 0.001 * gradient**2
            param -= (
                learning_rate
                * (first[index] / (1 - 0.9**step))
                / (np.sqrt(second[index] / (1 - 0.999**step)) + 1e-8)
            )
    return FactorizationMachine(mean=mean, scale=scale, linear=params[0], factors=params[1])


def _pairwise_gradients(
    params: list[np.ndarray], winners: np.ndarray, losers: np.ndarray, regularization: float
) -> list[np.ndarray]:
    linear, factors = params
    if len(winners) == 0:
        return [regularization * linear, regularization * factors]

    def forward(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        projected = rows @ factors
        return rows @ linear + 0.5 * ((projected**2).sum(1) - (rows**2) @ (factors**2).sum(1)), projected

    winner_scores, winner_projected = forward(winners)
    loser_scores, loser_projected = forward(losers)
    # d/d(margin) of -log sigmoid(margin), averaged over pairs.
    weight = -1.0 / (1.0 + np.exp(np.clip(winner_scores - loser_scores, -50, 50))) / len(winners)

    def factor_gradient(rows: np.ndarray, projected: np.ndarray) -> np.ndarray:
        return rows.T @ (weight[:, None] * projected) - factors * ((rows**2).T @ weight)[:, None]

    return [
        (winners - losers).T @ weight + regularization * linear,
        factor_gradient(winners, winner_projected)
        - factor_gradient(losers, loser_projected)
        + regularization * factors,
    ]


def build_fm_graph(model: FactorizationMachine) -> onnx.ModelProto:
    """features[n, F] → scores[n]; standardisation, linear and pairwise terms all inside the graph."""
    n_features = len(model.mean)
    constants = {
        "mean": model.mean.astype(np.float32),
        "scale": model.scale.astype(np.float32),
        "linear": model.linear.astype(np.float32).reshape(-1, 1),
        "factors": model.factors.astype(np.float32),
        "factors_squared": (model.factors**2).astype(np.float32),
        "half": np.array(0.5, dtype=np.float32),
        "axis": np.array([1], dtype=np.int64),
        "flat": np.array([-1], dtype=np.int64),
    }
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["z"]),
        helper.make_node("MatMul", ["z", "linear"], ["linear_term"]),
        helper.make_node("MatMul", ["z", "factors"], ["projected"]),
        helper.make_node("Mul", ["projected", "projected"], ["projected_squared"]),
        helper.make_node("ReduceSum", ["projected_squared", "axis"], ["square_of_sum"], keepdims=1),
        helper.make_node("Mul", ["z", "z"], ["z_squared"]),
        helper.make_node("MatMul", ["z_squared", "factors_squared"], ["squares"]),
        helper.make_node("ReduceSum", ["squares", "axis"], ["sum_of_squares"], keepdims=1),
        helper.make_node("Sub", ["square_of_sum", "sum_of_squares"], ["pairwise_twice"]),
        helper.make_node("Mul", ["pairwise_twice", "half"], ["pairwise"]),
        helper.make_node("Add", ["linear_term", "pairwise"], ["column"]),
        helper.make_node("Reshape", ["column", "flat"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes,
        "shelfwise_recommender_ranker",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", n_features])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n"])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    model_proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="shelfwise"
    )
    model_proto.ir_version = 8
    onnx.checker.check_model(model_proto)
    return model_proto


def item_context(pairs: pd.DataFrame, matrix: InteractionMatrix, catalog: pd.DataFrame) -> ItemContext:
    """Feature arrays in `matrix` item order from the pairs (popularity, activity time) and the catalog."""
    items = pd.Index(matrix.item_ids)
    share = np.asarray((matrix.matrix > 0).sum(axis=0)).ravel() / max(matrix.n_users, 1)
    mean_time = pairs.groupby("item_id")["timestamp"].mean().reindex(items).to_numpy(np.float64)
    described = _catalog_by_item(catalog, items)
    return ItemContext(
        popularity_share=share.astype(np.float32),
        category=_codes(described.get("category"), len(items)),
        brand=_codes(described.get("brand"), len(items)),
        price_band=_price_bands(described.get("price"), len(items)),
        mean_time=mean_time,
    )


def _catalog_by_item(catalog: pd.DataFrame, items: pd.Index) -> pd.DataFrame:
    if catalog.empty or "item_id" not in catalog.columns:
        return pd.DataFrame(index=items)
    frame = catalog.assign(item_id=catalog["item_id"].astype(str)).drop_duplicates("item_id", keep="last")
    return frame.set_index("item_id").reindex(items)


def _codes(values: pd.Series | None, n_items: int) -> np.ndarray:
    """Integer code per item, -1 where the value is missing (pandas' categorical codes do exactly that)."""
    if values is None:
        return np.full(n_items, -1, dtype=np.int32)
    return np.asarray(pd.Categorical(values.astype("string")).codes, dtype=np.int32)


def _price_bands(prices: pd.Series | None, n_items: int) -> np.ndarray:
    if prices is None:
        return np.full(n_items, -1, dtype=np.int8)
    numeric = pd.to_numeric(prices, errors="coerce").to_numpy(np.float64)
    known = np.isfinite(numeric)
    bands = np.full(len(numeric), -1, dtype=np.int8)
    if known.sum() >= PRICE_BANDS:
        edges = np.quantile(numeric[known], np.linspace(0, 1, PRICE_BANDS + 1)[1:-1])
        bands[known] = np.searchsorted(edges, numeric[known], side="right").astype(np.int8)
    return bands


def user_moments(pairs: pd.DataFrame, matrix: InteractionMatrix) -> np.ndarray:
    """Each matrix user's newest event time (epoch seconds); serving uses the request time instead."""
    newest = pairs.groupby("user_id")["timestamp"].max()
    return newest.reindex(pd.Index(matrix.user_ids)).fillna(newest.max()).to_numpy(np.float64)


ScoreFunction = Callable[[sparse.csr_matrix], np.ndarray]
# Fits a fresh retrieval model on (pairs, their matrix) and returns it fitted.
FitRetrieval = Callable[[pd.DataFrame, InteractionMatrix], FactorModel]


def candidate_lists(
    score_rows: ScoreFunction, matrix: InteractionMatrix, n_candidates: int, batch_size: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n unseen items per user and their retrieval scores (rows in matrix user order)."""
    all_candidates, all_scores = [], []
    for start in range(0, matrix.n_users, batch_size):
        block = matrix.matrix[start : start + batch_size]
        scores = np.asarray(score_rows(block), dtype=np.float64)
        best = top_k_unseen(scores, block, n_candidates)
        all_candidates.append(best)
        all_scores.append(np.take_along_axis(scores, best, axis=1))
    return np.concatenate(all_candidates), np.concatenate(all_scores)


def user_features(
    matrix: InteractionMatrix,
    candidates: np.ndarray,
    scores: np.ndarray,
    moments: np.ndarray,
    items: ItemContext,
) -> list[np.ndarray]:
    rows = matrix.matrix
    features = []
    for user in range(matrix.n_users):
        begin, end = rows.indptr[user], rows.indptr[user + 1]
        usable = np.isfinite(scores[user])
        features.append(
            candidate_features(
                scores[user][usable],
                candidates[user][usable],
                rows.indices[begin:end],
                rows.data[begin:end].astype(np.float64),
                float(moments[user]),
                items,
            )
        )
    return features


@dataclass
class RankerTrainingData:
    features: list[np.ndarray]
    labels: list[np.ndarray]
    positives: int


def ranker_training_data(
    train_pairs: pd.DataFrame,
    catalog: pd.DataFrame,
    fit_retrieval: FitRetrieval,
    n_candidates: int,
    seed: int,
) -> RankerTrainingData:
    """Candidate lists from a retrieval model fitted on a nested 75% and labels from the other 25%."""
    fit_pairs, label_pairs = stratified_user_split(train_pairs, 0.25, seed + 1)
    all_items = np.sort(train_pairs["item_id"].unique())
    matrix = InteractionMatrix.from_confidences(fit_pairs, item_ids=all_items)
    retrieval = fit_retrieval(fit_pairs, matrix)
    candidates, scores = candidate_lists(retrieval.score, matrix, n_candidates)
    items = item_context(fit_pairs, matrix, catalog)
    features = user_features(matrix, candidates, scores, user_moments(fit_pairs, matrix), items)
    truth = InteractionMatrix.from_confidences(
        label_pairs, item_ids=matrix.item_ids, user_ids=matrix.user_ids
    ).matrix
    labels = []
    for user in range(matrix.n_users):
        held_out = truth.indices[truth.indptr[user] : truth.indptr[user + 1]]
        labels.append(np.isin(candidates[user][np.isfinite(scores[user])], held_out))
    return RankerTrainingData(features=features, labels=labels, positives=int(sum(map(np.sum, labels))))


# Fewer held-out positives than this among the candidates cannot tell a better ranker from noise.
MIN_POSITIVES = 30


@dataclass
class RankerOutcome:
    kept: bool
    report: dict[str, object]
    model: FactorizationMachine | None = None
    # Each user's top-k after re-ranking, for the exposure and diversity measurements.
    reranked_lists: dict[object, list[object]] | None = None


def evaluate_ranker(
    fitted_retrieval: FactorModel,
    fit_retrieval: FitRetrieval,
    train_pairs: pd.DataFrame,
    test_pairs: pd.DataFrame,
    catalog: pd.DataFrame,
    *,
    k: int,
    n_candidates: int,
    n_factors: int,
    min_gain: float,
    seed: int,
) -> RankerOutcome:
    """Fit the FM on a nested split of the training side; compare top-k with and without it on hold-out."""
    data = ranker_training_data(train_pairs, catalog, fit_retrieval, n_candidates, seed)
    base = {"candidates": n_candidates, "features": list(FEATURE_NAMES), "training_positives": data.positives}
    if data.positives < MIN_POSITIVES:
        reason = f"only {data.positives} held-out positives among the candidates (need {MIN_POSITIVES})"
        return RankerOutcome(False, {**base, "kept": False, "reason": reason})
    model = fit_pairwise_fm(data.features, data.labels, n_factors=n_factors, seed=seed)
    matrix = InteractionMatrix.from_confidences(train_pairs)
    # A FactorModel scores rows the way serving does: the history's query vector · item_sideᵀ.
    candidates, scores = candidate_lists(fitted_retrieval.score, matrix, n_candidates)
    items = item_context(train_pairs, matrix, catalog)
    features = user_features(matrix, candidates, scores, user_moments(train_pairs, matrix), items)
    retrieval_lists, reranked_lists = {}, {}
    for user, block in enumerate(features):
        usable = candidates[user][np.isfinite(scores[user])]
        user_id = matrix.user_ids[user]
        retrieval_lists[user_id] = list(matrix.item_ids[usable[:k]])
        order = np.argsort(-model.predict(block), kind="stable")[:k]
        reranked_lists[user_id] = list(matrix.item_ids[usable[order]])
    relevant = test_pairs.groupby("user_id")["item_id"].agg(set).to_dict()
    share = dict(zip(matrix.item_ids, items.popularity_share.astype(float), strict=True))
    retrieval = ranking_report(
        retrieval_lists, relevant, k, item_popularity=share, n_catalog_items=matrix.n_items
    )
    reranked = ranking_report(
        reranked_lists, relevant, k, item_popularity=share, n_catalog_items=matrix.n_items
    )
    ndcg, recall = f"ndcg@{k}", f"recall@{k}"
    gain = reranked[ndcg] / retrieval[ndcg] - 1.0 if retrieval[ndcg] > 0 else 0.0
    recall_gain = reranked[recall] / retrieval[recall] - 1.0 if retrieval[recall] > 0 else 0.0
    # Recall may not drop; a negative min_gain (forcing the stage on, for tests) relaxes that as well.
    kept = gain >= min_gain and recall_gain >= min(min_gain, 0.0)
    verdict = "kept" if kept else "not kept"
    reason = (
        f"re-ranking the top {n_candidates} changes held-out nDCG@{k} {retrieval[ndcg]:.4f} → "
        f"{reranked[ndcg]:.4f} ({gain:+.1%}) and recall@{k} {retrieval[recall]:.4f} → "
        f"{reranked[recall]:.4f}; "
        f"{verdict} (needs ≥{min_gain:.0%} nDCG and no recall loss)"
    )
    report = {**base, "kept": kept, "reason": reason, "retrieval": retrieval, "reranked": reranked}
    return RankerOutcome(kept, report, model, reranked_lists)


def export_ranker(target: Path, model: FactorizationMachine, items: ItemContext, n_candidates: int) -> dict:
    """Write the FM graph and its item arrays next to the retrieval model; returns the manifest entry."""
    onnx.save_model(build_fm_graph(model), str(target / RANKER_GRAPH))
    items.save(target / RANKER_ITEMS)
    return {
        "graph": RANKER_GRAPH,
        "items": RANKER_ITEMS,
        "candidates": n_candidates,
        "features": list(FEATURE_NAMES),
    }
