"""The alert engine: after every write, re-grade the touched patients and raise or resolve alerts.

:func:`refresh` runs inside the writer's unit of work, just before its commit (it is registered with
:func:`dashboard.store.unit_of_work.on_write`), so the grades and alerts commit with the record that
caused them or not at all. Importing this module installs it (:func:`install`). For each touched
patient it

1. reads the current (not withdrawn) assessments, drugs and labs and grades the course once
   (:func:`grading.course.grade_course`);
2. replaces the patient's :class:`GradeRow` rows (derived data, recomputed every time, never a
   clinical value) with one row per current assessment version, writing only rows whose values
   changed;
3. collects the findings (:func:`grading.monitor.course_findings`, :func:`grading.monitor.lab_findings`
   with no infections yet, and the items overdue at ``at`` from :func:`grading.schedule.due_items`);
4. raises each finding once: the key ``patient|kind|rule_id|finding time (ISO)`` is unique, a new key
   opens an alert (audited ``raise``), a known key is left as it is (state and notes kept);
5. resolves, as the system, every unresolved alert whose finding is gone (audited ``resolve``), and
   reopens an alert the system resolved when its finding comes back (audited ``reopen``).

Decisions:

- Every severity is an alert, ``info`` included (CRS grade 1 is for the physician to see).
- Acknowledged alerts are resolved too when their finding disappears: the acknowledgement note stays.
  An alert resolved by a person stays resolved even if its finding returns (their decision stands);
  one resolved by the system reopens (as open), so that undoing a mistaken correction cannot hide a
  finding.
- The early ICAHT finding is stamped by grading.monitor with the infusion (its day 0-30 window
  starts there), so it is raised once per grade, not at every write.
- Assessment findings are not cut at ``at``: an entry whose clinical time is a little ahead of the
  server clock must still raise its alert.
- Everything that changes a patient's alerts first locks that patient's row, as every writer of the
  patient's records already does (:mod:`dashboard.store.locks`, :func:`queue_behind_writers`): the
  second of two writers for one patient re-grades after the first one commits, sees its alerts and
  does not raise them again. Writers for different patients re-grade in parallel; the audit head is
  locked only at commit (:func:`dashboard.store.audit.flush`), and nothing deadlocks.
- Lab findings (IVIG due, unexpected B-cell depletion, cytopenia, consider IEC-HS) read only the
  patient, labs and drugs, never the assessments. A unit of work that changed only assessments
  therefore does not recompute them (``lab_patients``): their alerts are left exactly as they are,
  neither raised nor resolved. Any lab or drug write, and every scheduled refresh, recomputes them.
- Time alone makes items overdue; call :func:`refresh` for every patient periodically to raise those
  between writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Table,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from dashboard.store import audit
from dashboard.store.access import SYSTEM
from dashboard.store.locks import lock_patients
from dashboard.store.records import ASSESSMENTS, DRUGS, LABS
from dashboard.store.schema import AlertRow, GradeRow, Patient
from dashboard.store.unit_of_work import LAB_INPUTS_TOUCHED, on_write
from grading.course import MASKING, grade_course
from grading.monitor import COLUMNS as FINDING_COLUMNS
from grading.monitor import course_findings, lab_findings
from grading.patient_course import (
    GRADE_INPUTS,
    UnsupportedRecordError,
    course_findings_of,
    grade_patient_course,
    overdue_items,
)
from grading.policy import Policy
from grading.policy_asco_2021 import ASCO_2021
from grading.records import InfectionEvent
from grading.records import Patient as PatientRecord
from grading.schedule import due_items

#: The grading policy the engine applies (named on every grade row).
POLICY: Policy = ASCO_2021
#: Why the system resolved an alert, by kind (the default covers every other kind).
RESOLVED_CORRECTED = "finding no longer present after the record was corrected"
RESOLVED_DONE = "no longer overdue: the item was recorded or its schedule moved on"
RESOLVE_NOTES = {"missed_assessment": RESOLVED_DONE}
#: Assessment fields the grading reads (the ICE and CAPD items are summed into their scores).
GRADED_FIELDS = tuple(f for f in ASSESSMENTS.fields if f not in ("ice_items", "capd_items"))
#: The columns of the graded course that a GradeRow is made from.
GRADE_COLUMNS = (
    "_row", "crs_grade", "crs_status", "crs_reason", "icans_grade", "icans_status",
    "icans_reason", MASKING, "tocilizumab_flag", "steroids_indicated", "icu_indicated",
)  # fmt: skip
#: The values of a GradeRow besides its keys and time.
VALUE_NAMES = (
    "crs_grade", "crs_status", "crs_reason", "icans_grade", "icans_status", "icans_reason",
    "masked", "flags", "policy",
)  # fmt: skip
#: Compute grades and findings with the one-patient path (grading.patient_course); False: with
#: the cohort path (grade_course), the reference it is tested against.
FAST_PATH = True
KEY_LENGTH = 300  # AlertRow.dedup_key
RULE_LENGTH = 200  # AlertRow.rule_id
UNRESOLVED = ("open", "acknowledged")
#: The kinds grading.monitor.lab_findings produces (from the patient, labs and drugs only).
LAB_KINDS = frozenset({"ivig_due", "unexpected_b_cell_depletion", "cytopenia", "consider_iec_hs"})


@dataclass(frozen=True)
class Finding:
    """One finding as the engine stores it."""

    key: str
    kind: str
    severity: str
    rule_id: str
    detail: str
    citation: str
    evidence: str
    at: datetime  # clinical time, naive like the clinical columns


def refresh(
    session: Session,
    patient_ids: Iterable[str],
    at: datetime | None = None,
    lab_patients: Container[str] | None = None,
) -> None:
    """Re-grade each patient and bring its alerts up to date, inside the caller's transaction.

    ``at`` (naive, clinical clock; default now in UTC) is when overdue items and lab findings are
    evaluated. ``lab_patients``: recompute lab findings only for these patients (default: all).
    Nothing is committed here.
    """
    moment = at or datetime.now(UTC).replace(tzinfo=None)
    now = datetime.now(UTC)
    patients = queue_behind_writers(session, patient_ids)
    for patient_id in sorted(patients):
        labs_too = lab_patients is None or patient_id in lab_patients
        _refresh_patient(session, patients[patient_id], moment, now, labs_too)
    session.flush()


def _after_write(session: Session, touched: set[str]) -> None:
    """The unit of work's hook: lab findings only where labs or drugs changed."""
    refresh(session, touched, lab_patients=session.info.get(LAB_INPUTS_TOUCHED))


