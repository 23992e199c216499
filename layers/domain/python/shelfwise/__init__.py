"""shelfwise domain library: plain Python, importable and testable without AWS.

This package is what the domain Lambda layer ships. AWS access lives in `shelfwise.aws` (one small
adapter module per service); everything else is pure logic over files, frames and pydantic models.
"""

__version__ = "0.1.0"
