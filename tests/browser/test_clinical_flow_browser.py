"""A nurse records an assessment and a physician handles the alert it raises, in a real Chromium.

The two tests share this module's database and run in order: the physician finds the alert of the
assessment the nurse saved. Run alone, the physician's test first saves the same assessment
through the store (as that nurse), so it never depends on the nurse's test having passed.
Clicks and keystrokes of the nurse's full assessment are counted and printed (never asserted on
time). Screenshots go to docs/screenshots/ with CARTWATCH_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_entry import (
    Entry,
    main_text,
    pick,
    screenshot,
    selected,
    sign_in,
    wait_idle,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

PATIENT = "S01-0001"
VASOPRESSOR_ROW = "Hypotension requiring a vasopressor with or without vasopressin"
FLAGS = (
    ("TOCI-CRS-2", "Tocilizumab"),
    ("STEROID-CRS-3", "Corticosteroids"),
    ("ICU-CRS-3", "ICU"),
)
SAVED: dict[str, bool] = {}


def full_assessment(entry: Entry) -> int:
    """Fever 39 °C, one vasopressor, 4 L/min low-flow nasal cannula; vital signs; the five ICE
    items (full marks); the neuro domains normal: CRS grade 3, ICANS grade 0. Returns the clicks
    and keystrokes spent on the five vital signs beyond temperature (reported apart)."""
    for label, value in (
        ("Temperature", "39"),
        ("Heart rate (/min)", "118"),
        ("Systolic BP (mmHg)", "92"),
        ("Diastolic BP (mmHg)", "55"),
        ("SpO2 (%)", "94"),
        ("Respiratory rate (/min)", "22"),
    ):
        entry.type_number(label, value)
        if label == "Temperature":
            before_vitals = entry.clicks + entry.keystrokes
    vitals = entry.clicks + entry.keystrokes - before_vitals
    entry.choose("Oxygen support", "Low-flow nasal cannula")
    entry.type_number("Flow (L/min)", "4")
    entry.choose("Hypotension treatment", "One vasopressor")
    entry.radio("ICE entered as", "Items")
    for label, score in (
        ("Orientation (year, month, city, hospital) (0-4)", "4"),
        ("Naming (3 objects) (0-3)", "3"),
        ("Follows commands (0-1)", "1"),
        ("Writes a sentence (0-1)", "1"),
        ("Counts back from 100 by 10 (0-1)", "1"),
    ):
        entry.type_number(label, score)
    entry.choose("Level of consciousness", "Alert (not depressed)")
    entry.choose("Seizure", "None")
    entry.choose("Motor findings", "None (tremor or myoclonus alone count as none)")
    entry.choose("Raised ICP / cerebral oedema", "None")
    return vitals


@pytest.mark.browser
def test_nurse_records_fever_vasopressor_and_oxygen_sees_grade_3_and_flags_then_saves(
    page: Page, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    sign_in(page, "nurse-s01")
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    # The sample cohort was infused in 2024: its worklist on a day of its monitoring window.
    day = page.get_by_role("group", name="As of date").get_by_role("spinbutton").first
    day.click()
    page.keyboard.type("20241112")
    page.keyboard.press("Tab")
    page.wait_for_timeout(500)
    page.keyboard.press("Escape")  # closes the calendar, commits the date
    waiting = re.compile(r"^\d+ patient\(s\) in a monitoring window on 2024-11-12 ")
    expect(page.get_by_text(waiting)).to_be_visible()
    screenshot(page, "worklist", tmp_path / "worklist.png", height=1000)
    page.get_by_role("link", name="Record assessment").click()
    page.get_by_role("combobox", name="Patient", exact=True).click()
    page.get_by_role("option", name=PATIENT, exact=True).click()
    expect(page.get_by_text(re.compile(rf"^{PATIENT} · "))).to_be_visible()
    wait_idle(page)

    entry = Entry(page)
    started = time.monotonic()
    vitals = full_assessment(entry)

    # Before saving: the grades and flags this entry would produce, with their reasons.
    metrics = page.locator('[data-testid="stMetricValue"]')
    expect(metrics).to_have_text(["Grade 3", "Grade 0"])
    previewed = time.monotonic() - started
    expect(page.get_by_text(re.compile(r"^CRS grade 3 — ")).first).to_contain_text(VASOPRESSOR_ROW)
    for rule_id, action in FLAGS:
        expect(page.locator(f".st-key-flag-{rule_id}")).to_contain_text(f"INDICATED {action}")
    assert "Saved assessment" not in main_text(page)
    screenshot(page, "record", tmp_path / "record.png", height=1500)

    page.get_by_role("button", name="Save assessment", exact=True).click()
    entry.clicks += 1
    saved = page.get_by_text(re.compile(r"^Saved assessment [0-9a-f]{8} "))
    expect(saved).to_be_visible()
    finished = time.monotonic() - started
    expect(page.get_by_text(re.compile(r"open alert\(s\) for this patient"))).to_be_visible()
    SAVED[PATIENT] = True

    with capsys.disabled():
        print("\n" + entry.report("record assessment, to the preview", previewed))
        print(
            f"[record assessment] of which {vitals} for heart rate, blood pressure, SpO2 and "
            f"respiratory rate; saved after {finished:.1f} s (one more click)"
        )


def save_through_the_store(app_database: Path) -> None:
    """The nurse's assessment, saved as nurse-s01 through the store (the physician test alone)."""
    from sqlalchemy import select

    from dashboard.store.access import SYSTEM
    from dashboard.store.database import open_database
    from dashboard.store.schema import User
    from dashboard.store.unit_of_work import UnitOfWork
    from grading import Assessment

    engine = open_database(f"sqlite+pysqlite:///{app_database}")
    try:
        with UnitOfWork(engine, SYSTEM) as uow:
            user = uow.session.execute(select(User).where(User.username == "nurse-s01"))
            nurse = uow.people.actor_for(user.scalar_one())
        with UnitOfWork(engine, nurse) as uow:
            uow.assessments.add(
                Assessment(
                    patient_id=PATIENT, observed_at=datetime.now().replace(second=0, microsecond=0),
                    temperature_c=39.0, hypotension="one_vasopressor",
                    oxygen_device="low_flow_nasal_cannula", oxygen_l_min=4.0, ice_score=10,
                    consciousness="alert", seizure="none", motor_weakness="none",
                    cerebral_edema="none",
                )
            )  # fmt: skip
            uow.commit()
    finally:
        engine.dispose()


