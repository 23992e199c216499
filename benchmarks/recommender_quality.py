"""Recommender quality on MovieLens-100k under the Microsoft Recommenders protocol.

Per-user stratified random 75/25 split (seed 42), top-10, items seen in training removed from the candidates,
binary relevance (every rating counts as a positive). Every candidate model and the popularity baseline are
trained and scored in the same run; results go to the "Recommender" section of docs/benchmarks.md.

    .venv/bin/python benchmarks/recommender_quality.py [--data ../shared/data/movielens-100k] [--no-write]

MovieLens is research-only data: it is read from outside the repository and never copied into it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training" / "recommender"))

from _common import REPO_ROOT, command_line, machine_line, markdown_table, write_section
from recommender.data import InteractionMatrix
from recommender.evaluate import evaluate_model
from recommender.models import Ease, EaseLowRank, EaseSvd, Ials, Popularity
from recommender.split import stratified_user_split

K = 10
CANDIDATES = [
    ("popularity", lambda: Popularity()),
    ("EASE (exact, λ=500)", lambda: Ease(500.0)),
    ("EASE low-rank r=64 (λ=500)", lambda: EaseLowRank(500.0, 64)),
    ("EASE low-rank r=128 (λ=500)", lambda: EaseLowRank(500.0, 128)),
    ("EASE low-rank r=256 (λ=500) — default", lambda: EaseLowRank(500.0, 256)),
    ("EASE + SVD of B r=256 (λ=500)", lambda: EaseSvd(500.0, 256)),
    ("iALS f=64 (λ=3, alpha=2, 10 it)", lambda: Ials(64, 3.0, 2.0, 10)),
    ("iALS f=64 (λ=10, alpha=5, 10 it)", lambda: Ials(64, 10.0, 5.0, 10)),
    ("iALS f=128 (λ=30, alpha=10, 10 it)", lambda: Ials(128, 30.0, 10.0, 10)),
]


def load_pairs(data_dir: Path) -> pd.DataFrame:
    ratings = pd.read_csv(
        data_dir / "u.data", sep="\t", names=["user_id", "item_id", "rating", "timestamp"], dtype=str
    )
    return ratings.assign(confidence=1.0)[["user_id", "item_id", "confidence", "timestamp"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "movielens-100k")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if not (args.data / "u.data").is_file():
        print(f"MovieLens-100k not found at {args.data} (expected u.data); nothing to benchmark.")
        return 0
    pairs = load_pairs(args.data)
    train_pairs, test_pairs = stratified_user_split(pairs, 0.25, seed=42)
    matrix = InteractionMatrix.from_confidences(train_pairs)
    print(
        f"{len(train_pairs)} train / {len(test_pairs)} test pairs, "
        f"{matrix.n_users} users x {matrix.n_items} items"
    )
    rows = []
    for label, factory in CANDIDATES:
        result = evaluate_model(factory(), matrix, test_pairs, K)
        m = result.metrics
        print(
            f"{label:40s} ndcg@10={m['ndcg@10']:.4f} p@10={m['precision@10']:.4f} r@10={m['recall@10']:.4f} "
            f"map@10={m['map@10']:.4f} coverage={m['catalog_coverage']:.3f} "
            f"train={result.train_seconds:.2f}s",
            flush=True,
        )
        rows.append(
            [
                label,
                f"{m['ndcg@10']:.4f}",
                f"{m['precision@10']:.4f}",
                f"{m['recall@10']:.4f}",
                f"{m['map@10']:.4f}",
                f"{m['map_full@10']:.4f}",
                f"{m['catalog_coverage']:.3f}",
                f"{m['novelty_bits']:.2f}",
                f"{result.train_seconds:.2f}",
            ]
        )
    table = markdown_table(
        [
            "model",
            "nDCG@10",
            "P@10",
            "R@10",
            "MAP@10",
            "MAP (/ n_rel)",
            "coverage",
            "novelty (bits)",
            "train s",
        ],
        rows,
    )
    body = "\n\n".join(
        [
            "MovieLens-100k (read from `../shared/data/movielens-100k`, never copied into the repository), "
            "Microsoft Recommenders protocol: per-user stratified random 75/25 split (seed 42), top-10, "
            "training items removed from the candidates, binary relevance. MAP@10 divides by min(n_rel, 10) "
            "like Recommenders' `map_at_k`; the next column divides by n_rel, the number of held-out "
            "items (its older `map`). "
            "Novelty is the mean -log2 of the share of training users who had the item. "
            "Training seconds are wall-clock on a "
            "shared, noisy 2-core machine.",
            table,
            machine_line(),
            f"Command: `{command_line()}`",
        ]
    )
    if not args.no_write:
        write_section("Recommender", "Quality (MovieLens-100k)", body)
        print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
