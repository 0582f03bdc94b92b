"""Two processes saving for the same patients at once: nothing lost, duplicated or mis-versioned.

This is how a trial network scales past one machine: stateless app processes over one database.
Runs on both backends (the PostgreSQL run is required under CI=true, see conftest.py).
"""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from dashboard.store import audit
from dashboard.store.access import Actor
from dashboard.store.engine import make_engine
from dashboard.store.errors import ConflictError
from dashboard.store.schema import AssessmentRow
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment

SAVES = 25
T0 = datetime(2026, 3, 2, 8, 0)


def _writer(url: str, options: dict[str, str], actor_json: str, worker: int, shared: str) -> None:
    engine = make_engine(url, connect_args=options) if options else make_engine(url)
    actor = Actor.model_validate_json(actor_json)
    for i in range(SAVES):
        with UnitOfWork(engine, actor) as uow:
            uow.assessments.add(
                Assessment(patient_id="P1", observed_at=T0 + timedelta(minutes=worker * 1000 + i),
                           temperature_c=37.0 + (i % 10) / 10)
            )  # fmt: skip
            uow.commit()
        # Both workers also correct one shared record, retrying on conflict as a person would.
        while True:
            try:
                with UnitOfWork(engine, actor) as uow:
                    latest = uow.assessments.history(shared)[-1]
                    uow.assessments.correct(
                        shared, latest.version,
                        Assessment(patient_id="P1", observed_at=T0, temperature_c=38.0 + i / 100),
                        f"worker {worker} correction {i}",
                    )  # fmt: skip
                    uow.commit()
                break
            except ConflictError:
                continue
    engine.dispose()


def test_two_processes_lose_nothing_and_keep_a_single_version_line(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        shared = uow.assessments.add(
            Assessment(patient_id="P1", observed_at=T0, temperature_c=38.0)
        ).record_id
        uow.commit()
    url = engine.url.render_as_string(hide_password=False)
    options = {}
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            schema = connection.exec_driver_sql("select current_schema()").scalar()
        options = {"options": f"-csearch_path={schema}"}
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_writer, args=(url, options, people[name].model_dump_json(), n, shared))
        for n, name in enumerate(["nurse1", "physician1"])
    ]  # fmt: skip
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
        assert worker.exitcode == 0, "a writer failed"
    with UnitOfWork(engine, people["nurse1"]) as uow:
        rows = uow.session.execute(select(func.count()).select_from(AssessmentRow)).scalar()
        history = uow.assessments.history(shared)
        current = uow.assessments.current("P1")
        check = audit.verify(uow.session)
    # 1 shared record + 2 x SAVES new records; the shared one has 1 + 2 x SAVES versions.
    assert rows == 1 + 2 * SAVES + 2 * SAVES
    assert [h.version for h in history] == list(range(1, 2 * SAVES + 2))
    assert [h.status for h in history].count("current") == 1
    assert len(current) == 1 + 2 * SAVES
    assert len({h.reason for h in history[1:]}) == 2 * SAVES  # every correction kept, none lost
    assert check.ok, check.message


def test_the_audit_chain_counts_every_change_exactly_once(
    engine: Engine, people: dict[str, Actor]
) -> None:
    with UnitOfWork(engine, people["nurse1"]) as uow:
        for minute in range(5):
            uow.assessments.add(
                Assessment(patient_id="P1", observed_at=T0 + timedelta(minutes=minute))
            )
        uow.commit()
        before = audit.verify(uow.session).entries
    with UnitOfWork(engine, people["nurse1"]) as uow:
        uow.assessments.add(Assessment(patient_id="P1", observed_at=T0 - timedelta(hours=1)))
        uow.commit()
        after = audit.verify(uow.session)
    assert after.ok
    assert after.entries == before + 1
