"""Real-browser fixtures: the app started the way ``make run`` starts it, and a headless Chromium.

Chromium comes from Debian (``/usr/bin/chromium``), driven by the Playwright Python package; never
``playwright install`` (it downloads browsers). Without them the tests are skipped locally and FAIL
under CI (``CI=true``), so a CI image that lost its browser cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CARTWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOW_TO_ENABLE = (
    "Browser tests need Debian's Chromium at {path} (`apt-get install chromium`, or set "
    "CARTWATCH_CHROMIUM) and the playwright Python package (`pip install -e '.[dev]'`). "
    "Do not run `playwright install`."
)
STARTUP_SECONDS = 60


def _unavailable(reason: str) -> NoReturn:
    message = f"{reason}. {HOW_TO_ENABLE.format(path=CHROMIUM)}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the browser tests cannot run: {message}", pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``make run``'s command on a free port; yields the URL once /_stcore/health answers."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    command = [
        sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
        "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit did not become healthy on port {port}:\n{log_path.read_text()}",
                    pytrace=False,
                )
            time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, launched through Playwright (skip or fail if missing)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("The playwright Python package is not installed")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"No Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, app_url: str) -> Iterator[Page]:
    """A fresh page (its own Streamlit session) on a desktop-sized viewport."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    new_page = context.new_page()
    new_page.set_default_timeout(20_000)
    new_page.goto(app_url)
    new_page.get_by_text("CRS and ICANS grading calculator").wait_for()
    try:
        yield new_page
    finally:
        context.close()
