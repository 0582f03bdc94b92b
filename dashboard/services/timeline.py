"""A patient's timeline for the physician: vitals, oxygen, ICE, stored grades with their reasons,
episodes, drugs, labs, alerts and sign-offs, on one axis of study days.

Read-only: everything is read through the store's repositories inside one :class:`UnitOfWork`
that is never committed, so every read checks the actor's sites (a patient of another site raises
:class:`~dashboard.store.errors.AccessDeniedError`). The grades shown are the stored
:class:`~dashboard.store.schema.GradeRow` rows (what the alert engine computed after the last
write); episodes are not stored, so they are recomputed here from the current records with
:func:`grading.course.grade_course`. An assessment without a stored grade row (not yet re-graded)
shows the recomputed grade and says so (``source`` = "recomputed").

Time: ``x`` is the study day as a real number, ``(t - midnight of the infusion day) / 1 day``, so
its integer part is the study day of :meth:`grading.records.Patient.study_day` (day 0 = infusion).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dashboard.services.signoff import Signoff, signoffs_of
from dashboard.store.access import Actor
from dashboard.store.alert_engine import GRADED_FIELDS
from dashboard.store.alerts import Alert, AlertRepository
from dashboard.store.schema import AssessmentRow, GradeRow
from dashboard.store.unit_of_work import UnitOfWork
from grading import crs_astct_2019, icans_astct_2019
from grading.bcells import BCellPolicy
from grading.course import grade_course
from grading.immunoglobulin import IgPolicy
from grading.records import ANTICYTOKINE, ANTIPYRETIC, Drug
from grading.records import Patient as PatientRecord
from grading.units import labs_to_canonical

Window = Literal["acute", "long_term"]
#: The acute view: from lymphodepletion (day -5) to today, at most to the end of daily monitoring.
ACUTE_FIRST_DAY, ACUTE_LAST_DAY = -5, 28
POINT_COLUMNS = (
    "record_id", "version", "observed_at", "x", "day", "temperature_c", "systolic_bp_mmhg",
    "diastolic_bp_mmhg", "hypotension", "oxygen_device", "oxygen_l_min", "ice_score",
    "capd_score", "crs_grade", "crs_status", "crs_reason", "icans_grade", "icans_status",
    "icans_reason", "masked", "flags", "policy", "source",
)  # fmt: skip
LAB_COLUMNS = ("collected_at", "x", "day", "analyte", "value", "unit", "value_canonical",
               "unit_canonical")  # fmt: skip
DRUG_COLUMNS = ("given_at", "x", "day", "drug", "group", "dose", "dose_unit")
EPISODE_COLUMNS = ("syndrome", "episode", "onset_x", "end_x", "peak_grade", "status")
DRUG_GROUPS = ("tocilizumab", "steroid", "vasopressor", "IVIG", "antipyretic", "anti-cytokine")


def empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


@dataclass(frozen=True)
class Timeline:
    """What the timeline page draws; every frame has the columns named above."""

    patient: PatientRecord
    window: Window
    start_x: float
    end_x: float
    today: int  # today's study day
    points: pd.DataFrame = field(default_factory=lambda: empty(POINT_COLUMNS))
    labs: pd.DataFrame = field(default_factory=lambda: empty(LAB_COLUMNS))
    drugs: pd.DataFrame = field(default_factory=lambda: empty(DRUG_COLUMNS))
    episodes: pd.DataFrame = field(default_factory=lambda: empty(EPISODE_COLUMNS))
    alerts: tuple[Alert, ...] = ()
    signoffs: tuple[Signoff, ...] = ()
    bcells: BCellPolicy = field(default_factory=BCellPolicy)
    immunoglobulin: IgPolicy = field(default_factory=IgPolicy)


def visible_patients(engine: Engine, actor: Actor) -> list[PatientRecord]:
    """The patients the actor may see (admins: all), by site and id."""
    with UnitOfWork(engine, actor) as uow:
        return uow.patients.visible()


def patient_timeline(
    engine: Engine,
    actor: Actor,
    patient_id: str,
    *,
    window: Window = "acute",
    now: datetime | None = None,
) -> Timeline:
    """The patient's timeline in ``window``; raises AccessDeniedError or NotFoundError."""
    with UnitOfWork(engine, actor) as uow:
        patient = uow.patients.get(patient_id)
        assessments = uow.assessments.current(patient_id)
        labs = [r.values.model_dump() for r in uow.labs.current(patient_id)]
        drugs = [r.values.model_dump() for r in uow.drugs.current(patient_id)]
        alerts = tuple(AlertRepository(uow.session, actor).for_patient(patient_id))
        signoffs = tuple(signoffs_of(uow.session, patient_id))
        stored = _stored_grades(uow.session, patient_id)
    origin = pd.Timestamp(patient.infusion_at).normalize()
    clock = (now or datetime.now(UTC)).replace(tzinfo=None)
    today = patient.study_day(clock)
    values = [
        {"record_id": r.record_id, "version": r.version, **r.values.model_dump(mode="json")}
        for r in assessments
    ]
    course = _course(values, drugs, patient)
    points = _points(values, stored, course, origin)
    lab_frame, drug_frame = _labs(labs, origin), _drugs(drugs, origin)
    if window == "acute":
        start, end = float(ACUTE_FIRST_DAY), float(max(min(today, ACUTE_LAST_DAY), 0) + 1)
    else:
        last = max([*points["x"], *lab_frame["x"], *drug_frame["x"], 0.0])
        start, end = float(ACUTE_FIRST_DAY), float(np.floor(last) + 1)
    return Timeline(
        patient=patient, window=window, start_x=start, end_x=end, today=today,
        points=_inside(points, start, end), labs=_inside(lab_frame, start, end),
        drugs=_inside(drug_frame, start, end),
        episodes=_episodes(course.episodes if course else None, origin, end),
        alerts=alerts, signoffs=signoffs,
    )  # fmt: skip