def queue_behind_writers(session: Session, patient_ids: Iterable[str]) -> dict[str, Patient]:
    """Lock the patients' rows (sorted), which every writer of their records locks first.

    Refreshes and alert changes take them first too, so on PostgreSQL everything that touches a
    patient's alerts queues in one order: a second writer sees the first one's alerts (no duplicate
    key), and an acknowledgement waits for a write that resolves the same alert instead of
    deadlocking with it. (SQLite writers already queue for the whole database.) Returns the
    patients that exist.
    """
    return lock_patients(session, patient_ids)


def _refresh_patient(
    session: Session, patient: Patient, at: datetime, now: datetime, labs_too: bool
) -> None:
    grades, findings, stored, alerts = _compute(session, patient, at, labs_too, FAST_PATH)
    _write_grades(session, patient.patient_id, grades, now, stored)
    kept = frozenset() if labs_too else LAB_KINDS  # not recomputed: neither raised nor resolved
    _upsert_alerts(session, patient.patient_id, findings, now, kept, alerts)


def compute(
    session: Session, patient: Patient, at: datetime, labs_too: bool, *, fast: bool | None = None
) -> tuple[dict[int, dict[str, Any]], dict[str, Finding]]:
    """What the patient's grade rows and alerts should be: the values of one grade row per current
    assessment version (by its row id, in course order) and the findings by deduplication key.

    ``fast`` (default :data:`FAST_PATH`): the one-patient path (:mod:`grading.patient_course`);
    otherwise, or when a stored assessment does not validate, the cohort path
    (:func:`grading.course.grade_course`), which is the reference the fast path is tested against.
    Reads only; writes nothing (pending ORM changes are flushed first, as a query would).
    """
    grades, findings, _, _ = _compute(
        session, patient, at, labs_too, FAST_PATH if fast is None else fast
    )
    return grades, findings


