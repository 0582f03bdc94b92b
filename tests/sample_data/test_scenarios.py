"""Each scenario patient of the shipped cohort shows, in real values, what its alert is about
(sample_data/scenarios.py). The course is graded by grading.course.grade_course from the CSVs."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from grading.course import Course, grade_course
from grading.units import labs_to_canonical
from sample_data import SCENARIOS

SHIPPED = Path(__file__).resolve().parents[2] / "sample_data" / "cohort"


@cache
def table(name: str) -> pd.DataFrame:
    return pd.read_csv(SHIPPED / f"{name}.csv")


@cache
def course() -> Course:
    return grade_course(table("assessments"), table("drugs"), table("patients"))


def patient(scenario: str) -> str:
    """The shipped cohort's first patients are the scenarios, in table order."""
    names = [s.name for s in SCENARIOS]
    return str(table("patients")["patient_id"].iloc[names.index(scenario)])


def rows(scenario: str) -> pd.DataFrame:
    graded = course().assessments
    return graded[graded["patient_id"] == patient(scenario)]


def peak(scenario: str, syndrome: str) -> int:
    episodes = course().episodes
    mine = episodes[
        (episodes["patient_id"] == patient(scenario)) & (episodes["syndrome"] == syndrome)
    ]
    return int(mine["peak_grade"].max()) if len(mine) else 0


def labs(scenario: str, analyte: str) -> pd.DataFrame:
    """One analyte of one patient in canonical units, with its study day (day 0 = infusion)."""
    all_labs = table("labs")
    mine = labs_to_canonical(
        all_labs[(all_labs["patient_id"] == patient(scenario)) & (all_labs["analyte"] == analyte)]
    )
    patients = table("patients").set_index("patient_id")
    infusion = pd.Timestamp(patients.loc[patient(scenario), "infusion_at"]).normalize()
    mine["day"] = (pd.to_datetime(mine["collected_at"]).dt.normalize() - infusion).dt.days
    return mine


def doses(scenario: str, drug: str) -> pd.DataFrame:
    drugs = table("drugs")
    return drugs[(drugs["patient_id"] == patient(scenario)) & (drugs["drug"] == drug)]


def test_grade_3_crs_is_graded_on_masked_rows_after_tocilizumab() -> None:
    assert peak("crs_grade_3_masked", "CRS") >= 3
    r = rows("crs_grade_3_masked")
    masked = r[r["antipyretic_or_anticytokine_given"] & (r["temperature_c"] < 38.0)]
    assert (masked["crs_grade"].fillna(0) >= 2).any()
    assert (masked["crs_grade"].fillna(0) >= 3).any()  # afebrile on norepinephrine, face mask
    assert len(doses("crs_grade_3_masked", "tocilizumab")) == 2
    assert len(doses("crs_grade_3_masked", "vasopressin")) == 1


def test_icans_scenario_reaches_grade_3_with_one_seizure() -> None:
    assert peak("icans_grade_3_seizure", "ICANS") >= 3
    r = rows("icans_grade_3_seizure")
    assert r["ice_score"].min() <= 2
    assert (r["seizure"].fillna("none") != "none").sum() == 1
    assert len(doses("icans_grade_3_seizure", "dexamethasone")) >= 1


def test_grade_1_crs_over_72_hours_prompts_consider_tocilizumab() -> None:
    r = rows("crs_grade_1_over_72h")
    consider = r[r["tocilizumab_flag"] == "consider"]
    assert len(consider) >= 1
    assert (consider["crs_grade_1_hours"] > 72).all()
    assert peak("crs_grade_1_over_72h", "CRS") == 1
    assert doses("crs_grade_1_over_72h", "tocilizumab").empty


def test_tocilizumab_limit_is_reached() -> None:
    r = rows("tocilizumab_limit")
    assert (r["tocilizumab_flag"] == "limit_reached").any()
    given = pd.to_datetime(doses("tocilizumab_limit", "tocilizumab")["given_at"])
    assert len(given) == 4
    assert given.iloc[2] - given.iloc[0] <= pd.Timedelta(hours=24)


def test_iec_hs_picture_after_crs_resolves() -> None:
    ferritin = labs("iec_hs_after_crs", "ferritin")
    baseline = (
        ferritin[ferritin["day"] <= 0].sort_values("collected_at")["value_canonical"].iloc[-1]
    )
    late = ferritin[ferritin["day"].between(7, 14)]["value_canonical"]
    assert late.max() > 2 * baseline
    fibrinogen = labs("iec_hs_after_crs", "fibrinogen")
    assert fibrinogen[fibrinogen["day"].between(7, 14)]["value_canonical"].min() < 150
    platelets = labs("iec_hs_after_crs", "platelets")
    assert platelets[platelets["day"].between(7, 14)]["value_canonical"].min() < 50
    assert platelets[platelets["day"].between(1, 6)]["value_canonical"].min() > 100  # new
    episodes = course().episodes
    crs = episodes[(episodes["patient_id"] == patient("iec_hs_after_crs"))]
    above = ferritin[ferritin["value_canonical"] > 2 * baseline]
    assert (crs["status"] == "resolved").all()
    assert pd.to_datetime(crs["resolved_at"]).max() < pd.to_datetime(above["collected_at"]).min()


