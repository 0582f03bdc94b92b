"""Endpoints (time, status) built from a tiny hand-made cohort whose every answer is worked out here.

Every patient is infused on 2026-03-01 at 10:00 (day 0 = that instant; 1 h = 1/24 day). A fever
of 39.0 °C starts a CRS episode at that assessment (grade 1); 37.0 °C is normal.

========  ======================================================================================
patient   records, and the expected endpoint rows
========  ======================================================================================
P1 a      fever day 1 08:00 (22 h = 0.916667 d); CD19 0.1 % day 7 and 14 (aplasia), 5 % day 60
          and 6 % day 90 (recovery confirmed, dated day 60); IVIG day 30; last record = day 90.
          CRS event 0.916667; B-cell event 60; IVIG event 30; ICANS censored at 90.
P2 a      fever at the infusion instant: CRS event at day 0. CD19 5 % day 7 (never aplastic):
          B-cell recovery not at risk. Last record day 2.
P3 a      fever 1 minute before the infusion only (ignored: day < 0), IVIG 5 days before the
          infusion (ignored); a re-treatment dated 3 days before the infusion (ignored, noted).
          Last record day 3: CRS censored at 3, IVIG censored at 3.
P4 b      death (outcome event) and fever at the same instant, day 1 08:00: CRS event (tie).
P5 b      death recorded in an assessment (grade 5, attributed "other") at day 1 07:00, fever
          one hour later, day 1 08:00: CRS competing (death) at day 1 07:00 = 0.875.
P6 b      re-treatment day 2 10:00, fever day 3 10:00: CRS competing (retreatment) at 2.
P7 b      CD19 0.1 % day 7 (aplasia), no recovery; IVIG day 40 is the last record: IVIG event
          exactly at the censoring time (40); B-cell censored at 40; CRS censored at 40.
P8 b      one normal assessment day 1 10:00 (last record, day 1); death on day 10 (outcome event):
          CRS competing (death) at 10, noted "after the last record".
========  ======================================================================================
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from dashboard.analytics.cumulative_incidence import cumulative_incidence
from dashboard.analytics.endpoints import (
    COMPETING_AFTER_FOLLOW_UP,
    ENDPOINT_COLUMNS,
    ENDPOINTS,
    NO_APLASIA,
    OUTCOME_BEFORE_INFUSION,
    cohort_endpoints,
    endpoint_frame,
)
from dashboard.services.cohort_data import EVENT_FIELDS, CohortData
from dashboard.store.alert_engine import GRADED_FIELDS
from dashboard.store.records import DRUGS, LABS
from grading import Assessment
from grading.course import grade_course
from grading.policy_asco_2021 import ASCO_2021
from grading.records import DrugAdministration, LabResult, Patient

INFUSION = datetime(2026, 3, 1, 10)
PRODUCT = {"P1": "cd19_car_t", "P2": "cd19_car_t", "P3": "cd19_car_t",
           "P4": "cd19_bcma_car_t", "P5": "cd19_bcma_car_t", "P6": "cd19_bcma_car_t",
           "P7": "cd19_bcma_car_t", "P8": "cd19_bcma_car_t"}  # fmt: skip


def day(days: float) -> datetime:
    return INFUSION + timedelta(days=days)


def assessment(pid: str, at: datetime, temp: float = 37.0, **extra: Any) -> Assessment:
    return Assessment(
        patient_id=pid, observed_at=at, age_years=40, temperature_c=temp, hypotension="none",
        oxygen_device="room_air", ice_score=10, consciousness="alert", seizure="none",
        motor_weakness="none", cerebral_edema="none", **extra,
    )  # fmt: skip


def cd19(pid: str, at: datetime, percent: float) -> LabResult:
    return LabResult(patient_id=pid, collected_at=at, analyte="cd19_percent", value=percent,
                     unit="%")  # fmt: skip


def ivig(pid: str, at: datetime) -> DrugAdministration:
    return DrugAdministration(patient_id=pid, given_at=at, drug="ivig", dose=30, dose_unit="g",
                              route="iv")  # fmt: skip


def frame(records: list[Any], fields: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame([{f: getattr(r, f) for f in fields} for r in records], columns=fields)


def cohort() -> CohortData:
    patients = [
        Patient(patient_id=pid, site_id="S01", disease="sle", product=product,
                infusion_at=INFUSION, age_years=40, weight_kg=70)
        for pid, product in PRODUCT.items()
    ]  # fmt: skip
    d1_8 = day(22 / 24)  # day 1 08:00
    assessments = [
        assessment("P1", d1_8, 39.0), assessment("P1", day(1.5)), assessment("P1", day(2)),
        assessment("P2", INFUSION, 39.0), assessment("P2", day(1)), assessment("P2", day(2)),
        assessment("P3", INFUSION - timedelta(minutes=1), 39.0), assessment("P3", day(1)),
        assessment("P3", day(3)),
        assessment("P4", d1_8, 39.0), assessment("P4", day(1.5)),
        assessment("P5", day(21 / 24), death_attributed_to="other"),
        assessment("P5", d1_8, 39.0), assessment("P5", day(1.5)),
        assessment("P6", day(3), 39.0), assessment("P6", day(4)),
        assessment("P7", day(1)), assessment("P8", day(1)),
    ]  # fmt: skip
    labs = [
        cd19("P1", day(7), 0.1), cd19("P1", day(14), 0.1), cd19("P1", day(60), 5.0),
        cd19("P1", day(90), 6.0), cd19("P2", day(7), 5.0), cd19("P7", day(7), 0.1),
    ]  # fmt: skip
    drugs = [ivig("P1", day(30)), ivig("P3", day(-5)), ivig("P7", day(40))]
    events = pd.DataFrame(
        [("P4", "death", d1_8, None), ("P6", "retreatment", day(2), None),
         ("P8", "death", day(10), "infection"), ("P3", "retreatment", day(-3), None)],
        columns=list(EVENT_FIELDS),
    )  # fmt: skip
    patient_fields = tuple(Patient.model_fields)
    return CohortData(
        patients=frame(patients, patient_fields),
        assessments=frame(assessments, GRADED_FIELDS),
        drugs=frame(drugs, DRUGS.fields),
        labs=frame(labs, LABS.fields),
        events=events,
    )


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return cohort_endpoints(cohort())


def cell(rows: pd.DataFrame, endpoint: str, pid: str) -> dict[str, Any]:
    found = rows[(rows["endpoint"] == endpoint) & (rows["patient_id"] == pid)]
    assert len(found) == 1
    record: dict[str, Any] = {str(k): v for k, v in found.iloc[0].items()}
    return record


def test_shape_one_row_per_patient_and_endpoint(rows: pd.DataFrame) -> None:
    assert list(rows.columns) == list(ENDPOINT_COLUMNS)
    assert list(pd.unique(rows["endpoint"])) == list(ENDPOINTS)
    assert len(rows) == 4 * len(PRODUCT)


@pytest.mark.parametrize(
    ("pid", "status", "time", "competing"),
    [
        ("P1", "event", 22 / 24, None),
        ("P2", "event", 0.0, None),  # onset at the infusion instant: day 0 counts
        ("P3", "censored", 3.0, None),  # fever 1 minute before the infusion: ignored
        ("P4", "event", 22 / 24, None),  # death at the same instant: the event wins
        ("P5", "competing", 21 / 24, "death"),  # death one hour before the onset
        ("P6", "competing", 2.0, "retreatment"),
        ("P7", "censored", 40.0, None),
        ("P8", "competing", 10.0, "death"),
    ],
)
def test_crs_onset(
    rows: pd.DataFrame, pid: str, status: str, time: float, competing: str | None
) -> None:
    row = cell(rows, "crs_onset", pid)
    assert (row["status"], row["competing_event"]) == (status, competing)
    assert row["time_days"] == pytest.approx(time, abs=1e-9)


def test_notes_say_what_was_ignored_or_assumed(rows: pd.DataFrame) -> None:
    assert cell(rows, "crs_onset", "P8")["note"] == COMPETING_AFTER_FOLLOW_UP
    assert cell(rows, "crs_onset", "P8")["follow_up_days"] == pytest.approx(1.0)
    assert cell(rows, "crs_onset", "P3")["note"] == OUTCOME_BEFORE_INFUSION
    assert cell(rows, "crs_onset", "P1")["note"] == ""


def test_icans_never_happens_here(rows: pd.DataFrame) -> None:
    icans = rows[rows["endpoint"] == "icans_onset"].set_index("patient_id")
    assert (icans["status"] != "event").all()
    assert icans.loc["P1", "status"] == "censored"
    assert icans.loc["P1", "time_days"] == pytest.approx(90.0)
    # the competing events are the same whatever the endpoint
    assert icans.loc["P5", "status"] == "competing"
    assert icans.loc["P4", "status"] == "competing"  # no ICANS: P4's death competes


def test_bcell_recovery_needs_prior_aplasia(rows: pd.DataFrame) -> None:
    p1, p2, p7 = (cell(rows, "bcell_recovery", pid) for pid in ("P1", "P2", "P7"))
    assert (p1["status"], p1["time_days"]) == ("event", pytest.approx(60.0))
    assert p2["status"] == "not_at_risk"
    assert pd.isna(p2["time_days"])
    assert p2["note"] == NO_APLASIA
    assert (p7["status"], p7["time_days"]) == ("censored", pytest.approx(40.0))
    # patients never sampled are not at risk either (no documented aplasia)
    assert cell(rows, "bcell_recovery", "P4")["status"] == "not_at_risk"


def test_ivig_start(rows: pd.DataFrame) -> None:
    p1, p3, p7 = (cell(rows, "ivig_start", pid) for pid in ("P1", "P3", "P7"))
    assert (p1["status"], p1["time_days"]) == ("event", pytest.approx(30.0))
    # a dose 5 days before the infusion does not start the endpoint
    assert (p3["status"], p3["time_days"]) == ("censored", pytest.approx(3.0))
    # the dose is the last record: an event exactly at the censoring time is an event
    assert p7["follow_up_days"] == pytest.approx(40.0)
    assert (p7["status"], p7["time_days"]) == ("event", pytest.approx(40.0))


def test_given_course_and_outcomes_give_the_same_rows(rows: pd.DataFrame) -> None:
    data = cohort()
    course = grade_course(data.assessments, data.drugs, data.patients, ASCO_2021)
    from dashboard.services.outcomes import deaths_and_retreatments

    again = endpoint_frame(data, course, deaths_and_retreatments(data))
    pd.testing.assert_frame_equal(again, rows)


def test_without_outcomes_nothing_competes() -> None:
    data = cohort()
    course = grade_course(data.assessments, data.drugs, data.patients, ASCO_2021)
    rows = endpoint_frame(data, course, data.events.iloc[0:0])
    crs = rows[rows["endpoint"] == "crs_onset"].set_index("patient_id")
    assert (crs["status"] != "competing").all()
    assert crs.loc["P6", "status"] == "event"
    assert crs.loc["P6", "time_days"] == pytest.approx(3.0)


def test_no_course_means_no_episode_events() -> None:
    data = cohort()
    rows = endpoint_frame(data, None, data.events.iloc[0:0])
    assert (rows.loc[rows["endpoint"] == "crs_onset", "status"] == "censored").all()


def test_endpoints_feed_the_estimator(rows: pd.DataFrame) -> None:
    # CRS onset over all 8: t=0 P2 (n=8): F = 1/8. t=0.875 P5 competing (n=7): S = 7/8*6/7 = 6/8.
    # t=0.916667 P1 and P4 (n=6): F = 1/8 + 6/8 * 2/6 = 0.375.
    results = cumulative_incidence(rows[rows["endpoint"] == "crs_onset"], at_times=[0, 1])
    everyone = results[-1]
    assert everyone.group == "all products"
    value = everyone.curve.set_index("time_days")["cumulative_incidence"]
    assert value[0.0] == pytest.approx(0.125)
    assert value.iloc[-1] == pytest.approx(0.375)
    # events P1 P2 P4, competing P5 P6 P8, censored P3 P7
    assert (everyone.events, everyone.competing, everyone.censored) == (3, 3, 2)
    assert everyone.competing_by_kind == {"death": 2, "retreatment": 1}
    assert everyone.competing_after_follow_up == 1
    # at risk at day 1: P3 (3), P6 (2), P7 (40), P8 (10)
    assert everyone.at_risk["at_risk"].tolist() == [8, 4]
