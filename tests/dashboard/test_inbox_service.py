"""The inbox service on the 40-patient sample: who sees which alerts, in what order, and what
acknowledging and resolving store (checked in the database, not through the service)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, case, select

from dashboard.services import inbox as svc
from dashboard.services.auth import sign_in
from dashboard.store.access import Actor
from dashboard.store.alerts import AlertRepository
from dashboard.store.errors import AccessDeniedError
from dashboard.store.schema import AlertRow, AssessmentRow, GradeRow, Patient
from dashboard.store.unit_of_work import UnitOfWork


@pytest.fixture
def engine(sample_engine: Engine) -> Engine:
    """The shared sample copy (tests/dashboard/conftest.py); pages open it too."""
    return sample_engine


def actor(engine: Engine, username: str) -> Actor:
    return sign_in(engine, username, f"{username}-demo")


def stored(engine: Engine, alert_id: int) -> AlertRow:
    with engine.connect() as connection:
        row = connection.execute(select(AlertRow).where(AlertRow.alert_id == alert_id)).one()
    return AlertRow(**row._asdict())


def first_open(engine: Engine, site: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(AlertRow.alert_id)
                .join(Patient, Patient.patient_id == AlertRow.patient_id)
                .where(Patient.site_id == site, AlertRow.state == "open")
                .order_by(AlertRow.alert_id)
            ).scalars().first() or 0
        )  # fmt: skip


def test_physician_sees_only_own_site_alerts_in_severity_then_time_order(engine: Engine) -> None:
    physician = actor(engine, "physician-s01")
    view = svc.load_inbox(engine, physician)
    rank = case((AlertRow.severity == "critical", 0), (AlertRow.severity == "warning", 1), else_=2)
    with engine.connect() as connection:
        expected = list(connection.execute(
            select(AlertRow.alert_id)
            .join(Patient, Patient.patient_id == AlertRow.patient_id)
            .where(Patient.site_id == "S01", AlertRow.state == "open")
            .order_by(rank, AlertRow.finding_at.desc(), AlertRow.alert_id.desc())
        ).scalars())  # fmt: skip
        other_sites = set(connection.execute(
            select(Patient.site_id).join(AlertRow, AlertRow.patient_id == Patient.patient_id)
        ).scalars())  # fmt: skip
    assert len(expected) >= 5
    assert other_sites > {"S01"}
    assert [row.alert_id for row in view.rows] == expected
    assert {row.site_id for row in view.rows} == {"S01"}
    assert view.sites == ["S01"]
    severities = [row.severity for row in view.rows]
    assert severities == sorted(severities, key=svc.SEVERITIES.index)
    assert severities[0] == "critical"
    assert severities[-1] == "info"
    for severity in svc.SEVERITIES:
        times = [row.finding_at for row in view.rows if row.severity == severity]
        assert times == sorted(times, reverse=True)
    assert view.can_handle is True
    assert view.total == len(expected)


def test_rows_carry_source_evidence_and_current_grades(engine: Engine) -> None:
    view = svc.load_inbox(engine, actor(engine, "admin"))
    by_id = {row.alert_id: row for row in view.rows}
    with engine.connect() as connection:
        stored_rows = connection.execute(select(AlertRow).where(AlertRow.state == "open")).all()
    assert set(by_id) == {row.alert_id for row in stored_rows}
    for row in stored_rows:
        shown = by_id[row.alert_id]
        assert (shown.rule_id, shown.citation, shown.evidence, shown.detail) == (
            row.rule_id, row.citation, row.evidence, row.detail)  # fmt: skip
        assert shown.evidence_label == svc.EVIDENCE_LABELS[row.evidence]
    unconfirmed = [row for row in view.rows if row.evidence == "U"]
    assert all(row.uncertain for row in unconfirmed)
    icaht = next(row for row in view.rows if row.rule_id.startswith("ICAHT-EARLY"))
    assert icaht.uncertain
    assert "provisional" in icaht.detail
    # the grades shown are those of each patient's latest assessment (not the highest ever)
    with engine.connect() as connection:
        graded = connection.execute(
            select(AssessmentRow.patient_id, GradeRow.crs_grade, GradeRow.icans_grade)
            .join(GradeRow, GradeRow.assessment_row_id == AssessmentRow.row_id)
            .order_by(AssessmentRow.observed_at, AssessmentRow.row_id)
        ).all()
    latest = {pid: (crs, icans) for pid, crs, icans in graded}  # the last one wins
    assert {(r.patient_id, r.crs_grade, r.icans_grade) for r in view.rows} == {
        (r.patient_id, *latest.get(r.patient_id, (None, None))) for r in view.rows
    }


def test_filters_by_severity_site_and_patient(engine: Engine) -> None:
    admin = actor(engine, "admin")
    every = svc.load_inbox(engine, admin).rows
    patient = every[0].patient_id
    view = svc.load_inbox(engine, admin, severities=["warning"], site_ids=["S02"])
    assert view.rows == [r for r in every if r.severity == "warning" and r.site_id == "S02"]
    assert view.rows
    assert view.total == len(every)
    assert svc.load_inbox(engine, admin, patient_id=patient).rows == [
        r for r in every if r.patient_id == patient
    ]
    assert svc.load_inbox(engine, admin, states=[]).rows == []


def test_acknowledge_stores_who_and_the_note(engine: Engine) -> None:
    physician = actor(engine, "physician-s01")
    alert_id = first_open(engine, "S01")
    result = svc.acknowledge(engine, physician, alert_id, "  Seen; repeat ANC tomorrow.  ")
    assert result.ok, result.message
    assert result.message.startswith(f"Alert {alert_id} (")
    assert "acknowledged by physician-s01." in result.message
    row = stored(engine, alert_id)
    assert (row.state, row.acknowledged_by, row.acknowledge_note) == (
        "acknowledged", physician.user_id, "Seen; repeat ANC tomorrow.")  # fmt: skip
    shown = svc.load_inbox(engine, physician, states=["acknowledged"]).rows
    assert [(r.alert_id, r.acknowledged_by) for r in shown] == [(alert_id, "physician-s01")]
    assert alert_id not in [r.alert_id for r in svc.load_inbox(engine, physician).rows]
    again = svc.acknowledge(engine, physician, alert_id, "second note")
    assert not again.ok
    assert "already acknowledged by physician-s01" in again.message
    assert stored(engine, alert_id).acknowledge_note == "Seen; repeat ANC tomorrow."


@pytest.mark.parametrize("note", ["", "   \n"])
def test_blank_note_is_refused_with_a_message(engine: Engine, note: str) -> None:
    alert_id = first_open(engine, "S01")
    result = svc.acknowledge(engine, actor(engine, "physician-s01"), alert_id, note)
    assert not result.ok
    assert "Write a note before acknowledging" in result.message
    assert stored(engine, alert_id).state == "open"


def test_nurse_reads_the_inbox_but_cannot_acknowledge(engine: Engine) -> None:
    nurse, physician = actor(engine, "nurse-s01"), actor(engine, "physician-s01")
    view = svc.load_inbox(engine, nurse)
    assert view.can_handle is False
    assert view.rows == svc.load_inbox(engine, physician).rows
    alert_id = view.rows[0].alert_id
    result = svc.acknowledge(engine, nurse, alert_id, "called the physician")
    assert not result.ok
    assert "nurse-s01 (nurse) cannot acknowledge alerts" in result.message
    with UnitOfWork(engine, nurse) as uow, pytest.raises(AccessDeniedError):
        AlertRepository(uow.session, nurse).acknowledge(alert_id, "called the physician")
    assert stored(engine, alert_id).state == "open"


def test_resolve_and_its_refusals(engine: Engine) -> None:
    physician = actor(engine, "physician-s01")
    alert_id = first_open(engine, "S01")
    blank = svc.resolve(engine, physician, alert_id, " ")
    assert not blank.ok
    assert "Write a note before resolving" in blank.message
    done = svc.resolve(engine, physician, alert_id, "ANC recovered on repeat")
    assert done.ok
    assert done.alert is not None
    assert done.alert.state == "resolved"
    row = stored(engine, alert_id)
    assert (row.state, row.resolved_by, row.resolve_note) == (
        "resolved", physician.user_id, "ANC recovered on repeat")  # fmt: skip
    again = svc.acknowledge(engine, physician, alert_id, "late note")
    assert not again.ok
    assert "cannot be acknowledged" in again.message


def test_other_site_alert_is_refused_not_crashed(engine: Engine) -> None:
    alert_id = first_open(engine, "S02")
    result = svc.acknowledge(engine, actor(engine, "physician-s01"), alert_id, "not mine")
    assert not result.ok
    assert "physician-s01 has no access to site S02" in result.message
    missing = svc.resolve(engine, actor(engine, "physician-s01"), 10**6, "x")
    assert not missing.ok
    assert "no alert 1000000" in missing.message
    assert stored(engine, alert_id).state == "open"
