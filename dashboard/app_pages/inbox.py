"""Alert inbox: the open alerts of my sites by severity and time; acknowledge with a note; resolve.

Thin page: read the filters, call :mod:`dashboard.services.inbox`, render. Physicians and admins may
acknowledge and resolve; nurses read the inbox (to call the physician) and are offered no buttons.
Actions run in button callbacks, so the list drawn afterwards is already the refreshed one.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from dashboard.app_pages.common import engine, require
from dashboard.services import inbox as svc
from dashboard.store.access import Actor, Role
from dashboard.store.alerts import STATES, Severity, State

SEVERITY_COLOR = {"critical": "red", "warning": "orange", "info": "blue"}
NOTICE = "inbox_notice"
SELECTED = "inbox_alert"
SHOWN_IDS = "inbox_shown_ids"


def badge(severity: str) -> str:
    return f":{SEVERITY_COLOR.get(severity, 'gray')}-badge[{severity.upper()}]"


def on_table_select() -> None:
    """A row picked in the table selects that alert in the detail pane."""
    rows = st.session_state["inbox_table"].selection.rows
    ids: list[int] = st.session_state.get(SHOWN_IDS, [])
    if rows and rows[0] < len(ids):
        st.session_state[SELECTED] = ids[rows[0]]


def act(verb: str, actor: Actor, alert_id: int) -> None:
    """Button callback: acknowledge or resolve, remember the outcome, clear the note on success."""
    note = st.session_state.get("ack_note", "")
    action = svc.acknowledge if verb == "acknowledge" else svc.resolve
    result = action(engine(), actor, alert_id, note)
    st.session_state[NOTICE] = (result.ok, result.message)
    if result.ok:
        st.session_state["ack_note"] = ""


def read_filters() -> tuple[list[State], list[Severity]]:
    left, right = st.columns(2)
    states = left.multiselect("State", list(STATES), default=["open"], key="inbox_states")
    severities = right.multiselect(
        "Severity", list(svc.SEVERITIES), default=list(svc.SEVERITIES), key="inbox_severities"
    )
    return states, severities


def show_detail(row: svc.InboxRow, actor: Actor, handler: bool) -> None:
    with st.container(border=True, key="inbox_detail"):
        st.markdown(
            f"{badge(row.severity)} **{row.kind.replace('_', ' ')}** · patient "
            f"**{row.patient_id}** · site {row.site_id} · {row.state}"
        )
        st.markdown(row.detail)
        st.markdown(f"**Rule** `{row.rule_id}`  \n**Source** {row.citation}")
        evidence = f"Evidence {row.evidence_tag}: {row.evidence_label}."
        if row.uncertain:
            st.warning(
                f"{evidence} This alert rests on an uncertain or provisional source: check it "
                "against the protocol before acting on it.",
                icon=":material/report:",
            )
        else:
            st.caption(evidence)
        crs, icans = st.columns(2)
        crs.metric("CRS (latest assessment)", svc.grade_text(row.crs_grade), border=True)
        icans.metric("ICANS (latest assessment)", svc.grade_text(row.icans_grade), border=True)
        st.caption(f"Finding at {row.finding_at:%Y-%m-%d %H:%M}; alert raised at "
                   f"{row.raised_at:%Y-%m-%d %H:%M}.")  # fmt: skip
        for verb, who, at, note in (
            ("Acknowledged", row.acknowledged_by, row.acknowledged_at, row.acknowledge_note),
            ("Resolved", row.resolved_by, row.resolved_at, row.resolve_note),
        ):
            if who and at:
                st.markdown(f"{verb} by **{who}** at {at:%Y-%m-%d %H:%M}: {note or '(no note)'}")
        label = f"Open the timeline of {row.patient_id}"
        try:
            st.page_link("app_pages/timeline.py", label=label, icon=":material/timeline:",
                         query_params={"patient": row.patient_id})  # fmt: skip
        except StreamlitAPIException:  # the page run alone, outside the app's navigation
            st.caption(f"{label}: Patient timeline page, patient {row.patient_id}.")
    if not handler:
        st.info(
            "Read-only: acknowledging and resolving are the physician's sign-off. Call the "
            "site's physician about this alert.",
            icon=":material/visibility:",
        )
        return
    if row.state == "resolved":
        st.caption("This alert is resolved; nothing more to do.")
        return
    st.text_area(
        "Note",
        key="ack_note",
        placeholder="What you have seen and what you are doing about it (required)",
    )
    ack, res = st.columns(2)
    ack.button("Acknowledge", key="ack_button", type="primary", width="stretch",
               disabled=row.state != "open", on_click=act,
               args=("acknowledge", actor, row.alert_id))  # fmt: skip
    res.button("Resolve", key="resolve_button", width="stretch", on_click=act,
               args=("resolve", actor, row.alert_id))  # fmt: skip


def main() -> None:
    actor = require(Role.PHYSICIAN, Role.ADMIN, Role.NURSE)
    st.markdown("### Alert inbox")
    sites = ", ".join(sorted(actor.site_ids)) or "all sites"
    st.caption(f"Alerts of {sites}: critical first, then warning and info; newest finding first.")
    states, severities = read_filters()
    view = svc.load_inbox(engine(), actor, states)
    if view.error:
        st.error(view.error)
        return
    left, right = st.columns(2)
    chosen_sites = left.multiselect("Site", view.sites, key="inbox_sites", placeholder="All sites")
    if st.session_state.get("inbox_patient") not in (None, *view.patients):
        st.session_state["inbox_patient"] = None
    patient = right.selectbox("Patient", [None, *view.patients], key="inbox_patient",
                              format_func=lambda p: "All patients" if p is None else p)  # fmt: skip
    rows = svc.filter_rows(view.rows, severities, chosen_sites or None, patient)
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        (st.success if notice[0] else st.error)(notice[1])
    if not rows:
        st.success(
            "No alerts match." if view.total else "No alerts: nothing needs your attention.",
            icon=":material/check_circle:",
        )
        return
    st.caption(f"{len(rows)} of {view.total} alerts in the chosen states.")
    st.session_state[SHOWN_IDS] = [row.alert_id for row in rows]
    st.dataframe(pd.DataFrame([row.table_row() for row in rows]), hide_index=True,
                 on_select=on_table_select, selection_mode="single-row", key="inbox_table")  # fmt: skip
    by_id = {row.alert_id: row for row in rows}
    if st.session_state.get(SELECTED) not in by_id:
        st.session_state[SELECTED] = rows[0].alert_id
    alert_id = st.selectbox("Alert", list(by_id), key=SELECTED, format_func=lambda i: (
        f"{by_id[i].severity} · {by_id[i].patient_id} · {by_id[i].rule_id} · #{i}"))  # fmt: skip
    show_detail(by_id[alert_id], actor, view.can_handle)


main()
