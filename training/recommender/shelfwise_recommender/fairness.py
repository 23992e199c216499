"""Beyond accuracy: how evenly recommendations spread over items, brands and categories; how varied a list is.

Every number here is measured on the evaluation users' top-k lists (the hold-out users), so the training job
pays for it once per evaluated model, not once per shopper in the shop.

- `gini`: inequality of exposure (recommendation slots) across the catalog's items, zeros included; 0 when
  every item is shown equally often, (n-1)/n when one item takes every slot.
- `group_exposure`: per brand or category, its share of recommendation slots against its share of catalog
  items and of training interactions. The summary keeps the largest over-exposure ratio (slots / catalog and
  slots / interactions), the total variation distance between slot and interaction shares, and the share of
  groups that got any slot at all.
- `intra_list_diversity`: mean pairwise dissimilarity of the items in one list, 1 - Jaccard of their category
  labels (a shop item has one category, so a pair is 1 when the categories differ; a movie has several
  genres). Category labels rather than the model's embeddings, because an embedding distance changes with
  every retrain (versions would be measured with different rulers) and a re-ranker would be judged by the
  geometry it was built on; labels are the same for every version and mean something to a merchandiser.
- `popularity_percentiles`: the share of catalog items less popular than each item; `popularity_bias` is the
  mean over recommended slots minus the mean over the held-out (consumed) items: 0 when recommendations are
  as popular as what shoppers actually went on to use, positive when they lean further to the head.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


def gini(exposure: Sequence[float] | np.ndarray) -> float:
    """Gini coefficient of non-negative exposure counts; 0 for an empty or all-zero vector."""
    values = np.sort(np.asarray(exposure, dtype=np.float64))
    n = len(values)
    total = values.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * ranks - n - 1) * values).sum() / (n * total))


def item_exposure(lists: Iterable[Sequence[Hashable]], catalog: Sequence[Hashable]) -> np.ndarray:
    """How many slots each catalog item got over all lists (catalog order); items outside it are ignored."""
    position = {item: index for index, item in enumerate(catalog)}
    counts = np.zeros(len(position), dtype=np.float64)
    for ranked in lists:
        for item in ranked:
            index = position.get(item)
            if index is not None:
                counts[index] += 1
    return counts


def jaccard_distance(left: frozenset[str], right: frozenset[str]) -> float:
    union = len(left | right)
    return 1.0 - len(left & right) / union if union else 0.0


def list_diversity(labels: Sequence[frozenset[str]]) -> float | None:
    """Mean pairwise 1 - Jaccard of the items' labels; None when fewer than two items have labels."""
    known = [item for item in labels if item]
    if len(known) < 2:
        return None
    distances = [
        jaccard_distance(known[i], known[j]) for i in range(len(known)) for j in range(i + 1, len(known))
    ]
    return float(np.mean(distances))


def intra_list_diversity(lists: Iterable[Sequence[frozenset[str]]]) -> float | None:
    """Mean of `list_diversity` over the lists it is defined for (None when it is defined for none)."""
    values = [value for value in map(list_diversity, lists) if value is not None]
    return float(np.mean(values)) if values else None


def popularity_percentiles(shares: np.ndarray, of: np.ndarray) -> np.ndarray:
    """For each value in `of`, the share of `shares` (one per catalog item) strictly below it."""
    ordered = np.sort(np.asarray(shares, dtype=np.float64))
    if len(ordered) == 0:
        return np.zeros(len(of))
    return np.searchsorted(ordered, np.asarray(of, dtype=np.float64), side="left") / len(ordered)


@dataclass(frozen=True)
class GroupExposure:
    group: str
    slot_share: float
    catalog_share: float
    interaction_share: float

    @property
    def ratio_to_catalog(self) -> float | None:
        return self.slot_share / self.catalog_share if self.catalog_share > 0 else None

    @property
    def ratio_to_interactions(self) -> float | None:
        return self.slot_share / self.interaction_share if self.interaction_share > 0 else None


def _shares(values: Iterable[str | None]) -> dict[str, float]:
    counts = Counter(value for value in values if value is not None)
    total = sum(counts.values())
    return {group: count / total for group, count in counts.items()} if total else {}


def group_exposure(
    slots: Iterable[str | None], catalog: Iterable[str | None], interactions: Iterable[str | None]
) -> list[GroupExposure]:
    """Each group's share of recommendation slots, catalog items and interactions (unknown groups left out),
    most exposed first; a group appears when it has any catalog item, slot or interaction."""
    slot, items, used = _shares(slots), _shares(catalog), _shares(interactions)
    groups = sorted(set(slot) | set(items) | set(used), key=lambda group: (-slot.get(group, 0.0), group))
    return [
        GroupExposure(group, slot.get(group, 0.0), items.get(group, 0.0), used.get(group, 0.0))
        for group in groups
    ]


