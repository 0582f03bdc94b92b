"""The alert engine's fast path stores exactly what the reference path stores (issue #4).

The fast path (``alert_engine.FAST_PATH``, :mod:`grading.patient_course`) must give the same grade
rows and the same alerts as the cohort path through :func:`grading.course.grade_course`. On SQLite
and PostgreSQL:

- sample patients: after the shipped sample is loaded (which grades every patient through the
  fast path), each patient's stored grade rows equal the reference's, and at several moments of
  the course both paths compute the same grade rows and the same findings, in the same order;
- random write sequences (add, correct and withdraw assessments, drugs and labs): after every
  commit both paths compute the same grade rows and findings for the patient, at the moment of
  the write and at later moments; and the same sequence written once through each path leaves
  equal grade rows and equal alerts (state, detail, finding time, audit of raise/resolve/reopen).

The findings are compared with their order, because the first of two equal keys wins and alerts
are raised in that order.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dashboard.store import alert_engine
from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.schema import AlertRow, AssessmentRow, AuditEntry, GradeRow, Patient
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.records import DrugAdministration, LabResult
from grading.records import Patient as PatientRecord
from sample_data import __file__ as sample_init

COHORT = Path(sample_init).parent / "cohort"
#: Sample patients with tocilizumab, steroids, anakinra, vasopressors, a death, a re-treatment.
SAMPLE_PATIENTS = (
    "S01-0001", "S01-0002", "S01-0006", "S01-0008", "S01-0010", "S02-0001", "S03-0001",
    "S03-0006", "S04-0001", "S04-0002", "S04-0004", "S04-0008", "S05-0001",
)  # fmt: skip
INFUSED = datetime(2026, 3, 2, 10, 0)
NOW = datetime(2026, 3, 20, 9, 30)  # the engine's clock while the sequences are written


def both_paths(session: Session, patient_id: str, at: datetime, labs_too: bool = False) -> None:
    """Grade rows and findings of the fast and the reference path are equal, in order.

    ``labs_too``: with the lab findings (the same function on both paths; checked once per
    patient and step, as it is slow).
    """
    patient = session.get(Patient, patient_id)
    assert patient is not None
    fast_grades, fast_findings = alert_engine.compute(session, patient, at, labs_too, fast=True)
    full_grades, full_findings = alert_engine.compute(session, patient, at, labs_too, fast=False)
    assert list(fast_grades.items()) == list(full_grades.items())
    assert list(fast_findings.items()) == list(full_findings.items())


def stored_grades(session: Session, patient_id: str) -> list[tuple[Any, ...]]:
    """Grade rows in course order (of the assessment versions), without ids and times."""
    rows = session.execute(
        select(GradeRow, AssessmentRow.record_id)
        .join(AssessmentRow, AssessmentRow.row_id == GradeRow.assessment_row_id)
        .where(GradeRow.patient_id == patient_id)
        .order_by(AssessmentRow.observed_at, AssessmentRow.row_id)
    ).all()
    return [
        (g.crs_grade, g.crs_status, g.crs_reason, g.icans_grade, g.icans_status, g.icans_reason,
         g.masked, g.flags, g.policy)
        for g, _ in rows
    ]  # fmt: skip


def stored_alerts(session: Session, patient_id: str) -> list[tuple[Any, ...]]:
    """Alerts without the patient id, alert id and the wall-clock times, in the order raised."""
    alerts = session.execute(
        select(AlertRow).where(AlertRow.patient_id == patient_id).order_by(AlertRow.alert_id)
    ).scalars()
    return [
        (a.dedup_key.split("|", 1)[1], a.kind, a.severity, a.rule_id, a.detail, a.citation,
         a.evidence, a.finding_at, a.state, a.resolve_note)
        for a in alerts
    ]  # fmt: skip


def alert_audit(session: Session, patient_id: str) -> list[tuple[str, str]]:
    """The engine's audited alert actions for the patient: (action, kind), in order."""
    entries = session.execute(
        select(AuditEntry).where(AuditEntry.entity == "alert").order_by(AuditEntry.seq)
    ).scalars()
    return [
        (e.action, str(e.detail.get("kind")))
        for e in entries
        if e.detail.get("patient_id") == patient_id
    ]


# --- the sample cohort ------------------------------------------------------------------------


def _subset(folder: Path) -> None:
    """The sample's CSV files restricted to SAMPLE_PATIENTS."""
    for source in COHORT.glob("*.csv"):
        with source.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            continue
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(r for r in rows if r.get("patient_id") in SAMPLE_PATIENTS)
        (folder / source.name).write_text(out.getvalue())


