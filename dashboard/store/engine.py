"""Engines: SQLite in WAL mode with foreign keys and immediate write transactions; PostgreSQL
through psycopg 3."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event


def make_engine(url: str, **options: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        _sqlite_pragmas(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL for concurrent readers, foreign keys on, and BEGIN IMMEDIATE so that two writers queue
    for the lock instead of failing with "database is locked" on upgrade (SQLAlchemy's documented
    pysqlite recipe: take over transaction control from the driver)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