def exposure_summary(rows: Sequence[GroupExposure], prefix: str) -> dict[str, float]:
    """The compact numbers for the metrics file and the registry (the full table goes to the model card)."""
    if not rows:
        return {}
    to_catalog = [ratio for row in rows if (ratio := row.ratio_to_catalog) is not None]
    to_interactions = [ratio for row in rows if (ratio := row.ratio_to_interactions) is not None]
    in_catalog = [row for row in rows if row.catalog_share > 0]
    summary = {
        f"{prefix}_exposure_tv_vs_interactions": 0.5
        * sum(abs(row.slot_share - row.interaction_share) for row in rows),
    }
    if to_catalog:
        summary[f"{prefix}_max_exposure_vs_catalog"] = max(to_catalog)
    if to_interactions:
        summary[f"{prefix}_max_exposure_vs_interactions"] = max(to_interactions)
    if in_catalog:
        summary[f"{prefix}_share_exposed"] = sum(row.slot_share > 0 for row in in_catalog) / len(in_catalog)
    return summary


@dataclass
class BeyondAccuracy:
    metrics: dict[str, float]
    # "category" / "brand" -> rows of GroupExposure as dicts, for the model card.
    tables: dict[str, list[dict[str, float | str]]]


def catalog_labels(catalog: pd.DataFrame, column: str) -> dict[str, str]:
    """item_id -> value of `column` (as text) for catalog rows that have one; empty without the column."""
    if catalog.empty or "item_id" not in catalog.columns or column not in catalog.columns:
        return {}
    frame = catalog[["item_id", column]].dropna()
    frame = frame[frame[column].astype(str).str.strip() != ""]
    return dict(zip(frame["item_id"].astype(str), frame[column].astype(str), strict=True))


def beyond_accuracy(
    recommendations: dict[object, Sequence[object]],
    users: Iterable[object],
    catalog: pd.DataFrame,
    train_pairs: pd.DataFrame,
    consumed: Iterable[object],
    item_ids: Sequence[object],
    k: int,
    item_labels: dict[str, frozenset[str]] | None = None,
) -> BeyondAccuracy:
    """Exposure, diversity and popularity-bias numbers for the top-k lists of `users`.

    `item_ids` is what the model can rank (the Gini runs over them, unshown items counting as zero);
    `consumed` the held-out items of the same users; `item_labels` the labels intra-list diversity compares
    (the catalog's category by default; the MovieLens benchmark passes every genre of a movie).
    """
    lists = [[str(item) for item in list(recommendations.get(user, ()))[:k]] for user in users]
    ids = [str(item) for item in item_ids]
    exposure = item_exposure(lists, ids)
    metrics: dict[str, float] = {"exposure_gini": gini(exposure)}
    counts = train_pairs.groupby(train_pairs["item_id"].astype(str)).size()
    shares = counts.reindex(ids, fill_value=0).to_numpy(np.float64)
    consumed_ids = [str(item) for item in consumed]
    shown = [item for ranked in lists for item in ranked]
    recommended_pct = popularity_percentiles(shares, counts.reindex(shown, fill_value=0).to_numpy(np.float64))
    consumed_pct = popularity_percentiles(
        shares, counts.reindex(consumed_ids, fill_value=0).to_numpy(np.float64)
    )
    if len(recommended_pct) and len(consumed_pct):
        # The recommended side is ranking_report's `mean_popularity_percentile` (same definition).
        metrics["consumed_popularity_percentile"] = float(consumed_pct.mean())
        metrics["popularity_bias"] = float(recommended_pct.mean() - consumed_pct.mean())
    categories = catalog_labels(catalog, "category")
    labels = item_labels
    if labels is None:
        labels = {item: frozenset([category]) for item, category in categories.items()}
    diversity = intra_list_diversity([[labels.get(item, frozenset()) for item in ranked] for ranked in lists])
    if diversity is not None:
        metrics["intra_list_diversity"] = diversity
    tables: dict[str, list[dict[str, float | str]]] = {}
    interacted = train_pairs["item_id"].astype(str)
    for column in ("category", "brand"):
        of = categories if column == "category" else catalog_labels(catalog, column)
        if not of:
            continue  # a catalog without the column: nothing to compare
        rows = group_exposure(
            (of.get(item) for ranked in lists for item in ranked),
            of.values(),
            (of.get(item) for item in interacted),
        )
        metrics.update(exposure_summary(rows, column))
        tables[column] = [_table_row(row) for row in rows]
    return BeyondAccuracy(metrics=metrics, tables=tables)


def _table_row(row: GroupExposure) -> dict[str, float | str]:
    values: dict[str, float | str] = dict(asdict(row))
    for name in ("ratio_to_catalog", "ratio_to_interactions"):
        ratio = getattr(row, name)
        if ratio is not None:
            values[name] = ratio
    return values