def test_sample_patients_get_the_same_grade_rows_and_findings_on_both_paths(
    engine: Engine, tmp_path: Path
) -> None:
    from dashboard.store.sample import load_sample

    _subset(tmp_path)
    load_sample(engine, tmp_path)  # graded through the fast path at each site's commit
    with Session(engine) as session:
        for patient_id in SAMPLE_PATIENTS:
            patient = session.get(Patient, patient_id)
            assert patient is not None
            full, _ = alert_engine.compute(session, patient, NOW, True, fast=False)
            stored = {
                g.assessment_row_id: {n: getattr(g, n) for n in alert_engine.VALUE_NAMES}
                for g in session.execute(
                    select(GradeRow).where(GradeRow.patient_id == patient_id)
                ).scalars()
            }
            assert stored == full, patient_id
            day = patient.infusion_at
            for at in (day + timedelta(hours=20), day + timedelta(days=6, hours=3),
                       day + timedelta(days=21), day + timedelta(days=37)):  # fmt: skip
                both_paths(session, patient_id, at)  # lab findings: the sequences below


# --- random write sequences -------------------------------------------------------------------

TEMPERATURES = st.sampled_from([None, 36.8, 37.9, 38.0, 38.6, 40.1])
HYPOTENSION = st.sampled_from(
    [None, "none", "none", "fluid_responsive", "one_vasopressor", "multiple_vasopressors"]
)
OXYGEN = st.sampled_from(
    [(None, None), ("room_air", None), ("room_air", None), ("low_flow_nasal_cannula", 2.0),
     ("low_flow_nasal_cannula", None), ("high_flow_nasal_cannula", 30.0), ("face_mask", 8.0),
     ("bipap", None)]
)  # fmt: skip
CONSCIOUSNESS = st.sampled_from([None, "alert", "alert", "awakens_to_voice", "unarousable"])


@st.composite
def assessment_values(draw: st.DrawFn) -> dict[str, Any]:
    device, flow = draw(OXYGEN)
    consciousness = draw(CONSCIOUSNESS)
    ice = draw(st.sampled_from([None, 10, 10, 8, 5, 2, 0]))
    if consciousness == "unarousable" and ice:
        ice = 0
    return {
        "age_years": draw(st.sampled_from([None, 45.0, 45.0, 12.0, 8.0])),
        "temperature_c": draw(TEMPERATURES),
        "hypotension": draw(HYPOTENSION),
        "oxygen_device": device,
        "oxygen_l_min": flow,
        "ice_score": ice,
        "capd_score": draw(st.sampled_from([None, None, 0, 9])),
        "consciousness": consciousness,
        "seizure": draw(st.sampled_from([None, "none", "none", "self_limiting"])),
        "motor_weakness": draw(st.sampled_from([None, "none"])),
        "cerebral_edema": draw(st.sampled_from([None, "none", "none", "focal"])),
        "antipyretic_or_anticytokine_given": draw(
            st.sampled_from([None] * 12 + [True, False])
        ),  # recorded masking: rare, and then it replaces the derived one for the whole course
        "death_attributed_to": draw(st.sampled_from([None] * 30 + ["crs"])),
    }


#: Clinical times: whole hours around the infusion, a few minutes apart too (ties happen).
OFFSETS = st.one_of(
    st.integers(-30, 30 * 24).map(lambda h: timedelta(hours=h)),
    st.integers(0, 6).map(lambda m: timedelta(hours=20, minutes=10 * m)),
)
DRUGS = st.sampled_from(
    [("tocilizumab", 8.0, "mg/kg"), ("tocilizumab", 8.0, "mg/kg"), ("dexamethasone", 10.0, "mg"),
     ("paracetamol", 1000.0, "mg"), ("anakinra", 100.0, "mg"), ("ivig", 0.4, "g/kg")]
)  # fmt: skip
LABS = st.sampled_from(
    [("anc", 0.3, "10^9/L"), ("anc", 2.0, "10^9/L"), ("platelets", 15.0, "10^9/L"),
     ("igg", 3.0, "g/L"), ("igg", 9.0, "g/L"), ("cd19_absolute", 0.0, "cells/uL"),
     ("ferritin", 12000.0, "ng/mL"), ("crp", 150.0, "mg/L")]
)  # fmt: skip
WRITES = st.lists(
    st.one_of(
        st.tuples(st.just("assessment"), OFFSETS, assessment_values()),
        st.tuples(st.just("assessment"), OFFSETS, assessment_values()),
        st.tuples(st.just("assessment"), OFFSETS, assessment_values()),
        st.tuples(st.just("correct"), st.integers(0, 20), assessment_values()),
        st.tuples(st.just("withdraw"), st.integers(0, 20), st.none()),
        st.tuples(st.just("drug"), OFFSETS, DRUGS),
        st.tuples(st.just("withdraw_drug"), st.integers(0, 20), st.none()),
        st.tuples(st.just("lab"), OFFSETS, LABS),
        st.tuples(st.just("withdraw_lab"), st.integers(0, 20), st.none()),
    ),
    min_size=1,
    max_size=9,
)


