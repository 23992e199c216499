"""Accuracy against coverage, exposure inequality and diversity of the optional re-rankers, on MovieLens-100k.

Same split and model as the quality benchmark (Recommenders' stratified split, seed 42; the setting it chose
on validation, fixed here), top-10 with training items removed. Each user's top `DEFAULT_POOL` candidates go
through `shelfwise.recommend.diversify.rerank`, the function serving runs, with the movies' genres as the
categories (a movie has several; calibration spreads it evenly over them, MMR compares genre sets). Results
go to the "Recommender" section of docs/benchmarks.md.

    .venv/bin/python benchmarks/recommender_fairness.py [--data ../shared/data/movielens-100k] [--no-write]

MovieLens is research-only data: it is read from outside the repository and never copied into it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO_ROOT, command_line, machine_line, markdown_table, write_section
from recommender_quality import Choice, K, load_catalog, load_pairs, recommenders_stratified_split
from shelfwise.recommend.diversify import (
    DEFAULT_POOL,
    RerankConfig,
    kl_divergence,
    label_distribution,
    rerank,
)
from shelfwise_recommender.data import InteractionMatrix, training_rows
from shelfwise_recommender.evaluate import top_k_unseen
from shelfwise_recommender.fairness import beyond_accuracy
from shelfwise_recommender.metrics import ranking_report

# The setting recommender_quality.py chose on validation (λ=500, EDLAE penalty 0.25, windows of 10, blended
# with the Mult-VAE), i.e. what the training job ships by default; fixed so this run does not re-tune it.
CHOSEN = Choice(500.0, 0.25, 10, True, [], "", "", False)
SETTINGS = [
    RerankConfig(),
    RerankConfig("mmr", 0.1),
    RerankConfig("mmr", 0.3),
    RerankConfig("mmr", 0.5),
    RerankConfig("calibrated", 0.3),
    RerankConfig("calibrated", 0.6),
    RerankConfig("calibrated", 0.9),
]


def genre_labels(data_dir: Path, item_ids: np.ndarray) -> np.ndarray:
    """(n_items, 19) genre indicator rows in `item_ids` order (u.item's flag columns)."""
    movies = pd.read_csv(data_dir / "u.item", sep="|", header=None, encoding="latin-1")
    flags = movies.iloc[:, 5:].to_numpy(np.float64)
    rows = pd.Index(movies[0].astype(str)).get_indexer(item_ids)
    return flags[rows]


def label(config: RerankConfig) -> str:
    return "off (model order)" if not config.enabled else f"{config.method} λ={config.weight:g}"


def reading(measured: list[tuple[str, float, float, float, float]]) -> str:
    """Per re-ranking setting: what it costs in nDCG@10 and what it buys, against the model order."""
    _, ndcg, coverage, gini, diversity = measured[0]
    parts = [
        f"{name}: nDCG@10 {value / ndcg - 1:+.1%}, coverage {cov - coverage:+.3f}, Gini {g - gini:+.3f}, "
        f"diversity {div - diversity:+.3f}"
        for name, value, cov, g, div in measured[1:]
    ]
    return (
        "Against the model's own order — "
        + "; ".join(parts)
        + ". Re-ranking by category changes which genres a list mixes far more than which items get shown "
        "at all: item-level exposure inequality (Gini) barely moves, because the candidates are still the "
        "model's top 50, drawn from the same popular head."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "movielens-100k")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if not (args.data / "u.data").is_file():
        print(f"MovieLens-100k not found at {args.data} (expected u.data); nothing to benchmark.")
        return 0
    pairs = load_pairs(args.data)
    catalog = load_catalog(args.data)
    train_pairs, test_pairs = recommenders_stratified_split(pairs, 0.75, seed=42)
    matrix = InteractionMatrix.from_confidences(train_pairs)
    started = time.perf_counter()
    model = CHOSEN.retrieval().fit(training_rows(train_pairs, matrix, CHOSEN.window, 1.0))  # type: ignore[attr-defined]
    print(f"fitted {CHOSEN.label} in {time.perf_counter() - started:.1f}s", flush=True)
    scores = model.score(matrix.matrix)
    candidates = top_k_unseen(scores, matrix.matrix, DEFAULT_POOL)
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    genres = genre_labels(args.data, matrix.item_ids)
    relevant = test_pairs.groupby("user_id")["item_id"].agg(set).to_dict()
    users = [row for row, user in enumerate(matrix.user_ids) if relevant.get(user)]
    share = np.asarray((matrix.matrix > 0).sum(axis=0)).ravel() / matrix.n_users
    popularity = dict(zip(matrix.item_ids, share, strict=True))
    genre_sets = {
        str(item): frozenset(np.flatnonzero(row).astype(str))
        for item, row in zip(matrix.item_ids, genres, strict=True)
    }
    histories = matrix.matrix.tocsr()
    rows = []
    measured: list[tuple[str, float, float, float, float]] = []
    for config in SETTINGS:
        lists: dict[object, list[object]] = {}
        miscalibration = []
        started = time.perf_counter()
        for row in users:
            history = histories.indices[histories.indptr[row] : histories.indptr[row + 1]]
            pool = candidates[row]
            chosen = pool[
                rerank(config, candidate_scores[row], genres[pool], genres[history], np.ones(len(history)), K)
            ]
            lists[matrix.user_ids[row]] = list(matrix.item_ids[chosen])
            target = label_distribution(genres[history])
            miscalibration.append(float(kl_divergence(target, label_distribution(genres[chosen]))))
        per_user_ms = (time.perf_counter() - started) * 1000 / len(users)
        accuracy = ranking_report(
            lists, relevant, K, item_popularity=popularity, n_catalog_items=matrix.n_items
        )
        spread = beyond_accuracy(
            lists,
            [matrix.user_ids[row] for row in users],
            catalog,
            train_pairs,
            test_pairs["item_id"],
            matrix.item_ids,
            K,
            item_labels=genre_sets,
        ).metrics
        cells = [
            label(config),
            f"{accuracy['ndcg@10']:.4f}",
            f"{accuracy['recall@10']:.4f}",
            f"{accuracy['catalog_coverage']:.3f}",
            f"{spread['exposure_gini']:.3f}",
            f"{spread['intra_list_diversity']:.3f}",
            f"{float(np.mean(miscalibration)):.3f}",
            f"{accuracy['mean_popularity_percentile']:.3f} / {spread['consumed_popularity_percentile']:.3f}",
            f"{spread['category_max_exposure_vs_interactions']:.2f}",
            f"{per_user_ms:.2f}",
        ]
        print(" | ".join(cells), flush=True)
        rows.append(cells)
        measured.append(
            (
                label(config),
                accuracy["ndcg@10"],
                accuracy["catalog_coverage"],
                spread["exposure_gini"],
                spread["intra_list_diversity"],
            )
        )
    table = markdown_table(
        [
            "re-ranking",
            "nDCG@10",
            "R@10",
            "coverage",
            "exposure Gini",
            "intra-list diversity",
            "miscalibration (KL)",
            "popularity pct recommended / consumed",
            "max genre exposure / interactions",
            "re-rank ms per user",
        ],
        rows,
    )
    body = "\n\n".join(
        [
            "The optional re-ranking step (`SHELFWISE_RECOMMEND_RERANK`, off by default; "
            "`shelfwise.recommend.diversify`) on the quality benchmark's split (Recommenders' stratified "
            f"split, seed 42) and its chosen model ({CHOSEN.label}), top-10 with training items removed, "
            f"{len(users)} users with held-out items. Every setting picks from the same top "
            f"{DEFAULT_POOL} candidates per user, as serving does. The movies' genres are the categories: "
            "calibration (Steck 2018) spreads a movie evenly over its genres and matches the genre mix of "
            "the user's training history; MMR penalises a candidate by its largest genre-set Jaccard "
            "overlap with a movie already in the list. λ is the weight on variety (relevance is the model "
            "score min-max scaled over the candidates).",
            "*coverage*: share of the catalog's items in anybody's top-10. *exposure Gini*: inequality of "
            "recommendation slots across items (0 = every item shown equally often). *intra-list "
            "diversity*: mean pairwise 1 - Jaccard of two listed movies' genre sets. *miscalibration*: mean "
            "KL(history genre mix || list genre mix), smoothed as in Steck (a = 0.01). *popularity pct*: "
            "mean share of items less popular than a recommended one vs than a held-out (consumed) one. "
            "*max genre exposure*: the largest ratio of a genre's (first genre) share of slots to its share "
            "of training ratings.",
            table,
            reading(measured),
            machine_line(),
            f"Command: `{command_line()}`",
        ]
    )
    if not args.no_write:
        write_section("Recommender", "Fairness and diversity re-ranking (MovieLens-100k)", body)
        print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
