"""The audit log: append-only, hash-chained, verifiable (``cartwatch audit verify``).

Each entry's hash is SHA-256 over the previous hash and the entry's canonical JSON (sequence,
time, actor, action, entity, id, detail).

:func:`append` only queues an entry on the session; the queued entries join the chain when the
transaction commits (a ``before_commit`` hook, :func:`flush`): the single ``audit_head`` row is
locked there, the entries are linked and inserted, and the commit follows. So concurrent writers on
PostgreSQL queue for the head only for those last milliseconds instead of for their whole
transaction, and the chain never forks (SQLite serialises writers anyway). A rollback drops the
queued entries with everything else. Every entry of one commit carries the commit's time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, event, insert, select, text, update
from sqlalchemy.orm import Session, SessionTransaction

from dashboard.store.schema import AuditEntry, AuditHead

GENESIS = "0" * 64
_PENDING = "cartwatch.audit.pending"  # session.info: the entries waiting for the commit
_WATCHED = "cartwatch.audit.watched"
#: PostgreSQL advisory lock key that serialises batch writers (:class:`Chain`, i.e. imports).
BATCH_LOCK = 0x63617274  # "cart"
INSERT_CHUNK = 1000


def _digest(prev_hash: str, payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def _payload(entry: AuditEntry | dict[str, Any]) -> dict[str, Any]:
    """What an entry's hash covers: a stored entry, or the values of one about to be inserted."""
    values = entry if isinstance(entry, dict) else {n: getattr(entry, n) for n in _HASHED}
    at = values["at"] if values["at"].tzinfo else values["at"].replace(tzinfo=UTC)
    return {
        "seq": values["seq"], "at": at.astimezone(UTC).isoformat(), "actor": values["actor"],
        "action": values["action"], "entity": values["entity"],
        "entity_id": values["entity_id"], "detail": values["detail"],
    }  # fmt: skip


_HASHED = ("seq", "at", "actor", "action", "entity", "entity_id", "detail")
_ENTRIES = cast(Table, AuditEntry.__table__)
_HEAD = cast(Table, AuditHead.__table__)
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.head_id == 1).with_for_update()


#: One entry to append: actor, action, entity, entity id, detail.
Item = tuple[str, str, str, str, dict[str, Any]]


class Chain:
    """A batch writer's view of the chain (the importer's): entries go in through :meth:`append`
    and join the chain at commit, like every other entry. On PostgreSQL, constructing it takes a
    transaction-scoped advisory lock, so that two batch writers (two imports) run one after the
    other and each one's checks see the other's rows; ordinary writers never take that lock."""

    def __init__(self, session: Session) -> None:
        self.session = session
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BATCH_LOCK})

    def append(self, items: list[Item]) -> None:
        for item in items:
            append(self.session, *item)


def append(
    session: Session, actor: str, action: str, entity: str, entity_id: str, detail: dict[str, Any]
) -> None:
    """Queue one entry; it joins the chain when the caller's transaction commits."""
    if not session.info.get(_WATCHED):
        event.listen(session, "before_commit", flush)
        event.listen(session, "after_transaction_end", _forget)
        session.info[_WATCHED] = True
    frozen = json.loads(json.dumps(detail, default=str))  # the detail as it is now
    session.info.setdefault(_PENDING, []).append((actor, action, entity, entity_id, frozen))


def pending(session: Session) -> list[Item]:
    """The entries queued in the current transaction (not yet in the chain)."""
    return list(session.info.get(_PENDING, []))


def flush(session: Session) -> None:
    """Lock the head, link the queued entries to it and insert them (called before commit)."""
    items: list[Item] = session.info.pop(_PENDING, [])
    if not items:
        return
    session.flush()  # the statements below bypass the ORM's autoflush
    connection = session.connection()
    head = connection.execute(_READ_HEAD).first()
    if head is None:
        connection.execute(insert(_HEAD).values(head_id=1, seq=0, hash=GENESIS))
        seq, prev = 0, GENESIS
    else:
        seq, prev = head
    at = datetime.now(UTC)
    rows = []
    for actor, action, entity, entity_id, detail in items:
        seq += 1
        values: dict[str, Any] = {
            "seq": seq, "at": at, "actor": actor, "action": action, "entity": entity,
            "entity_id": entity_id, "detail": detail, "prev_hash": prev,
        }  # fmt: skip
        values["hash"] = prev = _digest(prev, _payload(values))
        rows.append(values)
    advance = update(_HEAD).where(_HEAD.c.head_id == 1).values(seq=seq, hash=prev)
    if connection.dialect.name == "postgresql" and len(rows) <= INSERT_CHUNK:
        # One round trip: the entries and the head's advance in one statement (a data-modifying
        # WITH; the head row is already locked by this transaction).
        connection.execute(insert(_ENTRIES).values(rows).add_cte(advance.cte("advance")))
    else:
        for start in range(0, len(rows), INSERT_CHUNK):
            connection.execute(insert(_ENTRIES), rows[start : start + INSERT_CHUNK])
        connection.execute(advance)
    known = session.identity_map.get(session.identity_key(AuditHead, 1))
    if known is not None:  # an instance loaded earlier in this session would be stale
        session.expire(known)


def _forget(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended (committed, rolled back or closed): nothing stays queued."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


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
