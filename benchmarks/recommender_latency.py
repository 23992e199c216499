"""Recommender serving latency: the ONNX scorer (as served) against a plain numpy matmul + argpartition.

For each synthetic catalog (default 10k, 100k and 1M items x 64 dims) a model directory is exported with the
training library, loaded with `shelfwise.recommend.Recommender`, and both paths rank the same requests in
the same process on one thread. Reports p50/p99, the ratio, how often the served top-10 equals the exact
top-10, and cold start (imports + model load in a fresh process). One more row times a whole API answer:
`RecommendationService` (what the recommendations function calls) over a catalog table in DynamoDB (moto,
in process).

    .venv/bin/python benchmarks/recommender_latency.py [--sizes 10000,100000,1000000] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line, machine_line, markdown_table, write_section
from shelfwise.aws import dynamodb
from shelfwise.ingest.activity import RecentEvent
from shelfwise.model_serving import ServedModel
from shelfwise.recommend import Recommender
from shelfwise.recommend.history_encoder import HistoryEncoder, item_covariance
from shelfwise.recommend.ranker import FEATURE_NAMES, PRICE_BANDS, ItemContext
from shelfwise.recommend.service import CatalogTitles, RecommendationService, catalog_category
from shelfwise_recommender.config import TrainConfig
from shelfwise_recommender.data import InteractionMatrix
from shelfwise_recommender.export import ExportInputs, export_model, finalize_version, manifest_header
from shelfwise_recommender.interface import ServingFactors
from shelfwise_recommender.pipeline import serving_rank
from shelfwise_recommender.ranking import FactorizationMachine, export_ranker
from shelfwise_recommender.vae import VaeConfig

DIMS = 64
K = 10
HISTORY = 10
RANKER_CANDIDATES = 100
# Share of the catalog marked out of stock in the "in stock only" column.
OUT_OF_STOCK_SHARE = 0.1


def synthetic_encoder(rng: np.random.Generator, n_items: int, linear: np.ndarray, decoder: np.ndarray):
    """A Mult-VAE encoder with random weights of the trained shape: its cost does not depend on the values."""
    vae = VaeConfig()
    return HistoryEncoder(
        input_weights=rng.standard_normal((n_items, vae.hidden), dtype=np.float32) * 0.05,
        input_bias=np.zeros(vae.hidden, np.float32),
        latent_weights=rng.standard_normal((vae.hidden, vae.latent), dtype=np.float32) * 0.05,
        latent_bias=np.zeros(vae.latent, np.float32),
        output_weights=rng.standard_normal((vae.latent, vae.hidden), dtype=np.float32) * 0.1,
        output_bias=np.zeros(vae.hidden, np.float32),
        linear_covariance=item_covariance(linear),
        encoder_covariance=item_covariance(decoder),
        weight=1.0,
    )


def synthetic_model(
    n_items: int, root: Path, quantize: str, linear_dims: int = DIMS, blend: bool = False
) -> Path:
    """Factors with realistic spread: item norms vary (popular items score higher), like trained models.
    With `blend`, a Mult-VAE's decoder dimensions and encoder are added as the ease_vae model ships them."""
    rng = np.random.default_rng(0)
    item_side = rng.standard_normal((n_items, linear_dims), dtype=np.float32) * rng.gamma(
        2.0, 0.5, (n_items, 1)
    ).astype(np.float32)
    user_side = rng.standard_normal((n_items, linear_dims), dtype=np.float32)
    encoder = None
    if blend:
        decoder = rng.standard_normal((n_items, VaeConfig().hidden + 1), dtype=np.float32)
        encoder = synthetic_encoder(rng, n_items, item_side, decoder)
        item_side = np.ascontiguousarray(np.hstack([item_side, decoder]))
    pairs = pd.DataFrame({"user_id": ["u0"], "item_id": ["0"], "confidence": [1.0]})
    item_ids = np.array([str(index) for index in range(n_items)], dtype=object)
    inputs = ExportInputs(
        factors=ServingFactors(user_side=user_side, item_side=item_side, encoder=encoder),
        matrix=InteractionMatrix.from_confidences(pairs, item_ids=item_ids),
        item_categories=[f"c{index % 50}" for index in range(n_items)],
        popularity=[("0", 1.0)],
        weighting={"event_weights": {"view": 1.0}, "half_life_days": None},
        metrics={},
        config={"model": "synthetic", "quantize": quantize},
        quantize=quantize,
    )
    model_dir = export_model(inputs, root / quantize)
    header = manifest_header(inputs, model_dir.name)
    # A ranking stage with the shipped feature set and random weights: its cost does not depend on them.
    items = ItemContext(
        popularity_share=rng.uniform(0, 0.1, n_items).astype(np.float32),
        category=(np.arange(n_items) % 50).astype(np.int32),
        brand=(np.arange(n_items) % 300).astype(np.int32),
        price_band=(np.arange(n_items) % PRICE_BANDS).astype(np.int8),
        mean_time=rng.uniform(0, 180 * 86_400.0, n_items),
    )
    fm = FactorizationMachine(
        mean=np.zeros(len(FEATURE_NAMES)),
        scale=np.ones(len(FEATURE_NAMES)),
        linear=rng.standard_normal(len(FEATURE_NAMES)),
        factors=rng.standard_normal((len(FEATURE_NAMES), 2)),
    )
    header["ranker"] = export_ranker(model_dir, fm, items, RANKER_CANDIDATES)
    finalize_version(model_dir, header, {})
    return model_dir


