"""The PostgreSQL engine pings a pooled connection only after it sat idle (dashboard/store/engine.py
``_ping_after_idle``): a connection the server killed meanwhile is replaced before a unit of work
gets it, and a connection reused at once costs no ping round trip."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from dashboard.store import engine as engine_module
from dashboard.store.access import Actor
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from tests.store.conftest import INFUSION

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])


def count_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    pings: list[bool] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(True)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def kill(engine: Engine, pid: int) -> None:
    """The server ends that session, as a restart or an idle-session timeout would (through a
    connection of its own, so the pool under test is not touched)."""
    admin = create_engine(engine.url)
    try:
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})
    finally:
        admin.dispose()


def test_a_connection_reused_at_once_is_not_pinged(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = count_pings(engine, monkeypatch)
    first = backend_pid(engine)
    for _ in range(5):
        assert backend_pid(engine) == first  # the same pooled connection each time
    assert pings == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced_before_a_save(
    engine: Engine, people: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", 0.2)
    pings = count_pings(engine, monkeypatch)
    engine.dispose()
    pid = backend_pid(engine)  # the pool's one connection
    kill(engine, pid)
    time.sleep(0.3)
    with UnitOfWork(engine, people["nurse1"]) as uow:  # gets a live connection, saves
        stored = uow.assessments.add(
            Assessment(patient_id="P1", observed_at=INFUSION.replace(hour=12), temperature_c=38.4)
        )
        uow.commit()
    assert pings == [True]
    assert backend_pid(engine) != pid
    with UnitOfWork(engine, people["nurse1"]) as uow:
        versions = uow.assessments.history(stored.record_id)
    assert [v.values.temperature_c for v in versions] == [38.4]


def test_without_the_idle_ping_the_dead_connection_fails_the_next_use(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the ping prevents (so the test above can fail): with a long idle threshold the killed
    connection is handed out and its first statement fails (SQLAlchemy then invalidates it, and
    the next use connects afresh)."""
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", 3600.0)
    engine.dispose()
    pid = backend_pid(engine)
    kill(engine, pid)
    with pytest.raises(DBAPIError) as failure:
        backend_pid(engine)
    assert failure.value.connection_invalidated
    assert backend_pid(engine) != pid
