"""Per-patient write locks: who may change a patient's records, grades and alerts, and in what order.

A transaction locks the patient row (``SELECT ... FOR UPDATE`` on PostgreSQL) before it writes the
patient's first record, and keeps it until it ends; the alert engine re-grades the patient under
that lock, and acknowledging or resolving one of the patient's alerts takes it too. So two writers
for the same patient queue (the second sees the first one's records and alerts: no duplicate alert,
no grade computed from a stale course), while writers for different patients run in parallel. The
audit head is always the last lock a transaction takes (:func:`dashboard.store.audit.flush`), and
its holder waits for nothing else, so the order is: patient rows, then record and alert rows, then
the audit head. Several patients locked at once are locked in sorted order (the alert engine, the
importer's re-grading); a unit of work that writes records for several patients takes them in the
order it writes them. SQLite has no row locks: its writers already queue for the whole database
(``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from dashboard.store.schema import Patient

#: session.info: the patients locked in this transaction, by id. Holding the objects (not only the
#: ids) keeps them in the session's weak-referencing identity map, so a second look-up of a locked
#: patient in the same transaction (the alert engine's, after the record's) needs no SELECT.
_HELD = "cartwatch.locks.patients"


def lock_patients(session: Session, patient_ids: Iterable[str]) -> dict[str, Patient]:
    """Lock the patients' rows (sorted, those not yet locked by this transaction) and return the
    patients that exist, freshly read."""
    held: dict[str, Patient] | None = session.info.get(_HELD)
    if held is None:
        held = session.info[_HELD] = {}
        event.listen(session, "after_transaction_end", _release)
    wanted = sorted(set(patient_ids))
    missing = [p for p in wanted if p not in held]
    found: dict[str, Patient] = {}
    if missing:
        rows = session.execute(
            select(Patient)
            .where(Patient.patient_id.in_(missing))
            .order_by(Patient.patient_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
        found = {row.patient_id: row for row in rows}
        held.update(found)
    for patient_id in wanted:
        if patient_id not in found:
            patient = session.get(Patient, patient_id)
            if patient is not None:
                found[patient_id] = patient
    return found


def _release(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        held = session.info.get(_HELD)
        if held is not None:
            held.clear()
