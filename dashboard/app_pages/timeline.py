"""Patient timeline: a patient's course on one axis of study days, why each grade is what it is,
and (physicians, admins) the sign-off of a day's grades.

Thin page: read the inputs, call :mod:`dashboard.services.timeline` / ``signoff``, render. The
patient may come from ``?patient=<id>``; one the signed-in user may not see is refused with the
same message whether it exists or not. Clicking a grade marker in the chart, or a row of the table,
selects that time point; the "Time point" box below does the same from the keyboard.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.app_pages.common import engine, require
from dashboard.figures.timeline import acute_figure, long_term_figure
from dashboard.services import signoff as signing
from dashboard.services import timeline as svc
from dashboard.store.access import Role
from dashboard.store.errors import AccessDeniedError, NotFoundError, StoreError

actor = require(Role.PHYSICIAN, Role.NURSE, Role.ADMIN)
st.title("Patient timeline")

patients = {p.patient_id: p for p in svc.visible_patients(engine(), actor)}
asked = st.query_params.get("patient")
if asked is not None and asked not in patients:
    st.error(
        f"Patient {asked} is not available to you: there is no such patient at your sites "
        f"({', '.join(sorted(actor.site_ids)) or 'none'}). Nothing is shown.",
        icon=":material/block:",
    )
    st.stop()
if not patients:
    st.info("No patient is enrolled at your sites yet.", icon=":material/person_off:")
    st.stop()

ids = list(patients)
left, right = st.columns([3, 2])
with left:
    chosen: str = st.selectbox(
        "Patient",
        ids,
        index=ids.index(asked) if asked in ids else 0,
        format_func=lambda i: (
            f"{i} · {patients[i].site_id} · {patients[i].disease.value} · "
            f"{patients[i].product.value} · infused {patients[i].infusion_at:%Y-%m-%d}"
        ),
        key="patient",
    )
with right:
    window: svc.Window = st.radio(
        "View",
        ["acute", "long_term"],
        format_func=lambda w: {"acute": "Acute (day -5 to today)", "long_term": "Long term"}[w],
        horizontal=True,
        key="window",
    )
if st.query_params.get("patient") != chosen:
    st.query_params["patient"] = chosen

try:
    timeline = svc.patient_timeline(engine(), actor, chosen, window=window)
except (AccessDeniedError, NotFoundError):
    st.error(
        f"Patient {chosen} is not available to you. Nothing is shown.", icon=":material/block:"
    )
    st.stop()

points = timeline.points
st.caption(
    f"Today is study day {timeline.today}. {len(points)} assessments in this view. Grade markers: "
    "green 0 → black 5; an open grey square (“?”) is a time point not gradable because a field "
    "was not assessed — never grade 0."
)
CHART, TABLE, POINT = "timeline_chart", "timeline_points", "timepoint"


def _from_chart() -> None:
    record = svc.selected_record(st.session_state.get(CHART))
    if record is not None:
        st.session_state[POINT] = record


def _from_table() -> None:
    rows = (st.session_state.get(TABLE) or {}).get("selection", {}).get("rows", [])
    if rows and rows[0] < len(points):
        st.session_state[POINT] = str(points.iloc[rows[0]]["record_id"])


figure = acute_figure(timeline) if window == "acute" else long_term_figure(timeline)
st.plotly_chart(figure, key=CHART, on_select=_from_chart, selection_mode="points")

if points.empty:
    st.info("No assessment recorded in this view.", icon=":material/event_busy:")
else:
    table = pd.DataFrame({
        "day": points["day"], "observed at": points["observed_at"],
        "CRS": [svc.headline("CRS", g, s, r) for g, s, r in zip(
            points["crs_grade"], points["crs_status"], points["crs_reason"], strict=True)],
        "ICANS": [svc.headline("ICANS", g, s, r) for g, s, r in zip(
            points["icans_grade"], points["icans_status"], points["icans_reason"], strict=True)],
        "masked": ["fever masked by therapy" if m else "" for m in points["masked"]],
        "flags": points["flags"],
    })  # fmt: skip
    with st.expander("Graded time points (select a row to see why)", expanded=False):
        st.dataframe(table, key=TABLE, on_select=_from_table, selection_mode="single-row",
                     hide_index=True)  # fmt: skip
    records = list(points["record_id"])
    label = dict(zip(records, (f"day {d} · {t:%Y-%m-%d %H:%M} · {c} · {i}" for d, t, c, i in zip(
        table["day"], table["observed at"], table["CRS"], table["ICANS"], strict=True)),
        strict=True))  # fmt: skip
    if st.session_state.get(POINT) not in records:
        st.session_state.pop(POINT, None)
    record = st.selectbox(
        "Time point",
        records,
        index=None,
        format_func=label.__getitem__,
        key=POINT,
        placeholder="Click a grade in the chart, or choose here",
    )
    if record is not None:
        detail = svc.explain(timeline, record)
        st.subheader(f"Why: day {detail.day}, {detail.observed_at:%Y-%m-%d %H:%M}")
        for why in (detail.crs, detail.icans):
            with st.container(border=True):
                st.markdown(f"**{why.headline}** — {why.reason}")
                if why.not_assessed:
                    st.warning(f"Not assessed: {why.not_assessed}", icon=":material/help:")
                for rule in why.rules:
                    grade = "" if rule.grade is None else f"grade {rule.grade} · "
                    st.markdown(f"- `{rule.rule_id}` ({grade}{rule.domain}): “{rule.source_text}”")
                    st.caption(f"{rule.citation} [{rule.evidence}]")
        if detail.masked:
            st.info("Fever masked: an antipyretic or anti-cytokine drug was given during this CRS "
                    "episode, so fever is no longer required (ASTCT footnote, R-CRS-2).",
                    icon=":material/medication:")  # fmt: skip
        st.caption(f"Flags: {detail.flags or 'none'} · policy: {detail.policy or 'not stored'} · "
                   f"grades {detail.source}")  # fmt: skip


def show_signoffs(signoffs: tuple[signing.Signoff, ...]) -> None:
    for s in signoffs:
        head = f"Day {s.study_day} signed off by {s.signed_by} at {s.signed_at:%Y-%m-%d %H:%M} UTC"
        note = f" — “{s.note}”" if s.note else ""
        if not s.changed:
            st.success(head + note, icon=":material/verified:")
            continue
        lines = [f"- {c.observed_at} · {c.what}: signed **{c.signed}**, now **{c.current}**"
                 for c in s.changes]  # fmt: skip
        st.warning(f"{head}{note}: **changed after sign-off**\n" + "\n".join(lines),
                   icon=":material/published_with_changes:")  # fmt: skip


st.subheader("Sign-off")
if notice := st.session_state.pop("signed_notice", None):
    st.success(notice, icon=":material/check:")
show_signoffs(timeline.signoffs)
signed_days = {s.study_day for s in timeline.signoffs}
days = sorted({int(d) for d in points["day"]} - signed_days)
if actor.role not in signing.SIGNERS:
    st.caption("Sign-off is for the site's physicians and administrators.")
elif not days:
    st.caption("No unsigned day with graded assessments in this view.")
else:
    with st.form("signoff", border=True):
        day: Any = st.selectbox("Study day", days, index=len(days) - 1, key="signoff_day")
        note = st.text_input("Note (optional)", key="signoff_note")
        if st.form_submit_button("Sign off this day's grades", icon=":material/draw:"):
            try:
                done = signing.sign_off(engine(), actor, chosen, int(day), note)
            except StoreError as error:
                st.error(str(error), icon=":material/error:")
            else:
                st.session_state["signed_notice"] = (
                    f"Day {done.study_day} signed off ({len(done.grades)} assessments)."
                )
                st.rerun()

if timeline.alerts:
    with st.expander(f"Alerts of this patient ({len(timeline.alerts)})"):
        for alert in timeline.alerts:
            st.markdown(f"**{alert.severity}** · {alert.state} · {alert.finding_at:%Y-%m-%d %H:%M}"
                        f" · `{alert.rule_id}` — {alert.detail}")  # fmt: skip
            st.caption(f"{alert.citation} [{alert.evidence}]")
