"""Recording an assessment: the preview grades as the saved course will, saving is all or nothing,
the draft survives, another site's patient is refused, and the page says what it does."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from streamlit.testing.v1 import AppTest

from dashboard.services import entry, entry_records
from dashboard.store.errors import AccessDeniedError, InvalidRecordError
from dashboard.store.schema import AssessmentRow, DraftRow, DrugAdministrationRow, LabResultRow
from dashboard.store.unit_of_work import UnitOfWork
from grading.records import Analyte, Drug, DrugAdministration
from tests.sample_accounts import demo

PAGE = str(Path(__file__).resolve().parents[2] / "dashboard" / "app_pages" / "record.py")
PATIENT = "S01-0002"
AT = datetime(2026, 12, 1, 9, 0)
GRADE_3 = {"temperature": 39.0, "hypotension": "one_vasopressor",
           "oxygen_device": "low_flow_nasal_cannula", "oxygen_l_min": 4.0}  # fmt: skip


def count(engine: Engine, row: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(row)).scalar_one())


def test_preview_is_grade_3_with_the_three_flags(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    context = entry.load_context(sample_engine, nurse, PATIENT)
    result = entry.preview(GRADE_3, context, AT)
    assert result.view.crs is not None
    assert result.view.crs.value == "Grade 3"
    assert [f.action for f in result.view.flags] == ["tocilizumab", "corticosteroids", "icu"]
    assert result.masking is False
    infused = context.patient.infusion_at.date()
    assert result.study_day == (AT.date() - infused).days


def test_a_drug_in_the_log_since_onset_masks_fever(sample_engine: Engine) -> None:
    """Without fever, hypotension grades CRS only when masking applies (R-CRS-2): paracetamol
    given with the entry, during a CRS episode that began with fever, is read from the log."""
    nurse = demo(sample_engine, "nurse-s01")
    with UnitOfWork(sample_engine, nurse) as uow:
        from grading import Assessment

        uow.assessments.add(Assessment(patient_id=PATIENT, observed_at=AT - timedelta(hours=4),
                                       temperature_c=38.6, hypotension="none",
                                       oxygen_device="room_air"))  # fmt: skip
        uow.commit()
    context = entry.load_context(sample_engine, nurse, PATIENT)
    afebrile = {"temperature": 37.0, "hypotension": "fluid_responsive", "oxygen_device": "room_air"}
    unmasked = entry.preview(afebrile, context, AT)
    paracetamol = DrugAdministration(patient_id=PATIENT, given_at=AT - timedelta(hours=1),
                                     drug=Drug.PARACETAMOL, dose=1000, dose_unit="mg")  # fmt: skip
    masked = entry.preview(afebrile, context, AT, [paracetamol])
    assert unmasked.masking is False
    assert masked.masking is True
    assert unmasked.view.crs is not None
    assert unmasked.view.crs.value != "Grade 2"
    assert masked.view.crs is not None
    assert masked.view.crs.value == "Grade 2"


def test_save_stores_everything_and_raises_the_alert(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    context = entry.load_context(sample_engine, nurse, PATIENT)
    result = entry.preview(GRADE_3, context, AT)
    labs, problems = entry_records.labs(PATIENT, AT, {Analyte.CRP: (120.0, "mg/L")})
    assert problems == []
    entry.save_draft(sample_engine, nurse, PATIENT, {"temperature": 39.0})
    before = count(sample_engine, AssessmentRow), count(sample_engine, LabResultRow)
    saved = entry.save(sample_engine, nurse, PATIENT, result.view, AT, {"heart_rate_bpm": 118.0},
                       labs)  # fmt: skip
    assert (count(sample_engine, AssessmentRow), count(sample_engine, LabResultRow)) == (
        before[0] + 1, before[1] + 1)  # fmt: skip
    with UnitOfWork(sample_engine, nurse) as uow:
        stored = [s for s in uow.assessments.current(PATIENT) if s.record_id == saved.record_id]
    assert stored[0].values.heart_rate_bpm == 118.0
    assert stored[0].values.antipyretic_or_anticytokine_given is None  # derived, never stored
    assert entry.load_draft(sample_engine, nurse, PATIENT) is None
    crs = [a for a in saved.open_alerts if a.rule_id == "CRS-GRADE" and a.finding_at == AT]
    assert [a.severity for a in crs] == ["critical"]


def test_an_invalid_drug_row_names_row_field_and_value_and_nothing_is_stored(
    sample_engine: Engine,
) -> None:
    drugs, problems = entry_records.drugs(
        PATIENT, AT, [{"drug": "tocilizumab", "dose": 640.0, "dose_unit": None}]
    )
    assert drugs == []
    assert len(problems) == 1
    assert problems[0].startswith("drug row 1,")
    assert "640" in problems[0]
    assert "unit" in problems[0]
    nurse = demo(sample_engine, "nurse-s01")
    context = entry.load_context(sample_engine, nurse, PATIENT)
    view = entry.preview({"temperature": 39.0}, context, AT).view
    before = count(sample_engine, AssessmentRow), count(sample_engine, DrugAdministrationRow)
    bad = DrugAdministration.model_construct(
        patient_id="S02-0001", given_at=AT, drug=Drug.TOCILIZUMAB, dose=8, dose_unit="mg/kg"
    )
    with pytest.raises(AccessDeniedError):  # the drug row is another site's: all rolled back
        entry.save(sample_engine, nurse, PATIENT, view, AT, {}, (), [bad])
    assert (
        count(sample_engine, AssessmentRow),
        count(sample_engine, DrugAdministrationRow),
    ) == before


def test_a_view_with_errors_is_not_saved(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    context = entry.load_context(sample_engine, nurse, PATIENT)
    view = entry.preview({"temperature": 52.0}, context, AT).view
    assert "temperature" in view.errors
    with pytest.raises(InvalidRecordError):
        entry.save(sample_engine, nurse, PATIENT, view, AT, {})


def test_another_sites_patient_is_refused(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    assert all(p.site_id == "S01" for p in entry.patients(sample_engine, nurse))
    with pytest.raises(AccessDeniedError):
        entry.load_context(sample_engine, nurse, "S02-0001")


@pytest.mark.parametrize(
    ("field", "value", "unusual"),
    [("heart_rate_bpm", 160.0, False), ("heart_rate_bpm", 161.0, True),
     ("spo2_pct", 88.0, False), ("spo2_pct", 87.0, True)],
)  # fmt: skip
def test_unusual_values_need_a_check_on_both_sides_of_the_cut(
    field: str, value: float, unusual: bool
) -> None:
    assert bool(entry.warnings({}, {field: value})) is unusual


def test_fever_above_41_needs_a_check_and_fahrenheit_is_converted_first() -> None:
    assert entry.warnings({"temperature": 41.0}, {}) == []
    assert entry.warnings({"temperature": 41.1}, {}) != []
    assert entry.warnings({"temperature": 105.0, "temperature_unit": "F"}, {}) == []


# --- the page ---------------------------------------------------------------------------------


def page(engine: Engine, username: str, patient: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["actor"] = demo(engine, username)
    if patient:
        at.query_params["patient"] = patient
    return at.run()


def test_the_page_previews_then_saves(sample_engine: Engine) -> None:
    at = page(sample_engine, "nurse-s01")
    assert not at.exception
    at.selectbox(key="patient").select(PATIENT).run()
    at.number_input(key="temperature").set_value(39.0)
    at.selectbox(key="hypotension").select("one_vasopressor")
    at.selectbox(key="oxygen_device").select("low_flow_nasal_cannula")
    at.number_input(key="oxygen_l_min").set_value(4.0).run()
    assert {m.label: m.value for m in at.metric}["CRS"] == "Grade 3"
    before = count(sample_engine, AssessmentRow)
    at.button(key="save").click().run()
    assert not at.exception
    assert count(sample_engine, AssessmentRow) == before + 1
    assert at.success[0].value.startswith("Saved assessment")


def test_typing_is_kept_as_a_draft_and_restored(sample_engine: Engine) -> None:
    at = page(sample_engine, "nurse-s01", PATIENT)
    at.number_input(key="temperature").set_value(38.4).run()
    assert count(sample_engine, DraftRow) == 1
    again = page(sample_engine, "nurse-s01", PATIENT)  # a new session: the connection dropped
    assert again.number_input(key="temperature").value == 38.4
    assert "draft" in again.info[-1].value


def test_unusual_values_block_saving_until_checked(sample_engine: Engine) -> None:
    at = page(sample_engine, "nurse-s01", PATIENT)
    at.number_input(key="temperature").set_value(39.0)
    at.number_input(key="heart_rate_bpm").set_value(190).run()
    assert at.button(key="save").disabled
    at.checkbox(key="confirm_unusual").check().run()
    assert not at.button(key="save").disabled


def test_another_sites_patient_by_url_is_refused(sample_engine: Engine) -> None:
    at = page(sample_engine, "nurse-s01", "S02-0001")
    assert "not a patient of your sites" in at.error[0].value
    assert len(at.metric) == 0


def test_a_researcher_cannot_open_the_page(sample_engine: Engine) -> None:
    at = page(sample_engine, "researcher")
    assert at.error[0].value == "This page is not available to the researcher role."
