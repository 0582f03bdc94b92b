"""The Alembic migrations build exactly the models, on SQLite and on PostgreSQL, and the database
commands (`cartwatch db upgrade`, `cartwatch audit verify`) work on what they build.

The ``engine`` fixture (conftest.py) has already run the migrations up to head.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Engine, bindparam, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from dashboard.cli import main
from dashboard.store.access import Actor
from dashboard.store.config import ENV_VAR
from dashboard.store.database import (
    MigrationError,
    current_revision,
    downgrade,
    head_revision,
    migration_connection,
    open_database,
    upgrade,
)
from dashboard.store.schema import AuditEntry, Base, Membership, User


def drift(engine: Engine) -> list[Any]:
    """What autogenerate would write to bring the database to the models (empty: no drift)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def count(engine: Engine, column: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count(column))).scalar_one())


def cli_url(engine: Engine) -> str:
    """The engine's URL for the command line; on PostgreSQL it carries the test's schema."""
    url = engine.url
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


# --- the migrations and the models agree ---------------------------------------------------------


def test_the_migrated_database_has_no_drift_from_the_models(engine: Engine) -> None:
    assert drift(engine) == []
    assert tables(engine) == {*Base.metadata.tables, "alembic_version"}
    assert current_revision(engine) == head_revision()


def test_upgrading_again_changes_nothing_and_keeps_the_data(
    engine: Engine, people: dict[str, Actor]
) -> None:
    entries = count(engine, AuditEntry.seq)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert count(engine, AuditEntry.seq) == entries > 0
    assert drift(engine) == []


def test_downgrade_to_base_drops_everything_and_upgrade_builds_it_again(
    engine: Engine, people: dict[str, Actor]
) -> None:
    downgrade(engine, "base")
    assert tables(engine) == {"alembic_version"}
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert drift(engine) == []
    assert count(engine, User.user_id) == 0


def test_two_processes_starting_together_both_find_the_database_at_head(engine: Engine) -> None:
    """The app's workers and the command line all migrate at start; none may fail."""
    downgrade(engine, "base")
    start, failures = threading.Barrier(2), []

    def start_up() -> None:
        start.wait()
        try:
            upgrade(engine)
        except Exception as error:  # collected: an exception in a thread would go unseen
            failures.append(error)

    workers = [threading.Thread(target=start_up) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert current_revision(engine) == head_revision()
    assert drift(engine) == []


def test_a_later_alter_of_a_referenced_table_keeps_its_rows_and_links(
    engine: Engine, people: dict[str, Actor]
) -> None:
    """What a future revision does. On SQLite batch mode rebuilds ``users`` (copy, drop, rename),
    which rows in memberships, patients and the records point at; on PostgreSQL it is one ALTER."""
    users, memberships = count(engine, User.user_id), count(engine, Membership.user_id)
    with migration_connection(engine) as connection:
        operations = Operations(MigrationContext.configure(connection))
        with operations.batch_alter_table("users") as batch:
            batch.alter_column("role", type_=sa.String(40), existing_nullable=False)
    assert (count(engine, User.user_id), count(engine, Membership.user_id)) == (users, memberships)
    role = next(c["type"] for c in inspect(engine).get_columns("users") if c["name"] == "role")
    assert isinstance(role, sa.String)
    assert role.length == 40
    with engine.begin() as connection, pytest.raises(IntegrityError):  # foreign keys still hold
        connection.execute(sa.insert(Membership).values(user_id=999, site_id="S01"))


def test_a_migration_that_breaks_a_foreign_key_commits_nothing(
    engine: Engine, people: dict[str, Actor]
) -> None:
    """SQLite migrates with enforcement off, so the check before commit is what catches it."""
    orphan = sa.insert(Membership).values(user_id=999, site_id="S01")
    refused = MigrationError if engine.dialect.name == "sqlite" else IntegrityError
    with pytest.raises(refused), migration_connection(engine) as connection:
        connection.execute(orphan)
    with engine.connect() as connection:
        assert connection.execute(select(Membership).where(Membership.user_id == 999)).all() == []


# --- the SQLite default ------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_DATA_HOME decides the folder on Linux")
def test_the_default_database_is_a_wal_sqlite_file_in_the_user_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    path = tmp_path / "cartwatch" / "cartwatch.db"
    engine = open_database()
    try:
        assert engine.url.database == str(path)
        assert current_revision(engine) == head_revision()
        # The migration turned foreign keys off on its connection; the pool hands it out again.
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with engine.begin() as connection, pytest.raises(IntegrityError):
            connection.execute(sa.insert(Membership).values(user_id=1, site_id="nowhere"))
    finally:
        engine.dispose()
    with closing(sqlite3.connect(path)) as plain:  # WAL is a property of the file
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# --- the command line --------------------------------------------------------------------------


def test_db_upgrade_creates_a_database_whose_empty_audit_chain_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert main(["db", "upgrade", "--url", url]) == 0
    assert capsys.readouterr().out == f"{url}: at revision {head_revision()} (head)\n"
    assert main(["db", "upgrade", "--url", url]) == 0  # again: nothing to do
    assert main(["audit", "verify", "--url", url]) == 0
    assert capsys.readouterr().out.endswith("audit chain intact: 0 entries\n")


def test_audit_verify_names_the_entry_whose_detail_was_edited(
    engine: Engine, people: dict[str, Actor], capsys: pytest.CaptureFixture[str]
) -> None:
    url, entries = cli_url(engine), count(engine, AuditEntry.seq)
    assert main(["db", "upgrade", "--url", url]) == 0
    assert main(["audit", "verify", "--url", url]) == 0
    assert f"audit chain intact: {entries} entries" in capsys.readouterr().out
    with engine.begin() as connection:
        seq = connection.execute(
            select(AuditEntry.seq).where(AuditEntry.entity_id == "physician1")
        ).scalar_one()
        connection.execute(
            text("UPDATE audit_log SET detail = :detail WHERE seq = :seq").bindparams(
                bindparam("detail", type_=JSON)
            ),
            {"detail": {"role": "admin", "sites": ["S01"]}, "seq": seq},
        )
    assert main(["audit", "verify", "--url", url]) == 1
    assert capsys.readouterr().err == (
        f"audit chain broken at entry {seq}: content does not match its hash\n"
    )


def test_audit_verify_notices_that_the_last_entry_was_deleted(
    engine: Engine, people: dict[str, Actor], capsys: pytest.CaptureFixture[str]
) -> None:
    url, entries = cli_url(engine), count(engine, AuditEntry.seq)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": entries})
    assert main(["audit", "verify", "--url", url]) == 1
    assert capsys.readouterr().err == (
        f"audit chain broken at entry {entries}: the last entries are missing\n"
    )


def test_audit_verify_of_a_missing_file_exits_2_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    assert main(["audit", "verify", "--url", f"sqlite:///{missing}"]) == 2
    assert "no such database file" in capsys.readouterr().err
    assert not missing.exists()


def test_audit_verify_refuses_a_database_that_was_never_migrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as plain:
        plain.execute("CREATE TABLE notes (body TEXT)")
    assert main(["audit", "verify", "--url", f"sqlite:///{other}"]) == 2
    assert "not a cartwatch database" in capsys.readouterr().err


def test_an_unreachable_server_exits_2_without_showing_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql+psycopg://cartwatch:s3cret@127.0.0.1:1/cartwatch?connect_timeout=3"
    assert main(["db", "upgrade", "--url", url]) == 2
    err = capsys.readouterr().err
    assert "cannot open the database" in err
    assert "s3cret" not in err
