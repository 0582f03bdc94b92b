"""The one-patient course (grading.patient_course) equals the cohort course on every row.

Hypothesis draws one patient's assessments (blank fields, ties in time, fever around 38.0 C,
hypotension, oxygen, neurological findings, sometimes a recorded masking), drug doses (tocilizumab,
steroids, antipyretics, others) and lab times, and a moment; then:

- :func:`grade_patient_course` gives, row by row, the grades, statuses, reasons, masking, episodes,
  lower-bound grades and flags of :func:`grading.course.grade_course`;
- :func:`course_findings_of` gives the rows of :func:`grading.monitor.course_findings`, in order;
- :func:`overdue_items` gives the overdue rows of :func:`grading.schedule.due_items`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from grading import Assessment
from grading.course import MASKING, grade_course
from grading.monitor import course_findings
from grading.patient_course import (
    GRADE_INPUTS,
    UnsupportedRecordError,
    course_findings_of,
    grade_patient_course,
    overdue_items,
)
from grading.schedule import due_items

INFUSED = datetime(2026, 3, 2, 10, 0)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

OXYGEN = st.sampled_from(
    [(None, None), ("room_air", None), ("room_air", None), ("low_flow_nasal_cannula", 2.0),
     ("low_flow_nasal_cannula", 6.5), ("low_flow_nasal_cannula", None), ("face_mask", 8.0),
     ("cpap", None)]
)  # fmt: skip


@st.composite
def values(draw: st.DrawFn) -> dict[str, Any]:
    device, flow = draw(OXYGEN)
    return {
        "age_years": draw(st.sampled_from([None, 45.0, 12.0, 8.0])),
        "temperature_c": draw(st.sampled_from([None, 36.8, 37.9, 38.0, 38.6, 40.1])),
        "hypotension": draw(
            st.sampled_from([None, "none", "none", "fluid_responsive", "one_vasopressor"])
        ),
        "oxygen_device": device,
        "oxygen_l_min": flow,
        "ice_score": draw(st.sampled_from([None, 10, 10, 8, 5, 2, 0])),
        "capd_score": draw(st.sampled_from([None, None, 0, 9])),
        "consciousness": draw(st.sampled_from([None, "alert", "alert", "awakens_to_voice"])),
        "seizure": draw(st.sampled_from([None, "none", "none", "prolonged_or_repetitive"])),
        "motor_weakness": draw(st.sampled_from([None, "none"])),
        "cerebral_edema": draw(st.sampled_from([None, "none", "none", "diffuse"])),
        "death_attributed_to": draw(st.sampled_from([None] * 30 + ["icans"])),
    }


#: Minutes after the infusion: often hours apart, sometimes equal (ties) or 24 h apart.
MINUTES = st.one_of(
    st.integers(-2 * 24 * 60, 30 * 24 * 60),
    st.sampled_from([0, 30, 20 * 60, 44 * 60, 68 * 60]),
)
COURSES = st.lists(st.tuples(MINUTES, values()), min_size=1, max_size=25)
DOSES = st.lists(
    st.tuples(MINUTES, st.sampled_from(
        ["tocilizumab", "tocilizumab", "dexamethasone", "paracetamol", "anakinra", "ivig"]
    )),
    max_size=8,
)  # fmt: skip
#: Recorded masking: absent (derived from the drug log) most of the time.
RECORDED = st.one_of(
    st.just(None), st.just(None), st.lists(st.sampled_from([None, True, False]), min_size=25)
)


def _frame(course: list[tuple[int, dict[str, Any]]], recorded: list[bool | None] | None) -> Any:
    rows = []
    for i, (minutes, fields) in enumerate(course):
        masking = recorded[i] if recorded else None
        Assessment(patient_id="P", observed_at=INFUSED, **{MASKING: masking}, **fields)
        rows.append({"patient_id": "P", "observed_at": INFUSED + timedelta(minutes=minutes),
                     MASKING: masking, **fields})  # fmt: skip
    return pd.DataFrame(rows, columns=["patient_id", "observed_at", MASKING, *GRADE_INPUTS])


def _inputs(frame: pd.DataFrame) -> list[tuple[datetime, tuple[Any, ...], bool | None]]:
    return [
        (r["observed_at"].to_pydatetime(), tuple(r[f] for f in GRADE_INPUTS), r[MASKING])
        for r in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]


@PROPERTY
@given(course=COURSES, doses=DOSES, recorded=RECORDED)
def test_one_patient_course_equals_the_cohort_course_on_every_row(
    course: list[tuple[int, dict[str, Any]]],
    doses: list[tuple[int, str]],
    recorded: list[bool | None] | None,
) -> None:
    try:
        frame = _frame(course, recorded)
    except ValidationError:
        assume(False)
    drugs = pd.DataFrame(
        [{"patient_id": "P", "given_at": INFUSED + timedelta(minutes=m), "drug": d, "dose": 8.0,
          "dose_unit": "mg/kg"} for m, d in doses],
        columns=["patient_id", "given_at", "drug", "dose", "dose_unit"],
    )  # fmt: skip
    patients = pd.DataFrame([{"patient_id": "P", "infusion_at": INFUSED, "weight_kg": 70.0}])
    reference = grade_course(frame, drugs, patients)
    fast = grade_patient_course(
        _inputs(frame), [(INFUSED + timedelta(minutes=m), d) for m, d in doses]
    )
    expected = reference.assessments
    assert [row.position for row in fast] == expected["_row"].tolist()
    for row, want in zip(fast, expected.to_dict("records"), strict=True):
        got = row.grade
        assert got.crs_grade == (None if pd.isna(want["crs_grade"]) else want["crs_grade"])
        assert got.icans_grade == (None if pd.isna(want["icans_grade"]) else want["icans_grade"])
        assert (got.crs_status, got.icans_status) == (want["crs_status"], want["icans_status"])
        assert (got.crs_reason, got.icans_reason) == (want["crs_reason"], want["icans_reason"])
        assert (got.crs_at_least, got.icans_at_least) == (
            want["crs_at_least"], want["icans_at_least"],
        )  # fmt: skip
        assert (got.steroids_indicated, got.icu_indicated) == (
            want["steroids_indicated"], want["icu_indicated"],
        )  # fmt: skip
        assert row.masking == (None if pd.isna(want[MASKING]) else want[MASKING])
        assert (row.crs_episode, row.icans_episode) == (want["crs_episode"], want["icans_episode"])
        assert row.tocilizumab_flag == want["tocilizumab_flag"]
        assert row.observed_at == want["observed_at"]
    found = course_findings(reference)
    found["at"] = [pd.Timestamp(t).to_pydatetime() for t in found["at"]]
    assert course_findings_of("P", fast) == found.to_dict("records")


def test_an_assessment_the_input_model_refuses_is_left_to_the_reference_path() -> None:
    # Room air with 3 L/min is refused by Assessment (oxygen_flow_on_room_air); grade_frame
    # itself does not check that combination, so only the reference path may grade it.
    fields = dict.fromkeys(GRADE_INPUTS)
    fields.update(oxygen_device="room_air", oxygen_l_min=3.0)
    with pytest.raises(UnsupportedRecordError):
        grade_patient_course([(INFUSED, tuple(fields.values()), None)], [])


HOURS_AFTER = st.one_of(
    st.integers(-48, 420 * 24),
    st.sampled_from([5 * 24 + 1, 14 * 24 + 13, 15 * 24, 29 * 24, 38 * 24 + 2, 275 * 24]),
)


@PROPERTY
@given(
    course=st.lists(st.tuples(MINUTES, st.booleans(), st.booleans(), st.booleans()), max_size=12),
    labs=st.lists(MINUTES, max_size=4),
    hours=HOURS_AFTER,
    seconds=st.integers(0, 3599),
)
def test_overdue_items_equal_the_schedule_on_one_patient(
    course: list[tuple[int, bool, bool, bool]], labs: list[int], hours: int, seconds: int
) -> None:
    at = INFUSED + timedelta(hours=hours, seconds=seconds, microseconds=seconds * 7)
    observed = [INFUSED + timedelta(minutes=m, microseconds=m % 997) for m, *_ in course]
    assessments = pd.DataFrame(
        [{"patient_id": "P", "observed_at": t, "temperature_c": 37.0 if vitals else None,
          "ice_score": 10 if ice else None, "capd_score": 0 if capd else None}
         for t, (_, vitals, ice, capd) in zip(observed, course, strict=True)],
        columns=["patient_id", "observed_at", "temperature_c", "ice_score", "capd_score"],
    )  # fmt: skip
    lab_frame = pd.DataFrame(
        [{"patient_id": "P", "collected_at": INFUSED + timedelta(minutes=m)} for m in labs],
        columns=["patient_id", "collected_at"],
    )
    patients = pd.DataFrame([{"patient_id": "P", "infusion_at": INFUSED}])
    table = due_items(patients, assessments, lab_frame, pd.Timestamp(at))
    expected = [
        (r["item"], pd.Timestamp(r["due_at"]).to_pydatetime(), r["phase"], r["overdue_hours"])
        for r in table[table["status"] == "overdue"].to_dict("records")
    ]
    last_lab = max((INFUSED + timedelta(minutes=m) for m in labs), default=None)
    got = overdue_items(
        INFUSED,
        [(t, vitals, ice or capd) for t, (_, vitals, ice, capd) in zip(observed, course,
                                                                        strict=True)],
        last_lab,
        at,
    )  # fmt: skip
    assert got == expected


# --- cut-points on both sides (each compared with the reference and with the hand value) -------

FEVER = {"temperature_c": 38.6, "hypotension": "none", "oxygen_device": "room_air"}
CLEAN = {"temperature_c": 36.8, "hypotension": "none", "oxygen_device": "room_air"}
# Fever with fluid-responsive hypotension: CRS grade 2, tocilizumab indicated (TOCI-CRS-2).
GRADE_2 = {"temperature_c": 38.6, "hypotension": "fluid_responsive", "oxygen_device": "room_air"}


def both(
    course: list[tuple[int, dict[str, Any]]],
    doses: list[tuple[int, str]] = (),  # type: ignore[assignment]
) -> tuple[list[Any], pd.DataFrame]:
    """The fast rows and the reference's assessments, with equal flags and episodes checked."""
    frame = _frame(course, None)
    drugs = pd.DataFrame(
        [{"patient_id": "P", "given_at": INFUSED + timedelta(minutes=m), "drug": d, "dose": 8.0,
          "dose_unit": "mg/kg"} for m, d in doses],
        columns=["patient_id", "given_at", "drug", "dose", "dose_unit"],
    )  # fmt: skip
    reference = grade_course(frame, drugs, None).assessments
    fast = grade_patient_course(
        _inputs(frame), [(INFUSED + timedelta(minutes=m), d) for m, d in doses]
    )
    assert [r.tocilizumab_flag for r in fast] == reference["tocilizumab_flag"].tolist()
    assert [r.crs_episode for r in fast] == reference["crs_episode"].tolist()
    return fast, reference


