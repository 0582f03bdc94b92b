"""The research export page under AppTest, on a copy of the loaded sample (root conftest.py)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from dashboard.services import exports
from dashboard.services.auth import sign_in
from dashboard.store.sample import COHORT

PAGE = str(Path(__file__).resolve().parents[2] / "dashboard" / "app_pages" / "exports.py")
STUDY_IDS = list(pd.read_csv(COHORT / "patients.csv")["patient_id"])


def open_page(engine: Engine, username: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.session_state["actor"] = sign_in(engine, username, f"{username}-demo")
    at.run()
    assert not at.exception, at.exception
    return at


def prepared_zip(at: AppTest) -> zipfile.ZipFile:
    prepared = at.session_state["export_ready"][3]
    return zipfile.ZipFile(io.BytesIO(prepared.data))


def test_a_researcher_prepares_a_tidy_csv_export_of_one_site_and_downloads_it(
    sample_engine: Engine,
) -> None:
    at = open_page(sample_engine, "researcher")
    assert [(m.label, m.value) for m in at.metric] == [("Patients selected", "40")]
    at.multiselect(key="export_sites").set_value(["S02"]).run()
    assert [(m.label, m.value) for m in at.metric] == [("Patients selected", "8")]
    assert not at.get("download_button")  # nothing prepared yet
    at.button(key="export_prepare").click().run()
    assert not at.exception, at.exception
    assert [b.proto.label for b in at.get("download_button")] == [
        "Download cartwatch_tidy_csv_study_day.zip"
    ]
    archive = prepared_zip(at)
    patients = pd.read_csv(archive.open("patients.csv"), comment="#")
    expected = pd.read_csv(COHORT / "patients.csv")
    assert len(patients) == (expected["site_id"] == "S02").sum() == 8
    assert set(patients["site_id"]) == {"S02"}
    text = "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())
    assert not [pid for pid in STUDY_IDS if pid in text]
    # a changed choice drops the prepared file: it no longer matches what is on screen
    at.multiselect(key="export_sites").set_value(["S03"]).run()
    assert not at.get("download_button")


def test_fhir_offers_shifted_dates_only(sample_engine: Engine) -> None:
    at = open_page(sample_engine, "researcher")
    at.radio(key="export_kind").set_value("fhir").run()
    assert at.radio(key="export_dates_fhir").options == [
        "Shifted dates (each patient's dates moved back 1-364 days, fixed per patient) and "
        "study days"
    ]


def test_a_nurse_cannot_open_the_export_page(sample_engine: Engine) -> None:
    at = open_page(sample_engine, "nurse-s01")
    assert not at.metric
    assert not at.get("download_button")
    assert [str(e.value) for e in at.error] == ["This page is not available to the nurse role."]


def test_a_zip_too_large_for_the_browser_gives_the_command_and_a_new_one_replaces_it(
    sample_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(sample_engine, "researcher")
    at.radio(key="export_kind").set_value("registry").run()
    at.button(key="export_prepare").click().run()
    first = at.session_state["export_ready"][3]
    assert first.path.is_file()
    assert first.size == first.path.stat().st_size > 0
    assert [b.proto.label for b in at.get("download_button")] == [
        "Download cartwatch_registry_study_day.zip"
    ]
    # one byte under the zip's size: no download button, the command line instead
    monkeypatch.setattr(exports, "PAGE_DOWNLOAD_MAX_BYTES", first.size - 1)
    at.button(key="export_prepare").click().run()
    assert not at.exception, at.exception
    second = at.session_state["export_ready"][3]
    assert not first.path.exists()  # the earlier zip was deleted when this one replaced it
    assert second.size == first.size
    assert not at.get("download_button")
    assert [str(w.value) for w in at.warning] == [
        f"cartwatch_registry_study_day.zip is {second.size / 1024 / 1024:.1f} MB, too large to "
        "download through the browser. Run the same export on the server: `cartwatch export "
        "registry --out DIR --user USER` with the same filters."
    ]
    # at exactly the limit it is offered again
    monkeypatch.setattr(exports, "PAGE_DOWNLOAD_MAX_BYTES", second.size)
    at.run()
    assert len(at.get("download_button")) == 1
    second.discard()
