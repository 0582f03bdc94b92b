"""The input model (grading.assessment): impossible input raises with a stable code and a message that
says how to fix it; blank input is accepted as "not assessed" (house style, "Validation at the edges").
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from grading import (
    Assessment,
    CapdItems,
    Consciousness,
    IceItems,
    MotorWeakness,
    OxygenDevice,
    Seizure,
    Status,
    grade_icans,
)
from grading.enums import CerebralEdema

BASE: dict[str, Any] = {"patient_id": "P001", "observed_at": datetime(2026, 3, 1, 8, 0)}

HEALTHY_CAPD: dict[str, int] = {
    # Items 1-4 describe healthy behaviour: "always" (4) scores 0 points.
    "eye_contact": 4,
    "purposeful_actions": 4,
    "aware_of_surroundings": 4,
    "communicates_needs": 4,
    # Items 5-8 describe delirium: "never" (0) scores 0 points.
    "restless": 0,
    "inconsolable": 0,
    "underactive": 0,
    "slow_response": 0,
}
REVERSE_ITEMS = ("eye_contact", "purposeful_actions", "aware_of_surroundings", "communicates_needs")
FORWARD_ITEMS = ("restless", "inconsolable", "underactive", "slow_response")


def make(**fields: Any) -> Assessment:
    return Assessment.model_validate({**BASE, **fields})


def errors_of(**fields: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        make(**fields)
    return [dict(error) for error in caught.value.errors()]


def the_error(**fields: Any) -> dict[str, Any]:
    errors = errors_of(**fields)
    assert len(errors) == 1, errors
    return errors[0]


# --- Plausible ranges, both sides of each bound ---------------------------------------------------

RANGES = [
    # field, code, lowest accepted, highest accepted, just below, just above, fix-it words
    ("temperature_c", "implausible_temperature", 25.0, 45.0, 24.99, 45.01, "degrees Celsius"),
    ("oxygen_l_min", "implausible_oxygen_flow", 0.0, 80.0, -0.01, 80.01, "flow in L/min"),
    ("age_years", "implausible_age", 0.0, 120.0, -0.01, 120.01, "age in years"),
    ("ice_score", "ice_score_out_of_range", 0, 10, -1, 11, "ICE score is 0-10"),
    ("capd_score", "capd_score_out_of_range", 0, 32, -1, 33, "CAPD total is 0-32"),
]
RANGE_IDS = [r[0] for r in RANGES]


def with_context(field: str, value: object) -> dict[str, Any]:
    """The field plus what a valid record needs beside it (a flow needs a device)."""
    if field == "oxygen_l_min":
        return {"oxygen_device": OxygenDevice.FACE_MASK, field: value}
    return {field: value}


@pytest.mark.parametrize(
    ("field", "code", "low", "high", "below", "above", "hint"), RANGES, ids=RANGE_IDS
)
def test_each_plausibility_bound_is_inclusive(
    field: str, code: str, low: float, high: float, below: float, above: float, hint: str
) -> None:
    assert getattr(make(**with_context(field, low)), field) == low
    assert getattr(make(**with_context(field, high)), field) == high


@pytest.mark.parametrize(
    ("field", "code", "low", "high", "below", "above", "hint"), RANGES, ids=RANGE_IDS
)
@pytest.mark.parametrize("side", ["below", "above"])
def test_a_value_outside_the_plausible_range_raises_its_code_with_a_fix(
    field: str,
    code: str,
    low: float,
    high: float,
    below: float,
    above: float,
    hint: str,
    side: str,
) -> None:
    value = below if side == "below" else above
    error = the_error(**with_context(field, value))
    assert error["type"] == code
    assert error["loc"] == (field,)
    assert hint in error["msg"]
    assert f"{low:g}" in error["msg"]
    assert f"{high:g}" in error["msg"]


def test_the_temperature_message_gives_the_fahrenheit_conversion() -> None:
    # A temperature in Fahrenheit typed into the Celsius field is the common mistake.
    error = the_error(temperature_c=100.4)
    assert error["type"] == "implausible_temperature"
    assert "100.4 °F = 38.0 °C" in error["msg"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_not_a_number_is_not_a_blank_temperature(value: float) -> None:
    # A blank is None; NaN or infinity from a broken import must not pass as a temperature.
    assert the_error(temperature_c=value)["type"] == "implausible_temperature"


def test_the_fever_cut_point_values_are_accepted_as_recorded() -> None:
    assert make(temperature_c=37.9).temperature_c == 37.9
    assert make(temperature_c=37.95).temperature_c == 37.95  # never rounded up to 38.0
    assert make(temperature_c=38.0).temperature_c == 38.0


# --- Cross-field rules ---------------------------------------------------------------------------


def test_a_flow_without_a_device_raises_and_asks_for_the_device() -> None:
    error = the_error(oxygen_l_min=4.0)
    assert error["type"] == "oxygen_flow_without_device"
    assert "Record the device" in error["msg"]


def test_room_air_with_a_flow_raises_and_asks_for_the_delivering_device() -> None:
    error = the_error(oxygen_device=OxygenDevice.ROOM_AIR, oxygen_l_min=2.0)
    assert error["type"] == "oxygen_flow_on_room_air"
    assert "Record the device that delivers the oxygen, or a flow of 0" in error["msg"]


def test_room_air_with_no_flow_or_a_flow_of_zero_is_accepted() -> None:
    assert make(oxygen_device=OxygenDevice.ROOM_AIR).oxygen_l_min is None
    assert make(oxygen_device=OxygenDevice.ROOM_AIR, oxygen_l_min=0.0).oxygen_l_min == 0.0


@pytest.mark.parametrize("ice", [1, 10])
def test_an_ice_score_for_an_unarousable_patient_raises(ice: int) -> None:
    error = the_error(consciousness=Consciousness.UNAROUSABLE, ice_score=ice)
    assert error["type"] == "ice_score_when_unarousable"
    assert "Record ICE 0 or leave it blank" in error["msg"]


@pytest.mark.parametrize("ice", [None, 0])
def test_an_unarousable_patient_may_have_ice_0_or_blank(ice: int | None) -> None:
    assert make(consciousness=Consciousness.UNAROUSABLE, ice_score=ice).ice_score == ice


def test_a_blank_consciousness_does_not_restrict_the_ice_score() -> None:
    assert make(ice_score=10).ice_score == 10


# --- Unknown input -------------------------------------------------------------------------------


def test_an_unknown_field_is_rejected() -> None:
    error = the_error(temperature_f=100.4)
    assert error["type"] == "extra_forbidden"
    assert error["loc"] == ("temperature_f",)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hypotension", "two_vasopressors"),
        ("oxygen_device", "high_flow"),
        ("consciousness", "drowsy"),
        ("seizure", "yes"),
        ("motor_weakness", "tremor"),  # tremor is not an ICANS motor finding (R-ICANS-4)
        ("cerebral_edema", "haemorrhage"),  # intracranial haemorrhage is excluded (R-ICANS-5)
        ("death_attributed_to", "unknown"),
    ],
)
def test_an_unknown_coded_value_is_rejected(field: str, value: str) -> None:
    error = the_error(**{field: value})
    assert error["type"] == "enum"
    assert error["loc"] == (field,)


@pytest.mark.parametrize("field", ["patient_id", "observed_at"])
def test_patient_and_time_are_required(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Assessment.model_validate({k: v for k, v in BASE.items() if k != field})
    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [("missing", (field,))]


def test_every_other_field_may_be_blank() -> None:
    blank = make()
    assert all(
        getattr(blank, name) is None
        for name in Assessment.model_fields
        if name not in ("patient_id", "observed_at")
    )


def test_several_bad_fields_are_reported_at_once() -> None:
    errors = errors_of(
        temperature_c=100.4,
        oxygen_device=OxygenDevice.LOW_FLOW_NASAL_CANNULA,
        oxygen_l_min=-1.0,
        age_years=130.0,
        ice_score=11,
        capd_score=40,
        seizure="convulsion",
        tremor=True,
    )
    assert {(e["loc"], e["type"]) for e in errors} == {
        (("temperature_c",), "implausible_temperature"),
        (("oxygen_l_min",), "implausible_oxygen_flow"),
        (("age_years",), "implausible_age"),
        (("ice_score",), "ice_score_out_of_range"),
        (("capd_score",), "capd_score_out_of_range"),
        (("seizure",), "enum"),
        (("tremor",), "extra_forbidden"),
    }


# --- ICE items -----------------------------------------------------------------------------------

FULL_ICE = {"orientation": 4, "naming": 3, "following_commands": 1, "writing": 1, "attention": 1}


def test_full_marks_on_every_ice_task_is_ice_10() -> None:
    assert IceItems(**FULL_ICE).total == 10


@pytest.mark.parametrize(
    ("items", "total"),
    [
        ({"orientation": 0, "naming": 0, "following_commands": 0, "writing": 0, "attention": 0}, 0),
        ({"orientation": 3, "naming": 3, "following_commands": 1, "writing": 1, "attention": 1}, 9),
        ({"orientation": 2, "naming": 2, "following_commands": 1, "writing": 1, "attention": 1}, 7),
        ({"orientation": 2, "naming": 1, "following_commands": 1, "writing": 0, "attention": 0}, 4),
        ({"orientation": 1, "naming": 1, "following_commands": 0, "writing": 0, "attention": 0}, 2),
    ],
)
def test_the_ice_score_is_the_sum_of_its_items(items: dict[str, int], total: int) -> None:
    assessment = make(ice_items=items)
    assert assessment.ice_score == total
    assert make(ice_items=items, ice_score=total).ice_score == total


def test_an_ice_score_that_disagrees_with_its_items_raises() -> None:
    error = the_error(ice_items=FULL_ICE, ice_score=9)
    assert error["type"] == "ice_score_mismatch"
    assert "leave the score blank so that it is computed" in error["msg"]


@pytest.mark.parametrize(
    ("item", "value"),
    [
        ("orientation", 5),
        ("naming", 4),
        ("following_commands", 2),
        ("writing", 2),
        ("attention", -1),
    ],
)
def test_an_ice_item_outside_its_points_raises_at_the_item(item: str, value: int) -> None:
    errors = errors_of(ice_items={**FULL_ICE, item: value})
    assert [e["loc"] for e in errors] == [("ice_items", item)]


def test_ice_items_that_sum_above_0_for_an_unarousable_patient_raise() -> None:
    error = the_error(consciousness=Consciousness.UNAROUSABLE, ice_items=FULL_ICE)
    assert error["type"] == "ice_score_when_unarousable"


# --- CAPD items: reverse scoring of items 1-4 ----------------------------------------------------


def test_all_healthy_capd_answers_score_0() -> None:
    assert CapdItems(**HEALTHY_CAPD).total == 0


@pytest.mark.parametrize("item", REVERSE_ITEMS)
def test_never_on_a_healthy_behaviour_item_scores_4_points(item: str) -> None:
    assert CapdItems(**{**HEALTHY_CAPD, item: 0}).total == 4
    assert CapdItems(**{**HEALTHY_CAPD, item: 3}).total == 1  # "often" scores 1


@pytest.mark.parametrize("item", FORWARD_ITEMS)
def test_always_on_a_delirium_item_scores_4_points(item: str) -> None:
    assert CapdItems(**{**HEALTHY_CAPD, item: 4}).total == 4
    assert CapdItems(**{**HEALTHY_CAPD, item: 1}).total == 1  # "rarely" scores 1


def test_never_on_all_four_healthy_behaviour_items_scores_16() -> None:
    assert CapdItems(**{**HEALTHY_CAPD, **dict.fromkeys(REVERSE_ITEMS, 0)}).total == 16


def test_the_worst_answers_everywhere_score_32() -> None:
    worst = {**dict.fromkeys(REVERSE_ITEMS, 0), **dict.fromkeys(FORWARD_ITEMS, 4)}
    assert CapdItems(**worst).total == 32


CAPD_8 = {**HEALTHY_CAPD, "eye_contact": 0, "purposeful_actions": 0}  # 4 + 4 = 8
CAPD_9 = {**CAPD_8, "restless": 1}  # 9: screens positive for delirium (Traube 2014)


def child(**fields: Any) -> Assessment:
    """A 6-year-old with every other neurological domain normal."""
    return make(
        age_years=6.0,
        consciousness=Consciousness.ALERT,
        seizure=Seizure.NONE,
        motor_weakness=MotorWeakness.NONE,
        cerebral_edema=CerebralEdema.NONE,
        **fields,
    )


def test_capd_8_from_items_is_grade_1_icans_in_an_alert_child() -> None:
    assessment = child(capd_items=CAPD_8)
    assert assessment.capd_score == 8
    result = grade_icans(assessment)
    assert (result.status, result.grade) == (Status.GRADED, 1)


def test_capd_9_from_items_is_grade_3_icans() -> None:
    # ASCO 2021 Table 2: "A CAPD score of >=9 ... should be considered Grade 3 ICANS".
    assessment = child(capd_items=CAPD_9)
    assert assessment.capd_score == 9
    result = grade_icans(assessment)
    assert (result.status, result.grade) == (Status.GRADED, 3)


def test_all_healthy_capd_items_is_no_icans_in_an_alert_child() -> None:
    result = grade_icans(child(capd_items=HEALTHY_CAPD))
    assert (result.status, result.grade) == (Status.NO_TOXICITY, 0)


def test_a_capd_score_that_disagrees_with_its_items_raises() -> None:
    error = the_error(capd_items=CAPD_9, capd_score=8)
    assert error["type"] == "capd_score_mismatch"
    assert "leave the score blank so that it is computed" in error["msg"]


def test_a_capd_answer_outside_0_to_4_raises_at_the_item() -> None:
    errors = errors_of(capd_items={**HEALTHY_CAPD, "restless": 5})
    assert [e["loc"] for e in errors] == [("capd_items", "restless")]


def test_a_missing_capd_item_raises_at_the_item() -> None:
    items = {k: v for k, v in HEALTHY_CAPD.items() if k != "slow_response"}
    errors = errors_of(capd_items=items)
    assert [(e["type"], e["loc"]) for e in errors] == [("missing", ("capd_items", "slow_response"))]


# --- Frozen value objects ------------------------------------------------------------------------


def test_an_assessment_cannot_be_changed_after_validation() -> None:
    assessment = make(temperature_c=38.5)
    with pytest.raises(ValidationError) as caught:
        assessment.temperature_c = 37.0  # type: ignore[misc]
    assert caught.value.errors()[0]["type"] == "frozen_instance"
    assert assessment.temperature_c == 38.5


def test_ice_and_capd_items_are_frozen() -> None:
    items = IceItems(**FULL_ICE)
    with pytest.raises(ValidationError):
        items.naming = 0  # type: ignore[misc]
    capd = CapdItems(**HEALTHY_CAPD)
    with pytest.raises(ValidationError):
        capd.restless = 4  # type: ignore[misc]


def test_items_reject_unknown_fields() -> None:
    errors = errors_of(ice_items={**FULL_ICE, "registration": 1})
    assert [(e["type"], e["loc"]) for e in errors] == [
        ("extra_forbidden", ("ice_items", "registration"))
    ]


@pytest.mark.parametrize("device", ["low_flow_nasal_cannula", "high_flow_nasal_cannula"])
def test_a_nasal_cannula_at_0_l_min_is_refused_as_no_oxygen(device: str) -> None:
    (error,) = errors_of(oxygen_device=device, oxygen_l_min=0.0)
    assert error["type"] == "oxygen_flow_zero_on_cannula"
    assert "Record room air" in error["msg"]
    assert make(oxygen_device=device, oxygen_l_min=0.1).oxygen_l_min == 0.1
