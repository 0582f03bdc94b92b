"""Profile one save (a unit of work that re-grades the patient and upserts alerts) on SQLite.

    .venv/bin/python benchmarks/profile_save.py

Prints the mean time of a save and the cumulative cProfile lines of the alert engine's steps.
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile
import time
from datetime import datetime, timedelta

from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.database import upgrade
from dashboard.store.engine import make_engine
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.records import Patient

T0 = datetime(2026, 3, 2, 8)
SAVES = 20


def main() -> None:
    folder = tempfile.mkdtemp()
    engine = make_engine(f"sqlite+pysqlite:///{folder}/profile.db")
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
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    for i in range(1, SAVES + 1):
        save(engine, nurse, i)
    profile.disable()
    print(f"mean save: {(time.perf_counter() - start) / SAVES * 1000:.0f} ms (under cProfile)")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(r"alert_engine|monitor|course\.py")


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
