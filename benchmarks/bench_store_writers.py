"""Benchmark: concurrent writers saving assessments (each save re-grades and raises alerts).

    .venv/bin/python benchmarks/bench_store_writers.py --backend postgresql --writers 20
    .venv/bin/python benchmarks/bench_store_writers.py --backend sqlite --writers 5

Each writer is a separate process (as separate app processes would be) with its own patient, and
saves ``--saves`` assessments, one unit of work each (the clock starts once every writer process
has started, imported and connected, so start-up is not counted): validation, versioned insert, audit entry,
re-grading of the patient's course and alert upserts, commit. Reports throughput (saves/s over the
wall time), latency percentiles of one save, the writers' own CPU time per save (process time of
the Python client, robust to other load; the database server's CPU is not included) and the load
average at the end. PostgreSQL: 127.0.0.1:5432 database test, in a
fresh schema dropped afterwards. Results go to benchmarks/results/store_writers_<backend>.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text

from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.database import upgrade
from dashboard.store.engine import make_engine
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.records import Patient

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RESULTS = Path(__file__).resolve().parent / "results"
T0 = datetime(2026, 3, 2, 8, 0)


def _writer(url: str, options: dict[str, str], actor_json: str, worker: int, saves: int,
            queue: multiprocessing.Queue, go: Any) -> None:  # type: ignore[type-arg]  # fmt: skip
    engine = make_engine(url, connect_args=options) if options else make_engine(url)
    actor = Actor.model_validate_json(actor_json)
    with engine.connect():  # connect before the clock starts
        pass
    queue.put("ready")
    go.wait()
    latencies, failures = [], []
    cpu = time.process_time()
    for i in range(saves):
        start = time.perf_counter()
        try:
            with UnitOfWork(engine, actor) as uow:
                uow.assessments.add(
                    Assessment(
                        patient_id=f"W{worker:02d}", observed_at=T0 + timedelta(minutes=10 * i),
                        temperature_c=37.5 + (i % 20) / 10, hypotension="none",
                        oxygen_device="room_air", ice_score=10, consciousness="alert",
                        seizure="none", motor_weakness="none", cerebral_edema="none",
                    )
                )  # fmt: skip
                uow.commit()
        except Exception as error:  # counted and reported: "database is locked" would land here
            failures.append(f"writer {worker}: {type(error).__name__}: {str(error)[:200]}")
            print(failures[-1])
        latencies.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu  # this writer's own CPU (robust to a loaded machine)
    engine.dispose()
    queue.put((latencies, failures, cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--writers", type=int, default=5)
    parser.add_argument("--saves", type=int, default=100)
    args = parser.parse_args()

    schema = f"cw_bench_{uuid.uuid4().hex[:8]}"
    folder = tempfile.mkdtemp()
    if args.backend == "postgresql":
        admin = create_engine(PG_URL)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url, options = PG_URL, {"options": f"-csearch_path={schema}"}
    else:
        url, options = f"sqlite+pysqlite:///{folder}/bench.db", {}
    engine = make_engine(url, connect_args=options) if options else make_engine(url)
    upgrade(engine)
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_site("S01", "Benchmark site")
        nurse = uow.people.add_user("bench-nurse", Role.NURSE, "bench-nurse-pw", ["S01"])
        uow.commit()
    with UnitOfWork(engine, nurse) as uow:
        for worker in range(args.writers):
            uow.patients.add(
                Patient(
                    patient_id=f"W{worker:02d}",
                    site_id="S01",
                    disease="sle",
                    product="cd19_car_t",
                    infusion_at=T0 - timedelta(days=1),
                )
            )
        uow.commit()  # fmt: skip
    engine.dispose()

    context = multiprocessing.get_context("spawn")
    queue, go = context.Queue(), context.Event()
    processes = [
        context.Process(target=_writer, args=(url, options, nurse.model_dump_json(), w,
                                              args.saves, queue, go))
        for w in range(args.writers)
    ]  # fmt: skip
    for process in processes:
        process.start()
    for _ in processes:  # every writer has imported and connected: start the clock
        assert queue.get() == "ready"
    start = time.perf_counter()
    go.set()
    results = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    wall = time.perf_counter() - start
    latencies = np.array([x for lat, _, _ in results for x in lat]) * 1000
    errors = [e for _, f, _ in results for e in f]
    client_cpu_ms = sum(c for _, _, c in results) / max(latencies.size, 1) * 1000
    result = {
        "measured_at": datetime.now().isoformat(timespec="seconds"),
        "backend": args.backend,
        "writers": args.writers,
        "saves": int(latencies.size),
        "failures": len(errors),
        "errors": errors,
        "wall_seconds": round(wall, 2),
        "saves_per_second": round(latencies.size / wall, 1),
        "client_cpu_ms_per_save": round(client_cpu_ms, 2),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "latency_ms": {p: round(float(np.percentile(latencies, q)), 1)
                       for p, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))},
    }  # fmt: skip
    if args.backend == "postgresql":
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"store_writers_{args.backend}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
