"""Missed assessments: what is due and what is overdue at a moment, against the monitoring schedule
(:class:`grading.course_policy.SchedulePolicy`, criteria.md 8.1 and 7.4).

Items: ``vitals`` (a temperature recorded), ``neuro`` (ICE or CAPD recorded), ``labs`` (any lab
result) while a phase with intervals applies; after the last phase, ``visit`` for the scheduled
follow-up visits. A patient outside every phase and past the last visit window has nothing due.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from grading.course_policy import SchedulePolicy

ITEMS = ("vitals", "neuro", "labs")
COLUMNS = (
    "patient_id", "item", "study_day", "phase", "every_hours", "last_at", "due_at", "status",
    "overdue_hours",
)  # fmt: skip


def _last(frame: pd.DataFrame | None, time: str, recorded: pd.Series | None) -> pd.Series:
    """Latest time per patient among the rows where the item was recorded."""
    if frame is None or frame.empty:
        return pd.Series(dtype="datetime64[ns]")
    rows = frame if recorded is None else frame[recorded.to_numpy(dtype=bool)]
    return pd.to_datetime(rows[time]).groupby(rows["patient_id"]).max()


def due_items(
    patients: pd.DataFrame,
    assessments: pd.DataFrame,
    labs: pd.DataFrame | None,
    at: pd.Timestamp,
    schedule: SchedulePolicy | None = None,
) -> pd.DataFrame:
    """One row per patient and item: when it was last done, when it is due, and its status."""
    schedule = schedule or SchedulePolicy()
    at = pd.Timestamp(at)
    infusion = pd.to_datetime(patients.set_index("patient_id")["infusion_at"])
    days = (at.normalize() - infusion.dt.normalize()).dt.days
    assessments = assessments.reindex(
        columns=list(dict.fromkeys([*assessments.columns, "patient_id", "observed_at",
                                    "temperature_c", "ice_score", "capd_score"]))
    )  # fmt: skip
    neuro_recorded = assessments["ice_score"].notna() | assessments["capd_score"].notna()
    last = {
        "vitals": _last(assessments, "observed_at", assessments["temperature_c"].notna()),
        "neuro": _last(assessments, "observed_at", neuro_recorded),
        "labs": _last(labs, "collected_at", None),
    }
    every_column = {"vitals": "vitals_every_hours", "neuro": "neuro_every_hours",
                    "labs": "labs_every_hours"}  # fmt: skip
    rows = []
    infused = {str(k): pd.Timestamp(v) for k, v in infusion.items()}
    for key, day in days.items():
        patient_id = str(key)
        phase = schedule.phase_for(int(day))
        if phase is not None:
            for item in ITEMS:
                every = getattr(phase, every_column[item])
                if every is None:
                    continue
                done = last[item].get(patient_id, pd.NaT)
                since = infused[patient_id] if pd.isna(done) else done
                due = since + pd.Timedelta(hours=every)
                rows.append((patient_id, item, int(day), phase.name, every, done, due))
            continue
        visit = _visit(schedule, int(day))
        if visit is None:
            continue
        window = pd.Timedelta(days=schedule.visit_window_days)
        opens = infused[patient_id].normalize() + pd.Timedelta(days=visit) - window
        mine = assessments[assessments["patient_id"] == patient_id]
        seen = pd.to_datetime(mine["observed_at"])
        done = seen[seen >= opens].min() if (seen >= opens).any() else pd.NaT
        # Due when the window opens; overdue once the window (both sides) has passed.
        rows.append((patient_id, "visit", int(day), f"visit day {visit}", np.nan, done, opens))
    table = pd.DataFrame(
        rows, columns=["patient_id", "item", "study_day", "phase", "every_hours", "last_at",
                       "due_at"]
    )  # fmt: skip
    is_visit = (table["item"] == "visit").to_numpy()
    allowed = np.where(
        is_visit, 2 * schedule.visit_window_days * 24 + 24 + schedule.grace_hours,
        schedule.grace_hours,
    )  # fmt: skip
    hours_past_due = (at - pd.to_datetime(table["due_at"])).dt.total_seconds().to_numpy() / 3600
    done_visit = is_visit & table["last_at"].notna().to_numpy()
    late = hours_past_due - allowed
    table["status"] = np.select(
        [done_visit, late > 0, hours_past_due >= 0], ["ok", "overdue", "due"], "ok"
    )
    table["overdue_hours"] = np.where(table["status"] == "overdue", np.round(late, 1), 0.0)
    return table[list(COLUMNS)]


def _visit(schedule: SchedulePolicy, day: int) -> int | None:
    """The scheduled visit whose window contains ``day`` or has most recently passed it."""
    last_phase_end = max((p.to_day for p in schedule.phases), default=-1)
    if day <= last_phase_end:
        return None
    passed = [v for v in schedule.visit_days if v - schedule.visit_window_days <= day]
    if not passed:
        return None
    visit = max(passed)
    return visit if day <= max(schedule.visit_days) + schedule.visit_window_days + 30 else None
