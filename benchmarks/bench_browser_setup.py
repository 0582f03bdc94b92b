"""Set up the browser benchmark's database: the generator's 5,000-patient cohort in PostgreSQL.

    createdb -h 127.0.0.1 -U postgres cartwatch_bench
    .venv/bin/python benchmarks/bench_browser_setup.py --patients 5000

Generates the cohort into a temporary folder (``python -m sample_data``), creates the sites and the
accounts (an importing nurse of every site, and the demo accounts the benchmark signs in with:
``physician-s01``, ``researcher``, ``admin``; passwords ``<username>-demo``), then imports the
four files with ``cartwatch import`` exactly as an operator would, timing each. The timings go to
``benchmarks/results/browser_setup.json``. Used by ``bench_browser_pages.py``; not a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dashboard.store.access import SYSTEM, Role
from dashboard.store.database import open_database
from dashboard.store.sample import demo_accounts
from dashboard.store.unit_of_work import UnitOfWork

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BENCH_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/cartwatch_bench"
IMPORTER = "bench-importer"
KINDS = ("patients", "assessments", "labs", "drugs")


def accounts(url: str, site_ids: list[str]) -> None:
    """Sites, the demo accounts and a nurse of every site who imports (the database is new)."""
    engine = open_database(url)
    with UnitOfWork(engine, SYSTEM) as uow:
        for site_id in site_ids:
            uow.people.add_site(site_id, f"Benchmark site {site_id}")
        for account in demo_accounts(site_ids):
            uow.people.add_user(
                account.username, account.role, account.password, list(account.site_ids)
            )
        uow.people.add_user(IMPORTER, Role.NURSE, f"{IMPORTER}-demo", site_ids)
        uow.commit()
    engine.dispose()


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--url", default=BENCH_URL, help="an empty PostgreSQL database")
    args = parser.parse_args(argv)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "cohort"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sample_data", "--patients", str(args.patients), "--out", out],
            check=True,
            cwd=ROOT,
        )
        timings["generate_s"] = time.perf_counter() - started
        with (out / "patients.csv").open(newline="") as handle:
            site_ids = sorted({row["site_id"] for row in csv.DictReader(handle)})
        accounts(args.url, site_ids)
        env = {**os.environ, "CARTWATCH_DATABASE_URL": args.url}
        env["CARTWATCH_PASSWORD"] = f"{IMPORTER}-demo"
        cli = str(Path(sys.executable).with_name("cartwatch"))
        for kind in KINDS:
            started = time.perf_counter()
            subprocess.run(
                [cli, "import", kind, str(out / f"{kind}.csv"), "--user", IMPORTER],
                check=True,
                env=env,
            )
            timings[f"import_{kind}_s"] = time.perf_counter() - started
            print(f"{kind}: {timings[f'import_{kind}_s']:.0f} s", flush=True)
    timings["import_total_s"] = sum(timings[f"import_{kind}_s"] for kind in KINDS)
    RESULTS.mkdir(exist_ok=True)
    result = {"patients": args.patients, "sites": site_ids, **timings}
    (RESULTS / "browser_setup.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run())
