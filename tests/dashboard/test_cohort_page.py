"""The cohort page under AppTest, on a copy of the loaded sample (tests/dashboard/conftest.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from dashboard.services.auth import sign_in
from dashboard.store.sample import COHORT

PAGE = str(Path(__file__).resolve().parents[2] / "dashboard" / "app_pages" / "cohort.py")
STUDY_IDS = list(pd.read_csv(COHORT / "patients.csv")["patient_id"])


def open_page(engine: Engine, username: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["actor"] = sign_in(engine, username, f"{username}-demo")
    at.run()
    assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> str:
    parts = [str(e.value) for kind in ("markdown", "caption", "error", "info", "title")
             for e in getattr(at, kind)]  # fmt: skip
    parts += [frame.value.to_csv() for frame in at.dataframe]
    parts += [table.value.to_csv() for table in at.table]
    return "\n".join(parts)


def test_the_researcher_sees_the_cohort_de_identified_with_a_download(
    sample_engine: Engine,
) -> None:
    at = open_page(sample_engine, "researcher")
    assert [(m.label, m.value) for m in at.metric] == [("Patients", "40")]
    frames = [frame.value for frame in at.dataframe]
    incidence = next(f for f in frames if "grade_3_4" in f).set_index(["product", "syndrome"])
    summary = next(f for f in frames if "pseudonym" in f and "ivig_doses" in f)
    assert incidence.loc[("all products", "CRS"), ["patients", "any", "grade_3_4"]].tolist() == [
        40, 30, 2]  # fmt: skip
    assert len(summary) == 40
    assert summary["pseudonym"].str.fullmatch(r"P-[0-9a-f]{12}").all()
    buttons = at.get("download_button")
    assert [b.proto.label for b in buttons] == [
        "Download the per-patient summary (CSV, de-identified)"
    ]
    text = shown(at)
    assert not [pid for pid in STUDY_IDS if pid in text]
    assert "removed: patient_id" in text  # the manifest is on the page
    assert "Sample site" not in text


def test_no_patient_in_the_date_range_shows_a_message_not_an_error(sample_engine: Engine) -> None:
    at = open_page(sample_engine, "researcher")
    at.date_input(key="cohort_dates").set_value((date(2020, 1, 1), date(2020, 1, 31))).run()
    assert not at.exception, at.exception
    assert [i.value for i in at.info][-1].startswith("No patient matches these filters")
    assert not at.metric
    assert not at.get("download_button")


def test_filters_narrow_the_count(sample_engine: Engine) -> None:
    at = open_page(sample_engine, "researcher")
    at.multiselect(key="cohort_products").set_value(["dsg3_caar_t"]).run()
    assert [m.value for m in at.metric] == ["3"]


@pytest.mark.parametrize("username", ["nurse-s01", "physician-s01"])
def test_clinical_roles_cannot_open_the_page(sample_engine: Engine, username: str) -> None:
    at = open_page(sample_engine, username)
    assert [e.value for e in at.error] == [
        f"This page is not available to the {username.split('-')[0]} role."
    ]
    assert not at.dataframe


def test_table_one_can_be_grouped_by_disease(sample_engine: Engine) -> None:
    at = open_page(sample_engine, "researcher")
    by_product = next(f.value for f in at.dataframe if "characteristic" in f.value)
    assert "cd19_car_t" in by_product.columns
    at.segmented_control(key="table1_by").set_value("disease").run()
    assert not at.exception, at.exception
    by_disease = next(f.value for f in at.dataframe if "characteristic" in f.value)
    diseases = set(pd.read_csv(COHORT / "patients.csv")["disease"])
    assert diseases <= set(by_disease.columns)
    n = by_disease[by_disease["characteristic"] == "n"].iloc[0]
    counts = pd.read_csv(COHORT / "patients.csv")["disease"].value_counts()
    assert {d: int(n[d]) for d in diseases} == counts.to_dict()


def test_the_cumulative_incidence_curve_follows_the_chosen_endpoint(sample_engine: Engine) -> None:
    at = open_page(sample_engine, "researcher")
    incidence = next(f.value for f in at.dataframe if "grade_3_4" in f.value)
    any_grade = incidence.set_index(["product", "syndrome"])["any"]

    def counts() -> pd.Series:
        frame = next(f.value for f in at.dataframe if {"endpoint", "events"} <= set(f.value))
        assert set(frame["endpoint"]) == {at.selectbox(key="curve_endpoint").value}
        return frame.set_index("group").loc["all products"]

    crs = counts()
    assert (crs["patients"], crs["events"]) == (40, any_grade[("all products", "CRS")])
    chart = at.get("plotly_chart")
    spec = next(c.proto.spec for c in chart if "Aalen-Johansen" in c.proto.spec)
    at.selectbox(key="curve_endpoint").set_value("icans_onset").run()
    assert not at.exception, at.exception
    icans = counts()
    assert (icans["patients"], icans["events"]) == (40, any_grade[("all products", "ICANS")])
    assert any_grade[("all products", "ICANS")] != any_grade[("all products", "CRS")]
    new_spec = next(
        c.proto.spec for c in at.get("plotly_chart") if "Aalen-Johansen" in c.proto.spec
    )
    assert new_spec != spec
