"""The patient timeline as plotly figures: rows on one shared axis of study days.

:func:`acute_figure` draws day -5 to today: temperature (fever line at 38.0 °C), blood pressure,
oxygen support, ICE, the CRS and ICANS grade bands (with sign-offs), drugs given, CRP and ferritin,
and blood counts; CRS and ICANS episodes are shaded across every row. :func:`long_term_figure`
draws CD19 B cells and IgG with the policy thresholds, and IVIG doses.

Grade colours run from green (grade 0) to black (grade 5). A time point whose grade could not be
given (a field not assessed) is an open grey square with "?" (or "≥n", its lower bound): it never
looks like grade 0. Every grade marker carries the assessment's record id as ``customdata``, so a
click on it selects that assessment.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.services.timeline import DRUG_GROUPS, Timeline

FEVER_C = 38.0
GRADE_COLORS = ("#2ca02c", "#e6c229", "#ff7f0e", "#d62728", "#8b0000", "#000000")
NOT_ASSESSED_COLOR = "#9e9e9e"
EPISODE_COLORS = {"CRS": "#ff7f0e", "ICANS": "#9467bd"}
OXYGEN_ORDER = (
    "room_air", "low_flow_nasal_cannula", "blow_by", "high_flow_nasal_cannula", "face_mask",
    "non_rebreather", "venturi", "cpap", "bipap", "mechanical_ventilation",
)  # fmt: skip
ACUTE_ROWS = (
    "Temperature (°C)", "Blood pressure (mmHg)", "Oxygen support", "ICE score (0-10)",
    "CRS and ICANS grades", "Drugs given", "CRP (mg/L), ferritin (ng/mL), log",
    "Blood counts, log",
)  # fmt: skip
LONG_TERM_ROWS = ("CD19 B cells (% of lymphocytes)", "CD19 B cells (cells/µL)", "IgG (mg/dL)",
                  "IVIG given")  # fmt: skip
#: (analyte, trace name, row) of the lab rows of the acute figure.
ACUTE_LABS = (
    ("crp", "CRP (mg/L)", 7), ("ferritin", "Ferritin (ng/mL)", 7),
    ("anc", "ANC (cells/µL)", 8), ("platelets", "Platelets (10^9/L)", 8),
    ("hemoglobin", "Hb (g/dL)", 8),
)  # fmt: skip


def grade_text(grade: Any, status: str) -> str:
    """The label on a grade marker: the grade, or "?" / "≥n" when not gradable."""
    if status == "not_gradable":
        return "?" if grade is None or pd.isna(grade) or int(grade) == 0 else f"≥{int(grade)}"
    return str(int(grade))


def _numbers(series: pd.Series) -> list[float | None]:
    return [None if pd.isna(v) else float(v) for v in series]


def _frame(rows: tuple[str, ...], heights: list[float], title: str) -> go.Figure:
    fig = make_subplots(
        rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.025,
        subplot_titles=rows, row_heights=heights,
    )  # fmt: skip
    fig.update_layout(
        title=title, height=110 * len(rows) + 160, hovermode="closest", clickmode="event+select",
        legend={"orientation": "h", "y": -0.05}, margin={"l": 60, "r": 20, "t": 80, "b": 40},
    )  # fmt: skip
    return fig


def acute_figure(timeline: Timeline) -> go.Figure:
    p = timeline.points
    fig = _frame(ACUTE_ROWS, [1, 1, 1, 0.8, 0.8, 1, 1, 1],
                 f"{timeline.patient.patient_id}: day {timeline.start_x:g} to "
                 f"{timeline.end_x - 1:g}")  # fmt: skip
    x = _numbers(p["x"])
    fig.add_trace(go.Scatter(x=x, y=_numbers(p["temperature_c"]), name="Temperature (°C)",
                             mode="lines+markers", connectgaps=False), row=1, col=1)  # fmt: skip
    fig.add_hline(y=FEVER_C, line_dash="dash", line_color="#d62728", row=1, col=1,
                  annotation_text="fever ≥ 38.0 °C", annotation_position="top left")  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=_numbers(p["systolic_bp_mmhg"]), name="Systolic BP",
                             mode="lines+markers", text=p["hypotension"]), row=2, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=_numbers(p["diastolic_bp_mmhg"]), name="Diastolic BP",
                             mode="lines+markers"), row=2, col=1)  # fmt: skip
    oxygen = p[p["oxygen_device"].notna()]
    flows = [f"{v:g} L/min" if pd.notna(v) else "" for v in oxygen["oxygen_l_min"]]
    fig.add_trace(go.Scatter(x=_numbers(oxygen["x"]), y=list(oxygen["oxygen_device"]),
                             name="Oxygen support", mode="markers", text=flows,
                             hovertemplate="day %{x:.2f}: %{y} %{text}<extra></extra>"),
                  row=3, col=1)  # fmt: skip
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=list(OXYGEN_ORDER),
                     row=3, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=_numbers(p["ice_score"]), name="ICE score",
                             mode="lines+markers"), row=4, col=1)  # fmt: skip
    fig.update_yaxes(range=[-0.5, 10.5], row=4, col=1)
    _grade_band(fig, timeline)
    _drug_markers(fig, timeline.drugs, 6, DRUG_GROUPS)
    for analyte, name, row in ACUTE_LABS:
        lab = timeline.labs[timeline.labs["analyte"] == analyte]
        fig.add_trace(go.Scatter(x=_numbers(lab["x"]), y=_numbers(lab["value_canonical"]),
                                 name=name, mode="lines+markers"), row=row, col=1)  # fmt: skip
    fig.update_yaxes(type="log", row=7, col=1)
    fig.update_yaxes(type="log", row=8, col=1)
    _episodes(fig, timeline)
    fig.update_xaxes(range=[timeline.start_x, timeline.end_x], dtick=1)
    fig.update_xaxes(title_text="study day (0 = infusion)", row=len(ACUTE_ROWS), col=1)
    return fig


def _grade_band(fig: go.Figure, timeline: Timeline) -> None:
    """Row 5: one marker per assessment and toxicity, coloured by grade; sign-offs above."""
    p = timeline.points
    for toxicity in ("CRS", "ICANS"):
        status = p[f"{toxicity.lower()}_status"]
        for gradable in (True, False):
            chosen = p[(status != "not_gradable") == gradable]
            if chosen.empty:
                continue
            g, s = chosen[f"{toxicity.lower()}_grade"], chosen[f"{toxicity.lower()}_status"]
            labels = [grade_text(a, b) for a, b in zip(g, s, strict=True)]
            colors = [GRADE_COLORS[int(v)] for v in g] if gradable else NOT_ASSESSED_COLOR
            marker = {"symbol": "square" if gradable else "square-open", "size": 14,
                      "color": colors, "line": {"width": 1, "color": "#444"}}  # fmt: skip
            name = f"{toxicity} grade" if gradable else f"{toxicity} not gradable (not assessed)"
            fig.add_trace(go.Scatter(
                x=_numbers(chosen["x"]), y=[toxicity] * len(chosen), name=name,
                mode="markers+text", text=labels, textposition="middle center",
                textfont={"size": 9, "color": "white" if gradable else "#444"}, marker=marker,
                customdata=list(chosen["record_id"]),
                hovertext=list(chosen[f"{toxicity.lower()}_reason"]),
                hovertemplate="day %{x:.2f} · %{hovertext}<extra></extra>",
            ), row=5, col=1)  # fmt: skip
    signed = [s for s in timeline.signoffs if not s.changed]
    changed = [s for s in timeline.signoffs if s.changed]
    for name, group, color in (("Signed off", signed, "#2ca02c"),
                               ("Changed after sign-off", changed, "#d62728")):  # fmt: skip
        if group:
            fig.add_trace(go.Scatter(
                x=[s.study_day + 0.5 for s in group], y=["signed"] * len(group), name=name,
                mode="markers", marker={"symbol": "star", "size": 14, "color": color},
                hovertext=[f"day {s.study_day} signed by {s.signed_by} at "
                           f"{s.signed_at:%Y-%m-%d %H:%M}" for s in group],
                hovertemplate="%{hovertext}<extra></extra>",
            ), row=5, col=1)  # fmt: skip
    fig.update_yaxes(type="category", categoryorder="array",
                     categoryarray=["ICANS", "CRS", "signed"], row=5, col=1)  # fmt: skip


def _drug_markers(fig: go.Figure, drugs: pd.DataFrame, row: int, groups: tuple[str, ...]) -> None:
    for group in groups:
        given = drugs[drugs["group"] == group]
        if given.empty:
            continue
        hover = [
            f"{d} {v:g} {u}" if pd.notna(v) else str(d)
            for d, v, u in zip(given["drug"], given["dose"], given["dose_unit"], strict=True)
        ]
        fig.add_trace(go.Scatter(x=_numbers(given["x"]), y=[group] * len(given), name=group,
                                 mode="markers", marker={"symbol": "triangle-up", "size": 11},
                                 hovertext=hover,
                                 hovertemplate="day %{x:.2f}: %{hovertext}<extra></extra>"),
                      row=row, col=1)  # fmt: skip
    fig.update_yaxes(type="category", row=row, col=1)


def _episodes(fig: go.Figure, timeline: Timeline) -> None:
    for e in timeline.episodes.to_dict("records"):
        fig.add_vrect(
            x0=max(float(e["onset_x"]), timeline.start_x), x1=float(e["end_x"]), row="all", col=1,
            fillcolor=EPISODE_COLORS.get(str(e["syndrome"]), "#999"), opacity=0.12,
            line_width=0, layer="below",
        )  # fmt: skip
        fig.add_annotation(
            x=float(e["onset_x"]), y=1.0, yref="paper", xanchor="left", showarrow=False,
            text=f"{e['syndrome']} episode {e['episode']} (peak {e['peak_grade']}, {e['status']})",
            font={"size": 10, "color": EPISODE_COLORS.get(str(e["syndrome"]), "#999")},
        )  # fmt: skip


def long_term_figure(timeline: Timeline) -> go.Figure:
    fig = _frame(LONG_TERM_ROWS, [1, 1, 1, 0.5], f"{timeline.patient.patient_id}: long term")
    labs = timeline.labs
    rows = (("cd19_percent", "CD19 (% of lymphocytes)", 1,
             timeline.bcells.aplasia_below_percent_of_lymphocytes, "aplasia below {:g} %"),
            ("cd19_absolute", "CD19 (cells/µL)", 2, timeline.bcells.aplasia_below_cd19_cells_ul,
             "aplasia below {:g} cells/µL"),
            ("igg", "IgG (mg/dL)", 3, timeline.immunoglobulin.igg_threshold_mg_dl,
             "IVIG indicated at ≤ {:g} mg/dL"))  # fmt: skip
    for analyte, name, row, threshold, label in rows:
        lab = labs[labs["analyte"] == analyte]
        fig.add_trace(go.Scatter(x=_numbers(lab["x"]), y=_numbers(lab["value_canonical"]),
                                 name=name, mode="lines+markers"), row=row, col=1)  # fmt: skip
        fig.add_hline(y=threshold, line_dash="dash", line_color="#d62728", row=row, col=1,
                      annotation_text=label.format(threshold),
                      annotation_position="top left")  # fmt: skip
    _drug_markers(fig, timeline.drugs, 4, ("IVIG",))
    fig.update_xaxes(range=[timeline.start_x, timeline.end_x])
    fig.update_xaxes(title_text="study day (0 = infusion)", row=len(LONG_TERM_ROWS), col=1)
    return fig
