"""Pseudonyms, the key and its per-database default, study days, the manifest and the scan."""

from __future__ import annotations

import hashlib
import hmac
import io
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.services.deidentify import (
    KEY_ENV,
    PseudonymKey,
    leaks,
    manifest,
    manifest_comment,
    pseudonym,
    pseudonym_key,
    pseudonyms,
    study_days,
)
from dashboard.store.access import SYSTEM
from dashboard.store.database import downgrade, open_database
from dashboard.store.schema import AuditEntry
from dashboard.store.unit_of_work import UnitOfWork

KEY = PseudonymKey(b"k1", "test")


def test_pseudonym_is_the_keyed_hmac_stable_and_differs_by_key() -> None:
    expected = "P-" + hmac.new(b"k1", b"S01-0001", hashlib.sha256).hexdigest()[:12]
    assert pseudonym("S01-0001", KEY) == expected
    assert pseudonym("S01-0001", KEY) == pseudonym("S01-0001", PseudonymKey(b"k1", "other"))
    assert pseudonym("S01-0001", PseudonymKey(b"k2", "test")) != expected
    assert pseudonym("S01-0002", KEY) != expected
    assert pseudonyms(["S01-0001", "S01-0002", "S01-0001"], KEY) == {
        "S01-0001": expected,
        "S01-0002": pseudonym("S01-0002", KEY),
    }


def test_key_from_the_environment_else_a_per_database_default(tmp_path: Path) -> None:
    keys = []
    for name in ("one", "two"):
        engine = open_database(f"sqlite+pysqlite:///{tmp_path / name}.db")
        with UnitOfWork(engine, SYSTEM) as uow:
            uow.people.add_site("S01", "Site one")
            uow.commit()
        with UnitOfWork(engine, SYSTEM) as uow:
            keys.append(pseudonym_key(uow.session, environ={}))
            again = pseudonym_key(uow.session, environ={})
            from_env = pseudonym_key(uow.session, environ={KEY_ENV: "secret"})
        engine.dispose()
        assert again.secret == keys[-1].secret
        assert keys[-1].source.startswith("database default")
        assert (from_env.secret, from_env.source.startswith("environment")) == (b"secret", True)
    assert keys[0].secret != keys[1].secret  # each database its own default
    assert keys[0].key_id != keys[1].key_id
    assert keys[0].secret.hex() not in keys[0].key_id


def test_the_default_key_is_random_not_derived_from_the_audit_log(tmp_path: Path) -> None:
    """The review's attack: the old default was SHA-256 of a context and the first audit entry's
    hash, which is guessable from its time stamp. The new one is 32 random bytes of the database,
    the same after reopening it, and unrelated to the audit chain."""
    url = f"sqlite+pysqlite:///{tmp_path / 'key.db'}"
    engine = open_database(url)
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_site("S01", "Site one")
        uow.commit()
    with UnitOfWork(engine, SYSTEM) as uow:
        key = pseudonym_key(uow.session, environ={})
        first = uow.session.execute(
            select(AuditEntry.hash).order_by(AuditEntry.seq).limit(1)
        ).scalar_one()
    engine.dispose()
    assert len(key.secret) == 32
    old_default = hashlib.sha256(b"cartwatch-pseudonym-v1:" + first.encode("ascii")).digest()
    assert key.secret != old_default
    engine = open_database(url)
    with UnitOfWork(engine, SYSTEM) as uow:
        assert pseudonym_key(uow.session, environ={}).secret == key.secret
    engine.dispose()


def test_a_database_without_its_key_refuses_to_pseudonymise(tmp_path: Path) -> None:
    engine = open_database(f"sqlite+pysqlite:///{tmp_path / 'old.db'}")
    downgrade(engine, "0003")  # as a database made before migration 0004
    with Session(engine) as session, pytest.raises(RuntimeError, match="cartwatch db upgrade"):
        pseudonym_key(session, environ={})
    with Session(engine) as session:  # the environment's key needs no table
        assert pseudonym_key(session, environ={KEY_ENV: "k"}).secret == b"k"
    engine.dispose()


def test_study_days_are_fractional_days_since_the_infusion() -> None:
    infusion = pd.Series([datetime(2026, 3, 1, 10)] * 3)
    at = pd.Series([datetime(2026, 3, 1, 10), datetime(2026, 3, 2, 22), datetime(2026, 2, 28, 10)])
    assert study_days(at, infusion).tolist() == [0.0, 1.5, -1.0]


def test_manifest_names_every_rule_and_heads_a_csv() -> None:
    entries = manifest(KEY, filters="sites: S01")
    assert entries["pseudonym key id"] == KEY.key_id
    assert entries["filters"] == "sites: S01"
    assert {"removed: patient_id", "removed: dates and times", "removed: free text"} <= set(entries)
    text = manifest_comment(entries) + "a,b\n1,2\n"
    assert all(line.startswith("# ") for line in text.splitlines()[: len(entries)])
    assert pd.read_csv(io.StringIO(text), comment="#").to_dict("records") == [{"a": 1, "b": 2}]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("P-abc,3,1.5", []),
        ("S01-0001,3", ["S01-0001"]),
        ("onset 2026-03-02T08:00", ["2026-03-02"]),
        ("note: misread thermometer", ["misread thermometer"]),
    ],
)
def test_the_identifier_scan(text: str, found: list[str]) -> None:
    assert leaks(text, ["S01-0001"], [datetime(2026, 3, 2, 8)], ["misread thermometer"]) == found
