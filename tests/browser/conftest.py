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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

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
EXPECT_SECONDS = 20
DATABASE_VAR = "CARTWATCH_DATABASE_URL"


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
def sample_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample cohort and demo accounts in an SQLite file, loaded once per run (about 20 s);
    each test module starts its app on a copy of it."""
    from dashboard.store.database import open_database
    from dashboard.store.sample import load_sample

    path = tmp_path_factory.mktemp("sample") / "sample.db"
    engine = open_database(f"sqlite+pysqlite:///{path}")
    try:
        load_sample(engine)
    finally:
        engine.dispose()
    return path


def start_app(database: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``make run``'s command on a free port with CARTWATCH_DATABASE_URL at ``database``."""
    port = _free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
        "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    env = {**os.environ, DATABASE_VAR: f"sqlite+pysqlite:///{database}"}
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _healthy(url):
        if server.poll() is not None or time.monotonic() > deadline:
            stop_app(server)
            pytest.fail(
                f"streamlit did not become healthy on port {port}:\n{log_path.read_text()}",
                pytrace=False,
            )
        time.sleep(0.25)
    return server, url


def stop_app(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture(scope="module")
def app_database(sample_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's own copy of the sample database (never the user's default database)."""
    path = tmp_path_factory.mktemp("app") / "cartwatch.db"
    shutil.copyfile(sample_database, path)
    return path


@pytest.fixture(scope="module")
def app_url(app_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on this module's database; yields the URL once /_stcore/health answers."""
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    server, url = start_app(app_database, log_path)
    try:
        yield url
    finally:
        stop_app(server)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, launched through Playwright (skip or fail if missing)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("The playwright Python package is not installed")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"No Chromium at {CHROMIUM}")
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_SECONDS * 1000)  # a save re-grades the course: not instant
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser: Browser, app_url: str) -> Iterator[Callable[[], Page]]:
    """Makes fresh pages (each its own browser context and Streamlit session) at the sign-in."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(
            viewport={"width": 1440, "height": 1000}, accept_downloads=True
        )
        contexts.append(context)
        made = context.new_page()
        made.set_default_timeout(20_000)
        made.goto(app_url)
        made.get_by_role("button", name="Sign in", exact=True).wait_for()
        return made

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    """A fresh page (its own Streamlit session) at the sign-in, on a desktop-sized viewport."""
    return new_page()
