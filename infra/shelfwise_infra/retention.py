"""How long customer data is kept: one setting per deployment (docs/privacy.md, docs/configuration.md).

From it come the data bucket's S3 lifecycle rules (`EXPIRING_PREFIXES`, noncurrent versions) and the DynamoDB
TTLs that the functions writing user activity and chat sessions compute (`function_environment`). The CDK
app reads it from context (`-c retention.incoming_days=14`), the local cloud from the environment
(`SHELFWISE_RETENTION_INCOMING_DAYS=14`), and the local cloud's housekeeping sweep applies the same rules,
since moto stores lifecycle configurations and TTL settings but expires nothing.

Curated data (`curated/`, including the ingestion manifests) has no expiry: the manifests are how
reconciliation knows a dropped file was ingested, so they outlive the raw file by design. A raw file's age
counts from its last write, and reconciliation re-drives (rewrites) any file without a manifest, so a file is
not expired before it was ingested unless reconciliation gave up on it (docs/contracts.md, "After a crash").

Nothing here imports aws_cdk, so the local cloud never needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from shelfwise import settings

CONTEXT_PREFIX = "retention."
ENVIRONMENT_PREFIX = "SHELFWISE_RETENTION_"


@dataclass(frozen=True)
class Retention:
    # Raw upstream files and storefront event batches under incoming/: once curated they are only needed to
    # re-run an ingestion, and they hold customer ids exactly as the retailer sent them.
    incoming_days: int = 30
    # Rejection reports (rejected/) show rejected values to whoever fixes the upstream feed; after a quarter
    # nobody reads them.
    rejected_days: int = settings.DEFAULT_REJECTED_RETENTION_DAYS
    # Segment exports (segments/): one dated copy per nightly run holds every customer's scores. The run
    # rewrites segments/latest/ every night, so only dated copies (and a latest no longer written) age out.
    segment_export_days: int = 90
    # Overwritten, rewritten (erasure) or expired objects stay recoverable in the versioned bucket this long.
    noncurrent_version_days: int = 30
    # A chat session after its last message: long enough to continue a conversation the same day.
    chat_session_hours: int = settings.DEFAULT_CHAT_SESSION_RETENTION_HOURS
    # A customer's recent activity (for serving) after their newest event.
    activity_days: int = settings.DEFAULT_ACTIVITY_RETENTION_DAYS

    def __post_init__(self) -> None:
        for setting in fields(self):
            value = getattr(self, setting.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"retention.{setting.name} must be a whole number of at least 1, got {value!r}"
                )

    @classmethod
    def from_values(cls, lookup: Callable[[str], Any], key_of: Callable[[str], str]) -> Retention:
        """Each setting from `lookup(name)` where it answers (None or "" keeps the default); errors name the
        key the value was read from, `key_of(name)`."""
        values: dict[str, int] = {}
        for setting in fields(cls):
            raw = lookup(setting.name)
            if raw in (None, ""):
                continue
            problem = f"{key_of(setting.name)} must be a whole number of at least 1, got {raw!r}"
            try:
                number = float(raw)
            except (TypeError, ValueError):
                raise ValueError(problem) from None
            if not number.is_integer() or number < 1:
                raise ValueError(problem)
            values[setting.name] = int(number)
        return cls(**values)

    @classmethod
    def from_context(cls, node: Any) -> Retention:
        """From CDK context: `-c retention.incoming_days=14`."""
        return cls.from_values(
            lambda name: node.try_get_context(CONTEXT_PREFIX + name),
            lambda name: f"CDK context {CONTEXT_PREFIX + name!r}",
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Retention:
        """For the local cloud: `SHELFWISE_RETENTION_INCOMING_DAYS=14` and so on."""
        source = os.environ if environ is None else environ
        return cls.from_values(lambda name: source.get(environment_variable(name)), environment_variable)

    def expiring_prefixes(self) -> tuple[tuple[str, str, int], ...]:
        """(lifecycle rule id, data-bucket prefix, days after the last write) of every expiring prefix."""
        from shelfwise_infra import spec  # spec reads this module; imported here to avoid a cycle

        return (
            ("expire-incoming", spec.INCOMING_PREFIX, self.incoming_days),
            ("expire-rejection-reports", spec.REJECTED_PREFIX, self.rejected_days),
            ("expire-segment-exports", spec.SEGMENTS_PREFIX, self.segment_export_days),
        )


def environment_variable(name: str) -> str:
    return ENVIRONMENT_PREFIX + name.upper()