def _compute(
    session: Session, patient: Patient, at: datetime, labs_too: bool, fast: bool
) -> tuple[
    dict[int, dict[str, Any]],
    dict[str, Finding],
    dict[int, dict[str, Any]] | None,
    dict[str, KnownAlert] | None,
]:
    """:func:`compute`, and what the fast path read on the way (None: not read): the patient's
    grade rows as they are stored (values by assessment row id) and the patient's alerts (by
    deduplication key)."""
    if fast:
        stored: dict[int, dict[str, Any]] = {}
        alerts: dict[str, KnownAlert] = {}
        try:
            grades, findings = _compute_fast(session, patient, at, labs_too, stored, alerts)
            return grades, findings, stored, alerts
        except UnsupportedRecordError:
            pass  # the reference path grades it, or reports what is wrong with it
    return (*_compute_full(session, patient, at, labs_too), None, None)


def _compute_full(
    session: Session, patient: Patient, at: datetime, labs_too: bool
) -> tuple[dict[int, dict[str, Any]], dict[str, Finding]]:
    """The reference: the patient's records as DataFrames through grade_course and the monitor."""
    rows = list(_current(session, ASSESSMENTS.row, patient.patient_id, "observed_at"))
    assessments = _frame([{f: getattr(r, f) for f in GRADED_FIELDS} for r in rows], GRADED_FIELDS)
    drugs, labs, patients = _lab_inputs(session, patient)

    parts = []
    grades: dict[int, dict[str, Any]] = {}
    if rows:
        course = grade_course(assessments, drugs, patients, POLICY)
        grades = _grade_values(course.assessments, rows)
        parts.append(course_findings(course, POLICY))
    parts.append(_overdue(patients, assessments, labs, at))
    if labs_too:
        parts.append(_lab_findings(patients, labs, drugs, at))
    found = pd.concat([p for p in parts if not p.empty] or [_frame([], FINDING_COLUMNS)])
    return grades, _findings(patient.patient_id, found.to_dict("records"), patient.infusion_at)


_ASSESSMENT = ASSESSMENTS.row.__table__
_GRADE: Table = GradeRow.__table__  # type: ignore[assignment]
_DRUG = DRUGS.row.__table__
_LAB = LABS.row.__table__
_ALERT: Table = AlertRow.__table__  # type: ignore[assignment]
#: The patient's current assessment versions with their stored grade rows (LEFT JOIN), plus the
#: grade rows of versions no longer current (stale, to be deleted), in course order: one statement
#: instead of two. Columns: row id, status, observed_at, masking, GRADE_INPUTS, grade row id,
#: VALUE_NAMES. (Every grade row's patient is its assessment's: the engine writes them so.)
_COURSE = (
    select(_ASSESSMENT.c.row_id, _ASSESSMENT.c.status, _ASSESSMENT.c.observed_at,
           _ASSESSMENT.c[MASKING], *(_ASSESSMENT.c[f] for f in GRADE_INPUTS),
           _GRADE.c.assessment_row_id, *(_GRADE.c[n] for n in VALUE_NAMES))
    .select_from(_ASSESSMENT.outerjoin(_GRADE, _GRADE.c.assessment_row_id == _ASSESSMENT.c.row_id))
    .where(_ASSESSMENT.c.patient_id == bindparam("patient_id"),
           or_(_ASSESSMENT.c.status == "current", _GRADE.c.assessment_row_id.is_not(None)))
    .order_by(_ASSESSMENT.c.observed_at, _ASSESSMENT.c.row_id)
)  # fmt: skip
_INPUTS = slice(4, 4 + len(GRADE_INPUTS))
_GRADE_ID = 4 + len(GRADE_INPUTS)
#: The patient's current doses (0, given_at, drug) and the latest current lab collection
#: (1, collected_at or NULL, NULL) in one statement.
_ALERTS = select(
    _ALERT.c.dedup_key, _ALERT.c.alert_id, _ALERT.c.state, _ALERT.c.resolved_by, _ALERT.c.kind
).where(_ALERT.c.patient_id == bindparam("patient_id"))


