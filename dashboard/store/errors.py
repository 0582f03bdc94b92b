"""Store errors: one base, each class saying when it is raised. Database errors are translated at
the boundary (an IntegrityError on a record's version becomes :class:`ConflictError`)."""

from __future__ import annotations

from typing import Any


class StoreError(Exception):
    """Base of everything the store raises on purpose."""


class AccessDeniedError(StoreError):
    """The acting user's role or sites do not allow this read or write."""


class NotFoundError(StoreError):
    """No such record (or not visible to this user: the message does not say which)."""


class ReasonRequiredError(StoreError):
    """A correction or withdrawal was attempted without a reason."""


class ConflictError(StoreError):
    """Someone else saved this record first (optimistic concurrency): nothing was overwritten.

    ``theirs`` holds the other person's version: who, when, and the values they saved.
    """

    def __init__(self, message: str, theirs: dict[str, Any]) -> None:
        super().__init__(message)
        self.theirs = theirs


class ConnectionLostError(StoreError):
    """The database connection died before the unit of work committed (a server restart, a
    failover or a network failure): the server rolled the transaction back, nothing was saved,
    and the next attempt connects afresh."""


class InvalidRecordError(StoreError):
    """The values do not pass validation; ``problems`` lists field, value and message."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
