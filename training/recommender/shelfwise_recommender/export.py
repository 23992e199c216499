"""Write a trained model as a self-describing version directory the serving library loads.

Layout of `<version>/` (uploaded by the registry to `models/recommender/<version>/`; paths relative):
  manifest.json        format version, model name and version, sizes, weighting, `artifacts` (role → file)
                       and `files` (file → sha256 of every other file; the manifest is written last)
  scorer.onnx          query[1,d] · item matrix (initializer, int8 or fp32) → * column_scale[n]
                       → + score_bias[n]
                       → TopK(k) giving candidate_scores / candidate_indices
  user_factors.npy     (n_items, d) float32: a user's query is Σ weight · row of each item they touched
  item_factors.npy     (n_items, d) float32: exact re-ranking of the candidates, reasons, similar-item queries
  item_scales.npy      (n_items,) float32: per-item dequantisation scale (ones for fp32)
  embedding_*_scale.npy  item embeddings for cosine similarity are diag(row) · item_factors · diag(dim)
  items.json           item ids in matrix order, category names and each item's category index
  popularity.json      most popular items with their user counts, the fallback for users with no history
  users.json + user_*.npy   training users' histories (CSR), so a known user id can be scored directly
  metrics.json, model_card.md
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .data import InteractionMatrix
from .interface import ServingFactors

FORMAT_VERSION = 2
MODEL_NAME = "recommender"
MANIFEST = "manifest.json"
OPSET = 17


@dataclass
class ExportInputs:
    factors: ServingFactors
    matrix: InteractionMatrix
    item_categories: list[str | None]
    popularity: list[tuple[str, float]]
    weighting: dict[str, Any]
    metrics: dict[str, Any]
    config: dict[str, Any]
    quantize: str


def quantize_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8: row ≈ codes · scale. All-zero rows get scale 1 so nothing divides by zero."""
    peak = np.abs(matrix).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales


