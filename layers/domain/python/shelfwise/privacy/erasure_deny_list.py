"""The deny list of erased customers: one S3 object per erased customer, named by their erasure marker.

`privacy/erased-customers/<marker>` where marker = `erasure_marker(pseudonym)`, a one-way digest that holds
neither the customer id nor the pseudonym. One object per customer, never a shared list, so concurrent job
runs never lose each other's entries (no read-modify-write). Readers compare a pseudonym's marker against
the set:

- the recommender training job gets the prefix as its `erased_customers` channel and drops those users' rows;
- ingestion drops rows of erased customers arriving later (a re-delivered old file) and counts them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shelfwise.aws import s3
from shelfwise.privacy.pseudonyms import erasure_marker

DENY_LIST_PREFIX = "privacy/erased-customers/"


def deny_list_key(pseudonym: str) -> str:
    return DENY_LIST_PREFIX + erasure_marker(pseudonym)


def add(bucket: str, pseudonym: str, *, s3_client: s3.S3Client | None = None) -> bool:
    """Add the customer; False when they were on the list already."""
    key = deny_list_key(pseudonym)
    if s3.head(bucket, key, s3_client=s3_client) is not None:
        return False
    s3.put_bytes(bucket, key, b"", content_type="text/plain", s3_client=s3_client)
    return True


def markers(bucket: str, *, s3_client: s3.S3Client | None = None) -> frozenset[str]:
    """Every erased customer's marker (one listing; the keys are the list)."""
    return frozenset(
        key[len(DENY_LIST_PREFIX) :]
        for key in s3.list_keys(bucket, DENY_LIST_PREFIX, s3_client=s3_client)
        if key != DENY_LIST_PREFIX
    )


def markers_in(directory: Path) -> frozenset[str]:
    """The markers of a deny list downloaded to a folder (a training channel): the file names."""
    if not Path(directory).is_dir():
        return frozenset()
    return frozenset(path.name for path in Path(directory).iterdir() if path.is_file())


def denied(pseudonyms: Iterable[str], deny_markers: frozenset[str]) -> set[str]:
    """Those of `pseudonyms` whose customer was erased."""
    if not deny_markers:
        return set()
    return {value for value in set(pseudonyms) if erasure_marker(value) in deny_markers}


def drop_erased(frame: Any, deny_markers: frozenset[str], *, column: str = "user_id") -> tuple[Any, int]:
    """A pandas DataFrame without the rows of erased customers, and how many rows that left out.

    Each distinct customer is hashed once, however many rows they have; nothing is hashed when nobody was
    erased.
    """
    if not deny_markers or column not in getattr(frame, "columns", ()) or len(frame) == 0:
        return frame, 0
    erased = denied((str(value) for value in frame[column].dropna().unique()), deny_markers)
    if not erased:
        return frame, 0
    keep = ~frame[column].isin(erased)
    return frame[keep].reset_index(drop=True), int((~keep).sum())
