"""Where the database is: ``CARTWATCH_DATABASE_URL``, else an SQLite file in the user data dir.

The default file is ``$XDG_DATA_HOME/cartwatch/cartwatch.db`` (``~/.local/share/cartwatch/`` when
XDG_DATA_HOME is unset; ``~/Library/Application Support/cartwatch`` on macOS and
``%LOCALAPPDATA%\\cartwatch`` on Windows, as platformdirs decides).
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

ENV_VAR = "CARTWATCH_DATABASE_URL"
#: Connections to a database server that one app process keeps open for reuse.
POOL_SIZE_VAR = "CARTWATCH_DB_POOL_SIZE"
#: One app process serves its users' sessions on threads; with more units of work at once than
#: pooled connections, each extra connection is opened for one unit of work and closed after it
#: (a new server process each time, on PostgreSQL). SQLAlchemy's default is 5.
DEFAULT_POOL_SIZE = 10


def default_sqlite_path() -> Path:
    return Path(user_data_dir("cartwatch", appauthor=False)) / "cartwatch.db"


def database_url() -> str:
    """The configured URL; the SQLite default creates its folder."""
    url = os.environ.get(ENV_VAR, "").strip()
    if url:
        return url
    path = default_sqlite_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite+pysqlite:///{path}"


def pool_size() -> int:
    """``CARTWATCH_DB_POOL_SIZE``, else :data:`DEFAULT_POOL_SIZE`; a value that is not a whole
    number of at least 1 is refused with its name and value."""
    raw = os.environ.get(POOL_SIZE_VAR, "").strip()
    if not raw:
        return DEFAULT_POOL_SIZE
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"{POOL_SIZE_VAR}={raw!r}: expected a whole number of connections, 1 or more"
        )
    return value