def _inside(frame: pd.DataFrame, start: float, end: float) -> pd.DataFrame:
    return frame[(frame["x"] >= start) & (frame["x"] < end)].reset_index(drop=True)


GRADE_FIELDS = ("crs_grade", "crs_status", "crs_reason", "icans_grade", "icans_status",
                "icans_reason", "masked", "flags", "policy")  # fmt: skip


def _stored_grades(session: Session, patient_id: str) -> dict[str, dict[str, Any]]:
    """The stored grade row of each current assessment, by record id (the caller checked access)."""
    rows = session.execute(
        select(AssessmentRow.record_id, GradeRow)
        .join(GradeRow, GradeRow.assessment_row_id == AssessmentRow.row_id)
        .where(AssessmentRow.patient_id == patient_id, AssessmentRow.status == "current")
    ).all()
    return {str(rid): {f: getattr(g, f) for f in GRADE_FIELDS} for rid, g in rows}


def _course(
    values: list[dict[str, Any]], drugs: list[dict[str, Any]], patient: PatientRecord
) -> Any:
    if not values:
        return None
    frame = pd.DataFrame.from_records(values, columns=list(GRADED_FIELDS))
    frame["observed_at"] = pd.to_datetime(frame["observed_at"])
    drug_frame = pd.DataFrame.from_records(drugs, columns=["patient_id", "given_at", "drug", "dose",
                                                           "dose_unit", "route"])  # fmt: skip
    if not drug_frame.empty:
        drug_frame["drug"] = drug_frame["drug"].map(lambda d: Drug(d).value)
    patients = pd.DataFrame([patient.model_dump(mode="python")])
    return grade_course(frame, drug_frame, patients)


def _x(times: pd.Series, origin: pd.Timestamp) -> pd.Series:
    return (pd.to_datetime(times) - origin) / pd.Timedelta(days=1)


def _points(
    values: list[dict[str, Any]],
    stored: Mapping[str, dict[str, Any]],
    course: Any,
    origin: pd.Timestamp,
) -> pd.DataFrame:
    if not values:
        return empty(POINT_COLUMNS)
    frame = pd.DataFrame.from_records(values)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"])
    graded = course.assessments.sort_values("_row").reset_index(drop=True)
    rows = []
    for index, record in enumerate(frame.to_dict("records")):
        grade = stored.get(str(record["record_id"]))
        if grade is not None:
            found = {**grade, "source": "stored"}
        else:
            g = graded.iloc[index]
            found = {
                name: (None if pd.isna(g[name]) else int(g[name]))
                if "grade" in name
                else str(g[name])
                for name in (
                    "crs_grade",
                    "crs_status",
                    "crs_reason",
                    "icans_grade",
                    "icans_status",
                    "icans_reason",
                )
            }
            found |= {"masked": bool(g["antipyretic_or_anticytokine_given"]), "flags": "",
                      "policy": "", "source": "recomputed"}  # fmt: skip
        rows.append({**{c: record.get(c) for c in POINT_COLUMNS}, **found})
    out = pd.DataFrame(rows, columns=list(POINT_COLUMNS))
    out["x"] = _x(out["observed_at"], origin)
    out["day"] = np.floor(out["x"].to_numpy(dtype=float)).astype(int)
    out["crs_grade"] = out["crs_grade"].astype("Int64")
    out["icans_grade"] = out["icans_grade"].astype("Int64")
    return out


def _labs(labs: list[dict[str, Any]], origin: pd.Timestamp) -> pd.DataFrame:
    if not labs:
        return empty(LAB_COLUMNS)
    frame = pd.DataFrame.from_records(labs)
    frame["analyte"] = frame["analyte"].map(str)
    frame = labs_to_canonical(frame)
    frame["x"] = _x(frame["collected_at"], origin)
    frame["day"] = np.floor(frame["x"].to_numpy(dtype=float)).astype(int)
    return frame[list(LAB_COLUMNS)]


def drug_group(drug: str) -> str:
    """The marker row a drug is drawn on."""
    kind = Drug(drug)
    if kind is Drug.TOCILIZUMAB:
        return "tocilizumab"
    if kind.is_steroid:
        return "steroid"
    if kind.is_vasopressor:
        return "vasopressor"
    if kind is Drug.IVIG:
        return "IVIG"
    if kind in ANTIPYRETIC:
        return "antipyretic"
    return "anti-cytokine" if kind in ANTICYTOKINE else "other"