@pytest.mark.parametrize(
    ("first_dose_minutes", "flag"),
    [(0, "indicated"), (1, "limit_reached")],  # 24 h 0 min before: outside; 23 h 59 min: inside
)
def test_a_dose_exactly_24_hours_before_is_outside_the_24_hour_dose_limit(
    first_dose_minutes: int, flag: str
) -> None:
    # Assessment at 48 h; doses at 24 h (+1 min), 32 h and 40 h. Max 3 doses in 24 h: the limit
    # is reached only when the first dose lies within (24 h, 48 h].
    day = 24 * 60
    doses = [(day + first_dose_minutes, "tocilizumab"), (day + 8 * 60, "tocilizumab"),
             (day + 16 * 60, "tocilizumab")]  # fmt: skip
    fast, _ = both([(2 * day, GRADE_2)], doses)
    assert fast[0].tocilizumab_flag == flag


@pytest.mark.parametrize(
    ("gap_minutes", "second_episode"),
    [(24 * 60, 1), (24 * 60 - 1, 0)],  # finding-free for 24 h 0 min: resolved; 23 h 59 min: not
)
def test_an_episode_resolves_after_exactly_24_finding_free_hours(
    gap_minutes: int, second_episode: int
) -> None:
    # Fever at 0, afebrile at 1 h and at 1 h + gap, fever again 1 h later.
    course = [(0, FEVER), (60, CLEAN), (60 + gap_minutes, CLEAN), (120 + gap_minutes, FEVER)]
    fast, _ = both(course)
    assert fast[-1].crs_episode == second_episode


@pytest.mark.parametrize(("extra_seconds", "overdue"), [(0, False), (1, True)])
def test_vitals_are_overdue_only_after_4_hours_and_the_1_hour_grace(
    extra_seconds: int, overdue: bool
) -> None:
    # Day 2 (acute phase: vitals every 4 h, grace 1 h); last temperature 2 days after the infusion.
    last = INFUSED + timedelta(days=2)
    at = last + timedelta(hours=5, seconds=extra_seconds)
    assessments = pd.DataFrame(
        [{"patient_id": "P", "observed_at": last, "temperature_c": 37.0, "ice_score": 10,
          "capd_score": None}]
    )  # fmt: skip
    patients = pd.DataFrame([{"patient_id": "P", "infusion_at": INFUSED}])
    table = due_items(patients, assessments, None, pd.Timestamp(at))
    assert (table.set_index("item").loc["vitals", "status"] == "overdue") == overdue
    got = overdue_items(INFUSED, [(last, True, True)], None, at)
    assert ("vitals" in [item for item, *_ in got]) == overdue
