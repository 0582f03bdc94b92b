"""What the store benchmarks share (bench_store_writers.py, profile_save.py): a fresh store on
SQLite or PostgreSQL (127.0.0.1:5432 database test, in a schema of its own dropped afterwards), a
site with one nurse and blank patients, one save, and the on-CPU time of PostgreSQL's processes."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.database import upgrade
from dashboard.store.engine import make_engine
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.records import Patient

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: Every benchmark patient is infused a day before this; save ``i`` is observed 10 min x i later.
T0 = datetime(2026, 3, 2, 8, 0)


@dataclass(frozen=True)
class BenchStore:
    """Where a benchmark writes: ``url`` and ``options`` (connect arguments) open it again in
    another process."""

    backend: str
    url: str
    options: dict[str, str] = field(default_factory=dict)
    schema: str | None = None

    def engine(self) -> Engine:
        return (
            make_engine(self.url, connect_args=self.options)
            if self.options
            else make_engine(self.url)
        )

    def drop(self) -> None:
        """Drop the PostgreSQL schema (SQLite: the file stays in its temporary folder)."""
        if self.schema is not None:
            admin = create_engine(PG_URL)
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            admin.dispose()


def create_store(backend: str, label: str) -> BenchStore:
    """A new, migrated store: a schema ``cw_<label>_<random>`` on PostgreSQL, a file in a new
    temporary folder on SQLite."""
    if backend == "postgresql":
        schema = f"cw_{label}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        store = BenchStore(backend, PG_URL, {"options": f"-csearch_path={schema}"}, schema)
    else:
        store = BenchStore(backend, f"sqlite+pysqlite:///{tempfile.mkdtemp()}/{label}.db")
    engine = store.engine()
    upgrade(engine)
    engine.dispose()
    return store


def add_nurse_and_patients(
    engine: Engine, site_name: str, username: str, patient_ids: Iterable[str]
) -> Actor:
    """Site S01 with one nurse (password ``<username>-pw``) and the patients, infused at T0 - 1
    day; returns the nurse."""
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_site("S01", site_name)
        nurse = uow.people.add_user(username, Role.NURSE, f"{username}-pw", ["S01"])
        uow.commit()
    with UnitOfWork(engine, nurse) as uow:
        for patient_id in patient_ids:
            uow.patients.add(Patient(patient_id=patient_id, site_id="S01", disease="sle",
                                     product="cd19_car_t", infusion_at=T0 - timedelta(days=1)))  # fmt: skip
        uow.commit()
    return nurse


def save(engine: Engine, nurse: Actor, patient_id: str, i: int, temperature_c: float) -> None:
    """One unit of work: an assessment at T0 + 10 min x ``i`` (re-grading, alerts, commit)."""
    with UnitOfWork(engine, nurse) as uow:
        uow.assessments.add(
            Assessment(patient_id=patient_id, observed_at=T0 + timedelta(minutes=10 * i),
                       temperature_c=temperature_c, hypotension="none", oxygen_device="room_air",
                       ice_score=10, consciousness="alert", seizure="none",
                       motor_weakness="none", cerebral_edema="none")
        )  # fmt: skip
        uow.commit()


def backend_pid(engine: Engine) -> int:
    """The PostgreSQL backend of the pool's connection (one connection: every save reuses it)."""
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def on_cpu_ns(pid: int) -> int:
    """On-CPU nanoseconds of a local process (``/proc/<pid>/schedstat``); OSError if unreadable."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def postgres_cpu_ns() -> dict[int, int]:
    """On-CPU nanoseconds of every local ``postgres`` process by pid (empty where not readable)."""
    out: dict[int, int] = {}
    try:
        for process in Path("/proc").iterdir():
            if process.name.isdigit():
                try:
                    if (process / "comm").read_text().strip() == "postgres":
                        out[int(process.name)] = on_cpu_ns(int(process.name))
                except (OSError, ValueError):  # the process ended meanwhile
                    pass
    except OSError:
        return {}
    return out


def machine_busy_seconds() -> float:
    """Seconds all CPUs together spent busy since boot (``/proc/stat``: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
