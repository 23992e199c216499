"""Reading a training channel: every Parquet / CSV (optionally gzipped) file under a directory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from .data import TrainingDataError

_SUFFIXES = (".parquet", ".csv", ".csv.gz")


def read_channel(directory: Path, *, required: bool) -> pd.DataFrame:
    directory = Path(directory)
    files = sorted(path for path in directory.rglob("*") if path.is_file() and path.name.endswith(_SUFFIXES))
    if not files:
        if required:
            raise TrainingDataError(f"no .parquet/.csv/.csv.gz files under {directory}")
        return pd.DataFrame()
    frames = [
        pq.read_table(path).to_pandas() if path.name.endswith(".parquet") else pd.read_csv(path)
        for path in files
    ]
    return pd.concat(frames, ignore_index=True)