def percentiles(samples: list[float]) -> tuple[float, float]:
    values = np.array(samples) * 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def cold_start_seconds(model_dir: Path) -> float:
    code = (
        "import time; started = time.perf_counter()\n"
        "from shelfwise.recommend import Recommender\n"
        f"model = Recommender.load({str(model_dir)!r})\n"
        "model.recommend([('1', 1.0)], k=10)\n"
        "print(time.perf_counter() - started)\n"
    )
    runs = [float(subprocess.check_output([sys.executable, "-c", code], text=True).strip()) for _ in range(3)]
    return min(runs)


def measure(n_items: int, requests: int, root: Path) -> dict[str, float]:
    model_dir = synthetic_model(n_items, root, "int8")
    ranked = Recommender.load(model_dir)
    recommender = Recommender.load(model_dir, use_ranker=False)
    user_side = np.load(model_dir / "user_factors.npy")
    item_side = np.load(model_dir / "item_factors.npy")
    rng = np.random.default_rng(1)
    histories = [rng.choice(n_items, size=HISTORY, replace=False) for _ in range(requests)]
    sold_out = rng.choice(n_items, size=int(n_items * OUT_OF_STOCK_SHARE), replace=False)
    unavailable = frozenset(str(index) for index in sold_out)

    def numpy_baseline(history: np.ndarray) -> np.ndarray:
        query = user_side[history].sum(axis=0)
        scores = item_side @ query
        scores[history] = -np.inf
        best = np.argpartition(-scores, K)[:K]
        return best[np.argsort(-scores[best])]

    served_times: list[float] = []
    in_stock_times: list[float] = []
    ranked_times: list[float] = []
    numpy_times: list[float] = []
    agreement: list[float] = []
    for history in histories:  # interleaved, so noise from other processes hits both paths alike
        request = [(str(index), 1.0) for index in history]
        started = time.perf_counter()
        served = recommender.recommend(request, k=K)
        served_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        recommender.recommend(request, k=K, unavailable=unavailable)
        in_stock_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        ranked.recommend(request, k=K, now=90 * 86_400.0)
        ranked_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        exact = numpy_baseline(history)
        numpy_times.append(time.perf_counter() - started)
        agreement.append(len({int(rec.item_id) for rec in served} & set(exact.tolist())) / K)
    served_p50, served_p99 = percentiles(served_times)
    numpy_p50, numpy_p99 = percentiles(numpy_times)
    ranked_p50, ranked_p99 = percentiles(ranked_times)
    in_stock_p50, in_stock_p99 = percentiles(in_stock_times)
    return {
        "in_stock_p50": in_stock_p50,
        "in_stock_p99": in_stock_p99,
        "ranked_p50": ranked_p50,
        "ranked_p99": ranked_p99,
        "served_p50": served_p50,
        "served_p99": served_p99,
        "numpy_p50": numpy_p50,
        "numpy_p99": numpy_p99,
        "recall": float(np.mean(agreement)),
        "cold_start": cold_start_seconds(model_dir),
    }


