"""The correction section of the record page: pick a saved assessment, change one value or
withdraw it, always with a reason. Rendered by record.py (this module is not a page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.app_pages.common import engine
from dashboard.services import corrections as svc
from dashboard.services.calculator import FIELD_LABELS, NOT_ASSESSED
from dashboard.store.access import Actor
from dashboard.store.errors import ConflictError, StoreError


def show(actor: Actor, patient_id: str) -> None:
    with st.expander("Correct or withdraw a saved assessment", icon=":material/history_edu:"):
        saved = svc.recent(engine(), actor, patient_id)
        if not saved:
            st.caption("No saved assessment for this patient yet.")
            return
        chosen = st.selectbox(
            "Saved assessment", range(len(saved)), key="correct_pick",
            format_func=lambda i: f"{saved[i].observed_at:%Y-%m-%d %H:%M} (v{saved[i].version}, "
            f"{saved[i].entered_by})",
        )  # fmt: skip
        record = saved[chosen]
        if record.signed_off_by:
            st.warning(f"This day was signed off by {record.signed_off_by}. A correction is "
                       "still possible; the timeline will show the day as changed after "
                       "sign-off, with both values.")  # fmt: skip
        shown = {FIELD_LABELS.get(k, k): v for k, v in record.values.items() if v is not None}
        st.dataframe(pd.DataFrame([shown]), hide_index=True)
        field = st.selectbox("Field to correct", svc.CORRECTABLE, key="correct_field",
                             format_func=lambda f: FIELD_LABELS.get(f, f))  # fmt: skip
        new_value = _value_input(field, record.values.get(field))
        reason = st.text_input("Reason (required)", key="correct_reason")
        left, right = st.columns(2)
        if left.button("Save correction", key="correct_save"):
            _run(lambda: svc.correct(engine(), actor, record.record_id, record.version,
                                     {field: new_value}, reason), "Correction saved")  # fmt: skip
        if right.button("Withdraw this assessment", key="correct_withdraw"):
            _run(lambda: svc.withdraw(engine(), actor, record.record_id, record.version, reason),
                 "Assessment withdrawn")  # fmt: skip
        with st.popover("Version history"):
            for version in svc.history(engine(), actor, record.record_id):
                st.markdown(f"**v{version.version}** {version.status} · {version.entered_by} · "
                            f"{version.entered_at:%Y-%m-%d %H:%M} · "
                            f"{version.reason or 'first entry'}")  # fmt: skip


def _value_input(field: str, current: Any) -> Any:
    coded = svc.options(field)
    key = f"correct_value_{field}"
    if coded is not None:
        value = st.selectbox("New value", [None, *coded], key=key,
                             format_func=lambda v: NOT_ASSESSED if v is None else v)  # fmt: skip
        return {"true": True, "false": False}.get(value, value) if value else None
    if field == "observed_at":
        text = st.text_input(
            "New time (YYYY-MM-DD HH:MM)", key=key, value=f"{current:%Y-%m-%d %H:%M}"
        )
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return text  # validation names it
    return st.number_input("New value", value=None, format="%g", key=key,
                           placeholder=NOT_ASSESSED)  # fmt: skip


def _run(action: Any, done: str) -> None:
    try:
        stored = action()
    except ConflictError as conflict:
        st.error(str(conflict))
        st.json(conflict.theirs, expanded=False)
    except StoreError as error:
        st.error(f"Nothing was saved: {error}")
    else:
        st.success(f"{done}: version {stored.version}. The course was re-graded.")
