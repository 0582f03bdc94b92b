"""Deaths and re-treatments (issue #6): a versioned record kind like lab results, on both backends.

Add, correct (who, when, old, new, reason), withdraw and history; the cause rule of the model on
both sides; site access; the cohort frame; the union with deaths recorded in assessments.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select

from dashboard.services.cohort_data import CohortData, CohortFilters, load_cohort
from dashboard.services.outcomes import deaths_and_retreatments
from dashboard.store import audit
from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.errors import AccessDeniedError, NotFoundError
from dashboard.store.schema import AuditEntry
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.records import DeathCause, OutcomeEvent, OutcomeKind

DIED = datetime(2026, 6, 20, 14, 30)  # the infusion (conftest.INFUSION) was 2026-03-01
RETREATED = datetime(2026, 5, 4, 9, 0)


def death(
    patient: str = "P1", cause: str | None = "infection", at: datetime = DIED
) -> OutcomeEvent:
    return OutcomeEvent(patient_id=patient, event="death", occurred_at=at, cause=cause)


def retreatment(patient: str = "P1", at: datetime = RETREATED) -> OutcomeEvent:
    return OutcomeEvent(patient_id=patient, event="retreatment", occurred_at=at)


# -- the model ------------------------------------------------------------------------------------
def test_a_death_carries_its_cause_from_the_closed_list() -> None:
    event = death(cause="iec_hs")
    assert (event.event, event.cause) == (OutcomeKind.DEATH, DeathCause.IEC_HS)


def test_a_death_without_a_cause_is_accepted_as_not_recorded_not_as_unknown() -> None:
    assert death(cause=None).cause is None
    assert death(cause="unknown").cause is DeathCause.UNKNOWN  # "unknown" is an answer


def test_a_retreatment_with_a_cause_is_refused_with_a_message_saying_how_to_fix_it() -> None:
    with pytest.raises(ValidationError) as refused:
        OutcomeEvent(patient_id="P1", event="retreatment", occurred_at=RETREATED, cause="other")
    (error,) = refused.value.errors()
    assert error["type"] == "cause_without_death"
    assert "for a death only; leave it blank for a retreatment" in error["msg"]


def test_a_retreatment_without_a_cause_is_accepted() -> None:
    assert retreatment().cause is None


def test_free_text_has_no_place_in_an_outcome_event() -> None:
    with pytest.raises(ValidationError, match="detail"):
        OutcomeEvent.model_validate(
            {"patient_id": "P1", "event": "death", "occurred_at": DIED, "detail": "found at home"}
        )
    with pytest.raises(ValidationError, match="cause"):
        death(cause="sepsis")  # not in the list: "infection" is


# -- versions, audit, access (both backends) ------------------------------------------------------
def test_an_event_is_added_corrected_and_withdrawn_with_who_when_old_new_and_why(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        first = uow.events.add(death(cause=None))
        uow.commit()
    with UnitOfWork(engine, people["physician1"]) as uow:
        uow.events.correct(first.record_id, 1, death(cause="infection"), "autopsy report")
        uow.commit()
    with UnitOfWork(engine, people["nurse1"]) as uow:
        uow.events.withdraw(first.record_id, 2, "entered for the wrong patient")
        uow.commit()
    with UnitOfWork(engine, people["nurse1"]) as uow:
        history = uow.events.history(first.record_id)
        current = uow.events.current("P1")
        query = select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)
        entries = uow.session.execute(
            query.where(AuditEntry.entity == "outcome_event").order_by(AuditEntry.seq)
        ).all()
        check = audit.verify(uow.session)
    assert [(h.version, h.status, h.values.cause, h.entered_by, h.reason) for h in history] == [
        (1, "superseded", None, "nurse1", None),
        (2, "superseded", DeathCause.INFECTION, "physician1", "autopsy report"),
        (3, "withdrawn", DeathCause.INFECTION, "nurse1", "entered for the wrong patient"),
    ]
    assert all(h.entered_at is not None for h in history)
    assert current == []  # withdrawn: no current version
    assert [(e.actor, e.action) for e in entries] == [
        ("nurse1", "create"), ("physician1", "correct"), ("nurse1", "withdraw"),
    ]  # fmt: skip
    assert entries[1].detail["changes"] == {"cause": {"old": None, "new": "infection"}}
    assert entries[1].detail["reason"] == "autopsy report"
    assert check.ok


def test_an_event_entered_months_later_is_flagged_late_and_current_is_in_time_order(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        uow.events.add(death(), entered_at=datetime(2026, 6, 21, 14, 31))  # 24 h 1 min later
        uow.events.add(retreatment(), entered_at=datetime(2026, 5, 5, 9, 0))  # exactly 24 h
        uow.commit()
    with UnitOfWork(engine, people["nurse1"]) as uow:
        current = uow.events.current("P1")
    assert [(c.values.event, c.late_entry) for c in current] == [
        (OutcomeKind.RETREATMENT, False),
        (OutcomeKind.DEATH, True),
    ]


def test_a_nurse_of_another_site_can_neither_enter_nor_read_nor_correct_an_event(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse2"]) as uow, pytest.raises(AccessDeniedError):
        uow.events.add(death("P1"))
    with UnitOfWork(engine, people["nurse1"]) as uow:
        stored = uow.events.add(death("P1"))
        uow.commit()
    with UnitOfWork(engine, people["nurse2"]) as uow:
        with pytest.raises(AccessDeniedError):
            uow.events.current("P1")
        with pytest.raises(AccessDeniedError):
            uow.events.history(stored.record_id)
        with pytest.raises(AccessDeniedError):
            uow.events.correct(stored.record_id, 1, death("P1", "other"), "my reason")
    with UnitOfWork(engine, people["researcher"]) as uow, pytest.raises(AccessDeniedError):
        uow.events.add(death("P1"))  # researchers only read
    with UnitOfWork(engine, people["nurse1"]) as uow, pytest.raises(NotFoundError):
        uow.events.history("no-such-record")


# -- the cohort frame and the union with assessment deaths ----------------------------------------
def researcher_of(engine: Engine, site: str) -> Actor:
    with UnitOfWork(engine, SYSTEM) as uow:
        actor = uow.people.add_user(f"res-{site}", Role.RESEARCHER, "research-pw-1", [site])
        uow.commit()
    return actor


def test_the_cohort_reads_current_events_of_the_visible_sites_only(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        kept = uow.events.add(retreatment("P1"))
        gone = uow.events.add(death("P1"))
        uow.commit()
    with UnitOfWork(engine, people["nurse1"]) as uow:
        uow.events.withdraw(gone.record_id, 1, "wrong patient")
        uow.commit()
    with UnitOfWork(engine, people["nurse2"]) as uow:
        uow.events.add(death("P2", cause=None))
        uow.commit()
    only_s01 = researcher_of(engine, "S01")
    with UnitOfWork(engine, only_s01, read_only=True) as uow:
        mine = load_cohort(uow.session, only_s01, CohortFilters()).events
        with pytest.raises(AccessDeniedError):
            load_cohort(uow.session, only_s01, CohortFilters(site_ids=frozenset({"S02"})))
    with UnitOfWork(engine, people["researcher"], read_only=True) as uow:
        both = load_cohort(uow.session, people["researcher"], CohortFilters()).events
        s02 = load_cohort(
            uow.session, people["researcher"], CohortFilters(site_ids=frozenset({"S02"}))
        ).events
    assert list(mine.columns) == ["patient_id", "event", "occurred_at", "cause"]
    assert mine.to_dict("records") == [
        {"patient_id": "P1", "event": "retreatment", "occurred_at": pd.Timestamp(RETREATED),
         "cause": None},
    ]  # fmt: skip
    assert kept.values.occurred_at == RETREATED
    assert sorted(both["patient_id"]) == ["P1", "P2"]
    assert s02[["patient_id", "event"]].values.tolist() == [["P2", "death"]]


def test_a_grade_5_assessment_is_a_death_and_the_first_death_per_patient_wins(
    engine: Engine, people: dict[str, Actor]
) -> None:
    """P1: re-treated on 05-04, CRS death in an assessment on 06-10, an outcome event "death by
    infection" on 06-20: the 06-10 death wins (earlier), the re-treatment stays. P2: the same
    instant in an assessment ("other") and an outcome event ("infection"): the event wins."""
    crs_death = datetime(2026, 6, 10, 3, 0)
    with UnitOfWork(engine, people["nurse1"]) as uow:
        uow.events.add(retreatment("P1"))
        uow.events.add(death("P1", "infection"))
        uow.assessments.add(
            Assessment(patient_id="P1", observed_at=crs_death, death_attributed_to="crs")
        )
        uow.commit()
    with UnitOfWork(engine, people["nurse2"]) as uow:
        uow.assessments.add(
            Assessment(patient_id="P2", observed_at=DIED, death_attributed_to="other")
        )
        uow.events.add(death("P2", "infection"))
        uow.commit()
    with UnitOfWork(engine, people["researcher"], read_only=True) as uow:
        data = load_cohort(uow.session, people["researcher"], CohortFilters())
    found = deaths_and_retreatments(data)
    assert found.to_dict("records") == [
        {"patient_id": "P1", "event": "retreatment", "occurred_at": pd.Timestamp(RETREATED),
         "cause": None},
        {"patient_id": "P1", "event": "death", "occurred_at": pd.Timestamp(crs_death),
         "cause": "crs"},
        {"patient_id": "P2", "event": "death", "occurred_at": pd.Timestamp(DIED),
         "cause": "infection"},
    ]  # fmt: skip


def test_without_any_outcome_the_union_is_empty_with_its_columns() -> None:
    empty = pd.DataFrame()
    alive = pd.DataFrame(
        {"patient_id": ["P1"], "observed_at": [DIED], "death_attributed_to": [None]}
    )
    data = CohortData(patients=empty, assessments=alive, drugs=empty, labs=empty)
    found = deaths_and_retreatments(data)
    assert found.empty
    assert list(found.columns) == ["patient_id", "event", "occurred_at", "cause"]
