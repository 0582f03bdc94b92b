"""Profile one save (a unit of work that re-grades the patient and upserts alerts).

    .venv/bin/python benchmarks/profile_save.py [--backend postgresql] [--saves 100] [--full]

First the CPU (process time) of a save without the profiler, then the mean time under cProfile and
its top cumulative lines. ``--full``: the alert engine's reference path (grade_course) instead of
the fast path. PostgreSQL: 127.0.0.1:5432 database test, in a fresh schema dropped afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import create_engine, text

from dashboard.store import alert_engine
from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.database import upgrade
from dashboard.store.engine import make_engine
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.records import Patient

T0 = datetime(2026, 3, 2, 8)
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--saves", type=int, default=60)
    parser.add_argument("--full", action="store_true", help="the reference path (grade_course)")
    args = parser.parse_args()
    alert_engine.FAST_PATH = not args.full
    schema = f"cw_profile_{uuid.uuid4().hex[:8]}"
    if args.backend == "postgresql":
        admin = create_engine(PG_URL)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    else:
        engine = make_engine(f"sqlite+pysqlite:///{tempfile.mkdtemp()}/profile.db")
    upgrade(engine)
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_site("S01", "Profile site")
        nurse = uow.people.add_user("nurse", Role.NURSE, "nurse-profile-pw", ["S01"])
        uow.commit()
    with UnitOfWork(engine, nurse) as uow:
        uow.patients.add(
            Patient(
                patient_id="W",
                site_id="S01",
                disease="sle",
                product="cd19_car_t",
                infusion_at=T0 - timedelta(days=1),
            )
        )
        uow.commit()  # fmt: skip
    save(engine, nurse, 0)  # warm up imports and caches
    cpu = time.process_time()
    for i in range(1, args.saves + 1):
        save(engine, nurse, i)
    cpu_ms = (time.process_time() - cpu) / args.saves * 1000
    print(
        f"{args.backend}, {'reference' if args.full else 'fast'} path: CPU {cpu_ms:.1f} ms per "
        f"save (process time, {args.saves} saves, patient grows to {2 * args.saves} rows)"
    )
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    for i in range(args.saves + 1, 2 * args.saves + 1):
        save(engine, nurse, i)
    profile.disable()
    mean = (time.perf_counter() - start) / args.saves * 1000
    print(f"mean save: {mean:.1f} ms (under cProfile)")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    engine.dispose()
    if args.backend == "postgresql":
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def save(engine: object, nurse: Actor, i: int) -> None:
    with UnitOfWork(engine, nurse) as uow:  # type: ignore[arg-type]
        uow.assessments.add(
            Assessment(patient_id="W", observed_at=T0 + timedelta(minutes=10 * i),
                       temperature_c=38.2, hypotension="none", oxygen_device="room_air",
                       ice_score=10, consciousness="alert", seizure="none",
                       motor_weakness="none", cerebral_edema="none")
        )  # fmt: skip
        uow.commit()


if __name__ == "__main__":
    main()
