"""The training job end to end: weight events, evaluate on a hold-out, fit on all data, export, self-check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from .config import TrainConfig
from .data import InteractionMatrix, TrainingDataError, event_confidences, training_rows
from .evaluate import evaluate_model, top_k_unseen
from .export import ExportInputs, export_model, finalize_version, manifest_header
from .factory import build_model
from .fairness import beyond_accuracy
from .interface import FactorModel, ServingFactors
from .models import Popularity
from .progress import Progress
from .ranking import RankerOutcome, evaluate_ranker, export_ranker, item_context
from .recency import choose_recency_boost
from .split import stratified_user_split
from .vae import EaseVaeBlend, VaeConfig

SERVABLE_MODELS = ("ease_vae", "ease_lowrank", "ease_svd", "ials")
# Below this many users a hold-out says more about noise than about the model, so it is skipped.
MIN_USERS_FOR_EVALUATION = 20
# The registry compares gate metrics only between versions that share this key.
COMPARABLE_KEY = "recommender-v1"
MAX_LIFT = 100.0
# The job warns when more than MOSTLY_DECAYED of the pairs weigh under LOW_WEIGHT (see weight_distribution).
LOW_WEIGHT = 0.1
MOSTLY_DECAYED = 0.5
# Exposure and diversity numbers the registry records next to the gate metrics (and `GET /v1/models` shows).
# They are not compared between versions (a lower Gini is better, a higher nDCG is better; the bounded drop
# assumes higher is better), but a floor can be set on any of them (e.g. catalog_coverage).
REPORTED_METRICS = (
    "catalog_coverage",
    "exposure_gini",
    "intra_list_diversity",
    "mean_popularity_percentile",
    "consumed_popularity_percentile",
    "popularity_bias",
    *(
        f"{group}_{name}"
        for group in ("category", "brand")
        for name in (
            "max_exposure_vs_catalog",
            "max_exposure_vs_interactions",
            "exposure_tv_vs_interactions",
            "share_exposed",
        )
    ),
)


@dataclass
class TrainResult:
    model_dir: Path
    metrics: dict[str, Any]


def model_kind(config: TrainConfig, n_items: int) -> str:
    """The configured model, with the VAE blend left out for catalogs above `vae_max_items`."""
    if config.model == "ease_vae" and n_items > config.vae_max_items:
        return "ease_lowrank"
    return config.model


def serving_rank(config: TrainConfig, n_items: int) -> int:
    """The configured rank, lowered so the int8 serving matrix stays within the latency budget's size.

    Serving reads the whole items x dims matrix per request; the 1M-item latency target holds at 64
    dimensions (64 MB), so larger catalogs get proportionally fewer dimensions, never fewer than 16. The VAE
    blend's own dimensions come out of the same budget.
    """
    budget = config.serving_matrix_bytes // max(n_items, 1)
    if model_kind(config, n_items) == "ease_vae":
        budget -= VaeConfig().hidden + 1
    return max(min(config.rank, budget), 16)


def _model_from_config(config: TrainConfig, n_items: int) -> FactorModel:
    """The retrieval model the configuration asks for; every servable kind is a FactorModel."""
    model = build_model(
        model_kind(config, n_items),
        l2=config.l2,
        rank=serving_rank(config, n_items),
        ials_factors=config.ials_factors,
        ials_regularization=config.ials_regularization,
        ials_alpha=config.ials_alpha,
        ials_iterations=config.ials_iterations,
        seed=config.seed,
        diagonal_penalty=config.diagonal_penalty,
        vae_weight=config.vae_weight,
        vae_steps=config.vae_steps,
    )
    if not isinstance(model, FactorModel):
        raise TrainingDataError(f"model {model.name!r} cannot be served; choose one of {SERVABLE_MODELS}")
    return model


def _fit_rows(config: TrainConfig, pairs: pd.DataFrame, matrix: InteractionMatrix):
    return training_rows(pairs, matrix, config.sequence_window, config.sequence_weight)


def _candidate_model(config: TrainConfig, n_items: int) -> FactorModel:
    """The retrieval model whose candidate lists train the ranking stage.

    The configured model, except that the EASE + Mult-VAE blend contributes its EASE half alone: a third VAE
    fit would cost as much as the rest of the job, and the stage is kept or dropped on the hold-out by
    re-ranking the served model's own candidates, so a stage that does not carry over is not shipped.
    """
    model = _model_from_config(config, n_items)
    return model.linear if isinstance(model, EaseVaeBlend) else model


def _fit_candidate_model(
    config: TrainConfig, progress: Progress
) -> Callable[[pd.DataFrame, InteractionMatrix], FactorModel]:
    return lambda pairs, matrix: _candidate_model(config, matrix.n_items).fit(
        _fit_rows(config, pairs, matrix), progress.step
    )


def train(
    interactions: pd.DataFrame,
    catalog: pd.DataFrame,
    config: TrainConfig,
    model_root: Path,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> TrainResult:
    progress = progress or Progress()
    if config.model not in SERVABLE_MODELS:
        raise TrainingDataError(f"model {config.model!r} cannot be served; choose one of {SERVABLE_MODELS}")
    pairs = event_confidences(interactions, config.weighting)
    progress.step(f"weighted {len(interactions)} events into {len(pairs)} user-item pairs")
    metrics: dict[str, Any] = {"k": config.top_k, "pairs": len(pairs), "evaluation": {}, "train_seconds": {}}
    metrics["weights"] = weight_distribution(pairs, config, progress)
    holdout, ranker = holdout_evaluation(pairs, catalog, config, progress)
    metrics.update(holdout)
    started = progress.elapsed
    metrics["recency"] = recency_choice(pairs, config, progress)
    metrics["train_seconds"]["recency"] = round(progress.elapsed - started, 3)

    item_ids, categories = _catalog_items(pairs, catalog)
    matrix = InteractionMatrix.from_confidences(pairs, item_ids=item_ids)
    model = _model_from_config(config, matrix.n_items)
    started = progress.elapsed
    model.fit(_fit_rows(config, pairs, matrix), progress.step)
    metrics["train_seconds"]["final_fit"] = round(progress.elapsed - started, 3)
    factors: ServingFactors = model.serving_factors()
    counts = np.asarray((matrix.matrix > 0).sum(axis=0)).ravel()
    order = np.argsort(-counts, kind="stable")[: config.popular_items]
    popularity = [(str(matrix.item_ids[index]), float(counts[index])) for index in order if counts[index] > 0]
    progress.step(f"fitted {model.name} on {matrix.n_users} users x {matrix.n_items} items")

    inputs = ExportInputs(
        factors=factors,
        matrix=matrix,
        item_categories=categories,
        popularity=popularity,
        # Serving folds new events into a user's training history on this clock (the newest event trained on).
        # and counts the events newer than it `recency_boost` times their weight (recency.py).
        weighting={
            **config.weighting.to_dict(),
            "reference_time": float(pairs["timestamp"].max()),
            "recency_boost": metrics["recency"]["boost"],
        },
        metrics=metrics,
        config=config.to_dict(),
        quantize=config.quantize,
    )
    model_dir = export_model(inputs, model_root, now)
    header = manifest_header(inputs, model_dir.name, now)
    if ranker is not None and ranker.kept and ranker.model is not None:
        items = item_context(pairs, matrix, catalog)
        header["ranker"] = export_ranker(model_dir, ranker.model, items, config.ranker_candidates)
        progress.step(f"exported the ranking stage ({len(items.category)} items)")
    metrics["scorer_recall_vs_exact"] = scorer_agreement(
        model_dir, factors, matrix, config.top_k, config.seed
    )
    manifest = finalize_version(model_dir, header, metrics)
    progress.step(
        f"exported {model_dir.name} ({len(manifest['files'])} files); ONNX top-{config.top_k} agrees with "
        f"exact scoring on {metrics['scorer_recall_vs_exact']:.3f} of items"
    )
    return TrainResult(model_dir=model_dir, metrics=metrics)


def recency_choice(pairs: pd.DataFrame, config: TrainConfig, progress: Progress) -> dict[str, Any]:
    """The boost of events newer than the model: the configured one, or the best on a time-ordered carve."""
    if config.recency_boost is not None:
        progress.step(f"recency boost {config.recency_boost:g} (set by the deployment; not chosen)")
        return {"boost": float(config.recency_boost), "chosen": "set by the deployment"}
    if _holdout_skip_reason(pairs) is not None or "timestamp" not in pairs.columns:
        reason = _holdout_skip_reason(pairs) or "the pairs have no timestamps"
        progress.step(f"recency boost 1 (not chosen: {reason})")
        return {"boost": 1.0, "skipped": reason}
    report = choose_recency_boost(
        pairs,
        _fit_candidate_model(config, progress),
        config.recency_boosts,
        config.recency_new_fraction,
        config.recency_holdout_fraction,
        config.top_k,
    )
    if "skipped" in report:
        progress.step(f"recency boost 1 (not chosen: {report['skipped']})")
    else:
        table = ", ".join(f"{boost}: {ndcg:.4f}" for boost, ndcg in report["validation"].items())
        progress.step(
            f"recency boost {report['boost']:g} chosen on a time-ordered carve of the training pairs "
            f"({report['users_evaluated']} users, {report['model']}; {report['metric']} by boost: {table})"
        )
    return report


def weight_distribution(pairs: pd.DataFrame, config: TrainConfig, progress: Progress) -> dict[str, float]:
    """Quantiles of the pairs' effective weights, and a warning when recency decay wipes most of them out.

    With the default 120-day half-life, data spanning years (a catalog of old ratings) keeps only its last
    months: the model then learns from a sliver of the history without saying so.
    """
    confidences = pairs["confidence"].to_numpy(dtype=np.float64)
    low = float(np.mean(confidences < LOW_WEIGHT))
    quantiles = np.quantile(confidences, (0.1, 0.5, 0.9))
    spread = dict(zip(("p10", "p50", "p90"), (round(float(value), 6) for value in quantiles), strict=True))
    report = {"share_below_0_1": round(low, 6), **spread}
    progress.step(
        f"effective weights: p10 {spread['p10']:.3g}, median {spread['p50']:.3g}, p90 {spread['p90']:.3g}; "
        f"{low:.1%} of pairs below {LOW_WEIGHT:g}"
    )
    if low > MOSTLY_DECAYED:
        progress.warn(
            f"{low:.0%} of user-item pairs weigh less than {LOW_WEIGHT:g} after recency decay "
            f"(half-life {config.weighting.half_life_days} days over "
            f"{_span_days(pairs):.0f} days of data): most of the history barely counts. Set the "
            "recommender's `half_life_days` hyperparameter to fit the data (0 turns decay off); see "
            "docs/configuration.md."
        )
    return report


def _span_days(pairs: pd.DataFrame) -> float:
    return float(pairs["timestamp"].max() - pairs["timestamp"].min()) / 86_400.0


def holdout_evaluation(
    pairs: pd.DataFrame, catalog: pd.DataFrame, config: TrainConfig, progress: Progress
) -> tuple[dict[str, Any], RankerOutcome | None]:
    """Popularity, the configured model and the ranking stage on a per-user random hold-out, and the gate.

    The split holds out `holdout_fraction` of each user's items at random (the Microsoft Recommenders
    protocol) rather than the newest ones: a time split would leave the users who were quiet lately out of
    the measurement, and the gate compares versions, so what matters is that every version is measured the
    same way. With too little data the gate is written empty with the reason, and the model is still written.
    """
    k = config.top_k
    skipped = _holdout_skip_reason(pairs)
    test_pairs = pd.DataFrame()
    if skipped is None:
        train_pairs, test_pairs = stratified_user_split(pairs, config.holdout_fraction, config.seed)
        if test_pairs.empty:
            skipped = "no user has more than one item, so nothing can be held out"
    if skipped is not None:
        progress.step(f"skipping the hold-out evaluation: {skipped}")
        return {
            "holdout": {"skipped": skipped},
            "gate": {"metrics": {}, "comparable_key": COMPARABLE_KEY, "skipped": skipped},
            "ranker": {"kept": False, "reason": f"not evaluated: {skipped}"},
        }, None
    train_matrix = InteractionMatrix.from_confidences(train_pairs)
    evaluation: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    retrieval = _model_from_config(config, train_matrix.n_items)
    evaluated_users = test_pairs["user_id"].unique()

    def fairness(lists: dict[object, list[object]]) -> Any:
        return beyond_accuracy(
            lists, evaluated_users, catalog, train_pairs, test_pairs["item_id"], train_matrix.item_ids, k
        )

    tables: dict[str, Any] = {}
    for kind in ("popularity", retrieval.name):
        model = Popularity() if kind == "popularity" else retrieval
        rows = _fit_rows(config, train_pairs, train_matrix) if model is retrieval else None
        result = evaluate_model(model, train_matrix, test_pairs, k, progress=progress.step, fit_rows=rows)
        measured = fairness(result.recommendations)
        evaluation[kind] = {**result.metrics, **measured.metrics}
        tables = measured.tables
        seconds[f"holdout_{kind}"] = round(result.train_seconds, 3)
        progress.step(
            f"hold-out {kind}: ndcg@{k}={result.metrics[f'ndcg@{k}']:.4f} "
            f"recall@{k}={result.metrics[f'recall@{k}']:.4f} map@{k}={result.metrics[f'map@{k}']:.4f}"
        )
    served = evaluation[retrieval.name]
    ranker = None
    ranker_report: dict[str, Any] = {"kept": False, "reason": "turned off (--ranker off)"}
    if config.ranker == "auto":
        started = progress.elapsed
        ranker = evaluate_ranker(
            retrieval,
            _fit_candidate_model(config, progress),
            train_pairs,
            test_pairs,
            catalog,
            k=k,
            n_candidates=config.ranker_candidates,
            n_factors=config.ranker_factors,
            min_gain=config.ranker_min_gain,
            seed=config.seed,
        )
        seconds["ranker"] = round(progress.elapsed - started, 3)
        ranker_report = ranker.report
        progress.step(f"ranking stage: {ranker_report['reason']}")
        if ranker.kept:
            measured = fairness(ranker.reranked_lists or {})
            served = evaluation[f"{retrieval.name}+fm_ranker"] = {
                **ranker_report["reranked"],  # type: ignore[dict-item]
                **measured.metrics,
            }
            tables = measured.tables
    lift = ndcg_lift(served[f"ndcg@{k}"], evaluation["popularity"][f"ndcg@{k}"])
    return {
        "holdout": {
            "protocol": f"per-user random {config.holdout_fraction:.0%} of each user's items "
            f"(seed {config.seed})",
            "train_pairs": len(train_pairs),
            "test_pairs": len(test_pairs),
            "users_evaluated": int(served["users_evaluated"]),
        },
        "evaluation": evaluation,
        "train_seconds": seconds,
        "gate": {
            "metrics": {
                "ndcg_at_10": served[f"ndcg@{k}"],
                "recall_at_10": served[f"recall@{k}"],
                "ndcg_lift_over_popularity": lift,
            },
            "comparable_key": COMPARABLE_KEY,
            "reported": {name: served[name] for name in REPORTED_METRICS if name in served},
        },
        "ranker": ranker_report,
        # Per brand / category exposure of the served lists; the model card prints it in full.
        "exposure": tables,
    }, ranker


def ndcg_lift(model_ndcg: float, popularity_ndcg: float) -> float:
    """model / popularity nDCG; when popularity scores nothing the ratio is capped so it stays a number."""
    if popularity_ndcg <= 0:
        return MAX_LIFT if model_ndcg > 0 else 1.0
    return min(model_ndcg / popularity_ndcg, MAX_LIFT)


def _holdout_skip_reason(pairs: pd.DataFrame) -> str | None:
    users = pairs["user_id"].nunique()
    if users < MIN_USERS_FOR_EVALUATION:
        return f"only {users} users; at least {MIN_USERS_FOR_EVALUATION} are needed for a meaningful hold-out"
    return None


def _catalog_items(pairs: pd.DataFrame, catalog: pd.DataFrame) -> tuple[np.ndarray, list[str | None]]:
    """Every item that was interacted with or is in the catalog, in a stable order, with its category."""
    known = set(pairs["item_id"].astype(str))
    category_of: dict[str, str | None] = {}
    if not catalog.empty and "item_id" in catalog.columns:
        ids = catalog["item_id"].astype(str)
        cats = catalog["category"] if "category" in catalog.columns else pd.Series([None] * len(catalog))
        category_of = {
            item: (None if pd.isna(category) else str(category))
            for item, category in zip(ids, cats, strict=True)
        }
        known |= set(ids)
    item_ids = np.array(sorted(known), dtype=object)
    return item_ids, [category_of.get(item) for item in item_ids]


def scorer_agreement(
    model_dir: Path, factors: ServingFactors, matrix: InteractionMatrix, k: int, seed: int, users: int = 200
) -> float:
    """Share of the exact top-k (numpy, fp32) that the exported ONNX graph also puts in its top-k."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        str(model_dir / "scorer.onnx"), options, providers=["CPUExecutionProvider"]
    )
    scales = np.load(model_dir / "item_scales.npy")
    rng = np.random.default_rng(seed)
    rows = rng.choice(matrix.n_users, size=min(users, matrix.n_users), replace=False)
    k = min(k, matrix.n_items)
    agreed = 0
    total = 0
    for row in rows:
        history = matrix.matrix[row]
        query = np.asarray(factors.queries(history), dtype=np.float32).reshape(1, -1)
        exact = top_k_unseen(query @ factors.item_side.T, history, k)[0]
        bias = np.zeros(matrix.n_items, dtype=np.float32)
        bias[history.indices] = -np.inf
        _, indices = session.run(
            None, {"query": query, "column_scale": scales, "score_bias": bias, "k": np.array([k], np.int64)}
        )
        agreed += len(set(exact.tolist()) & set(indices[0].tolist()))
        total += len(exact)
    return agreed / total if total else 1.0
