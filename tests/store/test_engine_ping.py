"""The PostgreSQL engine pings a pooled connection only after it sat idle (dashboard/store/engine.py
``_ping_after_idle``): a connection the server killed meanwhile is replaced before a unit of work
gets it, and a connection reused at once costs no ping round trip."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from dashboard.store import engine as engine_module
from dashboard.store.access import Actor
from dashboard.store.errors import ConnectionLostError
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
    engine.dispose()  # not the connection the fixture's migrations left idle in the pool
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


def test_a_failed_ping_replaces_every_older_connection(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart kills every pooled connection: after one failed ping the pool replaces the
    others too, also those it would hand out without a ping."""
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", 0.2)
    engine.dispose()
    with engine.connect() as one, engine.connect() as two:  # two connections in the pool
        pids = [int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in (one, two)]
    for pid in pids:
        kill(engine, pid)
    time.sleep(0.3)
    assert backend_pid(engine) not in pids  # pinged, failed, replaced
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", 3600.0)  # no more pings
    with engine.connect() as one, engine.connect() as two:  # the other one was replaced too
        now = [int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in (one, two)]
    assert not set(now) & set(pids)


def test_a_connection_lost_before_commit_saves_nothing_and_says_so(
    engine: Engine, people: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the idle ping (a 1-hour threshold, as for a connection used a moment ago) the
    killed connection is handed out: the save fails with ConnectionLostError, stores nothing,
    and the next save connects afresh."""
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", 3600.0)
    engine.dispose()
    pid = backend_pid(engine)
    kill(engine, pid)
    at = INFUSION.replace(hour=13)

    def save() -> None:
        with UnitOfWork(engine, people["nurse1"]) as uow:
            uow.assessments.add(Assessment(patient_id="P1", observed_at=at, temperature_c=38.9))
            uow.commit()

    with pytest.raises(ConnectionLostError, match="before anything was committed"):
        save()
    with UnitOfWork(engine, people["nurse1"]) as uow:
        assert [r.values.observed_at for r in uow.assessments.current("P1")] == []
        stored = uow.assessments.add(
            Assessment(patient_id="P1", observed_at=at, temperature_c=38.9)
        )
        uow.commit()
    assert stored.values.temperature_c == 38.9
    assert backend_pid(engine) != pid
