"""The nurse's worklist: my sites' patients in their monitoring window, with what is due now and
what is overdue (grading.schedule.due_items against the monitoring schedule), their latest grades
and their open alerts.

A patient appears when the schedule has something for them at ``at`` (a phase of days 0-28 with
intervals, or a follow-up visit window); patients outside every window are left out. Items never
recorded count from the infusion, so a patient with no entry yet is shown as due, never as fine.
Everything is as of ``at``: records and grades of later clinical times are left out. Open alerts
are those open now (an alert's state has no history to read back).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dashboard.store.access import Actor
from dashboard.store.alerts import Alert, AlertRepository
from dashboard.store.schema import AssessmentRow, GradeRow, LabResultRow
from dashboard.store.unit_of_work import UnitOfWork
from grading.schedule import due_items

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


class WorklistRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    patient_id: str
    site_id: str
    study_day: int
    phase: str
    overdue: tuple[str, ...]  # "vitals (3.5 h)"
    due: tuple[str, ...]  # "neuro at 14:00"
    next_due: datetime | None
    last_assessment_at: datetime | None
    crs_grade: int | None  # of the latest assessment (None: not gradable or none yet)
    icans_grade: int | None
    open_alerts: int
    worst_alert: str | None


def worklist(engine: Engine, actor: Actor, at: datetime) -> list[WorklistRow]:
    """Most urgent first: overdue, then critical alerts, then the next item due."""
    with UnitOfWork(engine, actor) as uow:
        patients = uow.patients.visible()
        if not patients:
            return []
        ids = [p.patient_id for p in patients]
        frame = pd.DataFrame({"patient_id": ids, "infusion_at": [p.infusion_at for p in patients]})
        assessments = _assessments(uow.session, ids)
        labs = pd.DataFrame(
            uow.session.execute(
                select(LabResultRow.patient_id, LabResultRow.collected_at).where(
                    LabResultRow.patient_id.in_(ids), LabResultRow.status == "current"
                )
            ).all(),
            columns=["patient_id", "collected_at"],
        )
        latest = _latest_grades(uow.session, ids, at)
        alerts = AlertRepository(uow.session, actor).inbox(("open",))
    # as of ``at``: what was recorded later does not exist yet
    assessments = assessments[assessments["observed_at"] <= at]
    labs = labs[pd.to_datetime(labs["collected_at"]) <= at]
    items = due_items(frame, assessments, labs, pd.Timestamp(at))
    site = {p.patient_id: p.site_id for p in patients}
    last_seen = {
        str(k): v for k, v in assessments.groupby("patient_id")["observed_at"].max().items()
    }
    rows = [
        _row(str(pid), site[str(pid)], group, latest, alerts, last_seen, at)
        for pid, group in items.groupby("patient_id", sort=False)
    ]
    return sorted(rows, key=_urgency)


def _assessments(session: Session, ids: list[str]) -> pd.DataFrame:
    columns = ["patient_id", "observed_at", "temperature_c", "ice_score", "capd_score"]
    rows = session.execute(
        select(*(getattr(AssessmentRow, c) for c in columns)).where(
            AssessmentRow.patient_id.in_(ids), AssessmentRow.status == "current"
        )
    ).all()
    frame = pd.DataFrame(rows, columns=columns)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"])
    return frame


def _latest_grades(
    session: Session, ids: list[str], at: datetime
) -> dict[str, tuple[int | None, int | None]]:
    newest = (
        select(AssessmentRow.patient_id, func.max(AssessmentRow.observed_at).label("at"))
        .where(
            AssessmentRow.patient_id.in_(ids),
            AssessmentRow.status == "current",
            AssessmentRow.observed_at <= at,
        )
        .group_by(AssessmentRow.patient_id)
        .subquery()
    )
    rows = session.execute(
        select(GradeRow.patient_id, GradeRow.crs_grade, GradeRow.icans_grade)
        .join(AssessmentRow, AssessmentRow.row_id == GradeRow.assessment_row_id)
        .join(newest, (newest.c.patient_id == AssessmentRow.patient_id)
              & (newest.c.at == AssessmentRow.observed_at))
    ).all()  # fmt: skip
    return {str(r[0]): (r[1], r[2]) for r in rows}


def _row(
    patient_id: str,
    site_id: str,
    items: pd.DataFrame,
    latest: dict[str, tuple[int | None, int | None]],
    alerts: list[Alert],
    last_seen: dict[str, pd.Timestamp],
    at: datetime,
) -> WorklistRow:
    overdue = items[items["status"] == "overdue"]
    due = items[items["status"] == "due"]
    due_at = pd.to_datetime(items["due_at"])
    upcoming = due_at[(items["status"] == "due") | ((items["status"] == "ok") & (due_at > at))]
    mine = [a for a in alerts if a.patient_id == patient_id]
    worst = min((a.severity for a in mine), key=SEVERITY_ORDER.__getitem__, default=None)
    crs, icans = latest.get(patient_id, (None, None))
    seen = last_seen.get(patient_id)
    next_due = upcoming.min() if not upcoming.empty else pd.NaT
    return WorklistRow(
        patient_id=patient_id, site_id=site_id, study_day=int(items["study_day"].iloc[0]),
        phase=str(items["phase"].iloc[0]),
        overdue=tuple(f"{r.item} ({r.overdue_hours:g} h)" for r in overdue.itertuples()),
        due=tuple(f"{item} since {when:%H:%M}" for item, when in zip(
            due["item"], pd.to_datetime(due["due_at"]), strict=True)),
        next_due=None if pd.isna(next_due) else next_due.to_pydatetime(),
        last_assessment_at=None if seen is None or pd.isna(seen) else seen.to_pydatetime(),
        crs_grade=crs, icans_grade=icans, open_alerts=len(mine), worst_alert=worst,
    )  # fmt: skip


def _urgency(row: WorklistRow) -> tuple[int, int, datetime]:
    return (
        0 if row.overdue else 1,
        SEVERITY_ORDER.get(row.worst_alert or "", 3),
        row.next_due or datetime.max,
    )
