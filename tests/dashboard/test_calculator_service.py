"""The calculator service: form values in, grades from the grading library out (no Streamlit)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest

from dashboard.services.calculator import (
    CalculatorInput,
    CalculatorView,
    evaluate,
    fahrenheit_to_celsius,
)
from grading import FlagLevel, Status

NOW = datetime(2026, 3, 2, 14, 0)

#: A fully assessed neurological examination with nothing abnormal.
NEURO_NORMAL: dict[str, Any] = {
    "ice_score": 10,
    "consciousness": "alert",
    "seizure": "none",
    "motor_weakness": "none",
    "cerebral_edema": "none",
}
#: The worked example of the ASTCT footnote: fever, one vasopressor, low-flow nasal cannula.
FEVER_VASOPRESSOR_LOW_FLOW: dict[str, Any] = {
    "temperature": 39.0,
    "hypotension": "one_vasopressor",
    "oxygen_device": "low_flow_nasal_cannula",
    "oxygen_l_min": 4.0,
    **NEURO_NORMAL,
}


def run(**form: Any) -> CalculatorView:
    return evaluate(form, now=NOW)


def graded(**form: Any) -> CalculatorView:
    view = run(**form)
    assert view.errors == {}
    assert view.result is not None
    return view


# --- Temperature: Fahrenheit converted at the edge ---------------------------------------------


def test_100_4_fahrenheit_is_38_0_celsius_and_is_fever_grade_1() -> None:
    view = graded(
        temperature=100.4, temperature_unit="F", hypotension="none", oxygen_device="room_air"
    )
    assert view.assessment is not None
    assert view.assessment.temperature_c == 38.0
    assert "Temperature 100.4 °F converted to 38.0 °C." in view.remarks
    assert view.result is not None
    assert view.result.crs.grade == 1
    assert view.result.crs.status is Status.GRADED


def test_101_3_fahrenheit_leaves_the_conversion_remark() -> None:
    view = graded(temperature=101.3, temperature_unit="F")
    assert view.remarks[0] == "Temperature 101.3 °F converted to 38.5 °C."
    assert view.assessment is not None
    assert view.assessment.temperature_c == 38.5


def test_100_3_fahrenheit_is_37_9_celsius_and_not_fever() -> None:
    view = graded(
        temperature=100.3,
        temperature_unit="F",
        antipyretic_or_anticytokine_given=False,
        hypotension="none",
        oxygen_device="room_air",
    )
    assert view.assessment is not None
    assert view.assessment.temperature_c == 37.94
    assert view.result is not None
    assert view.result.crs.grade == 0
    assert view.result.crs.status is Status.NO_TOXICITY


@pytest.mark.parametrize(
    ("fahrenheit", "celsius"),
    [(100.4, 38.0), (100.39, 37.99), (100.399, 37.99), (98.6, 37.0), (32.0, 0.0), (104.0, 40.0)],
)
def test_fahrenheit_conversion_never_crosses_the_fever_cut_point_upwards(
    fahrenheit: float, celsius: float
) -> None:
    assert fahrenheit_to_celsius(fahrenheit) == celsius


def test_celsius_is_passed_through_without_remark() -> None:
    view = graded(temperature=37.95)
    assert view.assessment is not None
    assert view.assessment.temperature_c == 37.95
    assert view.remarks == ()


# --- Not assessed is None, and gives not gradable ----------------------------------------------


def test_a_blank_form_is_not_gradable_with_the_missing_fields() -> None:
    view = graded()
    assert view.result is not None
    assert view.result.crs.status is Status.NOT_GRADABLE
    assert view.result.crs.grade is None
    assert view.result.crs.missing == (
        "temperature_c",
        "antipyretic_or_anticytokine_given",
        "hypotension",
        "oxygen_device",
    )
    assert view.result.icans.status is Status.NOT_GRADABLE
    assert view.result.icans.missing == (
        "ice_score",
        "capd_score",
        "consciousness",
        "seizure",
        "motor_weakness",
        "cerebral_edema",
    )
    assert view.flags == ()
    assert view.crs is not None
    assert view.crs.value == "Not gradable"
    assert view.crs.missing == (
        "temperature",
        "antipyretic or anti-cytokine given",
        "hypotension",
        "oxygen",
    )
    assert "grade 0" not in view.crs.title.lower()


def test_not_assessed_choices_map_to_none() -> None:
    view = graded(
        temperature=None,
        antipyretic_or_anticytokine_given=None,
        hypotension=None,
        oxygen_device=None,
        consciousness=None,
        seizure=None,
        motor_weakness=None,
        cerebral_edema=None,
        ice_score=None,
    )
    assert view.assessment is not None
    fields = view.assessment.model_dump(exclude={"patient_id", "observed_at"})
    assert all(value is None for value in fields.values())


def test_fever_with_hypotension_not_assessed_is_not_gradable_at_least_grade_1() -> None:
    view = graded(temperature=39.0, oxygen_device="room_air")
    assert view.result is not None
    assert view.result.crs.status is Status.NOT_GRADABLE
    assert view.result.crs.minimum_grade == 1
    assert view.result.crs.missing == ("hypotension",)
    assert view.crs is not None
    assert view.crs.title == "CRS not gradable, at least grade 1"


# --- Invalid values: the field error with its stable code --------------------------------------


@pytest.mark.parametrize(
    ("form", "field", "code"),
    [
        ({"temperature": 50.0}, "temperature", "implausible_temperature"),
        ({"temperature": 120.0, "temperature_unit": "F"}, "temperature", "implausible_temperature"),
        ({"ice_score": 11}, "ice_score", "ice_score_out_of_range"),
        ({"oxygen_l_min": -1.0, "oxygen_device": "face_mask"}, "oxygen_l_min",
         "implausible_oxygen_flow"),
        ({"oxygen_l_min": 3.0}, "oxygen_device", "oxygen_flow_without_device"),
        ({"oxygen_l_min": 3.0, "oxygen_device": "room_air"}, "oxygen_l_min",
         "oxygen_flow_on_room_air"),
        ({"ice_score": 4, "consciousness": "unarousable"}, "consciousness",
         "ice_score_when_unarousable"),
        ({"age_years": 130.0}, "age_years", "implausible_age"),
        ({"weight_kg": 1000.0}, "weight_kg", "implausible_weight"),
        ({"crs_grade_1_hours": -2.0}, "crs_grade_1_hours", "implausible_duration"),
        ({"ice_entry": "items", "ice_orientation": 5, "ice_naming": 3, "ice_following_commands": 1,
          "ice_writing": 1, "ice_attention": 1}, "ice_orientation", "less_than_equal"),
        ({"ice_entry": "items", "ice_orientation": 4}, "ice_items", "ice_items_incomplete"),
        ({"capd_restless": 2}, "capd_items", "capd_items_incomplete"),
        ({"tocilizumab_doses": [{"hours_ago": None, "dose_mg": 640.0}]},
         "tocilizumab_doses_0_hours_ago", "tocilizumab_dose_time_missing"),
        ({"tocilizumab_doses": [{"hours_ago": 2.0, "dose_mg": None}]},
         "tocilizumab_doses_0_dose_mg", "tocilizumab_dose_missing"),
        ({"tocilizumab_doses": [{"hours_ago": 2.0, "dose_mg": 5000.0}]},
         "tocilizumab_doses_0_dose_mg", "less_than_equal"),
    ],
)  # fmt: skip
def test_an_impossible_value_gives_the_field_error_with_its_code(
    form: dict[str, Any], field: str, code: str
) -> None:
    view = run(**form)
    assert field in view.errors, view.errors
    assert view.errors[field].code == code
    assert view.errors[field].message
    assert view.result is None
    assert view.crs is None


def test_the_error_message_says_how_to_fix_the_input() -> None:
    view = run(temperature=50.0)
    message = view.errors["temperature"].message
    assert "50.0 is outside the plausible range 25.0-45.0 °C" in message
    assert "100.4 °F = 38.0 °C" in message


def test_a_fahrenheit_value_entered_as_celsius_suggests_the_unit() -> None:
    assert "switch the unit to °F" in run(temperature=101.3).errors["temperature"].message
    message = run(temperature=38.5, temperature_unit="F").errors["temperature"].message
    assert message.startswith("38.5 °F = 3.61 °C is outside the plausible range")
    assert "switch the unit to °C" in message


def test_every_error_is_reported_at_once() -> None:
    view = run(temperature=50.0, weight_kg=1000.0, oxygen_l_min=3.0, capd_restless=1)
    assert {key: error.code for key, error in view.errors.items()} == {
        "temperature": "implausible_temperature",
        "weight_kg": "implausible_weight",
        "oxygen_device": "oxygen_flow_without_device",
        "capd_items": "capd_items_incomplete",
    }


# --- ICE and CAPD items ------------------------------------------------------------------------


def test_ice_items_sum_to_the_ice_score() -> None:
    items = {"ice_orientation": 3, "ice_naming": 3, "ice_following_commands": 1,
             "ice_writing": 1, "ice_attention": 0}  # fmt: skip
    view = graded(ice_entry="items", **items, **{**NEURO_NORMAL, "ice_score": None})
    assert view.assessment is not None
    assert view.assessment.ice_score == 8
    assert view.assessment.ice_items is not None
    assert "ICE score 8/10 from its five items." in view.remarks
    assert view.result is not None
    assert view.result.icans.grade == 1
    assert "ICANS-ICE-1" in {hit.rule_id for hit in view.result.icans.hits}


def test_item_entry_ignores_a_stale_total() -> None:
    items = {"ice_orientation": 4, "ice_naming": 3, "ice_following_commands": 1,
             "ice_writing": 1, "ice_attention": 1}  # fmt: skip
    view = graded(ice_entry="items", **items, **{**NEURO_NORMAL, "ice_score": 2})
    assert view.assessment is not None
    assert view.assessment.ice_score == 10


def test_capd_answers_are_scored_by_the_model_for_a_child() -> None:
    answers = {f"capd_{item}": 2 for item in (
        "eye_contact", "purposeful_actions", "aware_of_surroundings", "communicates_needs",
        "restless", "inconsolable", "underactive", "slow_response",
    )}  # fmt: skip
    neuro = {key: value for key, value in NEURO_NORMAL.items() if key != "ice_score"}
    view = graded(age_years=8.0, **answers, **neuro)
    assert view.assessment is not None
    assert view.assessment.capd_score == 16  # (16 - 4 x 2) + 4 x 2
    assert view.result is not None
    assert view.result.icans.grade == 3
    assert view.result.indicated("icu")
    assert any("CAPD total 16/32" in remark for remark in view.remarks)


# --- Grades, reasons and flags come from the grading library -----------------------------------


def test_fever_one_vasopressor_and_low_flow_cannula_is_crs_grade_3_with_flags() -> None:
    view = graded(**FEVER_VASOPRESSOR_LOW_FLOW)
    assert view.result is not None
    assert view.result.crs.grade == 3
    assert view.result.icans.status is Status.NO_TOXICITY
    assert view.crs is not None
    assert view.crs.title == "CRS grade 3"
    assert [hit.rule_id for hit in view.crs.deciding] == ["CRS-HYPOTENSION-3"]
    assert "vasopressor" in view.crs.deciding[0].source_text
    levels = {flag.action: flag.level for flag in view.flags}
    assert levels == {
        "tocilizumab": FlagLevel.INDICATED,
        "corticosteroids": FlagLevel.INDICATED,
        "icu": FlagLevel.INDICATED,
    }
    assert all(flag.citation.startswith("ASCO 2021 Table 1") for flag in view.flags)
    assert view.policy == "ASCO 2021"
    assert view.disclaimer.startswith("Decision support only")


def test_icans_grade_2_steroid_flag_carries_the_disagreement_note() -> None:
    view = graded(**{**NEURO_NORMAL, "ice_score": 5})
    assert view.result is not None
    assert view.result.icans.grade == 2
    (steroids,) = [flag for flag in view.flags if flag.action == "corticosteroids"]
    assert steroids.note.startswith("DISAGREEMENT")


def test_the_dose_guard_uses_weight_and_the_doses_already_given() -> None:
    doses = [{"hours_ago": 10.0, "dose_mg": 560.0}, {"hours_ago": 2.0, "dose_mg": 560.0}]
    view = graded(**FEVER_VASOPRESSOR_LOW_FLOW, weight_kg=70.0, tocilizumab_doses=doses)
    assert view.dose_guard is not None
    assert view.dose_guard.dose_mg == 560.0
    assert view.dose_guard.doses_in_24h == 2
    assert "next dose not before 2026-03-02 20:00" in view.dose_guard.message
    assert view.dose_guard_warning == ""


def test_three_doses_in_24_hours_reach_the_limit() -> None:
    doses = [{"hours_ago": h, "dose_mg": 640.0} for h in (17.0, 9.0, 1.0)]
    view = graded(**FEVER_VASOPRESSOR_LOW_FLOW, weight_kg=80.0, tocilizumab_doses=doses)
    (toci,) = [flag for flag in view.flags if flag.action == "tocilizumab"]
    assert toci.level is FlagLevel.LIMIT_REACHED
    assert toci.recommendation.startswith("Tocilizumab limit reached: 3 doses in the last 24 h")


def test_doses_not_entered_are_said_to_be_not_entered() -> None:
    view = graded(**FEVER_VASOPRESSOR_LOW_FLOW)
    assert view.dose_guard is not None
    assert "not entered" in view.dose_guard_warning
    assert graded(**FEVER_VASOPRESSOR_LOW_FLOW, tocilizumab_doses=[]).dose_guard_warning == ""


def test_grade_1_crs_for_more_than_72_hours_prompts_consider_tocilizumab() -> None:
    form = {"temperature": 38.6, "hypotension": "none", "oxygen_device": "room_air"}
    assert graded(**form, crs_grade_1_hours=24.0).flags == ()
    (flag,) = graded(**form, crs_grade_1_hours=80.0).flags
    assert (flag.action, flag.level) == ("tocilizumab", FlagLevel.CONSIDER)


def test_a_validated_input_model_is_accepted_as_is() -> None:
    entry = CalculatorInput.model_validate(FEVER_VASOPRESSOR_LOW_FLOW)
    view = evaluate(entry, now=NOW)
    assert view.result is not None
    assert view.result.crs.grade == 3


def test_the_input_model_forbids_unknown_fields() -> None:
    view = run(temprature=39.0)
    assert view.errors["temprature"].code == "extra_forbidden"


def test_the_service_does_not_import_streamlit() -> None:
    code = (
        "import sys, dashboard.services.calculator; "
        "assert 'streamlit' not in sys.modules, 'streamlit imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
