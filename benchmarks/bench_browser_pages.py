"""Benchmark: time until the patient timeline and the cohort view are drawn in Chromium, against
a bare Streamlit page as the floor. Not a test; nothing is asserted.

    createdb -h 127.0.0.1 -U postgres cartwatch_bench
    .venv/bin/python benchmarks/bench_browser_setup.py --patients 5000   # once; takes a while
    .venv/bin/python benchmarks/bench_browser_pages.py --repeats 7

The app is started as ``make run`` starts it, with CARTWATCH_DATABASE_URL at the benchmark
database; the floor is a two-page app of one ``st.write`` each, started the same way. Every
measurement is an in-session navigation (the URL changed in place, as the menu and the browser's
back button do) from the grading calculator (app) or the floor's first page, timed from the
navigation until the page's own last element is drawn and the script run is over:

- timeline (physician-s01, a patient with the full course): the plotly chart's SVG and the
  "Sign-off" heading, which comes after it;
- cohort view (researcher, every patient): the incidence chart's SVG and the "Computed in" caption,
  the page's last element;
- floor: the second page's text.

A fresh page load (new session) of each is timed too, for reference. Results go to
``benchmarks/results/browser_pages.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BENCH_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/cartwatch_bench"
CHROMIUM = os.environ.get("CARTWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
FLOOR_APP = """import streamlit as st

st.navigation([st.Page(lambda: st.write("floor start"), title="Start", url_path="start"),
               st.Page(lambda: st.write("floor drawn"), title="Drawn", url_path="drawn")]).run()
"""
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
TIMEOUT_MS = 180_000


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


@contextmanager
def streamlit(script: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """``make run``'s streamlit command on ``script``; yields the URL once healthy."""
    port = _free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log.read_text()}")
            time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def navigate(page: Page, path: str) -> None:
    """Change the address in place; Streamlit's router follows it (no new session)."""
    page.evaluate(
        "path => { history.pushState({}, '', path);"
        " window.dispatchEvent(new PopStateEvent('popstate')); }",
        path,
    )


def wait_idle(page: Page) -> None:
    page.wait_for_function(IDLE, timeout=TIMEOUT_MS)


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(url)
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(f"{username}-demo")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text(f"Signed in as {username} (").wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)


def timeline_drawn(page: Page) -> None:
    main = page.locator('[data-testid="stMain"]')
    main.locator('[data-testid="stPlotlyChart"] svg.main-svg').first.wait_for(timeout=TIMEOUT_MS)
    main.get_by_role("heading", name="Sign-off").wait_for(timeout=TIMEOUT_MS)


def cohort_drawn(page: Page) -> None:
    main = page.locator('[data-testid="stMain"]')
    main.locator('[data-testid="stPlotlyChart"] svg.main-svg').first.wait_for(timeout=TIMEOUT_MS)
    main.get_by_text("Computed in ").wait_for(timeout=TIMEOUT_MS)


def floor_drawn(page: Page) -> None:
    page.get_by_text("floor drawn", exact=True).wait_for(timeout=TIMEOUT_MS)


def time_navigation(
    page: Page, start: str, target: str, drawn: Callable[[Page], None], repeats: int
) -> list[float]:
    """Seconds from the navigation to ``target`` until drawn and idle, from ``start`` each time."""
    times = []
    for _ in range(repeats):
        navigate(page, start)
        page.wait_for_timeout(300)
        wait_idle(page)
        started = time.perf_counter()
        navigate(page, target)
        drawn(page)
        wait_idle(page)
        times.append(time.perf_counter() - started)
    return times


def summary(times: list[float]) -> dict[str, object]:
    ordered = sorted(times)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return {
        "runs_s": [round(t, 3) for t in times],
        "median_s": round(statistics.median(ordered), 3),
        "min_s": round(ordered[0], 3),
        "max_s": round(ordered[-1], 3),
        "iqr_s": [round(quartiles[0], 3), round(quartiles[2], 3)],
    }


def median(summarised: object) -> float:
    assert isinstance(summarised, dict)
    return float(summarised["median_s"])


def cohort_size(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table: int(connection.execute(text(f"select count(*) from {table}")).scalar_one())
                for table in ("patients", "assessments", "lab_results", "drug_administrations")
            }
    finally:
        engine.dispose()


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=BENCH_URL, help="database set up by bench_browser_setup")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--patient", default="S01-0001", help="the timeline's patient")
    args = parser.parse_args(argv)
    env = {**os.environ, "CARTWATCH_DATABASE_URL": args.url}
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        floor_script = Path(folder) / "floor.py"
        floor_script.write_text(FLOOR_APP)

        def new_page() -> Page:
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            return page

        with streamlit(floor_script, env, Path(folder) / "floor.log") as url:
            page = new_page()
            page.goto(f"{url}/start")
            page.get_by_text("floor start", exact=True).wait_for()
            results["floor"] = summary(
                time_navigation(page, "/start", "/drawn", floor_drawn, args.repeats)
            )
            results["floor_fresh_load"] = summary(
                [fresh_load(new_page, f"{url}/drawn", floor_drawn) for _ in range(args.repeats)]
            )
        with streamlit(ROOT / "dashboard" / "app.py", env, Path(folder) / "app.log") as url:
            page = new_page()
            sign_in(page, url, "physician-s01")
            timeline = f"/timeline?patient={args.patient}"
            time_navigation(page, "/calculator", timeline, timeline_drawn, 1)  # warm-up
            results["timeline"] = summary(
                time_navigation(page, "/calculator", timeline, timeline_drawn, args.repeats)
            )
            page.context.close()
            page = new_page()
            sign_in(page, url, "researcher")  # its home page is the cohort view: the warm-up
            results["cohort"] = summary(
                time_navigation(page, "/calculator", "/cohort", cohort_drawn, args.repeats)
            )
            caption = page.get_by_text("Computed in ").inner_text()
            results["cohort_service_caption"] = caption
        browser.close()
    medians = {name: median(results[name]) for name in ("floor", "timeline", "cohort")}
    ratio = medians["timeline"] / medians["floor"]
    output = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "database": "PostgreSQL (bench_browser_setup.py, sample_data generator)",
        "rows": cohort_size(args.url),
        "timeline_patient": args.patient,
        "repeats": args.repeats,
        **results,
        "timeline_over_floor": round(ratio, 2),
        "target_timeline_within_1_5x_floor": ratio <= 1.5,
        "target_cohort_under_2_s": medians["cohort"] < 2.0,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "browser_pages.json").write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output, indent=2))
    return 0


def fresh_load(new_page: Callable[[], Page], url: str, drawn: Callable[[Page], None]) -> float:
    """A new session: page load, websocket, first script run, drawn."""
    page = new_page()
    started = time.perf_counter()
    page.goto(url)
    drawn(page)
    wait_idle(page)
    elapsed = time.perf_counter() - started
    page.context.close()
    return elapsed


if __name__ == "__main__":
    sys.exit(run())
