"""Findings that alerts are raised from: rising grades and flags turning on, on a hand timeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from grading.course import grade_course
from grading.monitor import course_findings

T0 = pd.Timestamp("2026-03-01 08:00")
NORMAL: dict[str, Any] = {
    "age_years": 40.0, "temperature_c": 37.0, "hypotension": "none", "oxygen_device": "room_air",
    "ice_score": 10, "consciousness": "alert", "seizure": "none", "motor_weakness": "none",
    "cerebral_edema": "none",
}  # fmt: skip


def at(hours: float, **changes: Any) -> dict[str, Any]:
    return {"patient_id": "P1", "observed_at": T0 + pd.Timedelta(hours=hours), **NORMAL, **changes}


def test_only_new_or_rising_grades_and_flags_turning_on_become_findings() -> None:
    rows = [
        at(0, temperature_c=38.4),  # CRS 1: new
        at(4, temperature_c=38.6),  # CRS 1 again: nothing new
        at(8, temperature_c=38.9, hypotension="fluid_responsive"),  # CRS 2: rising; tocilizumab
        at(12, temperature_c=39.0, hypotension="one_vasopressor"),  # CRS 3: steroids and ICU on
        at(16, temperature_c=38.8, hypotension="one_vasopressor"),  # CRS 3 again: nothing new
    ]
    found = course_findings(grade_course(pd.DataFrame(rows)))
    summary = [(kind, int((when - T0) / pd.Timedelta(hours=1)), severity)
               for kind, when, severity in zip(found["kind"], found["at"], found["severity"],
                                               strict=True)]  # fmt: skip
    assert sorted(summary) == sorted(
        [
            ("crs_grade", 0, "info"),
            ("crs_grade", 8, "warning"),
            ("crs_grade", 12, "critical"),
            ("tocilizumab", 8, "warning"),
            ("steroids", 12, "warning"),
            ("icu", 12, "critical"),
        ]
    )
    crs = found[found["kind"] == "crs_grade"]
    assert crs["detail"].str.contains("CRS-HYPOTENSION-3").sum() == 1
