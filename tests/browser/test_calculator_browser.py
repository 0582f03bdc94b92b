"""The calculator in a real Chromium: a nurse's full entry, the grade and flags it shows at once.

Clicks and keystrokes of the entry are counted and printed (a report, never a timed assertion).
The screenshot lands in docs/screenshots/calculator.png with CARTWATCH_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "calculator.png"


@dataclass
class Entry:
    """Drives the form the way a person does, counting every click and keystroke."""

    page: Page
    clicks: int = 0
    keystrokes: int = 0

    def type_number(self, label: str, text: str) -> None:
        box = self.page.get_by_role("spinbutton", name=label, exact=True)
        box.click()
        self.clicks += 1
        box.press_sequentially(text)
        box.press("Enter")  # commits the value; the page regrades at once
        self.keystrokes += len(text) + 1

    def choose(self, label: str, option: str) -> None:
        self.page.get_by_role("combobox", name=label, exact=True).click()
        self.page.get_by_role("option", name=option, exact=True).click()
        self.clicks += 2


def flag(page: Page, rule_id: str) -> str:
    """The text of the flag raised by ``rule_id`` (its container is keyed by the rule)."""
    return page.locator(f".st-key-flag-{rule_id}").inner_text()


@pytest.mark.browser
def test_blank_page_is_not_gradable_with_the_banner(page: Page) -> None:
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="stMetricValue"]')).to_have_text(
        ["Not gradable", "Not gradable"]
    )
    expect(page.get_by_text("Decision support only").first).to_be_visible()
    assert "grade 0" not in page.locator('[data-testid="stMain"]').inner_text().lower()


@pytest.mark.browser
def test_nurse_entry_shows_crs_grade_3_with_flags_and_the_papers_wording(
    page: Page, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

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
        print(
            f"\n[calculator entry] {entry.clicks} clicks, {entry.keystrokes} keystrokes, "
            f"{elapsed:.1f} s in headless Chromium (report only)"
        )

    # The docs copy is refreshed only on request, so a test run leaves the work tree clean.
    shot = SCREENSHOT if os.environ.get("CARTWATCH_UPDATE_SCREENSHOTS") else tmp_path / "shot.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 1400})
    page.locator('[data-testid="stMain"]').evaluate("element => element.scrollTo(0, 0)")
    page.wait_for_timeout(500)
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
