"""A nurse of site S01 cannot see or reach a patient of site S02: not in the menus or selectors,
and refused by URL within the signed-in session."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from browser_entry import main_text, open_url, sign_in, wait_idle

if TYPE_CHECKING:
    from playwright.sync_api import Page

OTHER_SITE = re.compile(r"\bS0[2-9]-\d{4}\b")
S02_PATIENT = "S02-0001"


def options(page: Page, label: str) -> list[str]:
    """Every option of the selectbox ``label`` (opened, read, closed)."""
    page.get_by_role("combobox", name=label, exact=True).click()
    listed = page.get_by_role("option")
    listed.first.wait_for()
    texts = listed.all_inner_texts()
    page.keyboard.press("Escape")
    return texts


@pytest.mark.browser
def test_nurse_of_s01_sees_no_s02_patient_in_any_list(page: Page) -> None:
    from playwright.sync_api import expect

    sign_in(page, "nurse-s01")
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    assert not OTHER_SITE.search(main_text(page)), main_text(page)
    for link, label in (
        ("Record assessment", "Patient"),
        ("Patient timeline", "Patient"),
        ("Alert inbox", "Patient"),
    ):
        page.get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", name=link)).to_be_visible()
        wait_idle(page)
        listed = options(page, label)
        assert any(text.startswith("S01-") for text in listed), (link, listed)
        assert not [text for text in listed if OTHER_SITE.search(text)], (link, listed)
        assert not OTHER_SITE.search(main_text(page)), (link, main_text(page))


@pytest.mark.browser
@pytest.mark.parametrize(
    ("path", "refusal"),
    [
        (f"/timeline?patient={S02_PATIENT}", f"Patient {S02_PATIENT} is not available to you"),
        (f"/record?patient={S02_PATIENT}", f"Patient {S02_PATIENT} is not a patient of your sites"),
    ],
)
def test_nurse_of_s01_is_refused_an_s02_patient_by_url(page: Page, path: str, refusal: str) -> None:
    from playwright.sync_api import expect

    sign_in(page, "nurse-s01")
    open_url(page, path)
    expect(page.get_by_text(refusal)).to_be_visible()
    text = main_text(page)
    assert text.count(S02_PATIENT) == 1, text  # named in the refusal, nothing else shown
    for shown in ("Vital signs", "Today is study day", "Save assessment"):
        assert shown not in text, (shown, text)


@pytest.mark.browser
def test_the_same_url_opens_a_patient_of_the_nurses_own_site(page: Page) -> None:
    """The control: the refusal above is about the site, not about URLs."""
    from playwright.sync_api import expect

    sign_in(page, "nurse-s01")
    open_url(page, "/timeline?patient=S01-0002")
    expect(page.get_by_text(re.compile(r"^Today is study day"))).to_be_visible()
    expect(page.get_by_role("combobox", name="Patient", exact=True)).to_have_value(
        re.compile(r"^S01-0002 · ")
    )
