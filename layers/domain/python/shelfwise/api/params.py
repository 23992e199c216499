"""Parameter types for routes whose OpenAPI description must match what validation accepts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator


def _not_a_timestamp(value: Any) -> Any:
    # Pydantic's lax mode reads "0.5" or "1700000000" as a Unix timestamp, while the document promises (and
    # callers expect) an ISO 8601 date-time: numbers are refused so validation and the document agree.
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("expected an ISO 8601 date-time such as 2024-03-01T00:00:00Z, not a number")
    return value


# A moment given as ISO 8601 text (documented as `format: date-time`); never a Unix timestamp.
IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_timestamp)]

__all__ = ["IsoDateTime"]