def measure_blend(n_items: int, requests: int, root: Path) -> dict[str, float]:
    """The ease_vae model at its catalog cap: EASE's dims (what the budget leaves) plus the VAE's 301 and its
    encoder, served as shipped, against numpy scoring the same blended query in fp32."""
    linear_dims = serving_rank(TrainConfig(), n_items)
    model_dir = synthetic_model(n_items, root, "int8", linear_dims=linear_dims, blend=True)
    recommender = Recommender.load(model_dir, use_ranker=False)
    user_side = np.load(model_dir / "user_factors.npy")
    item_side = np.load(model_dir / "item_factors.npy")
    encoder = HistoryEncoder.load(model_dir / "history_encoder.npz")
    rng = np.random.default_rng(1)
    served_times: list[float] = []
    numpy_times: list[float] = []
    agreement: list[float] = []
    for _ in range(requests):
        history = rng.choice(n_items, size=HISTORY, replace=False)
        request = [(str(index), 1.0) for index in history]
        started = time.perf_counter()
        served = recommender.recommend(request, k=K)
        served_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        weights = np.ones(HISTORY, dtype=np.float32)
        query = encoder.blend(weights @ user_side[history], encoder.hidden_sparse(history, weights))[0]
        scores = item_side @ query
        scores[history] = -np.inf
        best = np.argpartition(-scores, K)[:K]
        numpy_times.append(time.perf_counter() - started)
        agreement.append(len({int(rec.item_id) for rec in served} & set(best.tolist())) / K)
    served_p50, served_p99 = percentiles(served_times)
    numpy_p50, numpy_p99 = percentiles(numpy_times)
    return {
        "dims": float(item_side.shape[1]),
        "served_p50": served_p50,
        "served_p99": served_p99,
        "numpy_p50": numpy_p50,
        "numpy_p99": numpy_p99,
        "recall": float(np.mean(agreement)),
        "cold_start": cold_start_seconds(model_dir),
    }


