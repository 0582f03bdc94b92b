"""load-sample: the shipped cohort with its demo accounts, loaded once however often it runs."""

from __future__ import annotations

import csv

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, func, select

from dashboard.store import audit
from dashboard.store import people as people_module
from dashboard.store.access import SYSTEM, Role
from dashboard.store.sample import COHORT, NotADemoDatabaseError, load_sample
from dashboard.store.schema import (
    AssessmentRow,
    AuditEntry,
    DrugAdministrationRow,
    LabResultRow,
    OutcomeEventRow,
    Patient,
    Site,
    User,
)
from dashboard.store.unit_of_work import UnitOfWork

QUICK_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
TABLES = (
    Site, User, Patient, AssessmentRow, LabResultRow, DrugAdministrationRow, OutcomeEventRow,
    AuditEntry,
)  # fmt: skip


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its lowest cost for the 12 demo accounts: the real cost is tested in
    test_records and only slows the setup here (check_password reads the cost from the hash)."""
    monkeypatch.setattr(people_module, "hash_password", QUICK_HASHER.hash)


def rows_in(name: str) -> int:
    with (COHORT / f"{name}.csv").open(encoding="utf-8") as stream:
        return sum(1 for _ in csv.DictReader(stream))


def counts(engine: Engine) -> dict[str, int]:
    """Rows per table (the whole audit log included), and ``audit_log: ours``: the entries of
    sites, accounts, records and imports (the alert engine, when registered, adds its own)."""
    with UnitOfWork(engine, SYSTEM) as uow:
        found = {
            table.__tablename__: uow.session.execute(
                select(func.count()).select_from(table)
            ).scalar_one()
            for table in TABLES
        }
        found["audit_log: ours"] = uow.session.execute(
            select(func.count()).where(AuditEntry.action.in_(("create", "import")))
        ).scalar_one()
    return found


def test_the_sample_loads_40_patients_once_and_every_demo_account_signs_in(
    engine: Engine,
) -> None:
    """One test for both properties: each load grades 40 courses (a few seconds per backend)."""
    loaded = load_sample(engine)
    kinds = ("patients", "assessments", "labs", "drugs", "events")
    records = {name: rows_in(name) for name in kinds}
    assert records == {
        "patients": 40, "assessments": 4318, "labs": 10577, "drugs": 207, "events": 3
    }  # fmt: skip
    assert loaded["sites"] == ["S01", "S02", "S03", "S04", "S05"]
    assert loaded["stored"] == records
    found = counts(engine)
    assert found | {"audit_log": 0} == {
        "sites": 5, "users": 12, "patients": 40, "assessments": 4318, "lab_results": 10577,
        "drug_administrations": 207, "outcome_events": 3,
        "audit_log": 0,  # the whole log holds the alert engine's entries too, when registered
        # one entry per site, account and record, and one per import: 4 files x 5 sites, and
        # events.csv at the 3 sites that have an event (S01, S03, S04)
        "audit_log: ours": 5 + 12 + sum(records.values()) + 4 * 5 + 3,
    }  # fmt: skip

    table = {(a.username, a.password, a.role, a.site_ids) for a in loaded["accounts"]}
    assert len(table) == 12
    assert ("nurse-s03", "nurse-s03-demo", Role.NURSE, ("S03",)) in table
    assert ("physician-s05", "physician-s05-demo", Role.PHYSICIAN, ("S05",)) in table
    assert ("researcher", "researcher-demo", Role.RESEARCHER, tuple(loaded["sites"])) in table
    assert ("admin", "admin-demo", Role.ADMIN, ()) in table
    with UnitOfWork(engine, SYSTEM) as uow:
        for account in loaded["accounts"]:
            actor = uow.people.authenticate(account.username, account.password)
            assert actor is not None, account.username
            assert (actor.role, actor.site_ids) == (account.role, frozenset(account.site_ids))
        assert uow.people.authenticate("admin", "admin") is None
        nurse = uow.people.authenticate("nurse-s03", "nurse-s03-demo")
    assert nurse is not None
    with UnitOfWork(engine, nurse) as uow:
        entered = {(r.entered_by, r.source[:7]) for r in uow.assessments.current("S03-0001")}
        assert entered == {("nurse-s03", "import:")}
        assert {p.site_id for p in uow.patients.visible()} == {"S03"}

    again = load_sample(engine)  # a second run changes nothing, the audit log included
    assert counts(engine) == found
    assert again["stored"] == dict.fromkeys(records, 0)
    assert again["skipped"] == records
    with UnitOfWork(engine, SYSTEM) as uow:
        assert audit.verify(uow.session).ok


def test_the_sample_is_never_loaded_into_a_database_with_real_accounts(engine: Engine) -> None:
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_user("dr-jones", Role.ADMIN, "a-real-password", [])
        uow.commit()
    before = counts(engine)
    with pytest.raises(NotADemoDatabaseError, match="users dr-jones"):
        load_sample(engine)
    assert counts(engine) == before
