"""Alerts after every write: re-graded, deduplicated, audited, seen and handled by the right people
(both backends)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dashboard.store import alert_engine, audit, unit_of_work
from dashboard.store.access import Actor
from dashboard.store.alerts import Alert, AlertRepository, AlertStateError, State
from dashboard.store.errors import AccessDeniedError, ReasonRequiredError
from dashboard.store.records import StoredRecord
from dashboard.store.schema import AlertRow, AssessmentRow, AuditEntry, GradeRow
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.enums import Hypotension, OxygenDevice
from grading.records import Analyte, LabResult

SEEN = datetime(2026, 3, 2, 8, 0)
#: The findings an ASTCT grade 3 assessment raises under ASCO 2021, with their rules.
GRADE_3_ALERTS = {
    ("crs_grade", "critical", "CRS-GRADE"),
    ("tocilizumab", "warning", "TOCI-CRS-2, TOCI-CRS-1-ICANS"),
    ("steroids", "warning", "STEROID-CRS-3, STEROID-CRS-4, STEROID-ICANS-2"),
    ("icu", "critical", "ICU-CRS-3, ICU-ICANS-3"),
}
#: Raised from the drug log and the assessment itself, never from the wall clock.
COURSE_KINDS = {
    "crs_grade",
    "icans_grade",
    "tocilizumab",
    "consider_tocilizumab",
    "steroids",
    "icu",
}


@pytest.fixture(autouse=True)
def _engine_installed() -> None:
    alert_engine.install()  # importing the module installs it; calling again changes nothing


def grade_3(temperature: float = 39.0, at: datetime = SEEN) -> Assessment:
    """Fever, one vasopressor and low-flow oxygen at 4 L/min: ASTCT CRS grade 3."""
    return Assessment(
        patient_id="P1", observed_at=at, temperature_c=temperature,
        hypotension=Hypotension.ONE_VASOPRESSOR,
        oxygen_device=OxygenDevice.LOW_FLOW_NASAL_CANNULA, oxygen_l_min=4.0,
    )  # fmt: skip


def save(engine: Engine, actor: Actor, assessment: Assessment) -> StoredRecord[Assessment]:
    with UnitOfWork(engine, actor) as uow:
        stored = uow.assessments.add(assessment)
        uow.commit()
    return stored


def correct(
    engine: Engine, actor: Actor, stored: StoredRecord[Assessment], new: Assessment, why: str
) -> StoredRecord[Assessment]:
    with UnitOfWork(engine, actor) as uow:
        corrected = uow.assessments.correct(stored.record_id, stored.version, new, why)
        uow.commit()
    return corrected


def alert_rows(engine: Engine, patient_id: str = "P1") -> list[AlertRow]:
    with Session(engine) as session:
        return list(
            session.execute(
                select(AlertRow)
                .where(AlertRow.patient_id == patient_id)
                .order_by(AlertRow.alert_id)
            ).scalars()
        )


def course_alerts(engine: Engine) -> dict[str, AlertRow]:
    return {a.kind: a for a in alert_rows(engine) if a.kind in COURSE_KINDS}


def inbox(engine: Engine, actor: Actor, states: tuple[State, ...] = ("open",)) -> list[Alert]:
    with UnitOfWork(engine, actor) as uow:
        return AlertRepository(uow.session, actor).inbox(states)


def audit_entries(engine: Engine, action: str) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(
            session.execute(
                select(AuditEntry).where(AuditEntry.action == action, AuditEntry.entity == "alert")
                .order_by(AuditEntry.seq)
            ).scalars()
        )  # fmt: skip


def test_a_grade_3_assessment_is_graded_and_raises_its_alerts(
    engine: Engine, people: dict[str, Actor]
) -> None:
    stored = save(engine, people["nurse1"], grade_3())
    with Session(engine) as session:
        grades = session.execute(select(GradeRow)).scalars().all()
        row_id = session.execute(
            select(AssessmentRow.row_id).where(AssessmentRow.record_id == stored.record_id)
        ).scalar_one()
    assert [(g.assessment_row_id, g.patient_id, g.crs_grade, g.crs_status, g.masked, g.flags,
             g.policy) for g in grades] == [
        (row_id, "P1", 3, "graded", False, "tocilizumab=indicated, steroids, icu", "ASCO 2021")
    ]  # fmt: skip
    assert "CRS-HYPOTENSION-3" in grades[0].crs_reason
    assert (grades[0].icans_grade, grades[0].icans_status) == (None, "not_gradable")
    alerts = course_alerts(engine)
    assert {(a.kind, a.severity, a.rule_id) for a in alerts.values()} == GRADE_3_ALERTS
    assert {a.state for a in alerts.values()} == {"open"}
    assert {a.finding_at for a in alerts.values()} == {SEEN}
    assert alerts["crs_grade"].dedup_key == "P1|crs_grade|CRS-GRADE|2026-03-02T08:00:00"
    raised = {e.detail["kind"] for e in audit_entries(engine, "raise") if e.actor == "system"}
    assert set(alerts) <= raised
    with Session(engine) as session:
        assert audit.verify(session).ok


def test_saving_the_same_assessment_again_raises_no_duplicate(
    engine: Engine, people: dict[str, Actor]
) -> None:
    save(engine, people["nurse1"], grade_3())
    first = [(a.alert_id, a.dedup_key, a.state) for a in alert_rows(engine)]
    raised = len(audit_entries(engine, "raise"))
    save(engine, people["nurse1"], grade_3())
    with Session(engine) as session:
        alert_engine.refresh(session, {"P1"})
        session.commit()
        grades = session.execute(select(func.count()).select_from(GradeRow)).scalar()
    assert [(a.alert_id, a.dedup_key, a.state) for a in alert_rows(engine)] == first
    assert len(audit_entries(engine, "raise")) == raised
    assert grades == 2  # one per current assessment


def test_the_physician_sees_critical_first_then_newest_and_acknowledges_with_an_audited_note(
    engine: Engine, people: dict[str, Actor]
) -> None:
    nurse, physician = people["nurse1"], people["physician1"]
    save(engine, nurse, Assessment(patient_id="P1", observed_at=SEEN - timedelta(hours=6),
                                   temperature_c=38.4))  # fmt: skip
    save(engine, nurse, Assessment(patient_id="P1", observed_at=SEEN - timedelta(hours=2),
                                   temperature_c=38.8, hypotension=Hypotension.FLUID_RESPONSIVE,
                                   oxygen_device=OxygenDevice.ROOM_AIR))  # fmt: skip
    save(engine, nurse, grade_3())
    seen = inbox(engine, physician)
    course = [(a.severity, a.kind, a.finding_at) for a in seen if a.kind in COURSE_KINDS]
    assert course == [
        ("critical", "icu", SEEN), ("critical", "crs_grade", SEEN),
        ("warning", "steroids", SEEN),
        ("warning", "tocilizumab", SEEN - timedelta(hours=2)),
        ("warning", "crs_grade", SEEN - timedelta(hours=2)),
        ("info", "crs_grade", SEEN - timedelta(hours=6)),  # grade 1 is still an alert
    ]  # fmt: skip
    rank = {"critical": 0, "warning": 1, "info": 2}
    assert seen == sorted(seen, key=lambda a: (rank[a.severity], -a.finding_at.timestamp()))
    assert {(a.patient_id, a.site_id, a.crs_latest) for a in seen} == {("P1", "S01", 3)}
    icu = next(a for a in seen if a.kind == "icu")

    with UnitOfWork(engine, physician) as uow:
        done = AlertRepository(uow.session, physician).acknowledge(icu.alert_id, "ICU informed")
        uow.commit()
    assert (done.state, done.acknowledged_by, done.acknowledge_note) == (
        "acknowledged", "physician1", "ICU informed"
    )  # fmt: skip
    assert done.acknowledged_at is not None
    assert icu.alert_id not in {a.alert_id for a in inbox(engine, physician)}
    assert [a.alert_id for a in inbox(engine, physician, ("acknowledged",))] == [icu.alert_id]
    entry = audit_entries(engine, "acknowledge")[-1]
    assert (entry.actor, entry.entity_id, entry.detail["note"], entry.detail["state"]) == (
        "physician1", str(icu.alert_id), "ICU informed", "acknowledged"
    )  # fmt: skip
    with UnitOfWork(engine, physician) as uow:
        assert audit.verify(uow.session).ok
        with pytest.raises(AlertStateError, match="already acknowledged by physician1"):
            AlertRepository(uow.session, physician).acknowledge(icu.alert_id, "again")


def test_the_inbox_shows_the_latest_grade_not_the_highest_ever(
    engine: Engine, people: dict[str, Actor]
) -> None:
    nurse, physician = people["nurse1"], people["physician1"]
    save(engine, nurse, grade_3(at=SEEN - timedelta(hours=8)))
    save(engine, nurse, Assessment(patient_id="P1", observed_at=SEEN, temperature_c=38.2,
                                   hypotension=Hypotension.NONE,
                                   oxygen_device=OxygenDevice.ROOM_AIR))  # fmt: skip
    assert {a.crs_latest for a in inbox(engine, physician)} == {1}
    save(engine, nurse, Assessment(patient_id="P1", observed_at=SEEN + timedelta(hours=1)))
    assert {a.crs_latest for a in inbox(engine, physician)} == {None}  # not assessed: no grade


def test_only_physicians_and_admins_of_the_site_acknowledge(
    engine: Engine, people: dict[str, Actor]
) -> None:
    save(engine, people["nurse1"], grade_3())
    crs = course_alerts(engine)["crs_grade"].alert_id
    assert inbox(engine, people["nurse2"]) == []
    assert {a.patient_id for a in inbox(engine, people["nurse1"])} == {"P1"}  # nurses see them
    for who in ("nurse2", "nurse1", "researcher"):
        with UnitOfWork(engine, people[who]) as uow:
            alerts = AlertRepository(uow.session, people[who])
            with pytest.raises(AccessDeniedError):
                alerts.acknowledge(crs, "seen")
            with pytest.raises(AccessDeniedError):
                alerts.resolve(crs, "handled")
    with UnitOfWork(engine, people["nurse2"]) as uow, pytest.raises(AccessDeniedError):
        AlertRepository(uow.session, people["nurse2"]).for_patient("P1")
    assert course_alerts(engine)["crs_grade"].state == "open"
    with UnitOfWork(engine, people["admin"]) as uow:
        assert AlertRepository(uow.session, people["admin"]).acknowledge(crs, "").state == (
            "acknowledged"
        )


def test_a_correction_that_removes_the_finding_resolves_its_alerts_as_the_system(
    engine: Engine, people: dict[str, Actor]
) -> None:
    nurse, physician = people["nurse1"], people["physician1"]
    stored = save(engine, nurse, grade_3())
    icu = course_alerts(engine)["icu"].alert_id
    with UnitOfWork(engine, physician) as uow:
        AlertRepository(uow.session, physician).acknowledge(icu, "ICU informed")
        uow.commit()
    corrected = correct(engine, nurse, stored, grade_3(temperature=37.0), "thermometer misread")

    with Session(engine) as session:
        grades = session.execute(select(GradeRow)).scalars().all()
        row_id = session.execute(
            select(AssessmentRow.row_id).where(
                AssessmentRow.record_id == corrected.record_id, AssessmentRow.status == "current"
            )
        ).scalar_one()
    assert [(g.assessment_row_id, g.crs_grade, g.crs_status, g.flags) for g in grades] == [
        (row_id, 0, "no_toxicity", "")
    ]
    alerts = course_alerts(engine)
    assert {(a.kind, a.state, a.resolved_by, a.resolve_note) for a in alerts.values()} == {
        (kind, "resolved", None, alert_engine.RESOLVED_CORRECTED)
        for kind, _, _ in GRADE_3_ALERTS
    }  # fmt: skip
    assert alerts["icu"].acknowledge_note == "ICU informed"  # kept
    with UnitOfWork(engine, physician) as uow:
        shown = {a.kind: a for a in AlertRepository(uow.session, physician).for_patient("P1")}
        assert audit.verify(uow.session).ok
    assert shown["crs_grade"].resolved_by == "system"
    assert shown["crs_grade"].crs_latest == 0
    resolved = {e.detail["kind"]: e for e in audit_entries(engine, "resolve")}
    assert resolved["crs_grade"].actor == "system"
    assert resolved["crs_grade"].detail["note"] == alert_engine.RESOLVED_CORRECTED
    assert resolved["icu"].detail["previous_state"] == "acknowledged"

    # Undoing the correction brings the same alerts back, open: nothing is hidden, nothing doubled.
    correct(engine, nurse, corrected, grade_3(temperature=39.0), "the first reading was right")
    again = course_alerts(engine)
    assert {(k, a.alert_id, a.state) for k, a in again.items()} == {
        (k, a.alert_id, "open") for k, a in alerts.items()
    }


def test_a_resolved_alert_cannot_be_acknowledged_and_stays_resolved(
    engine: Engine, people: dict[str, Actor]
) -> None:
    nurse, physician = people["nurse1"], people["physician1"]
    save(engine, nurse, grade_3())
    crs = course_alerts(engine)["crs_grade"].alert_id
    with UnitOfWork(engine, physician) as uow:
        alerts = AlertRepository(uow.session, physician)
        with pytest.raises(ReasonRequiredError):
            alerts.resolve(crs, "  ")
        done = alerts.resolve(crs, "tocilizumab given, vasopressor weaned")
        uow.commit()
    assert (done.state, done.resolved_by, done.resolve_note) == (
        "resolved", "physician1", "tocilizumab given, vasopressor weaned"
    )  # fmt: skip
    with UnitOfWork(engine, physician) as uow:
        alerts = AlertRepository(uow.session, physician)
        with pytest.raises(AlertStateError, match="resolved by physician1") as refused:
            alerts.acknowledge(crs, "seen")
        with pytest.raises(AlertStateError, match="already resolved"):
            alerts.resolve(crs, "again")
    assert "cannot be acknowledged" in str(refused.value)
    entry = audit_entries(engine, "resolve")[-1]
    assert (entry.actor, entry.detail["note"]) == (
        "physician1", "tocilizumab given, vasopressor weaned"
    )  # fmt: skip
    save(engine, nurse, grade_3())  # the finding is still there; the physician's decision stands
    assert course_alerts(engine)["crs_grade"].state == "resolved"


def test_a_failed_save_leaves_no_alert_and_no_grade(
    engine: Engine, people: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    def counts() -> tuple[int | None, ...]:
        with Session(engine) as session:
            return tuple(
                session.execute(select(func.count()).select_from(t)).scalar()
                for t in (AssessmentRow, GradeRow, AlertRow)
            )

    def crash_before_commit() -> None:
        with UnitOfWork(engine, people["nurse1"]) as uow:
            uow.assessments.add(grade_3())
            raise RuntimeError("the form crashed before saving")

    written: list[int | None] = []

    def fail_after_the_engine(session: Session, touched: set[str]) -> None:
        written.append(session.execute(select(func.count()).select_from(AlertRow)).scalar())
        raise OSError("connection lost")

    # A hook after the engine fails: the engine's grades and alerts must go with the record.
    monkeypatch.setattr(
        unit_of_work, "_after_write", [*unit_of_work._after_write, fail_after_the_engine]
    )
    with pytest.raises(RuntimeError):
        crash_before_commit()
    assert counts() == (0, 0, 0)
    with pytest.raises(OSError, match="connection lost"):
        save(engine, people["nurse1"], grade_3())
    assert written[0] is not None
    assert written[0] >= len(GRADE_3_ALERTS)  # the engine had written them
    assert counts() == (0, 0, 0)


def test_overdue_items_raise_alerts_that_resolve_once_recorded(
    engine: Engine, people: dict[str, Actor]
) -> None:
    nurse = people["nurse1"]
    save(engine, nurse, Assessment(patient_id="P1", observed_at=SEEN, temperature_c=37.0))
    with Session(engine) as session:
        alert_engine.refresh(session, {"P1"}, at=SEEN + timedelta(hours=6))
        session.commit()
    missed = {a.rule_id: a for a in alert_rows(engine) if a.kind == "missed_assessment"}
    vitals = missed["SCHEDULE-VITALS"]
    assert (vitals.finding_at, vitals.state, vitals.severity) == (
        SEEN + timedelta(hours=4), "open", "warning"
    )  # fmt: skip
    with UnitOfWork(engine, nurse) as uow:
        uow.assessments.add(Assessment(patient_id="P1", observed_at=SEEN + timedelta(hours=6),
                                       temperature_c=37.1))  # fmt: skip
        alert_engine.refresh(uow.session, {"P1"}, at=SEEN + timedelta(hours=6, minutes=5))
        uow.session.commit()
    after = {a.alert_id: a for a in alert_rows(engine)}
    assert (after[vitals.alert_id].state, after[vitals.alert_id].resolve_note) == (
        "resolved", alert_engine.RESOLVED_DONE
    )  # fmt: skip
    assert after[missed["SCHEDULE-NEURO"].alert_id].state == "open"  # still not done


def test_lab_findings_raise_alerts_and_early_icaht_is_raised_once(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        for day in range(10):
            uow.labs.add(LabResult(patient_id="P1", collected_at=SEEN + timedelta(days=day),
                                   analyte=Analyte.ANC, value=50, unit="cells/uL"))  # fmt: skip
        uow.commit()
    for at in (SEEN + timedelta(days=10), SEEN + timedelta(days=11)):
        with Session(engine) as session:
            alert_engine.refresh(session, {"P1"}, at=at)
            session.commit()
    cytopenia = [a for a in alert_rows(engine) if a.kind == "cytopenia"]
    assert {(a.rule_id, a.severity, a.finding_at) for a in cytopenia if a.state == "open"} == {
        ("CTCAE5-NEUT-4", "warning", SEEN),
        ("ICAHT-EARLY-3-100", "critical", datetime(2026, 3, 1, 10, 0)),  # keyed by the infusion
    }
    assert [a.rule_id for a in cytopenia].count("ICAHT-EARLY-3-100") == 1


def test_the_dedup_key_fits_its_column_however_long_the_rule() -> None:
    short = alert_engine.dedup_key("P1", "steroids", "STEROID-CRS-3", SEEN)
    long = alert_engine.dedup_key("P" * 64, "steroids", "R" * 300, SEEN)
    other = alert_engine.dedup_key("P" * 64, "steroids", "R" * 299 + "S", SEEN)
    assert short == "P1|steroids|STEROID-CRS-3|2026-03-02T08:00:00"
    assert len(long) == len(other) == alert_engine.KEY_LENGTH
    assert long != other


def test_an_acknowledgement_racing_a_correction_waits_for_it_instead_of_deadlocking(
    engine: Engine, people: dict[str, Actor]
) -> None:
    nurse, physician = people["nurse1"], people["physician1"]
    stored = save(engine, nurse, grade_3())
    icu = course_alerts(engine)["icu"].alert_id
    holding, outcome = threading.Event(), dict[str, str]()

    def correct_slowly() -> None:
        try:
            with UnitOfWork(engine, nurse) as uow:
                uow.assessments.correct(stored.record_id, 1, grade_3(37.0), "misread")
                holding.set()  # the correction holds its locks while the physician acknowledges
                time.sleep(1.0)
                uow.commit()  # resolves the ICU alert
            outcome["correction"] = "committed"
        except Exception as error:  # reported below, not lost in the thread
            holding.set()
            outcome["correction"] = repr(error)

    writer = threading.Thread(target=correct_slowly)
    writer.start()
    assert holding.wait(30)
    with UnitOfWork(engine, physician) as uow:
        try:
            AlertRepository(uow.session, physician).acknowledge(icu, "ICU informed")
            outcome["acknowledgement"] = "acknowledged"
        except AlertStateError as refused:
            outcome["acknowledgement"] = str(refused)
    writer.join(30)
    assert outcome["correction"] == "committed"
    assert "was resolved by system" in outcome["acknowledgement"]
    assert course_alerts(engine)["icu"].state == "resolved"
