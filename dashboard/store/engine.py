"""Engines: SQLite in WAL mode with foreign keys and immediate write transactions; PostgreSQL
through psycopg 3.

SQLite writers queue fairly (the writer lock)
-------------------------------------------

Every SQLite transaction this engine opens is ``BEGIN IMMEDIATE`` (SQLAlchemy's documented
pysqlite recipe), i.e. it takes SQLite's single write lock at its start, so a transaction never
fails later on upgrading a read snapshot. SQLite's own wait for that lock (the busy handler) is
not a queue: a waiting connection sleeps and polls (1, 2, 5 ... up to 100 ms between tries), and
a writer that commits and immediately begins again nearly always wins against a waiter that is
asleep. Under load one writer can be passed over until its busy timeout runs out, and its save
fails with "database is locked" (it happened once in three benchmark runs with 5 writers).

So, in front of ``BEGIN IMMEDIATE``, every transaction first takes an exclusive ``flock`` on a
lock file next to the database (``<database>-writer.lock``), waiting in the kernel without a
timeout and without polling: when the holder releases it, the waiters are woken at once. The lock
is released right after the transaction's ``COMMIT`` or ``ROLLBACK`` has run (wrapped around the
dialect's ``do_commit``/``do_rollback``, which the pool's reset-on-return also calls). Whoever
holds the file lock is the only cooperating connection that can be in ``BEGIN IMMEDIATE``, so it
gets SQLite's lock at once and the busy timeout is only the fallback for connections that do not
take the file lock (another tool on the same file).

- One lock file descriptor per DBAPI connection (opened when the pool opens the connection, closed
  with it), so pooled connections of one process, threads and processes all queue on the same
  lock. The kernel drops a lock whose process died: a crash never leaves the database locked.
- A thread that already holds the lock through one connection and begins a transaction on a second
  one does not wait for itself (that would hang forever): the second connection skips the file
  lock and falls back to the busy timeout, exactly as before this lock existed.
- Readers: a connection (or session bind) with the execution option ``{READ_ONLY: True}`` begins a
  plain deferred ``BEGIN`` and takes no lock at all; in WAL mode it reads a snapshot and never
  waits for writers. Its transaction must not write (it would fail, not queue). Everything else
  (including :class:`~dashboard.store.unit_of_work.UnitOfWork`, which cannot know in advance
  whether it will write) queues as a writer, as it already queued for SQLite's write lock.
- In-memory databases have no file and take no file lock (one connection, nobody to queue with).
- POSIX only (``fcntl``); where it is missing the engine falls back to the busy timeout alone.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import IO, Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from dashboard.store.config import pool_size

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Execution option: this connection only reads (SQLite: deferred BEGIN, no writer lock).
READ_ONLY = "cartwatch_read_only"
#: Seconds a connection that does not hold the writer lock waits in SQLite's busy handler.
BUSY_TIMEOUT = 30.0


def make_engine(
    url: str,
    *,
    sqlite_busy_timeout: float = BUSY_TIMEOUT,
    sqlite_writer_lock: bool = True,
    **options: Any,
) -> Engine:
    """An engine on ``url``. SQLite: ``sqlite_busy_timeout`` seconds of busy handler and, unless
    ``sqlite_writer_lock`` is false (tests that show what it prevents), the writer lock."""
    if url.startswith("sqlite"):
        connect_args = {"timeout": sqlite_busy_timeout, **options.pop("connect_args", {})}
        lock_path = _lock_path(url) if sqlite_writer_lock and fcntl is not None else None
        if lock_path is not None:
            connect_args["factory"] = _LockingConnection
        engine = create_engine(url, connect_args=connect_args, **options)
        _sqlite_setup(engine, int(sqlite_busy_timeout * 1000), lock_path)
        return engine
    if "poolclass" not in options and "pool_size" not in options:  # NullPool takes no size
        options["pool_size"] = pool_size()
    engine = create_engine(url, **options)
    _ping_after_idle(engine)
    return engine


#: Seconds a pooled server connection may have sat idle and still be handed out without a ping.
PING_AFTER_IDLE = 1.0
_CHECKED_IN = "cartwatch_checked_in_at"


def _ping_after_idle(engine: Engine) -> None:
    """Test a pooled connection before use only when it has been idle for more than
    :data:`PING_AFTER_IDLE` seconds (SQLAlchemy's ``pool_pre_ping`` pings at every checkout).

    A server restart, a failover or an idle-session timeout kills connections that sit in the
    pool; a unit of work that got one would fail. The ping finds them first: a failed ping
    raises ``InvalidatePoolError`` here, and the pool throws away that connection and every other
    one older than it (a restart kills them all, as ``pool_pre_ping`` assumes too) and connects
    again. Under load a connection comes back to the pool and goes out again within milliseconds,
    and pinging it each time cost a round trip per save (about 5-10 % of the writers'
    throughput, docs/performance.md); a connection that was in use a moment ago and died since
    is the rare case left to SQLAlchemy's "optimistic" handling: its first statement fails, the
    pool is invalidated, the unit of work rolls back (nothing is half-stored) and reports
    :class:`~dashboard.store.errors.ConnectionLostError`, and the next one connects afresh.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE:
            return  # just connected, or in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.InvalidatePoolError(f"pooled connection failed its ping: {error}") from error
        if not alive:
            raise exc.InvalidatePoolError("pooled connection failed its ping")


def _lock_path(url: str) -> str | None:
    """``<database file>-writer.lock``, or None for an in-memory database."""
    parsed = make_url(url)
    database = parsed.database or ""
    if not database or database == ":memory:" or "mode=memory" in str(parsed.query):
        return None
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    return os.path.abspath(database) + "-writer.lock"


class _LockingConnection(sqlite3.Connection):
    """A sqlite3 connection that carries its writer-lock file."""

    writer_lock: _WriterLock | None = None


class _WriterLock:
    """One connection's handle on the lock file (a separate open file, so that it queues against
    every other connection, in this process too)."""

    _held = threading.local()  # per thread: the lock paths this thread holds

    def __init__(self, path: str) -> None:
        self.path = path
        self.file: IO[bytes] | None = None
        self.locked = False

    def acquire(self) -> None:
        held: set[str] = self._paths()
        if self.path in held:  # this thread holds it through another connection: do not hang
            return
        if self.file is None:
            self.file = open(self.path, "a+b")  # noqa: SIM115  (kept open with the connection)
        fcntl.flock(self.file.fileno(), fcntl.LOCK_EX)  # waits in the kernel, no timeout
        self.locked = True
        held.add(self.path)

    def release(self) -> None:
        if self.locked and self.file is not None:
            self.locked = False
            self._paths().discard(self.path)
            fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)

    def close(self) -> None:
        self.release()
        if self.file is not None:
            self.file.close()
            self.file = None

    @classmethod
    def _paths(cls) -> set[str]:
        paths: set[str] | None = getattr(cls._held, "paths", None)
        if paths is None:
            paths = cls._held.paths = set()
        return paths


