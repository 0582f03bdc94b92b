"""A series of writer benchmark runs, models interleaved, and a table of what they measured.

    .venv/bin/python -W ignore benchmarks/store_series.py [--repeats 3] [--saves 150]
        [--out benchmarks/results/store_series]
    .venv/bin/python benchmarks/store_series.py --table benchmarks/results/store_series

One run of benchmarks/bench_store_writers.py is a few seconds of a shared VM whose speed drifts
by tens of per cent within an hour, so one run says little about whether a target holds. This
runs, ``--repeats`` times over, one after the other with a pause between runs: PostgreSQL with 20
writers as 20 processes and as 2 processes of 10 threads (``--threads 10``), each in the closed
loop and open loop at 200 saves/s (fixed and Poisson arrivals), and SQLite with 5 writers (closed
loop, processes and threads); every run with ``--warmup 5``. Each run's JSON goes to ``--out``,
named ``<round>_<backend>_<model>.json``; the table (Markdown) is printed at the end, and
``--table DIR`` prints it again from the files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: (name, bench_store_writers.py arguments) per run of one round, in the order they run.
RUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("postgresql_processes_rate200", ("--backend", "postgresql", "--writers", "20", "--rate", "200")),
    ("postgresql_threads_rate200",
     ("--backend", "postgresql", "--writers", "20", "--threads", "10", "--rate", "200")),
    ("postgresql_processes_closed", ("--backend", "postgresql", "--writers", "20")),
    ("postgresql_threads_closed", ("--backend", "postgresql", "--writers", "20", "--threads", "10")),
    ("postgresql_processes_rate200_poisson",
     ("--backend", "postgresql", "--writers", "20", "--rate", "200", "--arrivals", "poisson")),
    ("postgresql_threads_rate200_poisson",
     ("--backend", "postgresql", "--writers", "20", "--threads", "10", "--rate", "200",
      "--arrivals", "poisson")),
    ("sqlite_processes_closed", ("--backend", "sqlite", "--writers", "5")),
    ("sqlite_threads_closed", ("--backend", "sqlite", "--writers", "5", "--threads", "5")),
)  # fmt: skip
PAUSE_SECONDS = 10


def run_series(repeats: int, saves: int, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for round_ in range(1, repeats + 1):
        for name, arguments in RUNS:
            target = out / f"{round_}_{name}.json"
            command = [sys.executable, "-W", "ignore", str(HERE / "bench_store_writers.py"),
                       *arguments, "--saves", str(saves), "--warmup", "5",
                       "--out", str(target.resolve())]  # fmt: skip
            print(f"round {round_}: {name}", flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            time.sleep(PAUSE_SECONDS)


def table(folder: Path) -> str:
    """One Markdown row per run, grouped by configuration, rounds in order."""
    rows = [
        "| configuration | round | at | saves | failures | saves/s | machine CPU / save "
        "| client / server CPU | p50 | p95 | p99 | max | late starts | audit chain |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    files = sorted(
        folder.glob("[0-9]*_*.json"),
        key=lambda p: (p.stem.split("_", 1)[1], int(p.stem.split("_", 1)[0])),
    )
    for path in files:
        round_, name = path.stem.split("_", 1)
        r: dict[str, Any] = json.loads(path.read_text())
        rate = r.get("achieved_saves_per_second", r.get("saves_per_second"))
        offered = (
            f" of {r['offered_saves_per_second']:g}" if "offered_saves_per_second" in r else ""
        )
        server = r["server_cpu_ms_per_save"]
        latency = r["latency_ms"]
        rows.append(
            f"| {name} | {round_} | {r['measured_at'][11:16]} | {r['saves']} | {r['failures']} "
            f"| {rate}{offered} | {r['machine_cpu_ms_per_save']} ms "
            f"| {r['client_cpu_ms_per_save']} / {'-' if server is None else server} ms "
            f"| {latency['p50']} | {latency['p95']} | {latency['p99']} | {latency['max']} "
            f"| {r.get('late_starts', '')} | {'intact' if 'intact' in r['audit_chain'] else 'BROKEN'} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--saves", type=int, default=150, help="saves per writer and run")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "store_series")
    parser.add_argument("--table", type=Path, default=None, help="only print the table of DIR")
    args = parser.parse_args()
    if args.table is None:
        run_series(args.repeats, args.saves, args.out)
    print(table(args.table or args.out))


if __name__ == "__main__":
    main()
