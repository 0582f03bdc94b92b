"""The calculator page under Streamlit's AppTest: widgets set by key, the rendered text checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Widget

from dashboard.store.access import Actor, Role
from grading import DISCLAIMER

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "dashboard" / "app_pages" / "calculator.py")
APP = str(ROOT / "dashboard" / "app.py")


NURSE = Actor(user_id=1, username="nurse-s01", role=Role.NURSE, site_ids=frozenset({"S01"}))


@pytest.fixture
def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["actor"] = NURSE
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Everything the page shows as text, one element a line."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title"):
        parts += [str(element.value) for element in getattr(at, kind)]
    parts += [f"{metric.label}: {metric.value}" for metric in at.metric]
    parts += [str(expander.label) for expander in at.expander]
    return "\n".join(parts)


def fill(at: AppTest, **values: object) -> AppTest:
    """Set widgets by key, whatever their kind, then rerun the page."""
    for key, value in values.items():
        widget = at.get_by_key(key)
        assert isinstance(widget, Widget), key
        widget.set_value(value)
    at.run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {str(metric.label): str(metric.value) for metric in at.metric}


def test_a_blank_form_is_not_gradable_and_never_grade_0(page: AppTest) -> None:
    assert metrics(page) == {"CRS": "Not gradable", "ICANS": "Not gradable"}
    shown = texts(page)
    assert "grade 0" not in shown.lower()
    assert "Not assessed: temperature, antipyretic or anti-cytokine given, hypotension, oxygen" in (
        shown
    )
    assert "Not assessed: ICE score, CAPD, level of consciousness" in shown
    assert DISCLAIMER in shown


def test_every_choice_starts_not_assessed(page: AppTest) -> None:
    for box in page.selectbox:
        assert box.value is None, box.key
        assert box.options[0] == "— not assessed —", box.key
    for number in page.number_input:
        assert number.value is None, number.key


def test_fever_one_vasopressor_and_low_flow_cannula_shows_crs_grade_3_with_flags(
    page: AppTest,
) -> None:
    fill(
        page,
        temperature=39.0,
        hypotension="one_vasopressor",
        oxygen_device="low_flow_nasal_cannula",
        oxygen_l_min=4.0,
        ice_score=10,
        consciousness="alert",
        seizure="none",
        motor_weakness="none",
        cerebral_edema="none",
    )
    assert metrics(page) == {"CRS": "Grade 3", "ICANS": "Grade 0"}
    shown = texts(page)
    assert (
        "**CRS grade 3** — “Hypotension requiring a vasopressor with or without vasopressin” "
        "(Lee 2019 ASTCT CRS table) [C]" in shown
    )
    for badge, action in (
        (":red-badge[INDICATED]", "**Tocilizumab** — CRS grade 3"),
        (":red-badge[INDICATED]", "**Corticosteroids** — CRS grade 3"),
        (":red-badge[INDICATED]", "**ICU** — CRS grade 3"),
    ):
        assert f"{badge} {action}" in shown
    assert "“CRS G3: Admit patient to ICU” — ASCO 2021 Table 1 (eguideline p.4-5) [C]" in shown
    assert "dexamethasone 10 mg IV q6h" in shown
    assert "Flags · ASCO 2021" in shown
    assert "Why CRS grade 3: all 3 rule rows" in shown
    assert DISCLAIMER in shown


def test_fahrenheit_is_converted_with_a_remark(page: AppTest) -> None:
    fill(
        page, temperature=101.3, temperature_unit="F", hypotension="none", oxygen_device="room_air"
    )
    assert metrics(page)["CRS"] == "Grade 1"
    assert "Temperature 101.3 °F converted to 38.5 °C." in texts(page)


def test_an_impossible_value_shows_the_error_with_its_code_and_no_grade(page: AppTest) -> None:
    fill(page, temperature=50.0)
    errors = [str(error.value) for error in page.error]
    assert any(
        "implausible_temperature" in error and "50.0 is outside" in error for error in errors
    )
    assert any(error.startswith("Not graded: fix 1 entry") for error in errors)
    assert metrics(page) == {}


def test_ice_item_by_item_is_summed(page: AppTest) -> None:
    fill(page, ice_entry="items")
    fill(
        page,
        ice_orientation=4,
        ice_naming=3,
        ice_following_commands=1,
        ice_writing=0,
        ice_attention=0,
        consciousness="alert",
        seizure="none",
        motor_weakness="none",
        cerebral_edema="none",
    )
    assert metrics(page)["ICANS"] == "Grade 1"
    assert "ICE score 8/10 from its five items." in texts(page)


def test_the_disagreement_note_of_a_flag_is_visible(page: AppTest) -> None:
    fill(
        page,
        ice_score=5,
        consciousness="alert",
        seizure="none",
        motor_weakness="none",
        cerebral_edema="none",
    )
    assert metrics(page)["ICANS"] == "Grade 2"
    assert any(str(w.value).startswith("DISAGREEMENT") for w in page.warning)


def test_three_doses_in_24_hours_show_limit_reached(page: AppTest) -> None:
    fill(
        page,
        temperature=39.0,
        hypotension="fluid_responsive",
        oxygen_device="room_air",
        weight_kg=70.0,
        tocilizumab_dose_count=3,
    )
    values = {}
    for index, hours in enumerate((20.0, 12.0, 4.0)):
        values[f"tocilizumab_doses_{index}_hours_ago"] = hours
        values[f"tocilizumab_doses_{index}_dose_mg"] = 560.0
    fill(page, **values)
    shown = texts(page)
    assert ":violet-badge[LIMIT REACHED] **Tocilizumab** — CRS grade 2" in shown
    assert "Tocilizumab limit reached: 3 doses in the last 24 h, at most 3" in shown


def test_the_entrypoint_shows_the_banner_and_asks_to_sign_in() -> None:
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    assert at.info[0].value == DISCLAIMER
    assert [t.value for t in at.title] == ["cartwatch"]
    assert at.text_input(key="password").value == ""
    assert metrics(at) == {}


def test_the_flags_are_summarised_above_their_details(page: AppTest) -> None:
    fill(page, temperature=39.0, hypotension="multiple_vasopressors", oxygen_device="room_air")
    assert metrics(page)["CRS"] == "Grade 4"
    assert (
        ":red-badge[Tocilizumab: indicated] :red-badge[Corticosteroids: indicated] "
        ":red-badge[ICU: indicated]" in texts(page)
    )


def test_clear_form_sets_every_entry_back_to_not_assessed(page: AppTest) -> None:
    fill(page, temperature=39.0, hypotension="one_vasopressor", temperature_unit="F")
    page.button(key="clear_form").click().run()
    assert page.number_input(key="temperature").value is None
    assert page.selectbox(key="hypotension").value is None
    assert page.radio(key="temperature_unit").value == "C"
    assert metrics(page) == {"CRS": "Not gradable", "ICANS": "Not gradable"}
