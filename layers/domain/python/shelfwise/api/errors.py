"""Exceptions domain code raises when a caller asked for something that is missing or malformed.

They carry no HTTP knowledge; `shelfwise.api.http` maps them to 404 / 400 responses in the platform's
error shape, so domain functions stay testable without an API in sight.
"""

from __future__ import annotations


class ShelfwiseError(Exception):
    """A caller-facing problem. `message` is shown to the caller, so it must never contain secrets."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Where in the request the problem is, e.g. "path.user_id" or "query.date".
        self.field = field


class NotFound(ShelfwiseError):
    """The thing asked for does not exist (an unknown user, SKU, model...)."""

    code = "not_found"
    status = 404


class BadRequest(ShelfwiseError):
    """The request passes the schema but makes no sense (e.g. a date range that ends before it starts)."""

    code = "bad_request"
    status = 400


class InvalidCursor(BadRequest):
    """A paging `cursor` the listing never handed out as `next_cursor` (made up, cut short, from another
    listing or other filters): paging from it would silently skip or repeat items, so it is refused."""

    code = "invalid_cursor"
    status = 400


class Unauthorized(ShelfwiseError):
    """No credential vouched for the caller (a route reached without its authorizer)."""

    code = "unauthorized"
    status = 401


class Forbidden(ShelfwiseError):
    """The caller is known but may not see or change this (another customer's data, a missing scope)."""

    code = "forbidden"
    status = 403