def _drugs(drugs: list[dict[str, Any]], origin: pd.Timestamp) -> pd.DataFrame:
    if not drugs:
        return empty(DRUG_COLUMNS)
    frame = pd.DataFrame.from_records(drugs)
    frame["drug"] = frame["drug"].map(lambda d: Drug(d).value)
    frame["group"] = frame["drug"].map(drug_group)
    frame["x"] = _x(frame["given_at"], origin)
    frame["day"] = np.floor(frame["x"].to_numpy(dtype=float)).astype(int)
    return frame[list(DRUG_COLUMNS)]


def _episodes(episodes: pd.DataFrame | None, origin: pd.Timestamp, end: float) -> pd.DataFrame:
    """Episodes as spans; an ongoing one runs to the end of the view."""
    if episodes is None or episodes.empty:
        return empty(EPISODE_COLUMNS)
    out = pd.DataFrame({
        "syndrome": episodes["syndrome"].to_numpy(), "episode": episodes["episode"].to_numpy(),
        "onset_x": _x(episodes["onset_at"], origin).to_numpy(),
        "end_x": _x(episodes["resolved_at"], origin).fillna(end).to_numpy(),
        "peak_grade": episodes["peak_grade"].to_numpy(), "status": episodes["status"].to_numpy(),
    })  # fmt: skip
    return out[out["onset_x"] < end].reset_index(drop=True)


# --- why: the rows of the paper behind a grade ---------------------------------------------------


@dataclass(frozen=True)
class Rule:
    rule_id: str
    grade: int | None
    domain: str
    source_text: str
    citation: str
    evidence: str


@dataclass(frozen=True)
class Why:
    """One toxicity's grade at one time point, with the rows that fired."""

    toxicity: str
    headline: str  # "CRS grade 3", "ICANS not assessed (not gradable)"
    reason: str
    rules: tuple[Rule, ...]
    not_assessed: str  # the fields not assessed, as the reason names them ("" when none)


@dataclass(frozen=True)
class PointDetail:
    record_id: str
    observed_at: datetime
    day: int
    crs: Why
    icans: Why
    masked: bool
    flags: str
    policy: str
    source: str


_INSTRUMENTS = {"CRS": crs_astct_2019.INSTRUMENT, "ICANS": icans_astct_2019.INSTRUMENT}


def headline(toxicity: str, grade: Any, status: str, reason: str = "") -> str:
    """How one grade is named on the page: a blank is never shown as grade 0."""
    if status == "not_gradable":
        low = "" if grade is None or pd.isna(grade) else f", at least grade {int(grade)}"
        if "masked by therapy" in reason:
            return f"{toxicity} not gradable: fever masked by therapy, grade left to the clinician"
        return f"{toxicity} not gradable: not assessed{low}"
    if status == "no_toxicity":
        return f"{toxicity} grade 0 (no toxicity)"
    return f"{toxicity} grade {int(grade)}"


def _why(toxicity: str, grade: Any, status: str, reason: str) -> Why:
    rules = []
    listed = re.search(r"\[([^\]]*)\]", reason)
    for rule_id in listed.group(1).split(", ") if listed else []:
        try:
            row = _INSTRUMENTS[toxicity].rule(rule_id)
        except KeyError:
            rules.append(Rule(rule_id, None, "", "", "", ""))
            continue
        rules.append(Rule(rule_id, row.grade, row.domain, row.source_text, row.citation,
                          row.evidence))  # fmt: skip
    if status == "not_gradable" and (grade is None or pd.isna(grade)):
        bound = re.search(r"at least grade (\d)", reason)
        grade = int(bound.group(1)) if bound else None
    missing = reason.split("not assessed: ", 1)[1] if "not assessed: " in reason else ""
    return Why(toxicity, headline(toxicity, grade, status, reason), reason, tuple(rules), missing)


def explain(timeline: Timeline, record_id: str) -> PointDetail:
    """Why the time point ``record_id`` has its grades; KeyError when it is not on the timeline."""
    match = timeline.points[timeline.points["record_id"] == record_id]
    if match.empty:
        raise KeyError(record_id)
    p = match.iloc[0]
    return PointDetail(
        record_id=record_id, observed_at=pd.Timestamp(p["observed_at"]).to_pydatetime(),
        day=int(p["day"]),
        crs=_why("CRS", p["crs_grade"], str(p["crs_status"]), str(p["crs_reason"])),
        icans=_why("ICANS", p["icans_grade"], str(p["icans_status"]), str(p["icans_reason"])),
        masked=bool(p["masked"]), flags=str(p["flags"] or ""), policy=str(p["policy"] or ""),
        source=str(p["source"]),
    )  # fmt: skip


def selected_record(event: Mapping[str, Any] | None) -> str | None:
    """The record id of the first point of a chart selection event (its ``customdata``), if any."""
    points = ((event or {}).get("selection") or {}).get("points") or []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list | tuple):
            data = data[0] if data else None
        if isinstance(data, str) and data:
            return data
    return None