def measure_service(n_items: int, requests: int, root: Path) -> dict[str, float]:
    """A personalized answer and a similar-items answer as the API shapes them, catalog in DynamoDB (moto)."""
    from moto import mock_aws

    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    model_dir = synthetic_model(n_items, root, "int8")
    served = ServedModel(version="bench", model=Recommender.load(model_dir, use_ranker=False), source="bench")
    rng = np.random.default_rng(2)
    histories = [rng.choice(n_items, size=HISTORY, replace=False) for _ in range(requests)]
    with mock_aws():
        dynamodb.resource().create_table(
            TableName="catalog",
            KeySchema=[{"AttributeName": "item_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "item_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.batch_put(
            "catalog",
            [
                {"item_id": str(index), "title": f"Item number {index}", "category": f"c{index % 50}"}
                for index in range(n_items)
            ],
            key_names=["item_id"],
        )
        # As served (titles cached per container), and with every answer reading its titles from the table.
        services = {
            "cached": _bench_service(served, histories, CatalogTitles("catalog")),
            "uncached": _bench_service(served, histories, CatalogTitles("catalog", ttl_seconds=0.0)),
        }
        times: dict[str, list[float]] = {}
        for user, history in enumerate(histories):  # interleaved, so noise hits every variant alike
            for variant, service in services.items():
                started = time.perf_counter()
                service.recommend(f"user{user}", k=K)
                times.setdefault(f"personal_{variant}", []).append(time.perf_counter() - started)
                started = time.perf_counter()
                service.similar(str(history[0]), k=K)
                times.setdefault(f"similar_{variant}", []).append(time.perf_counter() - started)
    result: dict[str, float] = {}
    for name, samples in times.items():
        result[f"{name}_p50"], result[f"{name}_p99"] = percentiles(samples)
    return result


def _bench_service(
    served: ServedModel[Recommender], histories: list[np.ndarray], titles: CatalogTitles
) -> RecommendationService:
    """The service as the recommendations function builds it, with in-memory activity and no stock filter."""
    moment = 90 * 86_400

    def recent(user_id: str) -> list[RecentEvent]:
        history = histories[int(user_id.removeprefix("user"))]
        return [RecentEvent(str(index), "view", moment - offset) for offset, index in enumerate(history)]

    return RecommendationService(
        model=lambda: served,
        recent_events=recent,
        trending=list,
        catalog_category=catalog_category("catalog"),
        merge_events=lambda batch: (0, 0),
        store_events=lambda batch: "",
        now=lambda: float(moment),
        titles=titles,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--blend-items", type=int, default=50_000, help="catalog size for the ease_vae row")
    parser.add_argument(
        "--service-items", type=int, default=10_000, help="catalog size for the whole-answer row"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    rows = []
    for n_items in [int(size) for size in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as scratch:
            result = measure(n_items, args.requests, Path(scratch))
        print(
            f"{n_items:>9} items: served p50={result['served_p50']:.2f} ms "
            f"p99={result['served_p99']:.2f} ms | "
            f"numpy p50={result['numpy_p50']:.2f} ms p99={result['numpy_p99']:.2f} ms | "
            f"+ranker p50={result['ranked_p50']:.2f} ms p99={result['ranked_p99']:.2f} ms | "
            f"out of stock p50={result['in_stock_p50']:.2f} ms p99={result['in_stock_p99']:.2f} ms | "
            f"top-10 recall vs exact={result['recall']:.4f} | cold start={result['cold_start']:.2f} s",
            flush=True,
        )
        rows.append(
            [
                f"{n_items:,}",
                f"{result['served_p50']:.2f} / {result['served_p99']:.2f}",
                f"{result['numpy_p50']:.2f} / {result['numpy_p99']:.2f}",
                f"{result['numpy_p50'] / result['served_p50']:.1f}x / "
                f"{result['numpy_p99'] / result['served_p99']:.1f}x",
                f"{result['ranked_p50']:.2f} / {result['ranked_p99']:.2f}",
                f"{result['in_stock_p50']:.2f} / {result['in_stock_p99']:.2f}",
                f"{result['recall']:.4f}",
                f"{result['cold_start']:.2f}",
            ]
        )
    table = markdown_table(
        [
            "items x 64",
            "served p50 / p99 (ms)",
            "numpy p50 / p99 (ms)",
            "speed-up p50 / p99",
            f"served + FM ranker over top {RANKER_CANDIDATES} p50 / p99 (ms)",
            f"served, {OUT_OF_STOCK_SHARE:.0%} of items out of stock p50 / p99 (ms)",
            "top-10 = exact",
            "cold start (s)",
        ],
        rows,
    )
    with tempfile.TemporaryDirectory() as scratch:
        blend = measure_blend(args.blend_items, args.requests, Path(scratch))
    print(
        f"{args.blend_items:>9} items x {blend['dims']:.0f} (ease_vae): "
        f"served p50={blend['served_p50']:.2f} ms p99={blend['served_p99']:.2f} ms | "
        f"numpy p50={blend['numpy_p50']:.2f} ms "
        f"p99={blend['numpy_p99']:.2f} ms | top-10 recall vs exact={blend['recall']:.4f} | "
        f"cold start={blend['cold_start']:.2f} s",
        flush=True,
    )
    blend_table = markdown_table(
        ["model", "served p50 / p99 (ms)", "numpy p50 / p99 (ms)", "top-10 = exact", "cold start (s)"],
        [
            [
                f"ease_vae at its cap: {args.blend_items:,} items x {blend['dims']:.0f} dims",
                f"{blend['served_p50']:.2f} / {blend['served_p99']:.2f}",
                f"{blend['numpy_p50']:.2f} / {blend['numpy_p99']:.2f}",
                f"{blend['recall']:.4f}",
                f"{blend['cold_start']:.2f}",
            ]
        ],
    )
    with tempfile.TemporaryDirectory() as scratch:
        service = measure_service(args.service_items, args.requests, Path(scratch))
    answers = {"personal": "`GET /v1/users/{id}/recommendations`", "similar": "`GET /v1/items/{id}/similar`"}
    variants = {"cached": "titles cached (as served)", "uncached": "titles read for every answer"}
    for answer, route in answers.items():
        print(
            f"{args.service_items:>9} items, {route}: "
            + " | ".join(
                f"{label} p50={service[f'{answer}_{variant}_p50']:.2f} ms "
                f"p99={service[f'{answer}_{variant}_p99']:.2f} ms"
                for variant, label in variants.items()
            ),
            flush=True,
        )
    service_table = markdown_table(
        ["answer", *(f"{label} p50 / p99 (ms)" for label in variants.values())],
        [
            [
                f"{route}, {args.service_items:,} items",
                *(
                    f"{service[f'{answer}_{variant}_p50']:.2f} / {service[f'{answer}_{variant}_p99']:.2f}"
                    for variant in variants
                ),
            ]
            for answer, route in answers.items()
        ],
    )
    body = "\n\n".join(
        [
            f"One request = a {HISTORY}-item history → query vector → full-catalog scoring → top-{K} "
            "with the "
            "history excluded. *Served* is `Recommender.recommend` end to end (int8 item matrix in ONNX: "
            "DynamicQuantizeLinear + MatMulInteger + per-item scale + score bias + TopK over k+32 "
            "candidates, "
            "then exact fp32 re-ranking of the candidates); *numpy* is fp32 `item_matrix @ query` + "
            "argpartition. Both run on one thread, interleaved in the same process, so the ratio is "
            "meaningful on this shared machine even when absolute numbers drift. *top-10 = exact* is the "
            "share of the exact "
            "fp32 top-10 that the served answer contains. *Served + FM ranker* is the same request when "
            f"the model ships the ranking stage: top {RANKER_CANDIDATES} candidates, their six features, "
            "the FM graph in onnxruntime, re-ordering. *Out of stock* is the served request with a random "
            f"{OUT_OF_STOCK_SHARE:.0%} of the catalog unavailable (the stock filter: a mask built once per "
            "published list, so its cost does not grow with the list). Cold start = fresh interpreter, "
            "imports, `Recommender.load` (with the ranker), first request (best of 3).",
            table,
            "The default model blends a Mult-VAE into EASE (`ease_vae`) for catalogs up to 50,000 items: its "
            "query adds a small numpy encoder over the history and 301 dimensions, and EASE keeps what the "
            "64 MB serving budget leaves. Same request, random weights of the shipped shapes:",
            blend_table,
            "A whole answer as the API shapes it: `RecommendationService` (live-activity fold-in, "
            f"exclusions, reasons, catalog titles) with a {HISTORY}-event history, top-{K}, the catalog "
            "table in DynamoDB (moto in process, so a network round trip to DynamoDB is not included). "
            "The titles of an answer's items and of the items its reasons name are one BatchGetItem; the "
            "function caches them for 5 minutes (`CatalogTitles`), the last column reads them for every "
            "answer:",
            service_table,
            machine_line(),
            f"Command: `{command_line()}`",
        ]
    )
    if not args.no_write:
        write_section("Recommender", "Serving latency", body)
        print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
