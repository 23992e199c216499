"""From raw interaction rows to a weighted user-item matrix with stable id maps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse

from .config import WeightingConfig

INTERACTION_COLUMNS = ("user_id", "item_id", "event_type", "timestamp")
SECONDS_PER_DAY = 86_400.0


class TrainingDataError(ValueError):
    """The input cannot train a model (missing columns, no usable rows); the message says what to fix."""


def as_frame(table: pa.Table | pd.DataFrame) -> pd.DataFrame:
    return table.to_pandas() if isinstance(table, pa.Table) else table


def event_confidences(interactions: pd.DataFrame, weighting: WeightingConfig) -> pd.DataFrame:
    """One row per (user_id, item_id) with `confidence` in (0, 1] and `timestamp` of the newest event.

    Unknown event types are ignored rather than guessed at; rows with no user or item are dropped.
    """
    missing = [column for column in INTERACTION_COLUMNS if column not in interactions.columns]
    if missing:
        raise TrainingDataError(f"interactions lack column(s): {', '.join(missing)}")
    frame = interactions.loc[:, list(INTERACTION_COLUMNS)].dropna(subset=["user_id", "item_id"])
    frame = frame.assign(
        user_id=frame["user_id"].astype(str),
        item_id=frame["item_id"].astype(str),
        event_weight=frame["event_type"].map(weighting.event_weights).astype("float64"),
        epoch=_epoch_seconds(frame["timestamp"]),
    )
    frame = frame[frame["event_weight"] > 0]
    if frame.empty:
        known = ", ".join(sorted(weighting.event_weights))
        raise TrainingDataError(f"no interactions with a positive weight; event_type must be one of: {known}")
    if weighting.half_life_days:
        age_days = (frame["epoch"].max() - frame["epoch"]) / SECONDS_PER_DAY
        decay = np.power(0.5, age_days.to_numpy() / weighting.half_life_days)
    else:
        decay = 1.0
    frame = frame.assign(confidence=frame["event_weight"] * decay)
    grouped = frame.groupby(["user_id", "item_id"], sort=False).agg(
        confidence=("confidence", "max"), timestamp=("epoch", "max")
    )
    return grouped.reset_index()


def _epoch_seconds(timestamps: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(timestamps):
        return timestamps.astype("float64")
    parsed = pd.to_datetime(timestamps, utc=True)
    return (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()


@dataclass
class InteractionMatrix:
    """Weighted user-item matrix (CSR, float32) with the ids of its rows and columns."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    matrix: sparse.csr_matrix

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @classmethod
    def from_confidences(
        cls, pairs: pd.DataFrame, item_ids: np.ndarray | None = None, user_ids: np.ndarray | None = None
    ) -> InteractionMatrix:
        """Build the matrix; pairs whose user or item is outside the given id lists are dropped."""
        users = pd.Index(np.sort(pairs["user_id"].unique()) if user_ids is None else user_ids)
        items = pd.Index(np.sort(pairs["item_id"].unique()) if item_ids is None else item_ids)
        rows = users.get_indexer(pairs["user_id"])
        cols = items.get_indexer(pairs["item_id"])
        keep = (rows >= 0) & (cols >= 0)
        matrix = sparse.csr_matrix(
            (pairs["confidence"].to_numpy(np.float32)[keep], (rows[keep], cols[keep])),
            shape=(len(users), len(items)),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        return cls(
            user_ids=users.to_numpy(dtype=object), item_ids=items.to_numpy(dtype=object), matrix=matrix
        )


def training_rows(
    pairs: pd.DataFrame, matrix: InteractionMatrix, window: int, weight: float
) -> sparse.csr_matrix:
    """The rows a retrieval model fits on: one per user, plus each user's history cut into windows.

    Items a user interacted with close together in time (a session, a browsing streak) say more about each
    other than two items at opposite ends of a long history. Each user's items are ordered by their newest
    event and cut into windows of `window` consecutive items, overlapping by half; the window rows are scaled
    so that together they add `weight` times the user's own co-occurrence mass. Serving is unchanged: the
    model still scores a user from their item history alone. `window=0` (or no timestamps) fits on users only.
    """
    if window <= 0 or weight <= 0 or "timestamp" not in pairs.columns or pairs.empty:
        return matrix.matrix
    stride = max(window // 2, 1)
    rows = pd.Index(matrix.user_ids).get_indexer(pairs["user_id"])
    cols = pd.Index(matrix.item_ids).get_indexer(pairs["item_id"])
    known = (rows >= 0) & (cols >= 0)
    ordered = pd.DataFrame(
        {
            "row": rows[known],
            "col": cols[known],
            "confidence": pairs["confidence"].to_numpy(np.float64)[known],
            "timestamp": pairs["timestamp"].to_numpy(np.float64)[known],
        }
    ).sort_values(["row", "timestamp", "col"], kind="stable")
    position = ordered.groupby("row", sort=False).cumcount().to_numpy()
    row = ordered["row"].to_numpy(np.int64)
    col = ordered["col"].to_numpy()
    confidence = ordered["confidence"].to_numpy()
    # A position p belongs to every window whose start s (a multiple of stride) has s <= p < s + window.
    pieces = []
    for back in range(-(-window // stride)):
        start = (position // stride - back) * stride
        inside = (start >= 0) & (position < start + window)
        window_key = row[inside] * (position.max() + 1) + start[inside]
        pieces.append(
            pd.DataFrame({"window": window_key, "col": col[inside], "confidence": confidence[inside]})
        )
    windows = pd.concat(pieces, ignore_index=True)
    window_rows = pd.factorize(windows["window"])[0]
    scale = np.sqrt(weight * stride / window)
    extra = sparse.csr_matrix(
        (windows["confidence"].to_numpy() * scale, (window_rows, windows["col"].to_numpy())),
        shape=(int(window_rows.max()) + 1, matrix.n_items),
        dtype=np.float32,
    )
    return sparse.vstack([matrix.matrix, extra], format="csr")
