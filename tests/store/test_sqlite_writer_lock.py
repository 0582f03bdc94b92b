"""SQLite writers queue on the writer lock (dashboard/store/engine.py) instead of SQLite's unfair
busy handler: with a busy timeout far too short to survive any real wait, several writer processes
and threads on one database file all save, and nothing is lost. SQLite only (PostgreSQL has row
locks and no such failure)."""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
import types
from datetime import datetime, timedelta
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dashboard.store import audit
from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.database import upgrade
from dashboard.store.engine import make_engine
from dashboard.store.schema import AssessmentRow, AuditEntry
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.records import Patient

T0 = datetime(2026, 3, 2, 8, 0)
#: Far below one save's duration: any wait in SQLite's busy handler fails with "database is locked".
BUSY_TIMEOUT = 0.02
PROCESSES, PROCESS_SAVES = 5, 8
#: Generous: spawned writers import pandas and SQLAlchemy afresh, slowly on a loaded machine.
WAIT_SECONDS = 600
THREADS, THREAD_SAVES = 4, 6


def _database(tmp_path: Path, patients: int) -> tuple[str, Actor]:
    url = f"sqlite+pysqlite:///{tmp_path / 'writers.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_site("S01", "Site one")
        nurse = uow.people.add_user("nurse1", Role.NURSE, "nurse-one-pw", ["S01"])
        uow.commit()
    with UnitOfWork(engine, nurse) as uow:
        for number in range(patients):
            uow.patients.add(Patient(patient_id=f"W{number}", site_id="S01", disease="sle",
                                     product="cd19_car_t", infusion_at=T0 - timedelta(days=1)))  # fmt: skip
        uow.commit()
    engine.dispose()
    return url, nurse


def _save_many(engine: Engine, actor: Actor, worker: int, saves: int) -> list[str]:
    """Save ``saves`` assessments, alternating between the worker's patient and a shared one."""
    failures = []
    for i in range(saves):
        patient = f"W{worker}" if i % 2 == 0 else "W0"
        try:
            with UnitOfWork(engine, actor) as uow:
                uow.assessments.add(
                    Assessment(patient_id=patient, temperature_c=37.5 + (i % 20) / 10,
                               observed_at=T0 + timedelta(minutes=1000 * worker + i))
                )  # fmt: skip
                uow.commit()
        except Exception as error:  # reported by the test
            failures.append(f"worker {worker} save {i}: {type(error).__name__}: {error}")
    return failures


def _process(url: str, actor_json: str, worker: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    engine = make_engine(url, sqlite_busy_timeout=BUSY_TIMEOUT)
    actor = Actor.model_validate_json(actor_json)
    with engine.connect():
        pass
    queue.put("ready")
    queue.put(_save_many(engine, actor, worker, PROCESS_SAVES))
    engine.dispose()


def _check_nothing_lost(url: str, expected: int) -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        saved = session.execute(select(func.count()).select_from(AssessmentRow)).scalar_one()
        creates = session.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "create")
        ).scalar_one()
        check = audit.verify(session)
    engine.dispose()
    assert saved == expected
    assert creates >= expected  # every save audited (plus the patients, site and user)
    assert check.ok, check.message


def _collect(
    queue: multiprocessing.Queue,  # type: ignore[type-arg]
    processes: list[Any],
    expected: int,
) -> list[object]:
    """``expected`` messages from the writer processes. A writer that died (e.g. it could not
    import this module) fails the test at once with its exit code, instead of the test waiting
    for a message that never comes; a slow one on a loaded machine gets WAIT_SECONDS."""
    outcomes: list[object] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while len(outcomes) < expected:
        try:
            outcomes.append(queue.get(timeout=1))
        except Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            assert not dead, f"a writer process died with exit code(s) {dead}"
            assert time.monotonic() < deadline, f"only {len(outcomes)} of {expected} messages"
    return outcomes


def test_sqlite_writer_processes_never_fail_with_database_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, nurse = _database(tmp_path, PROCESSES)
    # A spawned child first re-runs the parent's __main__ (by its __spec__ or __file__). After a
    # Streamlit AppTest that is the last page script it ran, which fails outside Streamlit: the
    # children get a bare __main__ instead and import only this module.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [
        context.Process(target=_process, args=(url, nurse.model_dump_json(), w, queue))
        for w in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = _collect(queue, processes, 2 * PROCESSES)
    for process in processes:
        process.join(WAIT_SECONDS)
    assert [p.exitcode for p in processes] == [0] * PROCESSES
    failures = [f for outcome in outcomes if isinstance(outcome, list) for f in outcome]
    assert failures == []
    _check_nothing_lost(url, PROCESSES * PROCESS_SAVES)


def test_sqlite_writer_threads_and_readers_in_one_process(tmp_path: Path) -> None:
    url, nurse = _database(tmp_path, THREADS)
    engine = make_engine(url, sqlite_busy_timeout=BUSY_TIMEOUT)
    failures: list[str] = []
    stop = threading.Event()
    reads = [0]

    def write(worker: int) -> None:
        failures.extend(_save_many(engine, nurse, worker, THREAD_SAVES))

    def read() -> None:  # a read-only unit of work never queues behind the writers
        while not stop.is_set():
            try:
                with UnitOfWork(engine, nurse, read_only=True) as uow:
                    uow.assessments.current("W0")
                reads[0] += 1
            except Exception as error:
                failures.append(f"reader: {type(error).__name__}: {error}")
                return

    writers = [threading.Thread(target=write, args=(w,)) for w in range(THREADS)]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(120)
    stop.set()
    reader.join(120)
    engine.dispose()
    assert failures == []
    assert reads[0] > 0
    _check_nothing_lost(url, THREADS * THREAD_SAVES)


def test_sqlite_a_second_connection_in_the_same_thread_does_not_hang(tmp_path: Path) -> None:
    """A thread holding the writer lock that begins on a second connection falls back to the busy
    timeout (and fails as before) rather than waiting for itself forever."""
    url, _ = _database(tmp_path, 1)
    engine = make_engine(url, sqlite_busy_timeout=BUSY_TIMEOUT)
    with engine.begin() as first:
        first.exec_driver_sql("SELECT 1")
        try:
            with engine.begin() as second:
                second.exec_driver_sql("SELECT 1")
            outcome = "began"
        except Exception as error:
            outcome = str(error)
    engine.dispose()
    assert "locked" in outcome


def test_sqlite_read_only_unit_of_work_cannot_commit(tmp_path: Path) -> None:
    url, nurse = _database(tmp_path, 1)
    engine = make_engine(url)
    with UnitOfWork(engine, nurse, read_only=True) as uow:
        assert uow.assessments.current("W0") == []
        try:
            uow.commit()
            refused = False
        except Exception:
            refused = True
    engine.dispose()
    assert refused
