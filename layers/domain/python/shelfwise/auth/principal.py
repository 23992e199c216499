"""Who is calling: the principal API Gateway's authorizers vouch for, as handlers see it.

Two authorizers put a caller's identity into the proxy event's `requestContext.authorizer`:

- the Lambda authorizer of the shopper routes (`functions/authorizer`) returns a context
  `{"principal": "customer" | "operator", "subject": ..., "scopes": "space separated"}`;
- the Cognito user-pool authorizer of the operations routes passes the access token's claims as
  `{"claims": {"sub": ..., "scope": "shelfwise/read shelfwise/write", "client_id": ...}}`.

API Gateway sets `requestContext` itself, so a caller cannot forge it; the local gateway fills it alike.
A handler therefore trusts it, and only decides what the principal may see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

READ_SCOPE = "shelfwise/read"
WRITE_SCOPE = "shelfwise/write"
# The retailer's own servers (CRM, e-mail campaigns, the storefront's back end) act for any customer.
SERVER_SCOPE = "shelfwise/server"

PrincipalKind = Literal["customer", "operator"]


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    subject: str
    scopes: frozenset[str] = frozenset()

    def may_act_for(self, customer_id: str) -> bool:
        """A shopper acts only for themself; an operator only with the server scope."""
        if self.kind == "customer":
            return self.subject == customer_id
        return SERVER_SCOPE in self.scopes

    def has_scope(self, scope: str) -> bool:
        return self.kind == "operator" and scope in self.scopes

    def authorizer_context(self) -> dict[str, str]:
        """What the Lambda authorizer returns as `context` (API Gateway allows flat string values only)."""
        return {"principal": self.kind, "subject": self.subject, "scopes": " ".join(sorted(self.scopes))}

    @classmethod
    def from_request_context(cls, request_context: Mapping[str, Any] | None) -> Principal | None:
        authorizer = (request_context or {}).get("authorizer") or {}
        if not isinstance(authorizer, Mapping):
            return None
        claims = authorizer.get("claims")
        if isinstance(claims, Mapping) and claims.get("sub"):
            return cls(
                kind="operator",
                subject=str(claims.get("client_id") or claims["sub"]),
                scopes=frozenset(str(claims.get("scope") or "").split()),
            )
        kind = authorizer.get("principal")
        subject = authorizer.get("subject")
        if kind not in ("customer", "operator") or not subject:
            return None
        return cls(
            kind=kind, subject=str(subject), scopes=frozenset(str(authorizer.get("scopes") or "").split())
        )
