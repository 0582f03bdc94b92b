"""Corrections from the record page: a new version with who, when, old, new and reason; a stale
version is refused with the other person's change; a withdrawal keeps the values readable."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from dashboard.services import corrections
from dashboard.services.signoff import sign_off
from dashboard.store.errors import ConflictError, InvalidRecordError, ReasonRequiredError
from dashboard.store.schema import AuditEntry
from tests.sample_accounts import demo

PAGE = str(Path(__file__).resolve().parents[2] / "dashboard" / "app_pages" / "record.py")
PATIENT = "S01-0002"


def test_a_correction_is_a_new_version_with_old_new_and_reason(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    latest = corrections.recent(sample_engine, nurse, PATIENT)[0]
    old = latest.values["temperature_c"]
    stored = corrections.correct(sample_engine, nurse, latest.record_id, latest.version,
                                 {"temperature_c": 39.2}, "typed 37.2 for 39.2")  # fmt: skip
    assert (stored.version, stored.values.temperature_c) == (latest.version + 1, 39.2)
    versions = corrections.history(sample_engine, nurse, latest.record_id)
    assert [v.status for v in versions][-2:] == ["superseded", "current"]
    assert versions[-2].values.temperature_c == old  # the old value stays readable
    with Session(sample_engine) as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "correct")
                                   .order_by(AuditEntry.seq.desc())).scalars().first()  # fmt: skip
    assert entry is not None
    assert entry.actor == "nurse-s01"
    assert entry.detail["changes"] == {"temperature_c": {"old": old, "new": 39.2}}
    assert entry.detail["reason"] == "typed 37.2 for 39.2"


def test_a_blank_reason_is_refused(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    latest = corrections.recent(sample_engine, nurse, PATIENT)[0]
    with pytest.raises(ReasonRequiredError):
        corrections.correct(sample_engine, nurse, latest.record_id, latest.version,
                            {"temperature_c": 39.2}, "  ")  # fmt: skip


def test_an_invalid_value_names_field_and_value(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    latest = corrections.recent(sample_engine, nurse, PATIENT)[0]
    with pytest.raises(InvalidRecordError) as refused:
        corrections.correct(sample_engine, nurse, latest.record_id, latest.version,
                            {"temperature_c": 52.0}, "wrong value")  # fmt: skip
    assert "temperature_c = 52.0" in str(refused.value.problems)


def test_the_second_of_two_editors_is_refused_and_shown_the_first_change(
    sample_engine: Engine,
) -> None:
    nurse, physician = demo(sample_engine, "nurse-s01"), demo(sample_engine, "physician-s01")
    seen = corrections.recent(sample_engine, nurse, PATIENT)[0]
    corrections.correct(sample_engine, physician, seen.record_id, seen.version,
                        {"temperature_c": 38.1}, "re-measured")  # fmt: skip
    with pytest.raises(ConflictError) as conflict:
        corrections.correct(sample_engine, nurse, seen.record_id, seen.version,
                            {"temperature_c": 38.9}, "my reading")  # fmt: skip
    assert conflict.value.theirs["entered_by"] == "physician-s01"
    assert conflict.value.theirs["values"]["temperature_c"] == 38.1
    versions = corrections.history(sample_engine, nurse, seen.record_id)
    assert versions[-1].values.temperature_c == 38.1  # the first editor's work stands


def test_withdrawal_keeps_the_values_and_leaves_the_current_list(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    latest = corrections.recent(sample_engine, nurse, PATIENT)[0]
    corrections.withdraw(sample_engine, nurse, latest.record_id, latest.version, "wrong patient")
    assert latest.record_id not in [r.record_id for r in corrections.recent(sample_engine, nurse,
                                                                            PATIENT)]  # fmt: skip
    versions = corrections.history(sample_engine, nurse, latest.record_id)
    assert versions[-1].status == "withdrawn"
    assert versions[-1].values.temperature_c == latest.values["temperature_c"]


def test_a_signed_off_day_is_named_in_the_list(sample_engine: Engine) -> None:
    nurse, physician = demo(sample_engine, "nurse-s01"), demo(sample_engine, "physician-s01")
    latest = corrections.recent(sample_engine, nurse, PATIENT)[0]
    assert latest.signed_off_by is None
    with sample_engine.connect() as connection:
        from dashboard.store.schema import Patient

        infused: datetime = connection.execute(
            select(Patient.infusion_at).where(Patient.patient_id == PATIENT)
        ).scalar_one()
    day = (latest.observed_at.date() - infused.date()).days
    sign_off(sample_engine, physician, PATIENT, day, "reviewed")
    assert corrections.recent(sample_engine, nurse, PATIENT)[0].signed_off_by == "physician-s01"


def test_options_of_coded_and_free_fields() -> None:
    assert corrections.options("hypotension") is not None
    assert "one_vasopressor" in (corrections.options("hypotension") or ())
    assert corrections.options("temperature_c") is None


def test_the_page_corrects_with_a_reason(sample_engine: Engine) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["actor"] = demo(sample_engine, "nurse-s01")
    at.query_params["patient"] = PATIENT
    at.run()
    at.selectbox(key="correct_field").select("temperature_c").run()
    at.number_input(key="correct_value_temperature_c").set_value(39.4)
    at.button(key="correct_save").click().run()
    assert "needs a reason" in at.error[-1].value  # nothing saved without a reason
    at.text_input(key="correct_reason").input("transcription error")
    at.button(key="correct_save").click().run()
    assert any(s.value.startswith("Correction saved: version") for s in at.success)
