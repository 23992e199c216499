"""Named marketing segments from RFM scores.

The grid below follows the widely used eleven-segment RFM map (recency against the combined
frequency/monetary score). Every one of the 25 (R, FM) cells names exactly one segment, so a score always
has one answer. FM is the mean of F and M rounded half up: ``(f + m + 1) // 2``.

Rows are R (5 = bought most recently), columns FM 1 → 5::

    R=5 | new_customers   potential_loyalists  potential_loyalists  champions         champions
    R=4 | promising       potential_loyalists  loyal_customers      champions         champions
    R=3 | about_to_sleep  need_attention       need_attention       loyal_customers   loyal_customers
    R=2 | hibernating     hibernating          at_risk              at_risk           at_risk
    R=1 | lost            lost                 at_risk              cannot_lose_them  cannot_lose_them

Reading it: champions bought recently, often and for a lot; cannot_lose_them used to be among the best but
have not come back for the longest; lost bought little, rarely and long ago.

Users who interacted (views, carts, ratings) but never purchased are not on the grid: they get
``prospects`` — there is nothing to score yet, only people to convert.
"""

from __future__ import annotations

from typing import Final

PROSPECTS: Final = "prospects"

# The named segments in the order reports list them: best first, then the ones needing action.
RFM_SEGMENTS: Final[tuple[str, ...]] = (
    "champions",
    "loyal_customers",
    "potential_loyalists",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cannot_lose_them",
    "hibernating",
    "lost",
)
ALL_SEGMENTS: Final[tuple[str, ...]] = (*RFM_SEGMENTS, PROSPECTS)

# SEGMENT_GRID[r - 1][fm - 1]; written bottom-up (R=1 first) so indexing is direct.
SEGMENT_GRID: Final[tuple[tuple[str, ...], ...]] = (
    ("lost", "lost", "at_risk", "cannot_lose_them", "cannot_lose_them"),
    ("hibernating", "hibernating", "at_risk", "at_risk", "at_risk"),
    ("about_to_sleep", "need_attention", "need_attention", "loyal_customers", "loyal_customers"),
    ("promising", "potential_loyalists", "loyal_customers", "champions", "champions"),
    ("new_customers", "potential_loyalists", "potential_loyalists", "champions", "champions"),
)


def combined_fm_score(f: int, m: int) -> int:
    """Mean of the frequency and monetary scores, rounded half up (4 and 5 give 5; 1 and 2 give 2)."""
    _check_score("f", f)
    _check_score("m", m)
    return (f + m + 1) // 2


def segment_for(r: int, f: int, m: int) -> str:
    """The named segment for a purchaser's recency, frequency and monetary scores (each 1-5)."""
    _check_score("r", r)
    return SEGMENT_GRID[r - 1][combined_fm_score(f, m) - 1]


def _check_score(name: str, score: int) -> None:
    if not 1 <= score <= 5:
        raise ValueError(f"{name} score must be between 1 and 5, got {score}")
