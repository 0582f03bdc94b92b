"""A small hand-built world for the timeline and sign-off tests (imported by them), and a check
that the alert engine graded it as the tests expect.

Patient P1 (site S01), infused two days before today at 10:00:
- day -5 baseline, every domain normal: CRS 0, ICANS 0;
- day 1 08:00: 39.0 °C, one vasopressor, nasal cannula 4 L/min: CRS 3 (R-CRS hypotension 3);
- day 1 12:00: 38.5 °C, no hypotension, room air, ICE not done: CRS 1, ICANS not gradable;
- day 2 08:00: 37.0 °C, all normal, after tocilizumab: CRS not gradable (fever masked).
Tocilizumab and norepinephrine on day 1, CRP 12 mg/dL (= 120 mg/L) and ferritin on day 1; IgG
350 mg/dL and CD19 0.2 % on day 35, IVIG on day 36 (long-term view only).
Patient P2 (site S02) has one assessment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.database import open_database
from dashboard.store.schema import AssessmentRow, GradeRow
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.records import DrugAdministration, LabResult, Patient

TODAY = datetime.now(UTC).replace(tzinfo=None)
INFUSION = (TODAY - timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
NORMAL_NEURO: dict[str, Any] = {"ice_score": 10, "consciousness": "alert", "seizure": "none",
                                "motor_weakness": "none", "cerebral_edema": "none"}  # fmt: skip


def at(day: int, hour: int) -> datetime:
    return INFUSION.replace(hour=hour) + timedelta(days=day)


def assessment(patient: str, when: datetime, **values: Any) -> Assessment:
    return Assessment(patient_id=patient, observed_at=when, age_years=40, **values)


def build_world(tmp_path: Path) -> tuple[Engine, dict[str, Actor], str]:
    """The database (its URL is the third item) and the actors by name."""
    url = f"sqlite+pysqlite:///{tmp_path / 'timeline.db'}"
    engine = open_database(url)
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_site("S01", "Site one")
        uow.people.add_site("S02", "Site two")
        add = uow.people.add_user
        actors = {
            "nurse1": add("nurse1", Role.NURSE, "nurse-one-pw", ["S01"]),
            "nurse2": add("nurse2", Role.NURSE, "nurse-two-pw", ["S02"]),
            "physician1": add("physician1", Role.PHYSICIAN, "physician-pw", ["S01"]),
            "physician2": add("physician2", Role.PHYSICIAN, "physician-pw2", ["S02"]),
            "researcher": add("researcher", Role.RESEARCHER, "research-pw", ["S01", "S02"]),
            "admin": add("admin", Role.ADMIN, "admin-pw-123", []),
        }
        uow.commit()
    with UnitOfWork(engine, actors["nurse1"]) as uow:
        uow.patients.add(Patient(patient_id="P1", site_id="S01", disease="sle",
                                 product="cd19_car_t", infusion_at=INFUSION, weight_kg=70))  # fmt: skip
        for record in (
            assessment("P1", at(-5, 9), temperature_c=36.8, hypotension="none",
                       oxygen_device="room_air", **NORMAL_NEURO),
            assessment("P1", at(1, 8), temperature_c=39.0, hypotension="one_vasopressor",
                       oxygen_device="low_flow_nasal_cannula", oxygen_l_min=4.0,
                       systolic_bp_mmhg=82, diastolic_bp_mmhg=45, **NORMAL_NEURO),
            assessment("P1", at(1, 12), temperature_c=38.5, hypotension="none",
                       oxygen_device="room_air", consciousness="alert", seizure="none",
                       motor_weakness="none", cerebral_edema="none"),
            assessment("P1", at(2, 8), temperature_c=37.0, hypotension="none",
                       oxygen_device="room_air", **NORMAL_NEURO),
        ):  # fmt: skip
            uow.assessments.add(record)
        for drug, day, hour, dose, unit in (
            ("norepinephrine", 1, 8, 0.05, "mcg/kg/min"), ("tocilizumab", 1, 9, 560, "mg"),
            ("ivig", 36, 9, 28, "g"),
        ):  # fmt: skip
            uow.drugs.add(DrugAdministration(patient_id="P1", given_at=at(day, hour), drug=drug,
                                             dose=dose, dose_unit=unit))  # fmt: skip
        for analyte, day, value, unit in (
            ("crp", 1, 12.0, "mg/dL"), ("ferritin", 1, 900.0, "ng/mL"),
            ("igg", 35, 350.0, "mg/dL"), ("cd19_percent", 35, 0.2, "%"),
        ):  # fmt: skip
            uow.labs.add(LabResult(patient_id="P1", collected_at=at(day, 7), analyte=analyte,
                                   value=value, unit=unit))  # fmt: skip
        uow.commit()
    with UnitOfWork(engine, actors["nurse2"]) as uow:
        uow.patients.add(Patient(patient_id="P2", site_id="S02", disease="myositis",
                                 product="cd19_car_t", infusion_at=INFUSION))  # fmt: skip
        uow.assessments.add(assessment("P2", at(1, 8), temperature_c=39.5, hypotension="none",
                                       oxygen_device="room_air", **NORMAL_NEURO))  # fmt: skip
        uow.commit()
    return engine, actors, url


def stored_grades(engine: Engine, patient_id: str) -> list[tuple[Any, ...]]:
    """(observed_at, CRS grade, CRS status, ICANS status) of the stored grades, in time order."""
    with UnitOfWork(engine, SYSTEM) as uow:
        rows = uow.session.execute(
            select(
                AssessmentRow.observed_at,
                GradeRow.crs_grade,
                GradeRow.crs_status,
                GradeRow.icans_status,
            )
            .join(GradeRow, GradeRow.assessment_row_id == AssessmentRow.row_id)
            .where(AssessmentRow.patient_id == patient_id, AssessmentRow.status == "current")
            .order_by(AssessmentRow.observed_at)
        ).all()
        return [tuple(row) for row in rows]


def test_the_world_is_graded_as_the_tests_expect(tmp_path: Path) -> None:
    engine, _, _ = build_world(tmp_path)
    assert stored_grades(engine, "P1") == [
        (at(-5, 9), 0, "no_toxicity", "no_toxicity"),
        (at(1, 8), 3, "graded", "no_toxicity"),
        (at(1, 12), 1, "graded", "not_gradable"),
        # afebrile after tocilizumab inside the episode: masked, left to the clinician (policy)
        (at(2, 8), None, "not_gradable", "no_toxicity"),
    ]
