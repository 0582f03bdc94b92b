"""Alembic environment of the store.

Two ways in:

- ``dashboard.store.database`` (the app, ``cartwatch db upgrade``, the tests) passes its open
  connection in ``config.attributes["connection"]``; everything runs on it, inside its transaction,
  so a PostgreSQL ``search_path`` on that connection decides where the tables and
  ``alembic_version`` go.
- The ``alembic`` command at the repository root (``alembic.ini``, for writing revisions) has no
  connection: this file opens the ``sqlalchemy.url`` of the ini file, else ``-x url=...``, else
  ``CARTWATCH_DATABASE_URL`` or the SQLite default, the way the app does.

Scripts are rendered in batch mode so that an ALTER written once also runs on SQLite (which
rebuilds the table); on PostgreSQL batch operations are plain ALTER statements. Offline (``--sql``)
mode is not supported: batch mode needs to read the live table.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from dashboard.store.config import database_url
from dashboard.store.database import migration_connection
from dashboard.store.engine import make_engine
from dashboard.store.schema import Base

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_from_command_line() -> None:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    url = (
        config.get_main_option("sqlalchemy.url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or database_url()
    )
    engine = make_engine(url)
    try:
        with migration_connection(engine) as connection:
            run_migrations(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("cartwatch migrations need a live database: offline (--sql) is not supported")

given = config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    run_from_command_line()