def _lock_of(dbapi_connection: Any) -> _WriterLock | None:
    raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)  # a pool proxy or not
    lock: _WriterLock | None = getattr(raw, "writer_lock", None)
    return lock


def _sqlite_setup(engine: Engine, busy_ms: int, lock_path: str | None) -> None:
    """WAL for concurrent readers, foreign keys on, BEGIN IMMEDIATE (SQLAlchemy's documented
    pysqlite recipe: take over transaction control from the driver) behind the writer lock."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        if lock_path is not None and isinstance(dbapi_connection, _LockingConnection):
            dbapi_connection.writer_lock = _WriterLock(lock_path)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
            return
        lock = _lock_of(connection.connection.dbapi_connection)
        if lock is not None:
            lock.acquire()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    if lock_path is None:
        return

    @event.listens_for(engine, "close")
    def _on_close(dbapi_connection: Any, _record: Any) -> None:
        lock = _lock_of(dbapi_connection)
        if lock is not None:
            lock.close()

    @event.listens_for(engine, "close_detached")
    def _on_close_detached(dbapi_connection: Any) -> None:
        _on_close(dbapi_connection, None)

    dialect: Any = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def releasing(finish: Any) -> Any:
        """The dialect's commit or rollback, then the writer lock released whatever happened."""

        def run(dbapi_connection: Any) -> None:
            try:
                finish(dbapi_connection)
            finally:
                lock = _lock_of(dbapi_connection)
                if lock is not None:
                    lock.release()

        return run

    do_commit, do_rollback = releasing(commit), releasing(rollback)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback
