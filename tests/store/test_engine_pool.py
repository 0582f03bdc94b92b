"""A server engine keeps CARTWATCH_DB_POOL_SIZE connections (default 10) for reuse
(dashboard/store/config.py ``pool_size``): one app process serves its users on threads, and with
more units of work at once than pooled connections SQLAlchemy opens an extra connection for each
and closes it afterwards, a new PostgreSQL server process every time."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from dashboard.cli import main
from dashboard.store.config import DEFAULT_POOL_SIZE, POOL_SIZE_VAR, pool_size
from dashboard.store.engine import make_engine
from tests.store.conftest import PG_URL


def test_the_default_pool_keeps_ten_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POOL_SIZE_VAR, raising=False)
    assert pool_size() == DEFAULT_POOL_SIZE == 10
    engine = make_engine(PG_URL)  # no connection is made until one is checked out
    assert engine.pool.size() == 10  # type: ignore[attr-defined]


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), (" 25 ", 25), ("", DEFAULT_POOL_SIZE)])
def test_the_pool_size_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: int
) -> None:
    monkeypatch.setenv(POOL_SIZE_VAR, raw)
    assert pool_size() == expected
    assert make_engine(PG_URL).pool.size() == expected  # type: ignore[attr-defined]


@pytest.mark.parametrize("raw", ["0", "-3", "ten", "2.5"])
def test_a_pool_size_that_is_not_a_whole_number_of_1_or_more_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv(POOL_SIZE_VAR, raw)
    with pytest.raises(ValueError, match=re.escape(f"{POOL_SIZE_VAR}={raw!r}")):
        make_engine(PG_URL)


@pytest.fixture
def sized(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A second engine on the test schema, built with the environment's pool size."""
    monkeypatch.delenv(POOL_SIZE_VAR, raising=False)
    other = make_engine(str(engine.url.render_as_string(hide_password=False)),
                        connect_args={"options": _search_path(engine)})  # fmt: skip
    yield other
    other.dispose()


def _search_path(engine: Engine) -> str:
    with engine.connect() as connection:
        return f"-csearch_path={connection.execute(text('SHOW search_path')).scalar_one()}"


@pytest.mark.parametrize("backend", ["postgresql"])
def test_ten_units_of_work_at_once_leave_ten_connections_open_for_the_next(sized: Engine) -> None:
    held = [sized.connect() for _ in range(10)]
    pids = {c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in held}
    for connection in held:
        connection.close()
    # SQLAlchemy's default of 5 would have closed 5 of them on return
    assert sized.pool.checkedin() == 10  # type: ignore[attr-defined]
    again = [sized.connect() for _ in range(10)]
    try:
        assert {c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in again} == pids
    finally:
        for connection in again:
            connection.close()


def test_an_engine_without_a_pool_takes_no_pool_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POOL_SIZE_VAR, "ten")  # not read: a NullPool has no size
    assert isinstance(make_engine(PG_URL, poolclass=NullPool).pool, NullPool)


def test_the_cli_names_a_bad_pool_size_instead_of_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(POOL_SIZE_VAR, "ten")
    assert main(["audit", "verify", "--url", PG_URL]) == 2
    err = capsys.readouterr().err
    assert "cannot open the database" in err
    assert f"{POOL_SIZE_VAR}='ten'" in err
