"""The course over time, on hand-written timelines (criteria.md R-CRS-2, 6.1; course_policy.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from grading.course import Course, derive_masking, grade_course
from grading.course_policy import CoursePolicy, EpisodePolicy

T0 = pd.Timestamp("2026-03-01 08:00")
NORMAL: dict[str, Any] = {
    "age_years": 40.0,
    "temperature_c": 37.0,
    "hypotension": "none",
    "oxygen_device": "room_air",
    "ice_score": 10,
    "consciousness": "alert",
    "seizure": "none",
    "motor_weakness": "none",
    "cerebral_edema": "none",
}


def at(hours: float, patient: str = "P1", **changes: Any) -> dict[str, Any]:
    return {
        "patient_id": patient,
        "observed_at": T0 + pd.Timedelta(hours=hours),
        **NORMAL,
        **changes,
    }


def dose(
    hours: float, drug: str, mg: float = 10.0, patient: str = "P1", unit: str = "mg"
) -> dict[str, Any]:
    return {"patient_id": patient, "given_at": T0 + pd.Timedelta(hours=hours), "drug": drug,
            "dose": mg, "dose_unit": unit, "route": "iv"}  # fmt: skip


def course(rows: list[dict[str, Any]], drugs: list[dict[str, Any]] = (), **kw: Any) -> Course:  # type: ignore[assignment]
    drug_frame = pd.DataFrame(
        list(drugs), columns=["patient_id", "given_at", "drug", "dose", "dose_unit", "route"]
    )
    return grade_course(pd.DataFrame(rows), drug_frame, **kw)


def column(result: Course, name: str) -> list[Any]:
    return [None if pd.isna(v) else v for v in result.assessments[name]]


# --- Fever masking from the drug log (R-CRS-2) --------------------------------------------------


def test_after_fever_and_tocilizumab_an_afebrile_patient_on_a_vasopressor_is_grade_3() -> None:
    rows = [at(0, temperature_c=38.6), at(6, temperature_c=37.0, hypotension="one_vasopressor")]
    result = course(rows, [dose(2, "tocilizumab", 560)])
    assert column(result, "antipyretic_or_anticytokine_given") == [False, True]
    assert column(result, "crs_grade") == [1, 3]


def test_before_the_masking_drug_an_afebrile_vasopressor_patient_is_not_crs() -> None:
    rows = [at(0, temperature_c=38.6), at(1, temperature_c=37.0, hypotension="one_vasopressor")]
    result = course(rows, [dose(2, "tocilizumab", 560)])
    assert column(result, "antipyretic_or_anticytokine_given") == [False, False]
    assert column(result, "crs_grade") == [1, 0]
    assert column(result, "crs_status") == ["graded", "no_toxicity"]


def test_a_drug_given_before_the_crs_onset_never_masks() -> None:
    # Paracetamol the day before; no documented fever since: hypoxia alone is not CRS.
    rows = [at(24, temperature_c=37.4, oxygen_device="face_mask")]
    result = course(rows, [dose(0, "paracetamol", 1000)])
    assert column(result, "antipyretic_or_anticytokine_given") == [False]
    assert column(result, "crs_grade") == [0]


def test_a_drug_given_at_the_moment_of_onset_masks_what_follows() -> None:
    rows = [at(0, temperature_c=38.1), at(4, temperature_c=37.2, oxygen_device="face_mask")]
    result = course(rows, [dose(0, "paracetamol", 1000)])
    assert column(result, "crs_grade") == [1, 3]


def test_masking_ends_when_the_episode_resolves() -> None:
    rows = [
        at(0, temperature_c=38.5),
        at(4, temperature_c=37.2, hypotension="fluid_responsive"),  # masked: grade 2
        at(8, temperature_c=37.0, hypotension="none"),  # masked, no findings: not gradable
        at(12, temperature_c=37.0, hypotension="fluid_responsive"),
        at(24),
        at(36),
        at(48),  # 24 h free of findings since hour 24: resolved at hour 24
        at(60, temperature_c=37.1, oxygen_device="face_mask"),  # after resolution: not CRS
    ]
    result = course(rows, [dose(1, "tocilizumab", 560)])
    masked = column(result, "antipyretic_or_anticytokine_given")
    assert masked == [False, True, True, True, False, False, False, False]
    assert column(result, "crs_grade")[:2] == [1, 2]
    assert column(result, "crs_status")[2] == "not_gradable"  # R-CRS-2 open question (policy)
    assert column(result, "crs_grade")[7] == 0
    (episode,) = result.episodes[result.episodes.syndrome == "CRS"].itertuples()
    assert episode.resolved_at == T0 + pd.Timedelta(hours=24)
    assert episode.status == "resolved"
    assert episode.duration_days == 1.0


def test_derive_masking_is_aligned_with_the_callers_rows() -> None:
    rows = [at(6, temperature_c=37.0, hypotension="one_vasopressor"), at(0, temperature_c=38.6)]
    frame = pd.DataFrame(rows, index=[7, 3])
    masked = derive_masking(frame, pd.DataFrame([dose(2, "dexamethasone")]))
    assert masked.to_dict() == {7: True, 3: False}


# --- Episodes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("last_clean_hour", "resolved"), [(23.9, False), (24.0, True)])
def test_resolution_needs_the_policy_hours_of_finding_free_assessments(
    last_clean_hour: float, resolved: bool
) -> None:
    rows = [at(0, temperature_c=38.3), at(10), at(10 + last_clean_hour)]
    (episode,) = course(rows).episodes.itertuples()
    assert (episode.status == "resolved") is resolved
    if resolved:
        assert episode.resolved_at == T0 + pd.Timedelta(hours=10)
    else:
        assert pd.isna(episode.resolved_at)
        assert pd.isna(episode.duration_days)


def test_one_finding_free_reading_never_closes_an_episode() -> None:
    policy = CoursePolicy(episodes=EpisodePolicy(resolution_hours=1, resolution_min_assessments=2))
    rows = [at(0, temperature_c=38.3), at(10)]
    (episode,) = course(rows, course=policy).episodes.itertuples()
    assert episode.status == "ongoing"


def test_blank_assessments_neither_count_nor_break_a_resolving_run() -> None:
    rows = [
        at(0, temperature_c=38.3),
        at(10),
        at(20, oxygen_device=None),  # oxygen not recorded: not finding-free, not a finding
        at(34),
    ]
    (episode,) = course(rows).episodes.itertuples()
    assert episode.resolved_at == T0 + pd.Timedelta(hours=10)


def test_a_new_fever_after_resolution_starts_a_second_episode() -> None:
    rows = [at(0, temperature_c=38.3), at(10), at(40), at(50, temperature_c=38.9)]
    episodes = course(rows).episodes
    assert list(episodes["episode"]) == [1, 2]
    assert list(episodes["status"]) == ["resolved", "ongoing"]
    assert list(episodes["onset_at"]) == [T0, T0 + pd.Timedelta(hours=50)]


def test_peak_grade_and_time_are_the_first_highest_grade_of_the_episode() -> None:
    rows = [
        at(0, temperature_c=38.3),
        at(4, temperature_c=38.9, oxygen_device="low_flow_nasal_cannula", oxygen_l_min=3.0),
        at(8, temperature_c=39.1, hypotension="one_vasopressor"),
        at(12, temperature_c=38.8, oxygen_device="face_mask"),
        at(16, temperature_c=38.2),
    ]
    (episode,) = course(rows).episodes.itertuples()
    assert (episode.peak_grade, episode.peak_at) == (3, T0 + pd.Timedelta(hours=8))


def test_icans_episode_from_ice_and_its_resolution() -> None:
    rows = [at(0), at(8, ice_score=6), at(16, ice_score=2), at(24), at(48)]
    result = course(rows)
    icans = result.episodes[result.episodes["syndrome"] == "ICANS"]
    assert icans[["peak_grade", "status"]].values.tolist() == [[3, "resolved"]]
    assert icans["onset_at"].tolist() == [T0 + pd.Timedelta(hours=8)]
    assert icans["resolved_at"].tolist() == [T0 + pd.Timedelta(hours=24)]


def test_study_day_counts_calendar_days_from_the_infusion_day() -> None:
    infusion = T0.normalize() + pd.Timedelta(hours=23)  # 23:00 on day 0
    patients = pd.DataFrame([{"patient_id": "P1", "infusion_at": infusion, "weight_kg": 70.0}])
    rows = [at(-9), at(16), at(17)]  # 23:00 day -1... 00:00 and 01:00 the next day
    days = column(course(rows, patients=patients), "study_day")
    assert days == [-1, 1, 1]


# --- Exposure per episode ----------------------------------------------------------------------


def test_tocilizumab_doses_and_dexamethasone_equivalents_are_counted_inside_the_episode() -> None:
    patients = pd.DataFrame([{"patient_id": "P1", "infusion_at": T0, "weight_kg": 80.0}])
    rows = [at(0, temperature_c=38.3), at(10), at(40), at(60)]
    drugs = [
        dose(-5, "dexamethasone", 8),  # before onset: not counted
        dose(1, "tocilizumab", 640),
        dose(2, "methylprednisolone", 500),  # 500 x 0.75/4 = 93.75 mg dexamethasone
        dose(3, "dexamethasone", 10),
        dose(4, "methylprednisolone", 1, unit="mg/kg"),  # 80 mg x 0.1875 = 15 mg
        dose(5, "prednisolone", 20, unit="tablets"),  # no conversion: counted as not counted
        dose(30, "tocilizumab", 640),  # after resolution at hour 10: not counted
    ]
    (episode,) = course(rows, drugs, patients=patients).episodes.itertuples()
    assert episode.tocilizumab_doses == 1
    assert episode.steroid_dexamethasone_mg == pytest.approx(93.75 + 10 + 15, abs=0.05)
    assert episode.steroid_doses_not_counted == 1


# --- Escalation over the course ----------------------------------------------------------------


@pytest.mark.parametrize(("hours", "flag"), [(72.0, ""), (73.0, "consider")])
def test_grade_1_crs_persisting_beyond_72_hours_prompts_consider_tocilizumab(
    hours: float, flag: str
) -> None:
    rows = [at(0, temperature_c=38.3), at(hours, temperature_c=38.2)]
    result = course(rows)
    assert column(result, "crs_grade_1_hours") == [0.0, hours]
    assert column(result, "tocilizumab_flag") == ["", flag]


def test_after_grade_2_a_return_to_grade_1_is_not_persistent_grade_1() -> None:
    rows = [
        at(0, temperature_c=38.3),
        at(2, temperature_c=38.3, hypotension="fluid_responsive"),
        at(80, temperature_c=38.2),
    ]
    assert column(course(rows), "tocilizumab_flag") == ["", "indicated", ""]


@pytest.mark.parametrize(
    ("dose_hours", "flag"),
    [
        ([1, 9], "indicated"),
        ([1, 9, 17], "limit_reached"),  # 3 in 24 h
        ([-50, -40, -30, 1], "limit_reached"),  # 4 in total
    ],
)
def test_the_dose_guard_uses_the_doses_really_given(dose_hours: list[float], flag: str) -> None:
    rows = [at(-60, temperature_c=38.3), at(18, temperature_c=38.9, hypotension="one_vasopressor")]
    result = course(rows, [dose(h, "tocilizumab", 560) for h in dose_hours])
    assert column(result, "tocilizumab_flag")[-1] == flag


# --- Cohort: vectorised equals per patient -----------------------------------------------------


PRESSOR = "one_vasopressor"


def random_cohort(seed: int, patients: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows, drugs = [], []
    for p in range(patients):
        pid = f"P{p:02d}"
        hours = np.cumsum(rng.integers(2, 14, size=30))
        for h in hours:
            rows.append(
                at(
                    float(h),
                    pid,
                    temperature_c=float(rng.choice([36.8, 37.5, 38.0, 38.9])),
                    hypotension=str(rng.choice(["none", "none", "fluid_responsive", PRESSOR])),
                    oxygen_device=str(rng.choice(["room_air", "room_air", "face_mask", "bipap"])),
                    ice_score=int(rng.choice([10, 10, 8, 5, 1])),
                )
            )
        for h in rng.choice(hours, size=3, replace=False):
            drugs.append(
                dose(float(h) + 0.5, str(rng.choice(["paracetamol", "tocilizumab"])), 500, pid)
            )
    return pd.DataFrame(rows), pd.DataFrame(drugs)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grading_the_cohort_at_once_equals_grading_each_patient_alone(seed: int) -> None:
    assessments, drugs = random_cohort(seed)
    whole = grade_course(assessments, drugs)
    parts = [
        grade_course(assessments[assessments.patient_id == pid], drugs[drugs.patient_id == pid])
        for pid in sorted(assessments.patient_id.unique())
    ]
    columns = ["patient_id", "observed_at", "antipyretic_or_anticytokine_given", "crs_grade",
               "icans_grade", "crs_episode", "tocilizumab_flag"]  # fmt: skip
    alone = pd.concat([p.assessments for p in parts], ignore_index=True)
    # Episode numbers are per cohort in the whole run: compare whether a row is in an episode.
    for frame in (whole.assessments, alone):
        frame["crs_episode"] = frame["crs_episode"] >= 0
    pd.testing.assert_frame_equal(
        whole.assessments[columns].reset_index(drop=True), alone[columns], check_dtype=False
    )
    pd.testing.assert_frame_equal(
        whole.episodes.reset_index(drop=True),
        pd.concat([p.episodes for p in parts], ignore_index=True),
        check_dtype=False,
    )


def test_episodes_never_overlap_and_the_peak_is_the_highest_daily_grade() -> None:
    assessments, drugs = random_cohort(7, patients=20)
    result = grade_course(assessments, drugs)
    for (pid, syndrome), group in result.episodes.groupby(["patient_id", "syndrome"]):
        ends = [pd.Timestamp.max if pd.isna(end) else end for end in group["resolved_at"]]
        starts = group["onset_at"].tolist()
        assert all(start >= end for start, end in zip(starts[1:], ends[:-1], strict=True))
        rows = result.assessments[result.assessments.patient_id == pid]
        marker = "crs_episode" if syndrome == "CRS" else "icans_episode"
        grade = "crs_at_least" if syndrome == "CRS" else "icans_at_least"
        for episode in group.itertuples():
            inside = rows[(rows.observed_at >= episode.onset_at) & (rows[marker] >= 0)]
            if not pd.isna(episode.resolved_at):
                inside = inside[inside.observed_at < episode.resolved_at]
            assert episode.peak_grade == inside[grade].max()