def build_scorer_graph(item_side: np.ndarray, quantize: str) -> tuple[onnx.ModelProto, np.ndarray]:
    """The scoring graph and the per-item scale the caller multiplies in (ones for fp32).

    int8: DynamicQuantizeLinear turns the query into uint8 with a zero point, MatMulInteger reads a quarter of
    the bytes fp32 would, and the dequantisation folds into the per-item column_scale input.
    """
    n_items, dims = item_side.shape
    inputs = [
        helper.make_tensor_value_info("query", TensorProto.FLOAT, [1, dims]),
        helper.make_tensor_value_info("column_scale", TensorProto.FLOAT, [n_items]),
        helper.make_tensor_value_info("score_bias", TensorProto.FLOAT, [n_items]),
        helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
    ]
    outputs = [
        helper.make_tensor_value_info("candidate_scores", TensorProto.FLOAT, [1, "k"]),
        helper.make_tensor_value_info("candidate_indices", TensorProto.INT64, [1, "k"]),
    ]
    if quantize == "int8":
        codes, scales = quantize_rows(item_side)
        weights = numpy_helper.from_array(np.ascontiguousarray(codes.T), "item_matrix")
        nodes = [
            helper.make_node("DynamicQuantizeLinear", ["query"], ["query_q", "query_scale", "query_zero"]),
            helper.make_node("MatMulInteger", ["query_q", "item_matrix", "query_zero"], ["raw_int"]),
            helper.make_node("Cast", ["raw_int"], ["raw"], to=TensorProto.FLOAT),
        ]
    elif quantize == "none":
        scales = np.ones(n_items, dtype=np.float32)
        weights = numpy_helper.from_array(np.ascontiguousarray(item_side.T, dtype=np.float32), "item_matrix")
        nodes = [helper.make_node("MatMul", ["query", "item_matrix"], ["raw"])]
    else:
        raise ValueError(f"quantize must be 'int8' or 'none', not {quantize!r}")
    nodes += [
        helper.make_node("Mul", ["raw", "column_scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "score_bias"], ["biased"]),
        helper.make_node(
            "TopK", ["biased", "k"], ["candidate_scores", "candidate_indices"], largest=1, sorted=1
        ),
    ]
    graph = helper.make_graph(nodes, "shelfwise_recommender_scorer", inputs, outputs, [weights])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="shelfwise"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, scales


def model_version(factors: ServingFactors, config: dict[str, Any], now: datetime | None = None) -> str:
    digest = hashlib.sha256(factors.item_side.tobytes())
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{digest.hexdigest()[:8]}"


ARTIFACTS = {
    "scorer": "scorer.onnx",
    "user_factors": "user_factors.npy",
    "item_factors": "item_factors.npy",
    "item_scales": "item_scales.npy",
    "embedding_row_scale": "embedding_row_scale.npy",
    "embedding_dim_scale": "embedding_dim_scale.npy",
    "items": "items.json",
    "popularity": "popularity.json",
    "users": "users.json",
    "user_indptr": "user_indptr.npy",
    "user_items": "user_items.npy",
    "user_weights": "user_weights.npy",
    "metrics": "metrics.json",
    "model_card": "model_card.md",
}
# Only for models that blend in a second, non-linear model (see shelfwise.recommend.history_encoder).
ENCODER_ARTIFACT = ("history_encoder", "history_encoder.npz")


def export_model(inputs: ExportInputs, model_root: Path, now: datetime | None = None) -> Path:
    """Write every artifact except the manifest into `model_root/<version>/` and return that directory.

    The manifest is written by `write_manifest` once metrics.json and the model card are final, because it
    carries the sha256 of every other file.
    """
    version = model_version(inputs.factors, inputs.config, now)
    target = Path(model_root) / version
    target.mkdir(parents=True, exist_ok=False)
    scorer, scales = build_scorer_graph(inputs.factors.item_side, inputs.quantize)
    onnx.save_model(scorer, str(target / ARTIFACTS["scorer"]))
    np.save(target / ARTIFACTS["user_factors"], inputs.factors.user_side.astype(np.float32))
    np.save(target / ARTIFACTS["item_factors"], inputs.factors.item_side.astype(np.float32))
    np.save(target / ARTIFACTS["item_scales"], scales.astype(np.float32))
    n_items, dims = inputs.factors.item_side.shape
    row_scale = inputs.factors.embedding_row_scale
    dim_scale = inputs.factors.embedding_dim_scale
    np.save(
        target / ARTIFACTS["embedding_row_scale"],
        np.ones(n_items, np.float32) if row_scale is None else row_scale,
    )
    np.save(
        target / ARTIFACTS["embedding_dim_scale"],
        np.ones(dims, np.float32) if dim_scale is None else dim_scale,
    )
    category_names = sorted({category for category in inputs.item_categories if category})
    category_index = {name: position for position, name in enumerate(category_names)}
    _write_json(
        target / ARTIFACTS["items"],
        {
            "item_ids": [str(item) for item in inputs.matrix.item_ids],
            "categories": category_names,
            "item_category": [category_index.get(category, -1) for category in inputs.item_categories],
        },
    )
    _write_json(
        target / ARTIFACTS["popularity"],
        {"items": [{"item_id": item, "count": float(count)} for item, count in inputs.popularity]},
    )
    histories = inputs.matrix.matrix.tocsr()
    _write_json(target / ARTIFACTS["users"], {"user_ids": [str(user) for user in inputs.matrix.user_ids]})
    np.save(target / ARTIFACTS["user_indptr"], histories.indptr.astype(np.int64))
    np.save(target / ARTIFACTS["user_items"], histories.indices.astype(np.int32))
    np.save(target / ARTIFACTS["user_weights"], histories.data.astype(np.float32))
    _write_json(target / ARTIFACTS["metrics"], inputs.metrics)
    if inputs.factors.encoder is not None:
        inputs.factors.encoder.save(target / ENCODER_ARTIFACT[1])
    return target


def manifest_header(inputs: ExportInputs, version: str, now: datetime | None = None) -> dict[str, Any]:
    """Everything in manifest.json except the file hashes."""
    return {
        "format_version": FORMAT_VERSION,
        "model_name": MODEL_NAME,
        "version": version,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "model": inputs.config.get("model"),
        "n_items": int(inputs.factors.item_side.shape[0]),
        "n_users": int(inputs.matrix.n_users),
        "dims": int(inputs.factors.item_side.shape[1]),
        "quantize": inputs.quantize,
        "weighting": inputs.weighting,
        "config": inputs.config,
        "artifacts": dict(ARTIFACTS)
        | (dict([ENCODER_ARTIFACT]) if inputs.factors.encoder is not None else {}),
    }


def finalize_version(target: Path, header: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """Write metrics.json and the model card, then the manifest that fingerprints them."""
    _write_json(target / ARTIFACTS["metrics"], metrics)
    (target / ARTIFACTS["model_card"]).write_text(model_card(header, metrics), encoding="utf-8")
    return write_manifest(target, header)


def write_manifest(target: Path, header: dict[str, Any]) -> dict[str, Any]:
    """Write manifest.json last: `files` maps every other file of the version to its sha256."""
    files = {
        path.relative_to(target).as_posix(): _sha256(path)
        for path in sorted(target.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }
    manifest = {**header, "files": files}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _recency_note(metrics: dict[str, Any]) -> str:
    recency = metrics.get("recency", {})
    if "validation" in recency:
        table = ", ".join(f"x{boost} {ndcg:.4f}" for boost, ndcg in recency["validation"].items())
        return f"chosen on a time-ordered carve of the training data, {recency['metric']}: {table}"
    return str(recency.get("skipped") or recency.get("chosen") or "not chosen")


def model_card(manifest: dict[str, Any], metrics: dict[str, Any]) -> str:
    config = manifest.get("config", {})
    lines = [
        f"# Recommender model {manifest['version']}",
        "",
        f"- Model: `{manifest['model']}` (λ={config.get('l2')}, diagonal penalty "
        f"{config.get('diagonal_penalty')}, history windows of {config.get('sequence_window')} items) — "
        f"{manifest['dims']}-dimensional factors over "
        f"{manifest['n_items']} items, trained on {manifest['n_users']} users.",
        f"- Serving matrix: {manifest['quantize']} (candidates re-ranked exactly in fp32); ONNX top-k agrees "
        f"with exact scoring on {metrics.get('scorer_recall_vs_exact', float('nan')):.3f} of items.",
        f"- Event weights: {manifest['weighting'].get('event_weights')}; recency half-life: "
        f"{manifest['weighting'].get('half_life_days')} days; events new to the model count "
        f"x{manifest['weighting'].get('recency_boost', 1.0):g} at serving time ({_recency_note(metrics)}).",
        "- Intended use: ranking catalog items for a shopper from their recent interactions; popularity "
        "fallback for shoppers with no history. Not for decisions about people.",
        "- Limits: items never interacted with in training cannot be recommended (they score zero); "
        "offline metrics come from a random per-user hold-out, not from live traffic.",
        "",
        "## Offline evaluation (held-out split)",
        "",
    ]
    holdout = metrics.get("holdout", {})
    if "skipped" in holdout:
        lines += [f"Not evaluated: {holdout['skipped']}. The gate has no metrics for this version.", ""]
    else:
        lines += [
            f"Split: {holdout.get('protocol')}; {holdout.get('users_evaluated')} users evaluated, "
            f"{holdout.get('test_pairs')} held-out pairs.",
            "",
        ]
        evaluation = metrics.get("evaluation", {})
        names = sorted({name for values in evaluation.values() for name in values})
        lines += ["| metric | " + " | ".join(evaluation) + " |", "| --- |" + " --- |" * len(evaluation)]
        for name in names:
            cells = [_cell(values.get(name)) for values in evaluation.values()]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    gate = metrics.get("gate", {})
    gate_values = ", ".join(f"{name} {value:.4f}" for name, value in gate.get("metrics", {}).items())
    lines += [f"Gate ({gate.get('comparable_key')}): {gate_values or 'none'}.", ""]
    lines += _exposure_section(metrics.get("exposure") or {}, metrics.get("k"))
    ranker = metrics.get("ranker")
    if ranker:
        lines += ["## Ranking stage (FM re-ranker)", "", f"{ranker.get('reason', '')}.", ""]
    return "\n".join(lines) + "\n"


def _exposure_section(tables: dict[str, list[dict[str, Any]]], k: Any) -> list[str]:
    """Per brand and per category: share of the served top-k slots against catalog and interaction shares."""
    if not tables:
        return []
    lines = [
        "## Exposure by brand and category (held-out users)",
        "",
        f"Share of the top-{k} recommendation slots over the evaluated users, against the group's share of "
        "catalog items and of training interactions; a ratio above 1 means the group is shown more than its "
        "share. Exposure Gini, intra-list diversity and popularity bias are in the table above.",
        "",
    ]
    for group, rows in tables.items():
        lines += [
            f"| {group} | slot share | catalog share | interaction share | slots / catalog | "
            "slots / interactions |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in rows:
            cells = [
                _share(row.get(name)) for name in ("slot_share", "catalog_share", "interaction_share")
            ] + [_ratio(row.get(name)) for name in ("ratio_to_catalog", "ratio_to_interactions")]
            lines.append(f"| {row['group']} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _share(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, float | int) else ""


def _ratio(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float | int) else "—"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and value >= 1 else f"{value:.4f}"
    return "" if value is None else str(value)


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=None, separators=(",", ":"), default=str), encoding="utf-8")
