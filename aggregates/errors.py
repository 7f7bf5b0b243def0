"""The one hierarchy of domain errors.

Every refusal the ledger makes is one of these; ``api/problems.py`` maps each class to
an HTTP status and an ``application/problem+json`` body in one place.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class: a refused operation. Nothing has been recorded when it is raised."""

    title = "Request refused"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidCommand(LedgerError):
    """The command is malformed or names things that do not exist on the family."""

    title = "Invalid command"


class RuleBroken(LedgerError):
    """The command is well formed but the record's rules refuse it now."""

    title = "Rule broken"


class NotAuthorised(LedgerError):
    """The actor's role may not do this (on this family, under this pack)."""

    title = "Not authorised"


class NotFound(LedgerError):
    """The family (or event) does not exist."""

    title = "Not found"


class VersionConflict(LedgerError):
    """The family changed since the version the caller stated (If-Match)."""

    title = "Version conflict"


class IdempotencyMismatch(LedgerError):
    """An Idempotency-Key was reused with a different request body."""

    title = "Idempotency key reused"
