"""Cumulative incidence figure: the traces hold the estimated values (not just shapes), the table
under the plot holds the numbers at risk, and PNG/SVG files are written through kaleido.

The file tests need Chrome/Chromium (Debian's ``/usr/bin/chromium``, or BROWSER_PATH). Without
one they are skipped locally and FAIL under CI (``CI=true``), as the browser tests do
(tests/browser/conftest.py), so a CI image that lost its browser cannot pass silently.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard.analytics.cumulative_incidence import ALL, IncidenceCurve, cumulative_incidence
from dashboard.figures import incidence
from dashboard.figures.incidence import (
    FigureExportError,
    find_browser,
    incidence_figure,
    save_figure,
)

# The 8 hand-worked patients of test_cumulative_incidence.py as product "a" (F: 0.125 at 0, 0.25
# at 2, 0.40625 from 5; last time 9) and 2 patients as product "b" (event at 1, censored at 3:
# F(1) = 1/2).
TIMES = [0.0, 2.0, 2.0, 3.0, 5.0, 5.0, 7.0, 9.0, 1.0, 3.0]
STATUS = ["event", "event", "competing", "censored", "event", "censored", "competing", "censored",
          "event", "censored"]  # fmt: skip
PRODUCTS = ["a"] * 8 + ["b"] * 2


def results(endpoint: str = "ivig_start") -> list[IncidenceCurve]:
    rows = pd.DataFrame(
        {"endpoint": endpoint, "time_days": TIMES, "status": STATUS, "product": PRODUCTS}
    )
    return cumulative_incidence(rows, at_times=[0, 7, 14, 28, 365])


def traces(figure: go.Figure, group: str) -> dict[str, go.Scatter]:
    """The curve, band and at-risk traces of one group, by role."""
    found = {}
    for trace in figure.data:
        if trace.legendgroup == group and trace.mode == "lines":
            role = "curve" if trace.showlegend is not False else trace.name.rsplit(" ", 1)[-1]
            found[role] = trace
        elif trace.mode == "text" and trace.name == f"{group} at risk":
            found["at_risk"] = trace
    return found


def test_trace_values_are_the_curve_values() -> None:
    computed = results()
    figure = incidence_figure(computed)
    for result in computed:
        own = traces(figure, result.group)
        assert list(own["curve"].x) == result.curve["time_days"].tolist()
        assert list(own["curve"].y) == result.curve["cumulative_incidence"].tolist()
        assert own["curve"].line.shape == "hv"  # steps: the value at t includes events at t
        band = result.curve.dropna(subset=["ci_lower", "ci_upper"])
        assert list(own["lower"].y) == band["ci_lower"].tolist()
        assert list(own["upper"].y) == band["ci_upper"].tolist()
    everyone = traces(figure, ALL)["curve"]
    assert list(everyone.y) == pytest.approx(
        # all 10 by hand: t=0 n=10 F=0.1 S=.9; t=1 n=9 F=.1+.9/9=.2 S=.8; t=2 n=8, 1 event
        # 1 competing: F=.2+.8/8=.3 S=.6; t=3 two censored; t=5 n=4: F=.3+.6/4=.45; then flat
        [0.1, 0.2, 0.3, 0.3, 0.45, 0.45, 0.45]
    )
    assert everyone.name == "all products (n=10)"


def test_numbers_at_risk_table_under_the_plot() -> None:
    computed = results()
    figure = incidence_figure(computed)
    # ivig_start: axis to the first table day after the last time (9) -> 14; days 0, 7, 14.
    # at risk (time >= t): day 0 everyone; day 7 a's patients at 7 and 9; day 14 nobody
    assert traces(figure, "a")["at_risk"].text == ("8", "2", "0")
    assert traces(figure, "b")["at_risk"].text == ("2", "0", "0")
    assert traces(figure, ALL)["at_risk"].text == ("10", "2", "0")
    assert list(traces(figure, ALL)["at_risk"].x) == [0.0, 7.0, 14.0]
    assert traces(figure, ALL)["at_risk"].yaxis == "y2"  # the second row
    assert figure.layout.xaxis.range == pytest.approx((-0.28, 14.28))
    assert list(figure.layout.xaxis2.tickvals) == [0.0, 7.0, 14.0]


def test_crs_and_icans_default_to_the_acute_window_and_max_day_overrides() -> None:
    crs = incidence_figure(results("crs_onset"))
    assert crs.layout.xaxis.range == pytest.approx((-0.56, 28.56))
    assert traces(crs, ALL)["at_risk"].text == ("10", "2", "0", "0")
    wide = incidence_figure(results("crs_onset"), max_day=365)
    assert traces(wide, ALL)["at_risk"].text == ("10", "2", "0", "0", "0")
    # the trace keeps the whole curve whatever the axis shows
    assert list(traces(crs, ALL)["curve"].x)[-1] == 9.0


def test_title_names_the_endpoint_method_and_competing_events() -> None:
    title = incidence_figure(results("bcell_recovery")).layout.title.text
    assert title == (
        "Cumulative incidence of B-cell recovery (Aalen-Johansen), competing: death, re-treatment"
    )


def test_band_is_optional() -> None:
    figure = incidence_figure(results(), show_ci=False)
    assert not any(trace.fill == "tonexty" for trace in figure.data)
    assert len(figure.data) == 2 * 3  # a curve and a table row per group


def test_one_endpoint_per_figure() -> None:
    with pytest.raises(ValueError, match="one endpoint per figure"):
        incidence_figure([*results("crs_onset"), *results("ivig_start")])


def test_a_group_without_patients_at_risk_keeps_its_table_row() -> None:
    rows = pd.DataFrame({"endpoint": "bcell_recovery", "time_days": [np.nan, 3.0],
                         "status": ["not_at_risk", "event"], "product": ["x", "y"]})  # fmt: skip
    figure = incidence_figure(cumulative_incidence(rows, at_times=[0, 7]))
    assert "curve" not in traces(figure, "x")
    assert traces(figure, "x")["at_risk"].text == ("0", "0")


# --- files ------------------------------------------------------------------------------------


def test_unsupported_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FigureExportError, match=r"\.png or \.svg"):
        save_figure(incidence_figure(results()), tmp_path / "figure.pdf")


def test_no_browser_raises_an_error_saying_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chromium"))
    assert find_browser() is None
    with pytest.raises(FigureExportError, match="apt-get install chromium"):
        save_figure(incidence_figure(results()), tmp_path / "figure.png")
    assert not (tmp_path / "figure.png").exists()


def test_a_browser_start_failure_is_reported_with_the_same_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Kaleido requires Google Chrome to be installed.")

    monkeypatch.setattr(incidence, "find_browser", lambda: "/usr/bin/chromium")
    monkeypatch.setattr(go.Figure, "write_image", fail)
    with pytest.raises(FigureExportError, match="BROWSER_PATH"):
        save_figure(incidence_figure(results()), tmp_path / "figure.svg")


@pytest.fixture
def browser() -> str:
    path = find_browser()
    if path is None:
        message = f"no Chrome/Chromium for kaleido. {incidence.HOW_TO_GET_A_BROWSER}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the figure file tests cannot run: {message}", pytrace=False)
        pytest.skip(message)
    return path


def test_png_file_has_the_requested_size(browser: str, tmp_path: Path) -> None:
    figure = incidence_figure(results())
    path = save_figure(figure, tmp_path / "incidence.png", width=700, height=500, scale=2)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR: width, height in pixels
    assert (width, height) == (1400, 1000)


def test_svg_file_holds_the_title_and_the_numbers_at_risk(browser: str, tmp_path: Path) -> None:
    path = save_figure(incidence_figure(results()), tmp_path / "incidence.svg")
    svg = path.read_text()
    assert svg.lstrip().startswith("<svg")
    assert "(Aalen-Johansen), competing: death, re-treatment" in svg
    assert "all products (n=10)" in svg
    assert ">10</text>" in svg  # the all-products count at day 0
