"""Writers at the same moment: one patient's writers queue, other patients' writers do not wait,
every alert is raised once and the audit chain stays intact (both backends, see conftest.py)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dashboard.store import audit
from dashboard.store.access import Actor
from dashboard.store.schema import AlertRow, AssessmentRow, AuditEntry
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment

SEEN = datetime(2026, 3, 2, 8, 0)
WAIT = 30.0


def fever(patient_id: str) -> Assessment:
    return Assessment(patient_id=patient_id, observed_at=SEEN, temperature_c=38.6)


def hold_a_write(engine: Engine, actor: Actor, patient_id: str, holding: threading.Event,
                 release: threading.Event, outcome: dict[str, str]) -> None:  # fmt: skip
    """Save one assessment, but wait for ``release`` between the write and the commit."""
    try:
        with UnitOfWork(engine, actor) as uow:
            uow.assessments.add(fever(patient_id))
            holding.set()
            assert release.wait(WAIT)
            uow.commit()
        outcome["held"] = "committed"
    except Exception as error:  # reported by the test, not lost in the thread
        holding.set()
        outcome["held"] = repr(error)


def save_now(engine: Engine, actor: Actor, patient_id: str, done: threading.Event,
             outcome: dict[str, str]) -> None:  # fmt: skip
    try:
        with UnitOfWork(engine, actor) as uow:
            uow.assessments.add(fever(patient_id))
            uow.commit()
        outcome["second"] = "committed"
    except Exception as error:
        outcome["second"] = repr(error)
    done.set()


Writer = tuple[Actor, str]  # who, for which patient


def race(engine: Engine, first: Writer, second: Writer) -> tuple[bool, dict[str, str]]:
    """The first writer holds its write open; returns whether the second one finished meanwhile."""
    holding, release, done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict[str, str] = {}
    held = threading.Thread(target=hold_a_write, args=(engine, *first, holding, release, outcome))
    held.start()
    assert holding.wait(WAIT)
    other = threading.Thread(target=save_now, args=(engine, *second, done, outcome))
    other.start()
    finished_meanwhile = done.wait(1.5)
    release.set()
    held.join(WAIT)
    other.join(WAIT)
    return finished_meanwhile, outcome


def alerts(engine: Engine, patient_id: str) -> list[AlertRow]:
    with Session(engine) as session:
        return list(
            session.execute(select(AlertRow).where(AlertRow.patient_id == patient_id)).scalars()
        )


def raised(engine: Engine) -> Counter[str]:
    with Session(engine) as session:
        entries = session.execute(select(AuditEntry).where(AuditEntry.action == "raise")).scalars()
        return Counter(e.entity_id for e in entries)


def test_two_writers_for_one_patient_queue_and_raise_each_alert_once(
    engine: Engine, people: dict[str, Actor]
) -> None:
    nurse, physician = people["nurse1"], people["physician1"]
    finished_meanwhile, outcome = race(engine, (nurse, "P1"), (physician, "P1"))
    assert outcome == {"held": "committed", "second": "committed"}
    assert not finished_meanwhile  # the second writer waited for the first one's commit
    found = alerts(engine, "P1")
    assert [a.kind for a in found].count("crs_grade") == 1
    assert len({a.dedup_key for a in found}) == len(found)
    assert set(raised(engine).values()) == {1}  # one audited raise per alert
    assert {str(a.alert_id) for a in found} == set(raised(engine))
    with Session(engine) as session:
        rows = session.execute(select(AssessmentRow).where(AssessmentRow.patient_id == "P1"))
        assert len(rows.all()) == 2
        check = audit.verify(session)
    assert check.ok, check.message


def test_a_writer_for_another_patient_does_not_wait_on_postgresql(
    engine: Engine, people: dict[str, Actor]
) -> None:
    nurse1, nurse2 = people["nurse1"], people["nurse2"]
    finished_meanwhile, outcome = race(engine, (nurse1, "P1"), (nurse2, "P2"))
    assert outcome == {"held": "committed", "second": "committed"}
    # PostgreSQL: only the patient row is locked while a write is open. SQLite: one writer at a
    # time for the whole database (BEGIN IMMEDIATE), so the second one queues instead of failing.
    assert finished_meanwhile is (engine.dialect.name == "postgresql")
    assert [a.kind for a in alerts(engine, "P1")].count("crs_grade") == 1
    assert [a.kind for a in alerts(engine, "P2")].count("crs_grade") == 1
    with Session(engine) as session:
        check = audit.verify(session)
        seqs = list(session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars())
    assert check.ok, check.message
    assert seqs == list(range(1, len(seqs) + 1))


def test_queued_audit_entries_are_dropped_by_a_rollback(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with Session(engine) as session:
        before = audit.verify(session).entries
    with UnitOfWork(engine, people["nurse1"]) as uow:
        uow.assessments.add(fever("P1"))
        assert [item[1] for item in audit.pending(uow.session)] == ["create"]
        # leaving without commit rolls back
    with UnitOfWork(engine, people["nurse1"]) as uow:
        assert audit.pending(uow.session) == []
        uow.assessments.add(fever("P1"))
        uow.commit()
        assert audit.pending(uow.session) == []
    with Session(engine) as session:
        check = audit.verify(session)
    assert check.ok, check.message
    assert check.entries > before + 1  # the create and the alert raises, once
