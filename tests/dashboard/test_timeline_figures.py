"""The timeline figures from a hand-built Timeline (no database): traces and their values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard.figures.timeline import (
    GRADE_COLORS,
    NOT_ASSESSED_COLOR,
    acute_figure,
    long_term_figure,
)
from dashboard.services.signoff import Change, Signoff
from dashboard.services.timeline import (
    DRUG_COLUMNS,
    EPISODE_COLUMNS,
    LAB_COLUMNS,
    POINT_COLUMNS,
    Timeline,
)
from grading.records import Patient

PATIENT = Patient(patient_id="P9", site_id="S01", disease="sle", product="cd19_car_t",
                  infusion_at=datetime(2026, 3, 1, 10))  # fmt: skip


def point(record_id: str, x: float, crs: tuple[Any, str], icans: tuple[Any, str],
          **values: Any) -> dict[str, Any]:  # fmt: skip
    row: dict[str, Any] = dict.fromkeys(POINT_COLUMNS)
    row |= {"record_id": record_id, "x": x, "day": int(x // 1), "crs_grade": crs[0],
            "crs_status": crs[1], "crs_reason": f"crs of {record_id}", "icans_grade": icans[0],
            "icans_status": icans[1], "icans_reason": f"icans of {record_id}", "masked": False,
            "flags": "", "policy": "ASCO 2021", "source": "stored"}  # fmt: skip
    return row | values


def timeline() -> Timeline:
    points = pd.DataFrame([
        point("a", -4.6, (0, "no_toxicity"), (0, "no_toxicity"), temperature_c=36.8,
              ice_score=10, oxygen_device="room_air", systolic_bp_mmhg=120),
        point("b", 1.3, (3, "graded"), (0, "no_toxicity"), temperature_c=39.0, ice_score=10,
              oxygen_device="low_flow_nasal_cannula", oxygen_l_min=4.0, systolic_bp_mmhg=82),
        point("c", 1.5, (1, "graded"), (None, "not_gradable"), temperature_c=38.5),
    ], columns=list(POINT_COLUMNS))  # fmt: skip
    labs = pd.DataFrame([
        {"x": 1.29, "day": 1, "analyte": "crp", "value_canonical": 120.0},
        {"x": 1.29, "day": 1, "analyte": "ferritin", "value_canonical": 900.0},
        {"x": 35.3, "day": 35, "analyte": "igg", "value_canonical": 350.0},
        {"x": 35.3, "day": 35, "analyte": "cd19_percent", "value_canonical": 0.2},
    ], columns=list(LAB_COLUMNS))  # fmt: skip
    drugs = pd.DataFrame([
        {"x": 1.37, "day": 1, "drug": "tocilizumab", "group": "tocilizumab", "dose": 560.0,
         "dose_unit": "mg"},
        {"x": 36.4, "day": 36, "drug": "ivig", "group": "IVIG", "dose": 28.0, "dose_unit": "g"},
    ], columns=list(DRUG_COLUMNS))  # fmt: skip
    episodes = pd.DataFrame([{"syndrome": "CRS", "episode": 1, "onset_x": 1.3, "end_x": 3.0,
                              "peak_grade": 3, "status": "ongoing"}],
                            columns=list(EPISODE_COLUMNS))  # fmt: skip
    signed = Signoff("P9", 1, "physician1", datetime(2026, 3, 3, 9, tzinfo=UTC), "", (),
                     (Change("b", "2026-03-02T08:00:00", "crs_grade", 3, 2),))  # fmt: skip
    return Timeline(patient=PATIENT, window="acute", start_x=-5.0, end_x=3.0, today=2,
                    points=points, labs=labs, drugs=drugs, episodes=episodes,
                    signoffs=(signed,))  # fmt: skip


def trace(fig: go.Figure, name: str) -> Any:
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, (name, [t.name for t in fig.data])
    return found[0]


def test_vitals_rows_show_the_recorded_values_and_the_fever_line() -> None:
    fig = acute_figure(timeline())
    temperature = trace(fig, "Temperature (°C)")
    assert list(temperature.x) == [-4.6, 1.3, 1.5]
    assert list(temperature.y) == [36.8, 39.0, 38.5]
    assert list(trace(fig, "ICE score").y) == [10.0, 10.0, None]  # blank stays a gap
    assert list(trace(fig, "Systolic BP").y) == [120.0, 82.0, None]
    oxygen = trace(fig, "Oxygen support")
    assert list(oxygen.y) == ["room_air", "low_flow_nasal_cannula"]  # "c" not recorded
    assert list(oxygen.text) == ["", "4 L/min"]
    fever = [s for s in fig.layout.shapes if s.type == "line" and s.y0 == 38.0]
    assert len(fever) == 1
    assert fever[0].y1 == 38.0


def test_grades_are_coloured_and_not_assessed_looks_different_from_grade_0() -> None:
    fig = acute_figure(timeline())
    crs = trace(fig, "CRS grade")
    assert list(crs.x) == [-4.6, 1.3, 1.5]
    assert list(crs.text) == ["0", "3", "1"]
    assert list(crs.marker.color) == [GRADE_COLORS[0], GRADE_COLORS[3], GRADE_COLORS[1]]
    assert list(crs.customdata) == ["a", "b", "c"]  # a click selects the assessment
    icans = trace(fig, "ICANS grade")
    assert list(icans.customdata) == ["a", "b"]
    blank = trace(fig, "ICANS not gradable (not assessed)")
    assert list(blank.x) == [1.5]
    assert list(blank.text) == ["?"]
    assert blank.marker.color == NOT_ASSESSED_COLOR != GRADE_COLORS[0]
    assert blank.marker.symbol == "square-open" != icans.marker.symbol
    assert list(blank.hovertext) == ["icans of c"]


def test_episodes_drugs_labs_and_sign_offs() -> None:
    fig = acute_figure(timeline())
    spans = [s for s in fig.layout.shapes if s.type == "rect"]
    assert {(s.x0, s.x1) for s in spans} == {(1.3, 3.0)}
    assert "CRS episode 1 (peak 3, ongoing)" in [a.text for a in fig.layout.annotations]
    toci = trace(fig, "tocilizumab")
    assert list(toci.x) == [1.37]
    assert list(toci.hovertext) == ["tocilizumab 560 mg"]
    assert "IVIG" in [t.name for t in fig.data]  # drawn even when outside the view's range
    assert list(trace(fig, "CRP (mg/L)").y) == [120.0]
    assert list(trace(fig, "Ferritin (ng/mL)").y) == [900.0]
    changed = trace(fig, "Changed after sign-off")
    assert list(changed.x) == [1.5]
    assert "Signed off" not in [t.name for t in fig.data]


def test_long_term_shows_b_cells_and_igg_with_the_policy_thresholds() -> None:
    fig = long_term_figure(timeline())
    assert list(trace(fig, "IgG (mg/dL)").y) == [350.0]
    assert list(trace(fig, "CD19 (% of lymphocytes)").y) == [0.2]
    assert list(trace(fig, "IVIG").x) == [36.4]
    thresholds = sorted(s.y0 for s in fig.layout.shapes if s.type == "line")
    assert thresholds == pytest.approx([1.0, 20.0, 400.0])
    labels = [a.text for a in fig.layout.annotations]
    assert "IVIG indicated at ≤ 400 mg/dL" in labels
    assert "aplasia below 1 %" in labels
