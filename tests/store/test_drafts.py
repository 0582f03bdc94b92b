"""Server-side drafts: a form being typed survives a dropped connection, and only its owner sees it
(both backends)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dashboard.store.access import Actor
from dashboard.store.drafts import DraftRepository
from dashboard.store.errors import AccessDeniedError, InvalidRecordError, NotFoundError
from dashboard.store.schema import AlertRow, AuditEntry, DraftRow, GradeRow
from dashboard.store.unit_of_work import UnitOfWork

TYPED = {"temperature_c": 38.6, "hypotension": "fluid_responsive", "ice_score": None,
         "observed_at": datetime(2026, 3, 2, 8, 0)}  # fmt: skip
STORED = {**TYPED, "observed_at": "2026-03-02T08:00:00"}  # JSON: times come back as ISO text


def save(engine: Engine, actor: Actor, values: dict[str, Any], patient: str = "P1") -> None:
    with UnitOfWork(engine, actor) as uow:
        DraftRepository(uow.session, actor).save(patient, "assessment", values)
        uow.commit()


def load(engine: Engine, actor: Actor, patient: str = "P1") -> dict[str, Any] | None:
    with UnitOfWork(engine, actor) as uow:
        return DraftRepository(uow.session, actor).load(patient, "assessment")


def count(engine: Engine, table: type[Any]) -> int | None:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(table)).scalar()


def test_a_draft_round_trips_is_overwritten_and_discarded(
    engine: Engine, people: dict[str, Actor]
) -> None:
    nurse = people["nurse1"]
    assert load(engine, nurse) is None
    save(engine, nurse, TYPED)
    assert load(engine, nurse) == STORED
    save(engine, nurse, {**TYPED, "temperature_c": 39.1})
    assert load(engine, nurse) == {**STORED, "temperature_c": 39.1}
    assert count(engine, DraftRow) == 1  # one draft per user, patient and form
    with UnitOfWork(engine, nurse) as uow:
        drafts = DraftRepository(uow.session, nurse)
        assert drafts.load("P1", "labs") is None  # another form is another draft
        assert drafts.discard("P1", "assessment") is True
        assert drafts.discard("P1", "assessment") is False
        uow.commit()
    assert load(engine, nurse) is None


def test_only_the_owner_reads_a_draft_and_only_within_their_sites(
    engine: Engine, people: dict[str, Actor]
) -> None:
    save(engine, people["nurse1"], TYPED)
    assert load(engine, people["physician1"]) is None  # same site, not theirs
    save(engine, people["physician1"], {"temperature_c": 37.2})
    assert load(engine, people["nurse1"]) == STORED
    assert load(engine, people["physician1"]) == {"temperature_c": 37.2}
    with pytest.raises(AccessDeniedError):
        load(engine, people["nurse2"])
    with pytest.raises(AccessDeniedError):
        save(engine, people["nurse2"], TYPED)
    with UnitOfWork(engine, people["nurse2"]) as uow:
        drafts = DraftRepository(uow.session, people["nurse2"])
        with pytest.raises(AccessDeniedError):
            drafts.discard("P1", "assessment")
        with pytest.raises(NotFoundError):
            drafts.load("P9", "assessment")
    assert load(engine, people["nurse1"]) == STORED


def test_a_draft_survives_a_dropped_connection(engine: Engine, people: dict[str, Actor]) -> None:
    save(engine, people["nurse1"], TYPED)
    engine.dispose()  # every pooled connection is closed, as when the server or network drops
    assert load(engine, people["nurse1"]) == STORED


def test_drafts_are_not_clinical_records(engine: Engine, people: dict[str, Actor]) -> None:
    entries = count(engine, AuditEntry)
    for temperature in (38.0, 38.5, 39.0):  # as the nurse types
        save(engine, people["nurse1"], {"temperature_c": temperature})
    assert count(engine, AuditEntry) == entries  # not audited per keystroke
    assert (count(engine, GradeRow), count(engine, AlertRow)) == (0, 0)  # never graded


def test_values_that_cannot_be_stored_are_refused(engine: Engine, people: dict[str, Actor]) -> None:
    with pytest.raises(InvalidRecordError, match="cannot be stored"):
        save(engine, people["nurse1"], {"widget": object()})
    with UnitOfWork(engine, people["nurse1"]) as uow:
        drafts = DraftRepository(uow.session, people["nurse1"])
        with pytest.raises(InvalidRecordError, match="form name"):
            drafts.save("P1", "", TYPED)
        with pytest.raises(InvalidRecordError, match="form name"):
            drafts.save("P1", "f" * 41, TYPED)
    assert count(engine, DraftRow) == 0