class KnownAlert(NamedTuple):
    """One of the patient's stored alerts, as the engine compares it with the findings."""

    dedup_key: str
    alert_id: int
    state: str
    resolved_by: int | None
    kind: str


#: The patient's current doses, the latest current lab collection and :data:`_ALERTS` in one
#: statement (one round trip less per save): (0, given_at, drug, NULL x 5), (1, last
#: collected_at or NULL, NULL x 6) and
#: (2, NULL, NULL, *KnownAlert). Nothing between this read and the alert upsert writes alerts: the
#: save's own rows are flushed before it, and the grade rows written in between are another table.
_NULLS = (cast(null(), String), cast(null(), Integer), cast(null(), String),
          cast(null(), Integer), cast(null(), String))  # fmt: skip
_DOSES_LAB_AND_ALERTS = union_all(
    select(literal(0), _DRUG.c.given_at, _DRUG.c.drug, *_NULLS).where(
        _DRUG.c.patient_id == bindparam("patient_id"), _DRUG.c.status == "current"
    ),
    select(literal(1), func.max(_LAB.c.collected_at), cast(null(), String), *_NULLS).where(
        _LAB.c.patient_id == bindparam("patient_id"), _LAB.c.status == "current"
    ),
    select(
        literal(2), cast(null(), DateTime), cast(null(), String), *_ALERTS.selected_columns
    ).where(_ALERT.c.patient_id == bindparam("patient_id")),
)


def _compute_fast(
    session: Session,
    patient: Patient,
    at: datetime,
    labs_too: bool,
    stored_grades: dict[int, dict[str, Any]],
    known_alerts: dict[str, KnownAlert],
) -> tuple[dict[int, dict[str, Any]], dict[str, Finding]]:
    """The one-patient path: two Core statements of plain columns (no ORM objects, no
    DataFrames) and grading.patient_course; lab findings (only when labs or drugs changed) as in
    the reference. Fills ``stored_grades`` and ``known_alerts`` with what it read on the way."""
    session.flush()  # the reads below bypass the ORM's autoflush
    connection = session.connection()
    key = {"patient_id": patient.patient_id}
    rows = connection.execute(_COURSE, key).all()
    stored = [r for r in rows if r[1] == "current"]
    stored_grades.update(
        (int(r[0]), dict(zip(VALUE_NAMES, r[_GRADE_ID + 1 :], strict=True)))
        for r in rows
        if r[_GRADE_ID] is not None
    )
    doses, last_lab = [], None
    for kind, moment, drug, *alert in connection.execute(_DOSES_LAB_AND_ALERTS, key):
        if kind == 0:
            doses.append((moment, drug))
        elif kind == 1:
            last_lab = moment
        else:
            known_alerts[alert[0]] = KnownAlert(*alert)
    course = grade_patient_course([(r[2], tuple(r[_INPUTS]), r[3]) for r in stored], doses, POLICY)
    grades = {
        int(stored[c.position][0]): _values(
            c.grade.crs_grade, c.grade.crs_status, c.grade.crs_reason, c.grade.icans_grade,
            c.grade.icans_status, c.grade.icans_reason, bool(c.masking), c.tocilizumab_flag,
            c.grade.steroids_indicated, c.grade.icu_indicated,
        )
        for c in course
    }  # fmt: skip
    records = course_findings_of(patient.patient_id, course, POLICY)
    temperature, ice, capd = (_INPUTS.start + GRADE_INPUTS.index(f)
                              for f in ("temperature_c", "ice_score", "capd_score"))  # fmt: skip
    overdue = overdue_items(
        patient.infusion_at,
        [(r[2], r[temperature] is not None, r[ice] is not None or r[capd] is not None)
         for r in stored],
        last_lab,
        at,
    )  # fmt: skip
    records += [_missed(patient.patient_id, *item) for item in overdue]
    if labs_too:
        drugs, labs, patients = _lab_inputs(session, patient)
        records += [
            {str(k): v for k, v in r.items()}
            for r in _lab_findings(patients, labs, drugs, at).to_dict("records")
        ]
    return grades, _findings(patient.patient_id, records, patient.infusion_at)


