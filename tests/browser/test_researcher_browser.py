"""A researcher in a real Chromium: the cohort view, no page with identifiers, a de-identified CSV.

Screenshot of the cohort view into docs/screenshots/ with CARTWATCH_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_entry import main_text, open_url, screenshot, sign_in, wait_idle

if TYPE_CHECKING:
    from playwright.sync_api import Page

PATIENT_ID = re.compile(r"\bS\d{2}-\d{4}\b")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")
IDENTIFYING_PAGES = {
    "/record": "Record assessment",
    "/timeline?patient=S01-0001": "Patient timeline",
    "/inbox": "Alert inbox",
    "/worklist": "Worklist",
}
SAMPLE_PATIENTS = 40
#: The menu of a researcher (dashboard/app.py PAGES): nothing that shows a study id.
RESEARCHER_PAGES = ("Cohort view", "Research exports", "Grading calculator")


def shows_no_identifying_page(page: Page, title: str) -> None:
    """Refused by the page's role check, or not offered at all (the home page instead)."""
    from playwright.sync_api import expect

    main = page.locator('[data-testid="stMain"]')
    refused = page.get_by_text("This page is not available to the researcher role.")
    expect(main.get_by_role("heading", name="Cohort view").or_(refused)).to_be_visible()
    expect(main.get_by_role("heading", name=title, exact=True)).to_have_count(0)
    assert not PATIENT_ID.search(main_text(page)), main_text(page)


@pytest.mark.browser
def test_researcher_sees_the_cohort_and_no_page_with_identifiers(
    page: Page, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    sign_in(page, "researcher")
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_role("heading", name="Cohort view")).to_be_visible()
    expect(page.locator('[data-testid="stMetricValue"]').first).to_have_text(str(SAMPLE_PATIENTS))
    expect(page.get_by_role("heading", name="Table 1")).to_be_visible()
    expect(main.get_by_text(re.compile(r"^Computed in "))).to_be_visible()
    assert not PATIENT_ID.search(main_text(page)), "a study id on the cohort view"
    screenshot(page, "cohort", tmp_path / "cohort.png", height=1600)

    # By the menu: only the cohort view, the research exports and the calculator are offered.
    menu = page.locator('[data-testid="stSidebarNav"]')
    expect(menu.get_by_role("link")).to_have_count(len(RESEARCHER_PAGES))
    for title in RESEARCHER_PAGES:
        expect(menu.get_by_role("link", name=title)).to_have_count(1)
    for title in IDENTIFYING_PAGES.values():
        expect(menu.get_by_role("link", name=title)).to_have_count(0)
    # By URL, within the signed-in session.
    for path, title in IDENTIFYING_PAGES.items():
        open_url(page, path)
        shows_no_identifying_page(page, title)


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/record", "/timeline?patient=S01-0001"])
def test_an_address_typed_afresh_opens_the_sign_in_not_the_page(page: Page, path: str) -> None:
    """A new page load is a new session: the sign-in, and after it the researcher's home page."""
    from playwright.sync_api import expect

    page.goto(page.url.rstrip("/") + path)
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    page.keyboard.press("Escape")  # Streamlit's "Page not found" dialog
    sign_in(page, "researcher")
    shows_no_identifying_page(page, IDENTIFYING_PAGES[path])


@pytest.mark.browser
def test_researcher_downloads_a_de_identified_csv(page: Page) -> None:
    sign_in(page, "researcher")
    button = page.get_by_role(
        "button", name="Download the per-patient summary (CSV, de-identified)"
    )
    with page.expect_download() as download_info:
        button.click()
    download = download_info.value
    assert download.suggested_filename == "cohort_summary_deidentified.csv"
    text = Path(download.path()).read_text(encoding="utf-8")
    lines = text.splitlines()
    manifest = [line for line in lines if line.startswith("#")]
    rows = [line for line in lines if line and not line.startswith("#")]
    assert manifest, "no de-identification manifest"
    assert len(rows) == SAMPLE_PATIENTS + 1, f"{len(rows)} lines of header and data"
    assert not PATIENT_ID.findall(text), PATIENT_ID.findall(text)[:5]
    assert not DATE.findall(text), DATE.findall(text)[:5]


@pytest.mark.browser
def test_researcher_prepares_and_downloads_a_registry_export(page: Page) -> None:
    """One click from the Research exports page: the zip holds the registry files, each
    de-identified (no study id), with the manifest."""
    import zipfile

    from playwright.sync_api import expect

    sign_in(page, "researcher")
    page.locator('[data-testid="stSidebarNav"]').get_by_role(
        "link", name="Research exports"
    ).click()
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_role("heading", name="Research exports")).to_be_visible()
    main.get_by_text("Registry fields (EBMT and CIBMTR Day 100)", exact=True).click()
    wait_idle(page)
    expect(page.locator('[data-testid="stMetricValue"]').first).to_have_text(str(SAMPLE_PATIENTS))
    main.get_by_role("button", name="Prepare export").click()
    download_button = main.get_by_role("button", name=re.compile(r"^Download .+\.zip$"))
    expect(download_button).to_be_visible(timeout=120_000)
    with page.expect_download() as download_info:
        download_button.click()
    with zipfile.ZipFile(download_info.value.path()) as archive:
        names = set(archive.namelist())
        assert {"registry_ebmt_day100.csv", "registry_cibmtr_day100.csv"} <= names, names
        texts = {name: archive.read(name).decode("utf-8") for name in names}
    for name, text in texts.items():
        assert not PATIENT_ID.findall(text), (name, PATIENT_ID.findall(text)[:5])
    ebmt = [line for line in texts["registry_ebmt_day100.csv"].splitlines()
            if line and not line.startswith("#")]  # fmt: skip
    assert len(ebmt) == SAMPLE_PATIENTS + 1, f"{len(ebmt)} lines of header and data"
