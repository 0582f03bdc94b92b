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
