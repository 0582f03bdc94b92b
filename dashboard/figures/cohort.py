"""Cohort figures (researcher view): the swimmer plot and incidence by grade, from the
de-identified frames of :class:`dashboard.services.cohort.CohortView` (no Streamlit here).

Swimmer plot: one horizontal bar per patient (pseudonym) from study day 0 to the last follow-up;
CRS episodes (wide) and ICANS episodes (narrow, on top) drawn over it from onset to resolution
(to the last follow-up while ongoing, hatched), coloured by the episode's highest grade;
tocilizumab (diamond) and corticosteroid (triangle) doses as markers on the day given.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

#: Grade 1 ... 5 (grade 0 is no episode), the same scale as the patient timeline.
GRADE_COLORS = {1: "#e6c229", 2: "#ff7f0e", 3: "#d62728", 4: "#8b0000", 5: "#000000"}
LANE_COLOR = "#cfd8dc"
EPISODE_WIDTH = {"CRS": 0.7, "ICANS": 0.35}
MARKERS = {"tocilizumab": ("diamond", "#1f77b4"), "steroid": ("triangle-up", "#2ca02c")}
ROW_PX = 22


def lane_order(lanes: pd.DataFrame) -> list[str]:
    """Pseudonyms top to bottom: by product, then highest CRS and ICANS grade, then follow-up."""
    ordered = lanes.sort_values(
        ["product", "crs_max_grade", "icans_max_grade", "follow_up_days", "pseudonym"],
        ascending=[True, False, False, False, True],
        kind="stable",
    )
    return [str(p) for p in ordered["pseudonym"]]


def swimmer(
    lanes: pd.DataFrame,
    episodes: pd.DataFrame,
    markers: pd.DataFrame,
    max_day: float | None = None,
) -> go.Figure:
    """The swimmer plot; ``max_day`` limits the visible axis (the bars keep their true length)."""
    order = lane_order(lanes)
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            name="Follow-up",
            y=lanes["pseudonym"],
            x=lanes["follow_up_days"],
            base=0,
            orientation="h",
            marker_color=LANE_COLOR,
            width=0.8,
            customdata=lanes[["product", "site_id"]],
            hovertemplate="%{y}<br>%{customdata[0]} · %{customdata[1]}<br>"
            "last follow-up day %{x:.1f}<extra></extra>",
        )
    )
    for syndrome in ("CRS", "ICANS"):
        own = episodes[episodes["syndrome"] == syndrome]
        for grade, color in GRADE_COLORS.items():
            part = own[own["peak_grade"] == grade]
            if part.empty:
                continue
            figure.add_trace(
                go.Bar(
                    name=f"{syndrome} grade {grade}",
                    legendgroup=syndrome,
                    y=part["pseudonym"],
                    x=part["end_day"] - part["start_day"],
                    base=part["start_day"],
                    orientation="h",
                    width=EPISODE_WIDTH[syndrome],
                    marker={
                        "color": color,
                        "pattern": {"shape": ["/" if o else "" for o in part["ongoing"]]},
                    },
                    customdata=part[["start_day", "end_day"]],
                    hovertemplate=f"%{{y}}<br>{syndrome} grade {grade}<br>day "
                    "%{customdata[0]:.1f} to %{customdata[1]:.1f}<extra></extra>",
                )
            )
    for kind, (symbol, color) in MARKERS.items():
        part = markers[markers["kind"] == kind]
        if part.empty:
            continue
        figure.add_trace(
            go.Scatter(
                name="Corticosteroid" if kind == "steroid" else "Tocilizumab",
                y=part["pseudonym"],
                x=part["day"],
                mode="markers",
                marker={"symbol": symbol, "color": color, "size": 9,
                        "line": {"width": 1, "color": "white"}},
                hovertemplate=f"%{{y}}<br>{kind} day %{{x:.2f}}<extra></extra>",
            )
        )  # fmt: skip
    x_range = [0, max_day] if max_day is not None else None
    figure.update_layout(
        barmode="overlay",
        height=max(260, 120 + ROW_PX * len(order)),
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
        xaxis={"title": "Study day (day 0 = infusion)", "range": x_range, "zeroline": True},
        yaxis={"categoryorder": "array", "categoryarray": order[::-1], "title": None},
    )
    return figure


def incidence_bars(incidence: pd.DataFrame, syndrome: str) -> go.Figure:
    """Patients (%) by highest grade band, one bar per product (stacked: 1-2, 3-4, 5)."""
    rows = incidence[incidence["syndrome"] == syndrome]
    figure = go.Figure()
    bands = (("grade_1_2", "grade 1-2", GRADE_COLORS[1]), ("grade_3_4", "grade 3-4",
             GRADE_COLORS[3]), ("grade_5", "grade 5", GRADE_COLORS[5]))  # fmt: skip
    for column, label, color in bands:
        figure.add_trace(
            go.Bar(
                name=label,
                x=rows["product"],
                y=rows[f"{column}_pct"],
                marker_color=color,
                customdata=rows[[column, "patients"]],
                hovertemplate=f"%{{x}}<br>{label}: %{{customdata[0]}} of %{{customdata[1]}} "
                "(%{y:.1f}%)<extra></extra>",
            )
        )
    figure.update_layout(
        barmode="stack",
        title=f"{syndrome}: patients by highest grade",
        yaxis={"title": "% of patients", "range": [0, 100]},
        height=320,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure
