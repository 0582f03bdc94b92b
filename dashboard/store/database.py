"""Opening the database: the app and the command line call :func:`open_database` at start, which
applies any pending Alembic migration (``dashboard/store/migrations``, shipped in the package).

Alembic is configured here in code, so no ``alembic.ini`` is needed at run time; the one at the
repository root is for developers writing new revisions (``alembic revision --autogenerate``).
Migrations run on the caller's engine, so a PostgreSQL ``search_path`` set on its connections
decides the schema that receives the tables and ``alembic_version``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from dashboard.store.config import database_url
from dashboard.store.engine import make_engine
from dashboard.store.errors import StoreError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: pg_advisory_xact_lock key: processes that start together migrate one after the other.
_PG_LOCK_KEY = 0x6361727477  # "cartw"


class MigrationError(StoreError):
    """A migration left rows that break a foreign key (SQLite); nothing was committed."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an ini file; ``env.py`` migrates ``connection`` if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder holds no revision"
    return head


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision``, all in one transaction; a second run does nothing."""
    with migration_connection(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` (``"base"`` drops every table and its data)."""
    with migration_connection(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when no migration has been applied."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def open_database(url: str | None = None) -> Engine:
    """An engine on ``url`` (default: :func:`dashboard.store.config.database_url`), migrated to
    the newest revision."""
    engine = make_engine(database_url() if url is None else url)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """One connection in one transaction for Alembic to migrate on.

    PostgreSQL: a transaction-scoped advisory lock, so that two processes starting together do not
    both create the tables; the second waits, then finds the database at head.

    SQLite: foreign-key enforcement is off while migrating and checked before commit (the order
    SQLite documents for schema changes). Batch mode alters a table by copying it, dropping the
    original and renaming the copy; with enforcement on, dropping a table that other rows
    reference would fail or cascade. The pragma is a no-op inside a transaction, so it is set on
    the driver connection before the transaction begins, and set back afterwards.
    """
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_pragma(connection, "foreign_keys=OFF")
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                    )
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise MigrationError(
                            "the migration would break foreign keys (table, rowid, parent): "
                            + "; ".join(str(tuple(row)) for row in broken[:10])
                        )
        finally:
            if sqlite:
                _sqlite_pragma(connection, "foreign_keys=ON")


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    """Run a pragma on the driver connection, outside SQLAlchemy's transaction handling."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()
