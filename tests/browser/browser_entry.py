"""Driving Streamlit widgets the way a person does, counting every click and keystroke.

Shared by the calculator and record-assessment browser tests (imported as a sibling module: the
browser tests' folder is on ``sys.path`` under pytest's default import mode).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class Entry:
    """Counts clicks and keystrokes; a value already on screen (carried from the last assessment)
    is left as it is, as a practised user would, and named in ``kept``."""

    page: Page
    clicks: int = 0
    keystrokes: int = 0
    kept: list[str] = field(default_factory=list)

    def type_number(self, label: str, text: str) -> None:
        box = self.page.get_by_role("spinbutton", name=label, exact=True)
        if box.input_value() == text:
            self.kept.append(label)
            return
        box.click()
        self.clicks += 1
        if box.input_value():
            box.press("Control+a")  # replace the carried value
            self.keystrokes += 1
        box.press_sequentially(text)
        box.press("Enter")  # commits the value; the page regrades at once
        self.keystrokes += len(text) + 1

    def choose(self, label: str, option: str) -> None:
        if selected(self.page, label) == option:
            self.kept.append(label)
            return
        pick(self.page, label, option)
        self.clicks += 2

    def radio(self, group: str, option: str) -> None:
        self.page.get_by_role("radiogroup", name=group).get_by_text(option, exact=True).click()
        self.clicks += 1

    def report(self, what: str, seconds: float) -> str:
        kept = f"; left as carried: {', '.join(self.kept)}" if self.kept else ""
        return (
            f"[{what}] {self.clicks} clicks + {self.keystrokes} keystrokes = "
            f"{self.clicks + self.keystrokes}, {seconds:.1f} s in headless Chromium "
            f"(report only){kept}"
        )


def sign_in(page: Page, username: str, password: str | None = None) -> None:
    """Sign in on the sign-in page (demo password ``<username>-demo``) and wait for the menu."""
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password or f"{username}-demo")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text(f"Signed in as {username} (").wait_for()


def open_url(page: Page, path: str) -> None:
    """Go to ``path`` (``/record?patient=...``) by URL within the signed-in session.

    Typing an address reloads the page, which starts a new Streamlit session (signed out, and the
    app's home page with "Page not found"): so the address is changed in place (history API) and
    Streamlit's own router follows it, as the browser's back and forward buttons do."""
    page.evaluate(
        "path => { history.pushState({}, '', path);"
        " window.dispatchEvent(new PopStateEvent('popstate')); }",
        path,
    )
    page.wait_for_timeout(500)
    wait_idle(page)


def wait_idle(page: Page) -> None:
    """Until the script run is over (Streamlit shows its status widget while running)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000
    )


def pick(page: Page, label: str, option: str | re.Pattern[str], typed: str = "") -> None:
    """Open the selectbox ``label``, type ``typed`` (if any) to narrow a long list, and click
    ``option`` (with ``typed``: the last option containing it). A rerun that lands while the list
    is open (the previous entry's, which ``wait_idle`` misses when it has not started yet) may
    close it and drop the typed text: then it is opened and typed into again (the user would,
    too)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        box = page.get_by_role("combobox", name=label, exact=True)
        box.click()
        if typed:
            if attempt:
                box.fill("")  # whatever an earlier attempt left typed
            box.press_sequentially(typed)
            choice = page.get_by_role("option").filter(has_text=option).last
        else:
            choice = page.get_by_role("option", name=option, exact=True)
        try:
            choice.click(timeout=5_000 if attempt < 2 else 20_000)
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
            wait_idle(page)
            continue
        return


def selected(page: Page, label: str) -> str:
    """The option a selectbox shows now (the value of its combobox input)."""
    return page.get_by_role("combobox", name=label, exact=True).input_value()


def flag(page: Page, rule_id: str) -> str:
    """The text of the flag raised by ``rule_id`` (its container is keyed by the rule)."""
    return page.locator(f".st-key-flag-{rule_id}").inner_text()


def main_text(page: Page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def wait_drawn(page: Page) -> None:
    """Until the run is over and every shown chart and table has drawn (after the run)."""
    wait_idle(page)
    page.wait_for_function(
        """() => {
            const all = (s) => Array.from(document.querySelectorAll(s))
                .filter((e) => e.checkVisibility());  // not in a closed expander
            const charts = all('[data-testid="stPlotlyChart"]');
            const tables = all('[data-testid="stDataFrame"]');
            return charts.every((c) => c.querySelector("svg.main-svg"))
                && tables.every((t) => t.querySelector("canvas"));
        }""",
        timeout=30_000,
    )
    page.wait_for_timeout(1500)  # grids paint their cells after the canvas appears


def screenshot(page: Page, name: str, fallback: Path, height: int = 1400) -> Path:
    """A screenshot of the whole window; into docs/screenshots/<name>.png only when
    CARTWATCH_UPDATE_SCREENSHOTS=1 (a test run leaves the work tree clean), else ``fallback``."""
    shot = (
        SCREENSHOTS / f"{name}.png" if os.environ.get("CARTWATCH_UPDATE_SCREENSHOTS") else fallback
    )
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": height})
    wait_drawn(page)
    page.locator('[data-testid="stMain"]').evaluate("element => element.scrollTo(0, 0)")
    page.wait_for_timeout(700)
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    return shot
