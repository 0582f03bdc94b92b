"""Deaths and re-treatments (issue #6): a versioned record kind like lab results, on both backends.

Add, correct (who, when, old, new, reason), withdraw and history; the cause rule of the model on
both sides; site access; the cohort frame; the union with deaths recorded in assessments.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from dashboard.cli import main
from dashboard.csv_contract import Problem
from dashboard.services.cohort_data import CohortData, CohortFilters, load_cohort
from dashboard.services.outcomes import deaths_and_retreatments
from dashboard.store import audit
from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.database import open_database
from dashboard.store.errors import AccessDeniedError, NotFoundError
from dashboard.store.importer import ImportRejectedError, import_file
from dashboard.store.schema import AuditEntry, OutcomeEventRow
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.records import DeathCause, OutcomeEvent, OutcomeKind, Patient

INFUSION = datetime(2026, 3, 1, 10, 0)  # the conftest patients' infusion
DIED = datetime(2026, 6, 20, 14, 30)
RETREATED = datetime(2026, 5, 4, 9, 0)


def count(engine: Engine, table: Any) -> int:
    with UnitOfWork(engine, SYSTEM) as uow:
        return int(uow.session.execute(select(func.count()).select_from(table)).scalar_one())


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


# -- import: the whole file validated, every problem with its row, column and value ---------------
HEADER = "patient_id,event,occurred_at,cause"


def write(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def where(problems: list[Problem]) -> list[tuple[int | None, str | None, str | None]]:
    return [(p.row, p.column, p.value) for p in problems]


def test_an_events_file_is_refused_whole_with_every_problem_and_stores_nothing(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        f"{HEADER}\n"
        "P1,death,2026-06-20T14:30:00,infection\n"  # row 2: good
        "P1,retreatment,2026-05-04T09:00:00,other\n"  # 3: a cause for a re-treatment
        "P1,relapse,2026-05-05T09:00:00,\n"  # 4: not an outcome
        "P1,death,yesterday,\n"  # 5: not a time
        "P2,retreatment,2026-05-06T09:00:00,\n"  # 6: a patient of another site
        "P1,death,2026-06-21T10:00:00,sepsis\n",  # 7: not in the list of causes
    )
    with pytest.raises(ImportRejectedError) as refused:
        import_file(engine, people["nurse1"], "events", path)
    assert where(refused.value.problems) == [
        (3, "cause", "other"),
        (4, "event", "relapse"),
        (5, "occurred_at", "yesterday"),
        (6, "patient_id", "P2"),
        (7, "cause", "sepsis"),
    ]
    assert "leave it blank for a retreatment" in refused.value.problems[0].message
    assert count(engine, OutcomeEventRow) == 0


def test_a_free_text_column_is_refused_and_the_rows_are_still_checked(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        f"{HEADER},detail\n"
        "P1,death,2026-06-20T14:30:00,infection,found at home\n"
        "P1,retreatment,2026-05-04T09:00:00,crs,\n",
    )
    with pytest.raises(ImportRejectedError) as refused:
        import_file(engine, people["nurse1"], "events", path)
    assert where(refused.value.problems) == [(1, "detail", None), (3, "cause", "crs")]
    assert count(engine, OutcomeEventRow) == 0


def test_an_events_file_is_stored_once_and_a_changed_value_is_a_correction_in_the_app(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    text = f"{HEADER}\nP1,retreatment,2026-05-04T09:00:00,\nP1,death,2026-06-20T14:30:00,\n"
    first = import_file(engine, people["nurse1"], "events", write(tmp_path, text))
    again = import_file(engine, people["nurse1"], "events", write(tmp_path, text))
    changed = write(tmp_path, text.replace("14:30:00,", "14:30:00,infection"), "changed.csv")
    with pytest.raises(ImportRejectedError) as refused:
        import_file(engine, people["nurse1"], "events", changed)
    with UnitOfWork(engine, people["physician1"]) as uow:
        stored = [(c.values.event, c.values.cause, c.entered_by, c.source)
                  for c in uow.events.current("P1")]  # fmt: skip
    assert (first.stored, again.stored, again.skipped) == (2, 0, 2)
    assert stored == [
        (OutcomeKind.RETREATMENT, None, "nurse1", first.source),
        (OutcomeKind.DEATH, None, "nurse1", first.source),
    ]
    assert where(refused.value.problems) == [(3, "cause", "infection")]
    assert "a death of P1 at 2026-06-20T14:30:00 already exists" in str(refused.value)


def test_cartwatch_import_events_stores_a_good_file_and_names_the_cell_of_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+pysqlite:///{tmp_path / 'cli.db'}"
    engine = open_database(url)
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_site("S01", "Site one")
        nurse = uow.people.add_user("nurse1", Role.NURSE, "nurse-one-pw", ["S01"])
        uow.commit()
    with UnitOfWork(engine, nurse) as uow:
        uow.patients.add(Patient(patient_id="P1", site_id="S01", disease="sle",
                                 product="cd19_car_t", infusion_at=INFUSION))  # fmt: skip
        uow.commit()
    engine.dispose()
    monkeypatch.setenv("CARTWATCH_PASSWORD", "nurse-one-pw")
    good = write(tmp_path, f"{HEADER}\nP1,death,2026-06-20T14:30:00,unknown\n")
    assert main(["import", "events", str(good), "--user", "nurse1", "--url", url]) == 0
    capsys.readouterr()
    bad = write(tmp_path, f"{HEADER}\nP1,retreatment,2026-05-04T09:00:00,other\n", "bad.csv")
    assert main(["import", "events", str(bad), "--user", "nurse1", "--url", url]) == 2
    assert "row 2, column cause, value 'other'" in capsys.readouterr().err
    engine = open_database(url)
    with UnitOfWork(engine, nurse) as uow:
        assert [c.values.cause for c in uow.events.current("P1")] == [DeathCause.UNKNOWN]
    engine.dispose()
