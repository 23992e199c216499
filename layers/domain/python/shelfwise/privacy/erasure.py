"""Erasure requests: recorded by `DELETE /v1/customers/{user_id}`, worked off by the erasure job.

Table (`spec.ERASURES_TABLE`, pk `request_id`) holds two kinds of item:

- the request `er_<32 hex>`: status (`pending` → `running` → `completed`, or `failed` until a later run
  finishes it), who asked (the operator's client id), timestamps, and per step what was done with counts.
  While the request is open it also holds the customer's id and pseudonym, which the job needs to find
  their data; both are removed when it completes, leaving the audit record: request id, times, who asked and
  the counts per store, nothing personal.
- the open-request pointer `open#<erasure marker>`, written with a condition so two DELETEs for the same
  customer agree on one request (the idempotency of the route); it is removed when the request completes.
  The marker is the one-way digest of the pseudonym (`shelfwise.privacy.pseudonyms.erasure_marker`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shelfwise.aws import dynamodb
from shelfwise.privacy.pseudonyms import erasure_marker
from shelfwise.settings import ERASURES_TABLE_ENV

REQUEST_ID_PREFIX = "er_"
REQUEST_ID_PATTERN = rf"^{REQUEST_ID_PREFIX}[0-9a-f]{{32}}$"
_OPEN_PREFIX = "open#"

ErasureStatus = Literal["pending", "running", "completed", "failed"]
OPEN_STATUSES: tuple[ErasureStatus, ...] = ("pending", "running", "failed")


def now_iso(clock: Callable[[], datetime] | None = None) -> str:
    # Microseconds: requests are served oldest first, and two may arrive within the same second.
    moment = (clock or (lambda: datetime.now(UTC)))()
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class ErasureStep(BaseModel):
    name: str = Field(description="The store the step erases from, e.g. `curated_interactions`.")
    status: Literal["running", "done"]
    count: int = Field(description="Items, rows or objects removed or rewritten so far (see `unit`).")
    unit: str = Field(description="What `count` counts: items, rows, objects, versions, markers.")
    finished_at: str | None = None


class ErasureStatusResponse(BaseModel):
    request_id: str
    status: ErasureStatus
    requested_at: str
    requested_by: str = Field(description="The client id of the operator credential that asked.")
    started_at: str | None = None
    updated_at: str
    completed_at: str | None = None
    attempts: int = Field(description="How many job runs worked on the request.")
    steps: list[ErasureStep] = Field(description="Steps done or in progress, in the order the job runs them.")
    error: str | None = Field(default=None, description="Why the last run did not finish (no personal data).")


class ErasureAccepted(BaseModel):
    request_id: str
    status: ErasureStatus


@dataclass(frozen=True)
class ErasureRequest:
    """An item of the erasures table, as the job and the status route see it."""

    item: Mapping[str, Any]

    @property
    def request_id(self) -> str:
        return str(self.item["request_id"])

    @property
    def status(self) -> ErasureStatus:
        return self.item["status"]

    @property
    def customer_id(self) -> str | None:
        return self.item.get("customer_id")

    @property
    def pseudonym(self) -> str | None:
        return self.item.get("pseudonym")

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        return dict(self.item.get("steps") or {})

    def step_done(self, name: str) -> bool:
        return (self.steps.get(name) or {}).get("status") == "done"

    def step_count(self, name: str) -> int:
        return int((self.steps.get(name) or {}).get("count", 0))

    def counts(self) -> dict[str, int]:
        return {name: int(step.get("count", 0)) for name, step in self.steps.items()}

    def view(self, step_order: tuple[str, ...]) -> ErasureStatusResponse:
        steps = self.steps
        ordered = [name for name in step_order if name in steps] + sorted(set(steps) - set(step_order))
        return ErasureStatusResponse(
            request_id=self.request_id,
            status=self.status,
            requested_at=str(self.item["requested_at"]),
            requested_by=str(self.item.get("requested_by", "")),
            started_at=self.item.get("started_at"),
            updated_at=str(self.item.get("updated_at") or self.item["requested_at"]),
            completed_at=self.item.get("completed_at"),
            attempts=int(self.item.get("attempts", 0)),
            steps=[
                ErasureStep(
                    name=name,
                    status=steps[name].get("status", "running"),
                    count=int(steps[name].get("count", 0)),
                    unit=str(steps[name].get("unit", "items")),
                    finished_at=steps[name].get("finished_at"),
                )
                for name in ordered
            ],
            error=self.item.get("error"),
        )


def new_request_id() -> str:
    return REQUEST_ID_PREFIX + uuid.uuid4().hex


def open_pointer_key(pseudonym: str) -> str:
    return _OPEN_PREFIX + erasure_marker(pseudonym)


@dataclass(frozen=True)
class ErasureRequests:
    """The erasures table."""

    table_name: str
    dynamodb_resource: Any = None
    clock: Callable[[], datetime] | None = None

    @classmethod
    def from_env(cls) -> ErasureRequests:
        name = os.environ.get(ERASURES_TABLE_ENV)
        if not name:
            raise RuntimeError(
                f"environment variable {ERASURES_TABLE_ENV} is not set; the platform spec sets it"
            )
        return cls(name)

    def _table(self) -> Any:
        return dynamodb.table(self.table_name, dynamodb=self.dynamodb_resource)

    def request(self, *, customer_id: str, pseudonym: str, requested_by: str) -> tuple[ErasureRequest, bool]:
        """The customer's open request, or a new pending one; True when it was created by this call."""
        pointer = open_pointer_key(pseudonym)
        for _ in range(3):
            existing = dynamodb.get_item(
                self.table_name, {"request_id": pointer}, dynamodb=self.dynamodb_resource
            )
            if existing is not None:
                found = self.get(str(existing["points_to"]))
                if found is not None and found.status in OPEN_STATUSES:
                    return found, False
                # A pointer left by a request that completed meanwhile: replace it below.
            request_id = new_request_id()
            claimed = dynamodb.put_item_if(
                self.table_name,
                {"request_id": pointer, "points_to": request_id},
                condition="attribute_not_exists(request_id) OR points_to = :seen",
                values={":seen": existing["points_to"] if existing else ""},
                dynamodb=self.dynamodb_resource,
            )
            if not claimed:
                continue  # another DELETE for the customer won the race: answer with its request
            stamp = now_iso(self.clock)
            item = {
                "request_id": request_id,
                "status": "pending",
                "requested_at": stamp,
                "updated_at": stamp,
                "requested_by": requested_by,
                "customer_id": customer_id,
                "pseudonym": pseudonym,
                "attempts": 0,
                "steps": {},
            }
            dynamodb.put_item(self.table_name, item, dynamodb=self.dynamodb_resource)
            return ErasureRequest(item), True
        raise RuntimeError("could not record the erasure request: its pointer kept changing")

    def get(self, request_id: str) -> ErasureRequest | None:
        if not request_id.startswith(REQUEST_ID_PREFIX):
            return None
        item = dynamodb.get_item(self.table_name, {"request_id": request_id}, dynamodb=self.dynamodb_resource)
        return ErasureRequest(item) if item is not None else None

    def open_requests(self) -> list[ErasureRequest]:
        """Requests the job still has to finish, oldest first (the table holds one item per request)."""
        items = dynamodb.scan_all(self.table_name, dynamodb=self.dynamodb_resource)
        found = [
            ErasureRequest(item)
            for item in items
            if str(item["request_id"]).startswith(REQUEST_ID_PREFIX) and item.get("status") in OPEN_STATUSES
        ]
        return sorted(found, key=lambda request: str(request.item["requested_at"]))

    def start(self, request: ErasureRequest) -> ErasureRequest:
        stamp = now_iso(self.clock)
        response = self._table().update_item(
            Key={"request_id": request.request_id},
            UpdateExpression="SET #s = :running, updated_at = :now, "
            "started_at = if_not_exists(started_at, :now), "
            "attempts = if_not_exists(attempts, :zero) + :one REMOVE #e",
            ExpressionAttributeNames={"#s": "status", "#e": "error"},
            ExpressionAttributeValues={":running": "running", ":now": stamp, ":zero": 0, ":one": 1},
            ReturnValues="ALL_NEW",
        )
        return ErasureRequest(response["Attributes"])

    def record_step(self, request_id: str, name: str, *, count: int, unit: str, done: bool) -> None:
        stamp = now_iso(self.clock)
        step: dict[str, Any] = {"status": "done" if done else "running", "count": count, "unit": unit}
        if done:
            step["finished_at"] = stamp
        self._table().update_item(
            Key={"request_id": request_id},
            UpdateExpression="SET steps.#n = :step, updated_at = :now",
            ExpressionAttributeNames={"#n": name},
            ExpressionAttributeValues={":step": step, ":now": stamp},
        )

    def fail(self, request_id: str, reason: str) -> None:
        self._table().update_item(
            Key={"request_id": request_id},
            UpdateExpression="SET #s = :failed, #e = :reason, updated_at = :now",
            ExpressionAttributeNames={"#s": "status", "#e": "error"},
            ExpressionAttributeValues={
                ":failed": "failed",
                ":reason": reason[:1000],
                ":now": now_iso(self.clock),
            },
        )

    def complete(self, request: ErasureRequest) -> ErasureRequest:
        """Mark done and drop what identifies the customer: the audit record is what stays."""
        stamp = now_iso(self.clock)
        response = self._table().update_item(
            Key={"request_id": request.request_id},
            UpdateExpression="SET #s = :completed, completed_at = :now, updated_at = :now "
            "REMOVE customer_id, pseudonym, #e",
            ExpressionAttributeNames={"#s": "status", "#e": "error"},
            ExpressionAttributeValues={":completed": "completed", ":now": stamp},
            ReturnValues="ALL_NEW",
        )
        if request.pseudonym:
            self._release_pointer(request.pseudonym, request.request_id)
        return ErasureRequest(response["Attributes"])

    def _release_pointer(self, pseudonym: str, request_id: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._table().delete_item(
                Key={"request_id": open_pointer_key(pseudonym)},
                ConditionExpression="points_to = :mine",
                ExpressionAttributeValues={":mine": request_id},
            )
        except ClientError as error:
            # Gone already (a re-run after a crash here) or taken over by a newer request: not ours to delete.
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
