"""Every store test runs on SQLite and on PostgreSQL.

PostgreSQL: 127.0.0.1:5432, user postgres, database test (override with CARTWATCH_TEST_PG_URL).
Each test gets its own schema, dropped afterwards. With CI=true the PostgreSQL run is required and
fails when the server is missing; elsewhere it is skipped with a message saying how to enable it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.database import upgrade
from dashboard.store.engine import make_engine
from dashboard.store.unit_of_work import UnitOfWork
from grading.records import Patient

PG_URL = os.environ.get(
    "CARTWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI") == "true"


def _postgres_available() -> str | None:
    try:
        probe = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with probe.connect() as connection:
            connection.execute(text("select 1"))
        probe.dispose()
    except Exception as error:  # any failure means "not available"
        return f"{type(error).__name__}: {error}"
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def create_schema(engine: Engine) -> None:
    """Build the schema the way the app does: the Alembic migrations, up to head."""
    upgrade(engine)


@pytest.fixture
def engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    if backend == "sqlite":
        engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'store.db'}")
        create_schema(engine)
        yield engine
        engine.dispose()
        return
    problem = _postgres_available()
    if problem is not None:
        message = (
            f"PostgreSQL is not reachable at {PG_URL} ({problem}). Start it (pg_ctlcluster "
            "--skip-systemctl-redirect $(ls /etc/postgresql) main start) or set "
            "CARTWATCH_TEST_PG_URL."
        )
        if IN_CI:
            pytest.fail("CI=true requires the PostgreSQL store tests: " + message)
        pytest.skip(message)
    schema = f"cw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    create_schema(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


INFUSION = datetime(2026, 3, 1, 10, 0)


@pytest.fixture
def people(engine: Engine) -> dict[str, Actor]:
    """Two sites with a nurse each, a physician at S01, a researcher and an admin."""
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_site("S01", "Site one")
        uow.people.add_site("S02", "Site two")
        actors = {
            "nurse1": uow.people.add_user("nurse1", Role.NURSE, "nurse-one-pw", ["S01"]),
            "nurse2": uow.people.add_user("nurse2", Role.NURSE, "nurse-two-pw", ["S02"]),
            "physician1": uow.people.add_user("physician1", Role.PHYSICIAN, "physician-pw", ["S01"]),
            "researcher": uow.people.add_user("researcher", Role.RESEARCHER, "research-pw", ["S01", "S02"]),
            "admin": uow.people.add_user("admin", Role.ADMIN, "admin-pw-123", []),
        }  # fmt: skip
        uow.commit()
    with UnitOfWork(engine, actors["nurse1"]) as uow:
        uow.patients.add(Patient(patient_id="P1", site_id="S01", disease="sle",
                                 product="cd19_car_t", infusion_at=INFUSION, weight_kg=70))  # fmt: skip
        uow.commit()
    with UnitOfWork(engine, actors["nurse2"]) as uow:
        uow.patients.add(Patient(patient_id="P2", site_id="S02", disease="myositis",
                                 product="cd19_car_t", infusion_at=INFUSION, weight_kg=80))  # fmt: skip
        uow.commit()
    return actors
