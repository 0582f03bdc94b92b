"""The calculator in a real Chromium: a nurse's full entry, the grade and flags it shows at once.

Clicks and keystrokes of the entry are counted and printed (a report, never a timed assertion).
The screenshot lands in docs/screenshots/calculator.png with CARTWATCH_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_entry import Entry, flag, screenshot, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture
def calculator(page: Page) -> Page:
    """Signed in as a nurse (the calculator needs a signed-in user), on the calculator page."""
    sign_in(page, "nurse-s01")
    page.get_by_role("link", name="Grading calculator").click()
    page.get_by_text("CRS and ICANS grading calculator").wait_for()
    return page


@pytest.mark.browser
def test_blank_page_is_not_gradable_with_the_banner(calculator: Page) -> None:
    from playwright.sync_api import expect

    page = calculator
    expect(page.locator('[data-testid="stMetricValue"]')).to_have_text(
        ["Not gradable", "Not gradable"]
    )
    expect(page.get_by_text("Decision support only").first).to_be_visible()
    assert "grade 0" not in page.locator('[data-testid="stMain"]').inner_text().lower()


@pytest.mark.browser
def test_nurse_entry_shows_crs_grade_3_with_flags_and_the_papers_wording(
    calculator: Page, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = calculator
    entry = Entry(page)
    started = time.monotonic()
    entry.type_number("Temperature", "39")
    entry.choose("Oxygen support", "Low-flow nasal cannula")
    entry.type_number("Flow (L/min)", "4")
    entry.choose("Hypotension treatment", "One vasopressor")
    entry.type_number("ICE score (0-10)", "10")
    entry.choose("Level of consciousness", "Alert (not depressed)")
    entry.choose("Seizure", "None")
    entry.choose("Motor findings", "None (tremor or myoclonus alone count as none)")
    entry.choose("Raised ICP / cerebral oedema", "None")

    # No submit and nothing saved: the grades are on screen as soon as the last value is in.
    expect(page.locator('[data-testid="stMetricValue"]')).to_have_text(["Grade 3", "Grade 0"])
    elapsed = time.monotonic() - started
    reason = page.get_by_text(re.compile(r"^CRS grade 3 — "))
    expect(reason).to_be_visible()
    expect(reason).to_contain_text(
        "“Hypotension requiring a vasopressor with or without vasopressin” "
        "(Lee 2019 ASTCT CRS table) [C]"
    )
    for rule_id, action, source in (
        ("TOCI-CRS-2", "Tocilizumab — CRS grade 3", "CRS G2: administer tocilizumab"),
        ("STEROID-CRS-3", "Corticosteroids — CRS grade 3", "plus dexamethasone 10 mg IV q6h"),
        ("ICU-CRS-3", "ICU — CRS grade 3", "CRS G3: Admit patient to ICU"),
    ):
        text = flag(page, rule_id)
        assert f"INDICATED {action}" in text, text
        assert source in text, text
        assert "ASCO 2021 Table 1 (eguideline p.4-5) [C]" in text, text
    expect(page.get_by_text("Flags · ASCO 2021")).to_be_visible()

    with capsys.disabled():
        print("\n" + entry.report("calculator entry", elapsed))
    screenshot(page, "calculator", tmp_path / "calculator.png")
