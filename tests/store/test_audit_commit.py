"""The audit chain's commit (dashboard/store/audit.py): on PostgreSQL the entries are linked by
the server and committed in one pipeline, guarded so that a write whose audit entries were not
linked never commits."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, delete, func, select

from dashboard.store import audit
from dashboard.store.access import Actor
from dashboard.store.schema import AssessmentRow, AuditEntry, AuditHead
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment

SEEN = datetime(2026, 3, 2, 8, 0)


def save(engine: Engine, nurse: Actor, hours: int) -> None:
    with UnitOfWork(engine, nurse) as uow:
        uow.assessments.add(
            Assessment(patient_id="P1", observed_at=SEEN.replace(hour=hours), temperature_c=38.1)
        )
        uow.commit()


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(AssessmentRow)).scalar_one()
        entries = connection.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    return rows, entries


def test_saves_are_linked_into_a_chain_that_verifies(
    engine: Engine, people: dict[str, Actor]
) -> None:
    before = counts(engine)
    for hours in (8, 9, 10):  # the pooled connection has seen the head: the pipelined path
        save(engine, people["nurse1"], hours)
    rows, entries = counts(engine)
    assert rows == before[0] + 3
    assert entries > before[1] + 3  # each save audits its record and what re-grading raised
    with UnitOfWork(engine, people["admin"]) as uow:
        check = audit.verify(uow.session)
    assert check.ok, check.message


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_save_whose_audit_head_is_gone_commits_nothing(
    engine: Engine, people: dict[str, Actor]
) -> None:
    """PostgreSQL's pipelined commit: the guard after the linking statement aborts the
    transaction when no head row was there to link to (SQLite links in Python and starts a new
    head, which `audit verify` then reports)."""
    save(engine, people["nurse1"], 8)  # the connection now takes the pipelined path
    with engine.begin() as connection:  # the head row removed behind the app's back
        connection.execute(delete(AuditHead))
    before = counts(engine)
    with pytest.raises(Exception):  # noqa: B017, PT011 (the driver's error differs per backend)
        save(engine, people["nurse1"], 9)
    assert counts(engine) == before  # neither the assessment nor any audit entry
