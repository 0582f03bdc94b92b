"""Escalation flags and the tocilizumab dose guard (criteria.md 6.1 and 10.5), and site policy files.

Dose rules from criteria.md 6.1: 8 mg/kg IV, not to exceed 800 mg/dose; repeat every 8 h as needed;
at most 3 doses in 24 h and 4 in total; 12 mg/kg under 30 kg [S].
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from grading import (
    ASCO_2021,
    Assessment,
    CerebralEdema,
    Consciousness,
    FlagLevel,
    Hypotension,
    MotorWeakness,
    OxygenDevice,
    Policy,
    Seizure,
    Status,
    TocilizumabDose,
    TocilizumabDosing,
    grade_assessment,
    guard_tocilizumab,
)

NOW = datetime(2026, 3, 2, 12, 0)
DOSING = TocilizumabDosing()


def hours_ago(*hours: float) -> list[TocilizumabDose]:
    return [TocilizumabDose(given_at=NOW - timedelta(hours=h), dose_mg=560) for h in hours]


def guard(doses: list[TocilizumabDose], weight_kg: float | None = 70.0) -> Any:
    return guard_tocilizumab(doses, NOW, weight_kg, DOSING)


# --- Dose ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight_kg", "dose_mg"),
    [
        (70.0, 560.0),  # 8 mg/kg
        (30.0, 240.0),  # 30 kg is not "under 30 kg": 8 mg/kg
        (29.9, 358.8),  # 12 mg/kg under 30 kg
        (10.0, 120.0),
        (99.0, 792.0),  # just under the cap
        (100.0, 800.0),  # 8 x 100 = 800: exactly the cap
        (150.0, 800.0),  # never above 800 mg/dose
    ],
)
def test_the_dose_is_weight_based_and_capped_at_800_mg(weight_kg: float, dose_mg: float) -> None:
    result = guard([], weight_kg)
    assert result.dose_mg == pytest.approx(dose_mg)
    assert f"{dose_mg:g} mg" in result.message
    assert not result.limit_reached


def test_without_a_weight_the_guard_says_the_dose_needs_it() -> None:
    result = guard([], None)
    assert result.dose_mg is None
    assert "dose needs the weight" in result.message


# --- Limits --------------------------------------------------------------------------------------


def test_three_doses_in_24_hours_reach_the_limit_with_the_time_of_the_next_dose() -> None:
    result = guard(hours_ago(20, 12, 4))
    assert result.limit_reached
    assert result.doses_in_24h == 3
    # The oldest of the three leaves the 24 h window at 20 h ago + 24 h = 4 h from now.
    assert result.next_dose_not_before == NOW + timedelta(hours=4)
    assert "3 doses in the last 24 h" in result.message
    assert (NOW + timedelta(hours=4)).strftime("%Y-%m-%d %H:%M") in result.message


def test_a_dose_exactly_24_hours_ago_is_outside_the_window() -> None:
    result = guard(hours_ago(24, 16, 8))
    assert not result.limit_reached
    assert result.doses_in_24h == 2
    assert result.doses_total == 3
    assert result.next_dose_not_before is None  # the last dose was exactly 8 h ago


def test_a_dose_just_under_24_hours_ago_is_inside_the_window() -> None:
    result = guard(hours_ago(23.99, 16, 8))
    assert result.limit_reached
    assert result.doses_in_24h == 3


def test_four_doses_in_total_reach_the_limit_for_good() -> None:
    result = guard(hours_ago(72, 64, 48, 30))
    assert result.limit_reached
    assert result.doses_total == 4
    assert result.doses_in_24h == 0
    assert result.next_dose_not_before is None  # no later time frees a fifth dose
    assert "4 doses given" in result.message


def test_a_dose_less_than_8_hours_ago_sets_the_next_dose_time() -> None:
    result = guard(hours_ago(2))
    assert not result.limit_reached
    assert result.next_dose_not_before == NOW + timedelta(hours=6)
    assert "every 8 h" in result.message


def test_a_dose_exactly_8_hours_ago_allows_a_dose_now() -> None:
    result = guard(hours_ago(8))
    assert not result.limit_reached
    assert result.next_dose_not_before is None
    assert "1 of 3 doses in 24 h, 1 of 4 in total" in result.message


def test_doses_recorded_after_the_moment_are_not_counted() -> None:
    later = [TocilizumabDose(given_at=NOW + timedelta(hours=1), dose_mg=560)]
    result = guard(hours_ago(30, 20) + later)
    assert (result.doses_total, result.doses_in_24h, result.limit_reached) == (2, 1, False)


def test_a_dose_above_2000_mg_is_rejected_as_implausible() -> None:
    with pytest.raises(ValidationError):
        TocilizumabDose(given_at=NOW, dose_mg=5600)


# --- Flags from grade_assessment -----------------------------------------------------------------

BASE: dict[str, Any] = {"patient_id": "P001", "observed_at": NOW}
NEURO_NORMAL: dict[str, Any] = {
    "age_years": 45.0,
    "ice_score": 10,
    "consciousness": Consciousness.ALERT,
    "seizure": Seizure.NONE,
    "motor_weakness": MotorWeakness.NONE,
    "cerebral_edema": CerebralEdema.NONE,
}


def crs(grade: int) -> dict[str, Any]:
    """A febrile record graded ``grade`` (0 = afebrile, not CRS) by hypotension alone."""
    hypotension = {
        0: Hypotension.NONE,
        1: Hypotension.NONE,
        2: Hypotension.FLUID_RESPONSIVE,
        3: Hypotension.ONE_VASOPRESSOR_PLUS_VASOPRESSIN,
        4: Hypotension.MULTIPLE_VASOPRESSORS,
    }[grade]
    return {
        "temperature_c": 38.0 if grade else 37.9,
        "antipyretic_or_anticytokine_given": False,
        "hypotension": hypotension,
        "oxygen_device": OxygenDevice.ROOM_AIR,
    }


def icans(grade: int) -> dict[str, Any]:
    """A 45-year-old graded ``grade`` by the ICE score alone (10, 7-9, 3-6, 0-2)."""
    return {**NEURO_NORMAL, "ice_score": {0: 10, 1: 8, 2: 5, 3: 2}[grade]}


def assess(crs_grade: int, icans_grade: int, **changes: Any) -> Assessment:
    return Assessment.model_validate({**BASE, **crs(crs_grade), **icans(icans_grade), **changes})


def flags_by_action(result: Any, action: str) -> list[Any]:
    return [flag for flag in result.flags if flag.action == action]


def test_the_test_records_grade_as_intended() -> None:
    for grade in range(5):
        assert grade_assessment(assess(grade, 0)).crs.grade == grade
    for grade in range(4):
        assert grade_assessment(assess(0, grade)).icans.grade == grade


def test_crs_grade_2_indicates_tocilizumab_with_the_dose_guard() -> None:
    result = grade_assessment(assess(2, 0), weight_kg=70.0)
    (flag,) = flags_by_action(result, "tocilizumab")
    assert (flag.rule_id, flag.level) == ("TOCI-CRS-2", FlagLevel.INDICATED)
    assert result.dose_guard is not None
    assert result.dose_guard.dose_mg == 560.0
    assert result.indicated("tocilizumab")


def test_no_tocilizumab_flag_means_no_dose_guard() -> None:
    result = grade_assessment(assess(0, 0))
    assert result.flags == ()
    assert result.dose_guard is None


def test_the_tocilizumab_flag_turns_to_limit_reached_with_the_guard_message() -> None:
    result = grade_assessment(assess(3, 0), tocilizumab_doses=hours_ago(20, 12, 4), weight_kg=70.0)
    (flag,) = flags_by_action(result, "tocilizumab")
    assert flag.level is FlagLevel.LIMIT_REACHED
    assert result.dose_guard is not None
    assert result.dose_guard.limit_reached
    assert flag.recommendation == result.dose_guard.message
    # Still indicated by grade: the limit stops another dose, not the indication.
    assert result.indicated("tocilizumab")
    # Other actions are untouched by the tocilizumab limit.
    assert {f.level for f in result.flags if f.action != "tocilizumab"} == {FlagLevel.INDICATED}


def test_doses_below_the_limit_keep_the_flag_indicated_with_its_recommendation() -> None:
    result = grade_assessment(assess(2, 0), tocilizumab_doses=hours_ago(10), weight_kg=70.0)
    (flag,) = flags_by_action(result, "tocilizumab")
    assert flag.level is FlagLevel.INDICATED
    assert flag.recommendation == ASCO_2021.escalation[0].recommendation
    assert result.dose_guard is not None
    assert result.dose_guard.doses_total == 1


def test_the_guard_counts_back_from_the_observation_time_by_default() -> None:
    doses = hours_ago(20, 12, 4)
    later = assess(3, 0, observed_at=NOW + timedelta(hours=5))
    result = grade_assessment(later, tocilizumab_doses=doses)
    assert result.dose_guard is not None
    assert not result.dose_guard.limit_reached  # the dose 20 h before NOW is 25 h old by then
    assert result.dose_guard.doses_in_24h == 2


def test_consider_icu_is_kept_when_icu_is_not_indicated() -> None:
    # ASCO 2021 Table 2: consider ICU if ICANS is associated with >= grade 2 CRS.
    result = grade_assessment(assess(2, 1))
    (flag,) = flags_by_action(result, "icu")
    assert (flag.rule_id, flag.level) == ("ICU-ICANS-CRS-2", FlagLevel.CONSIDER)
    assert not result.indicated("icu")


def test_consider_icu_is_dropped_when_icu_is_indicated() -> None:
    result = grade_assessment(assess(3, 1))
    assert [(f.rule_id, f.level) for f in flags_by_action(result, "icu")] == [
        ("ICU-CRS-3", FlagLevel.INDICATED)
    ]


def test_consider_tocilizumab_for_persistent_grade_1_crs() -> None:
    result = grade_assessment(assess(1, 0), crs_grade_1_hours=73)
    (flag,) = flags_by_action(result, "tocilizumab")
    assert (flag.rule_id, flag.level) == ("TOCI-CRS-1-PERSISTENT", FlagLevel.CONSIDER)
    assert flag.basis == "CRS grade 1 for 73 h"
    assert not result.indicated("tocilizumab")
    assert grade_assessment(assess(1, 0), crs_grade_1_hours=72).flags == ()  # "more than 3 days"


def test_consider_tocilizumab_is_dropped_when_concurrent_icans_indicates_it() -> None:
    result = grade_assessment(assess(1, 1), crs_grade_1_hours=100)
    assert [(f.rule_id, f.level) for f in flags_by_action(result, "tocilizumab")] == [
        ("TOCI-CRS-1-ICANS", FlagLevel.INDICATED)
    ]


def test_steroids_are_indicated_at_crs_3_crs_4_and_icans_2() -> None:
    assert not grade_assessment(assess(2, 1)).indicated("corticosteroids")
    assert grade_assessment(assess(3, 0)).indicated("corticosteroids")
    assert grade_assessment(assess(4, 0)).indicated("corticosteroids")
    assert grade_assessment(assess(0, 2)).indicated("corticosteroids")


def test_flags_raised_on_an_incomplete_assessment_say_they_rest_on_a_lower_bound() -> None:
    # Febrile on one vasopressor, oxygen not recorded: not gradable, at least grade 3.
    result = grade_assessment(assess(3, 3, oxygen_device=None))
    assert (result.crs.status, result.crs.minimum_grade) == (Status.NOT_GRADABLE, 3)
    on_lower_bound = {flag.rule_id: flag.on_lower_bound for flag in result.flags}
    assert on_lower_bound["TOCI-CRS-2"] is True
    assert on_lower_bound["ICU-CRS-3"] is True
    assert on_lower_bound["ICU-ICANS-3"] is False  # ICANS itself is graded
    toci = next(flag for flag in result.flags if flag.rule_id == "TOCI-CRS-2")
    assert toci.basis == "CRS at least grade 3"


def test_a_complete_assessment_raises_no_flag_on_a_lower_bound() -> None:
    result = grade_assessment(assess(4, 3))
    assert result.flags
    assert not any(flag.on_lower_bound for flag in result.flags)


# --- Site policy files ---------------------------------------------------------------------------


def test_the_default_policy_survives_a_json_round_trip() -> None:
    assert Policy.model_validate_json(ASCO_2021.model_dump_json()) == ASCO_2021


def asco_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ASCO_2021.model_dump_json())
    return data


def test_a_site_policy_file_changes_the_open_choices_and_is_named_in_the_result() -> None:
    data = asco_json()
    data["name"] = "Site SOP 2026"
    data["grading"]["masked_without_findings"] = "grade_1"
    site = Policy.model_validate_json(json.dumps(data))
    masked = assess(0, 0, antipyretic_or_anticytokine_given=True)
    assert grade_assessment(masked).crs.status is Status.NOT_GRADABLE
    result = grade_assessment(masked, site)
    assert (result.crs.status, result.crs.grade) == (Status.GRADED, 1)
    assert result.policy == "Site SOP 2026"
    assert "masked_without_findings=grade_1" in result.crs.policy


def test_a_site_policy_can_change_the_tocilizumab_limits() -> None:
    data = asco_json()
    data["tocilizumab"]["max_doses_per_24h"] = 2
    site = Policy.model_validate_json(json.dumps(data))
    result = grade_assessment(assess(2, 0), site, tocilizumab_doses=hours_ago(16, 8))
    assert result.dose_guard is not None
    assert result.dose_guard.limit_reached


def test_a_policy_file_with_a_duplicate_rule_id_is_rejected() -> None:
    data = asco_json()
    data["escalation"].append(dict(data["escalation"][0]))
    with pytest.raises(ValidationError, match="TOCI-CRS-2 appears twice"):
        Policy.model_validate_json(json.dumps(data))


def test_a_policy_rule_without_a_threshold_is_rejected() -> None:
    data = asco_json()
    rule = data["escalation"][0]
    rule.update(crs_at_least=None, icans_at_least=None, crs_exactly=None)
    with pytest.raises(ValidationError, match="needs a CRS or ICANS threshold"):
        Policy.model_validate_json(json.dumps(data))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("escalation", 0, "action"), "anakinra"),
        (("escalation", 0, "level"), "urgent"),
        (("escalation", 0, "crs_at_least"), 6),
        (("escalation", 0, "evidence"), "X"),
        (("escalation", 0, "recommendation"), ""),
        (("grading", "masked_without_findings"), "grade_2"),
        (("grading", "instrument_at_age_12"), "cartox"),
        (("tocilizumab", "max_dose_mg"), 0),
        (("tocilizumab", "max_doses_total"), 0),
    ],
)
def test_a_policy_file_with_a_value_outside_its_choices_is_rejected(
    path: tuple[Any, ...], value: object
) -> None:
    data = asco_json()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError):
        Policy.model_validate_json(json.dumps(data))


@pytest.mark.parametrize("where", ["policy", "grading", "rule", "tocilizumab"])
def test_a_policy_file_with_an_unknown_key_is_rejected(where: str) -> None:
    data = asco_json()
    target = {
        "policy": data,
        "grading": data["grading"],
        "rule": data["escalation"][0],
        "tocilizumab": data["tocilizumab"],
    }[where]
    target["steroid_taper_days"] = 5  # a typo or a setting this version does not know
    with pytest.raises(ValidationError) as caught:
        Policy.model_validate_json(json.dumps(data))
    assert {e["type"] for e in caught.value.errors()} == {"extra_forbidden"}


def test_a_policy_file_that_is_not_json_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Policy.model_validate_json("name: ASCO 2021")


def test_at_the_24_hour_limit_the_next_dose_also_waits_for_the_8_hour_interval() -> None:
    # Doses 22, 14 and 1 h ago: the oldest leaves the window in 2 h, but the last was 1 h ago,
    # so the next dose is not before 7 h from now (the later of the two).
    result = guard(hours_ago(22, 14, 1))
    assert result.limit_reached
    assert result.next_dose_not_before == NOW + timedelta(hours=7)


@pytest.mark.parametrize("died_of", ["crs", "icans"])
def test_death_attributed_to_a_toxicity_is_grade_5_and_raises_no_flag(died_of: str) -> None:
    import pandas as pd

    from grading import grade_frame

    record = {"patient_id": "p", "observed_at": NOW, "death_attributed_to": died_of}
    result = grade_assessment(Assessment(**record))
    graded = result.crs if died_of == "crs" else result.icans
    assert (graded.grade, graded.status) == (5, Status.GRADED)
    assert result.flags == ()
    row = grade_frame(pd.DataFrame([record])).iloc[0]
    flags = [row["tocilizumab_indicated"], row["steroids_indicated"], row["icu_indicated"]]
    assert flags == [False, False, False]
