"""Worklist: my sites' patients in their monitoring window, most urgent first.

Thin page: read the "as of" moment, call :func:`dashboard.services.worklist.worklist`, render a
table whose rows link to the record page and the timeline of each patient.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard.app_pages.common import engine, require
from dashboard.services.worklist import worklist
from dashboard.store.access import Role

actor = require(Role.NURSE)
st.markdown("### Worklist")
now = datetime.now().replace(second=0, microsecond=0)
left, right, _ = st.columns([2, 2, 4])
day = left.date_input("As of date", value=now.date(), key="asof_date")
moment = right.time_input("Time", value=now.time(), key="asof_time", step=900)
at = datetime.combine(day, moment)

rows = worklist(engine(), actor, at)
if not rows:
    st.info(
        f"No patient of your sites ({', '.join(sorted(actor.site_ids))}) is in a monitoring "
        f"window on {at:%Y-%m-%d %H:%M}. The sample cohort was infused in 2024-2025: choose a "
        "date then to see its worklist."
    )
    st.stop()

overdue = sum(1 for r in rows if r.overdue)
st.caption(
    f"{len(rows)} patient(s) in a monitoring window on {at:%Y-%m-%d %H:%M}; {overdue} with "
    "overdue items. Grades are those of the latest assessment up to then; alerts are open now."
)
table = pd.DataFrame(
    [
        {
            "Patient": r.patient_id,
            "Day": r.study_day,
            "Phase": r.phase,
            "Overdue": ", ".join(r.overdue) or "—",
            "Due now": ", ".join(r.due) or "—",
            "Next due": r.next_due,
            "Last assessment": r.last_assessment_at,
            "CRS": "not graded" if r.crs_grade is None else f"grade {r.crs_grade}",
            "ICANS": "not graded" if r.icans_grade is None else f"grade {r.icans_grade}",
            "Open alerts": f"{r.open_alerts} ({r.worst_alert})" if r.open_alerts else "0",
        }
        for r in rows
    ]
)
event = st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "Next due": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "Last assessment": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    },
    key="worklist",
    on_select="rerun",
    selection_mode="single-row",
)
chosen = event.selection.rows
if chosen:
    patient_id = rows[chosen[0]].patient_id
    record, timeline, _ = st.columns([2, 2, 4])
    record.page_link(
        "app_pages/record.py",
        label=f"Record assessment for {patient_id}",
        icon=":material/edit_note:",
        query_params={"patient": patient_id},
    )
    timeline.page_link(
        "app_pages/timeline.py",
        label=f"Timeline of {patient_id}",
        icon=":material/timeline:",
        query_params={"patient": patient_id},
    )
else:
    st.caption("Select a row to record an assessment or open the patient's timeline.")
