"""Credentials: customer tokens for shopper routes, operator identities for operations routes."""

from shelfwise.auth.principal import READ_SCOPE, SERVER_SCOPE, WRITE_SCOPE, Principal

__all__ = ["READ_SCOPE", "SERVER_SCOPE", "WRITE_SCOPE", "Principal"]
