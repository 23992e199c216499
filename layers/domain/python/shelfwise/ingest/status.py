"""An ingested file's status and whole-file error: plain pydantic, so readers without pyarrow (the operations
API) can use them; `report` re-exports both."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

IngestStatus = Literal["landed", "partially_rejected", "rejected", "empty"]


class FileError(BaseModel):
    code: str
    reason: str
