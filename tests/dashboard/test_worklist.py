"""The nurse's worklist: who is in a monitoring window, what is due and overdue, most urgent first;
only my sites; as of a chosen moment."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from dashboard.services.worklist import worklist
from dashboard.store.access import Actor
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.records import Disease, Patient, Product
from tests.sample_accounts import demo

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
INFUSED = datetime(2030, 3, 1, 10, 0)  # after every sample patient's follow-up: alone in its window
NEW = "S01-9001"


def enrol(engine: Engine, nurse: Actor, *assessments: Assessment) -> None:
    with UnitOfWork(engine, nurse) as uow:
        uow.patients.add(Patient(patient_id=NEW, site_id="S01", disease=Disease.SLE,
                                 product=Product.CD19_CAR_T, infusion_at=INFUSED))  # fmt: skip
        for assessment in assessments:
            uow.assessments.add(assessment)
        uow.commit()


@pytest.fixture
def nurse(sample_engine: Engine) -> Actor:
    return demo(sample_engine, "nurse-s01")


def test_a_new_patient_with_nothing_recorded_is_due_from_the_infusion(
    sample_engine: Engine, nurse: Actor
) -> None:
    enrol(sample_engine, nurse)
    rows = worklist(sample_engine, nurse, INFUSED + timedelta(hours=4))
    assert [r.patient_id for r in rows] == [NEW]
    (row,) = rows
    assert row.study_day == 0
    assert row.due == ("vitals since 14:00",)  # every 4 h; neuro every 8 h, labs every 24 h
    assert row.overdue == ()
    assert row.crs_grade is None  # nothing recorded: not graded, never grade 0


def test_overdue_after_the_grace_hour_on_both_sides(sample_engine: Engine, nurse: Actor) -> None:
    enrol(sample_engine, nurse)
    at_grace = worklist(sample_engine, nurse, INFUSED + timedelta(hours=5))[0]
    past_grace = worklist(sample_engine, nurse, INFUSED + timedelta(hours=5, minutes=6))[0]
    assert at_grace.overdue == ()
    assert past_grace.overdue == ("vitals (0.1 h)",)


def test_a_recorded_assessment_moves_the_items_and_shows_its_grade(
    sample_engine: Engine, nurse: Actor
) -> None:
    seen = INFUSED + timedelta(hours=3)
    enrol(sample_engine, nurse, Assessment(
        patient_id=NEW, observed_at=seen, temperature_c=38.5, hypotension="none",
        oxygen_device="room_air", ice_score=10, consciousness="alert", seizure="none",
        motor_weakness="none", cerebral_edema="none"))  # fmt: skip
    (row,) = worklist(sample_engine, nurse, INFUSED + timedelta(hours=6))
    assert row.due == ()
    assert row.next_due == seen + timedelta(hours=4)
    assert (row.crs_grade, row.icans_grade) == (1, 0)
    assert row.last_assessment_at == seen
    assert row.open_alerts >= 1  # CRS grade 1 raises an info alert


def test_as_of_a_moment_before_an_entry_ignores_it(sample_engine: Engine, nurse: Actor) -> None:
    seen = INFUSED + timedelta(hours=3)
    enrol(sample_engine, nurse, Assessment(patient_id=NEW, observed_at=seen, temperature_c=37.0))
    (row,) = worklist(sample_engine, nurse, INFUSED + timedelta(hours=2))
    assert row.last_assessment_at is None
    assert row.crs_grade is None


def test_only_my_sites(sample_engine: Engine, nurse: Actor) -> None:
    at = datetime(2024, 11, 5, 12, 0)
    mine = worklist(sample_engine, nurse, at)
    other = worklist(sample_engine, demo(sample_engine, "nurse-s02"), at)
    assert mine
    assert {r.site_id for r in mine} == {"S01"}
    assert all(r.site_id == "S02" for r in other)


def test_the_nurse_home_page_is_the_worklist(sample_engine: Engine, nurse: Actor) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["actor"] = nurse
    at.run()
    assert not at.exception
    assert at.markdown[0].value == "### Worklist" or "### Worklist" in [
        m.value for m in at.markdown
    ]
    assert "No patient of your sites (S01)" in at.info[-1].value  # today: the sample is old
    at.date_input(key="asof_date").set_value(datetime(2024, 11, 5).date()).run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert any(c.startswith("6 patient(s) in a monitoring window on 2024-11-05") for c in captions)
