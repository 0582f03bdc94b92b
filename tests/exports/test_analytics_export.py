"""The analytics export (tables and figures for a paper) on a copy of the loaded sample."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from dashboard.exports import analytics_export
from dashboard.exports.source import ExportRequest
from dashboard.figures import incidence
from dashboard.services.exports import run_export
from dashboard.store.access import Actor
from dashboard.store.errors import AccessDeniedError
from dashboard.store.sample import COHORT
from tests.sample_accounts import demo

PATIENTS = pd.read_csv(COHORT / "patients.csv")


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


@pytest.fixture(scope="module")
def written(module_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One analytics export of the sample for the module (its figures take a browser's time)."""
    if incidence.find_browser() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "CI=true: Chromium is required for the PNG/SVG figures (.ci/run installs it)"
            )
        pytest.skip("no Chrome/Chromium: apt-get install chromium to run the figure export")
    out = tmp_path_factory.mktemp("analytics") / "out"
    paths = run_export(module_engine, demo(module_engine, "researcher"), "analytics",
                       ExportRequest(), out)  # fmt: skip
    return {p.relative_to(out).as_posix(): p for p in paths}


def test_tables_and_figures_are_written(written: dict[str, Path]) -> None:
    for endpoint in ("crs_onset", "icans_onset", "bcell_recovery", "ivig_start"):
        png = written[f"figures/cumulative_incidence_{endpoint}.png"].read_bytes()
        svg = written[f"figures/cumulative_incidence_{endpoint}.svg"].read_text(encoding="utf-8")
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert "<svg" in svg
    assert "figures/incidence_CRS.png" in written
    manifest = json.loads(written["manifest.json"].read_text(encoding="utf-8"))
    assert manifest["figures"] == "PNG and SVG written"
    assert manifest["patients"] == "40"


def test_crs_onset_curve_reaches_the_crude_proportion(written: dict[str, Path]) -> None:
    counts = read(written["curve_counts.csv"]).set_index(["endpoint", "group"])
    crs = counts.loc[("crs_onset", "all products")]
    # 30 of the 40 sample patients have a CRS episode (the cohort page's incidence, any grade)
    assert (crs["patients"], crs["events"]) == (40, 30)
    curves = read(written["cumulative_incidence_curves.csv"])
    crs_curve = curves[(curves["endpoint"] == "crs_onset") & (curves["group"] == "all products")]
    # every onset falls in days 0-14, before any censoring or competing event (those come at the
    # last follow-up, months later): Aalen-Johansen then equals the crude proportion 30/40
    assert crs_curve["cumulative_incidence"].max() == pytest.approx(30 / 40)
    assert crs_curve.loc[crs_curve["time_days"] <= 14, "cumulative_incidence"].max() == (
        pytest.approx(30 / 40))  # fmt: skip
    at_risk = read(written["numbers_at_risk.csv"])
    day0 = at_risk[(at_risk["endpoint"] == "crs_onset") & (at_risk["group"] == "all products")]
    assert day0.iloc[0]["time_days"] == 0
    assert day0.iloc[0]["at_risk"] == 40


def test_table_one_by_disease_counts_the_sample(written: dict[str, Path]) -> None:
    table = read(written["table1_by_disease.csv"])
    n = table[table["characteristic"] == "n"].iloc[0]
    assert {d: int(n[d]) for d in PATIENTS["disease"].unique()} == (
        PATIENTS["disease"].value_counts().to_dict())  # fmt: skip
    by_product = read(written["table1_by_product.csv"])
    n = by_product[by_product["characteristic"] == "n"].iloc[0]
    assert {p: int(n[p]) for p in PATIENTS["product"].unique()} == (
        PATIENTS["product"].value_counts().to_dict())  # fmt: skip


def test_no_study_id_in_any_file(written: dict[str, Path]) -> None:
    for name, path in written.items():
        data = path.read_bytes()
        assert not [pid for pid in PATIENTS["patient_id"] if pid.encode() in data], name


def test_without_a_browser_the_tables_are_written_and_the_gap_is_said(
    sample_engine: Engine, researcher: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incidence, "find_browser", lambda: None)
    paths = analytics_export.write_analytics(sample_engine, researcher, ExportRequest(), tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in paths}
    assert "figures/NOT_WRITTEN.txt" in names
    assert not [n for n in names if n.endswith((".png", ".svg"))]
    assert "apt-get install chromium" in (tmp_path / "figures" / "NOT_WRITTEN.txt").read_text()
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["figures"].startswith("not written: No Chrome or Chromium found")


def test_a_nurse_cannot_export_analytics(sample_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(AccessDeniedError):
        run_export(sample_engine, demo(sample_engine, "nurse-s01"), "analytics", ExportRequest(),
                   out)  # fmt: skip
    assert not out.exists()
