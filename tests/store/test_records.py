"""Nothing lost, nothing silently changed: versions, reasons, conflicts, access (both backends)."""

from __future__ import annotations

import gc
import weakref
from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select

from dashboard.store import audit
from dashboard.store.access import Actor
from dashboard.store.errors import AccessDeniedError, ConflictError, ReasonRequiredError
from dashboard.store.schema import AssessmentRow, User
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment

SEEN = datetime(2026, 3, 2, 8, 0)


def febrile(temperature: float = 38.5, patient: str = "P1") -> Assessment:
    return Assessment(patient_id=patient, observed_at=SEEN, temperature_c=temperature)


def test_a_correction_keeps_who_when_old_new_and_why(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        first = uow.assessments.add(febrile(38.5))
        uow.commit()
    with UnitOfWork(engine, people["physician1"]) as uow:
        uow.assessments.correct(first.record_id, 1, febrile(39.5), "thermometer misread")
        uow.commit()
    with UnitOfWork(engine, people["nurse1"]) as uow:
        history = uow.assessments.history(first.record_id)
        current = uow.assessments.current("P1")
        check = audit.verify(uow.session)
    assert [(h.version, h.status, h.values.temperature_c, h.entered_by, h.reason)
            for h in history] == [
        (1, "superseded", 38.5, "nurse1", None),
        (2, "current", 39.5, "physician1", "thermometer misread"),
    ]  # fmt: skip
    assert [c.values.temperature_c for c in current] == [39.5]
    assert check.ok


def test_the_second_of_two_editors_is_refused_with_the_other_persons_change(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        first = uow.assessments.add(febrile(38.5))
        uow.commit()
    with UnitOfWork(engine, people["physician1"]) as uow:
        uow.assessments.correct(first.record_id, 1, febrile(39.0), "re-measured")
        uow.commit()
    with UnitOfWork(engine, people["nurse1"]) as uow, pytest.raises(ConflictError) as refused:
        uow.assessments.correct(first.record_id, 1, febrile(37.0), "my correction")
    assert "physician1" in str(refused.value)
    assert refused.value.theirs["values"]["temperature_c"] == 39.0
    with UnitOfWork(engine, people["nurse1"]) as uow:
        assert [h.values.temperature_c for h in uow.assessments.history(first.record_id)] == [
            38.5, 39.0
        ]  # fmt: skip


def test_a_correction_without_a_reason_is_refused_and_stores_nothing(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        first = uow.assessments.add(febrile(38.5))
        uow.commit()
    with UnitOfWork(engine, people["nurse1"]) as uow, pytest.raises(ReasonRequiredError):
        uow.assessments.correct(first.record_id, 1, febrile(39.0), "  ")
    with UnitOfWork(engine, people["nurse1"]) as uow:
        count = uow.session.execute(select(func.count()).select_from(AssessmentRow)).scalar()
    assert count == 1


def test_a_withdrawal_is_reasoned_and_the_values_stay_readable(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        first = uow.assessments.add(febrile(38.5))
        uow.commit()
    with UnitOfWork(engine, people["nurse1"]) as uow:
        uow.assessments.withdraw(first.record_id, 1, "entered for the wrong patient")
        uow.commit()
    with UnitOfWork(engine, people["nurse1"]) as uow:
        assert uow.assessments.current("P1") == []
        history = uow.assessments.history(first.record_id)
    assert [(h.status, h.values.temperature_c) for h in history] == [
        ("superseded", 38.5), ("withdrawn", 38.5)
    ]  # fmt: skip


def test_leaving_without_commit_stores_nothing(engine: Engine, people: dict[str, Actor]) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        uow.assessments.add(febrile(38.5))
    with UnitOfWork(engine, people["nurse1"]) as uow:
        assert uow.assessments.current("P1") == []


def test_a_nurse_of_another_site_can_neither_read_nor_write(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse2"]) as uow:
        with pytest.raises(AccessDeniedError):
            uow.assessments.add(febrile(38.5, patient="P1"))
        with pytest.raises(AccessDeniedError):
            uow.assessments.current("P1")
        with pytest.raises(AccessDeniedError):
            uow.patients.get("P1")
        assert [p.patient_id for p in uow.patients.visible()] == ["P2"]


def test_researchers_read_but_never_write(engine: Engine, people: dict[str, Actor]) -> None:
    with UnitOfWork(engine, people["researcher"]) as uow:
        assert uow.assessments.current("P1") == []
        with pytest.raises(AccessDeniedError):
            uow.assessments.add(febrile(38.5))


def test_an_entry_made_a_day_after_the_observation_is_flagged_late(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        on_time = uow.assessments.add(febrile(), entered_at=datetime(2026, 3, 2, 9, 0))
        late = uow.assessments.add(
            Assessment(patient_id="P1", observed_at=SEEN, temperature_c=37.0),
            entered_at=datetime(2026, 3, 3, 8, 1),
        )
        uow.commit()
    assert (on_time.late_entry, late.late_entry) == (False, True)


def test_passwords_are_argon2_hashed_and_checked(engine: Engine, people: dict[str, Actor]) -> None:
    with UnitOfWork(engine, people["admin"]) as uow:
        assert uow.people.authenticate("nurse1", "nurse-one-pw") == people["nurse1"]
        assert uow.people.authenticate("nurse1", "wrong-password") is None
        hashed = uow.session.execute(select(User.password_hash)).scalars().all()
    assert all(h.startswith("$argon2id$") for h in hashed)


def test_saves_reuse_one_stored_record_class_across_garbage_collections(
    engine: Engine, people: dict[str, Actor]
) -> None:
    # pydantic caches StoredRecord[Assessment] weakly; rebuilding it cost about 2 ms of a save's
    # 3-5 ms (docs/performance.md), and the collector dropped it every few saves
    with UnitOfWork(engine, people["nurse1"]) as uow:
        first = uow.assessments.add(febrile(38.5))
        uow.commit()
    built = weakref.ref(type(first))
    del first
    gc.collect()
    with UnitOfWork(engine, people["nurse1"]) as uow:
        second = uow.assessments.add(febrile(38.7))
        uow.commit()
    assert built() is not None
    assert type(second) is built()
    assert second.values.temperature_c == 38.7