def _lab_inputs(
    session: Session, patient: Patient
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The patient's current drugs and labs, and the patient, as the grading library's frames."""
    drugs = _frame(
        [{f: getattr(r, f) for f in DRUGS.fields}
         for r in _current(session, DRUGS.row, patient.patient_id, "given_at")],
        DRUGS.fields,
    )  # fmt: skip
    labs = _frame(
        [{f: getattr(r, f) for f in LABS.fields}
         for r in _current(session, LABS.row, patient.patient_id, "collected_at")],
        LABS.fields,
    )  # fmt: skip
    fields = tuple(PatientRecord.model_fields)
    patients = _frame([{f: getattr(patient, f) for f in fields}], fields)
    return drugs, labs, patients


def _lab_findings(
    patients: pd.DataFrame, labs: pd.DataFrame, drugs: pd.DataFrame, at: datetime
) -> pd.DataFrame:
    infections = _frame([], tuple(InfectionEvent.model_fields))
    return lab_findings(patients, labs, drugs, infections, at)


def _current(session: Session, row: Any, patient_id: str, time: str) -> Iterable[Any]:
    return session.execute(
        select(row)
        .where(row.patient_id == patient_id, row.status == "current")
        .order_by(getattr(row, time), row.row_id)
    ).scalars()


def _frame(records: list[dict[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records, columns=list(columns))


def _grade_values(graded: pd.DataFrame, rows: list[Any]) -> dict[int, dict[str, Any]]:
    """The grade row values of each assessment row of grade_course's output."""
    out: dict[int, dict[str, Any]] = {}
    for record in graded[list(GRADE_COLUMNS)].to_dict("records"):
        out[int(rows[int(record["_row"])].row_id)] = _values(
            _grade(record["crs_grade"]), str(record["crs_status"]), str(record["crs_reason"]),
            _grade(record["icans_grade"]), str(record["icans_status"]),
            str(record["icans_reason"]), bool(record[MASKING]), str(record["tocilizumab_flag"]),
            bool(record["steroids_indicated"]), bool(record["icu_indicated"]),
        )  # fmt: skip
    return out


def _values(
    crs_grade: int | None, crs_status: str, crs_reason: str, icans_grade: int | None,
    icans_status: str, icans_reason: str, masked: bool, tocilizumab_flag: str, steroids: bool,
    icu: bool,
) -> dict[str, Any]:  # fmt: skip
    """One grade row's values; the flags that are on read e.g. ``tocilizumab=indicated, icu``."""
    flags = [f"tocilizumab={tocilizumab_flag}"] if tocilizumab_flag else []
    flags += [name for name, on in (("steroids", steroids), ("icu", icu)) if on]
    return {
        "crs_grade": crs_grade, "crs_status": crs_status, "crs_reason": crs_reason,
        "icans_grade": icans_grade, "icans_status": icans_status, "icans_reason": icans_reason,
        "masked": masked, "flags": ", ".join(flags), "policy": POLICY.name,
    }  # fmt: skip


_UPDATE_GRADE = (
    update(_GRADE)
    .where(_GRADE.c.assessment_row_id == bindparam("row_id"))
    .values({n: bindparam(n) for n in ("graded_at", *VALUE_NAMES)})
)


def _write_grades(
    session: Session,
    patient_id: str,
    grades: dict[int, dict[str, Any]],
    now: datetime,
    stored: dict[int, dict[str, Any]] | None = None,
) -> None:
    """One grade row per current assessment version; rows of older versions are removed. A row
    whose values did not change is left alone (no UPDATE): ``graded_at`` is when its values were
    last set, not when the course was last re-graded. ``stored``: the patient's grade rows as they
    are (the fast path read them with the assessments); None reads them here. Reads and writes
    plain columns (bulk INSERT, UPDATE by primary key, DELETE) instead of loading every row as an
    ORM object."""
    names = tuple(VALUE_NAMES)
    if stored is None:
        stale = {
            int(r[0]): dict(zip(names, r[1:], strict=True))
            for r in session.execute(
                select(_GRADE.c.assessment_row_id, *(_GRADE.c[n] for n in names))
                .where(_GRADE.c.patient_id == patient_id)
            )
        }  # fmt: skip
    else:
        stale = dict(stored)
    added, changed = [], []
    for row_id, values in grades.items():
        old = stale.pop(row_id, None)
        if old is None:
            added.append({"assessment_row_id": row_id, "patient_id": patient_id,
                          "graded_at": now, **values})  # fmt: skip
        elif old != values:
            changed.append({"row_id": row_id, "graded_at": now, **values})
    if added:
        session.execute(insert(_GRADE), added)
    if changed:
        session.execute(_UPDATE_GRADE, changed)
        for values in changed:  # an instance loaded earlier in this session would be stale
            known = session.identity_map.get(session.identity_key(GradeRow, values["row_id"]))
            if known is not None:
                session.expire(known)
    if stale:
        session.execute(delete(_GRADE).where(_GRADE.c.assessment_row_id.in_(list(stale))))
        for row_id in stale:
            known = session.identity_map.get(session.identity_key(GradeRow, row_id))
            if known is not None:
                session.expunge(known)


def _grade(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _overdue(
    patients: pd.DataFrame, assessments: pd.DataFrame, labs: pd.DataFrame, at: datetime
) -> pd.DataFrame:
    """Items overdue at ``at``, as findings (the same rows as grading.monitor.monitor_cohort)."""
    items = due_items(patients, assessments, labs, pd.Timestamp(at))
    missed = items[items["status"] == "overdue"]
    return _frame(
        [_missed(r["patient_id"], r["item"], r["due_at"], r["phase"], r["overdue_hours"])
         for r in missed.to_dict("records")],
        FINDING_COLUMNS,
    )  # fmt: skip


def _missed(patient_id: str, item: str, due_at: Any, phase: str, hours: float) -> dict[str, Any]:
    """One overdue item as a finding."""
    return {"patient_id": patient_id, "kind": "missed_assessment", "severity": "warning",
            "at": due_at, "rule_id": f"SCHEDULE-{str(item).upper()}",
            "detail": f"{item} overdue by {hours:g} h ({phase})",
            "citation": "course policy schedule", "evidence": "policy"}  # fmt: skip


def _findings(
    patient_id: str, found: Iterable[dict[Any, Any]], infusion_at: datetime
) -> dict[str, Finding]:
    """Findings by their deduplication key (the first of equal keys wins)."""
    out: dict[str, Finding] = {}
    for r in found:
        rule_id = str(r["rule_id"])[:RULE_LENGTH]
        kind = str(r["kind"])
        if type(r["at"]) is datetime:  # the fast path's plain datetimes: no Timestamp round trip
            when = r["at"].replace(tzinfo=None)
        else:
            stamp = pd.Timestamp(r["at"])
            when = infusion_at if pd.isna(stamp) else stamp.to_pydatetime().replace(tzinfo=None)
        key = dedup_key(patient_id, kind, rule_id, when)
        out.setdefault(
            key,
            Finding(key, kind, str(r["severity"]), rule_id, str(r["detail"]),
                    str(r["citation"]), str(r["evidence"]), when),
        )  # fmt: skip
    return out


def dedup_key(patient_id: str, kind: str, rule_id: str, at: datetime) -> str:
    """``patient|kind|rule_id|time``; a key longer than the column keeps a hash of the whole."""
    key = f"{patient_id}|{kind}|{rule_id}|{at.isoformat()}"
    if len(key) <= KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: KEY_LENGTH - len(digest) - 1]}#{digest}"