def test_prolonged_neutropenia_has_14_days_at_or_below_500() -> None:
    anc = labs("prolonged_neutropenia", "anc")
    early = anc[anc["day"].between(0, 30)]
    days_low = early[early["value_canonical"] <= 500]["day"].nunique()
    assert days_low >= 14
    assert len(doses("prolonged_neutropenia", "g_csf")) >= 1


def _recovery_day(scenario: str) -> int | None:
    """First of two consecutive samples >= 1% CD19 after the infusion (criteria.md 7.1)."""
    cd19 = labs(scenario, "cd19_percent").sort_values("day")
    cd19 = cd19[cd19["day"] > 0]
    present = (cd19["value_canonical"] >= 1.0).to_numpy()
    for i in range(len(present) - 1):
        if present[i] and present[i + 1]:
            return int(cd19["day"].iloc[i])
    return None


def test_late_b_cell_recovery_after_day_180_and_none_by_day_365() -> None:
    late = _recovery_day("late_b_cell_recovery")
    assert late is not None
    assert late > 180
    assert _recovery_day("no_b_cell_recovery") is None
    never = labs("no_b_cell_recovery", "cd19_percent")
    assert (never[never["day"] > 0]["value_canonical"] < 1).all()
    assert never["day"].max() >= 362


def test_low_igg_with_repeated_ivig_every_four_weeks() -> None:
    igg = labs("low_igg_ivig", "igg")
    assert igg[igg["day"] > 0]["value_canonical"].min() <= 400
    given = pd.to_datetime(doses("low_igg_ivig", "ivig")["given_at"])
    assert len(given) >= 2
    assert (given.diff().dropna() == pd.Timedelta(days=28)).all()


def test_caar_t_patient_has_unexpected_b_cell_depletion() -> None:
    products = table("patients").set_index("patient_id")["product"]
    assert products[patient("caar_t_b_cell_depletion")] in ("dsg3_caar_t", "musk_caar_t")
    cd19 = labs("caar_t_b_cell_depletion", "cd19_percent")
    assert cd19[cd19["day"] <= 0]["value_canonical"].min() >= 1
    assert cd19[cd19["day"] > 0]["value_canonical"].min() < 1


def test_serious_infections_during_b_cell_aplasia() -> None:
    infections = table("infections")
    mine = infections[infections["patient_id"] == patient("serious_infections_aplasia")]
    recovery = _recovery_day("serious_infections_aplasia")
    assert recovery is not None
    infusion = pd.Timestamp(
        table("patients")
        .set_index("patient_id")
        .loc[patient("serious_infections_aplasia"), "infusion_at"]
    ).normalize()
    day = (pd.to_datetime(mine["onset_at"]).dt.normalize() - infusion).dt.days
    assert (mine["serious"] & (day < recovery)).sum() >= 2


def test_licats_is_recorded_with_a_creatinine_rise() -> None:
    licats = table("licats")
    mine = licats[licats["patient_id"] == patient("licats")]
    assert set(mine["organ"]) >= {"kidney"}
    creatinine = labs("licats", "creatinine")
    baseline = creatinine[creatinine["day"] <= 0]["value_canonical"].iloc[-1]
    assert creatinine[creatinine["day"].between(9, 22)]["value_canonical"].max() > 1.5 * baseline


def test_missed_checks_leave_a_gap_and_blank_ice() -> None:
    r = rows("missed_checks")
    acute = r[r["study_day"].between(0, 14)]
    gaps = pd.to_datetime(acute["observed_at"]).diff().dropna()
    assert gaps.max() >= pd.Timedelta(hours=16)  # four 4-hourly assessments not recorded
    assert (gaps < pd.Timedelta(hours=5)).mean() > 0.9
    checks = r[r["seizure"].notna()]
    assert (checks["ice_score"].isna() & checks["temperature_c"].notna()).sum() == 3


def test_child_is_graded_by_capd_and_the_12_year_old_by_both() -> None:
    child = rows("child_capd")
    assert child["ice_score"].isna().all()
    assert child["capd_score"].notna().any()
    assert peak("child_capd", "ICANS") >= 1
    twelve = rows("age_12_either")
    assert (twelve["age_years"] == 12).all()
    assert (twelve["ice_score"].notna() & twelve["capd_score"].notna()).any()
    assert (twelve["tocilizumab_flag"] == "indicated").any()
