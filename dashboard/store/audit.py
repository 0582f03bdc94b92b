"""The audit log: append-only, hash-chained, verifiable (``cartwatch audit verify``).

Each entry's hash is SHA-256 over the previous hash and the entry's canonical JSON (sequence,
time, actor, action, entity, id, detail). Appends lock the single ``audit_head`` row, so concurrent
writers on PostgreSQL queue rather than fork the chain (SQLite serialises writers anyway).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from dashboard.store.schema import AuditEntry, AuditHead

GENESIS = "0" * 64


def _digest(prev_hash: str, payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def _payload(entry: AuditEntry) -> dict[str, Any]:
    at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)
    return {
        "seq": entry.seq, "at": at.astimezone(UTC).isoformat(), "actor": entry.actor,
        "action": entry.action, "entity": entry.entity, "entity_id": entry.entity_id,
        "detail": entry.detail,
    }  # fmt: skip


#: One entry to append: actor, action, entity, entity id, detail.
Item = tuple[str, str, str, str, dict[str, Any]]


class Chain:
    """The chain's head, locked from construction until the transaction ends; entries go in with
    one INSERT per :meth:`append`, each linked to the one before."""

    def __init__(self, session: Session) -> None:
        head = session.execute(
            select(AuditHead).where(AuditHead.head_id == 1).with_for_update()
        ).scalar_one_or_none()
        if head is None:
            head = AuditHead(head_id=1, seq=0, hash=GENESIS)
            session.add(head)
            session.flush()
        self.session, self.head = session, head

    def append(self, items: list[Item]) -> None:
        at, seq, prev = datetime.now(UTC), self.head.seq, self.head.hash
        rows = []
        for actor, action, entity, entity_id, detail in items:
            seq += 1
            values: dict[str, Any] = {
                "seq": seq, "at": at, "actor": actor, "action": action, "entity": entity,
                "entity_id": entity_id, "detail": json.loads(json.dumps(detail, default=str)),
                "prev_hash": prev,
            }  # fmt: skip
            values["hash"] = prev = _digest(prev, _payload(AuditEntry(**values)))
            rows.append(values)
        if rows:
            self.session.execute(insert(cast(Table, AuditEntry.__table__)), rows)
        self.head.seq, self.head.hash = seq, prev
        self.session.flush()


def append(
    session: Session, actor: str, action: str, entity: str, entity_id: str, detail: dict[str, Any]
) -> None:
    """Add one entry to the chain inside the caller's transaction."""
    Chain(session).append([(actor, action, entity, entity_id, detail)])


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_broken: int | None
    message: str


def verify(session: Session) -> Verification:
    """Walk the chain from the first entry; name the first entry whose link or hash is wrong."""
    prev, count = GENESIS, 0
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        count += 1
        if entry.seq != count:
            return Verification(False, count, entry.seq, f"entry {entry.seq}: sequence gap")
        if entry.prev_hash != prev:
            return Verification(
                False, count, entry.seq, f"entry {entry.seq}: does not link to entry {count - 1}"
            )
        if _digest(prev, _payload(entry)) != entry.hash:
            return Verification(
                False, count, entry.seq, f"entry {entry.seq}: content does not match its hash"
            )
        prev = entry.hash
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq, head.hash) != (count, prev):
        return Verification(False, count, count + 1, "the last entries are missing")
    return Verification(True, count, None, f"audit chain intact: {count} entries")