def _upsert_alerts(
    session: Session,
    patient_id: str,
    findings: dict[str, Finding],
    now: datetime,
    kept: frozenset[str] = frozenset(),
    known: dict[str, KnownAlert] | None = None,
) -> None:
    """Raise new findings, reopen those the system resolved, resolve those gone. The patient's
    alerts are read as plain columns (fresh from the database, or ``known``: read in this
    transaction, under the patient's lock, since when nothing wrote alerts); only an alert that
    changes is loaded as an object."""
    if known is None:
        session.flush()  # the read below bypasses the ORM's autoflush
        known = {
            r.dedup_key: KnownAlert(*r)
            for r in session.connection().execute(_ALERTS, {"patient_id": patient_id})
        }  # fmt: skip
    for key, finding in findings.items():
        alert = known.get(key)
        if alert is None:
            _raise(session, patient_id, finding, now)
        elif alert.state == "resolved" and alert.resolved_by is None:
            _reopen(session, _alert(session, alert.alert_id))
    for key, alert in known.items():
        if key not in findings and alert.state in UNRESOLVED and alert.kind not in kept:
            _resolve(session, _alert(session, alert.alert_id), now)


def _alert(session: Session, alert_id: int) -> AlertRow:
    alert = session.get(AlertRow, alert_id, populate_existing=True)
    assert alert is not None  # read in this transaction under the patient's lock
    return alert