@pytest.mark.browser
def test_physician_finds_the_alert_sees_the_grade_and_why_and_acknowledges(
    new_page: Callable[[], Page], app_database: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = new_page()
    if not SAVED.get(PATIENT):
        save_through_the_store(app_database)
        SAVED[PATIENT] = True
    sign_in(page, "physician-s01")
    expect(page.get_by_role("heading", name="Alert inbox")).to_be_visible()
    page.get_by_role("combobox", name="Patient", exact=True).click()
    page.get_by_role("option", name=PATIENT, exact=True).click()
    wait_idle(page)
    detail = page.locator(".st-key-inbox_detail")
    expect(detail).to_contain_text(f"patient {PATIENT}")
    # The newest critical alert is this assessment's: found today, for CRS grade 3.
    expect(detail).to_contain_text(f"Finding at {date.today():%Y-%m-%d}")
    expect(detail).to_contain_text("CRS 3")
    screenshot(page, "inbox", tmp_path / "inbox.png", height=1200)

    # The timeline of that patient, and why the newest time point is grade 3.
    detail.get_by_role("link", name=f"Open the timeline of {PATIENT}").click()
    expect(page.get_by_role("heading", name="Patient timeline")).to_be_visible()
    assert f"patient={PATIENT}" in page.url
    # The acute view ends at day 28 and the sample's patients are long past it: today's point
    # is in the long-term view. The list is long (and drawn lazily): typing today's date
    # narrows it to today's points.
    page.get_by_role("radiogroup", name="View").get_by_text("Long term", exact=True).click()
    wait_idle(page)
    today = f"{date.today():%Y-%m-%d}"
    pick(page, "Time point", re.compile(r"CRS grade 3 "), typed=today)
    why = page.get_by_role("heading", name=re.compile(r"^Why: day \d+"))
    expect(why).to_be_visible()
    expect(page.get_by_text(VASOPRESSOR_ROW).first).to_be_visible()
    screenshot(page, "timeline", tmp_path / "timeline.png", height=1800)

    # Back to the inbox: acknowledge with a note.
    page.get_by_role("link", name="Alert inbox").click()
    # the timeline has a "Patient" list too: wait until the inbox is the page shown
    expect(page.get_by_role("heading", name="Alert inbox")).to_be_visible()
    wait_idle(page)
    pick(page, "Patient", PATIENT)
    wait_idle(page)
    alert = selected(page, "Alert")
    alert_id = alert.rsplit("#", 1)[-1]
    assert f" · {PATIENT} · " in alert, alert
    note = "Seen at the bedside; tocilizumab given, ICU informed."
    page.get_by_role("textbox", name="Note", exact=True).fill(note)
    page.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(page.get_by_text(f"Alert {alert_id} ({PATIENT}, ")).to_contain_text(
        "acknowledged by physician-s01"
    )
    # The acknowledged alert, with its note, under the "acknowledged" state.
    page.get_by_role("combobox", name="State", exact=True).click()
    page.get_by_role("option", name="acknowledged", exact=True).click()
    page.keyboard.press("Escape")
    wait_idle(page)
    pick(page, "Alert", re.compile(rf"#{alert_id}$"))  # reopens the list if a rerun closed it
    expect(detail).to_contain_text("Acknowledged by physician-s01 at")
    expect(detail).to_contain_text(note)


@pytest.mark.browser
def test_inbox_shows_the_patients_current_crs_grade(
    new_page: Callable[[], Page], app_database: Path
) -> None:
    from playwright.sync_api import expect

    page = new_page()
    if not SAVED.get(PATIENT):
        save_through_the_store(app_database)
        SAVED[PATIENT] = True
    sign_in(page, "physician-s01")
    page.get_by_role("combobox", name="Patient", exact=True).click()
    page.get_by_role("option", name=PATIENT, exact=True).click()
    wait_idle(page)
    detail = page.locator(".st-key-inbox_detail")
    expect(detail).to_contain_text(f"Finding at {date.today():%Y-%m-%d}")
    current = detail.locator('[data-testid="stMetricValue"]').first
    expect(current).to_have_text("3", timeout=5_000)
