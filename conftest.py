"""Shared fixtures: the sample cohort loaded once into an SQLite template, copied per test
(dashboard, export and analytics tests)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine

from dashboard import heap
from dashboard.store.access import Actor
from dashboard.store.config import ENV_VAR
from dashboard.store.database import open_database
from dashboard.store.sample import load_sample
from tests.sample_accounts import demo

#: Page tests run the app in the pytest process: freezing its heap there would keep every test's
#: objects alive so far (engines and open files included) for the rest of the session.
heap.disable()


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "template.db"
    engine = open_database(f"sqlite+pysqlite:///{path}")
    load_sample(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def module_engine(
    sample_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A copy of the loaded sample shared by one test module (for modules that export once and
    check many things; tests that write use :func:`sample_engine`)."""
    path = tmp_path_factory.mktemp("module_db") / "cartwatch.db"
    shutil.copyfile(sample_template, path)
    engine = open_database(f"sqlite+pysqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def sample_engine(
    sample_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """A private copy of the loaded sample; pages opened by AppTest use it too (the env var)."""
    path = tmp_path / "cartwatch.db"
    shutil.copyfile(sample_template, path)
    url = f"sqlite+pysqlite:///{path}"
    monkeypatch.setenv(ENV_VAR, url)
    st.cache_resource.clear()
    engine = open_database(url)
    yield engine
    engine.dispose()
    st.cache_resource.clear()


@pytest.fixture
def researcher(sample_engine: Engine) -> Actor:
    """The sample's researcher (all five sites, read only)."""
    return demo(sample_engine, "researcher")