def _raise(session: Session, patient_id: str, finding: Finding, now: datetime) -> None:
    alert = AlertRow(
        dedup_key=finding.key, patient_id=patient_id, kind=finding.kind,
        severity=finding.severity, rule_id=finding.rule_id, detail=finding.detail,
        citation=finding.citation, evidence=finding.evidence, finding_at=finding.at,
        raised_at=now, state="open",
    )  # fmt: skip
    session.add(alert)
    session.flush()
    audit.append(session, SYSTEM.username, "raise", "alert", str(alert.alert_id),
                 {"patient_id": patient_id, "kind": finding.kind, "severity": finding.severity,
                  "rule_id": finding.rule_id, "finding_at": finding.at.isoformat(),
                  "detail": finding.detail})  # fmt: skip


def _resolve(session: Session, alert: AlertRow, now: datetime) -> None:
    """Resolved by the system: ``resolved_by`` stays empty (the system is no user account)."""
    note = RESOLVE_NOTES.get(alert.kind, RESOLVED_CORRECTED)
    previous = alert.state
    alert.state, alert.resolved_by, alert.resolved_at, alert.resolve_note = (
        "resolved", None, now, note
    )  # fmt: skip
    audit.append(session, SYSTEM.username, "resolve", "alert", str(alert.alert_id),
                 {"patient_id": alert.patient_id, "kind": alert.kind, "rule_id": alert.rule_id,
                  "previous_state": previous, "note": note})  # fmt: skip


def _reopen(session: Session, alert: AlertRow) -> None:
    """The finding the system saw disappear is back (a correction was undone): open again, so
    that it is seen again even if it had been acknowledged before."""
    note = "finding present again after the record was corrected"
    alert.state = "open"
    alert.resolved_at, alert.resolve_note = None, None
    audit.append(session, SYSTEM.username, "reopen", "alert", str(alert.alert_id),
                 {"patient_id": alert.patient_id, "kind": alert.kind, "rule_id": alert.rule_id,
                  "state": alert.state, "note": note})  # fmt: skip


_installed = False


def install() -> None:
    """Register :func:`refresh` with the unit of work (once, however often it is called)."""
    global _installed
    if not _installed:
        on_write(_after_write)
        _installed = True


install()
