"""Missed assessments against the monitoring schedule (course_policy.SchedulePolicy)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from grading.schedule import due_items

INFUSION = pd.Timestamp("2026-03-01 10:00")
PATIENTS = pd.DataFrame([{"patient_id": "P1", "infusion_at": INFUSION}])


def assessment(hours: float, **fields: Any) -> dict[str, Any]:
    return {"patient_id": "P1", "observed_at": INFUSION + pd.Timedelta(hours=hours),
            "temperature_c": 37.0, "ice_score": 10, "capd_score": None, **fields}  # fmt: skip


def status(
    rows: list[dict[str, Any]], now_hours: float, labs: pd.DataFrame | None = None
) -> dict[str, Any]:
    now = INFUSION + pd.Timedelta(hours=now_hours)
    table = due_items(PATIENTS, pd.DataFrame(rows), labs, now)
    return {row.item: (row.status, row.overdue_hours) for row in table.itertuples()}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (23.9, "ok"),  # vitals every 4 h: last at 20 h, due at 24 h
        (24.0, "due"),
        (25.0, "due"),  # within the 1 h grace
        (25.5, "overdue"),
    ],
)
def test_vitals_every_4_hours_in_the_acute_phase(now: float, expected: str) -> None:
    assert status([assessment(20)], now)["vitals"][0] == expected


def test_a_missed_ice_check_is_overdue_while_vitals_are_on_time() -> None:
    rows = [assessment(0), assessment(4, ice_score=None), assessment(8, ice_score=None)]
    result = status(rows, 10)  # ICE every 8 h: last ICE at 0 h, due at 8 h, 1 h grace
    assert result["vitals"] == ("ok", 0.0)
    assert result["neuro"] == ("overdue", 1.0)


def test_capd_counts_as_the_neurological_check_for_a_child() -> None:
    rows = [assessment(4, ice_score=None, capd_score=3)]
    assert status(rows, 10)["neuro"][0] == "ok"


def test_nothing_recorded_counts_from_the_infusion() -> None:
    result = status([], 6)
    assert result["vitals"] == ("overdue", 1.0)  # due at 4 h, overdue after 5 h
    assert result["labs"][0] == "ok"  # labs daily


def test_after_day_28_a_visit_is_due_in_its_window_and_overdue_after_it() -> None:
    rows = [assessment(24 * 20)]
    # Visit day 35 with a +/- 3 day window: opens on day 32.
    assert "visit" not in status(rows, 24 * 31)  # day 31: no phase, no visit window yet
    assert status(rows, 24 * 33)["visit"][0] == "due"
    assert status(rows, 24 * 39 + 2)["visit"][0] == "overdue"
    assert status([*rows, assessment(24 * 34)], 24 * 39)["visit"] == ("ok", 0.0)
