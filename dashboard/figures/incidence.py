"""Cumulative incidence figures (Aalen-Johansen) with a numbers-at-risk table, and their PNG/SVG
files for papers (no Streamlit here).

One figure per endpoint: a step curve per group (each product, all products in black) from
:func:`dashboard.analytics.cumulative_incidence.cumulative_incidence`, its pointwise confidence
band (optional), and under the plot, sharing the day axis, the numbers at risk (time >= t) of each
group at the table's days. The curves are drawn exactly as estimated: values are proportions
(the axis shows per cent), and steps are horizontal then vertical (``hv``), so the value at t
includes the events at t.

The visible day axis (``max_day``) defaults to the acute window, day 0-28, for CRS and ICANS onset
(criteria.md 7.4: acute phase day 0-28, where nearly all onsets fall), and otherwise to the first
table day at or after the last observed time. Only the axis is cut: each trace holds the whole
curve (zoom out on the page), and the table lists the days up to ``max_day``.

Static files go through plotly's ``write_image`` with kaleido 1.x, which drives a Chrome or
Chromium installed on the machine (it no longer ships one): kaleido's own lookup finds it through
the ``BROWSER_PATH`` environment variable, the ``PATH`` (``chromium``, ``google-chrome``, ...)
or the usual install paths (``/usr/bin/chromium``). Without one, :func:`save_figure` raises
:class:`FigureExportError` saying how to get one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.analytics.cumulative_incidence import ALL, IncidenceCurve
from dashboard.analytics.endpoints import ENDPOINTS

TITLE = "Cumulative incidence of {endpoint} (Aalen-Johansen), competing: death, re-treatment"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
ALL_COLOR = "#000000"
#: Default visible days per endpoint (module docstring).
VIEW_DAYS = {"crs_onset": 28.0, "icans_onset": 28.0}
FORMATS = {".png": "png", ".svg": "svg"}
HOW_TO_GET_A_BROWSER = (
    "Writing PNG or SVG files needs Chrome or Chromium (kaleido >= 1 drives the browser installed "
    "on the machine). Install one (Debian/Ubuntu: `apt-get install chromium`; or Google Chrome), "
    "or point the BROWSER_PATH environment variable at its executable. `plotly_get_chrome` "
    "downloads one instead, where the machine may reach the internet."
)


class FigureExportError(RuntimeError):
    """A figure could not be written as a file (no browser, or an unsupported format)."""


def _color(group: str, position: int) -> str:
    return ALL_COLOR if group == ALL else PALETTE[position % len(PALETTE)]


def _translucent(color: str, alpha: float = 0.15) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def _band(result: IncidenceCurve, color: str) -> list[go.Scatter]:
    """The confidence band: the lower bound (no line), then the upper filled down to it; only
    where the interval exists (none where the estimate is 0, see the estimator's docstring)."""
    band = result.curve.dropna(subset=["ci_lower", "ci_upper"])
    if band.empty:
        return []
    common = {"line_shape": "hv", "mode": "lines", "legendgroup": result.group,
              "showlegend": False, "hoverinfo": "skip", "line": {"width": 0, "color": color}}  # fmt: skip
    return [
        go.Scatter(x=band["time_days"], y=band["ci_lower"], name=f"{result.group} CI lower",
                   **common),
        go.Scatter(x=band["time_days"], y=band["ci_upper"], name=f"{result.group} CI upper",
                   fill="tonexty", fillcolor=_translucent(color), **common),
    ]  # fmt: skip


def _default_max_day(results: Sequence[IncidenceCurve]) -> float:
    """The first table day at or after the last observed time (all table days if none is)."""
    last = max((float(r.curve["time_days"].max()) for r in results if len(r.curve)), default=0.0)
    days = sorted({float(t) for r in results for t in r.at_risk["time_days"]})
    later = [t for t in days if t >= last]
    return later[0] if later else max([last, *days])


def incidence_figure(
    results: Sequence[IncidenceCurve],
    show_ci: bool = True,
    max_day: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """One endpoint's curves (one trace per group, named by the group) with the numbers at risk
    underneath. ``results`` are the groups of a single endpoint; ``max_day`` limits the axis and
    the table's columns (default: the first table day after the last observed time)."""
    endpoints = {r.endpoint for r in results}
    if len(endpoints) > 1:
        raise ValueError(f"one endpoint per figure, got {sorted(endpoints)}")
    endpoint = next(iter(endpoints), "")
    label = ENDPOINTS.get(endpoint, endpoint)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22],
                           vertical_spacing=0.08)  # fmt: skip
    if max_day is None:
        max_day = VIEW_DAYS.get(endpoint) or _default_max_day(results)
    groups = [r.group for r in results]
    for position, result in enumerate(results):
        color = _color(result.group, position)
        curve = result.curve
        if show_ci:
            for trace in _band(result, color):
                figure.add_trace(trace, row=1, col=1)
        if len(curve):
            figure.add_trace(
                go.Scatter(
                    x=curve["time_days"], y=curve["cumulative_incidence"],
                    name=f"{result.group} (n={result.patients})",
                    legendgroup=result.group, mode="lines", line_shape="hv",
                    line={"color": color, "width": 2.5 if result.group == ALL else 2},
                    customdata=np.stack([curve["ci_lower"], curve["ci_upper"]], axis=-1),
                    hovertemplate=f"{result.group}<br>day %{{x:.1f}}: %{{y:.1%}} "
                    "(95% CI %{customdata[0]:.1%} to %{customdata[1]:.1%})<extra></extra>",
                ),
                row=1, col=1,
            )  # fmt: skip
        table = result.at_risk[result.at_risk["time_days"] <= max_day]
        figure.add_trace(
            go.Scatter(
                x=table["time_days"], y=[result.group] * len(table), mode="text",
                text=[str(n) for n in table["at_risk"]], textfont={"color": color},
                name=f"{result.group} at risk", showlegend=False,
                hovertemplate=f"{result.group}: %{{text}} at risk at day %{{x}}<extra></extra>",
            ),
            row=2, col=1,
        )  # fmt: skip
    days = sorted({float(t) for r in results for t in r.at_risk["time_days"] if t <= max_day})
    figure.update_layout(
        title={"text": title or TITLE.format(endpoint=label), "font": {"size": 15}},
        template="plotly_white",
        height=520 + 22 * len(groups),
        legend={"title": {"text": "Group"}},
        margin={"l": 110, "r": 30, "t": 70, "b": 50},
    )
    figure.update_yaxes(title_text="Cumulative incidence", tickformat=".0%", range=[-0.01, 1.01],
                        row=1, col=1)  # fmt: skip
    figure.update_yaxes(title_text="Number at risk", type="category",
                        categoryorder="array", categoryarray=list(reversed(groups)),
                        showgrid=False, row=2, col=1)  # fmt: skip
    figure.update_xaxes(range=[-0.02 * max_day, max_day * 1.02], tickvals=days)  # both rows
    figure.update_xaxes(title_text="Days since infusion", showgrid=False, row=2, col=1)
    return figure