class Writer:
    """Writes one sequence for one patient; remembers the records to correct or withdraw."""

    def __init__(self, engine: Engine, nurse: Actor, patient_id: str) -> None:
        self.engine, self.nurse, self.patient_id = engine, nurse, patient_id
        self.records: dict[str, list[tuple[str, int]]] = {"assessments": [], "drugs": [],
                                                          "labs": []}  # fmt: skip

    def write(self, step: tuple[str, Any, Any]) -> bool:
        """Write one step (False when it does not apply, e.g. nothing left to withdraw)."""
        kind, where, values = step
        with UnitOfWork(self.engine, self.nurse) as uow:
            if kind == "assessment":
                stored = uow.assessments.add(self._assessment(INFUSED + where, values))
                self.records["assessments"].append((stored.record_id, stored.version))
            elif kind == "correct":
                if not self.records["assessments"]:
                    return False
                slot = where % len(self.records["assessments"])
                record_id, version = self.records["assessments"][slot]
                old = uow.assessments.history(record_id)[-1].values
                stored = uow.assessments.correct(
                    record_id, version, self._assessment(old.observed_at, values), "test"
                )
                self.records["assessments"][slot] = (record_id, stored.version)
            elif kind.startswith("withdraw"):
                name = {"withdraw": "assessments", "withdraw_drug": "drugs",
                        "withdraw_lab": "labs"}[kind]  # fmt: skip
                if not self.records[name]:
                    return False
                record_id, version = self.records[name].pop(where % len(self.records[name]))
                getattr(uow, name).withdraw(record_id, version, "entered in error")
            elif kind == "drug":
                drug, dose, unit = values
                stored_drug = uow.drugs.add(
                    DrugAdministration(patient_id=self.patient_id, given_at=INFUSED + where,
                                       drug=drug, dose=dose, dose_unit=unit)
                )  # fmt: skip
                self.records["drugs"].append((stored_drug.record_id, stored_drug.version))
            else:
                analyte, value, unit = values
                stored_lab = uow.labs.add(
                    LabResult(patient_id=self.patient_id, collected_at=INFUSED + where,
                              analyte=analyte, value=value, unit=unit)
                )  # fmt: skip
                self.records["labs"].append((stored_lab.record_id, stored_lab.version))
            uow.commit()
        return True

    def _assessment(self, observed_at: datetime, values: dict[str, Any]) -> Assessment:
        return Assessment(patient_id=self.patient_id, observed_at=observed_at, **values)


@pytest.fixture
def nurse(engine: Engine) -> Actor:
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_site("S01", "Equivalence site")
        actor = uow.people.add_user("nurse-eq", Role.NURSE, "nurse-eq-password", ["S01"])
        uow.commit()
    return actor


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine evaluates overdue items and lab findings at NOW, not at the wall clock, so that
    two runs of one sequence compute the same overdue hours."""
    monkeypatch.setattr(alert_engine, "refresh", partial(alert_engine.refresh, at=NOW))


def _new_patient(engine: Engine, nurse: Actor) -> str:
    patient_id = f"EQ-{uuid.uuid4().hex[:10]}"
    with UnitOfWork(engine, nurse) as uow:
        uow.patients.add(
            PatientRecord(patient_id=patient_id, site_id="S01", disease="sle",
                          product="cd19_car_t", infusion_at=INFUSED, weight_kg=70.0, sex="female")
        )  # fmt: skip
        uow.commit()
    return patient_id


SEQUENCES = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SEQUENCES
@given(writes=WRITES)
def test_random_write_sequences_store_the_same_grades_and_alerts_on_both_paths(
    engine: Engine,
    nurse: Actor,
    fixed_clock: None,
    monkeypatch: pytest.MonkeyPatch,
    writes: list[tuple[str, Any, Any]],
) -> None:
    fast_id, full_id = _new_patient(engine, nurse), _new_patient(engine, nurse)
    fast, full = Writer(engine, nurse, fast_id), Writer(engine, nurse, full_id)
    for step in writes:
        try:
            monkeypatch.setattr(alert_engine, "FAST_PATH", True)
            applied = fast.write(step)
            monkeypatch.setattr(alert_engine, "FAST_PATH", False)
            assert full.write(step) == applied
        except ValidationError:
            continue  # a combination the input model refuses (the same for both patients)
        if not applied:
            continue
        with Session(engine) as session:
            both_paths(session, fast_id, NOW, labs_too=True)
            for at in (INFUSED + timedelta(days=2, hours=5), INFUSED + timedelta(days=40)):
                both_paths(session, fast_id, at)
    with Session(engine) as session:
        assert stored_grades(session, fast_id) == stored_grades(session, full_id)
        assert stored_alerts(session, fast_id) == stored_alerts(session, full_id)
        assert alert_audit(session, fast_id) == alert_audit(session, full_id)