def find_browser() -> str | None:
    """The Chrome/Chromium kaleido would start (BROWSER_PATH first, then its own search), or
    None when there is none or the path is not an executable file."""
    from choreographer.browsers.chromium import Chromium  # kaleido's browser finder

    path = Chromium.find_browser(skip_local=False)
    if path and Path(path).is_file() and os.access(path, os.X_OK):
        return path
    return None


#: Tries of one image before it is given up (kaleido's browser can fail once under load).
WRITE_ATTEMPTS = 3


def save_figure(
    figure: go.Figure, path: str | Path, width: int = 900, height: int | None = None,
    scale: float = 2.0,
) -> Path:  # fmt: skip
    """Write ``figure`` as PNG or SVG (by the file's suffix) and return the path.

    FigureExportError, saying how to get one, when no Chrome/Chromium is found (module docstring)
    or the suffix is neither .png nor .svg."""
    target = Path(path)
    image_format = FORMATS.get(target.suffix.lower())
    if image_format is None:
        raise FigureExportError(f"{target.name}: write a .png or .svg file")
    if find_browser() is None:
        raise FigureExportError(f"No Chrome or Chromium found. {HOW_TO_GET_A_BROWSER}")
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            figure.write_image(target, format=image_format, width=width,
                               height=height or figure.layout.height, scale=scale)  # fmt: skip
            return target
        except RuntimeError as error:  # kaleido's "requires Google Chrome", browser start failures
            # A loaded machine can make kaleido's page answer before its script is ready
            # ("kaleido_scopes is not defined", seen once): a fresh try starts a new page.
            if attempt == WRITE_ATTEMPTS:
                raise FigureExportError(f"{error}\n{HOW_TO_GET_A_BROWSER}") from error
    raise AssertionError("unreachable")  # pragma: no cover
